'use strict';

// pymemcache's key rules (Buffer keys are bytes, string keys text), touch
// following the noreply default, and the hash key form.
const test = require('node:test');
const assert = require('node:assert/strict');
const { pmc } = require('./pkg');
const { startMemcached, closedAddress } = require('./memcached');

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const NON_ASCII = 'key contains non-ASCII characters and allow_unicode_keys is off';
// pymemcache 4.0.0's HashClient over these nodes places these keys so, as
// str keys (text) and as bytes keys (it hashes the repr b'...').
const FIXED_NODES = ['127.0.0.1:11211', '127.0.0.1:11212', '127.0.0.1:11213'];
const PLACEMENT = {
  a: ['127.0.0.1:11213', '127.0.0.1:11211'],
  foo: ['127.0.0.1:11213', '127.0.0.1:11212'],
  key1: ['127.0.0.1:11212', '127.0.0.1:11213'],
  'user:42': ['127.0.0.1:11212', '127.0.0.1:11212'],
};

let server1;
let server2;
let seq = 0;
const clients = [];
const key = (name) => `jsk-${name}-${process.pid}-${++seq}`;

function client(servers = server1.address, opts = {}) {
  const c = new pmc.Client(servers, { timeout: 5000, connectTimeout: 2000, ...opts });
  clients.push(c);
  return c;
}

const illegal = (what, pattern) => (e) => {
  assert.ok(e instanceof pmc.IllegalInputError, `${what}: ${e}`);
  assert.equal(e.status, pmc.Status.ILLEGAL_INPUT, what);
  assert.equal(e.statusName, 'PMC_ILLEGAL_INPUT', what);
  assert.match(e.message, /PMC_ILLEGAL_INPUT/, what);
  if (pattern) assert.match(e.message, pattern, what);
  return true;
};

test.before(async () => {
  server1 = await startMemcached();
  server2 = await startMemcached();
});

test.after(() => {
  for (const c of clients) c.close();
  if (server1) server1.stop();
  if (server2) server2.stop();
});

test('Buffer keys take any byte but whitespace and NUL', async () => {
  const c = client(); // allowUnicodeKeys off: it does not apply to Buffer keys
  const uniq = Buffer.from(key('bk'));
  const other = [];
  for (let b = 1; b < 256; b++) {
    if ((b >= 9 && b <= 13) || (b >= 32 && b <= 126)) continue;
    other.push(b);
  }
  const keys = {
    'control bytes': Buffer.concat([uniq, Buffer.from([0x01, 0x1b, 0x7f, 0x1f])]),
    'UTF-8': Buffer.concat([uniq, Buffer.from('-clé-ключ-鍵', 'utf8')]),
    'invalid UTF-8': Buffer.concat([uniq, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80])]),
    'every other byte': Buffer.concat([uniq, Buffer.from(other)]),
  };
  for (const [name, k] of Object.entries(keys)) {
    const value = Buffer.concat([Buffer.from(`${name}|`), ALL_BYTES]);
    assert.equal(c.set(k, value, { flags: 5 }), true, name);
    assert.deepEqual(c.getItem(k), { value, flags: 5, cas: 0n }, name);
    const g = c.gets(k);
    assert.equal(c.cas(k, value, g.cas, { flags: 6 }), true, name);
    assert.equal(c.touch(k, 0), true, name);
    assert.equal(await c.touchAsync(k, 0), true, name);
    // A Uint8Array is bytes too.
    assert.equal(c.getItem(new Uint8Array(k)).flags, 6, name);
  }
  const list = Object.values(keys);
  const got = c.getMulti([...list, Buffer.from(key('bk-miss'))], { items: true });
  assert.equal(got.size, list.length);
  for (const k of list) assert.equal(got.get(k).flags, 6); // keyed by the Buffers given
  const gotAsync = await c.getMultiAsync(list);
  for (const [name, k] of Object.entries(keys)) assert.ok(gotAsync.get(k).subarray(0, name.length).equals(Buffer.from(name)));
  // An ASCII key is the same key as a string or a Buffer.
  assert.equal(c.getItem(keys['control bytes'].toString('latin1')).flags, 6);

  const ctr = Buffer.concat([Buffer.from(key('bk-ctr')), Buffer.from([0xe2, 0x82, 0xac, 0x01])]);
  c.set(ctr, '41');
  assert.equal(c.incr(ctr, 2), 43n);
  assert.equal(c.decr(ctr, 1), 42n);
  assert.equal(c.delete(ctr), true);
  assert.equal(await c.deleteAsync(ctr), false);
  // The length limit counts bytes.
  assert.equal(c.set(Buffer.alloc(250, 0xff), 'x'), true);
  assert.throws(() => c.set(Buffer.alloc(251, 0xff), 'x'), illegal('251 bytes', /too long/));
});

