'use strict';

// getAsync/setAsync/deleteAsync and Batch#executeAsync on the event loop:
// the addon drives the library's non-blocking client (pmc_async) from
// Node's libuv loop, with no worker thread per call. Real memcached
// processes; a silent TCP server for timeouts.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { pmc, dir, main } = require('./pkg');
const { startMemcached } = require('./memcached');

const { C } = require(path.join(dir, 'lib', 'ffi.js'));
const { addonCompletions, addonState } = require(path.join(dir, 'lib', 'evloop.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let server;
const ns = `addon.${process.pid}`;
const key = (s) => `${ns}.${s}`;

test.before(async () => {
  server = await startMemcached();
});
test.after(() => server && server.stop());

// While fn runs, a koffi worker call for these C functions fails the test.
async function withoutWorkers(names, fn) {
  const saved = names.map((n) => [n, C[n].async]);
  for (const n of names) {
    C[n].async = () => {
      throw new Error(`pmc_${n} ran on a koffi worker thread`);
    };
  }
  try {
    return await fn();
  } finally {
    for (const [n, f] of saved) C[n].async = f;
  }
}

test('a plain client runs its async get/set/delete on the addon', async () => {
  const st = addonState();
  assert.ok(st.addon, `the addon did not load: ${st.reason}`);
  const c = new pmc.Client(server.address);
  try {
    assert.equal(c.asyncEngine, 'addon');
    assert.equal(c.asyncEngineReason, null);
    const before = addonCompletions();
    await withoutWorkers(['get', 'set', 'delete', 'batch_execute'], async () => {
      assert.equal(await c.setAsync(key('used'), 'v', { flags: 9 }), true);
      assert.deepEqual(await c.getAsync(key('used')), Buffer.from('v'));
      assert.equal(await c.deleteAsync(key('used')), true);
      assert.equal(await c.deleteAsync(key('used')), false);
      assert.equal(await c.getAsync(key('used')), null);
      const b = new pmc.Batch();
      b.set(key('b1'), 'one');
      b.get(key('b1'));
      const rs = await b.executeAsync(c);
      assert.deepEqual(rs.map((r) => r.statusName), ['PMC_OK', 'PMC_OK']);
      assert.deepEqual(rs[1].value, Buffer.from('one'));
      b.free();
    });
    assert.equal(addonCompletions() - before, 6);
    // The sync methods and the other async ones stay as they were.
    assert.equal(c.getItem(key('b1')).flags, 0);
    assert.deepEqual((await c.getItemAsync(key('b1'))).value, Buffer.from('one'));
  } finally {
    c.close();
  }
  // Options the non-blocking client lacks keep the worker path, and say why.
  const w = new pmc.Client(server.address, { ignoreExc: true });
  assert.equal(w.asyncEngine, 'worker');
  assert.match(w.asyncEngineReason, /ignoreExc/);
  assert.equal(await w.getAsync(key('nothing')), null);
  w.close();
  const forced = new pmc.Client(server.address, { asyncEngine: 'worker' });
  assert.equal(forced.asyncEngine, 'worker');
  forced.close();
  assert.throws(() => new pmc.Client(server.address, { asyncEngine: 'addon', compression: true }),
    /asyncEngine 'addon'.*compression/);
});

test('1000 concurrent gets resolve with their own values', async () => {
  const c = new pmc.Client(server.address);
  try {
    const n = 1000;
    const value = (i) => Buffer.concat([Buffer.from(`v${i}:`), Buffer.alloc(i % 300, i % 251)]);
    const stored = await Promise.all(Array.from({ length: n }, (_, i) =>
      c.setAsync(key(`many.${i}`), value(i), { flags: i })));
    assert.ok(stored.every((s) => s === true));
    // Gets, misses and items interleaved, all in flight together.
    const gets = Array.from({ length: n }, (_, i) => c.getAsync(key(`many.${i}`)));
    const misses = Array.from({ length: 100 }, (_, i) => c.getAsync(key(`absent.${i}`)));
    const got = await Promise.all(gets);
    got.forEach((v, i) => assert.deepEqual(v, value(i), `value of many.${i}`));
    assert.ok((await Promise.all(misses)).every((v) => v === null));
    // Blocking reads agree: same connection rules, same key prefix handling.
    assert.deepEqual(c.getItem(key('many.7')), { value: value(7), flags: 7, cas: 0n });
  } finally {
    c.close();
  }
});

test('a key prefix and a hash client place keys as the blocking client does', async () => {
  const other = await startMemcached();
  try {
    const servers = [server.address, other.address];
    const c = new pmc.Client(servers, { keyPrefix: 'pfx:' });
    assert.equal(c.asyncEngine, 'addon');
    const keys = Array.from({ length: 60 }, (_, i) => key(`placed.${i}`));
    await Promise.all(keys.map((k) => c.setAsync(k, k)));
    const plain = servers.map((s) => new pmc.Client(s));
    let onOther = 0;
    for (const k of keys) {
      assert.deepEqual(c.get(k), Buffer.from(k), `blocking get of ${k}`);
      const where = c.serverForKey(k);
      const s = servers.indexOf(where);
      assert.deepEqual(plain[s].get(`pfx:${k}`), Buffer.from(k), `${k} on ${where}`);
      if (s === 1) onOther++;
    }
    assert.ok(onOther > 5 && onOther < 55, `keys spread over both servers (${onOther} on the second)`);
    // A server added: the engine follows the new list.
    const third = await startMemcached();
    try {
      c.addServer(third.address);
      assert.equal(c.asyncEngine, 'addon');
      await Promise.all(keys.map((k) => c.setAsync(k, `again ${k}`)));
      for (const k of keys) assert.deepEqual(c.get(k), Buffer.from(`again ${k}`));
    } finally {
      third.stop();
    }
    for (const p of plain) p.close();
    c.close();
  } finally {
    other.stop();
  }
});

test('a silent server: getAsync times out while another client completes', async () => {
  const socks = [];
  const srv = net.createServer((s) => socks.push(s)); // accepts, never answers
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const silent = new pmc.Client(`127.0.0.1:${srv.address().port}`, { timeout: 300, connectTimeout: 1000 });
  const live = new pmc.Client(server.address);
  try {
    assert.equal(silent.asyncEngine, 'addon');
    const start = Date.now();
    const hung = silent.getAsync(key('hung'));
    const fine = Array.from({ length: 50 }, () => live.getAsync(key('hung')));
    assert.ok((await Promise.all(fine)).every((v) => v === null));
    await assert.rejects(hung, (e) => {
      assert.ok(e instanceof pmc.TimeoutError, `want a TimeoutError, got ${e}`);
      assert.equal(e.status, pmc.Status.TIMEOUT);
      assert.match(e.message, /^get: PMC_TIMEOUT/);
      return true;
    });
    const took = Date.now() - start;
    assert.ok(took >= 250 && took < 3000, `timed out after ${took} ms`);
  } finally {
    silent.close();
    live.close();
    for (const s of socks) s.destroy();
    srv.close();
  }
});

test('one client over a silent and a live server: its calls to one time out, to the other complete', async () => {
  const socks = [];
  const srv = net.createServer((s) => socks.push(s));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const silentAddr = `127.0.0.1:${srv.address().port}`;
  const c = new pmc.Client([silentAddr, server.address], { timeout: 300, connectTimeout: 1000 });
  try {
    assert.equal(c.asyncEngine, 'addon');
    const keys = Array.from({ length: 40 }, (_, i) => key(`split.${i}`));
    const live = keys.filter((k) => c.serverForKey(k) === server.address);
    assert.ok(live.length > 5 && live.length < 35, `${live.length} of 40 keys on the live server`);
    const plain = new pmc.Client(server.address);
    for (const k of live) plain.set(k, `v ${k}`);
    plain.close();
    const outcomes = await Promise.all(keys.map((k) => c.getAsync(k).then((v) => ({ k, v }), (e) => ({ k, e }))));
    for (const { k, v, e } of outcomes) {
      if (live.includes(k)) {
        assert.equal(e, undefined, `${k} on the live server: ${e}`);
        assert.deepEqual(v, Buffer.from(`v ${k}`));
      } else {
        assert.ok(e instanceof pmc.TimeoutError, `${k} on the silent server: ${e || v}`);
        assert.ok(e.message.includes(`(server ${silentAddr})`), e.message);
      }
    }
    // A batch over both: the silent server's commands fail, the live one's work.
    const b = new pmc.Batch();
    for (const k of keys) b.get(k);
    const rs = await b.executeAsync(c);
    rs.forEach((r, i) => {
      if (live.includes(keys[i])) assert.deepEqual(r.value, Buffer.from(`v ${keys[i]}`), keys[i]);
      else assert.ok(r.error instanceof pmc.ConnectionError, `${keys[i]}: ${r.statusName}`);
    });
    b.free();
  } finally {
    c.close();
    for (const s of socks) s.destroy();
    srv.close();
  }
});

test('a server killed with calls in flight rejects each of them, and none hangs', async () => {
  const m = await startMemcached();
  const c = new pmc.Client(m.address, { timeout: 5000 });
  try {
    assert.equal(await c.setAsync('x', 'value of x'), true);
    // Outcomes taken at once: the first calls may fail while the kill is awaited.
    const outcome = (p) => p.then((value) => ({ status: 'fulfilled', value }),
      (reason) => ({ status: 'rejected', reason }));
    const first = Array.from({ length: 100 }, () => outcome(c.getAsync('x')));
    m.stop();
    while (!m.exited()) await sleep(5);
    const second = Array.from({ length: 100 }, () => outcome(c.getAsync('x')));
    const settled = await Promise.all([...first, ...second]);
    let rejected = 0;
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        assert.ok(i < 100, `call ${i}, made after the kill, cannot succeed`);
        assert.deepEqual(r.value, Buffer.from('value of x'));
      } else {
        assert.ok(r.reason instanceof pmc.ConnectionError, `call ${i}: ${r.reason}`);
        assert.match(r.reason.message, /^get: PMC_(IO_ERROR|UNEXPECTED_CLOSE)/);
        rejected++;
      }
    });
    assert.ok(rejected >= 100, `${rejected} rejected`);
    assert.equal(c._inflight, 0);
  } finally {
    c.close();
    m.stop();
  }
});

