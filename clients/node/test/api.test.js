'use strict';
// The low-level promise API against the real daemon: results in the
// reference's forms, Node-shaped errors, sessions, and the event loop.
const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Daemon, run, sockbroker } = require('./support.js');

const skip = process.env.SOCKBROKERD ? false : 'SOCKBROKERD is not set (meson test sets it)';

describe('low-level API', { skip }, () => {
  let daemon;
  let client;
  let k;

  before(async () => {
    daemon = await Daemon.start();
    client = new sockbroker.Client({ url: daemon.url });
    k = await client.constants();
  });

  after(async () => {
    client?.end();
    if (daemon) assert.equal(await daemon.stop(), 0, `the daemon exits 0:\n${daemon.log()}`);
  });

  test('Hello gives the daemon constants', () => {
    assert.equal(typeof k.AF_INET, 'number');
    assert.equal(typeof k.ECONNREFUSED, 'number');
  });

  test('a TCP round trip through socket, bind, listen, connect, accept', async () => {
    const server = await client.socket(k.AF_INET, k.SOCK_STREAM);
    await client.bind(server, ['127.0.0.1', 0]);
    await client.listen(server, 5);
    const [host, port] = await client.getsockname(server);
    assert.equal(host, '127.0.0.1');
    assert.ok(port > 0);
    const c = await client.socket(k.AF_INET, k.SOCK_STREAM);
    await client.connect(c, [host, port]);
    const [conn, peer] = await client.accept(server);
    assert.deepEqual(peer, await client.getsockname(c));
    assert.equal(await client.sendall(c, Buffer.from('ping')), 4);
    assert.equal((await client.recv(conn, 100)).toString(), 'ping');
    await client.shutdown(c, k.SHUT_WR);
    assert.equal((await client.recv(conn, 100)).length, 0, 'end of stream is an empty read');
    for (const h of [c, conn, server]) await client.close(h);
  });

  test('errors are Node errors with code, errno and syscall', async () => {
    const s = await client.socket(k.AF_INET, k.SOCK_STREAM);
    const err = await client.connect(s, ['127.0.0.1', 1]).catch((e) => e);
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.errno, -require('node:os').constants.errno.ECONNREFUSED);
    assert.equal(err.syscall, 'connect');
    assert.equal(err.kind, 'os');
    assert.equal(await client.connectEx(s, ['127.0.0.1', 1]) > 0, true);
    await client.close(s);
    const bad = await client.recv(s, 1).catch((e) => e);
    assert.equal(bad.code, 'EBADF');
    assert.equal(bad.kind, 'bad_handle');
  });

  test('timeout mode answers a timeout error', async () => {
    const [a, b] = await client.socketpair();
    await client.settimeout(a, 0.05);
    assert.equal(await client.gettimeout(a), 0.05);
    const err = await client.recv(a, 10).catch((e) => e);
    assert.equal(err.code, 'ETIMEDOUT');
    assert.equal(err.kind, 'timeout');
    await client.settimeout(a, 0);
    assert.equal((await client.recv(a, 10).catch((e) => e)).code, 'EAGAIN');
    await client.close(a);
    await client.close(b);
  });

  test('an AbortSignal cancels a waiting call', async () => {
    const [a, b] = await client.socketpair();
    const controller = new AbortController();
    const waiting = client.recv(a, 10, 0, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const err = await waiting.catch((e) => e);
    assert.equal(err.kind, 'cancelled');
    assert.equal(err.code, 'ECANCELED');
    await client.close(a);
    await client.close(b);
  });

  test('SCM_RIGHTS passes a handle and recvmsg names the new one', async () => {
    const [a, b] = await client.socketpair(k.AF_UNIX, k.SOCK_STREAM);
    const udp = await client.socket(k.AF_INET, k.SOCK_DGRAM);
    await client.sendmsg(a, [Buffer.from('x')], [{ level: k.SOL_SOCKET, type: k.SCM_RIGHTS, rights: [udp] }]);
    const msg = await client.recvmsg(b, 10, await client.cmsgSpace(4));
    assert.equal(msg.data.toString(), 'x');
    assert.equal(msg.ancillary.length, 1);
    const [received] = msg.ancillary[0].rights;
    assert.ok(received > 0 && received !== udp);
    await client.bind(received, ['127.0.0.1', 0]);
    assert.deepEqual(await client.getsockname(received), await client.getsockname(udp));
    for (const h of [a, b, udp, received]) await client.close(h);
  });

  test('name service: getaddrinfo and a name that does not resolve', async () => {
    const infos = await client.getaddrinfo('127.0.0.1', 80, k.AF_INET, k.SOCK_STREAM);
    assert.deepEqual(infos[0][4], ['127.0.0.1', 80]);
    const err = await client.gethostbyname('name.invalid').catch((e) => e);
    assert.equal(err.kind, 'gai');
    assert.equal(err.code, 'ENOTFOUND');
  });

  test('a program whose calls are all done exits by itself', async () => {
    const script = `const { Client } = require(${JSON.stringify(require('./support.js').packageDir)});
      const c = new Client({ url: ${JSON.stringify(daemon.url)} });
      c.socketpair().then(([a]) => c.send(a, Buffer.from('x'))).then(() => console.log('done'));`;
    const result = await run([process.execPath, '-e', script], { timeoutMs: 10000 });
    assert.equal(result.timedOut, false, 'the idle connection must not keep the process alive');
    assert.equal(result.stdout.trim(), 'done', result.stderr);
  });

  test('a lost daemon fails the waiting calls, and the sockets with it', async () => {
    const doomed = await Daemon.start();
    const lone = new sockbroker.Client({ url: doomed.url });
    const [a] = await lone.socketpair();
    const waiting = lone.recv(a, 10).catch((e) => e);
    const socket = sockbroker.net.connect({ port: 1, host: '127.0.0.1', client: lone });
    socket.on('error', () => undefined);
    await doomed.kill();
    const err = await waiting;
    assert.equal(err.name, 'BrokerConnectionError');
    assert.equal(err.code, 'ECONNRESET');
    assert.match(err.message, /the connection to the broker at ipc:.* was lost/);
    const again = await lone.recv(a, 10).catch((e) => e);
    assert.equal(again.name, 'BrokerConnectionError', 'a socket of a lost session stays dead');
  });

  test('a daemon that is not there is a clear error', async () => {
    const lone = new sockbroker.Client({ url: `ipc://${path.join(daemon.dir, 'nothing.sock')}` });
    const err = await lone.socket().catch((e) => e);
    assert.equal(err.code, 'ENOENT');
    assert.match(err.message, /cannot connect to the broker at ipc:.*is sockbrokerd running there/);
  });
});
