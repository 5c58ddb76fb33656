'use strict';

// Starts memcached on a free loopback port for a test file, and stops it.
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');

function memcachedBinary() {
  if (process.env.MEMCACHED) return process.env.MEMCACHED;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, 'memcached');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch (_) { /* next */ }
  }
  return '/usr/bin/memcached';
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// extraArgs: more memcached options (e.g. ['-A'] to allow shutdown).
async function startMemcached(extraArgs = []) {
  let lastError;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', '-c', '1024', ...extraArgs];
    if (process.getuid && process.getuid() === 0) args.push('-u', 'root');
    const child = spawn(memcachedBinary(), args, { stdio: ['ignore', 'ignore', 'inherit'] });
    let exited = false;
    child.once('exit', () => { exited = true; });
    child.once('error', (e) => { exited = true; lastError = e; });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !exited) {
      if (await canConnect(port)) {
        return {
          address: `127.0.0.1:${port}`,
          exited: () => exited,
          stop() {
            if (!exited) child.kill('SIGKILL');
          },
        };
      }
      await sleep(20);
    }
    if (!exited) child.kill('SIGKILL');
    lastError = lastError || new Error(`memcached on port ${port} did not start`);
  }
  throw lastError;
}

async function closedAddress() {
  return `127.0.0.1:${await freePort()}`;
}

module.exports = { startMemcached, closedAddress, freePort };
