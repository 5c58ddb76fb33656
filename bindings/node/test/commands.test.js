'use strict';

// Every command beyond the basics, sync and async, the serde helpers, the
// client kinds (mock, fallback, retrying) and the options that change what
// goes to the server (key prefix, compression).

const test = require('node:test');
const assert = require('node:assert/strict');
const { pmc } = require('./pkg');
const { startMemcached, closedAddress } = require('./memcached');

let s1;
let s2;
const clients = [];
let seq = 0;
const key = (name) => `cmd-${name}-${process.pid}-${++seq}`;

function client(servers = s1.address, opts = {}) {
  const c = new pmc.Client(servers, { timeout: 5000, connectTimeout: 2000, ...opts });
  clients.push(c);
  return c;
}

test.before(async () => {
  s1 = await startMemcached();
  s2 = await startMemcached();
});

test.after(() => {
  for (const c of clients) c.close();
  if (s1) s1.stop();
  if (s2) s2.stop();
});

test('add, replace, append, prepend: true when stored, false when not (sync and async)', async () => {
  const c = client();
  const k = key('arap');
  assert.equal(c.add(k, 'mid', { flags: 3 }), true);
  assert.equal(await c.addAsync(k, 'again'), false);
  assert.equal(c.replace(key('none'), 'x'), false);
  assert.equal(await c.replaceAsync(k, 'mid', { flags: 4 }), true);
  assert.equal(c.append(k, '-end'), true);
  assert.equal(await c.prependAsync(k, 'start-'), true);
  assert.equal(c.append(key('none'), 'x'), false);
  assert.deepEqual(c.getItem(k), { value: Buffer.from('start-mid-end'), flags: 4, cas: 0n });
  // noreply: sent without waiting, so always true.
  assert.equal(c.add(k, 'ignored', { noreply: true }), true);
  assert.equal(c.get(k).toString(), 'start-mid-end');
});

test('gat and gats read and set a new expiry; gets and getsMany give CAS uniques', async () => {
  const c = client();
  const k = key('gat');
  assert.equal(c.gat(k, 100), null);
  c.set(k, 'v', { flags: 2 });
  assert.deepEqual(c.gat(k, 100), Buffer.from('v'));
  assert.deepEqual(await c.gatItemAsync(k, 100), { value: Buffer.from('v'), flags: 2, cas: 0n });
  const it = await c.gatsAsync(k, 0);
  assert.equal(it.flags, 2);
  assert.ok(it.cas > 0n);
  assert.deepEqual(c.gets(k), it);
  const many = c.getsMany([k, key('none')]);
  assert.deepEqual([...many.keys()], [k]);
  assert.equal(many.get(k).cas, it.cas);
  assert.equal(c.cas(k, 'w', it.cas), true);
  assert.equal(c.gat(k, -1).toString(), 'w'); // expires at once
  assert.equal(c.get(k), null);
});

test('setMany returns the keys not stored; deleteMany counts what existed', async () => {
  const c = client();
  const [a, b, d] = [key('a'), key('b'), key('d')];
  assert.deepEqual(c.setMany(new Map([[a, '1'], [b, '2']]), { flags: 5, noreply: false }), []);
  assert.deepEqual(await c.setManyAsync([[d, '4']]), []);
  assert.deepEqual(c.setMulti({ [b]: '2' }), []);
  assert.deepEqual(c.getMulti([a, b, d], { items: true }).get(a), { value: Buffer.from('1'), flags: 5, cas: 0n });
  assert.equal(c.deleteMany([a, b, key('none')], { noreply: false }), 2);
  assert.equal(await c.deleteManyAsync([d, a], { noreply: false }), 1);
  assert.equal(c.getMany([a, b, d]).size, 0);
  // Too large for memcached: the server's error, as pymemcache raises it.
  assert.throws(() => c.setMany([[a, Buffer.alloc(2 << 20, 1)]], { noreply: false }), pmc.ServerError);

  // A hash client with ignoreExc: the keys placed on a dead server come back.
  const dead = await closedAddress();
  const h = client([s1.address, dead], { ignoreExc: true, timeout: 500 });
  const keys = Array.from({ length: 12 }, (_, i) => Buffer.from(key(`hm${i}`)));
  const onDead = keys.filter((k) => h.serverForKey(k) === dead);
  assert.ok(onDead.length > 0 && onDead.length < keys.length);
  const failed = h.setMany(keys.map((k) => [k, 'v']), { noreply: false });
  assert.deepEqual(failed, onDead); // the very Buffer objects given
  assert.deepEqual([...client().getMany(keys).keys()], keys.filter((k) => !onDead.includes(k)));
});

