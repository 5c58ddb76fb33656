'use strict';

// Async get throughput with 64 calls in flight on one memcached, before and
// after the event-loop addon, in one process against one server:
//
//   worker      getAsync on koffi worker threads (the binding before the
//               addon), one client;
//   worker+pool the same with usePooling: true (calls on parallel
//               connections), the best the worker path offers;
//   addon       getAsync on the event loop (pmc_async through the addon),
//               one connection, pipelined.
//
// Prints ops/s of each and addon / worker+pool. Rounds alternate the three
// so that drift of the machine hits them alike; the best round of each is
// reported.
//
//   node bench/async-get.js [--depth 64] [--seconds 2] [--rounds 3] [--value-size 100]
//                           [--op get|incr|getMany]
//
// --op incr measures incrAsync on 1000 counters (a one-command pmc_batch on
// the addon), --op getMany getManyAsync of 10 keys (a 10-command batch;
// ops/s counts calls).
//
// Starts its own memcached (MEMCACHED or the one on PATH); needs the C
// library as the binding finds it (PYMEMCACHE_LIB, pkg-config, loader).

const { pmc } = require('../test/pkg');
const { startMemcached } = require('../test/memcached');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const DEPTH = arg('depth', 64);
const SECONDS = arg('seconds', 2);
const ROUNDS = arg('rounds', 3);
const VALUE_SIZE = arg('value-size', 100);
const KEYS = 1000;
const OP = (() => {
  const i = process.argv.indexOf('--op');
  return i >= 0 ? process.argv[i + 1] : 'get';
})();
const MANY = 10;

// One call of the measured kind on key i, checked.
const CALLS = {
  async get(client, keys, i, want) {
    const v = await client.getAsync(keys[i % KEYS]);
    if (!v || v.length !== want.length) throw new Error(`bad value for ${keys[i % KEYS]}`);
  },
  async incr(client, keys, i) {
    const n = await client.incrAsync(`benchn:${i % KEYS}`);
    if (typeof n !== 'bigint') throw new Error(`bad counter benchn:${i % KEYS}`);
  },
  async getMany(client, keys, i, want) {
    const ks = Array.from({ length: MANY }, (_, j) => keys[(i + j) % KEYS]);
    const m = await client.getManyAsync(ks);
    if (m.size !== MANY || m.get(ks[0]).length !== want.length) throw new Error(`bad getMany at ${ks[0]}`);
  },
};
if (!CALLS[OP]) throw new Error(`--op: ${OP} is not get, incr or getMany`);

// DEPTH lanes, each awaiting one getAsync after another, for `seconds`.
async function run(client, seconds) {
  const keys = Array.from({ length: KEYS }, (_, i) => `bench:${i}`);
  const want = Buffer.alloc(VALUE_SIZE, 'v');
  let ops = 0;
  const stop = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const t0 = process.hrtime.bigint();
  async function lane(j) {
    let i = j;
    while (process.hrtime.bigint() < stop) {
      await CALLS[OP](client, keys, i, want);
      i += DEPTH;
      ops++;
    }
  }
  await Promise.all(Array.from({ length: DEPTH }, (_, j) => lane(j)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return ops / secs;
}

async function main() {
  const server = await startMemcached();
  try {
    const kinds = {
      worker: new pmc.Client(server.address, { asyncEngine: 'worker' }),
      'worker+pool': new pmc.Client(server.address, { asyncEngine: 'worker', usePooling: true, maxPoolSize: DEPTH }),
      addon: new pmc.Client(server.address),
    };
    if (kinds.addon.asyncEngine !== 'addon') {
      console.log(`addon: not available (${kinds.addon.asyncEngineReason}); measuring the worker path only`);
      delete kinds.addon;
    }
    const value = Buffer.alloc(VALUE_SIZE, 'v');
    for (let i = 0; i < KEYS; i++) kinds.worker.set(`bench:${i}`, value);
    for (let i = 0; i < KEYS; i++) kinds.worker.set(`benchn:${i}`, '0');
    for (const c of Object.values(kinds)) await run(c, 0.3); // warm-up: connections, pool, JIT
    const best = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, c] of Object.entries(kinds)) {
        const rate = await run(c, SECONDS);
        best[name] = Math.max(best[name] ?? 0, rate);
        console.log(`round ${r + 1}: ${name.padEnd(11)} ${Math.round(rate)} ops/s`);
      }
    }
    console.log(`node async ${OP}, ${DEPTH} in flight, ${VALUE_SIZE}-byte values, best of ${ROUNDS} x ${SECONDS}s ` +
      `(UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 'default 4'}):`);
    for (const [name, rate] of Object.entries(best)) console.log(`  ${name.padEnd(11)} ${Math.round(rate)} ops/s`);
    if (best.addon) {
      console.log(`  addon / worker+pool = ${(best.addon / best['worker+pool']).toFixed(2)}x, ` +
        `addon / worker = ${(best.addon / best.worker).toFixed(2)}x`);
    }
    for (const c of Object.values(kinds)) c.close();
  } finally {
    server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