test('bad keys and values reject at once; close waits for calls in flight', async () => {
  const c = new pmc.Client(server.address);
  await assert.rejects(c.getAsync('bad key'), (e) => e instanceof pmc.IllegalInputError &&
    /^get: PMC_ILLEGAL_INPUT/.test(e.message));
  await assert.rejects(c.setAsync(Buffer.alloc(300, 0x61), 'v'), pmc.IllegalInputError);
  await assert.rejects(c.setAsync(key('t'), 'v', { flags: 'x' }), TypeError);
  assert.equal(c._inflight, 0);
  const pending = Array.from({ length: 50 }, (_, i) => c.setAsync(key(`close.${i}`), `${i}`));
  c.close();
  assert.ok((await Promise.all(pending)).every((s) => s === true));
  await assert.rejects(c.getAsync(key('close.1')), pmc.ClosedError);
  assert.equal(c._box.ptr, null);
});

test('the event loop is not kept alive by an idle client', () => {
  // A child that makes calls and never closes its client must still exit.
  const script = `
    const pmc = require(${JSON.stringify(main)});
    const c = new pmc.Client(${JSON.stringify(server.address)});
    if (c.asyncEngine !== 'addon') { console.error(c.asyncEngineReason); process.exit(3); }
    (async () => {
      await c.setAsync('idle', 'v');
      const v = await c.getAsync('idle');
      console.log('got ' + v);
    })();
  `;
  const start = Date.now();
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `child exited with ${r.status} (${r.signal}): ${r.stderr}`);
  assert.match(r.stdout, /got v/);
  assert.ok(Date.now() - start < 15000);
});

