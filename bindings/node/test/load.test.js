'use strict';

// Finding the C library: PYMEMCACHE_LIB, then pkg-config's libdir, then the
// system loader; when nothing loads, the error names every path tried and
// PYMEMCACHE_LIB.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { pmc, main } = require('./pkg');

// Load the package in a fresh process with `env`; its libraryPath, or the
// load error's message.
function loadWith(env) {
  const r = spawnSync(process.execPath, ['-e',
    `try { console.log('PATH=' + require(${JSON.stringify(main)}).libraryPath) } ` +
    'catch (e) { console.log("ERROR=" + e.code + " " + e.message); }'], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// The file this process loaded the library from (Linux).
const realLib = (() => {
  assert.ok(pmc.libraryVersion());
  const line = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => /libpymemcache[^/]*$/.test(l));
  return line.slice(line.indexOf('/'));
})();

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pmc-load-'));
}

test('PYMEMCACHE_LIB wins, and a wrong one is named in the error', () => {
  assert.equal(loadWith({ PYMEMCACHE_LIB: realLib }), `PATH=${realLib}`);
  const out = loadWith({ PYMEMCACHE_LIB: '/nonexistent/libpymemcache.so' });
  assert.match(out, /^ERROR=PYMEMCACHE_LIB_NOT_FOUND /);
  assert.match(out, /\/nonexistent\/libpymemcache\.so \(PYMEMCACHE_LIB\)/);
  assert.match(out, /PYMEMCACHE_LIB is set/);
});

test('pkg-config: the libdir of pymemcache.pc', () => {
  const dir = tmpdir();
  try {
    fs.mkdirSync(path.join(dir, 'lib', 'pkgconfig'), { recursive: true });
    fs.symlinkSync(realLib, path.join(dir, 'lib', 'libpymemcache.so.0'));
    fs.writeFileSync(path.join(dir, 'lib', 'pkgconfig', 'pymemcache.pc'),
      `prefix=${dir}\nlibdir=\${prefix}/lib\nName: pymemcache\nDescription: test\nVersion: 0.1.0\n` +
      'Libs: -L${libdir} -lpymemcache\n');
    const got = loadWith({ PKG_CONFIG_PATH: path.join(dir, 'lib', 'pkgconfig') });
    assert.equal(got, `PATH=${path.join(dir, 'lib', 'libpymemcache.so.0')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nothing found: the error names every path tried and PYMEMCACHE_LIB', () => {
  const dir = tmpdir();
  try {
    // A .pc whose libdir holds no library, and no system install: everything fails.
    fs.mkdirSync(path.join(dir, 'pkgconfig'));
    fs.writeFileSync(path.join(dir, 'pkgconfig', 'pymemcache.pc'),
      `libdir=${dir}/nolib\nName: pymemcache\nDescription: test\nVersion: 0.1.0\nLibs: -lpymemcache\n`);
    const out = loadWith({ PKG_CONFIG_PATH: path.join(dir, 'pkgconfig'), PKG_CONFIG_LIBDIR: path.join(dir, 'pkgconfig') });
    if (out.startsWith('PATH=')) {
      // The library is installed where the system loader finds it.
      assert.equal(out, 'PATH=libpymemcache.so.0');
      return;
    }
    for (const p of [`${dir}/nolib/libpymemcache.so.0 (pkg-config libdir)`, `${dir}/nolib/libpymemcache.so (pkg-config libdir)`,
      'libpymemcache.so.0 (system loader)', 'libpymemcache.so (system loader)', 'set PYMEMCACHE_LIB']) {
      assert.ok(out.includes(p), `${p} in ${out}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
