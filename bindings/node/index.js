'use strict';

// Thin Node.js binding (koffi) of libpymemcache, the C-ABI memcached client
// of pymemcache-rs (include/pymemcache.h).
//
// Every method calls the matching pmc_* function; the binding converts
// arguments, copies what the library hands back into Buffers (freeing the
// library's memory at once) and maps statuses to return values and errors.
//
// Sharing: the *Async methods run the C call on koffi's worker threads, so
// several calls on one Client can be in flight at once. A pooled client
// (usePooling) or a hash client (two or more servers) runs them in
// parallel; a single-server client without pooling serializes them on its
// one connection.
//
// Keys follow pymemcache's rules. A Buffer (or Uint8Array) key is bytes: it
// goes to the library as it is and is refused only if it holds ASCII
// whitespace or NUL, is longer than 250 bytes with the prefix, or is empty
// without a prefix. A string key is text: ASCII only, unless the client was
// made with allowUnicodeKeys, which sends its UTF-8.

const fs = require('fs');
const path = require('path');
const koffi = require('koffi');

function libraryPath() {
  if (process.env.PYMEMCACHE_LIB) return process.env.PYMEMCACHE_LIB;
  const built = path.resolve(__dirname, '../../target/release/libpymemcache.so');
  return fs.existsSync(built) ? built : 'libpymemcache.so.0';
}

const lib = koffi.load(libraryPath());

koffi.opaque('pmc_client');
koffi.opaque('pmc_options');
koffi.opaque('pmc_results');
koffi.struct('pmc_value', {
  data: 'uint8_t *',
  len: 'size_t',
  flags: 'uint32_t',
  cas: 'uint64_t',
});
koffi.struct('pmc_item', {
  index: 'size_t',
  key: 'const uint8_t *',
  key_len: 'size_t',
  value: 'const uint8_t *',
  value_len: 'size_t',
  flags: 'uint32_t',
  cas: 'uint64_t',
});
koffi.struct('pmc_pool_stats', {
  in_use: 'size_t',
  free: 'size_t',
  created: 'uint64_t',
  destroyed: 'uint64_t',
});

const C = {
  options_new: lib.func('pmc_options *pmc_options_new(void)'),
  options_free: lib.func('void pmc_options_free(pmc_options *opts)'),
  options_add_server: lib.func('int32_t pmc_options_add_server(pmc_options *opts, const char *server)'),
  options_set_key_prefix: lib.func(
    'int32_t pmc_options_set_key_prefix(pmc_options *opts, const uint8_t *prefix, size_t len)'),
  client_new: lib.func('int32_t pmc_client_new(const pmc_options *opts, _Out_ pmc_client **out)'),
  client_free: lib.func('void pmc_client_free(pmc_client *client)'),
  client_pool_stats: lib.func(
    'int32_t pmc_client_pool_stats(const pmc_client *client, _Out_ pmc_pool_stats *out)'),
  client_server_for_key: lib.func('int32_t pmc_client_server_for_key(const pmc_client *client, ' +
    'const uint8_t *key, size_t key_len, _Out_ void **out)'),
  options_set_hash_key_form: lib.func('int32_t pmc_options_set_hash_key_form(pmc_options *opts, int32_t form)'),
  get: lib.func(
    'int32_t pmc_get(const pmc_client *client, const uint8_t *key, size_t key_len, _Out_ pmc_value *out)'),
  gets: lib.func(
    'int32_t pmc_gets(const pmc_client *client, const uint8_t *key, size_t key_len, _Out_ pmc_value *out)'),
  get_many: lib.func('int32_t pmc_get_many(const pmc_client *client, const uint8_t **keys, ' +
    'const size_t *key_lens, size_t n, _Out_ pmc_results **out)'),
  set: lib.func('int32_t pmc_set(const pmc_client *client, const uint8_t *key, size_t key_len, ' +
    'const uint8_t *value, size_t value_len, uint32_t flags, int64_t expire, int32_t reply)'),
  cas: lib.func('int32_t pmc_cas(const pmc_client *client, const uint8_t *key, size_t key_len, ' +
    'const uint8_t *value, size_t value_len, uint64_t cas, uint32_t flags, int64_t expire, int32_t reply)'),
  delete: lib.func(
    'int32_t pmc_delete(const pmc_client *client, const uint8_t *key, size_t key_len, int32_t reply)'),
  incr: lib.func('int32_t pmc_incr(const pmc_client *client, const uint8_t *key, size_t key_len, ' +
    'uint64_t delta, int32_t reply, _Out_ uint64_t *new_value)'),
  decr: lib.func('int32_t pmc_decr(const pmc_client *client, const uint8_t *key, size_t key_len, ' +
    'uint64_t delta, int32_t reply, _Out_ uint64_t *new_value)'),
  touch: lib.func('int32_t pmc_touch(const pmc_client *client, const uint8_t *key, size_t key_len, ' +
    'int64_t expire, int32_t reply)'),
  string_free: lib.func('void pmc_string_free(void *s)'),
  status_str: lib.func('const char *pmc_status_str(int32_t status)'),
  last_error_message: lib.func('const char *pmc_last_error_message(void)'),
  value_free: lib.func('void pmc_value_free(_Inout_ pmc_value *value)'),
  results_items: lib.func('const pmc_item *pmc_results_items(const pmc_results *results, _Out_ size_t *n)'),
  results_free: lib.func('void pmc_results_free(pmc_results *results)'),
  library_version: lib.func('const char *pmc_library_version(void)'),
};