// Every C function a routed *Async method would call on a worker thread.
const WORKER_FNS = ['get', 'gets', 'gat', 'gats', 'get_many', 'gets_many', 'set', 'add', 'replace', 'append',
  'prepend', 'cas', 'set_many', 'delete', 'delete_many', 'incr', 'decr', 'touch', 'batch_execute'];

// A call's outcome in a comparable form: its value, or its error's class and status.
const outcomeOf = async (f) => {
  try {
    return { value: await f() };
  } catch (e) {
    return { error: e.constructor.name, status: e.status, message: e.message.replace(/^\w+: /, '') };
  }
};

// [name, method, setup(c, k) with blocking calls, args(c, k)]: hits, misses,
// refusals, CAS mismatch, counters on missing and non-numeric values.
const TABLE = [
  ['get hit', 'get', (c, k) => c.set(k, 'v'), (c, k) => [k]],
  ['getItem hit', 'getItem', (c, k) => c.set(k, 'v', { flags: 5 }), (c, k) => [k]],
  ['getItem miss', 'getItem', () => {}, (c, k) => [k]],
  ['gets hit', 'gets', (c, k) => c.set(k, 'v', { flags: 6 }), (c, k) => [k]],
  ['gets miss', 'gets', () => {}, (c, k) => [k]],
  ['gat hit', 'gat', (c, k) => c.set(k, 'v'), (c, k) => [k, 100]],
  ['gat miss', 'gat', () => {}, (c, k) => [k, 100]],
  ['gatItem hit', 'gatItem', (c, k) => c.set(k, 'v', { flags: 7 }), (c, k) => [k, 100]],
  ['gatItem miss', 'gatItem', () => {}, (c, k) => [k]],
  ['gats hit', 'gats', (c, k) => c.set(k, 'v', { flags: 8 }), (c, k) => [k, 100]],
  ['gats miss', 'gats', () => {}, (c, k) => [k, 100]],
  ['getMany mixed', 'getMany', (c, k) => c.set(`${k}.1`, 'one'), (c, k) => [[`${k}.1`, `${k}.2`]]],
  ['getMany items', 'getMany', (c, k) => c.set(`${k}.1`, 'one', { flags: 3 }),
    (c, k) => [[`${k}.1`, Buffer.from(`${k}.2`)], { items: true }]],
  ['getMany none', 'getMany', () => {}, () => [[]]],
  ['getMulti mixed', 'getMulti', (c, k) => c.set(`${k}.2`, 'two'), (c, k) => [[`${k}.1`, `${k}.2`]]],
  ['getsMany mixed', 'getsMany', (c, k) => c.set(`${k}.1`, 'one', { flags: 4 }), (c, k) => [[`${k}.1`, `${k}.2`]]],
  ['add new', 'add', () => {}, (c, k) => [k, 'v', { flags: 2, expire: 100 }]],
  ['add refused', 'add', (c, k) => c.set(k, 'old'), (c, k) => [k, 'v']],
  ['replace hit', 'replace', (c, k) => c.set(k, 'old'), (c, k) => [k, 'v', { flags: 1 }]],
  ['replace refused', 'replace', () => {}, (c, k) => [k, 'v']],
  ['append hit', 'append', (c, k) => c.set(k, 'old'), (c, k) => [k, '+tail']],
  ['append refused', 'append', () => {}, (c, k) => [k, '+tail']],
  ['prepend hit', 'prepend', (c, k) => c.set(k, 'old'), (c, k) => [k, 'head+']],
  ['prepend refused', 'prepend', () => {}, (c, k) => [k, 'head+']],
  ['cas match', 'cas', (c, k) => c.set(k, 'old'), (c, k) => [k, 'new', c.gets(k).cas]],
  ['cas mismatch', 'cas', (c, k) => c.set(k, 'old'), (c, k) => [k, 'new', c.gets(k).cas + 1000n]],
  ['cas missing', 'cas', () => {}, (c, k) => [k, 'new', 1n]],
  ['setMany', 'setMany', () => {}, (c, k) => [new Map([[`${k}.1`, 'one'], [`${k}.2`, 'two']]), { flags: 9 }]],
  ['setMulti', 'setMulti', () => {}, (c, k) => [[[`${k}.1`, 'one']]]],
  ['setMany none', 'setMany', () => {}, () => [{}]],
  ['deleteMany mixed', 'deleteMany', (c, k) => c.set(`${k}.1`, 'one'), (c, k) => [[`${k}.1`, `${k}.2`]]],
  ['deleteMulti', 'deleteMulti', (c, k) => c.set(`${k}.2`, 'two'), (c, k) => [[`${k}.1`, `${k}.2`]]],
  ['incr hit', 'incr', (c, k) => c.set(k, '41'), (c, k) => [k, 1]],
  ['incr big', 'incr', (c, k) => c.set(k, '9223372036854775807'), (c, k) => [k, 9223372036854775807n]],
  ['incr missing', 'incr', () => {}, (c, k) => [k]],
  ['incr non-numeric', 'incr', (c, k) => c.set(k, 'abc'), (c, k) => [k, 1]],
  ['decr below zero', 'decr', (c, k) => c.set(k, '3'), (c, k) => [k, 10]],
  ['decr missing', 'decr', () => {}, (c, k) => [k, 1]],
  ['touch hit', 'touch', (c, k) => c.set(k, 'v'), (c, k) => [k, 100]],
  ['touch miss', 'touch', () => {}, (c, k) => [k, 100]],
  ['getMany bad key', 'getMany', () => {}, (c, k) => [[k, 'bad key']]],
  ['deleteMany bad key', 'deleteMany', (c, k) => c.set(k, 'v'), (c, k) => [[k, Buffer.alloc(300, 0x61)]]],
  ['incr bad key', 'incr', () => {}, () => ['bad key']],
];

