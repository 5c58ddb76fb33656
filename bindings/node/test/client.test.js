'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const v8 = require('node:v8');
const vm = require('node:vm');
const fs = require('node:fs');
const { pmc } = require('./pkg');
const { startMemcached, closedAddress } = require('./memcached');

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
let server1;
let server2;
let seq = 0;
const clients = [];

const key = (name) => `js-${name}-${process.pid}-${++seq}`;

function client(servers = server1.address, opts = {}) {
  const c = new pmc.Client(servers, { timeout: 5000, connectTimeout: 2000, ...opts });
  clients.push(c);
  return c;
}

test.before(async () => {
  server1 = await startMemcached();
  server2 = await startMemcached();
});

test.after(() => {
  for (const c of clients) c.close();
  if (server1) server1.stop();
  if (server2) server2.stop();
});

test('binary values round trip, flags kept', () => {
  const c = client();
  const k = key('bin');
  const value = Buffer.concat([ALL_BYTES, Buffer.from('\r\nEND\r\n\0', 'binary')]);
  assert.equal(c.set(k, value, { flags: 0xdeadbeef }), true);
  const got = c.get(k);
  assert.ok(Buffer.isBuffer(got));
  assert.deepEqual(got, value);
  const item = c.getItem(k);
  assert.equal(item.flags, 0xdeadbeef);
  assert.equal(item.cas, 0n);

  const empty = key('empty');
  c.set(empty, Buffer.alloc(0), { flags: 7 });
  assert.deepEqual(c.getItem(empty), { value: Buffer.alloc(0), flags: 7, cas: 0n });

  // Returned buffers are the caller's own copies.
  c.get(k)[0] = 0x58;
  assert.equal(c.get(k)[0], 0);
});

test('a miss', () => {
  const c = client();
  assert.equal(c.get(key('miss')), null);
  assert.equal(c.gets(key('miss')), null);
});

test('getMulti returns hits and leaves out misses', () => {
  const c = client();
  const [a, b, miss1, miss2] = [key('ma'), key('mb'), key('mx'), key('my')];
  c.set(a, 'alpha\0\r\n', { flags: 1 });
  c.set(b, ALL_BYTES, { flags: 2 });
  const got = c.getMulti([miss1, a, miss2, b]);
  assert.deepEqual([...got.keys()].sort(), [a, b].sort());
  assert.deepEqual(got.get(a), Buffer.from('alpha\0\r\n'));
  assert.deepEqual(got.get(b), ALL_BYTES);
  const items = c.getMulti([a, miss1], { items: true });
  assert.equal(items.get(a).flags, 1);
  assert.equal(c.getMulti([miss1, miss2]).size, 0);
  assert.equal(c.getMulti([]).size, 0);
});

test('cas: stale unique -> exists, fresh unique -> stored, missing -> null', () => {
  const c = client();
  const other = client(); // a second connection: a concurrent writer
  const k = key('cas');
  c.set(k, 'v1');
  const first = c.gets(k);
  assert.deepEqual(first.value, Buffer.from('v1'));
  assert.equal(typeof first.cas, 'bigint');
  assert.ok(first.cas > 0n);

  other.set(k, 'v2');
  assert.equal(c.cas(k, 'v3', first.cas), false);
  assert.deepEqual(c.get(k), Buffer.from('v2'));

  const fresh = c.gets(k);
  assert.notEqual(fresh.cas, first.cas);
  assert.equal(c.cas(k, 'v4\0', fresh.cas, { flags: 9 }), true);
  assert.deepEqual(c.getItem(k), { value: Buffer.from('v4\0'), flags: 9, cas: 0n });

  assert.equal(c.cas(key('cas-missing'), 'x', 12345n), null);
});

test('counters: incr, decr, wrap, not found, not a number', () => {
  const c = client();
  const k = key('ctr');
  c.set(k, '10');
  assert.equal(c.incr(k, 5), 15n);
  assert.equal(c.decr(k, 3), 12n);
  assert.equal(c.decr(k, 100), 0n);
  // Stored counters stay below 2^63: memcached reads one of 2^63 or more
  // with strchr, which runs past the value and may call it non-numeric.
  c.set(k, '9223372036854775807');
  assert.equal(c.incr(k, 9223372036854775810n), 1n);
  c.set(k, '9223372036854775000');
  assert.equal(c.incr(k, 9223372036854776005n), 18446744073709551005n);
  const missing = key('ctr-missing');
  assert.equal(c.incr(missing), null);
  assert.equal(c.decr(missing), null);
  const text = key('ctr-text');
  c.set(text, 'not a number');
  assert.throws(() => c.incr(text), (e) => e instanceof pmc.ClientError && e.status === pmc.Status.CLIENT_ERROR);
});