test('whitespace and NUL keys are refused as strings and as Buffers', async () => {
  // Nothing listens there: had anything been sent, this would be a
  // connection error.
  for (const allowUnicodeKeys of [false, true]) {
    const c = client(await closedAddress(), { allowUnicodeKeys });
    for (const sep of [' ', '\t', '\n', '\r', '\v', '\f', '\0']) {
      for (const k of [`a${sep}b`, `${sep}lead`, `trail${sep}`, `é${sep}`]) {
        const forms = [Buffer.from(k, 'utf8')];
        if (/^[\x00-\x7f]*$/.test(k) || allowUnicodeKeys) forms.push(k); // else refused as non-ASCII first
        for (const form of forms) {
          const what = `allow=${allowUnicodeKeys} ${JSON.stringify(k)} as ${typeof form}`;
          const bad = illegal(what, /whitespace|null/);
          assert.throws(() => c.get(form), bad);
          assert.throws(() => c.set(form, 'v'), bad);
          assert.throws(() => c.getMulti(['fine', form]), bad);
          assert.throws(() => c.touch(form, 0), bad);
          assert.throws(() => c.delete(form), bad);
          assert.throws(() => c.incr(form), bad);
          // Async errors of the library carry no message (it is per thread).
          await assert.rejects(c.getAsync(form), illegal(what));
          await assert.rejects(c.touchAsync(form), illegal(what));
        }
      }
    }
    // A legal key on the same client does go to the (missing) server.
    assert.throws(() => c.get(Buffer.from([0x01, 0xff])), pmc.ConnectionError);
  }
});

test('non-ASCII string keys: refused without allowUnicodeKeys, UTF-8 with it', async () => {
  const closed = client(await closedAddress());
  const k = 'clé';
  const calls = {
    get: () => closed.get(k),
    getItem: () => closed.getItem(k),
    gets: () => closed.gets(k),
    getMulti: () => closed.getMulti(['fine', k]),
    set: () => closed.set(k, 'v'),
    delete: () => closed.delete(k),
    touch: () => closed.touch(k, 0),
    incr: () => closed.incr(k),
    decr: () => closed.decr(k),
    cas: () => closed.cas(k, 'v', 1n),
    serverForKey: () => closed.serverForKey(k),
    'lone surrogate': () => closed.get('bad\ud800'),
  };
  for (const [op, call] of Object.entries(calls)) {
    assert.throws(call, illegal(op, new RegExp(NON_ASCII)));
  }
  for (const p of [closed.getAsync(k), closed.setAsync(k, 'v'), closed.touchAsync(k), closed.getMultiAsync([k]),
    closed.deleteAsync(k), closed.incrAsync(k), closed.casAsync(k, 'v', 1n)]) {
    await assert.rejects(p, illegal('async', new RegExp(NON_ASCII)));
  }

  // With allowUnicodeKeys the UTF-8 bytes are stored: a Buffer key of the
  // same bytes, on a client without the option, reads them back.
  const uni = client(server1.address, { allowUnicodeKeys: true });
  const plain = client();
  const text = `${key('uni')}-clé-ключ-鍵-🔑`;
  assert.equal(uni.set(text, 'unicode', { flags: 3 }), true);
  assert.deepEqual(plain.getItem(Buffer.from(text, 'utf8')), { value: Buffer.from('unicode'), flags: 3, cas: 0n });
  assert.throws(() => plain.get(text), illegal('same text without the option'));
  const got = await uni.getMultiAsync([text, `${key('uni-miss')}-é`]);
  assert.deepEqual([...got.keys()], [text]);
  assert.equal(await uni.touchAsync(text, 0), true);
  assert.equal(uni.delete(text), true);
  // The limit counts UTF-8 bytes: 125 'é' are 250 bytes, 126 are 252.
  assert.equal(uni.set('é'.repeat(125), 'x'), true);
  assert.throws(() => uni.set('é'.repeat(126), 'x'), illegal('252 bytes', /too long/));
  // A lone surrogate has no UTF-8: not text.
  assert.throws(() => uni.set(`${key('uni-bad')}\udc00`, 'x'), illegal('lone surrogate', /not valid Unicode/));
  assert.throws(() => uni.set(`\ud83d${key('uni-bad')}`, 'x'), illegal('lone high surrogate', /not valid Unicode/));
});

