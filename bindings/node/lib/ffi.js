'use strict';

// The koffi declarations of include/pymemcache.h, and the one place that
// calls a pmc_status function and reads its error (callStatus /
// callStatusAsync). Every pmc_status function takes a trailing
// `pmc_error **err`; the binding passes an out pointer per call, reads
// pmc_error_message from it and frees it, so a message belongs to its call,
// whichever thread (koffi worker, for the *Async methods) made it.

const koffi = require('koffi');
const { loadLibrary } = require('./load');

const { lib, path: libraryPath } = loadLibrary();

koffi.alias('pmc_status', 'int32_t');
koffi.alias('pmc_reply', 'int32_t');
koffi.alias('pmc_key_form', 'int32_t');
koffi.opaque('pmc_client');
koffi.opaque('pmc_options');
koffi.opaque('pmc_results');
koffi.opaque('pmc_stats_list');
koffi.opaque('pmc_buffer');
koffi.opaque('pmc_error');
koffi.opaque('pmc_batch');
koffi.opaque('pmc_metrics');
koffi.alias('pmc_lease', 'int32_t');
koffi.struct('pmc_value', { data: 'uint8_t *', len: 'size_t', flags: 'uint32_t', cas: 'uint64_t' });
koffi.struct('pmc_item', {
  index: 'size_t',
  key: 'const uint8_t *',
  key_len: 'size_t',
  value: 'const uint8_t *',
  value_len: 'size_t',
  flags: 'uint32_t',
  cas: 'uint64_t',
});
// One result of a batch, borrowed from the batch. meta_flags is not
// NUL-terminated, so it is read as bytes with its length.
koffi.struct('pmc_op_result', {
  status: 'pmc_status',
  message: 'const char *',
  value: 'const uint8_t *',
  value_len: 'size_t',
  flags: 'uint32_t',
  cas: 'uint64_t',
  number: 'uint64_t',
  ttl: 'int64_t',
  lease: 'pmc_lease',
  code: koffi.array('char', 3, 'String'),
  meta_flags: 'const uint8_t *',
  meta_flags_len: 'size_t',
});
koffi.struct('pmc_node_health', {
  state: 'int', consecutive_failures: 'uint32_t', timeouts: 'uint64_t', refusals: 'uint64_t',
});
koffi.struct('pmc_pool_stats', { in_use: 'size_t', free: 'size_t', created: 'uint64_t', destroyed: 'uint64_t' });
const serdeFn = koffi.proto('pmc_status pmc_serde_fn(void *userdata, const uint8_t *key, size_t key_len, ' +
  'const uint8_t *value, size_t value_len, uint32_t flags, pmc_buffer *out)');

// The binding needs the per-call error objects (pmc_error_free and the
// `err` out-parameters); without them async calls would lose their messages.
try {
  lib.func('void pmc_error_free(void *err)');
} catch (_) {
  throw new Error(`pymemcache: ${libraryPath} has no pmc_error_free (a libpymemcache from before the ` +
    'per-call error API); install a current one or point PYMEMCACHE_LIB at it');
}

// Declare a function from its C prototype; a pmc_status function gets the
// trailing `pmc_error **err` out-parameter (all but pmc_error_status, which
// reads an error object).
function fn(proto) {
  if (/^pmc_status /.test(proto) && !/^pmc_status pmc_error_status\(/.test(proto)) {
    proto = proto.replace(/\)$/, ', _Out_ pmc_error **err)');
  }
  return lib.func(proto);
}

const PTR = 'const pmc_client *c, const uint8_t *key, size_t key_len';
const STORE = `${PTR}, const uint8_t *value, size_t value_len, uint32_t flags, int64_t expire, pmc_reply reply`;
const BKEY = 'pmc_batch *batch, const uint8_t *key, size_t key_len';
const BSTORE = `${BKEY}, const uint8_t *value, size_t value_len, uint32_t flags, int64_t expire`;
const KEYS = 'const pmc_client *c, const uint8_t *const *keys, const size_t *key_lens, size_t n';

