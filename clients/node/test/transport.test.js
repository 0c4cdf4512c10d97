'use strict';
// The SP transports against one daemon: ipc://, abstract://, tcp:// and
// tls+tcp:// (certificates made here with openssl), and the errors of a
// broker URL that does not work.
const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Daemon, freeTcpPort, sleep, sockbroker } = require('./support.js');

const skip = process.env.SOCKBROKERD ? false : 'SOCKBROKERD is not set (meson test sets it)';
const LISTENER_WAIT_MS = 10000;

describe('transports', { skip }, () => {
  let daemon;
  let tcpUrl;
  let tlsUrl;
  let abstractUrl;
  let certs;

  before(async () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'sockbroker-nodetls-'));
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
      '-days', '2', '-subj', '/CN=sockbroker test CA');
    for (const name of ['server', 'client']) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`,
        '-subj', `/CN=${name === 'server' ? '127.0.0.1' : 'node test client'}`);
      fs.writeFileSync(path.join(dir, `${name}.ext`), name === 'server'
        ? 'subjectAltName=IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
      fs.writeFileSync(path.join(dir, `${name}.pem`), Buffer.concat([
        fs.readFileSync(path.join(dir, `${name}.crt`)), fs.readFileSync(path.join(dir, `${name}.key`))]));
    }
    certs = { dir, ca: path.join(dir, 'ca.pem'), server: path.join(dir, 'server.pem'),
      client: path.join(dir, 'client.pem') };
    tcpUrl = `tcp://127.0.0.1:${await freeTcpPort()}`;
    tlsUrl = `tls+tcp://127.0.0.1:${await freeTcpPort()}`;
    abstractUrl = `abstract://sockbroker-nodetest-${process.pid}`;
    daemon = await Daemon.start({ tls: { cert_key_file: certs.server, ca_file: certs.ca } },
      [tcpUrl, tlsUrl, abstractUrl]);
  });

  after(async () => {
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
    if (daemon) assert.equal(await daemon.stop(), 0, `the daemon exits 0:\n${daemon.log()}`);
  });

  /**
   * Whether this Node pads abstract names: listen on one with Node itself
   * and read the name the kernel shows in /proc/net/unix.
   */
  async function fetchAbstractPadding() {
    const name = `sockbroker-nodetest-probe-${process.pid}`;
    const server = require('node:net').createServer();
    await new Promise((resolve, reject) => server.once('error', reject).listen({ path: `\0${name}` }, resolve));
    try {
      const table = fs.readFileSync('/proc/net/unix', 'utf8');
      const line = table.split('\n').find((l) => l.includes(`@${name}`));
      return { padded: Boolean(line && line.includes(`@${name}@`)) };
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  /** A socketpair round trip over `url`, retried while the listener starts (bounded). */
  async function roundTrip(url) {
    const deadline = Date.now() + LISTENER_WAIT_MS;
    for (;;) {
      const client = new sockbroker.Client({ url });
      try {
        const [a, b] = await client.socketpair();
        await client.sendall(a, Buffer.from(`over ${url}`));
        assert.equal((await client.recv(b, 100)).toString(), `over ${url}`);
        return;
      } catch (err) {
        if (err.name !== 'BrokerConnectionError' || Date.now() > deadline) throw err;
        await sleep(50);
      } finally {
        client.end();
      }
    }
  }

  test('ipc://', () => roundTrip(daemon.url));
  test('abstract://', async () => {
    const probe = await fetchAbstractPadding();
    if (!probe.padded) return roundTrip(abstractUrl);
    // This Node connects to NUL-padded names: the daemon's exact-length name
    // is out of its reach, and the error says so.
    const err = await new sockbroker.Client({ url: abstractUrl }).socket().catch((e) => e);
    assert.equal(err.code, 'ECONNREFUSED');
    assert.match(err.message, /pads abstract socket names .* give Node clients an ipc:\/\/ or tcp:\/\/ listener/);
  });
  test('tcp://', () => roundTrip(tcpUrl));

  test('tls+tcp:// with a client certificate', async () => {
    const saved = { ...process.env };
    process.env.SOCKBROKER_TLS_CA_FILE = certs.ca;
    process.env.SOCKBROKER_TLS_CERT_KEY_FILE = certs.client;
    try {
      await roundTrip(tlsUrl);
    } finally {
      process.env = saved;
    }
  });

  test('tls+tcp:// without the files says which are needed', async () => {
    const saved = { ...process.env };
    delete process.env.SOCKBROKER_TLS_CA_FILE;
    delete process.env.SOCKBROKER_TLS_CERT_KEY_FILE;
    try {
      const err = await new sockbroker.Client({ url: tlsUrl }).socket().catch((e) => e);
      assert.match(err.message, /SOCKBROKER_TLS_CA_FILE.*SOCKBROKER_TLS_CERT_KEY_FILE/);
    } finally {
      process.env = saved;
    }
  });

  test('a URL that is not a broker', async () => {
    assert.throws(() => sockbroker.parseUrl('udp://1.2.3.4:5'), /unknown scheme/);
    assert.throws(() => sockbroker.parseUrl('tcp://host'), /HOST:PORT/);
    assert.deepEqual(sockbroker.parseUrl('abstract://a%00b'), { scheme: 'abstract', path: '\0a\0b' });
    assert.deepEqual(sockbroker.parseUrl('tcp://[::1]:7070'), { scheme: 'tcp', host: '::1', port: 7070 });
  });
});