// The state a case left: what a blocking read of its keys sees.
const stateOf = (c, k) => [k, `${k}.1`, `${k}.2`].map((x) => c.getItem(x));

test('every routed *Async method returns what its blocking form returns, on the event loop', async () => {
  for (const options of [{}, { keyPrefix: 'pfx:' }]) {
    const c = new pmc.Client(server.address, options);
    try {
      assert.equal(c.asyncEngine, 'addon');
      let n = 0;
      for (const [name, method, setup, args] of TABLE) {
        const k = key(`table.${JSON.stringify(options)}.${n++}`);
        const reset = () => {
          c.deleteMany([k, `${k}.1`, `${k}.2`]);
          setup(c, k);
        };
        reset();
        const want = await outcomeOf(() => c[method](...args(c, k)));
        const wantState = stateOf(c, k);
        reset();
        const a = args(c, k);
        const got = await withoutWorkers(WORKER_FNS, () => outcomeOf(() => c[`${method}Async`](...a)));
        if (method === 'gets' || method === 'gats' || method === 'getsMany' || name.startsWith('cas')) {
          // CAS uniques differ between the two runs: compare their presence.
          const strip = (o) => JSON.parse(JSON.stringify(o, (kk, v) => (kk === 'cas' ? typeof v : v)));
          assert.deepEqual(strip(got), strip(want), `${name} (${JSON.stringify(options)})`);
        } else {
          assert.deepEqual(got, want, `${name} (${JSON.stringify(options)})`);
        }
        const gotState = stateOf(c, k).map((it) => it && { ...it, cas: 0n });
        assert.deepEqual(gotState, wantState.map((it) => it && { ...it, cas: 0n }), `${name}: the state after`);
      }
    } finally {
      c.close();
    }
  }
});

