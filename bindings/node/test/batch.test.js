'use strict';

// Batches (pmc.Batch) and stampede control (getOrLock, invalidate) against
// real memcached servers.

const test = require('node:test');
const v8 = require('node:v8');
const vm = require('node:vm');
const assert = require('node:assert/strict');
const { pmc } = require('./pkg');
const { startMemcached, closedAddress } = require('./memcached');

let s1;
let s2;
const clients = [];
const batches = [];
let seq = 0;
const key = (name) => `batch-${name}-${process.pid}-${++seq}`;

function client(servers = s1.address, opts = {}) {
  const c = new pmc.Client(servers, { timeout: 5000, connectTimeout: 2000, ...opts });
  clients.push(c);
  return c;
}

function batch(opts) {
  const b = new pmc.Batch(opts);
  batches.push(b);
  return b;
}

test.before(async () => {
  s1 = await startMemcached();
  s2 = await startMemcached();
});

test.after(() => {
  for (const b of batches) b.free();
  for (const c of clients) c.close();
  if (s1) s1.stop();
  if (s2) s2.stop();
});

const { OK, MISS, NOT_STORED, EXISTS, NOT_FOUND, ILLEGAL_INPUT } = pmc.Status;

test('a mixed batch: per-operation statuses in request order (sync and async)', async () => {
  const c = client();
  const a = key('a');
  const b2 = key('b');
  const missing = key('miss');
  const ctr = key('ctr');
  c.set(a, 'va', { flags: 7 });
  c.set(ctr, '5');
  const b = batch();
  assert.equal(b.size, 0);
  assert.deepEqual(b.execute(c), []);
  assert.equal(b.get(a), 0);
  b.get(missing); // 1
  b.add(a, 'x'); // 2
  b.set(b2, 'vb', { flags: 3 }); // 3
  b.replace(missing, 'x'); // 4
  b.append(a, '+'); // 5
  b.prepend(missing, 'x'); // 6
  b.gets(a); // 7
  b.incr(ctr, 3); // 8
  b.decr(ctr, 100n); // 9
  b.incr(missing); // 10
  b.delete(b2); // 11
  b.delete(missing); // 12
  b.touch(a, 100); // 13
  b.touch(missing, 100); // 14
  b.cas(a, 'z', 1n); // 15
  b.get(Buffer.from('bad key')); // 16
  b.gat(a, 200); // 17
  b.meta('mg', a, ['v', 'f', 't']); // 18
  b.meta('ms', b2, 'F9', 'meta'); // 19
  assert.equal(b.meta('mg', missing, ['v']), 20);
  assert.throws(() => b.meta('zz', a), (e) => e instanceof pmc.InvalidArgumentError && e.status === 11);
  assert.throws(() => b.get('clé'), (e) => e instanceof pmc.IllegalInputError && /non-ASCII/.test(e.message));
  assert.equal(b.size, 21);

  const want = [OK, MISS, NOT_STORED, OK, NOT_STORED, OK, NOT_STORED, OK, OK, OK, NOT_FOUND, OK, NOT_FOUND, OK,
    NOT_FOUND, EXISTS, ILLEGAL_INPUT, OK, OK, OK, MISS];
  const rs = b.execute(c);
  assert.deepEqual(rs.map((r) => r.status), want, rs.map((r) => r.statusName).join(' '));
  assert.deepEqual(rs.slice(0, 3).map((r) => r.statusName), ['PMC_OK', 'PMC_MISS', 'PMC_NOT_STORED']);
  assert.deepEqual([rs[0].value.toString(), rs[0].flags, rs[0].cas], ['va', 7, 0n]);
  assert.equal(rs[1].value.length, 0);
  assert.equal(rs[7].value.toString(), 'va+');
  assert.ok(rs[7].cas > 0n);
  assert.deepEqual([rs[8].number, rs[8].value.toString(), rs[9].number], [8n, '8', 0n]);
  rs.forEach((r, i) => {
    assert.equal(r.error !== null, r.status >= 10, `result ${i}`);
    assert.equal(r.lease, null, `result ${i}`);
  });
  assert.ok(rs[16].error instanceof pmc.IllegalInputError);
  assert.equal(rs[16].error.status, ILLEGAL_INPUT);
  assert.match(rs[16].error.message, /key/);
  assert.equal(rs[17].value.toString(), 'va+');
  assert.deepEqual([rs[18].code, rs[18].value.toString()], ['VA', 'va+']);
  assert.match(rs[18].metaFlags, /\bf7\b/);
  assert.deepEqual([rs[19].code, rs[20].code, rs[0].code], ['HD', 'EN', '']);
  assert.deepEqual(c.getItem(b2), { value: Buffer.from('meta'), flags: 9, cas: 0n });

  const again = await b.executeAsync(c);
  assert.equal(again.length, 21);
  assert.deepEqual([again[3].status, again[11].status, again[19].status], [OK, OK, OK]);
  assert.equal(b.clear(), b);
  assert.equal(b.size, 0);
  b.free();
  b.free();
  assert.equal(b.freed, true);
  assert.throws(() => b.get(a), pmc.ClosedError);
  assert.throws(() => b.execute(c), pmc.ClosedError);
  await assert.rejects(b.executeAsync(c), pmc.ClosedError);

  const closed = new pmc.Client(s1.address);
  closed.close();
  const b3 = batch();
  b3.get(a);
  assert.throws(() => b3.execute(closed), pmc.ClosedError);
  await assert.rejects(b3.executeAsync(closed), pmc.ClosedError);
  assert.equal(b3.size, 1, 'a failed executeAsync leaves the batch usable');

  // While an executeAsync runs the batch refuses changes; free() waits for it.
  const b4 = new pmc.Batch();
  b4.set(key('async'), 'v');
  const p = b4.executeAsync(c);
  assert.throws(() => b4.get(a), /being executed/);
  b4.free();
  const [r] = await p;
  assert.equal(r.status, OK);
  assert.equal(b4.freed, true);

  const u = batch({ allowUnicodeKeys: true });
  u.set('clé', 'unicode');
  u.get('clé');
  const ur = u.execute(client(s1.address, { allowUnicodeKeys: true }));
  assert.deepEqual(ur.map((x) => x.status), [OK, OK]);
  assert.equal(ur[1].value.toString(), 'unicode');
});