// Options setters: [option name, C function, converter].
const SETTERS = [
  ['connectTimeout', 'pmc_options_set_connect_timeout_ms', 'uint32_t', ms],
  ['timeout', 'pmc_options_set_timeout_ms', 'uint32_t', ms],
  ['deadline', 'pmc_options_set_deadline_ms', 'uint32_t', ms],
  ['noDelay', 'pmc_options_set_no_delay', 'bool', Boolean],
  ['keepalive', 'pmc_options_set_keepalive', 'bool', Boolean],
  ['ignoreExc', 'pmc_options_set_ignore_exc', 'bool', Boolean],
  ['noreply', 'pmc_options_set_default_noreply', 'bool', Boolean],
  ['allowUnicodeKeys', 'pmc_options_set_allow_unicode_keys', 'bool', Boolean],
  ['maxValueLen', 'pmc_options_set_max_value_len', 'size_t', Number],
  ['usePooling', 'pmc_options_set_use_pooling', 'bool', Boolean],
  ['maxPoolSize', 'pmc_options_set_max_pool_size', 'size_t', Number],
  ['poolTimeout', 'pmc_options_set_pool_timeout_ms', 'uint32_t', ms],
  ['poolIdleTimeout', 'pmc_options_set_pool_idle_timeout_ms', 'uint32_t', ms],
  ['useHashClient', 'pmc_options_set_use_hash_client', 'bool', Boolean],
  ['retryAttempts', 'pmc_options_set_retry_attempts', 'uint32_t', Number],
  ['retryTimeout', 'pmc_options_set_retry_timeout_ms', 'uint32_t', ms],
  ['deadTimeout', 'pmc_options_set_dead_timeout_ms', 'uint32_t', ms],
].map(([opt, name, type, conv]) =>
  [opt, lib.func(`int32_t ${name}(pmc_options *opts, ${type} value)`), conv]);

function ms(value) {
  return Math.min(Math.max(Math.ceil(Number(value)), 0), 0xffffffff);
}

const REPLY_DEFAULT = 0;
const REPLY_WAIT = 1;

// hashKeyForm: values and their pmc_key_form.
const KEY_FORMS = Object.freeze({ text: 0, python_bytes: 1 });