test('noreply calls run on the event loop and return what the blocking noreply call returns', async () => {
  const c = new pmc.Client(server.address, { noreply: true });
  try {
    assert.equal(c.asyncEngine, 'addon');
    const cases = [
      ['add', [key('nr'), 'v']], ['add', [key('nr'), 'again']], ['replace', [key('nr.none'), 'v']],
      ['append', [key('nr.none'), 'v']], ['touch', [key('nr.none'), 10]], ['delete', [key('nr.none')]],
      ['set', [key('nr.2'), 'two']], ['incr', [key('nr.none')]], ['incr', [key('nr.none'), 1, { noreply: true }]],
      ['incr', [key('nr'), 1, { noreply: true }]], ['cas', [key('nr.none'), 'v', 1n, { noreply: true }]],
      ['setMany', [{ [key('nr.1')]: 'x' }]], ['deleteMany', [[key('nr.none'), key('nr.none2')]]],
    ];
    for (const [m, args] of cases) {
      const want = await outcomeOf(() => c[m](...args));
      const got = await withoutWorkers(WORKER_FNS, () => outcomeOf(() => c[`${m}Async`](...args)));
      assert.deepEqual(got, want, `${m}(${args.map(String).join(', ')})`);
    }
    // Ordered with the reads after them on the same connection.
    for (let i = 0; i < 50; i++) {
      const k = key(`nr.order.${i}`);
      await withoutWorkers(WORKER_FNS, async () => {
        assert.equal(await c.setAsync(k, `${i}`), true);
        assert.equal(await c.appendAsync(k, '+'), true);
        assert.deepEqual(await c.getAsync(k), Buffer.from(`${i}+`));
      });
    }
  } finally {
    c.close();
  }
});

