'use strict';

// The event-loop engine of the per-key *Async methods and
// Batch#executeAsync: the Node-API addon native/pymemcache_async.c, which
// drives the library's non-blocking client (pmc_async_*) from Node's own
// libuv loop. No worker thread waits on memcached for those calls.
//
// The addon is compiled with the C compiler (CC, else cc) against Node's
// headers and the installed pymemcache.h, once: by `npm run build-addon`
// into the package's build/ directory, or on first use into that directory
// (or, when it is not writable, into ~/.cache/pymemcache-node). The file name
// carries a hash of the source, the header and the Node version, so a stale
// build is never loaded. At run time it dlopens the very library koffi
// loaded (lib/ffi.js), so no library path is linked into it.
//
// PYMEMCACHE_ASYNC: unset (the addon when it builds and the library has the
// non-blocking API, else worker threads with a warning), 'addon' (required:
// an error if it cannot be used), 'worker' (worker threads only).

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const PKG = path.resolve(__dirname, '..');
const SOURCE = path.join(PKG, 'native', 'pymemcache_async.c');

const hasFile = (dir, ...names) => Boolean(dir) && names.every((n) => fs.existsSync(path.join(dir, n)));

/** The directory holding Node's node_api.h and uv.h, or null. */
function nodeIncludeDir(env = process.env) {
  const prefix = (process.config && process.config.variables && process.config.variables.node_prefix) || '';
  const dirs = [
    env.PYMEMCACHE_NODE_INCLUDE,
    path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    prefix && path.join(prefix, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return dirs.find((d) => hasFile(d, 'node_api.h', 'uv.h')) || null;
}

/** `pkg-config --variable=includedir pymemcache`, or null. */
function pkgConfigIncludeDir() {
  try {
    return execFileSync('pkg-config', ['--variable=includedir', 'pymemcache'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000,
    }).trim() || null;
  } catch (_) {
    return null;
  }
}

/**
 * The directory holding the pymemcache.h that declares the non-blocking
 * API: PYMEMCACHE_INCLUDE, pkg-config's includedir, next to the library
 * (P/include for P/lib, the checkout's include/ for target/release), this
 * checkout's include/.
 */
function pmcIncludeDir(libraryPath, env = process.env) {
  const libDir = libraryPath && path.isAbsolute(libraryPath) ? path.dirname(libraryPath) : null;
  const dirs = [
    env.PYMEMCACHE_INCLUDE,
    pkgConfigIncludeDir(),
    libDir && path.join(libDir, '..', 'include'),
    libDir && path.join(libDir, '..', '..', 'include'),
    path.join(PKG, '..', '..', 'include'),
  ];
  return dirs.find((d) => hasFile(d, 'pymemcache.h') &&
    fs.readFileSync(path.join(d, 'pymemcache.h'), 'utf8').includes('pmc_async_new')) || null;
}

/** Where a build may go: the package's build/, else the user's cache. */
function buildDirs(env = process.env) {
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return [path.join(PKG, 'build'), path.join(cache, 'pymemcache-node')];
}

/** The compiler invocation and the output's file name for this source, header and Node. */
function plan(libraryPath, env = process.env) {
  const nodeInc = nodeIncludeDir(env);
  if (!nodeInc) {
    throw new Error('Node\'s headers (node_api.h, uv.h) not found: set PYMEMCACHE_NODE_INCLUDE ' +
      '(Debian\'s nodejs needs the libnode-dev package)');
  }
  const pmcInc = pmcIncludeDir(libraryPath, env);
  if (!pmcInc) {
    throw new Error('a pymemcache.h with the non-blocking API (pmc_async_new) not found: set ' +
      'PYMEMCACHE_INCLUDE, or install the C library (scripts/install.sh) where pkg-config finds it');
  }
  const cc = env.CC || 'cc';
  const hash = crypto.createHash('sha256');
  for (const f of [SOURCE, path.join(pmcInc, 'pymemcache.h'), path.join(nodeInc, 'node_api.h')]) {
    hash.update(fs.readFileSync(f));
  }
  hash.update(`${process.versions.node} ${process.arch} ${process.platform} ${cc}`);
  const name = `pymemcache_async-${hash.digest('hex').slice(0, 16)}.node`;
  const args = ['-O2', '-g', '-fPIC', '-shared', '-std=gnu11', '-Wall', '-Wextra',
    '-I', nodeInc, '-I', pmcInc, SOURCE];
  if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
  if (process.platform === 'linux') args.push('-ldl');
  return { cc, args, name };
}

/** Compile into the first writable build directory; the path of the addon. */
function build(libraryPath, env = process.env) {
  const { cc, args, name } = plan(libraryPath, env);
  const dir = buildDirs(env).find((d) => {
    try {
      fs.mkdirSync(d, { recursive: true });
      fs.accessSync(d, fs.constants.W_OK);
      return true;
    } catch (_) {
      return false;
    }
  });
  if (!dir) throw new Error(`no writable directory for the addon (${buildDirs(env).join(', ')})`);
  const out = path.join(dir, name);
  if (fs.existsSync(out)) return out;
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  try {
    execFileSync(cc, [...args, '-o', tmp], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
  } catch (e) {
    const detail = e.stderr ? String(e.stderr).trim().split('\n').slice(0, 12).join('\n') : e.message;
    throw new Error(`compiling the addon failed: ${cc} ${args.join(' ')}\n${detail}`);
  }
  fs.renameSync(tmp, out); // atomic: a concurrent build of the same name made the same file
  for (const f of fs.readdirSync(dir)) { // builds for an older source, header or Node
    if (/^pymemcache_async-[0-9a-f]{16}\.node$/.test(f) && f !== name) {
      try {
        fs.unlinkSync(path.join(dir, f));
      } catch (_) { /* in use or gone: harmless */ }
    }
  }
  return out;
}

/** An already built addon for this source, header and Node, or null. */
function findBuilt(libraryPath, env = process.env) {
  const { name } = plan(libraryPath, env);
  for (const dir of buildDirs(env)) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

let warned = false;

/**
 * {addon, batch, reason}: the loaded addon bound to the library at
 * libraryPath (addon null and reason set when the *Async methods stay on
 * worker threads).
 */
function loadAddon(libraryPath, env = process.env) {
  const mode = env.PYMEMCACHE_ASYNC || '';
  if (mode === 'worker') return { addon: null, batch: false, reason: 'PYMEMCACHE_ASYNC=worker' };
  try {
    const file = findBuilt(libraryPath, env) || build(libraryPath, env);
    const addon = require(file);
    const { batch } = addon.load(libraryPath);
    return { addon, batch, reason: null, file };
  } catch (e) {
    if (mode === 'addon') {
      throw new Error(`pymemcache: the event-loop addon is required (PYMEMCACHE_ASYNC=addon): ${e.message}`);
    }
    if (!warned) {
      warned = true;
      process.emitWarning(`async calls run on worker threads: ${e.message}`, { code: 'PYMEMCACHE_NO_ADDON' });
    }
    return { addon: null, batch: false, reason: e.message };
  }
}

module.exports = { loadAddon, build, plan, nodeIncludeDir, pmcIncludeDir };

// `node lib/addon.js [LIBRARY]` (npm run build-addon): build it now.
if (require.main === module) {
  const lib = process.argv[2] || require('./ffi').libraryPath;
  const file = build(lib);
  require(file).load(lib);
  console.log(`pymemcache: built ${file}`);
}