test('touch follows the noreply default', async () => {
  const c = client(); // the binding's default: noreply off, touch waits
  const k = key('touch');
  c.set(k, 'x');
  assert.equal(c.touch(k, 3600), true);
  assert.deepEqual(c.get(k), Buffer.from('x'));
  const missing = key('touch-missing');
  assert.equal(c.touch(missing, 10), false);
  assert.equal(await c.touchAsync(missing, 10), false);
  // The exptime reaches the server: a negative one expires the item.
  assert.equal(await c.touchAsync(k, -1), true);
  assert.equal(c.get(k), null);

  // With noreply the outcome is not known: true, as pymemcache's
  // touch(noreply=None) under default_noreply.
  const nr = client(server1.address, { noreply: true });
  assert.equal(nr.touch(missing, 10), true);
  assert.equal(await nr.touchAsync(missing, 10), true);
  const k2 = key('touch-nr');
  c.set(k2, 'y');
  assert.equal(nr.touch(k2, -1), true);
  assert.equal(nr.get(k2), null, 'the noreply touch did not reach the server');
  assert.throws(() => c.touch('bad key'), illegal('touch of an illegal key'));
});

test('hashKeyForm: placement as pymemcache 4.0.0 places str and bytes keys', () => {
  // Placement needs no connection: nothing needs to listen on these ports.
  const byDefault = client(FIXED_NODES);
  const text = client(FIXED_NODES, { hashKeyForm: 'text' });
  const bytes = client(FIXED_NODES, { hashKeyForm: 'python_bytes' });
  for (const [k, [onText, onBytes]] of Object.entries(PLACEMENT)) {
    assert.equal(byDefault.serverForKey(k), onText, `default ${k}`);
    assert.equal(text.serverForKey(k), onText, `text ${k}`);
    assert.equal(text.serverForKey(Buffer.from(k)), onText, `text ${k} (Buffer)`);
    assert.equal(bytes.serverForKey(k), onBytes, `python_bytes ${k}`);
    assert.equal(bytes.serverForKey(Buffer.from(k)), onBytes, `python_bytes ${k} (Buffer)`);
  }
  for (const bad of ['bytes', 'repr', 1, 'toString']) {
    assert.throws(() => new pmc.Client(FIXED_NODES, { hashKeyForm: bad }),
      (e) => e instanceof pmc.InvalidArgumentError && e.status === pmc.Status.INVALID_ARGUMENT, String(bad));
  }
});

test('hashKeyForm: keys are stored on the server serverForKey names', () => {
  const servers = [server1.address, server2.address];
  const opts = { retryAttempts: 0, deadTimeout: 30000 };
  const text = client(servers, { ...opts, hashKeyForm: 'text' });
  const bytes = client(servers, { ...opts, hashKeyForm: 'python_bytes' });
  const direct = new Map(servers.map((s) => [s, client(s)]));
  let moved = 0;
  for (let i = 0; i < 40; i++) {
    const k = key('form');
    if (text.serverForKey(k) !== bytes.serverForKey(k)) moved++;
    // Each form's client stores the key on the server it names, and only
    // there.
    for (const [c, form] of [[text, 'text'], [bytes, 'bytes']]) {
      const kk = `${k}-${form}`;
      const on = c.serverForKey(kk);
      c.set(kk, form);
      for (const [addr, d] of direct) {
        assert.deepEqual(d.get(kk), addr === on ? Buffer.from(form) : null, `${form} key ${kk} on ${addr}, placed on ${on}`);
      }
    }
  }
  // About half of the keys move; none moving would mean the form is ignored.
  assert.ok(moved >= 5 && moved <= 35, `${moved} of 40 keys placed differently by the two forms`);
});