/** Every C function the binding calls, by its name without `pmc_`. */
const C = {
  client_new: fn('pmc_status pmc_client_new(const pmc_options *opts, _Out_ pmc_client **out)'),
  client_free: fn('void pmc_client_free(pmc_client *c)'),
  get: fn(`pmc_status pmc_get(${PTR}, _Out_ pmc_value *out)`),
  gets: fn(`pmc_status pmc_gets(${PTR}, _Out_ pmc_value *out)`),
  gat: fn(`pmc_status pmc_gat(${PTR}, int64_t expire, _Out_ pmc_value *out)`),
  gats: fn(`pmc_status pmc_gats(${PTR}, int64_t expire, _Out_ pmc_value *out)`),
  get_many: fn(`pmc_status pmc_get_many(${KEYS}, _Out_ pmc_results **out)`),
  gets_many: fn(`pmc_status pmc_gets_many(${KEYS}, _Out_ pmc_results **out)`),
  set: fn(`pmc_status pmc_set(${STORE})`),
  add: fn(`pmc_status pmc_add(${STORE})`),
  replace: fn(`pmc_status pmc_replace(${STORE})`),
  append: fn(`pmc_status pmc_append(${STORE})`),
  prepend: fn(`pmc_status pmc_prepend(${STORE})`),
  cas: fn(`pmc_status pmc_cas(${PTR}, const uint8_t *value, size_t value_len, uint64_t cas, ` +
    'uint32_t flags, int64_t expire, pmc_reply reply)'),
  set_many: fn(`pmc_status pmc_set_many(${KEYS.replace(', size_t n', '')}, const uint8_t *const *values, ` +
    'const size_t *value_lens, size_t n, uint32_t flags, int64_t expire, pmc_reply reply, ' +
    '_Out_ size_t *failed, _Out_ size_t *n_failed)'),
  delete: fn(`pmc_status pmc_delete(${PTR}, pmc_reply reply)`),
  delete_many: fn(`pmc_status pmc_delete_many(${KEYS}, pmc_reply reply, _Out_ size_t *deleted)`),
  incr: fn(`pmc_status pmc_incr(${PTR}, uint64_t delta, pmc_reply reply, _Out_ uint64_t *new_value)`),
  decr: fn(`pmc_status pmc_decr(${PTR}, uint64_t delta, pmc_reply reply, _Out_ uint64_t *new_value)`),
  touch: fn(`pmc_status pmc_touch(${PTR}, int64_t expire, pmc_reply reply)`),
  stats: fn('pmc_status pmc_stats(const pmc_client *c, const char *const *args, size_t nargs, ' +
    '_Out_ pmc_stats_list **out)'),
  version: fn('pmc_status pmc_version(const pmc_client *c, _Out_ void **out)'),
  flush_all: fn('pmc_status pmc_flush_all(const pmc_client *c, int64_t delay, pmc_reply reply)'),
  cache_memlimit: fn('pmc_status pmc_cache_memlimit(const pmc_client *c, uint64_t megabytes)'),
  raw_command: fn('pmc_status pmc_raw_command(const pmc_client *c, const uint8_t *command, size_t command_len, ' +
    'const uint8_t *end_token, size_t end_token_len, _Out_ pmc_value *out)'),
  shutdown: fn('pmc_status pmc_shutdown(const pmc_client *c, bool graceful)'),
  quit: fn('pmc_status pmc_quit(const pmc_client *c)'),
  close: fn('pmc_status pmc_close(const pmc_client *c)'),
  client_pool_stats: fn('pmc_status pmc_client_pool_stats(const pmc_client *c, _Out_ pmc_pool_stats *out)'),
  client_pool_clear: fn('pmc_status pmc_client_pool_clear(const pmc_client *c)'),
  client_add_server: fn('pmc_status pmc_client_add_server(const pmc_client *c, const char *server)'),
  client_remove_server: fn('pmc_status pmc_client_remove_server(const pmc_client *c, const char *server)'),
  client_node_state: fn('pmc_status pmc_client_node_state(const pmc_client *c, const char *server, ' +
    '_Out_ pmc_node_health *out)'),
  options_set_hash_failure_tracking: fn('pmc_status pmc_options_set_hash_failure_tracking(pmc_options *opts, ' +
    'uint32_t threshold, uint32_t initial_backoff_ms, uint32_t max_backoff_ms, bool fallback_to_next)'),
  client_server_for_key: fn(`pmc_status pmc_client_server_for_key(${PTR}, _Out_ void **out)`),
  client_new_fallback: fn('pmc_status pmc_client_new_fallback(pmc_client *const *clients, size_t n, ' +
    '_Out_ pmc_client **out)'),
  client_new_retrying: fn('pmc_status pmc_client_new_retrying(pmc_client *inner, uint32_t attempts, ' +
    'uint32_t retry_delay_ms, const pmc_status *retry_for, size_t n_retry_for, ' +
    'const pmc_status *do_not_retry_for, size_t n_do_not_retry_for, _Out_ pmc_client **out)'),
  options_new: fn('pmc_options *pmc_options_new(void)'),
  options_free: fn('void pmc_options_free(pmc_options *opts)'),
  options_add_server: fn('pmc_status pmc_options_add_server(pmc_options *opts, const char *server)'),
  options_set_hash_key_form: fn('pmc_status pmc_options_set_hash_key_form(pmc_options *opts, pmc_key_form form)'),
  options_set_key_prefix: fn('pmc_status pmc_options_set_key_prefix(pmc_options *opts, const uint8_t *prefix, ' +
    'size_t len)'),
  options_set_reconnect_backoff_ms: fn('pmc_status pmc_options_set_reconnect_backoff_ms(pmc_options *opts, ' +
    'uint32_t initial_ms, uint32_t max_ms)'),
  options_set_tls: fn('pmc_status pmc_options_set_tls(pmc_options *opts, bool enabled)'),
  options_set_tls_ca_file: fn('pmc_status pmc_options_set_tls_ca_file(pmc_options *opts, const char *path)'),
  options_set_tls_ca_dir: fn('pmc_status pmc_options_set_tls_ca_dir(pmc_options *opts, const char *path)'),
  options_set_tls_system_roots: fn('pmc_status pmc_options_set_tls_system_roots(pmc_options *opts, bool value)'),
  options_set_tls_client_cert: fn('pmc_status pmc_options_set_tls_client_cert(pmc_options *opts, ' +
    'const char *cert_path, const char *key_path)'),
  options_set_tls_server_name: fn('pmc_status pmc_options_set_tls_server_name(pmc_options *opts, const char *name)'),
  options_set_tls_min_version: fn('pmc_status pmc_options_set_tls_min_version(pmc_options *opts, ' +
    'const char *version)'),
  options_set_tls_insecure_no_verify_testing_only: fn('pmc_status ' +
    'pmc_options_set_tls_insecure_no_verify_testing_only(pmc_options *opts, bool value)'),
  options_set_auth: fn('pmc_status pmc_options_set_auth(pmc_options *opts, const char *username, ' +
    'const char *password)'),
  options_set_compression: fn('pmc_status pmc_options_set_compression(pmc_options *opts, bool enabled, ' +
    'size_t min_compress_len)'),
  options_set_serde: fn('pmc_status pmc_options_set_serde(pmc_options *opts, pmc_serde_fn *serialize, ' +
    'pmc_serde_fn *deserialize, void *userdata)'),
  buffer_set: fn('pmc_status pmc_buffer_set(pmc_buffer *out, const uint8_t *data, size_t len, uint32_t flags)'),
  set_text: fn(`pmc_status pmc_set_text(${PTR}, const char *text, size_t len, int64_t expire, pmc_reply reply)`),
  get_text: fn(`pmc_status pmc_get_text(${PTR}, _Out_ pmc_value *out)`),
  set_int64: fn(`pmc_status pmc_set_int64(${PTR}, int64_t value, int64_t expire, pmc_reply reply)`),
  get_int64: fn(`pmc_status pmc_get_int64(${PTR}, _Out_ int64_t *out)`),
  set_json: fn(`pmc_status pmc_set_json(${PTR}, const char *json, int64_t expire, pmc_reply reply)`),
  get_json: fn(`pmc_status pmc_get_json(${PTR}, _Out_ void **out)`),
  get_or_lock: fn(`pmc_status pmc_get_or_lock(${PTR}, int64_t lock_ttl, int64_t recache_below, ` +
    '_Out_ pmc_lease *lease, _Inout_ pmc_value *out)'),
  invalidate: fn(`pmc_status pmc_invalidate(${PTR}, int64_t stale_ttl)`),
  batch_new: fn('pmc_status pmc_batch_new(_Out_ pmc_batch **out)'),
  batch_free: fn('void pmc_batch_free(pmc_batch *batch)'),
  batch_clear: fn('void pmc_batch_clear(pmc_batch *batch)'),
  batch_len: fn('size_t pmc_batch_len(const pmc_batch *batch)'),
  batch_get: fn(`pmc_status pmc_batch_get(${BKEY})`),
  batch_gets: fn(`pmc_status pmc_batch_gets(${BKEY})`),
  batch_gat: fn(`pmc_status pmc_batch_gat(${BKEY}, int64_t expire)`),
  batch_touch: fn(`pmc_status pmc_batch_touch(${BKEY}, int64_t expire)`),
  batch_set: fn(`pmc_status pmc_batch_set(${BSTORE})`),
  batch_add: fn(`pmc_status pmc_batch_add(${BSTORE})`),
  batch_replace: fn(`pmc_status pmc_batch_replace(${BSTORE})`),
  batch_append: fn(`pmc_status pmc_batch_append(${BKEY}, const uint8_t *value, size_t value_len)`),
  batch_prepend: fn(`pmc_status pmc_batch_prepend(${BKEY}, const uint8_t *value, size_t value_len)`),
  batch_cas: fn(`pmc_status pmc_batch_cas(${BKEY}, const uint8_t *value, size_t value_len, uint64_t cas, ` +
    'uint32_t flags, int64_t expire)'),
  batch_delete: fn(`pmc_status pmc_batch_delete(${BKEY})`),
  batch_incr: fn(`pmc_status pmc_batch_incr(${BKEY}, uint64_t delta)`),
  batch_decr: fn(`pmc_status pmc_batch_decr(${BKEY}, uint64_t delta)`),
  batch_get_or_lock: fn(`pmc_status pmc_batch_get_or_lock(${BKEY}, int64_t lock_ttl, int64_t recache_below)`),
  batch_invalidate: fn(`pmc_status pmc_batch_invalidate(${BKEY}, int64_t stale_ttl)`),
  batch_meta: fn('pmc_status pmc_batch_meta(pmc_batch *batch, const char *command, const uint8_t *key, ' +
    'size_t key_len, const char *flags, const uint8_t *value, size_t value_len)'),
  // The client first, as every command run by Client#_run.
  batch_execute: fn('pmc_status pmc_batch_execute(const pmc_client *c, pmc_batch *batch)'),
  batch_results: fn('const pmc_op_result *pmc_batch_results(const pmc_batch *batch, _Out_ size_t *len)'),
  status_str: fn('const char *pmc_status_str(pmc_status status)'),
  value_free: fn('void pmc_value_free(_Inout_ pmc_value *value)'),
  results_len: fn('size_t pmc_results_len(const pmc_results *results)'),
  results_items: fn('const pmc_item *pmc_results_items(const pmc_results *results, _Out_ size_t *n)'),
  results_free: fn('void pmc_results_free(pmc_results *results)'),
  stats_len: fn('size_t pmc_stats_len(const pmc_stats_list *stats)'),
  stats_at: fn('pmc_status pmc_stats_at(const pmc_stats_list *stats, size_t i, _Out_ const char **server, ' +
    '_Out_ const char **name, _Out_ const char **value)'),
  stats_find: fn('const char *pmc_stats_find(const pmc_stats_list *stats, const char *name)'),
  stats_free: fn('void pmc_stats_free(pmc_stats_list *stats)'),
  string_free: fn('void pmc_string_free(void *s)'),
  metrics_snapshot: fn('pmc_status pmc_metrics_snapshot(const pmc_client *c, _Out_ pmc_metrics **out)'),
  metrics_free: fn('void pmc_metrics_free(pmc_metrics *m)'),
  metrics_server_count: fn('size_t pmc_metrics_server_count(const pmc_metrics *m)'),
  metrics_server_name: fn('const char *pmc_metrics_server_name(const pmc_metrics *m, size_t index)'),
  metrics_get: fn('pmc_status pmc_metrics_get(const pmc_metrics *m, size_t index, int32_t which, ' +
    '_Out_ uint64_t *out)'),
  metrics_latency_us: fn('pmc_status pmc_metrics_latency_us(const pmc_metrics *m, size_t index, double quantile, ' +
    '_Out_ uint64_t *out)'),
  metrics_prometheus: fn('pmc_status pmc_metrics_prometheus(const pmc_metrics *m, _Out_ void **out, ' +
    '_Out_ size_t *len)'),
  metrics_reset: fn('pmc_status pmc_metrics_reset(const pmc_client *c)'),
  library_version: fn('const char *pmc_library_version(void)'),
};

