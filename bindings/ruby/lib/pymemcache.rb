# frozen_string_literal: true

# Thin Ruby binding (the ffi gem) of libpymemcache, the C-ABI memcached client
# of pymemcache-rs (include/pymemcache.h).
#
# Every method calls the matching pmc_* function; the binding converts
# arguments, copies what the library hands back into Ruby strings (freeing
# the library's buffers at once) and maps statuses to return values and
# exceptions.
#
# Sharing: a Pymemcache::Client may be used from several Ruby threads. The
# network calls release the GVL (blocking: true), so a pooled client
# (use_pooling: true) or a hash client (two or more servers) serves threads in
# parallel; a single-server client without pooling serializes their calls on
# its one connection.
#
# Keys follow pymemcache's rules. A binary String (encoding ASCII-8BIT) is a
# bytes key: it goes to the library as it is and is refused only if it holds
# ASCII whitespace or NUL, is longer than 250 bytes with the prefix, or is
# empty without a prefix. Any other String is text: ASCII only, unless the
# client was made with allow_unicode_keys: true, which sends its UTF-8.
require 'ffi'

module Pymemcache
  # Raw declarations of include/pymemcache.h.
  module Lib
    extend FFI::Library

    def self.library_path
      env = ENV['PYMEMCACHE_LIB']
      return env if env && !env.empty?

      built = File.expand_path('../../../target/release/libpymemcache.so', __dir__)
      File.exist?(built) ? built : 'pymemcache'
    end

    ffi_lib library_path

    typedef :int32, :pmc_status
    typedef :pointer, :pmc_client
    typedef :pointer, :pmc_options
    typedef :pointer, :pmc_results

    # A caller-owned value; release with pmc_value_free.
    class Value < FFI::Struct
      layout :data, :pointer,
             :len, :size_t,
             :flags, :uint32,
             :cas, :uint64
    end

    # One hit of a multi-key get, borrowed from its pmc_results.
    class Item < FFI::Struct
      layout :index, :size_t,
             :key, :pointer,
             :key_len, :size_t,
             :value, :pointer,
             :value_len, :size_t,
             :flags, :uint32,
             :cas, :uint64
    end

    class PoolStats < FFI::Struct
      layout :in_use, :size_t,
             :free, :size_t,
             :created, :uint64,
             :destroyed, :uint64
    end

    REPLY_DEFAULT = 0
    REPLY_WAIT = 1
    REPLY_NONE = 2

    KEY_FORM_TEXT = 0
    KEY_FORM_PYTHON_BYTES = 1

    # Network calls release the GVL so that other threads run meanwhile.
    NET = { blocking: true }.freeze

    attach_function :pmc_options_new, [], :pmc_options
    attach_function :pmc_options_free, [:pmc_options], :void
    attach_function :pmc_options_add_server, %i[pmc_options string], :pmc_status
    attach_function :pmc_options_set_connect_timeout_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_timeout_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_deadline_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_no_delay, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_keepalive, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_ignore_exc, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_default_noreply, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_allow_unicode_keys, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_max_value_len, %i[pmc_options size_t], :pmc_status
    attach_function :pmc_options_set_use_pooling, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_max_pool_size, %i[pmc_options size_t], :pmc_status
    attach_function :pmc_options_set_pool_timeout_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_pool_idle_timeout_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_use_hash_client, %i[pmc_options bool], :pmc_status
    attach_function :pmc_options_set_retry_attempts, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_retry_timeout_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_dead_timeout_ms, %i[pmc_options uint32], :pmc_status
    attach_function :pmc_options_set_key_prefix, %i[pmc_options pointer size_t], :pmc_status
    attach_function :pmc_options_set_hash_key_form, %i[pmc_options int32], :pmc_status

    attach_function :pmc_client_new, %i[pmc_options pointer], :pmc_status
    attach_function :pmc_client_free, [:pmc_client], :void, **NET
    attach_function :pmc_client_pool_stats, [:pmc_client, PoolStats.by_ref], :pmc_status
    attach_function :pmc_client_server_for_key, %i[pmc_client pointer size_t pointer], :pmc_status

    attach_function :pmc_get, [:pmc_client, :pointer, :size_t, Value.by_ref], :pmc_status, **NET
    attach_function :pmc_gets, [:pmc_client, :pointer, :size_t, Value.by_ref], :pmc_status, **NET
    attach_function :pmc_get_many, %i[pmc_client pointer pointer size_t pointer], :pmc_status, **NET
    attach_function :pmc_set, %i[pmc_client pointer size_t pointer size_t uint32 int64 int32],
                    :pmc_status, **NET
    attach_function :pmc_cas, %i[pmc_client pointer size_t pointer size_t uint64 uint32 int64 int32],
                    :pmc_status, **NET
    attach_function :pmc_delete, %i[pmc_client pointer size_t int32], :pmc_status, **NET
    attach_function :pmc_incr, %i[pmc_client pointer size_t uint64 int32 pointer], :pmc_status, **NET
    attach_function :pmc_decr, %i[pmc_client pointer size_t uint64 int32 pointer], :pmc_status, **NET
    attach_function :pmc_touch, %i[pmc_client pointer size_t int64 int32], :pmc_status, **NET

    attach_function :pmc_status_str, [:pmc_status], :string
    attach_function :pmc_last_error_message, [], :string
    attach_function :pmc_value_free, [Value.by_ref], :void
    attach_function :pmc_results_items, %i[pmc_results pointer], :pointer
    attach_function :pmc_results_free, [:pmc_results], :void
    attach_function :pmc_string_free, [:pointer], :void
    attach_function :pmc_library_version, [], :string
  end

  OK = 0
  MISS = 1
  NOT_STORED = 2
  EXISTS = 3
  NOT_FOUND = 4
  NULL_ARGUMENT = 10
  INVALID_ARGUMENT = 11
  ILLEGAL_INPUT = 12
  CONFIG_ERROR = 13
  TOO_LARGE = 14
  TIMEOUT = 20
  IO_ERROR = 21
  UNEXPECTED_CLOSE = 22
  POOL_EXHAUSTED = 23
  NO_SERVERS = 24
  UNKNOWN_COMMAND = 30
  CLIENT_ERROR = 31
  SERVER_ERROR = 32
  UNKNOWN_ERROR = 33
  NOT_TEXT = 40
  NOT_INTEGER = 41
  UNSUPPORTED_PICKLE = 42
  CORRUPT_VALUE = 43
  SERDE_CALLBACK = 44
  PANIC = 90

  # An error status of the library. +status+ is the pmc_status code,
  # +status_name+ its name (e.g. "PMC_IO_ERROR"); the message is the
  # library's pmc_last_error_message for the failed call.
  class Error < StandardError
    attr_reader :status, :status_name

    def initialize(message = nil, status: nil)
      @status = status
      @status_name = status && Lib.pmc_status_str(status)
      super(message || @status_name || 'pymemcache error')
    end
  end

  # A required argument was missing or out of range (10, 11).
  class InvalidArgument < Error; end
  # A key or command that may not be sent; nothing was sent (12).
  class IllegalInput < Error; end
  # The options do not describe a usable client (13).
  class ConfigError < Error; end
  # A value longer than max_value_len (14).
  class TooLarge < Error; end
  # Connection-level failures: timeout, socket error, unexpected close,
  # exhausted pool, no live server (20-24).
  class ConnectionError < Error; end
  class TimeoutError < ConnectionError; end
  # The server answered ERROR (30).
  class UnknownCommand < Error; end
  # The server answered CLIENT_ERROR (31).
  class ClientError < Error; end
  # The server answered SERVER_ERROR (32).
  class ServerError < Error; end
  # A reply that could not be parsed (33).
  class UnknownError < Error; end
  # A stored value that could not be decoded (40-44).
  class ValueError < Error; end
  # A bug in the library caught at the boundary (90).
  class Panic < Error; end
  # The client was used after #close.
  class ClosedError < Error; end

  ERROR_CLASSES = {
    NULL_ARGUMENT => InvalidArgument, INVALID_ARGUMENT => InvalidArgument,
    ILLEGAL_INPUT => IllegalInput, CONFIG_ERROR => ConfigError, TOO_LARGE => TooLarge,
    TIMEOUT => TimeoutError, IO_ERROR => ConnectionError, UNEXPECTED_CLOSE => ConnectionError,
    POOL_EXHAUSTED => ConnectionError, NO_SERVERS => ConnectionError,
    UNKNOWN_COMMAND => UnknownCommand, CLIENT_ERROR => ClientError,
    SERVER_ERROR => ServerError, UNKNOWN_ERROR => UnknownError,
    NOT_TEXT => ValueError, NOT_INTEGER => ValueError, UNSUPPORTED_PICKLE => ValueError,
    CORRUPT_VALUE => ValueError, SERDE_CALLBACK => ValueError, PANIC => Panic
  }.freeze

  # The exception for an error status; call right after the failed call, on
  # the same thread (the library's message is per thread).
  def self.error_for(status, op)
    message = Lib.pmc_last_error_message.to_s
    message = Lib.pmc_status_str(status) if message.empty?
    ERROR_CLASSES.fetch(status, Error).new("#{op}: #{message}", status: status)
  end

  def self.check!(status, op)
    raise error_for(status, op) if status >= 10

    status
  end

  # hash_key_form: values and their pmc_key_form.
  HASH_KEY_FORMS = { text: Lib::KEY_FORM_TEXT, python_bytes: Lib::KEY_FORM_PYTHON_BYTES }.freeze

  # A value with its flags and (for gets) CAS unique.
  Item = Struct.new(:value, :flags, :cas)

  # A memcached client over one or more servers. Release it with #close (or
  # use Client.open with a block); a finalizer frees a forgotten one.
  class Client
    # Frees the handle when the client is garbage collected; holds only the
    # handle box, never the client.
    def self.finalizer(box)
      proc do
        ptr = box[0]
        box[0] = nil
        Lib.pmc_client_free(ptr) if ptr
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

    # +servers+: "host:port" (or "[ipv6]:port", or a socket path), or an
    # array of them (two or more make a hash client). Timeouts are in
    # seconds. +deadline+ (seconds; nil or 0: none) bounds a whole call:
    # waiting for the connection (another thread's call, or a full pool),
    # connecting, writing and reading together; past it the call raises
    # TimeoutError ("the call's deadline passed ..."). +noreply+ (default
    # false, unlike pymemcache) makes set, delete and touch skip the
    # server's reply. +allow_unicode_keys+ accepts non-ASCII text keys (sent
    # as UTF-8). +hash_key_form+ (:text, the default, or :python_bytes)
    # places keys where pymemcache's HashClient places them when the
    # fleet's Python services pass str or bytes keys.
    def initialize(servers, connect_timeout: nil, timeout: nil, deadline: nil, no_delay: false,
                   keepalive: false, ignore_exc: false, noreply: false, allow_unicode_keys: false,
                   max_value_len: nil, key_prefix: nil, use_pooling: false, max_pool_size: nil,
                   pool_timeout: nil, pool_idle_timeout: nil, use_hash_client: false, retry_attempts: nil,
                   retry_timeout: nil, dead_timeout: nil, hash_key_form: :text)
      form = case hash_key_form
             when nil then Lib::KEY_FORM_TEXT
             when Symbol, String then HASH_KEY_FORMS[hash_key_form.to_sym]
             end
      unless form
        raise InvalidArgument.new("hash_key_form: #{hash_key_form.inspect} is not one of " \
                                  "#{HASH_KEY_FORMS.keys.map(&:inspect).join(', ')}", status: INVALID_ARGUMENT)
      end
      @allow_unicode_keys = allow_unicode_keys ? true : false
      opts = Lib.pmc_options_new
      raise NoMemoryError, 'pmc_options_new' if opts.null?

      begin
        Array(servers).each { |s| Pymemcache.check!(Lib.pmc_options_add_server(opts, s.to_s), "server #{s}") }
        ms = ->(sec) { (sec * 1000.0).ceil.clamp(0, 0xFFFF_FFFF) }
        settings = [
          [:pmc_options_set_no_delay, no_delay], [:pmc_options_set_keepalive, keepalive],
          [:pmc_options_set_ignore_exc, ignore_exc], [:pmc_options_set_default_noreply, noreply],
          [:pmc_options_set_allow_unicode_keys, allow_unicode_keys],
          [:pmc_options_set_use_pooling, use_pooling], [:pmc_options_set_use_hash_client, use_hash_client],
          [:pmc_options_set_hash_key_form, form]
        ]
        settings << [:pmc_options_set_connect_timeout_ms, ms.call(connect_timeout)] if connect_timeout
        settings << [:pmc_options_set_timeout_ms, ms.call(timeout)] if timeout
        settings << [:pmc_options_set_deadline_ms, ms.call(deadline)] if deadline
        settings << [:pmc_options_set_max_value_len, max_value_len] if max_value_len
        settings << [:pmc_options_set_max_pool_size, max_pool_size] if max_pool_size
        settings << [:pmc_options_set_pool_timeout_ms, ms.call(pool_timeout)] if pool_timeout
        settings << [:pmc_options_set_pool_idle_timeout_ms, ms.call(pool_idle_timeout)] if pool_idle_timeout
        settings << [:pmc_options_set_retry_attempts, retry_attempts] if retry_attempts
        settings << [:pmc_options_set_retry_timeout_ms, ms.call(retry_timeout)] if retry_timeout
        settings << [:pmc_options_set_dead_timeout_ms, ms.call(dead_timeout)] if dead_timeout
        settings.each { |fn, value| Pymemcache.check!(Lib.send(fn, opts, value), fn.to_s) }
        if key_prefix
          prefix = key_prefix.b
          Pymemcache.check!(Lib.pmc_options_set_key_prefix(opts, Client.bytes(prefix), prefix.bytesize),
                            'key_prefix')
        end
        out = FFI::MemoryPointer.new(:pointer)
        Pymemcache.check!(Lib.pmc_client_new(opts, out), 'new')
        @box = [out.read_pointer]
      ensure
        Lib.pmc_options_free(opts)
      end
      @lock = Mutex.new
      @idle = ConditionVariable.new
      @inflight = 0
      ObjectSpace.define_finalizer(self, self.class.finalizer(@box))
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
      end
      nil
    end

    def closed?
      @box[0].nil?
    end

    # The value stored under +key+ (a binary String), or nil on a miss.
    def get(key)
      item = get_item(key)
      item&.value
    end

    # An Item (value, flags, cas = 0), or nil on a miss.
    def get_item(key)
      read_one(:pmc_get, 'get', key)
    end

    # [value, cas] (as pymemcache), or [nil, nil] on a miss.
    def gets(key)
      item = read_one(:pmc_gets, 'gets', key)
      item ? [item.value, item.cas] : [nil, nil]
    end

    # A Hash of the hits among +keys+ (key => value). With +items: true+ the
    # values are Items (value, flags, cas).
    def get_multi(keys, items: false)
      keys = keys.to_a
      return {} if keys.empty?

      n = keys.size
      raw = keys.map { |k| key_bytes(k, 'get_multi') }
      bufs = raw.map { |k| Client.bytes(k) }
      ptrs = FFI::MemoryPointer.new(:pointer, n)
      ptrs.write_array_of_pointer(bufs)
      lens = FFI::MemoryPointer.new(:size_t, n)
      raw.each_with_index { |k, i| lens.put(:size_t, i * FFI.type_size(:size_t), k.bytesize) }
      out = FFI::MemoryPointer.new(:pointer)
      status = call('get_multi') { |c| Lib.pmc_get_many(c, ptrs, lens, n, out) }
      raise Error.new("get_multi: unexpected #{Lib.pmc_status_str(status)}", status: status) unless status == OK

      results = out.read_pointer
      begin
        hits = {}
        # Every hit in one call, as an array borrowed from the results.
        count = FFI::MemoryPointer.new(:size_t)
        first = Lib.pmc_results_items(results, count)
        count.read(:size_t).times do |i|
          item = Lib::Item.new(first + (i * Lib::Item.size))
          value = Client.read(item[:value], item[:value_len])
          key = keys.fetch(item[:index])
          hits[key] = items ? Item.new(value, item[:flags], item[:cas]) : value
        end
        hits
      ensure
        Lib.pmc_results_free(results)
      end
    end

    # Stores +value+; returns true.
    def set(key, value, flags: 0, expire: 0)
      k = key_bytes(key, 'set')
      v = value.to_s.b
      status = call('set') do |c|
        Lib.pmc_set(c, Client.bytes(k), k.bytesize, Client.bytes(v), v.bytesize, flags, expire,
                    Lib::REPLY_DEFAULT)
      end
      raise Error.new("set: unexpected #{Lib.pmc_status_str(status)}", status: status) unless status == OK

      true
    end

    # true if the key existed, false if not (always true with noreply).
    def delete(key)
      k = key_bytes(key, 'delete')
      status = call('delete') { |c| Lib.pmc_delete(c, Client.bytes(k), k.bytesize, Lib::REPLY_DEFAULT) }
      outcome(status, 'delete', OK => true, NOT_FOUND => false)
    end

    # The new value of the counter, or nil if there is no such key.
    def incr(key, delta = 1)
      counter(:pmc_incr, 'incr', key, delta)
    end

    def decr(key, delta = 1)
      counter(:pmc_decr, 'decr', key, delta)
    end

    # true (stored), false (changed since gets: not stored) or nil (no such
    # key), as pymemcache.
    def cas(key, value, cas_unique, flags: 0, expire: 0)
      k = key_bytes(key, 'cas')
      v = value.to_s.b
      status = call('cas') do |c|
        Lib.pmc_cas(c, Client.bytes(k), k.bytesize, Client.bytes(v), v.bytesize, cas_unique, flags, expire,
                    Lib::REPLY_WAIT)
      end
      outcome(status, 'cas', OK => true, EXISTS => false, NOT_FOUND => nil)
    end

    # Sets a new expiry (+ttl+ seconds, or a unix time; 0 = never). Follows
    # the client's noreply default, as pymemcache's touch(noreply=None):
    # without noreply (the binding's default) it waits and returns true if
    # the key existed, false if not; with noreply: true it returns true (the
    # outcome is not known).
    def touch(key, ttl = 0)
      k = key_bytes(key, 'touch')
      status = call('touch') { |c| Lib.pmc_touch(c, Client.bytes(k), k.bytesize, ttl, Lib::REPLY_DEFAULT) }
      outcome(status, 'touch', OK => true, NOT_FOUND => false)
    end

    # The server +key+ is placed on ("host:port", or the socket path): for a
    # hash client the one pymemcache's HashClient picks among the live
    # servers, given hash_key_form. Connects to nothing.
    def server_for_key(key)
      k = key_bytes(key, 'server_for_key')
      out = FFI::MemoryPointer.new(:pointer)
      call('server_for_key') { |c| Lib.pmc_client_server_for_key(c, Client.bytes(k), k.bytesize, out) }
      str = out.read_pointer
      begin
        str.read_string.force_encoding(Encoding::UTF_8)
      ensure
        Lib.pmc_string_free(str)
      end
    end

    # A pooled client's connection counts, as a Hash.
    def pool_stats
      stats = Lib::PoolStats.new
      call('pool_stats') { |c| Lib.pmc_client_pool_stats(c, stats) }
      { in_use: stats[:in_use], free: stats[:free], created: stats[:created], destroyed: stats[:destroyed] }
    end

    # C memory holding the bytes of +str+ (at least one byte, so that the
    # pointer is never NULL), freed when garbage collected.
    def self.bytes(str)
      mem = FFI::MemoryPointer.new(:uint8, [str.bytesize, 1].max)
      mem.put_bytes(0, str) unless str.empty?
      mem
    end

    # A binary String copied from +len+ bytes at +ptr+.
    def self.read(ptr, len)
      return String.new(encoding: Encoding::BINARY) if len.zero? || ptr.null?

      ptr.read_bytes(len)
    end

    NON_ASCII_KEY = 'PMC_ILLEGAL_INPUT: illegal input: key contains non-ASCII characters and ' \
                    'allow_unicode_keys is off'
    NOT_TEXT_KEY = 'PMC_ILLEGAL_INPUT: illegal input: key is not valid text in its encoding ' \
                   '(pass a binary String to send it as bytes)'

    private

    # The bytes the library gets for +key+, as pymemcache takes keys: the
    # one key check of the binding, used by every method. A binary String is
    # bytes and goes as it is; an ASCII String as it is too (a cached
    # coderange check, no copy); other text is refused unless
    # allow_unicode_keys, then sent as UTF-8.
    def key_bytes(key, op)
      key = key.to_s unless key.is_a?(String)
      return key if key.ascii_only? || key.encoding == Encoding::BINARY

      text_key_bytes(key, op)
    end

    def text_key_bytes(key, op)
      raise IllegalInput.new("#{op}: #{NOT_TEXT_KEY}", status: ILLEGAL_INPUT) unless key.valid_encoding?

      # An ASCII key in an encoding that is not ASCII-compatible (UTF-16...)
      # is ASCII text all the same.
      utf8 = key.encoding == Encoding::UTF_8 ? key : key.encode(Encoding::UTF_8)
      return utf8 if utf8.ascii_only? || @allow_unicode_keys

      raise IllegalInput.new("#{op}: #{NON_ASCII_KEY}", status: ILLEGAL_INPUT)
    rescue EncodingError
      raise IllegalInput.new("#{op}: #{NOT_TEXT_KEY}", status: ILLEGAL_INPUT)
    end

    # Runs one library call on the live handle and raises for an error
    # status, reading the message on the same thread.
    def call(op)
      ptr = @lock.synchronize do
        raise ClosedError.new("#{op}: client is closed") if @box[0].nil?

        @inflight += 1
        @box[0]
      end
      begin
        Pymemcache.check!(yield(ptr), op)
      ensure
        @lock.synchronize do
          @inflight -= 1
          @idle.broadcast if @inflight.zero?
        end
      end
    end

    def outcome(status, op, map)
      return map[status] if map.key?(status)

      raise Error.new("#{op}: unexpected #{Lib.pmc_status_str(status)}", status: status)
    end

    def read_one(fn, op, key)
      k = key_bytes(key, op)
      value = Lib::Value.new
      status = call(op) { |c| Lib.send(fn, c, Client.bytes(k), k.bytesize, value) }
      return nil if status == MISS
      raise Error.new("#{op}: unexpected #{Lib.pmc_status_str(status)}", status: status) unless status == OK

      begin
        Item.new(Client.read(value[:data], value[:len]), value[:flags], value[:cas])
      ensure
        Lib.pmc_value_free(value)
      end
    end

    def counter(fn, op, key, delta)
      k = key_bytes(key, op)
      out = FFI::MemoryPointer.new(:uint64)
      status = call(op) { |c| Lib.send(fn, c, Client.bytes(k), k.bytesize, delta, Lib::REPLY_WAIT, out) }
      outcome(status, op, OK => :ok, NOT_FOUND => nil) && out.read_uint64
    end
  end
end
