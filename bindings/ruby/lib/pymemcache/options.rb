# frozen_string_literal: true

require_relative 'convert'

module Pymemcache
  # Building a pmc_options from a client's keyword options. Times are in
  # seconds (Integer or Float); see Client#initialize for every option.
  module Options
    # The options that take one value: [keyword, C setter, conversion].
    SETTERS = [
      [:connect_timeout, :pmc_options_set_connect_timeout_ms, :ms],
      [:timeout, :pmc_options_set_timeout_ms, :ms],
      [:deadline, :pmc_options_set_deadline_ms, :ms],
      [:no_delay, :pmc_options_set_no_delay, :bool],
      [:keepalive, :pmc_options_set_keepalive, :bool],
      [:ignore_exc, :pmc_options_set_ignore_exc, :bool],
      [:metrics, :pmc_options_set_metrics, :bool],
      [:noreply, :pmc_options_set_default_noreply, :bool],
      [:allow_unicode_keys, :pmc_options_set_allow_unicode_keys, :bool],
      [:max_value_len, :pmc_options_set_max_value_len, :int],
      [:use_pooling, :pmc_options_set_use_pooling, :bool],
      [:max_pool_size, :pmc_options_set_max_pool_size, :int],
      [:pool_timeout, :pmc_options_set_pool_timeout_ms, :ms],
      [:pool_idle_timeout, :pmc_options_set_pool_idle_timeout_ms, :ms],
      [:mock, :pmc_options_set_mock, :bool],
      [:use_hash_client, :pmc_options_set_use_hash_client, :bool],
      [:retry_attempts, :pmc_options_set_retry_attempts, :int],
      [:retry_timeout, :pmc_options_set_retry_timeout_ms, :ms],
      [:dead_timeout, :pmc_options_set_dead_timeout_ms, :ms]
    ].freeze

    # hash_key_form: values and their pmc_key_form.
    HASH_KEY_FORMS = { text: Lib::KEY_FORM_TEXT, python_bytes: Lib::KEY_FORM_PYTHON_BYTES }.freeze

    OTHER = %i[hash_key_form failure_tracking key_prefix compression reconnect_backoff tls auth serializer deserializer].freeze
    KNOWN = (SETTERS.map(&:first) + OTHER).freeze

    # Defaults that differ from the C library's: the binding waits for
    # replies unless told otherwise.
    DEFAULTS = { noreply: false }.freeze

    module_function

    # A new pmc_options (the caller frees it with pmc_options_free) and the
    # serde callbacks it refers to (kept alive by the client made from it).
    def build(servers, opts)
      unknown = opts.keys - KNOWN
      raise ArgumentError, "unknown option(s) #{unknown.map(&:inspect).join(', ')}; known: #{KNOWN.join(', ')}" \
        unless unknown.empty?

      opts = DEFAULTS.merge(opts)
      form = key_form(opts[:hash_key_form])
      ptr = Lib.pmc_options_new
      raise NoMemoryError, 'pmc_options_new' if ptr.null?

      callbacks = []
      begin
        Array(servers).each { |s| Pymemcache.call_status("server #{s}", :pmc_options_add_server, ptr, s.to_s) }
        SETTERS.each do |name, fn, kind|
          value = opts[name]
          next if value.nil?

          Pymemcache.call_status(name.to_s, fn, ptr, convert(kind, value))
        end
        Pymemcache.call_status('hash_key_form', :pmc_options_set_hash_key_form, ptr, form)
        set_key_prefix(ptr, opts[:key_prefix])
        set_compression(ptr, opts[:compression])
        set_reconnect_backoff(ptr, opts[:reconnect_backoff])
        set_failure_tracking(ptr, opts[:failure_tracking])
        set_tls(ptr, opts[:tls])
        set_auth(ptr, opts[:auth])
        callbacks = set_serde(ptr, opts[:serializer], opts[:deserializer])
        [ptr, callbacks]
      rescue Exception # rubocop:disable Lint/RescueException
        Lib.pmc_options_free(ptr)
        raise
      end
    end

    def convert(kind, value)
      case kind
      when :bool then value ? true : false
      when :ms then Convert.ms(value)
      else Integer(value)
      end
    end

    def key_form(form)
      found = case form
              when nil then Lib::KEY_FORM_TEXT
              when Symbol, String then HASH_KEY_FORMS[form.to_sym]
              end
      return found if found

      raise InvalidArgument.new("hash_key_form: #{form.inspect} is not one of " \
                                "#{HASH_KEY_FORMS.keys.map(&:inspect).join(', ')}", status: INVALID_ARGUMENT)
    end

    def set_key_prefix(ptr, prefix)
      return if prefix.nil?

      bytes = prefix.to_s.b
      Pymemcache.call_status('key_prefix', :pmc_options_set_key_prefix, ptr, Convert.memory(bytes), bytes.bytesize)
    end

    # compression: true / false, an Integer (the minimum length compressed),
    # or { min_length: N } (pymemcache's default: 400).
    def set_compression(ptr, compression)
      return if compression.nil?

      min = case compression
            when Integer then compression
            when Hash then compression.fetch(:min_length, 400)
            else 400
            end
      min = Integer(min)
      if min.negative?
        raise InvalidArgument.new("compression: min_length #{min} is negative", status: INVALID_ARGUMENT)
      end

      Pymemcache.call_status('compression', :pmc_options_set_compression, ptr, compression ? true : false, min)
    end

    # reconnect_backoff: false or 0 (off: every call tries to connect), true
    # (the default: 10 ms doubling to 1 s), or { initial:, max: } in seconds.
    # failure_tracking: { threshold: 3, initial_backoff: 1, max_backoff: 30,
    # fallback: false } (seconds), or true for those defaults.
    def set_failure_tracking(ptr, ft)
      return if ft.nil? || ft == false

      ft = {} if ft == true
      Pymemcache.call_status('failure_tracking', :pmc_options_set_hash_failure_tracking, ptr,
                             Integer(ft.fetch(:threshold, 3)), Convert.ms(ft.fetch(:initial_backoff, 1)),
                             Convert.ms(ft.fetch(:max_backoff, 30)), ft.fetch(:fallback, false) ? true : false)
    end

    def set_reconnect_backoff(ptr, backoff)
      return if backoff.nil?

      initial, max = case backoff
                     when Hash
                       i = Convert.ms(backoff.fetch(:initial, 0.01))
                       [i, backoff.key?(:max) ? Convert.ms(backoff[:max]) : [1000, i].max]
                     when true then [10, 1000]
                     when false then [0, 1000]
                     else
                       i = Convert.ms(backoff)
                       [i, [1000, i].max]
                     end
      Pymemcache.call_status('reconnect_backoff', :pmc_options_set_reconnect_backoff_ms, ptr, initial, max)
    end

    # tls: the TLS settings of pmc_options_set_tls*. Keys of the Hash
    # (each optional): TLS_KEYS.
    TLS_KEYS = %i[ca_file ca_dir system_roots client_cert client_key server_name min_version
                  insecure_no_verify_testing_only].freeze

    # tls: false / nil (plaintext, the default), true (TLS trusting the
    # system's roots, as Python's ssl.create_default_context()), or a Hash
    # with TLS_KEYS: ca_file:, ca_dir:, system_roots: true, client_cert: +
    # client_key: (mutual TLS), server_name: (SNI and verification; default
    # the server's host), min_version: "1.2" / "1.3", and
    # insecure_no_verify_testing_only: true (no verification; tests only).
    def set_tls(ptr, tls)
      return if tls.nil? || tls == false

      t = tls == true ? {} : tls
      raise TypeError, "tls: expected true, false or a Hash, got #{tls.class}" unless t.is_a?(Hash)

      unknown = t.keys - TLS_KEYS
      raise ArgumentError, "tls: unknown key(s) #{unknown.map(&:inspect).join(', ')}; known: #{TLS_KEYS.join(', ')}" \
        unless unknown.empty?

      Pymemcache.call_status('tls', :pmc_options_set_tls, ptr, true)
      set_tls_value(ptr, t, :ca_file, :pmc_options_set_tls_ca_file)
      set_tls_value(ptr, t, :ca_dir, :pmc_options_set_tls_ca_dir)
      set_tls_value(ptr, t, :server_name, :pmc_options_set_tls_server_name)
      set_tls_value(ptr, t, :min_version, :pmc_options_set_tls_min_version)
      Pymemcache.call_status('tls system_roots', :pmc_options_set_tls_system_roots, ptr, true) if t[:system_roots]
      if t[:insecure_no_verify_testing_only]
        Pymemcache.call_status('tls insecure_no_verify_testing_only',
                               :pmc_options_set_tls_insecure_no_verify_testing_only, ptr, true)
      end
      return if t[:client_cert].nil? && t[:client_key].nil?

      Pymemcache.call_status('tls client_cert', :pmc_options_set_tls_client_cert, ptr,
                             t[:client_cert]&.to_s, t[:client_key]&.to_s)
    end

    def set_tls_value(ptr, tls, key, function)
      Pymemcache.call_status("tls #{key}", function, ptr, tls[key].to_s) unless tls[key].nil?
    end

    # auth: { username:, password: } for memcached -Y (ASCII authentication).
    def set_auth(ptr, auth)
      return if auth.nil?
      raise TypeError, "auth: expected a Hash with username: and password:, got #{auth.class}" unless auth.is_a?(Hash)

      Pymemcache.call_status('auth', :pmc_options_set_auth, ptr, auth[:username]&.to_s, auth[:password]&.to_s)
    end

    # serializer: / deserializer: callables (key, value, flags) -> [value,
    # flags], a String (the new value, same flags), or nil (unchanged). An
    # exception fails the command with SerdeCallbackError. They run on the
    # thread of the command, holding the GVL.
    def set_serde(ptr, serializer, deserializer)
      return [] if serializer.nil? && deserializer.nil?

      ser = serializer && serde_function('serializer', serializer)
      de = deserializer && serde_function('deserializer', deserializer)
      Pymemcache.call_status('serde', :pmc_options_set_serde, ptr, ser, de, nil)
      [ser, de].compact
    end

    def serde_function(name, callable)
      raise TypeError, "#{name} must respond to call" unless callable.respond_to?(:call)

      FFI::Function.new(:int32, %i[pointer pointer size_t pointer size_t uint32 pointer]) do |_ud, k, kl, v, vl, fl, out|
        serde_call(callable, k, kl, v, vl, fl, out)
      end
    end

    # Never lets an exception unwind through the library's frames.
    def serde_call(callable, key, key_len, value, value_len, flags, out)
      result = callable.call(Convert.read(key, key_len), Convert.read(value, value_len), flags)
      return OK if result.nil?

      new_value, new_flags = result.is_a?(Array) ? result : [result, flags]
      bytes = Convert.value_bytes(new_value, 'serde result')
      Pymemcache.call_status('serde', :pmc_buffer_set, out, Convert.memory(bytes), bytes.bytesize,
                             Integer(new_flags.nil? ? flags : new_flags))
    rescue Exception # rubocop:disable Lint/RescueException
      SERDE_CALLBACK
    end
  end
end
