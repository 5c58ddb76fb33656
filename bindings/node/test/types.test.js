'use strict';

// index.d.ts declares every command (sync and *Async come from one list
// there) and every export of index.js.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { pmc, dir } = require('./pkg');

const dts = fs.readFileSync(path.join(dir, 'index.d.ts'), 'utf8');

test('index.d.ts declares every command and export', () => {
  const body = dts.slice(dts.indexOf('interface Commands<'), dts.indexOf('\ntype Ret<'));
  const declared = new Set([...body.matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1]));
  const methods = Object.getOwnPropertyNames(pmc.Client.prototype)
    .filter((n) => !n.startsWith('_') && !['constructor', 'close', 'closed', 'asyncEngine', 'asyncEngineReason'].includes(n) &&
      !n.endsWith('Async'));
  assert.deepEqual([...declared].sort(), methods.sort());
  for (const m of methods) assert.equal(typeof pmc.Client.prototype[`${m}Async`], 'function', `${m}Async`);
  for (const name of Object.keys(pmc)) {
    assert.match(dts, new RegExp(`export (class|const|function|type|interface) ${name}\\b`), `export ${name}`);
  }
  for (const s of ['mock', 'fallback', 'retrying']) assert.match(dts, new RegExp(`static ${s}\\(`));
  for (const p of ['closed', 'asyncEngine', 'asyncEngineReason']) assert.match(dts, new RegExp(`readonly ${p}: `));
});