const Status = Object.freeze({
  OK: 0, MISS: 1, NOT_STORED: 2, EXISTS: 3, NOT_FOUND: 4,
  NULL_ARGUMENT: 10, INVALID_ARGUMENT: 11, ILLEGAL_INPUT: 12, CONFIG_ERROR: 13, TOO_LARGE: 14,
  TIMEOUT: 20, IO_ERROR: 21, UNEXPECTED_CLOSE: 22, POOL_EXHAUSTED: 23, NO_SERVERS: 24,
  UNKNOWN_COMMAND: 30, CLIENT_ERROR: 31, SERVER_ERROR: 32, UNKNOWN_ERROR: 33,
  NOT_TEXT: 40, NOT_INTEGER: 41, UNSUPPORTED_PICKLE: 42, CORRUPT_VALUE: 43, SERDE_CALLBACK: 44,
  PANIC: 90,
});

function statusName(status) {
  return C.status_str(status);
}

// An error status of the library: .status is the pmc_status code,
// .statusName its name (e.g. "PMC_IO_ERROR").
class PymemcacheError extends Error {
  constructor(message, status) {
    super(message);
    this.name = this.constructor.name;
    this.status = status;
    this.statusName = statusName(status);
  }
}
class InvalidArgumentError extends PymemcacheError {} // 10, 11
class IllegalInputError extends PymemcacheError {} // 12: nothing was sent
class ConfigError extends PymemcacheError {} // 13
class TooLargeError extends PymemcacheError {} // 14
class ConnectionError extends PymemcacheError {} // 20-24
class ClientError extends PymemcacheError {} // 31: CLIENT_ERROR
class ServerError extends PymemcacheError {} // 32: SERVER_ERROR
class ClosedError extends Error {
  constructor(op) {
    super(`${op}: client is closed`);
    this.name = 'ClosedError';
  }
}

function errorClass(status) {
  if (status === 10 || status === 11) return InvalidArgumentError;
  if (status === 12) return IllegalInputError;
  if (status === 13) return ConfigError;
  if (status === 14) return TooLargeError;
  if (status >= 20 && status <= 24) return ConnectionError;
  if (status === 31) return ClientError;
  if (status === 32) return ServerError;
  return PymemcacheError;
}

// message: pmc_last_error_message read on the calling thread (sync calls);
// null for async calls, whose thread is a koffi worker.
function makeError(op, status, message) {
  const text = message || `${statusName(status)}` +
    (message === null ? ' (async call: the library keeps its message per thread)' : '');
  const Cls = errorClass(status);
  return new Cls(`${op}: ${text}`, status);
}

function unexpected(op, status) {
  return new PymemcacheError(`${op}: unexpected outcome ${statusName(status)}`, status);
}

// Check a synchronous status, reading the message right away.
function check(op, status) {
  if (status >= 10) throw makeError(op, status, C.last_error_message());
  return status;
}

// The binding's messages for a text key it refuses, in the library's form.
const NON_ASCII_KEY =
  'PMC_ILLEGAL_INPUT: illegal input: key contains non-ASCII characters and allow_unicode_keys is off';
const NOT_TEXT_KEY =
  'PMC_ILLEGAL_INPUT: illegal input: key is not valid Unicode text (a lone surrogate; pass a Buffer to send bytes)';
const LONE_SURROGATE = /\p{Cs}/u;

// [buffer, length] for a key, as pymemcache takes keys: the one key check of
// the binding, used by every method. A Buffer or Uint8Array is bytes and
// goes as it is; a string is text, ASCII only unless allowUnicode, then
// sent as UTF-8. ASCII strings encode to as many bytes as they have UTF-16
// units and every other string to more, so the check is one comparison.
function keyBytes(op, key, allowUnicode) {
  if (typeof key !== 'string') return bytes(key, 'key');
  const buf = Buffer.from(key, 'utf8');
  if (buf.length !== key.length) {
    if (!allowUnicode) throw new IllegalInputError(`${op}: ${NON_ASCII_KEY}`, Status.ILLEGAL_INPUT);
    // UTF-8 cannot carry a lone surrogate (Buffer.from would send U+FFFD).
    if (LONE_SURROGATE.test(key)) throw new IllegalInputError(`${op}: ${NOT_TEXT_KEY}`, Status.ILLEGAL_INPUT);
  }
  return [buf.length ? buf : Buffer.alloc(1), buf.length];
}

// Run body(); for an async call, turn what it throws into a rejection.
function guarded(async, body) {
  if (!async) return body();
  try {
    return body();
  } catch (e) {
    return Promise.reject(e);
  }
}