test('across a hash client a server that is down fails only its own operations', async () => {
  const dead = await closedAddress();
  const c = client([s1.address, s2.address, dead]);
  const b = batch();
  const keys = Array.from({ length: 30 }, () => key('hash'));
  const on = new Map(keys.map((k) => [k, c.serverForKey(k)]));
  assert.deepEqual([...new Set(on.values())].sort(), [s1.address, s2.address, dead].sort());
  for (const k of keys) {
    b.set(k, `v-${k}`);
    b.get(k);
  }
  const rs = await b.executeAsync(c);
  assert.equal(rs.length, 60);
  keys.forEach((k, i) => {
    const set = rs[2 * i];
    const get = rs[2 * i + 1];
    if (on.get(k) === dead) {
      for (const r of [set, get]) {
        assert.ok(r.error instanceof pmc.ConnectionError, `${k} on the dead server: ${r.statusName}`);
        assert.ok(r.error.message.length > 'execute: '.length);
      }
    } else {
      assert.deepEqual([set.status, get.status, get.value.toString()], [OK, OK, `v-${k}`], k);
    }
  });
});

// One winner among concurrent async calls, then stale and one stale_won
// after invalidate, on `c`.
async function stampedeOn(c) {
  const k = key('stampede');
  const n = 8;
  const race = () => Promise.all(Array.from({ length: n }, () => c.getOrLockAsync(k, 30)));
  const tally = (rs) => rs.reduce((m, r) => ({ ...m, [r.lease]: (m[r.lease] || 0) + 1 }), {});
  let rs = await race();
  assert.deepEqual(tally(rs), { miss_won: 1, miss_busy: n - 1 });
  assert.ok(rs.every((r) => r.value === null));
  c.set(k, 'v1');
  const hit = c.getOrLock(k, 30);
  assert.equal(hit.lease, pmc.Lease.HIT);
  assert.equal(hit.value.toString(), 'v1');
  assert.ok(hit.cas > 0n);
  assert.equal(await c.invalidateAsync(k, 30), true);
  rs = await race();
  assert.deepEqual(tally(rs), { stale_won: 1, stale: n - 1 });
  assert.ok(rs.every((r) => r.value.toString() === 'v1'));
  c.set(k, 'v2');
  assert.equal((await c.getOrLockAsync(k, 30, 0)).value.toString(), 'v2');
  assert.equal(c.invalidate(key('nothing'), 30), false);
  assert.throws(() => c.getOrLock('bad key', 30), pmc.IllegalInputError);
  await assert.rejects(c.getOrLockAsync('bad key', 30), pmc.IllegalInputError);
}