test('delete, touch, incr with noreply: the outcome is not known', () => {
  const c = client();
  const k = key('nr');
  assert.equal(c.delete(key('none'), { noreply: true }), true);
  assert.equal(c.delete(key('none'), { noreply: false }), false);
  c.set(k, '5');
  assert.equal(c.incr(k, 2, { noreply: true }), undefined);
  assert.equal(c.incr(k, 0n), 7n);
  assert.equal(c.decr(key('none')), null);
});

test('stats, stat, version, cacheMemlimit, flushAll, rawCommand', async () => {
  const c = client();
  const stats = c.stats();
  assert.deepEqual([...stats.keys()], [s1.address]);
  const pid = stats.get(s1.address).get('pid');
  assert.match(pid, /^[0-9]+$/);
  assert.equal(c.stat('pid'), pid);
  assert.equal(await c.statAsync('no_such_stat'), null);
  assert.ok((await c.statsAsync('settings')).get(s1.address).has('maxconns'));
  assert.throws(() => c.stats('bad arg'), pmc.IllegalInputError);

  const version = c.version();
  assert.match(version, /^[0-9]+\.[0-9]+/);
  assert.equal(await c.versionAsync(), version);

  assert.equal(c.cacheMemlimit(100), true);
  assert.equal(c.stat('limit_maxbytes'), String(100 * 1024 * 1024));
  assert.equal(await c.cacheMemlimitAsync(64), true);

  const k = key('flush');
  c.set(k, 'v');
  assert.equal(c.flushAll(), true);
  assert.equal(c.get(k), null);
  c.set(k, 'v');
  assert.equal(await c.flushAllAsync(0, { noreply: false }), true);
  assert.equal(c.get(k), null);

  const raw = c.rawCommand('stats', 'END\r\n').toString();
  assert.match(raw, new RegExp(`STAT pid ${pid}\r\n`));
  assert.equal((await c.rawCommandAsync(`version`)).toString(), `VERSION ${version}`);
  assert.throws(() => c.rawCommand('bogus_command'), (e) => e.status >= 30 && /ERROR/.test(e.message));
  assert.throws(() => c.rawCommand('get a\r\nget b'), pmc.IllegalInputError);
});

test('quit and closeConnections drop the connection; the next call reconnects', async () => {
  const c = client();
  const k = key('q');
  c.set(k, 'v');
  const before = Number(c.stat('total_connections'));
  c.quit();
  assert.equal(c.get(k).toString(), 'v');
  await c.closeConnectionsAsync();
  assert.equal(c.get(k).toString(), 'v');
  assert.equal(Number(c.stat('total_connections')), before + 2);
  await c.quitAsync();
  c.closeConnections();
});

test('shutdown stops a server started with -A', async () => {
  const srv = await startMemcached(['-A']);
  try {
    const c = client(srv.address, { timeout: 1000 });
    c.set(key('s'), 'v');
    c.shutdown();
    const until = Date.now() + 5000;
    while (!srv.exited() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.exited(), true);
    assert.throws(() => c.get(key('s')), pmc.ConnectionError);
    await assert.rejects(c.shutdownAsync(true), pmc.ConnectionError);
  } finally {
    srv.stop();
  }
});

test('pooled client: poolStats and poolClear', async () => {
  // The pool serves the worker-thread calls (the event-loop ones use one
  // pipelined connection of their own): setAsync on workers here.
  const c = client(s1.address, { usePooling: true, maxPoolSize: 4, asyncEngine: 'worker' });
  await Promise.all(Array.from({ length: 8 }, (_, i) => c.setAsync(key(`p${i}`), 'v')));
  const st = c.poolStats();
  assert.equal(st.inUse, 0);
  assert.ok(st.free >= 1 && st.free <= 4, JSON.stringify(st));
  assert.equal(st.created, st.free + st.destroyed);
  c.poolClear();
  const after = await c.poolStatsAsync();
  assert.equal(after.free, 0);
  assert.equal(after.destroyed, st.destroyed + st.free);
  await c.poolClearAsync();
});

test('hash client: addServer, removeServer and serverForKey', async () => {
  const c = client(s1.address, { useHashClient: true });
  const keys = Array.from({ length: 40 }, (_, i) => key(`h${i}`));
  assert.ok(keys.every((k) => c.serverForKey(k) === s1.address));
  c.addServer(s2.address);
  const placed = keys.map((k) => c.serverForKey(k));
  assert.ok(placed.includes(s2.address) && placed.includes(s1.address));
  for (const k of keys) c.set(k, k);
  const direct2 = client(s2.address);
  for (const [i, k] of keys.entries()) {
    assert.equal(direct2.get(k) !== null, placed[i] === s2.address, k);
  }
  await c.removeServerAsync(s2.address);
  assert.ok(keys.every((k) => c.serverForKey(k) === s1.address));
  assert.equal(await c.serverForKeyAsync(keys[0]), s1.address);
  assert.throws(() => c.removeServer('127.0.0.1:1'), pmc.PymemcacheError);
});

