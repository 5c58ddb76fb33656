'use strict';

// TLS (memcached -Z) and ASCII authentication (memcached -Y) against real
// memcached processes; certificates made by examples-c/tls-fixture.sh (the
// openssl command): PMC_TLS_FIXTURE, else the checkout's.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { pmc } = require('./pkg');
const { startMemcached } = require('./memcached');

let dir;
let tlsServer;
let authServer;
const clients = [];

function client(address, opts) {
  const c = new pmc.Client(address, { timeout: 3000, connectTimeout: 3000, reconnectBackoff: 0, ...opts });
  clients.push(c);
  return c;
}

function roundtrip(c) {
  c.set('tls-key', Buffer.from('over TLS'), { flags: 9 });
  const it = c.getItem('tls-key');
  assert.equal(Buffer.from(it.value).toString(), 'over TLS');
  assert.equal(it.flags, 9);
}

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmc-node-tls-'));
  const script = process.env.PMC_TLS_FIXTURE ||
    path.join(__dirname, '..', '..', '..', 'examples-c', 'tls-fixture.sh');
  execFileSync('bash', [script, 'certs', dir]);
  tlsServer = await startMemcached(['-Z', '-o',
    `ssl_chain_cert=${path.join(dir, 'server.pem')},ssl_key=${path.join(dir, 'server.key')}`]);
  fs.writeFileSync(path.join(dir, 'authfile'), 'node:s3cret\n');
  authServer = await startMemcached(['-Y', path.join(dir, 'authfile')]);
});

test.after(() => {
  for (const c of clients) c.close();
  if (tlsServer) tlsServer.stop();
  if (authServer) authServer.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('TLS with a CA file, single and pooled', () => {
  roundtrip(client(tlsServer.address, { tls: { caFile: path.join(dir, 'ca.pem'), minVersion: '1.2' } }));
  roundtrip(client(tlsServer.address, {
    usePooling: true,
    tls: { caDir: dir, serverName: 'localhost', systemRoots: true },
  }));
  roundtrip(client(tlsServer.address, { tls: { insecureNoVerifyTestingOnly: true } }));
  roundtrip(client(tlsServer.address, {
    tls: { caFile: path.join(dir, 'ca.pem'), clientCert: path.join(dir, 'client.pem'),
      clientKey: path.join(dir, 'client.key') },
  }));
});

test('TLS failures say what failed', () => {
  const unknown = client(tlsServer.address, { tls: { caFile: path.join(dir, 'other-ca.pem') } });
  assert.throws(() => unknown.version(), (e) => e instanceof pmc.TlsError && /unknown CA/.test(e.message));
  const mismatch = client(tlsServer.address, {
    tls: { caFile: path.join(dir, 'ca.pem'), serverName: 'cache.example.com' },
  });
  assert.throws(() => mismatch.version(), (e) => e instanceof pmc.TlsError && /name mismatch/.test(e.message));
  assert.throws(() => client(tlsServer.address, { tls: { caFile: path.join(dir, 'missing.pem') } }),
    (e) => e instanceof pmc.TlsError && e.status === pmc.Status.TLS_ERROR);
  assert.throws(() => client(tlsServer.address, { tls: { minVersion: '1.1' } }), pmc.InvalidArgumentError);
  const plain = client(tlsServer.address, {});
  assert.throws(() => plain.version(), (e) => e instanceof pmc.ConnectionError && /TLS/.test(e.message));
});

test('ASCII authentication', () => {
  roundtrip(client(authServer.address, { auth: { username: 'node', password: 's3cret' } }));
  const wrong = client(authServer.address, { auth: { username: 'node', password: 'nope' } });
  assert.throws(() => wrong.version(), (e) => e instanceof pmc.AuthError && e.statusName === 'PMC_AUTH_ERROR');
  const none = client(authServer.address, {});
  assert.throws(() => none.version(), pmc.AuthError);
  assert.throws(() => client(authServer.address, { auth: { username: 'a b', password: 'x' } }), pmc.ConfigError);
});
