'use strict';

// Client: every command of the C surface, each as a sync method and an
// *Async method that returns a Promise. The per-key *Async methods
// (ON_ENGINE) run on the event loop through the library's non-blocking API
// (the addon, lib/evloop.js; a pmc_batch each, lib/engine-batch.js) when
// the client has an engine there; the server-wide ones, calls with
// noreply, and all of them on a client without one, run the C call on a
// koffi worker thread. Results are copied into JS and the library's memory is
// freed at once; statuses become return values (miss, not stored, exists,
// not found) or errors carrying the library's message of that very call.

const { koffi, C, SETTERS, serdeFn, callStatus, callStatusAsync } = require('./ffi');
const { Status, makeError, unexpected, InvalidArgumentError, ClosedError } = require('./errors');
const { bytes, keyBytes, replyMode, copyOut, takeValue, takeString, ms } = require('./convert');
const { openEngine, addonState } = require('./evloop');
const { runEngineBatch, freeBatches, failed } = require('./engine-batch');

/** The lease states of getOrLock (PMC_LEASE_*), as strings. */
const Lease = Object.freeze({
  HIT: 'hit', STALE: 'stale', MISS_WON: 'miss_won', STALE_WON: 'stale_won', MISS_BUSY: 'miss_busy',
});
/** PMC_LEASE_* code -> Lease string (0, PMC_LEASE_NONE: null). */
const LEASE_NAMES = [null, Lease.HIT, Lease.STALE, Lease.MISS_WON, Lease.STALE_WON, Lease.MISS_BUSY];

/** hashKeyForm values and their pmc_key_form. */
const KEY_FORMS = Object.freeze({ text: 0, python_bytes: 1 });

const SizeArray = koffi.sizeof('size_t') === 8 ? BigUint64Array : Uint32Array;

/** Run a pmc_status call synchronously; throw the library's error for status >= 10. */
function check(op, fn, args) {
  const { status, message } = callStatus(fn, args);
  if (status >= 10) throw makeError(op, status, message);
  return status;
}

// A koffi callback for pmc_serde_fn around fn(key, value, flags) ->
// {value, flags} (the new value) or undefined (unchanged). A throw fails the
// command with PMC_SERDE_CALLBACK. Called on the thread of the command: the
// main thread for sync methods; for *Async ones koffi runs it on the main
// thread while the worker waits.
function serdeCallback(name, fn) {
  if (fn === undefined || fn === null) return null;
  if (typeof fn !== 'function') throw new TypeError(`serde.${name} must be a function`);
  return koffi.register((userdata, key, keyLen, value, valueLen, flags, out) => {
    try {
      const r = fn(copyOut(key, keyLen), copyOut(value, valueLen), flags);
      if (r === undefined || r === null) return Status.OK;
      const [v, vl] = bytes(r.value, 'serde result value');
      return callStatus(C.buffer_set, [out, v, vl, (r.flags ?? flags) >>> 0]).status;
    } catch (_) {
      return Status.SERDE_CALLBACK;
    }
  }, koffi.pointer(serdeFn));
}

function unregister(callbacks) {
  for (const cb of callbacks) koffi.unregister(cb);
  callbacks.length = 0;
}

// Build a pmc_options from the constructor's arguments (the caller frees it);
// the serde callbacks it registered go to `callbacks`.
function buildOptions(servers, options, callbacks) {
  const formName = options.hashKeyForm ?? 'text';
  const form = Object.prototype.hasOwnProperty.call(KEY_FORMS, formName) ? KEY_FORMS[formName] : undefined;
  if (form === undefined) {
    throw new InvalidArgumentError(`hashKeyForm: ${JSON.stringify(formName)} is not 'text' or 'python_bytes'`,
      Status.INVALID_ARGUMENT);
  }
  const opts = C.options_new();
  if (!opts) throw new Error('pmc_options_new: out of memory');
  try {
    const list = servers === undefined || servers === null ? [] : [].concat(servers);
    for (const s of list) check(`server ${s}`, C.options_add_server, [opts, String(s)]);
    const o = { noreply: false, ...options };
    for (const [name, cName, type, fn] of SETTERS) {
      if (o[name] === undefined || o[name] === null) continue;
      const v = type === 'bool' ? Boolean(o[name]) : cName.endsWith('_ms') ? ms(o[name]) : Number(o[name]);
      check(name, fn, [opts, v]);
    }
    check('hashKeyForm', C.options_set_hash_key_form, [opts, form]);
    if (o.failureTracking) {
      // failureTracking: true, or {threshold, initialBackoff, maxBackoff (ms), fallback}.
      const ft = typeof o.failureTracking === 'object' ? o.failureTracking : {};
      check('failureTracking', C.options_set_hash_failure_tracking, [opts, Number(ft.threshold ?? 3),
        ms(ft.initialBackoff ?? 1000), ms(ft.maxBackoff ?? 30000), Boolean(ft.fallback)]);
    }
    if (o.keyPrefix !== undefined && o.keyPrefix !== null) {
      const [p, n] = bytes(o.keyPrefix, 'keyPrefix');
      check('keyPrefix', C.options_set_key_prefix, [opts, p, n]);
    }
    if (o.compression !== undefined && o.compression !== null) {
      // compression: true/false, or {minLength} (PMC_DEFAULT_MIN_COMPRESS_LEN is 400).
      const on = Boolean(o.compression);
      const min = typeof o.compression === 'object' && o.compression.minLength !== undefined
        ? Number(o.compression.minLength) : 400;
      check('compression', C.options_set_compression, [opts, on, min]);
    }
    if (o.reconnectBackoff !== undefined && o.reconnectBackoff !== null) {
      // reconnectBackoff: 0 / false (off), or {initial, max} in ms (default 10, 1000).
      const rb = o.reconnectBackoff;
      const initial = typeof rb === 'object' ? ms(rb.initial ?? 10) : rb ? 10 : 0;
      const max = typeof rb === 'object' ? ms(rb.max ?? Math.max(1000, initial)) : 1000;
      check('reconnectBackoff', C.options_set_reconnect_backoff_ms, [opts, initial, max]);
    }
    if (o.tls !== undefined && o.tls !== null && o.tls !== false) {
      // tls: true (system roots), or {caFile, caDir, systemRoots, clientCert,
      // clientKey, serverName, minVersion, insecureNoVerifyTestingOnly}.
      const t = typeof o.tls === 'object' ? o.tls : {};
      check('tls', C.options_set_tls, [opts, true]);
      if (t.caFile != null) check('tls.caFile', C.options_set_tls_ca_file, [opts, String(t.caFile)]);
      if (t.caDir != null) check('tls.caDir', C.options_set_tls_ca_dir, [opts, String(t.caDir)]);
      if (t.systemRoots) check('tls.systemRoots', C.options_set_tls_system_roots, [opts, true]);
      if (t.clientCert != null || t.clientKey != null) {
        check('tls.clientCert', C.options_set_tls_client_cert,
          [opts, String(t.clientCert ?? ''), String(t.clientKey ?? '')]);
      }
      if (t.serverName != null) check('tls.serverName', C.options_set_tls_server_name, [opts, String(t.serverName)]);
      if (t.minVersion != null) check('tls.minVersion', C.options_set_tls_min_version, [opts, String(t.minVersion)]);
      if (t.insecureNoVerifyTestingOnly) {
        check('tls.insecureNoVerifyTestingOnly', C.options_set_tls_insecure_no_verify_testing_only, [opts, true]);
      }
    }
    if (o.auth !== undefined && o.auth !== null) {
      check('auth', C.options_set_auth, [opts, String(o.auth.username), String(o.auth.password)]);
    }
    if (o.serde) {
      const ser = serdeCallback('serialize', o.serde.serialize);
      const de = serdeCallback('deserialize', o.serde.deserialize);
      callbacks.push(...[ser, de].filter(Boolean));
      check('serde', C.options_set_serde, [opts, ser, de, null]);
    }
    return opts;
  } catch (e) {
    C.options_free(opts);
    unregister(callbacks);
    throw e;
  }
}