// The options setters that take one value: [JS option, C function, C type].
const SETTERS = [
  ['connectTimeout', 'connect_timeout_ms', 'uint32_t'],
  ['timeout', 'timeout_ms', 'uint32_t'],
  ['deadline', 'deadline_ms', 'uint32_t'],
  ['noDelay', 'no_delay', 'bool'],
  ['keepalive', 'keepalive', 'bool'],
  ['ignoreExc', 'ignore_exc', 'bool'],
  ['metrics', 'metrics', 'bool'],
  ['noreply', 'default_noreply', 'bool'],
  ['allowUnicodeKeys', 'allow_unicode_keys', 'bool'],
  ['maxValueLen', 'max_value_len', 'size_t'],
  ['usePooling', 'use_pooling', 'bool'],
  ['maxPoolSize', 'max_pool_size', 'size_t'],
  ['poolTimeout', 'pool_timeout_ms', 'uint32_t'],
  ['poolIdleTimeout', 'pool_idle_timeout_ms', 'uint32_t'],
  ['mock', 'mock', 'bool'],
  ['useHashClient', 'use_hash_client', 'bool'],
  ['retryAttempts', 'retry_attempts', 'uint32_t'],
  ['retryTimeout', 'retry_timeout_ms', 'uint32_t'],
  ['deadTimeout', 'dead_timeout_ms', 'uint32_t'],
].map(([opt, name, type]) =>
  [opt, name, type, fn(`pmc_status pmc_options_set_${name}(pmc_options *opts, ${type} value)`)]);

