'use strict';
// Unmodified Node programs in a process with no network at all (unshare -n)
// reach the host through the daemon when started with
// `--require sockbroker/register`, and fail without it. Needs root (for
// unshare) and $SOCKBROKERD; skips otherwise.
const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const path = require('node:path');
const { Daemon, canUnshare, nodePathRoot, run } = require('./support.js');

const programs = path.join(__dirname, 'programs');
const skip = !process.env.SOCKBROKERD ? 'SOCKBROKERD is not set (meson test sets it)'
  : !canUnshare() ? 'unshare -n is not permitted here (needs root and util-linux)' : false;

describe('unmodified programs in unshare -n', { skip }, () => {
  let daemon;
  let nodePath;
  let httpServer;
  let httpsServer;
  let udpServer;
  let httpUrl;
  let httpsUrl;
  let udpPort;
  let caFile;

  before(async () => {
    daemon = await Daemon.start();
    nodePath = nodePathRoot(daemon.dir);
    httpServer = http.createServer((req, res) => res.end(`hello from the host ${req.url}`));
    await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    httpUrl = `http://127.0.0.1:${httpServer.address().port}/page`;

    // A CA and a server certificate for localhost, made here.
    const dir = daemon.dir;
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
      '-days', '2', '-subj', '/CN=sockbroker test CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
      '-subj', '/CN=localhost');
    fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
    caFile = path.join(dir, 'ca.pem');
    httpsServer = https.createServer({
      key: fs.readFileSync(path.join(dir, 'server.key')),
      cert: fs.readFileSync(path.join(dir, 'server.pem')),
    }, (req, res) => res.end(`secret from the host ${req.url}`));
    await new Promise((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
    httpsUrl = `https://localhost:${httpsServer.address().port}/tls`;

    udpServer = dgram.createSocket('udp4');
    udpServer.on('message', (msg, rinfo) => udpServer.send(`pong ${msg}`, rinfo.port, rinfo.address));
    await new Promise((resolve) => udpServer.bind(0, '127.0.0.1', resolve));
    udpPort = udpServer.address().port;
  });

  after(async () => {
    httpServer?.close();
    httpsServer?.close();
    udpServer?.close();
    httpServer?.closeAllConnections();
    httpsServer?.closeAllConnections();
    if (daemon) assert.equal(await daemon.stop(), 0, 'the daemon exits 0 on SIGTERM');
  });

  /** Run a program in unshare -n, brokered or not. */
  function sandboxed(program, args, { brokered, env = {}, timeoutMs = 30000, onStdout } = {}) {
    const childEnv = { ...process.env, ...env, SOCKBROKER_URL: daemon.url, NODE_PATH: nodePath };
    delete childEnv.NODE_OPTIONS;
    const argv = ['unshare', '-n', process.execPath];
    if (brokered) argv.push(program.endsWith('.mjs') ? '--import' : '--require', 'sockbroker/register');
    argv.push(path.join(programs, program), ...args);
    // --import resolves the package from the working directory.
    return run(argv, { env: childEnv, timeoutMs, onStdout, cwd: daemon.dir });
  }

  test('http.get of a page on the host', async () => {
    const without = await sandboxed('http-get.js', [httpUrl], { brokered: false });
    assert.notEqual(without.code, 0, `without the broker it must fail: ${without.stdout}`);
    assert.match(without.stderr, /http\.get failed: (ENETUNREACH|ECONNREFUSED)/);
    const brokered = await sandboxed('http-get.js', [httpUrl], { brokered: true });
    assert.equal(brokered.code, 0, brokered.stderr);
    assert.equal(brokered.stdout.trim(), '200 hello from the host /page');
  });

  test('global fetch', async () => {
    const without = await sandboxed('fetch.js', [httpUrl], { brokered: false });
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /fetch failed/);
    const brokered = await sandboxed('fetch.js', [httpUrl], { brokered: true });
    assert.equal(brokered.code, 0, brokered.stderr);
    assert.equal(brokered.stdout.trim(), '200 hello from the host /page');
  });

  test('fetch from an ES module with --import', async () => {
    const without = await sandboxed('fetch.mjs', [httpUrl], { brokered: false });
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /fetch failed/);
    const brokered = await sandboxed('fetch.mjs', [httpUrl], { brokered: true });
    assert.equal(brokered.code, 0, brokered.stderr);
    assert.equal(brokered.stdout.trim(), '200 hello from the host /page');
  });

  test('https with a CA from NODE_EXTRA_CA_CERTS', async () => {
    const env = { NODE_EXTRA_CA_CERTS: caFile };
    const without = await sandboxed('https-get.js', [httpsUrl], { brokered: false, env });
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /https\.get failed: (ENETUNREACH|ECONNREFUSED|EAI_AGAIN|ENOTFOUND)/);
    const brokered = await sandboxed('https-get.js', [httpsUrl], { brokered: true, env });
    assert.equal(brokered.code, 0, brokered.stderr);
    assert.equal(brokered.stdout.trim(), '200 secret from the host /tls');
    // The CA is what makes it work: without it the certificate is refused.
    const untrusted = await sandboxed('https-get.js', [httpsUrl], { brokered: true });
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /https\.get failed: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  });

  /** Start net-server.js, connect to the port it prints from the host. */
  async function serveOnce(brokered) {
    let answer = null;
    const result = await sandboxed('net-server.js', [], {
      brokered,
      timeoutMs: 20000,
      onStdout: (out, child) => {
        const m = /port (\d+)/.exec(out);
        if (!m || answer) return;
        answer = new Promise((resolve) => {
          const socket = net.connect(Number(m[1]), '127.0.0.1', () => socket.write('host\n'));
          let data = '';
          socket.on('data', (d) => { data += d; });
          socket.on('end', () => resolve(data));
          socket.on('error', (err) => {
            // Nobody will ever connect to it: stop the program.
            process.kill(child.pid, 'SIGKILL');
            resolve(`error ${err.code}`);
          });
        });
      },
    });
    return { result, answer: answer ? await answer : null };
  }

  test('net.createServer reached from the host', async () => {
    const without = await serveOnce(false);
    // Without the broker it either cannot listen or listens where the host
    // cannot reach it.
    assert.ok(without.answer === null || without.answer.startsWith('error'),
      `the host reached an unbrokered server: ${without.answer}`);
    assert.notEqual(without.result.code, 0);
    assert.equal(without.result.timedOut, false);
    const brokered = await serveOnce(true);
    assert.equal(brokered.result.code, 0, brokered.result.stderr);
    assert.equal(brokered.answer, 'hello host\n');
  });

  test('dgram round trip', async () => {
    const without = await sandboxed('dgram-echo.js', [String(udpPort)], { brokered: false });
    assert.notEqual(without.code, 0);
    const brokered = await sandboxed('dgram-echo.js', [String(udpPort)], { brokered: true });
    assert.equal(brokered.code, 0, brokered.stderr);
    assert.equal(brokered.stdout.trim(), 'reply pong ping');
  });
});
