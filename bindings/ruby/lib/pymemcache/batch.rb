# frozen_string_literal: true

require_relative 'client'

module Pymemcache
  # A list of commands run together by #execute over memcached's meta
  # protocol (pmc_batch): one write and one read pass per server, every
  # command with its own result, in the order queued. Each queue method
  # copies its key and value and returns the command's position. A miss, a
  # refusal or an error of one command does not stop the others; across a
  # hash client a server that cannot be reached fails its own commands only.
  #
  #   batch = Pymemcache::Batch.new
  #   batch.get('a'); batch.add('b', 'x'); batch.incr('n', 2)
  #   batch.execute(client).each { |r| p [r.status_name, r.value, r.error] }
  #   batch.free   # or Batch.open { |b| ... }; a forgotten batch is freed by GC
  #
  # Keys follow the client's rules (a binary String is bytes; other text
  # must be ASCII unless the batch is made with allow_unicode_keys: true);
  # a key the library refuses fails that command alone. A batch may be
  # shared between threads: its methods lock it.
  class Batch
    # The result of one command. +status+ is the pmc_status code (OK, MISS,
    # NOT_STORED, EXISTS, NOT_FOUND, or the command's error status);
    # +value+ a binary String (reads, get_or_lock, incr/decr's new value as
    # text, meta commands with v; "" when there is none); +flags+, +cas+
    # (gets, gat, get_or_lock), +number+ (the counter after incr/decr),
    # +ttl+ (get_or_lock; -1: never expires), +lease+ (get_or_lock: :hit,
    # :stale, :miss_won, :stale_won, :miss_busy; else nil), +code+ and
    # +meta_flags+ (meta commands: "HD", "VA", "EN", ... and the return flags
    # as sent), +error+ (for an error status: the Pymemcache::Error it would
    # have raised, with the library's message; else nil).
    Result = Struct.new(:status, :value, :flags, :cas, :number, :ttl, :lease, :code, :meta_flags, :error) do
      def status_name
        Status.name_of(status)
      end

      def ok?
        status == OK
      end

      def miss?
        status == MISS
      end

      def error?
        !error.nil?
      end
    end

    # Batch.open { |batch| ... } frees the batch when the block ends.
    def self.open(**opts)
      batch = new(**opts)
      return batch unless block_given?

      begin
        yield batch
      ensure
        batch.free
      end
    end

    def initialize(allow_unicode_keys: false)
      out = FFI::MemoryPointer.new(:pointer)
      Pymemcache.call_status('Batch.new', :pmc_batch_new, out)
      # Frees the batch when garbage collected, unless #free did it first.
      @ptr = FFI::AutoPointer.new(out.read_pointer, Lib.method(:pmc_batch_free))
      @allow_unicode = allow_unicode_keys ? true : false
      @lock = Mutex.new
    end

    # Releases the batch and its results now; later calls raise ClosedError.
    # Freeing twice is harmless.
    def free
      @lock.synchronize do
        @ptr&.free
        @ptr = nil
      end
      nil
    end
    alias close free

    def freed?
      @ptr.nil?
    end

    # Number of commands queued.
    def size
      locked('size') { |b| Lib.pmc_batch_len(b) }
    end
    alias length size

    # Forgets every queued command and result (keeping the memory): self.
    def clear
      locked('clear') { |b| Lib.pmc_batch_clear(b) }
      self
    end

    def get(key)
      queue_key('get', :pmc_batch_get, key)
    end

    def gets(key)
      queue_key('gets', :pmc_batch_gets, key)
    end

    def gat(key, expire = 0)
      queue_key('gat', :pmc_batch_gat, key, Integer(expire))
    end

    def touch(key, expire = 0)
      queue_key('touch', :pmc_batch_touch, key, Integer(expire))
    end

    def set(key, value, expire: 0, flags: 0)
      queue_store('set', :pmc_batch_set, key, value, Integer(flags), Integer(expire))
    end

    def add(key, value, expire: 0, flags: 0)
      queue_store('add', :pmc_batch_add, key, value, Integer(flags), Integer(expire))
    end

    def replace(key, value, expire: 0, flags: 0)
      queue_store('replace', :pmc_batch_replace, key, value, Integer(flags), Integer(expire))
    end

    def append(key, value)
      queue_store('append', :pmc_batch_append, key, value)
    end

    def prepend(key, value)
      queue_store('prepend', :pmc_batch_prepend, key, value)
    end

    def cas(key, value, cas_unique, expire: 0, flags: 0)
      queue_store('cas', :pmc_batch_cas, key, value, Integer(cas_unique), Integer(flags), Integer(expire))
    end

    def delete(key)
      queue_key('delete', :pmc_batch_delete, key)
    end

    def incr(key, delta = 1)
      queue_key('incr', :pmc_batch_incr, key, Integer(delta))
    end

    def decr(key, delta = 1)
      queue_key('decr', :pmc_batch_decr, key, Integer(delta))
    end

    # A stampede-controlled read (see Client#get_or_lock); the result's
    # lease tells what to do.
    def get_or_lock(key, lock_ttl:, recache_below: 0)
      queue_key('get_or_lock', :pmc_batch_get_or_lock, key, Integer(lock_ttl), Integer(recache_below))
    end

    # An invalidation (see Client#invalidate): OK or NOT_FOUND.
    def invalidate(key, stale_ttl:)
      queue_key('invalidate', :pmc_batch_invalidate, key, Integer(stale_ttl))
    end

    # A generic meta command: +command+ "mg", "ms", "md" or "ma"; +flags+
    # the meta flags as protocol tokens (an Array such as %w[v f t N30], or
    # one space-separated String; not O or q, which the batch sets itself);
    # +value+ the data block of "ms". The result carries the return code,
    # the return flags and the value as the server sent them.
    # InvalidArgument at once for an unknown command.
    def meta(command, key, flags = [], value = nil)
      k = key_bytes(key, 'meta')
      v = value.nil? ? Convert::EMPTY : Convert.value_bytes(value)
      tokens = flags.is_a?(Array) ? flags.map(&:to_s).join(' ') : flags.to_s
      locked('meta') do |b|
        n = Lib.pmc_batch_len(b)
        Pymemcache.call_status('meta', :pmc_batch_meta, b, command.to_s, Convert.memory(k), k.bytesize, tokens,
                               Convert.memory(v), v.bytesize)
        n
      end
    end

    # Runs every queued command on +client+: an Array of Results in the
    # order queued. The batch keeps its commands (execute again, or #clear).
    def execute(client)
      raise TypeError, "execute: expects a Client, not #{client.class}" unless client.is_a?(Client)

      locked('execute') do |b|
        client.send(:run, 'execute') { |c| Pymemcache.call_status('execute', :pmc_batch_execute, c, b) }
        results(b)
      end
    end

    def inspect
      "#<#{self.class.name} #{freed? ? 'freed' : "#{size} commands"}>"
    end

    private

    def key_bytes(key, op)
      Convert.key_bytes(key, op, @allow_unicode)
    end

    def locked(op)
      @lock.synchronize do
        raise ClosedError, "#{op}: batch is freed" if @ptr.nil?

        yield @ptr
      end
    end

    # Queues a command; returns its position.
    def queue_key(op, fn, key, *extra)
      k = key_bytes(key, op)
      locked(op) do |b|
        n = Lib.pmc_batch_len(b)
        Pymemcache.call_status(op, fn, b, Convert.memory(k), k.bytesize, *extra)
        n
      end
    end

    def queue_store(op, fn, key, value, *extra)
      k = key_bytes(key, op)
      v = Convert.value_bytes(value)
      locked(op) do |b|
        n = Lib.pmc_batch_len(b)
        Pymemcache.call_status(op, fn, b, Convert.memory(k), k.bytesize, Convert.memory(v), v.bytesize, *extra)
        n
      end
    end

    # Every result of the last execution, copied with one pmc_batch_results.
    def results(batch)
      count = FFI::MemoryPointer.new(:size_t)
      first = Lib.pmc_batch_results(batch, count)
      n = count.read(:size_t)
      return [] if n.zero? || first.null?

      Array.new(n) do |i|
        r = Lib::OpResult.new(first + (i * Lib::OpResult.size))
        status = r[:status]
        code = r[:code].to_ptr.read_string
        error = nil
        if status >= 10
          msg = r[:message].null? ? nil : r[:message].read_string.force_encoding(Encoding::UTF_8)
          error = Pymemcache.error('execute', status, msg)
        end
        Result.new(status, Convert.read(r[:value], r[:value_len]), r[:flags], r[:cas], r[:number], r[:ttl],
                   Client::LEASES[r[:lease]], code,
                   Convert.read(r[:meta_flags], r[:meta_flags_len]).force_encoding(Encoding::UTF_8), error)
      end
    end
  end
end