// Frees a client handle the program forgot to close.
const registry = new FinalizationRegistry((box) => freeBox(box));

// Free a handle, then the serde callbacks it may call; retire the engine.
function freeBox(box) {
  if (box.engine) {
    box.engine.retire();
    box.engine = null;
  }
  if (box.ptr) {
    const ptr = box.ptr;
    box.ptr = null;
    C.client_free(ptr);
    unregister(box.callbacks);
  }
  freeBatches(box);
}

class Client {
  /**
   * servers: "host:port" (or a socket path), or an array of them (two or
   * more make a hash client). See index.d.ts for every option.
   */
  constructor(servers, options = {}) {
    this._allowUnicode = Boolean(options.allowUnicodeKeys);
    const callbacks = [];
    const opts = buildOptions(servers, options, callbacks);
    const out = [null];
    let ev;
    try {
      check('new', C.client_new, [opts, out]);
      const list = servers === undefined || servers === null ? [] : [].concat(servers).map(String);
      try {
        ev = openEngine(list, opts, options);
      } catch (e) {
        C.client_free(out[0]);
        throw e;
      }
      this._engineSpec = { servers: list, options };
    } catch (e) {
      unregister(callbacks);
      throw e;
    } finally {
      C.options_free(opts);
    }
    this._adopt(out[0], callbacks);
    this._box.engine = ev.engine;
    this._engineReason = ev.reason;
    this._defaultNoreply = Boolean(options.noreply);
  }

  /**
   * Where getAsync/setAsync/deleteAsync and Batch#executeAsync run: 'addon'
   * (the event loop, through the library's non-blocking API) or 'worker'
   * (a koffi worker thread per call, as every other *Async method).
   */
  get asyncEngine() {
    return this._box.engine ? 'addon' : 'worker';
  }

  /** Why this client's async calls run on worker threads (null on the addon). */
  get asyncEngineReason() {
    return this._box.engine ? null : (this._engineReason ?? 'a wrapping client (fallback, retrying)');
  }

  // After addServer/removeServer: a new engine for the new server list; the
  // old one closes when its calls are done.
  _renewEngine() {
    const old = this._box.engine;
    if (!old || !this._engineSpec) return;
    const callbacks = [];
    const opts = buildOptions(this._engineSpec.servers, this._engineSpec.options, callbacks);
    try {
      const ev = openEngine(this._engineSpec.servers, opts, this._engineSpec.options);
      this._box.engine = ev.engine;
      this._engineReason = ev.reason;
    } finally {
      C.options_free(opts);
      unregister(callbacks);
    }
    old.retire();
  }

  // Run a call on the engine: submit(native) returns the addon's Promise of
  // a status or {status, value, flags, message}; finish(status, result) makes
  // the method's result from a status below 10.
  _runEngine(op, submit, finish) {
    if (this._closing || !this._box.ptr) return Promise.reject(new ClosedError(op, this._closedWhy));
    const engine = this._box.engine;
    let p;
    try {
      p = submit(engine.native);
    } catch (e) {
      return Promise.reject(e);
    }
    this._inflight++;
    engine.inflight++;
    const settle = () => {
      this._inflight--;
      engine.inflight--;
      engine.closeIfIdle();
      this._freeIfIdle();
    };
    return p.then((r) => {
      settle();
      const status = typeof r === 'number' ? r : r.status;
      if (status === -1) throw new ClosedError(op, r.message);
      if (status >= 10) throw makeError(op, status, r.message);
      return finish(status, r);
    }, (e) => {
      settle();
      throw e;
    });
  }

