'use strict';
// sockbroker.net, .dgram and .dns against the real daemon, with real
// servers of this process on 127.0.0.1.
const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const realNet = require('node:net');
const { Daemon, sockbroker } = require('./support.js');

const skip = process.env.SOCKBROKERD ? false : 'SOCKBROKERD is not set (meson test sets it)';
const { net, dgram, dns } = sockbroker;

describe('net, dgram and dns', { skip }, () => {
  let daemon;
  let echo;
  let echoPort;

  before(async () => {
    daemon = await Daemon.start();
    sockbroker.setDefaultClient(new sockbroker.Client({ url: daemon.url }));
    echo = realNet.createServer((s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    echoPort = echo.address().port;
  });

  after(async () => {
    echo?.close();
    sockbroker.defaultClient().end();
    if (daemon) assert.equal(await daemon.stop(), 0, `the daemon exits 0:\n${daemon.log()}`);
  });

  test('connect, data, end and close as net.Socket', async () => {
    const socket = net.connect(echoPort, '127.0.0.1');
    assert.equal(socket.connecting, true);
    await once(socket, 'connect');
    assert.equal(socket.remoteAddress, '127.0.0.1');
    assert.equal(socket.remotePort, echoPort);
    assert.equal(socket.address().family, 'IPv4');
    socket.setNoDelay(true).setKeepAlive(true, 1000);
    socket.end('hello');
    let data = '';
    socket.on('data', (d) => { data += d; });
    await once(socket, 'close');
    assert.equal(data, 'hello');
    assert.equal(socket.bytesWritten, 5);
    assert.equal(socket.bytesRead, 5);
  });

  test('write() reports back-pressure and drain follows', async () => {
    const socket = net.connect({ port: echoPort, host: '127.0.0.1', highWaterMark: 1024 });
    await once(socket, 'connect');
    const chunk = Buffer.alloc(4096, 0x61);
    assert.equal(socket.write(chunk), false, 'past the high-water mark write() returns false');
    await once(socket, 'drain');
    let received = 0;
    socket.on('data', (d) => {
      received += d.length;
      if (received === chunk.length) socket.end();
    });
    await once(socket, 'close');
    assert.equal(received, chunk.length);
  });

  test('a refused connection is an error event as Node reports it', async () => {
    const socket = net.createConnection(1, '127.0.0.1');
    const [err] = await once(socket, 'error');
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.syscall, 'connect');
    assert.equal(err.address, '127.0.0.1');
    assert.equal(err.port, 1);
    assert.equal(err.message, 'connect ECONNREFUSED 127.0.0.1:1');
  });

  test('setTimeout emits timeout on an idle socket', async () => {
    const socket = net.connect(echoPort, '127.0.0.1');
    await once(socket, 'connect');
    const started = Date.now();
    socket.setTimeout(50);
    await once(socket, 'timeout');
    assert.ok(Date.now() - started >= 45);
    socket.destroy();
    await once(socket, 'close');
  });

  test('createServer accepts connections made through the broker', async () => {
    const server = net.createServer((s) => s.end(`hi ${s.remoteAddress}`));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address();
    const plain = realNet.connect(port, '127.0.0.1');
    let data = '';
    plain.on('data', (d) => { data += d; });
    await once(plain, 'end');
    assert.equal(data, 'hi 127.0.0.1');
    server.close();
    await once(server, 'close');
  });

  test('dgram: bind, send, message', async () => {
    const a = dgram.createSocket('udp4');
    a.bind(0, '127.0.0.1');
    await once(a, 'listening');
    const b = dgram.createSocket('udp4');
    b.send('datagram', a.address().port, '127.0.0.1');
    const [msg, rinfo] = await once(a, 'message');
    assert.equal(msg.toString(), 'datagram');
    assert.equal(rinfo.address, '127.0.0.1');
    assert.equal(rinfo.family, 'IPv4');
    assert.equal(rinfo.size, 8);
    a.send('back', rinfo.port, rinfo.address);
    const [reply] = await once(b, 'message');
    assert.equal(reply.toString(), 'back');
    a.close();
    b.close();
    await once(b, 'close');
  });

  test('dns.lookup and dns.promises.lookup use the daemon', async () => {
    const { address, family } = await dns.promises.lookup('localhost', 4);
    assert.equal(address, '127.0.0.1');
    assert.equal(family, 4);
    const err = await dns.promises.lookup('name.invalid').catch((e) => e);
    assert.equal(err.code, 'ENOTFOUND');
    assert.equal(err.syscall, 'getaddrinfo');
    assert.equal(err.hostname, 'name.invalid');
    const all = await new Promise((resolve, reject) =>
      dns.lookup('127.0.0.1', { all: true }, (e, r) => (e ? reject(e) : resolve(r))));
    assert.deepEqual(all, [{ address: '127.0.0.1', family: 4 }]);
  });
});
