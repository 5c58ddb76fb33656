'use strict';

// A Client's event-loop engine: the addon's AsyncEngine (one pmc_async of
// the library) for the servers and options of the client, used by the
// per-key *Async methods and Batch#executeAsync instead of a koffi worker
// thread. Which clients get one is decided here (openEngine): the
// non-blocking API places keys as the blocking clients do (same hash, same
// key prefix) but has no serde, compression, ignoreExc, deadline, failure
// tracking, reconnect backoff, TLS or authentication, so clients with those
// stay on worker threads.

const { koffi, libraryPath } = require('./ffi');
const { loadAddon } = require('./addon');

let state = null;

/** The addon as loaded for this process: {addon, batch, reason}. */
function addonState() {
  if (!state) state = loadAddon(libraryPath);
  return state;
}

// The options the non-blocking client does not implement: [option, why].
const UNSUPPORTED = [
  ['mock', 'the mock client'],
  ['serde', 'serde callbacks'],
  ['compression', 'compression'],
  ['ignoreExc', 'ignoreExc'],
  ['deadline', 'whole-call deadline'],
  ['reconnectBackoff', 'reconnect backoff'],
  ['failureTracking', 'failure tracking'],
  ['tls', 'TLS'],
  ['auth', 'authentication'],
];

/** One AsyncEngine and the client calls in flight on it. */
class Engine {
  constructor(native) {
    this.native = native;
    this.inflight = 0;
    this.retired = false;
  }

  /** No new calls; closed as soon as none is in flight. */
  retire() {
    this.retired = true;
    this.closeIfIdle();
  }

  closeIfIdle() {
    if (this.retired && this.inflight === 0 && this.native) {
      const n = this.native;
      this.native = null;
      n.close();
    }
  }
}

/**
 * {engine, reason}: an Engine for a client of `servers` made with the
 * pmc_options `opts` (still alive), or engine null and why not.
 * options.asyncEngine: 'auto' (default), 'addon' (an error when not
 * possible), 'worker'.
 */
function openEngine(servers, opts, options) {
  const want = options.asyncEngine ?? 'auto';
  if (!['auto', 'addon', 'worker'].includes(want)) {
    throw new TypeError(`asyncEngine: ${JSON.stringify(want)} is not 'auto', 'addon' or 'worker'`);
  }
  const refuse = (reason) => {
    if (want === 'addon') throw new Error(`asyncEngine 'addon': ${reason}`);
    return { engine: null, reason };
  };
  if (want === 'worker') return { engine: null, reason: "asyncEngine: 'worker'" };
  // Absent, null, false and 0 (deadline, reconnectBackoff: off) are fine.
  const bad = UNSUPPORTED.find(([name]) => ![undefined, null, false, 0].includes(options[name]));
  if (bad) return refuse(`the non-blocking client has no ${bad[1]}`);
  if (servers.length === 0) return refuse('no servers');
  const { addon, reason } = addonState();
  if (!addon) return refuse(reason);
  try {
    return { engine: new Engine(new addon.AsyncEngine(servers, koffi.address(opts))), reason: null };
  } catch (e) {
    return refuse(e.message);
  }
}

/** Completions the addon has delivered in this process (0 without it). */
function addonCompletions() {
  const { addon } = addonState();
  return addon ? addon.completed() : 0;
}

module.exports = { openEngine, addonState, addonCompletions, Engine };
