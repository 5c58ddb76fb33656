'use strict';

// Each failed call carries the library's message of that very call, also
// when many *Async calls fail at once on koffi's worker threads: dead
// servers on different ports and keys the library refuses for different
// reasons, all in flight together.

const test = require('node:test');
const assert = require('node:assert/strict');
const { pmc } = require('./pkg');
const { closedAddress } = require('./memcached');

test('concurrent async failures each reject with their own message', async () => {
  const dead = await Promise.all(Array.from({ length: 8 }, () => closedAddress()));
  const deadClients = dead.map((a) => new pmc.Client(a, { timeout: 1000, connectTimeout: 1000 }));
  const pooled = pmc.Client.mock({ usePooling: true });
  try {
    const calls = [];
    for (let round = 0; round < 4; round++) {
      deadClients.forEach((c, i) => calls.push({
        p: round % 2 ? c.getAsync('k') : c.setAsync('k', 'v'),
        want: (e) => e instanceof pmc.ConnectionError && e.message.includes(`(server ${dead[i]})`) &&
          /refused/i.test(e.message),
      }));
      // Bytes keys go to the library as they are; it names the offending byte.
      for (let pos = 1; pos <= 6; pos++) {
        const k = Buffer.alloc(pos + 2, 0x61);
        k[pos] = 0x20;
        calls.push({
          p: pooled.getAsync(k),
          want: (e) => e instanceof pmc.IllegalInputError &&
            e.message.endsWith(`key contains whitespace (0x20) at byte ${pos}`),
        });
      }
      for (const len of [251, 260, 300 + round]) {
        calls.push({
          p: pooled.deleteAsync(Buffer.alloc(len, 0x62)),
          want: (e) => e instanceof pmc.IllegalInputError &&
            e.message.includes(`key is too long: ${len} bytes with prefix, the limit is 250`),
        });
      }
    }
    const results = await Promise.allSettled(calls.map((c) => c.p));
    results.forEach((r, i) => {
      assert.equal(r.status, 'rejected', `call ${i} should fail`);
      assert.ok(calls[i].want(r.reason), `call ${i}: ${r.reason && r.reason.message}`);
    });
    assert.equal(results.length, 4 * (8 + 6 + 3));
  } finally {
    for (const c of deadClients) c.close();
    pooled.close();
  }
});