test('getOrLock: one winner among concurrent async calls, then stale and one stale_won after invalidate', async () => {
  await stampedeOn(client(s1.address, { usePooling: true }));
});

test('getOrLock, invalidate and generic meta commands on the mock client', async () => {
  const c = pmc.Client.mock();
  clients.push(c);
  await stampedeOn(c);
  const k = key('mockmeta');
  const b = batch();
  b.meta('ms', k, 'F9 T100 c', 'hello');
  b.meta('mg', k, 'v f t s k');
  b.meta('mg', key('mocknone'), 'v');
  b.meta('mg', k, 'v z');
  const rs = b.execute(c);
  assert.equal(rs[0].status, OK);
  assert.equal(rs[1].value.toString(), 'hello');
  assert.equal(rs[1].flags, 9);
  assert.match(rs[1].metaFlags, /\bs5\b/);
  assert.match(rs[1].metaFlags, new RegExp(`\\bk${k}\\b`));
  assert.equal(rs[2].status, pmc.Status.MISS);
  assert.equal(rs[3].status, pmc.Status.CLIENT_ERROR);
  assert.match(rs[3].error.message, /"z"/);
});

test('getOrLock and invalidate in a batch', () => {
  const c = client();
  const k = key('bgol');
  const b = batch();
  b.getOrLock(k, 30);
  b.getOrLock(k, 30);
  b.invalidate(key('bgolmiss'), 30);
  let rs = b.execute(c);
  assert.deepEqual(rs.map((r) => r.lease), ['miss_won', 'miss_busy', null]);
  assert.equal(rs[2].status, NOT_FOUND);
  c.set(k, 'old');
  b.clear();
  b.invalidate(k, 30);
  b.getOrLock(k, 30);
  b.getOrLock(k, 30);
  rs = b.execute(c);
  assert.deepEqual(rs.map((r) => r.status), [OK, OK, OK]);
  assert.deepEqual(rs.map((r) => r.lease), [null, 'stale_won', 'stale']);
  assert.deepEqual([rs[1].value.toString(), rs[2].value.toString()], ['old', 'old']);
  assert.notEqual(rs[1].ttl, 0);
});

// Every batch and value is freed: 350 batches each holding two 256 KiB
// results and 350 getOrLock hits of 256 KiB (262 MiB) must not grow the
// process by as much.
test('batches and getOrLock values do not leak', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const c = client();
  const big = Buffer.alloc(256 * 1024, 0xab);
  const k = key('leak');
  c.set(k, big);
  let bad = 0;
  const round = (n) => {
    for (let i = 0; i < n; i++) {
      const b = new pmc.Batch();
      b.get(k);
      b.gets(k);
      const rs = b.execute(c);
      if (!big.equals(rs[0].value) || !big.equals(rs[1].value)) bad++;
      b.free();
      const r = c.getOrLock(k, 30);
      if (r.lease !== 'hit' || !big.equals(r.value)) bad++;
    }
  };
  round(50);
  gc();
  const before = process.memoryUsage().rss;
  round(350);
  gc();
  const grown = process.memoryUsage().rss - before;
  assert.equal(bad, 0);
  assert.ok(grown < 96 * 1024 * 1024, `RSS grew by ${grown >> 20} MiB: batches or values leak`);
});
