# frozen_string_literal: true

require_relative 'options'

module Pymemcache
  # A memcached client: a single server, a pool, a hash over several
  # servers (pymemcache's HashClient), an in-memory mock, or a fallback or
  # retrying client over others. Release it with #close (or use Client.open
  # with a block); a finalizer frees a forgotten one.
  #
  # Sharing: a Client may be used from several Ruby threads. The network
  # calls release the GVL, so a pooled client (use_pooling: true) or a hash
  # client serves threads in parallel; a single-server client without
  # pooling serializes their calls on its one connection.
  #
  # Results: values are binary Strings, nil for a miss; storage commands
  # give true, or false when not stored; errors raise Pymemcache::Error
  # subclasses carrying the status and the library's message of the call.
  class Client
    # Frees the handle (and then the serde callbacks it may call) when the
    # client is garbage collected; holds only the box, never the client.
    def self.finalizer(box)
      proc do
        ptr = box[0]
        box[0] = nil
        Lib.pmc_client_free(ptr) if ptr
        box[1] = nil
      end
    end

    # Client.open(...) { |client| ... } closes the client when the block ends.
    def self.open(*args, **kwargs)
      client = new(*args, **kwargs)
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    end

    # An in-memory mock client (pymemcache's MockMemcacheClient): every
    # command with memcached's semantics, no server. Each has its own cache.
    def self.mock(**opts)
      new(nil, **opts, mock: true)
    end

    # A pooled client (pymemcache's PooledClient) of one server:
    # +max_pool_size+ connections at most (nil: unbounded), +pool_timeout+
    # seconds to wait for a free one (0: fail at once with PoolExhausted).
    def self.pooled(server, **opts)
      new(server, **opts, use_pooling: true)
    end

    # A hash client (pymemcache's HashClient) over +servers+, placing each
    # key where pymemcache places it. Failover: a failed server is retried
    # +retry_attempts+ times, +retry_timeout+ seconds apart (meanwhile its
    # keys read as misses), then declared dead for +dead_timeout+ seconds
    # and its keys move to the others. +use_pooling+ gives each server a pool.
    def self.hash_client(servers, **opts)
      new(servers, **opts, use_hash_client: true)
    end

    # A fallback client (pymemcache's FallbackClient): writes go to the
    # first client, reads take each key's first hit in order. On success it
    # owns the given clients (they raise ClosedError from then on).
    def self.fallback(*clients)
      clients = clients.flatten
      clients.each { |c| raise TypeError, "fallback: expects Clients, not #{c.class}" unless c.is_a?(Client) }
      moving(clients, 'fallback') do |ptrs|
        list = FFI::MemoryPointer.new(:pointer, [ptrs.size, 1].max)
        list.write_array_of_pointer(ptrs) unless ptrs.empty?
        out = FFI::MemoryPointer.new(:pointer)
        Pymemcache.call_status('fallback', :pmc_client_new_fallback, list, ptrs.size, out)
        out.read_pointer
      end.then do |ptr, callbacks|
        adopt(ptr, callbacks, clients.any?(&:allow_unicode_keys?), 'it was moved into a fallback client', clients)
      end
    end

    # A retrying client (pymemcache's RetryingClient) around +client+, which
    # it owns on success: each command runs up to +attempts+ times,
    # +retry_delay+ seconds apart, when its error status is in +retry_for+
    # (empty: every error) and not in +do_not_retry_for+. Statuses are codes
    # or names (Pymemcache::IO_ERROR, :io_error).
    def self.retrying(client, attempts: 2, retry_delay: 0, retry_for: [], do_not_retry_for: [])
      raise TypeError, "retrying: expects a Client, not #{client.class}" unless client.is_a?(Client)

      rf = status_list(retry_for)
      dnr = status_list(do_not_retry_for)
      moving([client], 'retrying') do |(ptr)|
        out = FFI::MemoryPointer.new(:pointer)
        Pymemcache.call_status('retrying', :pmc_client_new_retrying, ptr, Integer(attempts),
                               Convert.ms(retry_delay), rf, retry_for.size, dnr, do_not_retry_for.size, out)
        out.read_pointer
      end.then do |ptr, callbacks|
        adopt(ptr, callbacks, client.allow_unicode_keys?, 'it was moved into a retrying client', [client])
      end
    end

    def self.status_list(list)
      return nil if list.empty?

      mem = FFI::MemoryPointer.new(:int32, list.size)
      mem.write_array_of_int32(list.map { |s| Status.code(s) })
      mem
    end

    # Holds +clients+ (as a call in progress, so close waits) while the block
    # makes a client that owns them; on success they are marked moved and
    # [new handle, their serde callbacks] returned.
    def self.moving(clients, op)
      held = []
      clients.each do |c|
        held << c.send(:acquire, op)
      end
      ptr = yield held
      [ptr, clients.flat_map { |c| c.send(:moved) }]
    ensure
      clients.first(held.size).each { |c| c.send(:release) }
    end

    def self.adopt(ptr, callbacks, allow_unicode, why, clients)
      clients.each { |c| c.instance_variable_set(:@closed_why, why) }
      c = allocate
      c.send(:adopt, ptr, callbacks, allow_unicode)
      c
    end
    private_class_method :status_list, :moving, :adopt

    # +servers+: "host:port" (or "[ipv6]:port", or a socket path), or an
    # array of them (two or more make a hash client); nil for a mock.
    # Options (times in seconds, Integer or Float):
    # connect_timeout, timeout (each read and write), deadline (a whole
    # call; past it TimeoutError "the call's deadline passed"), no_delay,
    # keepalive, ignore_exc (reads give misses on errors), noreply (default
    # false, unlike pymemcache: storage commands, delete, touch and
    # flush_all wait for the reply), allow_unicode_keys, max_value_len,
    # key_prefix, compression (true, a minimum length, or { min_length: }),
    # reconnect_backoff (false: off; { initial:, max: }; the library's
    # default is 10 ms doubling to 1 s), tls (true, or { ca_file:, ca_dir:,
    # system_roots:, client_cert:, client_key:, server_name:, min_version:,
    # insecure_no_verify_testing_only: }), auth ({ username:, password: }
    # for memcached -Y), serializer / deserializer
    # (callables (key, value, flags) -> [value, flags] or nil), mock,
    # use_pooling, max_pool_size, pool_timeout, pool_idle_timeout,
    # use_hash_client, retry_attempts, retry_timeout, dead_timeout,
    # hash_key_form (:text, the default, or :python_bytes: where the fleet's
    # Python services pass bytes keys).
    def initialize(servers = nil, **opts)
      opts_ptr, callbacks = Options.build(servers, opts)
      begin
        out = FFI::MemoryPointer.new(:pointer)
        Pymemcache.call_status('new', :pmc_client_new, opts_ptr, out)
      ensure
        Lib.pmc_options_free(opts_ptr)
      end
      adopt(out.read_pointer, callbacks, opts[:allow_unicode_keys] ? true : false)
    end

    # Closes the connections and frees the handle; waits for calls in
    # progress on other threads. Later calls raise ClosedError.
    def close
      ptr = @lock.synchronize do
        @idle.wait(@lock) while @inflight.positive?
        p = @box[0]
        @box[0] = nil
        p
      end
      if ptr
        ObjectSpace.undefine_finalizer(self)
        Lib.pmc_client_free(ptr)
        @box[1] = nil
      end
      nil
    end

    def closed?
      @box[0].nil?
    end

    def allow_unicode_keys?
      @allow_unicode
    end

    def inspect
      "#<#{self.class.name} #{closed? ? 'closed' : 'open'}>"
    end

    # ---- reads --------------------------------------------------------------

    # The value stored under +key+ (a binary String), or nil on a miss.
    def get(key)
      get_item(key)&.value
    end

    # An Item (value, flags, cas = 0), or nil on a miss.
    def get_item(key)
      read_one('get', :pmc_get, key)
    end

    # [value, cas] (as pymemcache's gets), or [nil, nil] on a miss.
    def gets(key)
      item = gets_item(key)
      item ? [item.value, item.cas] : [nil, nil]
    end

    # An Item with its CAS unique, or nil on a miss.
    def gets_item(key)
      read_one('gets', :pmc_gets, key)
    end

    # get and set the key's expiry to +expire+ seconds (or a unix time;
    # 0 = never): the value, or nil on a miss.
    def gat(key, expire = 0)
      gat_item(key, expire)&.value
    end

    def gat_item(key, expire = 0)
      read_one('gat', :pmc_gat, key, Integer(expire))
    end

    # gat with the CAS unique: [value, cas], or [nil, nil] on a miss.
    def gats(key, expire = 0)
      item = gats_item(key, expire)
      item ? [item.value, item.cas] : [nil, nil]
    end

    def gats_item(key, expire = 0)
      read_one('gats', :pmc_gats, key, Integer(expire))
    end

    # A Hash of the hits among +keys+ (key as given => value), in request
    # order; misses are left out. With items: true the values are Items.
    # Takes keys as arguments or one Array (Dalli and pymemcache style).
    def get_multi(*keys, items: false)
      many('get_multi', :pmc_get_many, keys.flatten, items)
    end
    alias get_many get_multi

    # As get_multi, with Items carrying CAS uniques.
    def gets_multi(*keys)
      many('gets_multi', :pmc_gets_many, keys.flatten, true)
    end
    alias gets_many gets_multi

    # The value of +key+; on a miss, the block's value, stored with the
    # given options (Dalli's fetch).
    def fetch(key, expire: 0, flags: 0, noreply: nil)
      value = get(key)
      return value unless value.nil? && block_given?

      value = yield key
      set(key, value, expire: expire, flags: flags, noreply: noreply)
      value
    end

    # ---- stampede control ---------------------------------------------------

    # The lease states of get_or_lock, by PMC_LEASE_* code.
    LEASES = {
      Lib::LEASE_HIT => :hit, Lib::LEASE_STALE => :stale, Lib::LEASE_MISS_WON => :miss_won,
      Lib::LEASE_STALE_WON => :stale_won, Lib::LEASE_MISS_BUSY => :miss_busy
    }.freeze

    # A stampede-controlled read (memcached's meta get with a lock):
    # [value, lease]. lease is :hit (a fresh value), :stale (an invalidated
    # value another caller is recomputing: use it meanwhile), :miss_won (no
    # value, and this caller won the recompute: compute it and #set it),
    # :stale_won (the stale value, and this caller won the recompute) or
    # :miss_busy (no value; another caller is recomputing: ask again later).
    # value is nil for :miss_won and :miss_busy. On a miss exactly one
    # caller wins (an empty placeholder living +lock_ttl+ seconds is made);
    # +recache_below+ > 0 also lets one caller win while the item has fewer
    # seconds left than that. With item: true the value is an Item (with
    # its flags and CAS unique).
    def get_or_lock(key, lock_ttl:, recache_below: 0, item: false)
      k = key_bytes(key, 'get_or_lock')
      value = Lib::Value.new
      lease = FFI::MemoryPointer.new(:int32)
      st = run('get_or_lock') do |c|
        Pymemcache.call_status('get_or_lock', :pmc_get_or_lock, c, Convert.memory(k), k.bytesize,
                               Integer(lock_ttl), Integer(recache_below), lease, value)
      end
      raise Pymemcache.unexpected('get_or_lock', st) unless st == OK

      state = LEASES.fetch(lease.read_int32) { raise Error, "get_or_lock: unknown lease #{lease.read_int32}" }
      return [nil, state] if %i[miss_won miss_busy].include?(state)

      it = Convert.take_value(value)
      [item ? it : it.value, state]
    end

    # Marks +key+ stale for +stale_ttl+ seconds: the next get_or_lock wins
    # the recompute (:stale_won), the others get the old value (:stale)
    # until it is stored again. true, or false when there is no such key.
    def invalidate(key, stale_ttl:)
      k = key_bytes(key, 'invalidate')
      st = run('invalidate') do |c|
        Pymemcache.call_status('invalidate', :pmc_invalidate, c, Convert.memory(k), k.bytesize, Integer(stale_ttl))
      end
      outcome('invalidate', st, OK => true, NOT_FOUND => false)
    end

    # Dalli's fetch with stampede control: the value of +key+; when this
    # caller wins the recompute (a miss, or a stale or expiring value) the
    # block computes the value, which is stored with +expire+ and +flags+.
    # While another caller recomputes a missing value, waits +wait+
    # seconds and asks again, up to +tries+ times, then computes the value
    # itself (without storing it). A stale value is served as it is while
    # another caller recomputes it.
    def fetch_with_lock(key, lock_ttl: 30, recache_below: 0, expire: 0, flags: 0, wait: 0.05, tries: 100)
      raise ArgumentError, 'fetch_with_lock: a block computes the value' unless block_given?

      tries.times do
        value, lease = get_or_lock(key, lock_ttl: lock_ttl, recache_below: recache_below)
        case lease
        when :hit, :stale then return value
        when :miss_won, :stale_won
          value = yield key
          set(key, value, expire: expire, flags: flags, noreply: false)
          return value
        end
        sleep(wait)
      end
      yield key
    end

    # ---- writes -------------------------------------------------------------

    # Stores +value+ (a String; its bytes as they are): true. With noreply
    # the outcome is not known (true).
    def set(key, value, expire: 0, flags: 0, noreply: nil)
      store('set', :pmc_set, key, value, expire, flags, noreply)
    end

    # Stores only if +key+ is absent: true, or false (it exists).
    def add(key, value, expire: 0, flags: 0, noreply: nil)
      store('add', :pmc_add, key, value, expire, flags, noreply)
    end

    # Stores only if +key+ exists: true, or false.
    def replace(key, value, expire: 0, flags: 0, noreply: nil)
      store('replace', :pmc_replace, key, value, expire, flags, noreply)
    end

    # Adds bytes after an existing value: true, or false (no such key).
    # The server keeps the item's flags and expiry (those given are ignored).
    def append(key, value, expire: 0, flags: 0, noreply: nil)
      store('append', :pmc_append, key, value, expire, flags, noreply)
    end

    # Adds bytes before an existing value: true, or false (no such key).
    def prepend(key, value, expire: 0, flags: 0, noreply: nil)
      store('prepend', :pmc_prepend, key, value, expire, flags, noreply)
    end

    # Stores only if the item's CAS unique is still +cas_unique+ (from
    # gets): true (stored), false (changed since: not stored) or nil (no
    # such key), as pymemcache. Waits for the reply unless noreply: true.
    def cas(key, value, cas_unique, expire: 0, flags: 0, noreply: false)
      k = key_bytes(key, 'cas')
      v = Convert.value_bytes(value)
      st = run('cas') do |c|
        Pymemcache.call_status('cas', :pmc_cas, c, Convert.memory(k), k.bytesize, Convert.memory(v), v.bytesize,
                               Integer(cas_unique), Integer(flags), Integer(expire), Convert.reply_mode(noreply))
      end
      outcome('cas', st, OK => true, EXISTS => false, NOT_FOUND => nil)
    end

    # Stores every pair of +items+ (a Hash, or [key, value] pairs) in one
    # batch with the same options: the keys that were not stored (an Array,
    # empty when all were, or with noreply).
    def set_multi(items, expire: 0, flags: 0, noreply: nil)
      pairs = items.to_a
      keys = pairs.map(&:first)
      kb = pairs.map { |k, _| key_bytes(k, 'set_multi') }
      vb = pairs.map { |_, v| Convert.value_bytes(v) }
      kp, kl, _kmem = Convert.byte_arrays(kb)
      vp, vl, _vmem = Convert.byte_arrays(vb)
      failed = FFI::MemoryPointer.new(:size_t, [pairs.size, 1].max)
      n_failed = FFI::MemoryPointer.new(:size_t)
      st = run('set_multi') do |c|
        Pymemcache.call_status('set_multi', :pmc_set_many, c, kp, kl, vp, vl, pairs.size, Integer(flags),
                               Integer(expire), Convert.reply_mode(noreply), failed, n_failed)
      end
      raise Pymemcache.unexpected('set_multi', st) unless [OK, NOT_STORED].include?(st)

      size = FFI.type_size(:size_t)
      Array.new(n_failed.read(:size_t)) { |i| keys.fetch(failed.get(:size_t, i * size)) }
    end
    alias set_many set_multi

    # Removes +key+: true, or false (no such key; known only when waiting).
    def delete(key, noreply: nil)
      found('delete', :pmc_delete, key, [], noreply)
    end

    # Removes +keys+ in pipelined batches: how many existed (with noreply:
    # how many were sent).
    def delete_multi(*keys, noreply: nil)
      keys = keys.flatten
      kb = keys.map { |k| key_bytes(k, 'delete_multi') }
      kp, kl, _mem = Convert.byte_arrays(kb)
      out = FFI::MemoryPointer.new(:size_t)
      st = run('delete_multi') do |c|
        Pymemcache.call_status('delete_multi', :pmc_delete_many, c, kp, kl, keys.size,
                               Convert.reply_mode(noreply), out)
      end
      raise Pymemcache.unexpected('delete_multi', st) unless st == OK

      out.read(:size_t)
    end
    alias delete_many delete_multi

    # Adds +delta+ to a decimal counter (wrapping at 2**64): the new value,
    # nil if there is no such key, or true with noreply (sent; the new value
    # is not known). ClientError if the value is not a number.
    def incr(key, delta = 1, noreply: false)
      counter('incr', :pmc_incr, key, delta, noreply)
    end

    # Subtracts +delta+ from a decimal counter (stopping at 0); as incr.
    def decr(key, delta = 1, noreply: false)
      counter('decr', :pmc_decr, key, delta, noreply)
    end

    # Sets a new expiry (+expire+ seconds, or a unix time; 0 = never). As
    # pymemcache's touch(noreply=None) it follows the client's noreply
    # default: without noreply (the binding's default) it waits and returns
    # true if the key existed, false if not; with noreply it returns true.
    def touch(key, expire = 0, noreply: nil)
      found('touch', :pmc_touch, key, [Integer(expire)], noreply)
    end

    # ---- servers ------------------------------------------------------------

    # The servers' statistics: { server => { name => value } } (Strings).
    # +args+: e.g. "settings", "items", "slabs".
    def stats(*args)
      with_stats('stats', args) do |list|
        out = Hash.new { |h, k| h[k] = {} }
        ptrs = Array.new(3) { FFI::MemoryPointer.new(:pointer) }
        Lib.pmc_stats_len(list).times do |i|
          Pymemcache.call_status('stats', :pmc_stats_at, list, i, *ptrs)
          server, name, value = ptrs.map { |p| p.read_pointer.read_string.force_encoding(Encoding::UTF_8) }
          out[server][name] = value
        end
        out.default_proc = nil
        out
      end
    end

    # One statistic: the first value named +name+ (of the first server that
    # has it), or nil.
    def stat(name, *args)
      with_stats('stat', args) do |list|
        Lib.pmc_stats_find(list, name.to_s)&.force_encoding(Encoding::UTF_8)
      end
    end

    # The server's version, e.g. "1.6.18".
    def version
      out = FFI::MemoryPointer.new(:pointer)
      run('version') { |c| Pymemcache.call_status('version', :pmc_version, c, out) }
      Convert.take_string(out.read_pointer)
    end

    # Invalidates every item now, or after +delay+ seconds: true.
    def flush_all(delay = 0, noreply: nil)
      st = run('flush_all') do |c|
        Pymemcache.call_status('flush_all', :pmc_flush_all, c, Integer(delay), Convert.reply_mode(noreply))
      end
      outcome('flush_all', st, OK => true)
    end
    alias flush flush_all

    # Sets the server's memory limit in megabytes: true.
    def cache_memlimit(megabytes)
      st = run('cache_memlimit') { |c| Pymemcache.call_status('cache_memlimit', :pmc_cache_memlimit, c, Integer(megabytes)) }
      outcome('cache_memlimit', st, OK => true)
    end

    # Sends one command line the client does not wrap (without "\r\n") and
    # reads the reply up to +end_token+, which is left out: a binary String.
    def raw_command(command, end_token = "\r\n")
      cmd = Convert.value_bytes(command, 'command')
      tok = Convert.value_bytes(end_token, 'end_token')
      value = Lib::Value.new
      st = run('raw_command') do |c|
        Pymemcache.call_status('raw_command', :pmc_raw_command, c, Convert.memory(cmd), cmd.bytesize,
                               Convert.memory(tok), tok.bytesize, value)
      end
      raise Pymemcache.unexpected('raw_command', st) unless st == OK

      Convert.take_value(value).value
    end

    # Asks the server to exit (it must run with -A); UnknownCommand if
    # shutdown is not enabled.
    def shutdown(graceful = false)
      simple('shutdown', :pmc_shutdown, graceful ? true : false)
    end

    # Says goodbye to the server and closes the connection; the next
    # command reconnects.
    def quit
      simple('quit', :pmc_quit)
    end

    # Closes the connections without a word to the server (pymemcache's
    # close()); the next command reconnects. #close frees the client.
    def close_connections
      simple('close_connections', :pmc_close)
    end

    # A pooled client's connection counts: { in_use:, free:, created:,
    # destroyed: }. InvalidArgument for a client without a pool.
    def pool_stats
      stats = Lib::PoolStats.new
      run('pool_stats') { |c| Pymemcache.call_status('pool_stats', :pmc_client_pool_stats, c, stats) }
      { in_use: stats[:in_use], free: stats[:free], created: stats[:created], destroyed: stats[:destroyed] }
    end

    # Every server's metrics: an Array of Hashes ({ server:, requests:,
    # hits:, misses:, ..., p50_us:, p90_us:, p99_us: }); empty with
    # metrics: false.
    def metrics
      with_metrics do |snap|
        Array.new(Lib.pmc_metrics_server_count(snap)) do |i|
          h = { server: Lib.pmc_metrics_server_name(snap, i).dup.force_encoding(Encoding::UTF_8) }
          out = FFI::MemoryPointer.new(:uint64)
          Lib::METRICS.each_with_index do |name, which|
            Pymemcache.call_status('metrics', :pmc_metrics_get, snap, i, which, out)
            h[name] = out.read_uint64
          end
          { p50_us: 0.5, p90_us: 0.9, p99_us: 0.99 }.each do |name, q|
            Pymemcache.call_status('metrics', :pmc_metrics_latency_us, snap, i, q, out)
            h[name] = out.read_uint64
          end
          h
        end
      end
    end

    # Every server's metrics in Prometheus text exposition format.
    def metrics_prometheus
      with_metrics do |snap|
        out = FFI::MemoryPointer.new(:pointer)
        Pymemcache.call_status('metrics_prometheus', :pmc_metrics_prometheus, snap, out, nil)
        Convert.take_string(out.read_pointer)
      end
    end

    # Zeroes every server's counters: true.
    def metrics_reset
      run('metrics_reset') { |c| Pymemcache.call_status('metrics_reset', :pmc_metrics_reset, c) }
      true
    end

    # Hash client with failure_tracking: +server+'s state (:up, :soft_down
    # or :probing) and counters.
    def node_state(server)
      h = Lib::NodeHealth.new
      run('node_state') { |c| Pymemcache.call_status('node_state', :pmc_client_node_state, c, server.to_s, h) }
      state = { Lib::NODE_UP => :up, Lib::NODE_SOFT_DOWN => :soft_down, Lib::NODE_PROBING => :probing }[h[:state]]
      { state: state, consecutive_failures: h[:consecutive_failures], timeouts: h[:timeouts],
        refusals: h[:refusals] }
    end

    # Closes every free connection of a pool (for other clients: as
    # close_connections).
    def pool_clear
      simple('pool_clear', :pmc_client_pool_clear)
    end

    # Hash client: adds a server while in use; the keys it is given move.
    def add_server(server)
      simple('add_server', :pmc_client_add_server, server.to_s)
    end

    # Hash client: removes a server; its keys move to the others.
    def remove_server(server)
      simple('remove_server', :pmc_client_remove_server, server.to_s)
    end

    # The server +key+ is placed on ("host:port", or the socket path): for
    # a hash client the live server pymemcache's HashClient picks, given
    # hash_key_form. Connects to nothing.
    def server_for_key(key)
      k = key_bytes(key, 'server_for_key')
      out = FFI::MemoryPointer.new(:pointer)
      run('server_for_key') do |c|
        Pymemcache.call_status('server_for_key', :pmc_client_server_for_key, c, Convert.memory(k), k.bytesize, out)
      end
      Convert.take_string(out.read_pointer)
    end

    private

    def adopt(ptr, callbacks, allow_unicode)
      # box: [handle, serde callbacks the handle may call]
      @box = [ptr, callbacks]
      @allow_unicode = allow_unicode
      @lock = Mutex.new
      @idle = ConditionVariable.new
      @inflight = 0
      @closed_why = 'client is closed'
      ObjectSpace.define_finalizer(self, self.class.finalizer(@box))
    end

    # The live handle, counted as a call in progress until #release.
    def acquire(op)
      @lock.synchronize do
        raise ClosedError, "#{op}: #{@closed_why}" if @box[0].nil?

        @inflight += 1
        @box[0]
      end
    end

    def release
      @lock.synchronize do
        @inflight -= 1
        @idle.broadcast if @inflight.zero?
      end
    end

    # The handle now belongs to a wrapping client, which takes the serde
    # callbacks it may call (returned).
    def moved
      ObjectSpace.undefine_finalizer(self)
      @lock.synchronize do
        @box[0] = nil
        callbacks = @box[1] || []
        @box[1] = nil
        callbacks
      end
    end

    # Runs one library call on the live handle.
    def run(op)
      ptr = acquire(op)
      begin
        yield ptr
      ensure
        release
      end
    end

    def key_bytes(key, op)
      Convert.key_bytes(key, op, @allow_unicode)
    end

    def outcome(op, status, map)
      return map[status] if map.key?(status)

      raise Pymemcache.unexpected(op, status)
    end

    def simple(op, fn, *args)
      st = run(op) { |c| Pymemcache.call_status(op, fn, c, *args) }
      outcome(op, st, OK => nil)
    end

    def read_one(op, fn, key, *extra)
      k = key_bytes(key, op)
      value = Lib::Value.new
      st = run(op) { |c| Pymemcache.call_status(op, fn, c, Convert.memory(k), k.bytesize, *extra, value) }
      return nil if st == MISS
      raise Pymemcache.unexpected(op, st) unless st == OK

      Convert.take_value(value)
    end

    def many(op, fn, keys, items)
      kb = keys.map { |k| key_bytes(k, op) }
      kp, kl, _mem = Convert.byte_arrays(kb)
      out = FFI::MemoryPointer.new(:pointer)
      st = run(op) { |c| Pymemcache.call_status(op, fn, c, kp, kl, keys.size, out) }
      raise Pymemcache.unexpected(op, st) unless st == OK

      take_results(out.read_pointer, keys, items)
    end

    # The hits of a pmc_results keyed by the keys as given; frees it.
    def take_results(results, keys, items)
      count = FFI::MemoryPointer.new(:size_t)
      first = Lib.pmc_results_items(results, count) # every hit at once, borrowed from results
      n = count.read(:size_t)
      raise Error, 'pmc_results_items and pmc_results_len disagree' unless n == Lib.pmc_results_len(results)

      hits = {}
      n.times do |i|
        it = Lib::Item.new(first + (i * Lib::Item.size))
        value = Convert.read(it[:value], it[:value_len])
        hits[keys.fetch(it[:index])] = items ? Item.new(value, it[:flags], it[:cas]) : value
      end
      hits
    ensure
      Lib.pmc_results_free(results)
    end

    def store(op, fn, key, value, expire, flags, noreply)
      k = key_bytes(key, op)
      v = Convert.value_bytes(value)
      st = run(op) do |c|
        Pymemcache.call_status(op, fn, c, Convert.memory(k), k.bytesize, Convert.memory(v), v.bytesize,
                               Integer(flags), Integer(expire), Convert.reply_mode(noreply))
      end
      outcome(op, st, OK => true, NOT_STORED => false)
    end

    # delete and touch: true (found, or not waited for), false (not found).
    def found(op, fn, key, extra, noreply)
      k = key_bytes(key, op)
      st = run(op) do |c|
        Pymemcache.call_status(op, fn, c, Convert.memory(k), k.bytesize, *extra, Convert.reply_mode(noreply))
      end
      outcome(op, st, OK => true, NOT_FOUND => false)
    end

    def counter(op, fn, key, delta, noreply)
      k = key_bytes(key, op)
      out = FFI::MemoryPointer.new(:uint64)
      reply = Convert.reply_mode(noreply)
      st = run(op) do |c|
        Pymemcache.call_status(op, fn, c, Convert.memory(k), k.bytesize, Integer(delta), reply, out)
      end
      return nil if st == NOT_FOUND
      raise Pymemcache.unexpected(op, st) unless st == OK

      reply == Lib::REPLY_NONE ? true : out.read_uint64
    end

    def with_stats(op, args)
      list = args.map(&:to_s)
      mems = list.map { |a| FFI::MemoryPointer.from_string(a) }
      # mems stays referenced (below) while the library reads argv
      argv = FFI::MemoryPointer.new(:pointer, [list.size, 1].max)
      argv.write_array_of_pointer(mems) unless mems.empty?
      out = FFI::MemoryPointer.new(:pointer)
      run(op) { |c| Pymemcache.call_status(op, :pmc_stats, c, argv, mems.size, out) }
      stats = out.read_pointer
      begin
        yield stats
      ensure
        Lib.pmc_stats_free(stats)
      end
    end

    # Yields a metrics snapshot, freed after.
    def with_metrics
      out = FFI::MemoryPointer.new(:pointer)
      run('metrics') { |c| Pymemcache.call_status('metrics', :pmc_metrics_snapshot, c, out) }
      snap = out.read_pointer
      begin
        yield snap
      ensure
        Lib.pmc_metrics_free(snap)
      end
    end
  end
end