  /** An in-memory mock client (pymemcache's MockMemcacheClient). */
  static mock(options = {}) {
    return new Client(null, { ...options, mock: true });
  }

  /**
   * A fallback client (pymemcache's FallbackClient): writes go to the first
   * client, reads take each key's first hit in order. On success the new
   * client owns the given ones (they are closed for further use).
   */
  static fallback(clients) {
    const list = Array.from(clients);
    const ptrs = list.map((c) => Client._handleToMove(c, 'fallback'));
    const out = [null];
    check('fallback', C.client_new_fallback, [ptrs, ptrs.length, out]);
    const callbacks = list.flatMap((c) => c._moved('it was moved into a fallback client'));
    return Client._wrap(out[0], list.some((c) => c._allowUnicode), callbacks);
  }

  /**
   * A retrying client (pymemcache's RetryingClient) around `client`, which
   * it owns on success. attempts (default 2), retryDelay in ms, retryFor /
   * doNotRetryFor: Status codes (retryFor empty: every error).
   */
  static retrying(client, { attempts = 2, retryDelay = 0, retryFor = [], doNotRetryFor = [] } = {}) {
    const ptr = Client._handleToMove(client, 'retrying');
    const rf = Int32Array.from(retryFor);
    const dnr = Int32Array.from(doNotRetryFor);
    const out = [null];
    check('retrying', C.client_new_retrying,
      [ptr, Number(attempts), ms(retryDelay), rf.length ? rf : null, rf.length, dnr.length ? dnr : null,
        dnr.length, out]);
    const callbacks = client._moved('it was moved into a retrying client');
    return Client._wrap(out[0], client._allowUnicode, callbacks);
  }

  static _handleToMove(c, op) {
    if (!(c instanceof Client)) throw new TypeError(`${op}: expects Client objects`);
    if (c._closing || !c._box.ptr) throw new ClosedError(op, c._closedWhy);
    if (c._inflight > 0) throw new ClosedError(op, 'a client with async calls in flight cannot be moved');
    return c._box.ptr;
  }

  static _wrap(ptr, allowUnicode, callbacks) {
    const c = Object.create(Client.prototype);
    c._allowUnicode = allowUnicode;
    c._adopt(ptr, callbacks);
    return c;
  }

  _adopt(ptr, callbacks = []) {
    this._box = { ptr, callbacks };
    this._inflight = 0;
    this._closing = false;
    this._closedWhy = 'client is closed';
    registry.register(this, this._box, this._box);
  }

  // The handle now belongs to a wrapping client, which takes the serde
  // callbacks it may call (returned).
  _moved(why) {
    registry.unregister(this._box);
    if (this._box.engine) {
      this._box.engine.retire();
      this._box.engine = null;
    }
    this._box.ptr = null;
    this._closing = true;
    this._closedWhy = why;
    const callbacks = this._box.callbacks;
    this._box.callbacks = [];
    return callbacks;
  }

  /**
   * Close the connections and free the handle. Calls still in flight finish
   * first (the handle is freed when the last one completes).
   */
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
    if (this._closing && this._inflight === 0) freeBox(this._box);
  }

  // Run fn(client, ...args): synchronously, or on a koffi worker thread
  // returning a Promise. finish(status) makes the result from a status
  // below 10; an error status becomes an error with that call's message.
  _run(op, fn, args, finish, async) {
    if (this._closing || !this._box.ptr) {
      const err = new ClosedError(op, this._closedWhy);
      if (async) return Promise.reject(err);
      throw err;
    }
    const ptr = this._box.ptr;
    if (!async) return finish(check(op, fn, [ptr, ...args]));
    return new Promise((resolve, reject) => {
      const done = (err, r) => {
        this._inflight--;
        try {
          if (err) throw err;
          if (r.status >= 10) throw makeError(op, r.status, r.message);
          resolve(finish(r.status));
        } catch (e) {
          reject(e);
        } finally {
          this._freeIfIdle();
        }
      };
      this._inflight++;
      try {
        callStatusAsync(fn, [ptr, ...args], done);
      } catch (e) { // koffi refused an argument: nothing was started
        done(e);
      }
    });
  }

  _key(op, key) {
    return keyBytes(op, key, this._allowUnicode);
  }

  // [pointers, lengths] of many keys.
  _keys(op, keys) {
    const bufs = keys.map((k) => this._key(op, k));
    return [bufs.map((b) => b[0]), bufs.map((b) => b[1])];
  }
}

// Hits of a pmc_results as a Map keyed by the keys as given (strings, or the
// very Buffer objects): Buffers, or {value, flags, cas} with items.
function takeResults(res, keys, items) {
  try {
    const hits = new Map();
    const count = [0];
    const first = C.results_items(res, count); // every hit at once, borrowed from res
    const n = Number(count[0]);
    if (n !== Number(C.results_len(res))) throw new Error('pmc_results_items and pmc_results_len disagree');
    const all = n > 0 ? koffi.decode(first, 'pmc_item', n) : [];
    for (const it of all) {
      const value = copyOut(it.value, it.value_len);
      hits.set(keys[Number(it.index)], items ? { value, flags: it.flags, cas: BigInt(it.cas) } : value);
    }
    return hits;
  } finally {
    C.results_free(res);
  }
}

// Every entry of a pmc_stats_list: Map server => Map name => value; frees it.
function takeStats(list) {
  try {
    const byServer = new Map();
    const n = Number(C.stats_len(list));
    for (let i = 0; i < n; i++) {
      const server = [null];
      const name = [null];
      const value = [null];
      check('stats', C.stats_at, [list, i, server, name, value]);
      if (!byServer.has(server[0])) byServer.set(server[0], new Map());
      byServer.get(server[0]).set(name[0], value[0]);
    }
    return byServer;
  } finally {
    C.stats_free(list);
  }
}

