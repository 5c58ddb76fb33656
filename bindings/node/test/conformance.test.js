'use strict';

// tests/conformance/cases.txt against a real memcached (through the sync and
// the *Async methods) and against the mock client.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { pmc } = require('./pkg');
const { startMemcached } = require('./memcached');
const { runTable } = require('./conformance');

// The table, from PMC_CONFORMANCE_CASES or the checkout this suite sits in.
const CASES = process.env.PMC_CONFORMANCE_CASES ||
  path.resolve(__dirname, '../../../tests/conformance/cases.txt');

// As the C and Rust drivers: the library's noreply default (the table's
// reply=default lines expect it), a timeout so a hung server fails the run.
const OPTS = { timeout: 10000, noDelay: true, noreply: true };

const RAW = fs.readFileSync(CASES, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const TOTALS = { cases: RAW.filter((l) => l.startsWith('== ')).length, lines: RAW.filter((l) => !l.startsWith('== ')).length };

let server;
test.before(async () => { server = await startMemcached(); });
test.after(() => { if (server) server.stop(); });

for (const [kind, async] of [['memcached', false], ['memcached async', true], ['mock', false]]) {
  test(`conformance table: ${kind}`, async (t) => {
    const makeClient = kind === 'mock' ? () => pmc.Client.mock(OPTS) : () => new pmc.Client(server.address, OPTS);
    const r = await runTable(CASES, { makeClient, flush: kind !== 'mock', async });
    assert.deepEqual(r.diffs, []);
    // Every command line and case of the file ran (counted from the raw text).
    assert.deepEqual({ cases: r.cases, lines: r.lines }, TOTALS);
    t.diagnostic(`conformance: ${r.lines} lines in ${r.cases} cases conform (client kind: ${kind})`);
  });
}
