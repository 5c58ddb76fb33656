'use strict';

// Every pmc_* function of the C header is declared by the binding and used
// by its code (the JS, or the event-loop addon's C), except the ones listed
// in NOT_CALLED with the reason.
// Prints "node: N of M C functions".

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { dir } = require('./pkg');

const NOT_CALLED = {
  // The binding reads each call's message from its pmc_error instead: the
  // thread-local message is wrong for the *Async methods.
  pmc_last_error_message: 'per-thread message; the binding uses the pmc_error of each call',
  // The one-at-a-time form of pmc_results_items, which gives the same
  // pmc_item records in one call; getMany/getsMany read them with that.
  pmc_results_at: 'pmc_results_items gives every hit at once',
  // The one-at-a-time form of pmc_batch_results; Batch#execute reads every
  // result of a run with that.
  pmc_batch_result: 'pmc_batch_results gives every result of a batch at once',
  // A C callback into JS from whichever thread a command runs on (the
  // *Async methods run on worker threads); nodeState gives the same states.
  pmc_options_set_hash_state_callback: 'state changes are read with nodeState (pmc_client_node_state)',
  // The event-loop addon settles every call's Promise; a Promise cannot be
  // withdrawn, so nothing is ever cancelled.
  pmc_async_cancel: 'every event-loop call settles its Promise; none is withdrawn',
  pmc_async_metrics_snapshot: 'async client metrics: not exposed in Node yet',
  pmc_async_metrics_reset: 'async client metrics: not exposed in Node yet',
};

// The header: PMC_HEADER, the installed one (pkg-config), or the checkout's.
function headerPath() {
  if (process.env.PMC_HEADER) return process.env.PMC_HEADER;
  try {
    const inc = execFileSync('pkg-config', ['--variable=includedir', 'pymemcache'], { encoding: 'utf8' }).trim();
    if (inc && fs.existsSync(path.join(inc, 'pymemcache.h'))) return path.join(inc, 'pymemcache.h');
  } catch (_) { /* fall through */ }
  return path.resolve(__dirname, '../../../include/pymemcache.h');
}

const LIB = path.join(dir, 'lib');
// The event-loop addon calls the non-blocking API from C (native/), through
// the table it fills with dlsym: api.pmc_x(...).
const NATIVE = path.join(dir, 'native');
const native = fs.readdirSync(NATIVE).filter((f) => f.endsWith('.c'))
  .map((f) => fs.readFileSync(path.join(NATIVE, f), 'utf8')).join('\n');
const sources = Object.fromEntries(fs.readdirSync(LIB).filter((f) => f.endsWith('.js'))
  .map((f) => [f, fs.readFileSync(path.join(LIB, f), 'utf8')]));
sources['index.js'] = fs.readFileSync(path.join(dir, 'index.js'), 'utf8');

// Is the C function `name` used: its koffi declaration in ffi.js, and the
// JS name it is declared under referenced in code (C.x, a setter of SETTERS,
// errorApi.x for the error API).
function used(name) {
  if (new RegExp(`\\bapi\\.${name}\\(`).test(native)) return true; // called by the addon
  const ffi = sources['ffi.js'];
  const short = name.replace(/^pmc_/, '');
  const setter = /^pmc_options_set_(.+)$/.exec(name);
  if (setter && new RegExp(`\\['\\w+', '${setter[1]}', '`).test(ffi)) return true; // SETTERS table
  if (!new RegExp(`\\b${name}\\(`).test(ffi)) return false;
  const errorFn = /^pmc_error_(.+)$/.exec(name);
  if (errorFn) return new RegExp(`errorApi\\.${errorFn[1]}\\(`).test(ffi);
  return Object.values(sources).some((src) => new RegExp(`\\bC\\.${short}\\b(?!:)`).test(src));
}

test('the binding calls every C function of the header', (t) => {
  const header = fs.readFileSync(headerPath(), 'utf8');
  const names = [...new Set([...header.matchAll(/\b(pmc_\w+)\(/g)].map((m) => m[1]))];
  assert.ok(names.length > 50, `found only ${names.length} functions in ${headerPath()}`);
  const missing = names.filter((n) => !(n in NOT_CALLED) && !used(n));
  const covered = names.filter((n) => !(n in NOT_CALLED) && used(n));
  t.diagnostic(`node: ${covered.length} of ${names.length} C functions` +
    ` (not called: ${Object.keys(NOT_CALLED).join(', ')})`);
  assert.deepEqual(missing, [], `C functions the Node binding does not call: ${missing.join(', ')}`);
});

test('the binding never reads the per-thread pmc_last_error_message', () => {
  for (const [file, src] of Object.entries(sources)) {
    assert.doesNotMatch(src, /last_error_message/, file);
  }
});