// Normalize set_many's argument: a Map, an array of [key, value], or an object.
function entriesOf(items) {
  if (items instanceof Map || Array.isArray(items)) return Array.from(items);
  if (items && typeof items === 'object') return Object.entries(items);
  throw new TypeError('setMany: expects a Map, an array of [key, value] pairs, or an object');
}

const storeOutcome = (op) => (st) => {
  if (st === Status.OK) return true;
  if (st === Status.NOT_STORED) return false;
  throw unexpected(op, st);
};

const okOnly = (op, value) => (st) => {
  if (st !== Status.OK) throw unexpected(op, st);
  return value;
};

/**
 * The commands. Each body gets `run(op, fn, args, finish)` (sync or async)
 * and the method's arguments; define() makes `name` and `nameAsync` of it.
 */
// The PMC_METRIC_* constants, in order (0, 1, ...), as object keys.
const METRIC_NAMES = ['requests', 'hits', 'misses', 'timeouts', 'connectionErrors', 'serverErrors',
  'protocolErrors', 'bytesSent', 'bytesReceived', 'connectionsOpened', 'inUse', 'peakInUse', 'stateChanges',
  'state', 'latencyCount', 'latencySumUs', 'latencyMaxUs'];

/** Run f on a metrics snapshot, freed after. */
function withSnapshot(snap, f) {
  try {
    return f(snap);
  } finally {
    C.metrics_free(snap);
  }
}