// [buffer, length] for a key or value; the buffer has at least one byte so
// that the pointer is never NULL.
function bytes(value, what) {
  let buf;
  if (Buffer.isBuffer(value)) buf = value;
  else if (typeof value === 'string') buf = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  else throw new TypeError(`${what} must be a string, Buffer or Uint8Array`);
  return [buf.length ? buf : Buffer.alloc(1), buf.length];
}

// A Buffer copied from len bytes at the library's pointer.
function copyOut(ptr, len) {
  if (!ptr || !len) return Buffer.alloc(0);
  return Buffer.from(new Uint8Array(koffi.view(ptr, Number(len))));
}

// Copy a pmc_value into JS and free the library's bytes.
function takeValue(v) {
  try {
    return { value: copyOut(v.data, v.len), flags: v.flags, cas: BigInt(v.cas) };
  } finally {
    C.value_free(v);
  }
}

const registry = new FinalizationRegistry((box) => {
  if (box.ptr) {
    const ptr = box.ptr;
    box.ptr = null;
    C.client_free(ptr);
  }
});

class Client {
  // servers: "host:port" or an array (two or more make a hash client).
  // Timeouts are in milliseconds. deadline (milliseconds; 0 or absent:
  // none) bounds a whole call: waiting for the connection (another call in
  // flight on a single-server client, or a full pool), connecting, writing
  // and reading together; past it the call fails with a ConnectionError of
  // status TIMEOUT ("the call's deadline passed ..."; an async call's error
  // gives the status only). noreply (default false, unlike pymemcache)
  // makes set, delete and touch skip the server's reply.
  // allowUnicodeKeys accepts non-ASCII string keys (sent as UTF-8).
  // hashKeyForm ('text', the default, or 'python_bytes') places keys where
  // pymemcache's HashClient places them when the fleet's Python services
  // pass str or bytes keys.
  constructor(servers, options = {}) {
    const formName = options.hashKeyForm ?? 'text';
    const form = Object.prototype.hasOwnProperty.call(KEY_FORMS, formName) ? KEY_FORMS[formName] : undefined;
    if (form === undefined) {
      throw new InvalidArgumentError(`hashKeyForm: ${JSON.stringify(formName)} is not 'text' or 'python_bytes'`,
        Status.INVALID_ARGUMENT);
    }
    this._allowUnicode = Boolean(options.allowUnicodeKeys);
    const opts = C.options_new();
    if (!opts) throw new Error('pmc_options_new: out of memory');
    try {
      for (const s of [].concat(servers)) check(`server ${s}`, C.options_add_server(opts, String(s)));
      const o = { noreply: false, ...options };
      for (const [name, fn, conv] of SETTERS) {
        if (o[name] !== undefined && o[name] !== null) check(name, fn(opts, conv(o[name])));
      }
      check('hashKeyForm', C.options_set_hash_key_form(opts, form));
      if (o.keyPrefix) {
        const [p, n] = bytes(o.keyPrefix, 'keyPrefix');
        check('keyPrefix', C.options_set_key_prefix(opts, p, n));
      }
      const out = [null];
      check('new', C.client_new(opts, out));
      this._box = { ptr: out[0] };
    } finally {
      C.options_free(opts);
    }
    this._inflight = 0;
    this._closing = false;
    registry.register(this, this._box, this._box);
  }

  // Close the connections and free the handle. Calls still in flight finish
  // first (the handle is freed when the last one completes).
  close() {
    if (this._closing) return;
    this._closing = true;
    registry.unregister(this._box);
    this._freeIfIdle();
  }

  get closed() {
    return this._closing;
  }

  _freeIfIdle() {
    if (this._closing && this._inflight === 0 && this._box.ptr) {
      const ptr = this._box.ptr;
      this._box.ptr = null;
      C.client_free(ptr);
    }
  }