test('a killed server: incrAsync and getManyAsync reject; a silent one: they time out', async () => {
  const m = await startMemcached();
  const c = new pmc.Client(m.address, { timeout: 5000 });
  try {
    c.set('n', '5');
    assert.equal(await c.incrAsync('n', 2), 7n);
    m.stop();
    while (!m.exited()) await sleep(5);
    await withoutWorkers(WORKER_FNS, async () => {
      await assert.rejects(c.incrAsync('n'), (e) => e instanceof pmc.ConnectionError &&
        /^incr: PMC_(IO_ERROR|UNEXPECTED_CLOSE|CONNECTION_REFUSED)/.test(e.message));
      await assert.rejects(c.getManyAsync(['n', 'm']), (e) => e instanceof pmc.ConnectionError &&
        /^getMany: PMC_/.test(e.message));
    });
    assert.equal(c._inflight, 0);
  } finally {
    c.close();
    m.stop();
  }
  const socks = [];
  const srv = net.createServer((s) => socks.push(s)); // accepts, never answers
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const silent = new pmc.Client(`127.0.0.1:${srv.address().port}`, { timeout: 300, connectTimeout: 1000 });
  try {
    const start = Date.now();
    await withoutWorkers(WORKER_FNS, async () => {
      const both = [silent.incrAsync('n'), silent.getManyAsync(['a', 'b'])];
      await assert.rejects(both[0], (e) => e instanceof pmc.TimeoutError && /^incr: PMC_TIMEOUT/.test(e.message));
      await assert.rejects(both[1], (e) => e instanceof pmc.TimeoutError && /^getMany: PMC_TIMEOUT/.test(e.message));
    });
    const took = Date.now() - start;
    assert.ok(took >= 250 && took < 3000, `timed out after ${took} ms`);
  } finally {
    silent.close();
    for (const s of socks) s.destroy();
    srv.close();
  }
});