const COMMANDS = {
  get(run, key) {
    return this._item(run, 'get', C.get, key, [], (it) => it.value);
  },
  getItem(run, key) {
    return this._item(run, 'get', C.get, key, [], (it) => it);
  },
  gets(run, key) {
    return this._item(run, 'gets', C.gets, key, [], (it) => it);
  },
  gat(run, key, expire = 0) {
    return this._item(run, 'gat', C.gat, key, [expire], (it) => it.value);
  },
  gatItem(run, key, expire = 0) {
    return this._item(run, 'gat', C.gat, key, [expire], (it) => it);
  },
  gats(run, key, expire = 0) {
    return this._item(run, 'gats', C.gats, key, [expire], (it) => it);
  },
  getMany(run, keys, { items = false } = {}) {
    return this._many(run, 'getMany', C.get_many, keys, items);
  },
  getsMany(run, keys) {
    return this._many(run, 'getsMany', C.gets_many, keys, true);
  },
  set(run, key, value, opts = {}) {
    return this._store(run, 'set', C.set, key, value, opts);
  },
  add(run, key, value, opts = {}) {
    return this._store(run, 'add', C.add, key, value, opts);
  },
  replace(run, key, value, opts = {}) {
    return this._store(run, 'replace', C.replace, key, value, opts);
  },
  append(run, key, value, opts = {}) {
    return this._store(run, 'append', C.append, key, value, opts);
  },
  prepend(run, key, value, opts = {}) {
    return this._store(run, 'prepend', C.prepend, key, value, opts);
  },
  cas(run, key, value, cas, { flags = 0, expire = 0, noreply } = {}) {
    const [k, kl] = this._key('cas', key);
    const [v, vl] = bytes(value, 'value');
    // pymemcache's cas waits for the reply unless noreply is given.
    return run('cas', C.cas, [k, kl, v, vl, BigInt(cas), flags, expire, replyMode(noreply ?? false)], (st) => {
      if (st === Status.OK) return true;
      if (st === Status.EXISTS) return false;
      if (st === Status.NOT_FOUND) return null;
      throw unexpected('cas', st);
    });
  },
  setMany(run, items, { flags = 0, expire = 0, noreply } = {}) {
    const entries = entriesOf(items);
    const keys = entries.map((e) => e[0]);
    const [kp, kl] = this._keys('setMany', keys);
    const vals = entries.map((e) => bytes(e[1], 'value'));
    const failed = new SizeArray(Math.max(entries.length, 1));
    const nFailed = [0];
    return run('setMany', C.set_many, [kp, kl, vals.map((v) => v[0]), vals.map((v) => v[1]), entries.length,
      flags, expire, replyMode(noreply), failed, nFailed], (st) => {
      if (st !== Status.OK && st !== Status.NOT_STORED) throw unexpected('setMany', st);
      return Array.from(failed.subarray(0, Number(nFailed[0])), (i) => keys[Number(i)]);
    });
  },
  delete(run, key, { noreply } = {}) {
    return this._found(run, 'delete', C.delete, key, [], noreply);
  },
  deleteMany(run, keys, { noreply } = {}) {
    keys = Array.from(keys);
    const [kp, kl] = this._keys('deleteMany', keys);
    const out = [0];
    return run('deleteMany', C.delete_many, [kp, kl, keys.length, replyMode(noreply), out],
      (st) => okOnly('deleteMany', Number(out[0]))(st));
  },
  incr(run, key, delta = 1, { noreply } = {}) {
    return this._counter(run, 'incr', C.incr, key, delta, noreply);
  },
  decr(run, key, delta = 1, { noreply } = {}) {
    return this._counter(run, 'decr', C.decr, key, delta, noreply);
  },
  touch(run, key, expire = 0, { noreply } = {}) {
    return this._found(run, 'touch', C.touch, key, [expire], noreply);
  },
  stats(run, ...args) {
    const list = args.map(String);
    const out = [null];
    return run('stats', C.stats, [list, list.length, out], () => takeStats(out[0]));
  },
  stat(run, name, ...args) {
    const list = args.map(String);
    const out = [null];
    return run('stat', C.stats, [list, list.length, out], () => {
      try {
        return C.stats_find(out[0], String(name));
      } finally {
        C.stats_free(out[0]);
      }
    });
  },
  version(run) {
    const out = [null];
    return run('version', C.version, [out], () => takeString(out[0]));
  },
  flushAll(run, delay = 0, { noreply } = {}) {
    return run('flushAll', C.flush_all, [delay, replyMode(noreply)], okOnly('flushAll', true));
  },
  cacheMemlimit(run, megabytes) {
    return run('cacheMemlimit', C.cache_memlimit, [BigInt(megabytes)], okOnly('cacheMemlimit', true));
  },
  rawCommand(run, command, endToken = '\r\n') {
    const [c, cl] = bytes(command, 'command');
    const [e, el] = bytes(endToken, 'endToken');
    const out = {};
    return run('rawCommand', C.raw_command, [c, cl, e, el, out], (st) => {
      if (st !== Status.OK) throw unexpected('rawCommand', st);
      return takeValue(out).value;
    });
  },
  shutdown(run, graceful = false) {
    return run('shutdown', C.shutdown, [Boolean(graceful)], okOnly('shutdown', undefined));
  },
  quit(run) {
    return run('quit', C.quit, [], okOnly('quit', undefined));
  },
  closeConnections(run) {
    return run('closeConnections', C.close, [], okOnly('closeConnections', undefined));
  },
  poolStats(run) {
    const out = {};
    return run('poolStats', C.client_pool_stats, [out], () => ({
      inUse: Number(out.in_use),
      free: Number(out.free),
      created: Number(out.created),
      destroyed: Number(out.destroyed),
    }));
  },
  metrics(run) {
    const out = [null];
    return run('metrics', C.metrics_snapshot, [out], () => withSnapshot(out[0], (snap) => {
      const servers = [];
      const n = Number(C.metrics_server_count(snap));
      for (let i = 0; i < n; i++) {
        const s = { server: C.metrics_server_name(snap, i) };
        const v = [0n];
        METRIC_NAMES.forEach((name, which) => {
          callStatus(C.metrics_get, [snap, i, which, v]);
          s[name] = Number(v[0]);
        });
        for (const [name, q] of [['p50Us', 0.5], ['p90Us', 0.9], ['p99Us', 0.99]]) {
          callStatus(C.metrics_latency_us, [snap, i, q, v]);
          s[name] = Number(v[0]);
        }
        servers.push(s);
      }
      return servers;
    }));
  },
  metricsPrometheus(run) {
    const out = [null];
    return run('metricsPrometheus', C.metrics_snapshot, [out], () => withSnapshot(out[0], (snap) => {
      const text = [null];
      const r = callStatus(C.metrics_prometheus, [snap, text, null]);
      if (r.status !== Status.OK) throw unexpected('metricsPrometheus', r.status);
      return takeString(text[0]);
    }));
  },
  metricsReset(run) {
    return run('metricsReset', C.metrics_reset, [], okOnly('metricsReset', undefined));
  },
  poolClear(run) {
    return run('poolClear', C.client_pool_clear, [], okOnly('poolClear', undefined));
  },
  addServer(run, server) {
    return run('addServer', C.client_add_server, [String(server)], (st) => {
      okOnly('addServer', undefined)(st);
      if (this._engineSpec) this._engineSpec.servers.push(String(server));
      this._renewEngine();
    });
  },
  removeServer(run, server) {
    return run('removeServer', C.client_remove_server, [String(server)], (st) => {
      okOnly('removeServer', undefined)(st);
      if (this._engineSpec) {
        const i = this._engineSpec.servers.indexOf(String(server));
        if (i >= 0) this._engineSpec.servers.splice(i, 1);
      }
      this._renewEngine();
    });
  },
  nodeState(run, server) {
    const out = {};
    const names = { 0: 'up', 3: 'soft_down', 4: 'probing' };
    return run('nodeState', C.client_node_state, [String(server), out], () => ({
      state: names[out.state],
      consecutiveFailures: Number(out.consecutive_failures),
      timeouts: Number(out.timeouts),
      refusals: Number(out.refusals),
    }));
  },
  serverForKey(run, key) {
    const [k, kl] = this._key('serverForKey', key);
    const out = [null];
    return run('serverForKey', C.client_server_for_key, [k, kl, out], () => takeString(out[0]));
  },
  setText(run, key, text, { expire = 0, noreply } = {}) {
    const [k, kl] = this._key('setText', key);
    const [t, tl] = bytes(String(text), 'text');
    return run('setText', C.set_text, [k, kl, t, tl, expire, replyMode(noreply)], okOnly('setText', true));
  },
  getText(run, key) {
    return this._item(run, 'getText', C.get_text, key, [], (it) => it.value.toString('utf8'));
  },
  setInt(run, key, value, { expire = 0, noreply } = {}) {
    const [k, kl] = this._key('setInt', key);
    return run('setInt', C.set_int64, [k, kl, int64('setInt', value), expire, replyMode(noreply)],
      okOnly('setInt', true));
  },
  getInt(run, key) {
    const [k, kl] = this._key('getInt', key);
    const out = [0n];
    return run('getInt', C.get_int64, [k, kl, out], (st) => (st === Status.MISS ? null : BigInt(out[0])));
  },
  setJson(run, key, value, { expire = 0, noreply } = {}) {
    const [k, kl] = this._key('setJson', key);
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('setJson: the value has no JSON form');
    return run('setJson', C.set_json, [k, kl, json, expire, replyMode(noreply)], okOnly('setJson', true));
  },
  // Stampede control: {lease, value, flags, cas}; value is a Buffer for
  // hit, stale and stale_won, null for miss_won and miss_busy.
  getOrLock(run, key, lockTtl, recacheBelow = 0) {
    const [k, kl] = this._key('getOrLock', key);
    const lease = [0];
    const out = { data: null, len: 0, flags: 0, cas: 0 };
    return run('getOrLock', C.get_or_lock, [k, kl, int64('getOrLock', lockTtl), int64('getOrLock', recacheBelow),
      lease, out], (st) => {
      if (st !== Status.OK) throw unexpected('getOrLock', st);
      const name = LEASE_NAMES[lease[0]];
      if (!name) throw unexpected('getOrLock', st);
      if (name === Lease.MISS_WON || name === Lease.MISS_BUSY) return { lease: name, value: null, flags: 0, cas: 0n };
      return { lease: name, ...takeValue(out) };
    });
  },
  // true, or false when there is no such key.
  invalidate(run, key, staleTtl) {
    const [k, kl] = this._key('invalidate', key);
    return run('invalidate', C.invalidate, [k, kl, int64('invalidate', staleTtl)], (st) => {
      if (st === Status.OK) return true;
      if (st === Status.NOT_FOUND) return false;
      throw unexpected('invalidate', st);
    });
  },
  getJson(run, key) {
    const [k, kl] = this._key('getJson', key);
    const out = [null];
    return run('getJson', C.get_json, [k, kl, out], (st) => (st === Status.MISS ? undefined : JSON.parse(takeString(out[0]))));
  },
};

