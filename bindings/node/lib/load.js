'use strict';

// Finding and loading libpymemcache: PYMEMCACHE_LIB, then the libdir that
// pkg-config gives for the installed C library, then the system loader's
// search (ld.so.cache, LD_LIBRARY_PATH). When nothing loads, the error names
// every path tried, why each failed, and PYMEMCACHE_LIB.

const { execFileSync } = require('child_process');
const path = require('path');
const koffi = require('koffi');

/** File names of the shared library on this platform, soname first. */
function libraryNames() {
  if (process.platform === 'darwin') return ['libpymemcache.0.dylib', 'libpymemcache.dylib'];
  if (process.platform === 'win32') return ['pymemcache.dll'];
  return ['libpymemcache.so.0', 'libpymemcache.so'];
}

/** The installed library's directory from `pkg-config --variable=libdir`, or null. */
function pkgConfigLibdir() {
  try {
    const out = execFileSync('pkg-config', ['--variable=libdir', 'pymemcache'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10000,
    }).trim();
    return out || null;
  } catch (_) {
    return null; // no pkg-config, or no pymemcache.pc on its path
  }
}

/** Candidates in order: [where it came from, path or name]. */
function candidates(env = process.env) {
  if (env.PYMEMCACHE_LIB) return [['PYMEMCACHE_LIB', env.PYMEMCACHE_LIB]];
  const list = [];
  const libdir = pkgConfigLibdir();
  if (libdir) for (const n of libraryNames()) list.push(['pkg-config libdir', path.join(libdir, n)]);
  for (const n of libraryNames()) list.push(['system loader', n]);
  return list;
}

/** The loaded koffi library; throws an Error naming every path tried. */
function loadLibrary(env = process.env) {
  const tried = [];
  for (const [from, p] of candidates(env)) {
    try {
      return { lib: koffi.load(p), path: p };
    } catch (e) {
      tried.push(`  ${p} (${from}): ${String(e.message).split('\n')[0]}`);
    }
  }
  const hint = env.PYMEMCACHE_LIB
    ? 'PYMEMCACHE_LIB is set, so nothing else was tried; point it at libpymemcache.so'
    : 'set PYMEMCACHE_LIB to the path of libpymemcache.so, or install the C library ' +
      '(scripts/install.sh) where pkg-config (PKG_CONFIG_PATH) or the system loader finds it';
  const err = new Error(`pymemcache: cannot load the C library libpymemcache; tried:\n${tried.join('\n')}\n${hint}`);
  err.code = 'PYMEMCACHE_LIB_NOT_FOUND';
  err.tried = tried;
  throw err;
}

module.exports = { loadLibrary, candidates };