test('serde helpers: text, integers and JSON as pymemcache stores them', async () => {
  const c = client();
  const [t, n, j] = [key('t'), key('n'), key('j')];
  assert.equal(c.setText(t, 'Zoë'), true);
  assert.equal(c.getItem(t).flags, 16);
  assert.equal(c.getText(t), 'Zoë');
  assert.equal(await c.getTextAsync(key('none')), null);
  assert.equal(c.setInt(n, -17), true);
  assert.equal(c.getItem(n).flags, 2);
  assert.equal(c.getInt(n), -17n);
  await c.setIntAsync(n, 2n ** 63n - 1n);
  assert.equal(await c.getIntAsync(n), 2n ** 63n - 1n);
  assert.throws(() => c.setInt(n, 2n ** 63n), RangeError);
  assert.equal(c.getInt(key('none')), null);
  assert.throws(() => c.getInt(t), (e) => e instanceof pmc.ValueError && e.status === pmc.Status.NOT_INTEGER &&
    /PMC_NOT_INTEGER/.test(e.message));
  assert.throws(() => c.getText(n), (e) => e instanceof pmc.ValueError && e.status === pmc.Status.NOT_TEXT);

  const doc = { langs: ['C', 'Python'], score: 4.5, nested: { ok: true, none: null } };
  assert.equal(c.setJson(j, doc), true);
  assert.equal(c.getItem(j).flags, 1); // a pickle, as pymemcache stores a dict
  assert.deepEqual(c.getJson(j), doc);
  await c.setJsonAsync(j, 'text');
  assert.equal(c.getItem(j).flags, 16);
  assert.equal(await c.getJsonAsync(j), 'text');
  assert.equal(c.getJson(key('none')), undefined);
  c.set(j, Buffer.from([1, 2, 255]));
  assert.deepEqual(c.getJson(j), { $bytes: '0102ff' });
});

test('mock client: commands without a server', async () => {
  const c = pmc.Client.mock({ keyPrefix: 'm:' });
  clients.push(c);
  assert.equal(c.set('a', 'v', { flags: 9 }), true);
  assert.deepEqual(c.getItem('a'), { value: Buffer.from('v'), flags: 9, cas: 0n });
  assert.equal(await c.addAsync('a', 'w'), false);
  c.set('n', '41');
  assert.equal(await c.incrAsync('n'), 42n);
  assert.throws(() => c.incr('a'), pmc.ClientError);
  assert.throws(() => c.get('bad key'), pmc.IllegalInputError);
  assert.equal(c.serverForKey('a'), 'mock');
  const other = pmc.Client.mock();
  clients.push(other);
  assert.equal(other.get('m:a'), null); // each mock has its own cache
});

test('fallback client: writes to the first, reads take the first hit; it owns its clients', async () => {
  const a = client(s1.address);
  const b = client(s2.address);
  const [k1, k2] = [key('f1'), key('f2')];
  b.set(k2, 'old');
  const f = pmc.Client.fallback([a, b]);
  clients.push(f);
  assert.throws(() => a.get(k1), (e) => e instanceof pmc.ClosedError && /fallback/.test(e.message));
  assert.equal(b.closed, true);
  assert.equal(f.set(k1, 'new'), true);
  assert.equal(f.get(k2).toString(), 'old');
  assert.deepEqual([...(await f.getManyAsync([k1, k2])).keys()], [k1, k2]);
  const direct = client(s2.address);
  assert.equal(direct.get(k1), null); // the write went to the first client only
  assert.throws(() => pmc.Client.fallback([]), pmc.InvalidArgumentError);
  const c = client();
  assert.throws(() => pmc.Client.fallback([c, c]), pmc.InvalidArgumentError);
  assert.equal(c.closed, false); // a failed fallback leaves its clients usable
  c.set(k1, 'still');
});

test('retrying client: retries the statuses asked for, then fails with the last error', async () => {
  const dead = client(await closedAddress(), { timeout: 500 });
  const r = pmc.Client.retrying(dead, { attempts: 3, retryDelay: 100, retryFor: [pmc.Status.IO_ERROR] });
  clients.push(r);
  assert.equal(dead.closed, true);
  const t0 = Date.now();
  assert.throws(() => r.get('k'), (e) => e instanceof pmc.ConnectionError && /refused/.test(e.message));
  assert.ok(Date.now() - t0 >= 190, `two waits of 100 ms, took ${Date.now() - t0} ms`);
  await assert.rejects(r.getAsync('k'), (e) => e.status === pmc.Status.IO_ERROR);

  const live = client();
  assert.throws(() => pmc.Client.retrying(live, { attempts: 0 }), pmc.ConfigError);
  assert.equal(live.closed, false);
  const ok = pmc.Client.retrying(live, { attempts: 2, doNotRetryFor: [pmc.Status.ILLEGAL_INPUT] });
  clients.push(ok);
  assert.equal(ok.set('rk', 'v'), true);
  assert.equal(ok.get('rk').toString(), 'v');
});