// An integer argument as a BigInt: a number or BigInt, else a TypeError (as
// koffi refuses other types on the worker path).
function integer(op, what, value) {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw new TypeError(`${op}: ${what} must be an integer (number or BigInt), not ${typeof value}`);
}

// A number or BigInt as int64 (a BigInt), or a RangeError.
function int64(op, value) {
  const n = BigInt(value);
  if (BigInt.asIntN(64, n) !== n) throw new RangeError(`${op}: ${value} is outside the signed 64-bit range`);
  return n;
}

// The shared shapes of the commands above.
Object.assign(Client.prototype, {
  _item(run, op, fn, key, extra, pick) {
    const [k, kl] = this._key(op, key);
    const out = {};
    return run(op, fn, [k, kl, ...extra, out], (st) => {
      if (st === Status.MISS) return null;
      if (st !== Status.OK) throw unexpected(op, st);
      return pick(takeValue(out));
    });
  },
  _many(run, op, fn, keys, items) {
    keys = Array.from(keys, (k) => (typeof k === 'string' || k instanceof Uint8Array ? k : String(k)));
    const [kp, kl] = this._keys(op, keys);
    const out = [null];
    return run(op, fn, [kp, kl, keys.length, out], (st) => {
      if (st !== Status.OK) throw unexpected(op, st);
      return takeResults(out[0], keys, items);
    });
  },
  _store(run, op, fn, key, value, { flags = 0, expire = 0, noreply } = {}) {
    const [k, kl] = this._key(op, key);
    const [v, vl] = bytes(value, 'value');
    return run(op, fn, [k, kl, v, vl, flags, expire, replyMode(noreply)], storeOutcome(op));
  },
  // delete and touch: true (found, or not waited for), false (not found).
  _found(run, op, fn, key, extra, noreply) {
    const [k, kl] = this._key(op, key);
    return run(op, fn, [k, kl, ...extra, replyMode(noreply)], (st) => {
      if (st === Status.OK) return true;
      if (st === Status.NOT_FOUND) return false;
      throw unexpected(op, st);
    });
  },
  // The new value (BigInt), null (no such key), undefined (noreply: not known).
  _counter(run, op, fn, key, delta, noreply) {
    const [k, kl] = this._key(op, key);
    const out = [0n];
    const reply = replyMode(noreply ?? false);
    return run(op, fn, [k, kl, BigInt(delta), reply, out], (st) => {
      if (st === Status.NOT_FOUND) return null;
      if (st !== Status.OK) throw unexpected(op, st);
      return reply === 2 ? undefined : BigInt(out[0]);
    });
  },
});

// pymemcache's other names for the many-key commands.
const ALIASES = { getMulti: 'getMany', setMulti: 'setMany', deleteMulti: 'deleteMany' };

