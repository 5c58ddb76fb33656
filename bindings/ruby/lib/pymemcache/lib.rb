# frozen_string_literal: true

require 'ffi'
require_relative 'loader'

module Pymemcache
  # The ffi declarations of include/pymemcache.h. Every function that
  # returns a pmc_status is declared with its trailing `pmc_error **err`
  # (status_function adds it); Pymemcache.call_status passes a fresh out
  # pointer per call and reads the error object the library wrote there, so
  # a message belongs to its call whatever thread made it.
  module Lib
    extend FFI::Library

    # Where the library was loaded from (a path, or the loader's name).
    PATH = Loader.find
    ffi_lib PATH

    typedef :int32, :pmc_status
    typedef :int32, :pmc_reply
    typedef :int32, :pmc_key_form
    typedef :pointer, :pmc_client
    typedef :pointer, :pmc_options
    typedef :pointer, :pmc_results
    typedef :pointer, :pmc_stats_list
    typedef :pointer, :pmc_buffer
    typedef :pointer, :pmc_error
    typedef :pointer, :pmc_batch
    typedef :int32, :pmc_lease

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

    # The result of one command of a batch, borrowed from the batch (valid
    # until it is executed again, cleared or freed).
    class OpResult < FFI::Struct
      layout :status, :pmc_status,
             :message, :pointer,
             :value, :pointer,
             :value_len, :size_t,
             :flags, :uint32,
             :cas, :uint64,
             :number, :uint64,
             :ttl, :int64,
             :lease, :pmc_lease,
             :code, [:char, 3],
             :meta_flags, :pointer,
             :meta_flags_len, :size_t
    end

    # A pooled client's connection counts.
    class PoolStats < FFI::Struct
      layout :in_use, :size_t,
             :free, :size_t,
             :created, :uint64,
             :destroyed, :uint64
    end

    # A hash client's failure tracking state of one server.
    class NodeHealth < FFI::Struct
      layout :state, :int,
             :consecutive_failures, :uint32,
             :timeouts, :uint64,
             :refusals, :uint64
    end

    NODE_UP = 0
    NODE_SOFT_DOWN = 3
    NODE_PROBING = 4

    REPLY_DEFAULT = 0
    REPLY_WAIT = 1
    REPLY_NONE = 2
    KEY_FORM_TEXT = 0
    KEY_FORM_PYTHON_BYTES = 1
    LEASE_NONE = 0
    LEASE_HIT = 1
    LEASE_STALE = 2
    LEASE_MISS_WON = 3
    LEASE_STALE_WON = 4
    LEASE_MISS_BUSY = 5

    # pmc_serde_fn: (userdata, key, key_len, value, value_len, flags, out) -> status
    callback :pmc_serde_fn, %i[pointer pointer size_t pointer size_t uint32 pmc_buffer], :pmc_status

    # The binding needs the per-call error objects.
    begin
      attach_function :pmc_error_free, [:pmc_error], :void
    rescue FFI::NotFoundError
      raise LoadError, "pymemcache: #{PATH} has no pmc_error_free (a libpymemcache from before the per-call " \
                       'error API); install a current one or point PYMEMCACHE_LIB at it'
    end
    attach_function :pmc_error_status, [:pmc_error], :pmc_status
    attach_function :pmc_error_message, [:pmc_error], :string

    # A function returning pmc_status, with its trailing `pmc_error **err`.
    # +net+: it may wait on the network, so it runs without the GVL and other
    # Ruby threads go on meanwhile.
    def self.status_function(name, params, net: false)
      attach_function name, params + [:pointer], :pmc_status, blocking: net
    end

    KEY = %i[pmc_client pointer size_t].freeze
    STORE = (KEY + %i[pointer size_t uint32 int64 pmc_reply]).freeze
    KEYS = %i[pmc_client pointer pointer size_t].freeze

    # Clients.
    status_function :pmc_client_new, %i[pmc_options pointer]
    # Closing connections may wait for a call in progress on another thread.
    attach_function :pmc_client_free, [:pmc_client], :void, blocking: true
    status_function :pmc_client_new_fallback, %i[pointer size_t pointer]
    status_function :pmc_client_new_retrying, %i[pmc_client uint32 uint32 pointer size_t pointer size_t pointer]

    # Commands.
    status_function :pmc_get, KEY + [Value.by_ref], net: true
    status_function :pmc_gets, KEY + [Value.by_ref], net: true
    status_function :pmc_gat, KEY + [:int64, Value.by_ref], net: true
    status_function :pmc_gats, KEY + [:int64, Value.by_ref], net: true
    status_function :pmc_get_many, KEYS + [:pointer], net: true
    status_function :pmc_gets_many, KEYS + [:pointer], net: true
    status_function :pmc_set, STORE, net: true
    status_function :pmc_add, STORE, net: true
    status_function :pmc_replace, STORE, net: true
    status_function :pmc_append, STORE, net: true
    status_function :pmc_prepend, STORE, net: true
    status_function :pmc_cas, KEY + %i[pointer size_t uint64 uint32 int64 pmc_reply], net: true
    status_function :pmc_set_many, %i[pmc_client pointer pointer pointer pointer size_t uint32 int64 pmc_reply
                                      pointer pointer], net: true
    status_function :pmc_delete, KEY + [:pmc_reply], net: true
    status_function :pmc_delete_many, KEYS + %i[pmc_reply pointer], net: true
    status_function :pmc_incr, KEY + %i[uint64 pmc_reply pointer], net: true
    status_function :pmc_decr, KEY + %i[uint64 pmc_reply pointer], net: true
    status_function :pmc_touch, KEY + %i[int64 pmc_reply], net: true
    status_function :pmc_stats, %i[pmc_client pointer size_t pointer], net: true
    status_function :pmc_version, %i[pmc_client pointer], net: true
    status_function :pmc_flush_all, %i[pmc_client int64 pmc_reply], net: true
    status_function :pmc_cache_memlimit, %i[pmc_client uint64], net: true
    status_function :pmc_raw_command, %i[pmc_client pointer size_t pointer size_t] + [Value.by_ref], net: true
    status_function :pmc_shutdown, %i[pmc_client bool], net: true
    status_function :pmc_quit, %i[pmc_client], net: true
    status_function :pmc_close, %i[pmc_client], net: true
    status_function :pmc_client_pool_stats, [:pmc_client, PoolStats.by_ref]
    status_function :pmc_client_pool_clear, %i[pmc_client], net: true
    status_function :pmc_client_add_server, %i[pmc_client string]
    status_function :pmc_client_remove_server, %i[pmc_client string], net: true
    status_function :pmc_client_server_for_key, KEY + [:pointer]
    status_function :pmc_client_node_state, [:pmc_client, :string, NodeHealth.by_ref]

    # Stampede control.
    status_function :pmc_get_or_lock, KEY + [:int64, :int64, :pointer, Value.by_ref], net: true
    status_function :pmc_invalidate, KEY + [:int64], net: true

    # Batches. Queueing only copies; executing waits on the network.
    BKEY = %i[pmc_batch pointer size_t].freeze
    BSTORE = (BKEY + %i[pointer size_t uint32 int64]).freeze
    status_function :pmc_batch_new, [:pointer]
    attach_function :pmc_batch_free, [:pmc_batch], :void
    attach_function :pmc_batch_clear, [:pmc_batch], :void
    attach_function :pmc_batch_len, [:pmc_batch], :size_t
    status_function :pmc_batch_get, BKEY
    status_function :pmc_batch_gets, BKEY
    status_function :pmc_batch_gat, BKEY + [:int64]
    status_function :pmc_batch_touch, BKEY + [:int64]
    status_function :pmc_batch_set, BSTORE
    status_function :pmc_batch_add, BSTORE
    status_function :pmc_batch_replace, BSTORE
    status_function :pmc_batch_append, BKEY + %i[pointer size_t]
    status_function :pmc_batch_prepend, BKEY + %i[pointer size_t]
    status_function :pmc_batch_cas, BKEY + %i[pointer size_t uint64 uint32 int64]
    status_function :pmc_batch_delete, BKEY
    status_function :pmc_batch_incr, BKEY + [:uint64]
    status_function :pmc_batch_decr, BKEY + [:uint64]
    status_function :pmc_batch_get_or_lock, BKEY + %i[int64 int64]
    status_function :pmc_batch_invalidate, BKEY + [:int64]
    status_function :pmc_batch_meta, %i[pmc_batch string pointer size_t string pointer size_t]
    status_function :pmc_batch_execute, %i[pmc_client pmc_batch], net: true
    attach_function :pmc_batch_results, %i[pmc_batch pointer], :pointer

    # Typed values, as pymemcache's default serializer stores them.
    status_function :pmc_set_text, KEY + %i[pointer size_t int64 pmc_reply], net: true
    status_function :pmc_get_text, KEY + [Value.by_ref], net: true
    status_function :pmc_set_int64, KEY + %i[int64 int64 pmc_reply], net: true
    status_function :pmc_get_int64, KEY + [:pointer], net: true
    status_function :pmc_set_json, KEY + %i[string int64 pmc_reply], net: true
    status_function :pmc_get_json, KEY + [:pointer], net: true

    # Options.
    attach_function :pmc_options_new, [], :pmc_options
    attach_function :pmc_options_free, [:pmc_options], :void
    status_function :pmc_options_add_server, %i[pmc_options string]
    status_function :pmc_options_set_connect_timeout_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_timeout_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_deadline_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_reconnect_backoff_ms, %i[pmc_options uint32 uint32]
    status_function :pmc_options_set_no_delay, %i[pmc_options bool]
    status_function :pmc_options_set_keepalive, %i[pmc_options bool]
    status_function :pmc_options_set_ignore_exc, %i[pmc_options bool]
    status_function :pmc_options_set_metrics, %i[pmc_options bool]
    status_function :pmc_options_set_default_noreply, %i[pmc_options bool]
    status_function :pmc_options_set_allow_unicode_keys, %i[pmc_options bool]
    status_function :pmc_options_set_max_value_len, %i[pmc_options size_t]
    status_function :pmc_options_set_use_pooling, %i[pmc_options bool]
    status_function :pmc_options_set_max_pool_size, %i[pmc_options size_t]
    status_function :pmc_options_set_pool_timeout_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_pool_idle_timeout_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_mock, %i[pmc_options bool]
    status_function :pmc_options_set_use_hash_client, %i[pmc_options bool]
    status_function :pmc_options_set_retry_attempts, %i[pmc_options uint32]
    status_function :pmc_options_set_retry_timeout_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_dead_timeout_ms, %i[pmc_options uint32]
    status_function :pmc_options_set_hash_key_form, %i[pmc_options pmc_key_form]
    status_function :pmc_options_set_hash_failure_tracking, %i[pmc_options uint32 uint32 uint32 bool]
    status_function :pmc_options_set_key_prefix, %i[pmc_options pointer size_t]
    status_function :pmc_options_set_compression, %i[pmc_options bool size_t]
    status_function :pmc_options_set_serde, %i[pmc_options pmc_serde_fn pmc_serde_fn pointer]
    status_function :pmc_options_set_tls, %i[pmc_options bool]
    status_function :pmc_options_set_tls_ca_file, %i[pmc_options string]
    status_function :pmc_options_set_tls_ca_dir, %i[pmc_options string]
    status_function :pmc_options_set_tls_system_roots, %i[pmc_options bool]
    status_function :pmc_options_set_tls_client_cert, %i[pmc_options string string]
    status_function :pmc_options_set_tls_server_name, %i[pmc_options string]
    status_function :pmc_options_set_tls_min_version, %i[pmc_options string]
    status_function :pmc_options_set_tls_insecure_no_verify_testing_only, %i[pmc_options bool]
    status_function :pmc_options_set_auth, %i[pmc_options string string]
    status_function :pmc_buffer_set, %i[pmc_buffer pointer size_t uint32]

    # Results, stats, strings.
    attach_function :pmc_status_str, [:pmc_status], :string
    attach_function :pmc_value_free, [Value.by_ref], :void
    attach_function :pmc_results_len, [:pmc_results], :size_t
    attach_function :pmc_results_items, %i[pmc_results pointer], :pointer
    attach_function :pmc_results_free, [:pmc_results], :void
    attach_function :pmc_stats_len, [:pmc_stats_list], :size_t
    status_function :pmc_stats_at, %i[pmc_stats_list size_t pointer pointer pointer]
    attach_function :pmc_stats_find, %i[pmc_stats_list string], :string
    attach_function :pmc_stats_free, [:pmc_stats_list], :void
    attach_function :pmc_string_free, [:pointer], :void

    # Metrics snapshots (pmc_metrics *).
    status_function :pmc_metrics_snapshot, %i[pmc_client pointer]
    attach_function :pmc_metrics_free, [:pointer], :void
    attach_function :pmc_metrics_server_count, [:pointer], :size_t
    attach_function :pmc_metrics_server_name, %i[pointer size_t], :string
    status_function :pmc_metrics_get, %i[pointer size_t int32 pointer]
    status_function :pmc_metrics_latency_us, %i[pointer size_t double pointer]
    status_function :pmc_metrics_prometheus, %i[pointer pointer pointer]
    status_function :pmc_metrics_reset, %i[pmc_client]
    # The PMC_METRIC_* constants, in order (0, 1, ...).
    METRICS = %i[requests hits misses timeouts connection_errors server_errors protocol_errors
                 bytes_sent bytes_received connections_opened in_use peak_in_use state_changes state
                 latency_count latency_sum_us latency_max_us].freeze
    attach_function :pmc_library_version, [], :string
  end
end
