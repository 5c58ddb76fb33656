'use strict';

// The per-key *Async methods on the event loop: each call queues its
// command(s) into a pmc_batch (one command; one per key for the *Many
// forms) that the addon submits with pmc_async_batch, and its results are
// read back as the blocking method returns them. Batches are reused: a
// client keeps up to POOL_MAX cleared ones (box.batches), freed with it.

const { koffi, C, callStatus } = require('./ffi');
const { Status, makeError, unexpected } = require('./errors');
const { copyOut } = require('./convert');

/** Cleared batches a client keeps for its next calls. */
const POOL_MAX = 8;

/** A cleared pmc_batch: one from the client's pool, else a new one. */
function takeBatch(box) {
  if (box.batches && box.batches.length) return box.batches.pop();
  const out = [null];
  const { status, message } = callStatus(C.batch_new, [out]);
  if (status >= 10) throw makeError('batch', status, message);
  return out[0];
}

/** Clear a batch and keep it for the next call (freed when the pool is full or the client gone). */
function giveBatch(box, p) {
  if (box.ptr && (box.batches ??= []).length < POOL_MAX) {
    C.batch_clear(p);
    box.batches.push(p);
  } else {
    C.batch_free(p);
  }
}

/** Free the pooled batches of a client's box. */
function freeBatches(box) {
  const list = box.batches || [];
  box.batches = [];
  for (const p of list) C.batch_free(p);
}

/** The results of the batch's last run, copied into JS. */
function batchResults(p) {
  const count = [0];
  const first = C.batch_results(p, count);
  const n = Number(count[0]);
  if (!first || n === 0) return [];
  return koffi.decode(first, 'pmc_op_result', n).map((r) => ({
    status: r.status,
    message: r.message,
    value: copyOut(r.value, r.value_len),
    flags: r.flags,
    cas: BigInt(r.cas),
    number: BigInt(r.number),
    metaFlags: copyOut(r.meta_flags, r.meta_flags_len).toString('latin1'),
  }));
}

/**
 * Run a batch on the client's engine: queue(batch) queues the commands
 * (a throw gives the batch back and is the call's error), finish(results)
 * makes the method's result. A Promise.
 */
function runEngineBatch(client, op, queue, finish) {
  const box = client._box;
  const p = takeBatch(box);
  try {
    queue(p);
  } catch (e) {
    giveBatch(box, p);
    throw e;
  }
  if (Number(C.batch_len(p)) === 0) { // nothing to send (no keys): as the blocking call
    giveBatch(box, p);
    return client._runEngine(op, () => Promise.resolve(Status.OK), () => finish([]));
  }
  return client._runEngine(op, (n) => n.batch(koffi.address(p), 0), (st) => {
    if (st !== Status.OK) throw unexpected(op, st);
    return finish(batchResults(p));
  }).finally(() => giveBatch(box, p));
}

/**
 * A result with an error status as the error the blocking call throws (the
 * library names the server in a batch result's error, as in the blocking
 * call's).
 */
function failed(op, r) {
  if (r.status < 10) return null;
  return makeError(op, r.status, r.message || '');
}

module.exports = { runEngineBatch, freeBatches, batchResults, failed, POOL_MAX };