// The *Async methods that run on the event loop when the client has an
// engine: each returns the Promise, or null when this call cannot go there
// (the worker-thread method runs it then). A noreply call runs there too:
// the non-blocking client always reads the reply, which keeps it ordered
// with the calls after it on the same connection; the result is what the
// blocking noreply call returns.
const ON_ENGINE = {
  get(key) {
    const [k, kl] = this._key('get', key);
    return this._runEngine('get', (n) => n.get(k, kl, 0), (st, r) => {
      if (st === Status.MISS) return null;
      if (st !== Status.OK) throw unexpected('get', st);
      return r.value;
    });
  },
  set(key, value, { flags = 0, expire = 0, noreply } = {}) {
    const quiet = Boolean(noreply ?? this._defaultNoreply);
    const [k, kl] = this._key('set', key);
    const [v, vl] = bytes(value, 'value');
    const f = integer('set', 'flags', flags);
    const x = integer('set', 'expire', expire);
    if (f < 0 || f > 0xffffffff) throw new RangeError(`set: flags ${flags} is outside the 32-bit unsigned range`);
    return quietly(quiet, true, this._runEngine('set', (n) => n.set(k, kl, v, vl, Number(f), int64('set', x), 0),
      quiet ? () => true : storeOutcome('set')));
  },
  delete(key, { noreply } = {}) {
    const quiet = Boolean(noreply ?? this._defaultNoreply);
    const [k, kl] = this._key('delete', key);
    return quietly(quiet, true, this._runEngine('delete', (n) => n.delete(k, kl, 0), (st) => {
      if (st === Status.OK || quiet) return true;
      if (st === Status.NOT_FOUND) return false;
      throw unexpected('delete', st);
    }));
  },
  // The rest: one pmc_batch each (ENGINE_BATCH), through pmc_async_batch.
  getItem(key) {
    return this._engineRead('get', C.batch_get, key, [], (r) => item(r, 0n));
  },
  gets(key) {
    return this._engineRead('gets', C.batch_gets, key, [], (r) => item(r, r.cas));
  },
  gat(key, expire = 0) {
    return this._engineRead('gat', C.batch_gat, key, [expire], (r) => r.value);
  },
  gatItem(key, expire = 0) {
    return this._engineRead('gat', C.batch_gat, key, [expire], (r) => item(r, 0n));
  },
  gats(key, expire = 0) {
    // No pmc_batch_gats: a generic mg with the gat flags and the CAS (c).
    const [k, kl] = this._key('gats', key);
    const x = int64('gats', expire);
    return runEngineBatch(this, 'gats', (b) => checkQueue('gats', C.batch_meta, [b, 'mg', k, kl,
      `v f c T${x}`, null, 0]), ([r]) => {
      const e = failed('gats', r);
      if (e) throw e;
      if (r.status === Status.MISS) return null;
      if (r.status !== Status.OK) throw unexpected('gats', r.status);
      const f = metaFlag(r.metaFlags, 'f');
      const c = metaFlag(r.metaFlags, 'c');
      return { value: r.value, flags: Number(f ?? 0n), cas: c ?? 0n };
    });
  },
  getMany(keys, { items = false } = {}) {
    return this._engineMany('getMany', C.batch_get, keys, items);
  },
  getsMany(keys) {
    return this._engineMany('getsMany', C.batch_gets, keys, true);
  },
  add(key, value, opts = {}) {
    return this._engineStore('add', C.batch_add, key, value, opts);
  },
  replace(key, value, opts = {}) {
    return this._engineStore('replace', C.batch_replace, key, value, opts);
  },
  append(key, value, opts = {}) {
    return this._engineStore('append', C.batch_append, key, value, opts);
  },
  prepend(key, value, opts = {}) {
    return this._engineStore('prepend', C.batch_prepend, key, value, opts);
  },
  cas(key, value, cas, { flags = 0, expire = 0, noreply } = {}) {
    const quiet = Boolean(noreply ?? false); // as the blocking cas: waits unless noreply is given
    const [k, kl] = this._key('cas', key);
    const [v, vl] = bytes(value, 'value');
    return this._engineOne('cas', C.batch_cas, [k, kl, v, vl, BigInt(cas), flags, expire], (r) => {
      if (quiet) return true;
      if (r.status === Status.OK) return true;
      if (r.status === Status.EXISTS) return false;
      if (r.status === Status.NOT_FOUND) return null;
      throw unexpected('cas', r.status);
    }, quiet);
  },
  setMany(items, { flags = 0, expire = 0, noreply } = {}) {
    const quiet = Boolean(noreply ?? this._defaultNoreply);
    const entries = entriesOf(items);
    const keys = entries.map((e) => e[0]);
    const [kp, kl] = this._keys('setMany', keys);
    const vals = entries.map((e) => bytes(e[1], 'value'));
    this._checkKeys('setMany', kp, kl);
    return runEngineBatch(this, 'setMany', (b) => {
      keys.forEach((_, i) => checkQueue('setMany', C.batch_set, [b, kp[i], kl[i], vals[i][0], vals[i][1], flags,
        expire]));
    }, (rs) => {
      rs.forEach((r, i) => {
        const e = failed('setMany', r);
        if (e && !(quiet && e.status >= 30)) throw e;
      });
      if (quiet) return [];
      return keys.filter((_, i) => rs[i].status === Status.NOT_STORED);
    });
  },
  deleteMany(keys, { noreply } = {}) {
    const quiet = Boolean(noreply ?? this._defaultNoreply);
    keys = Array.from(keys);
    const [kp, kl] = this._keys('deleteMany', keys);
    this._checkKeys('deleteMany', kp, kl);
    return runEngineBatch(this, 'deleteMany', (b) => {
      keys.forEach((_, i) => checkQueue('deleteMany', C.batch_delete, [b, kp[i], kl[i]]));
    }, (rs) => {
      let deleted = 0;
      for (const [i, r] of rs.entries()) {
        const e = failed('deleteMany', r);
        if (e && !(quiet && e.status >= 30)) throw e;
        if (r.status === Status.OK) deleted++;
        else if (r.status !== Status.NOT_FOUND) throw unexpected('deleteMany', r.status);
      }
      return quiet ? keys.length : deleted; // noreply: how many were sent
    });
  },
  incr(key, delta = 1, { noreply } = {}) {
    return this._engineCounter('incr', C.batch_incr, key, delta, noreply);
  },
  decr(key, delta = 1, { noreply } = {}) {
    return this._engineCounter('decr', C.batch_decr, key, delta, noreply);
  },
  touch(key, expire = 0, { noreply } = {}) {
    const quiet = Boolean(noreply ?? this._defaultNoreply);
    const [k, kl] = this._key('touch', key);
    return this._engineOne('touch', C.batch_touch, [k, kl, expire], (r) => {
      if (r.status === Status.OK || quiet) return true;
      if (r.status === Status.NOT_FOUND) return false;
      throw unexpected('touch', r.status);
    }, quiet);
  },
};
ON_ENGINE.getMulti = ON_ENGINE.getMany;
ON_ENGINE.setMulti = ON_ENGINE.setMany;
ON_ENGINE.deleteMulti = ON_ENGINE.deleteMany;