  // Run fn(client, ...args): synchronously, or on a koffi worker thread
  // returning a Promise. finish(status) makes the result.
  _run(op, fn, args, finish, async) {
    if (this._closing || !this._box.ptr) {
      const err = new ClosedError(op);
      if (async) return Promise.reject(err);
      throw err;
    }
    const ptr = this._box.ptr;
    if (!async) {
      return finish(check(op, fn(ptr, ...args)));
    }
    this._inflight++;
    return new Promise((resolve, reject) => {
      fn.async(ptr, ...args, (err, status) => {
        this._inflight--;
        try {
          if (err) throw err;
          if (status >= 10) throw makeError(op, status, null);
          resolve(finish(status));
        } catch (e) {
          reject(e);
        } finally {
          this._freeIfIdle();
        }
      });
    });
  }

  _key(op, key) {
    return keyBytes(op, key, this._allowUnicode);
  }

  _getItem(op, fn, key, async) {
    return guarded(async, () => {
      const [k, kl] = this._key(op, key);
      const out = {};
      return this._run(op, fn, [k, kl, out], (st) => {
        if (st === Status.MISS) return null;
        if (st !== Status.OK) throw unexpected(op, st);
        return takeValue(out);
      }, async);
    });
  }

  // The Map of hits is keyed by the keys as given (strings, or the very
  // Buffer objects).
  _getMulti(keys, items, async) {
    return guarded(async, () => this._getMultiRun(keys, items, async));
  }

  _getMultiRun(keys, items, async) {
    keys = Array.from(keys, (k) => (typeof k === 'string' || k instanceof Uint8Array ? k : String(k)));
    const bufs = keys.map((k) => this._key('getMulti', k));
    const out = [null];
    const run = this._run('getMulti', C.get_many,
      [bufs.map((b) => b[0]), bufs.map((b) => b[1]), keys.length, out], (st) => {
        if (st !== Status.OK) throw unexpected('getMulti', st);
        const res = out[0];
        try {
          const hits = new Map();
          // Every hit in one call, as an array borrowed from res.
          const count = [0];
          const first = C.results_items(res, count);
          const n = Number(count[0]);
          const all = n > 0 ? koffi.decode(first, 'pmc_item', n) : [];
          for (const it of all) {
            const value = copyOut(it.value, it.value_len);
            hits.set(keys[Number(it.index)], items ? { value, flags: it.flags, cas: BigInt(it.cas) } : value);
          }
          return hits;
        } finally {
          C.results_free(res);
        }
      }, async);
    return run;
  }

  _set(key, value, opts, async) {
    return guarded(async, () => {
      const [k, kl] = this._key('set', key);
      const [v, vl] = bytes(value, 'value');
      const { flags = 0, expire = 0 } = opts;
      return this._run('set', C.set, [k, kl, v, vl, flags, expire, REPLY_DEFAULT], (st) => {
        if (st !== Status.OK) throw unexpected('set', st);
        return true;
      }, async);
    });
  }

  // delete and touch: true (found, or not waited for), false (not found).
  _found(op, fn, key, extra, async) {
    return guarded(async, () => {
      const [k, kl] = this._key(op, key);
      return this._run(op, fn, [k, kl, ...extra, REPLY_DEFAULT], (st) => {
        if (st === Status.OK) return true;
        if (st === Status.NOT_FOUND) return false;
        throw unexpected(op, st);
      }, async);
    });
  }

  _counter(op, fn, key, delta, async) {
    return guarded(async, () => {
      const [k, kl] = this._key(op, key);
      const out = [null];
      return this._run(op, fn, [k, kl, BigInt(delta), REPLY_WAIT, out], (st) => {
        if (st === Status.OK) return BigInt(out[0]);
        if (st === Status.NOT_FOUND) return null;
        throw unexpected(op, st);
      }, async);
    });
  }

  _cas(key, value, cas, opts, async) {
    return guarded(async, () => {
      const [k, kl] = this._key('cas', key);
      const [v, vl] = bytes(value, 'value');
      const { flags = 0, expire = 0 } = opts;
      return this._run('cas', C.cas, [k, kl, v, vl, BigInt(cas), flags, expire, REPLY_WAIT], (st) => {
        if (st === Status.OK) return true;
        if (st === Status.EXISTS) return false;
        if (st === Status.NOT_FOUND) return null;
        throw unexpected('cas', st);
      }, async);
    });
  }