test('keyPrefix and compression change what reaches the server', () => {
  const plain = client();
  const k = key('pre');
  const prefixed = client(s1.address, { keyPrefix: 'app:' });
  prefixed.set(k, 'v');
  assert.equal(plain.get(`app:${k}`).toString(), 'v');
  assert.equal(prefixed.getMany([k]).has(k), true);

  const z = client(s1.address, { compression: { minLength: 100 } });
  const text = 'abc'.repeat(1000);
  z.set(k, text);
  const stored = plain.getItem(k);
  assert.equal(stored.flags & 8, 8);
  assert.ok(stored.value.length < text.length / 4, `${stored.value.length} bytes`);
  assert.equal(z.get(k).toString(), text);
  z.set(k, 'short');
  assert.equal(plain.getItem(k).flags & 8, 0);
  assert.throws(() => client(s1.address, { keyPrefix: 'a b' }), pmc.PymemcacheError);
});

test('serde callbacks run on every value, sync and async', async () => {
  const c = client(s1.address, {
    usePooling: true,
    serde: {
      serialize: (k, v, flags) => ({ value: Buffer.concat([Buffer.from('S:'), v]), flags: flags | 0x100 }),
      deserialize: (k, v, flags) => {
        if (v.toString() === 'S:boom') throw new Error('boom');
        return { value: v.subarray(2), flags: flags & ~0x100 };
      },
    },
  });
  const plain = client();
  const k = key('serde');
  c.set(k, 'hello', { flags: 1 });
  assert.deepEqual(plain.getItem(k), { value: Buffer.from('S:hello'), flags: 0x101, cas: 0n });
  assert.deepEqual(c.getItem(k), { value: Buffer.from('hello'), flags: 1, cas: 0n });
  const got = await Promise.all(Array.from({ length: 16 }, () => c.getAsync(k)));
  assert.ok(got.every((v) => v.toString() === 'hello'));
  c.set(k, 'boom');
  assert.throws(() => c.get(k), (e) => e.status === pmc.Status.SERDE_CALLBACK);
  await assert.rejects(c.getAsync(k), (e) => e.status === pmc.Status.SERDE_CALLBACK);
});

test('hash client failover: retryAttempts failures mark a server dead for deadTimeout', async () => {
  const dead = await closedAddress();
  const c = client([s1.address, dead], { timeout: 500, retryAttempts: 2, retryTimeout: 0, deadTimeout: 400 });
  const k = Array.from({ length: 50 }, (_, i) => key(`fo${i}`)).find((x) => c.serverForKey(x) === dead);
  const errors = [];
  for (let i = 0; i < 5 && c.serverForKey(k) === dead; i++) {
    assert.throws(() => c.set(k, 'v'), (e) => {
      errors.push(e.message);
      return e instanceof pmc.ConnectionError && e.message.includes(`(server ${dead})`);
    });
  }
  assert.equal(errors.length, 3); // the first failure and retryAttempts more
  assert.equal(c.serverForKey(k), s1.address);
  assert.equal(c.set(k, 'moved'), true);
  assert.equal(client().get(k).toString(), 'moved');
  await new Promise((r) => setTimeout(r, 500)); // past deadTimeout the server is tried again
  assert.throws(() => c.set(k, 'v'), (e) => e.message.includes(`(server ${dead})`));
});

test('reconnectBackoff: a failed connect is not retried within the window, unless it is off', async () => {
  const dead = await closedAddress();
  const backoff = client(dead, { reconnectBackoff: { initial: 5000, max: 5000 } });
  assert.throws(() => backoff.get('k'), (e) => e instanceof pmc.ConnectionError && !/reconnect backoff/.test(e.message));
  await assert.rejects(backoff.getAsync('k'), (e) => e instanceof pmc.ConnectionError &&
    /not retried: reconnect backoff/.test(e.message) && e.message.includes(dead));
  const off = client(dead, { reconnectBackoff: 0 });
  for (let i = 0; i < 3; i++) {
    assert.throws(() => off.get('k'), (e) => e instanceof pmc.ConnectionError && !/reconnect backoff/.test(e.message));
  }
  assert.throws(() => client(dead, { reconnectBackoff: { initial: 500, max: 100 } }), pmc.InvalidArgumentError);
});