// The ON_ENGINE methods that need the addon's pmc_async_batch.
const ENGINE_BATCH = new Set(['getItem', 'gets', 'gat', 'gatItem', 'gats', 'getMany', 'getsMany', 'add', 'replace',
  'append', 'prepend', 'cas', 'setMany', 'deleteMany', 'incr', 'decr', 'touch', 'getMulti', 'setMulti',
  'deleteMulti']);

// A noreply call's Promise: an error the server replied with (status 30 and
// up) becomes `value`, as the blocking call does not read the reply.
function quietly(quiet, value, p) {
  return quiet ? p.catch((e) => {
    if (e.status >= 30) return value;
    throw e;
  }) : p;
}

// Queue one command into a batch: a throw for a status >= 10.
function checkQueue(op, fn, args) {
  const { status, message } = callStatus(fn, args);
  if (status >= 10) throw makeError(op, status, message);
}

// {value, flags, cas} of a batch read result.
const item = (r, cas) => ({ value: r.value, flags: r.flags, cas });

// The number after a meta return flag ("f12 c34": f -> 12n), or undefined.
function metaFlag(flags, letter) {
  for (const tok of flags.split(' ')) {
    if (tok.length > 1 && tok[0] === letter) return BigInt(tok.slice(1));
  }
  return undefined;
}

// The shared shapes of the engine commands.
Object.assign(Client.prototype, {
  // One command for key; finish(result) on a status below 10.
  // quiet (a noreply call): an error the server replied with (status 30
  // and up) is not reported, as the blocking call does not read it.
  _engineOne(op, fn, args, finish, quiet = false) {
    return runEngineBatch(this, op, (b) => checkQueue(op, fn, [b, ...args]), ([r]) => {
      const e = failed(op, r);
      if (e && !(quiet && e.status >= 30)) throw e;
      return finish(r);
    });
  },
  // A read: null on a miss, else pick(result).
  _engineRead(op, fn, key, extra, pick) {
    const [k, kl] = this._key(op, key);
    return this._engineOne(op, fn, [k, kl, ...extra], (r) => {
      if (r.status === Status.MISS) return null;
      if (r.status !== Status.OK) throw unexpected(op, r.status);
      return pick(r);
    });
  },
  _engineStore(op, fn, key, value, { flags = 0, expire = 0, noreply } = {}) {
    const quiet = Boolean(noreply ?? this._defaultNoreply);
    const [k, kl] = this._key(op, key);
    const [v, vl] = bytes(value, 'value');
    // append and prepend take neither flags nor expiry (memcached ignores them).
    const args = fn === C.batch_append || fn === C.batch_prepend ? [k, kl, v, vl] : [k, kl, v, vl, flags, expire];
    return this._engineOne(op, fn, args, (r) => quiet || storeOutcome(op)(r.status), quiet);
  },
  _engineCounter(op, fn, key, delta, noreply) {
    const quiet = Boolean(noreply ?? false); // as the blocking incr/decr: waits unless noreply is given
    const [k, kl] = this._key(op, key);
    return this._engineOne(op, fn, [k, kl, BigInt(delta)], (r) => {
      if (quiet) return undefined;
      if (r.status === Status.NOT_FOUND) return null;
      if (r.status !== Status.OK) throw unexpected(op, r.status);
      return r.number;
    }, quiet);
  },
  _engineMany(op, fn, keys, items) {
    keys = Array.from(keys, (k) => (typeof k === 'string' || k instanceof Uint8Array ? k : String(k)));
    const [kp, kl] = this._keys(op, keys);
    this._checkKeys(op, kp, kl);
    return runEngineBatch(this, op, (b) => {
      keys.forEach((_, i) => checkQueue(op, fn, [b, kp[i], kl[i]]));
    }, (rs) => {
      const hits = new Map();
      rs.forEach((r, i) => {
        const e = failed(op, r);
        if (e) throw e;
        if (r.status === Status.OK) {
          hits.set(keys[i], items ? { value: r.value, flags: r.flags, cas: fn === C.batch_gets ? r.cas : 0n } : r.value);
        } else if (r.status !== Status.MISS) {
          throw unexpected(op, r.status);
        }
      });
      return hits;
    });
  },
  // The blocking *Many commands check every key before sending any: so do
  // these (the library's key rules, through pmc_client_server_for_key).
  _checkKeys(op, kp, kl) {
    if (this._closing || !this._box.ptr) return;
    const out = [null];
    for (let i = 0; i < kp.length; i++) {
      const { status, message } = callStatus(C.client_server_for_key, [this._box.ptr, kp[i], kl[i], out]);
      if (out[0]) C.string_free(out[0]);
      out[0] = null;
      if (status >= 10) throw makeError(op, status, message);
    }
  },
});

function define(name, body) {
  Object.defineProperty(Client.prototype, name, {
    writable: true,
    configurable: true,
    value: function (...args) {
      return body.call(this, (op, fn, a, finish) => this._run(op, fn, a, finish, false), ...args);
    },
  });
  Object.defineProperty(Client.prototype, `${name}Async`, {
    writable: true,
    configurable: true,
    value: function (...args) {
      try {
        if (this._box.engine && ON_ENGINE[name] && (!ENGINE_BATCH.has(name) || addonState().batch)) {
          const p = ON_ENGINE[name].apply(this, args);
          if (p) return p;
        }
        return body.call(this, (op, fn, a, finish) => this._run(op, fn, a, finish, true), ...args);
      } catch (e) {
        return Promise.reject(e); // argument errors reject too
      }
    },
  });
}

for (const [name, body] of Object.entries(COMMANDS)) define(name, body);
for (const [alias, name] of Object.entries(ALIASES)) define(alias, COMMANDS[name]);

module.exports = { Client, KEY_FORMS, COMMANDS, ON_ENGINE, ENGINE_BATCH, Lease, LEASE_NAMES, check, int64 };