  /** The value (a Buffer), or null on a miss. */
  get(key) {
    const item = this._getItem('get', C.get, key, false);
    return item && item.value;
  }

  /** {value, flags, cas: 0n}, or null on a miss. */
  getItem(key) {
    return this._getItem('get', C.get, key, false);
  }

  /** {value, flags, cas} with the CAS unique (a BigInt), or null. */
  gets(key) {
    return this._getItem('gets', C.gets, key, false);
  }

  /** A Map of the hits (key => Buffer, or {value, flags, cas} with items). */
  getMulti(keys, { items = false } = {}) {
    return this._getMulti(keys, items, false);
  }

  /** Store value (string, Buffer or Uint8Array); returns true. */
  set(key, value, opts = {}) {
    return this._set(key, value, opts, false);
  }

  /** true if the key existed, false if not (always true with noreply). */
  delete(key) {
    return this._found('delete', C.delete, key, [], false);
  }

  /**
   * Set a new expiry (seconds, or a unix time; 0 = never). Follows the
   * client's noreply default, as pymemcache's touch(noreply=null): without
   * noreply (the binding's default) true if the key existed, false if not;
   * with noreply: true, always true (the outcome is not known).
   */
  touch(key, exptime = 0) {
    return this._found('touch', C.touch, key, [exptime], false);
  }

  /** The counter's new value (a BigInt), or null if there is no such key. */
  incr(key, delta = 1) {
    return this._counter('incr', C.incr, key, delta, false);
  }

  decr(key, delta = 1) {
    return this._counter('decr', C.decr, key, delta, false);
  }

  /** true (stored), false (changed since gets), null (no such key). */
  cas(key, value, cas, opts = {}) {
    return this._cas(key, value, cas, opts, false);
  }

  getAsync(key) {
    return this._getItem('get', C.get, key, true).then((item) => item && item.value);
  }

  getItemAsync(key) {
    return this._getItem('get', C.get, key, true);
  }

  getsAsync(key) {
    return this._getItem('gets', C.gets, key, true);
  }

  getMultiAsync(keys, { items = false } = {}) {
    return this._getMulti(keys, items, true);
  }

  setAsync(key, value, opts = {}) {
    return this._set(key, value, opts, true);
  }

  deleteAsync(key) {
    return this._found('delete', C.delete, key, [], true);
  }

  touchAsync(key, exptime = 0) {
    return this._found('touch', C.touch, key, [exptime], true);
  }

  incrAsync(key, delta = 1) {
    return this._counter('incr', C.incr, key, delta, true);
  }

  decrAsync(key, delta = 1) {
    return this._counter('decr', C.decr, key, delta, true);
  }

  casAsync(key, value, cas, opts = {}) {
    return this._cas(key, value, cas, opts, true);
  }

  /**
   * The server key is placed on ("host:port", or the socket path): for a
   * hash client the one pymemcache's HashClient picks among the live
   * servers, given hashKeyForm. Connects to nothing.
   */
  serverForKey(key) {
    const [k, kl] = this._key('serverForKey', key);
    const out = [null];
    return this._run('serverForKey', C.client_server_for_key, [k, kl, out], () => {
      try {
        return koffi.decode(out[0], 'char', -1);
      } finally {
        C.string_free(out[0]);
      }
    }, false);
  }

  /** A pooled client's connection counts. */
  poolStats() {
    const out = {};
    return this._run('poolStats', C.client_pool_stats, [out], () => ({
      inUse: Number(out.in_use),
      free: Number(out.free),
      created: Number(out.created),
      destroyed: Number(out.destroyed),
    }), false);
  }
}

module.exports = {
  Client,
  Status,
  KEY_FORMS,
  statusName,
  libraryVersion: () => C.library_version(),
  PymemcacheError,
  InvalidArgumentError,
  IllegalInputError,
  ConfigError,
  TooLargeError,
  ConnectionError,
  ClientError,
  ServerError,
  ClosedError,
};
