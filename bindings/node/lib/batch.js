'use strict';

// Batch: a list of commands run together over memcached's meta protocol
// (pmc_batch), each with its own result, in the order queued. Free it with
// free() (close() is the same); a FinalizationRegistry frees a forgotten one.

const { koffi, C } = require('./ffi');
const { Status, statusName, makeError, ClosedError } = require('./errors');
const { bytes, keyBytes, copyOut } = require('./convert');
const { Client, LEASE_NAMES, check, int64 } = require('./client');
const { addonState } = require('./evloop');

const registry = new FinalizationRegistry((box) => {
  if (box.ptr) {
    const p = box.ptr;
    box.ptr = null;
    C.batch_free(p);
  }
});

class Batch {
  /** options.allowUnicodeKeys: send non-ASCII string keys as UTF-8 (as the client option). */
  constructor(options = {}) {
    this._allowUnicode = Boolean(options.allowUnicodeKeys);
    const out = [null];
    check('Batch', C.batch_new, [out]);
    this._box = { ptr: out[0] };
    this._running = false; // an executeAsync in flight
    this._freeing = false;
    registry.register(this, this._box, this._box);
  }

  /** Release the batch and its results (after an executeAsync in flight). Twice is harmless. */
  free() {
    if (this._freeing) return;
    this._freeing = true;
    registry.unregister(this._box);
    if (!this._running) this._release();
  }

  close() {
    this.free();
  }

  get freed() {
    return this._freeing;
  }

  _release() {
    if (this._box.ptr) {
      const p = this._box.ptr;
      this._box.ptr = null;
      C.batch_free(p);
    }
  }

  // The live handle, for a call that does not run while an executeAsync does.
  _ptr(op) {
    if (this._freeing || !this._box.ptr) throw new ClosedError(`Batch.${op}`, 'batch is freed');
    if (this._running) throw new Error(`Batch.${op}: the batch is being executed (executeAsync in flight)`);
    return this._box.ptr;
  }

  /** Number of commands queued. */
  get size() {
    return Number(C.batch_len(this._ptr('size')));
  }

  /** Forget every queued command and result (keeping the memory); returns this. */
  clear() {
    C.batch_clear(this._ptr('clear'));
    return this;
  }

  // Queue one command; returns its position.
  _queue(op, fn, args) {
    const p = this._ptr(op);
    const n = Number(C.batch_len(p));
    check(op, fn, [p, ...args]);
    return n;
  }

  _key(op, key) {
    return keyBytes(op, key, this._allowUnicode);
  }

  get(key) {
    return this._queue('get', C.batch_get, this._key('get', key));
  }

  gets(key) {
    return this._queue('gets', C.batch_gets, this._key('gets', key));
  }

  gat(key, expire = 0) {
    return this._queue('gat', C.batch_gat, [...this._key('gat', key), expire]);
  }

  touch(key, expire = 0) {
    return this._queue('touch', C.batch_touch, [...this._key('touch', key), expire]);
  }

  _store(op, fn, key, value, flags, expire) {
    const k = this._key(op, key);
    const v = bytes(value, 'value');
    return this._queue(op, fn, [...k, ...v, flags >>> 0, expire]);
  }

  set(key, value, { flags = 0, expire = 0 } = {}) {
    return this._store('set', C.batch_set, key, value, flags, expire);
  }

  add(key, value, { flags = 0, expire = 0 } = {}) {
    return this._store('add', C.batch_add, key, value, flags, expire);
  }

  replace(key, value, { flags = 0, expire = 0 } = {}) {
    return this._store('replace', C.batch_replace, key, value, flags, expire);
  }

  append(key, value) {
    return this._queue('append', C.batch_append, [...this._key('append', key), ...bytes(value, 'value')]);
  }

  prepend(key, value) {
    return this._queue('prepend', C.batch_prepend, [...this._key('prepend', key), ...bytes(value, 'value')]);
  }