test('delete reports whether the key existed', () => {
  const c = client();
  const k = key('del');
  c.set(k, 'x');
  assert.equal(c.delete(k), true);
  assert.equal(c.get(k), null);
  assert.equal(c.delete(k), false);
});

test('an illegal key is refused before anything is sent', async () => {
  // Nothing listens there: had anything been sent, this would be a
  // connection error.
  const c = client(await closedAddress());
  for (const bad of ['has space', 'new\nline', 'cr\rx', 'k'.repeat(251), '']) {
    assert.throws(() => c.get(bad), (e) => {
      assert.ok(e instanceof pmc.IllegalInputError, `${JSON.stringify(bad)}: ${e}`);
      assert.ok(e instanceof pmc.PymemcacheError);
      assert.equal(e.status, 12);
      assert.equal(e.statusName, 'PMC_ILLEGAL_INPUT');
      assert.match(e.message, /PMC_ILLEGAL_INPUT/);
      return true;
    });
  }
  const illegal = (e) => e instanceof pmc.IllegalInputError && e.status === 12;
  assert.throws(() => c.set('has space', 'v'), illegal);
  assert.throws(() => c.getMulti(['fine', 'not fine']), illegal);
  assert.throws(() => c.incr('bad key'), illegal);
  assert.throws(() => c.cas('bad key', 'v', 1n), illegal);
  await assert.rejects(c.getAsync('bad key'), illegal);
  // A legal key on the same client does go to the (missing) server.
  assert.throws(() => c.get('legal'), pmc.ConnectionError);
});