const errorApi = {
  status: fn('pmc_status pmc_error_status(const pmc_error *err)'),
  message: fn('const char *pmc_error_message(const pmc_error *err)'),
  free: fn('void pmc_error_free(pmc_error *err)'),
};

/** {status, message} of the error the library wrote to `slot[0]`; frees it. */
function takeError(status, slot) {
  const err = slot[0];
  if (!err) return { status, message: null }; // cannot happen for status >= 10
  try {
    return { status: errorApi.status(err), message: errorApi.message(err) };
  } finally {
    errorApi.free(err);
  }
}

/**
 * Call a pmc_status function synchronously: the status, and for an error
 * status (10 or above) the library's message of this call.
 */
function callStatus(f, args) {
  const slot = [null];
  const status = f(...args, slot);
  return status < 10 ? { status, message: null } : takeError(status, slot);
}

/** The same on a koffi worker thread: done(jsError, {status, message}). */
function callStatusAsync(f, args, done) {
  const slot = [null];
  f.async(...args, slot, (e, status) => {
    if (e) return done(e);
    let r;
    try {
      r = status < 10 ? { status, message: null } : takeError(status, slot);
    } catch (e2) {
      return done(e2);
    }
    return done(null, r);
  });
}

module.exports = { koffi, C, SETTERS, serdeFn, callStatus, callStatusAsync, libraryPath };