  cas(key, value, cas, { flags = 0, expire = 0 } = {}) {
    const k = this._key('cas', key);
    const v = bytes(value, 'value');
    return this._queue('cas', C.batch_cas, [...k, ...v, BigInt(cas), flags >>> 0, expire]);
  }

  delete(key) {
    return this._queue('delete', C.batch_delete, this._key('delete', key));
  }

  incr(key, delta = 1) {
    return this._queue('incr', C.batch_incr, [...this._key('incr', key), BigInt(delta)]);
  }

  decr(key, delta = 1) {
    return this._queue('decr', C.batch_decr, [...this._key('decr', key), BigInt(delta)]);
  }

  /** A stampede-controlled read (see Client#getOrLock); the result's lease tells what to do. */
  getOrLock(key, lockTtl, recacheBelow = 0) {
    return this._queue('getOrLock', C.batch_get_or_lock,
      [...this._key('getOrLock', key), int64('getOrLock', lockTtl), int64('getOrLock', recacheBelow)]);
  }

  /** An invalidation (see Client#invalidate): OK or NOT_FOUND. */
  invalidate(key, staleTtl) {
    return this._queue('invalidate', C.batch_invalidate,
      [...this._key('invalidate', key), int64('invalidate', staleTtl)]);
  }

  /**
   * A generic meta command: command "mg", "ms", "md" or "ma"; flags the
   * protocol tokens (an array such as ['v', 'f', 'N30'], or one
   * space-separated string; not O or q); value the data block of "ms".
   */
  meta(command, key, flags = [], value) {
    const tokens = Array.isArray(flags) ? flags.map(String).join(' ') : String(flags ?? '');
    const [v, vl] = value === undefined || value === null ? [null, 0] : bytes(value, 'value');
    return this._queue('meta', C.batch_meta, [String(command), ...this._key('meta', key), tokens, v, vl]);
  }

  /** Run every queued command on client: an array of results in the order queued. */
  execute(client) {
    return this._execute(client, false);
  }

  /**
   * execute without blocking: a Promise of the results. On the event loop
   * (the library's pmc_async_batch) when the client runs its async calls
   * there (client.asyncEngine === 'addon'), else on a koffi worker thread.
   */
  executeAsync(client) {
    try {
      return this._execute(client, true);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  _execute(client, async) {
    if (!(client instanceof Client)) throw new TypeError('Batch.execute: expects a Client');
    const p = this._ptr('execute');
    const finish = (st) => {
      if (st !== Status.OK) throw makeError('execute', st, null);
      return results(this._box.ptr);
    };
    if (!async) return client._run('execute', C.batch_execute, [p], finish, false);
    this._running = true;
    const done = () => {
      this._running = false;
      if (this._freeing) this._release();
    };
    if (client._box.engine && addonState().batch) {
      return client._runEngine('execute', (n) => n.batch(koffi.address(p), 0), (st) => {
        try {
          return finish(st);
        } finally {
          done();
        }
      }).catch((e) => {
        if (this._running) done();
        throw e;
      });
    }
    return client._run('execute', C.batch_execute, [p], (st) => {
      try {
        return finish(st);
      } finally {
        done();
      }
    }, true).catch((e) => {
      done();
      throw e;
    });
  }
}

// Every result of the last run, copied with one pmc_batch_results call.
function results(ptr) {
  const count = [0];
  const first = C.batch_results(ptr, count);
  const n = Number(count[0]);
  if (!first || n === 0) return [];
  return koffi.decode(first, 'pmc_op_result', n).map((r) => ({
    status: r.status,
    statusName: statusName(r.status),
    value: copyOut(r.value, r.value_len),
    flags: r.flags,
    cas: BigInt(r.cas),
    number: BigInt(r.number),
    ttl: Number(r.ttl),
    lease: LEASE_NAMES[r.lease] ?? null,
    code: r.code,
    metaFlags: copyOut(r.meta_flags, r.meta_flags_len).toString('latin1'),
    error: r.status >= 10 ? makeError('execute', r.status, r.message) : null,
  }));
}

module.exports = { Batch };