test('an illegal key opens no connection', async () => {
  let connections = 0;
  const srv = net.createServer((sock) => { connections++; sock.destroy(); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const c = client(`127.0.0.1:${srv.address().port}`, { timeout: 300 });
    assert.throws(() => c.get('two words'), pmc.IllegalInputError);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(connections, 0);
  } finally {
    srv.close();
  }
});

// A server that accepts but never answers: timeout (5 s) would wait long,
// deadline (200 ms) ends the whole call.
test('deadline bounds a whole call, sync and async', async () => {
  const socks = [];
  const srv = net.createServer((sock) => { socks.push(sock); sock.resume(); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const addr = `127.0.0.1:${srv.address().port}`;
  const isTimeout = (e) => e instanceof pmc.ConnectionError && e.status === pmc.Status.TIMEOUT &&
    e.statusName === 'PMC_TIMEOUT';
  const inTime = (what, start) => {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(elapsed >= 150 && elapsed <= 2000, `${what} failed after ${elapsed} ms, want 150..2000`);
  };
  try {
    let start = process.hrtime.bigint();
    assert.throws(() => client(addr, { timeout: 5000, deadline: 200 }).get(key('deadline')), (e) => {
      assert.ok(isTimeout(e), `want a TIMEOUT ConnectionError, got ${e}`);
      assert.match(e.message, /deadline/);
      return true;
    });
    inTime('get', start);
    start = process.hrtime.bigint();
    // The async call ran on a koffi worker; its error still has the message.
    await assert.rejects(client(addr, { timeout: 5000, deadline: 200 }).getAsync(key('deadline')), (e) => {
      assert.ok(isTimeout(e) && e instanceof pmc.TimeoutError, `want a TimeoutError, got ${e}`);
      assert.match(e.message, /^get: PMC_TIMEOUT: .*deadline/);
      return true;
    });
    inTime('getAsync', start);
  } finally {
    for (const s of socks) s.destroy();
    srv.close();
  }
});

test('a closed port gives a connection error with PMC_IO_ERROR', async () => {
  const c = client(await closedAddress());
  assert.throws(() => c.get('some-key'), (e) => {
    assert.ok(e instanceof pmc.ConnectionError);
    assert.equal(e.status, pmc.Status.IO_ERROR);
    assert.equal(e.statusName, 'PMC_IO_ERROR');
    assert.match(e.message, /PMC_IO_ERROR/);
    return true;
  });
  assert.throws(() => c.set('some-key', 'v'), pmc.ConnectionError);
  assert.throws(() => c.getMulti(['a', 'b']), pmc.ConnectionError);
  await assert.rejects(c.getAsync('some-key'),
    (e) => e instanceof pmc.ConnectionError && e.status === 21 && e.statusName === 'PMC_IO_ERROR');
});

test('bad options give ConfigError', () => {
  assert.throws(() => new pmc.Client([]), (e) => e instanceof pmc.ConfigError && e.status === 13);
  assert.throws(() => new pmc.Client('not an address'), pmc.ConfigError);
  assert.throws(() => new pmc.Client([server1.address, server1.address]), pmc.ConfigError);
});

test('close: later calls fail, in-flight async calls finish first', async () => {
  const c = new pmc.Client(server1.address, { usePooling: true });
  const k = key('close');
  const pending = [c.setAsync(k, 'x'), c.getAsync(key('close-miss'))];
  c.close();
  assert.deepEqual(await Promise.all(pending), [true, null]);
  assert.throws(() => c.get(k), pmc.ClosedError);
  await assert.rejects(c.getAsync(k), pmc.ClosedError);
  c.close(); // twice is harmless
  const check = client();
  assert.deepEqual(check.get(k), Buffer.from('x'));
});

test('forgotten clients are freed by the finalization registry', async () => {
  if (!fs.existsSync('/proc/self/fd')) return;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const openFds = () => fs.readdirSync('/proc/self/fd').length;
  gc();
  const before = openFds();
  const n = 30;
  (() => {
    for (let i = 0; i < n; i++) {
      const c = new pmc.Client(server1.address);
      c.get('finalizer-probe'); // opens a connection
    }
  })();
  assert.ok(openFds() >= before + n, `expected ${n} connections, fds ${before} -> ${openFds()}`);
  const deadline = Date.now() + 10000;
  for (;;) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    if (openFds() <= before + 2) break;
    assert.ok(Date.now() < deadline, `forgotten clients were not freed: fds ${before} -> ${openFds()}`);
  }
});

// 64 async tasks store and read back distinct values through one client,
// with many koffi calls in flight at once.
async function checkShared(c, prefix) {
  const tasks = 64;
  const perTask = 5;
  const keys = [];
  let maxInFlight = 0;
  let inFlight = 0;
  const track = async (p) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try { return await p; } finally { inFlight--; }
  };
  await Promise.all(Array.from({ length: tasks }, async (_, t) => {
    const mine = [];
    for (let i = 0; i < perTask; i++) {
      const k = `${prefix}-${process.pid}-${t}-${i}`;
      const v = Buffer.concat([Buffer.from(`t${t}-i${i}|`), ALL_BYTES]);
      assert.equal(await track(c.setAsync(k, v, { flags: t * 1000 + i })), true);
      const item = await track(c.getItemAsync(k));
      assert.ok(item, `${k} missing`);
      assert.deepEqual(item.value, v);
      assert.equal(item.flags, t * 1000 + i);
      mine.push(k);
    }
    const got = await track(c.getMultiAsync(mine));
    assert.equal(got.size, perTask);
    mine.forEach((k, i) => assert.deepEqual(got.get(k), Buffer.concat([Buffer.from(`t${t}-i${i}|`), ALL_BYTES])));
    keys.push(...mine);
  }));
  assert.equal(keys.length, tasks * perTask);
  assert.ok(maxInFlight >= 8, `only ${maxInFlight} calls were in flight at once`);
  return keys;
}

test('a pooled client shared by concurrent async calls', async () => {
  // On worker threads: the addon would run these calls without the pool.
  const c = client(server1.address, { usePooling: true, maxPoolSize: 16, poolTimeout: 5000, asyncEngine: 'worker' });
  await checkShared(c, 'js-pooled');
  const stats = c.poolStats();
  assert.equal(stats.inUse, 0);
  assert.ok(stats.created >= 1);
  assert.equal(stats.free, stats.created - stats.destroyed);
  assert.throws(() => client().poolStats(), (e) => e instanceof pmc.InvalidArgumentError && e.status === 11);

  const k = key('async-ctr');
  await c.setAsync(k, '0');
  const results = await Promise.all(Array.from({ length: 20 }, () => c.incrAsync(k, 1)));
  assert.deepEqual([...results].sort((x, y) => (x < y ? -1 : 1)), Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
  assert.equal(await c.decrAsync(k, 5), 15n);
  const g = await c.getsAsync(k);
  assert.equal(await c.casAsync(k, 'done', g.cas), true);
  assert.equal(await c.casAsync(k, 'again', g.cas), false);
  assert.equal(await c.deleteAsync(k), true);
  assert.equal(await c.deleteAsync(k), false);
});

test('a hash client shared by concurrent async calls spreads keys over both servers', async () => {
  const c = client([server1.address, server2.address], { retryAttempts: 0, deadTimeout: 30000 });
  const keys = await checkShared(c, 'js-hash');
  const onA = client(server1.address).getMulti(keys);
  const onB = client(server2.address).getMulti(keys);
  assert.ok(onA.size > 0 && onB.size > 0, `spread ${onA.size}/${onB.size}`);
  assert.deepEqual([...onA.keys(), ...onB.keys()].sort(), [...keys].sort());
});

test('failure tracking: soft-down after the threshold, then fail fast', async () => {
  const dead = await closedAddress();
  const c = client([server1.address, dead], { failureTracking: { threshold: 2, initialBackoff: 60000, maxBackoff: 60000 } });
  let k;
  for (let i = 0; i < 100; i++) {
    k = key('tko');
    if (c.serverForKey(k) === dead) break;
  }
  assert.equal(c.serverForKey(k), dead);
  for (let i = 0; i < 2; i++) assert.throws(() => c.get(k), pmc.ConnectionError);
  const h = c.nodeState(dead);
  assert.equal(h.state, 'soft_down');
  assert.equal(h.refusals, 2);
  assert.throws(() => c.get(k), /marked down/);
  assert.equal(c.nodeState(server1.address).state, 'up');
  assert.throws(() => client(server1.address, { useHashClient: true, failureTracking: { threshold: 0 } }),
    pmc.ConfigError);
});

// Every value and result set the library hands back is freed: reading
// 262 MiB through get and getMulti must not grow the process by as much.
test('no leaked library buffers', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const c = client();
  const big = Buffer.alloc(256 * 1024, 0xab);
  const [k1, k2] = [key('leak1'), key('leak2')];
  c.set(k1, big);
  c.set(k2, big);
  let badReads = 0;
  const read = (rounds) => {
    for (let i = 0; i < rounds; i++) {
      if (!big.equals(c.get(k1))) badReads++;
      const got = c.getMulti([k1, k2]);
      if (!big.equals(got.get(k1)) || !big.equals(got.get(k2))) badReads++;
    }
  };
  read(50);
  gc();
  const before = process.memoryUsage().rss;
  read(350); // 350 * 3 * 256 KiB = 262 MiB handed back by the library
  gc();
  const grown = process.memoryUsage().rss - before;
  assert.equal(badReads, 0);
  assert.ok(grown < 96 * 1024 * 1024, `RSS grew by ${grown >> 20} MiB: library buffers leak`);
});

test('an argument koffi refuses rejects an async call and leaves the client closable', async () => {
  const c = client();
  await assert.rejects(c.touchAsync(key('t'), 'soon'), TypeError);
  await assert.rejects(c.setAsync(key('t'), 'v', { flags: 'x' }), TypeError);
  assert.equal(c._inflight, 0);
  c.close();
  assert.equal(c._box.ptr, null); // freed at once: nothing in flight
});

test('per-server metrics: counts, Prometheus text, reset, off', async () => {
  const c = client();
  const k = key('metrics');
  c.set(k, 'v');
  assert.ok(c.get(k));
  assert.equal(c.get(`${k}-missing`), null);
  const m = c.metrics();
  assert.equal(m.length, 1);
  assert.equal(m[0].server, server1.address);
  assert.deepEqual([m[0].requests, m[0].hits, m[0].misses, m[0].inUse], [3, 1, 1, 0]);
  assert.equal(m[0].connectionsOpened, 1);
  assert.ok(m[0].bytesSent > 0 && m[0].p50Us <= m[0].latencyMaxUs);
  assert.equal((await c.metricsAsync())[0].requests, 3);
  assert.ok(c.metricsPrometheus().includes(`pymemcache_hits_total{server="${server1.address}"} 1\n`));
  c.metricsReset();
  assert.equal(c.metrics()[0].requests, 0);
  assert.deepEqual(client(server1.address, { metrics: false }).metrics(), []);
});
