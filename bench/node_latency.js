#!/usr/bin/env node
'use strict';
// A 64-byte echo round trip from Node, side by side, in one run:
// - direct: Node's own net.Socket to the echo server (the kernel, no broker);
// - sockbroker net: sockbroker.net.connect(), the Duplex that behaves as
//   net.Socket (write, then wait for the 'data' event);
// - sockbroker API: the low-level promise API (sendall, then recv).
// The echo server is a separate Node process on 127.0.0.1. Prints medians
// (and p99) in microseconds and the ratio to direct.
//
// usage: node bench/node_latency.js [--build DIR] [--url URL] [--count N] [--quick]
//   --build DIR  build tree with server/sockbrokerd and the Node package built
//                by meson (tests/node/node_modules/sockbroker); default ./build
//   --url URL    use a running daemon instead of starting one
//   --count N    round trips per way (default 5000)
//   --quick      200 round trips, to check that everything runs
//
// Every process started here is stopped by its pid before the script exits.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SIZE = 64;
const START_TIMEOUT_MS = 20000;

const ECHO_SERVER = `
const net = require('node:net');
const server = net.createServer((s) => { s.setNoDelay(true); s.pipe(s); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

function parseArgs(argv) {
  const args = { build: path.join(ROOT, 'build'), url: null, count: 5000 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--build') args.build = path.resolve(argv[++i]);
    else if (argv[i] === '--url') args.url = argv[++i];
    else if (argv[i] === '--count') args.count = Number(argv[++i]);
    else if (argv[i] === '--quick') args.count = 200;
    else throw new Error(`unknown argument ${argv[i]} (see the comment at the top)`);
  }
  return args;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function startEchoServer(children) {
  const child = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the echo server did not start')), START_TIMEOUT_MS);
    child.stdout.once('data', (d) => { clearTimeout(timer); resolve(Number(String(d).trim())); });
  });
  return port;
}

async function startDaemon(build, children) {
  const binary = path.join(build, 'server', 'sockbrokerd');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockbroker-nodebench-'));
  const sock = path.join(dir, 'sockbroker.sock');
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ policy: { rules: [{ name: 'bench-allow-all', allow: true }] } }));
  // Its log and audit lines are not what this measures.
  const child = spawn(binary, ['--listen', `ipc://${sock}`, '--config', config, '--log-level', 'warn'],
    { stdio: 'ignore' });
  children.push(child);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!fs.existsSync(sock)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sockbrokerd (${binary}) did not start`);
    await sleep(10);
  }
  return { url: `ipc://${sock}`, dir };
}

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99) };
}

/** Round trips on an object with write() and a 'data' event. */
async function echoStream(socket, count) {
  const payload = Buffer.alloc(SIZE, 0x78);
  const samples = [];
  let pending = 0;
  let wake = null;
  socket.on('data', (d) => {
    pending -= d.length;
    if (pending <= 0 && wake) wake();
  });
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    pending = SIZE;
    const done = new Promise((resolve) => { wake = resolve; });
    socket.write(payload);
    await done;
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return samples;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const children = [];
  let daemonDir = null;
  try {
    const pkg = process.env.SOCKBROKER_NODE_PACKAGE ?? path.join(args.build, 'tests', 'node', 'node_modules', 'sockbroker');
    const sockbroker = require(pkg);
    const port = await startEchoServer(children);
    let url = args.url;
    if (!url) {
      const daemon = await startDaemon(args.build, children);
      url = daemon.url;
      daemonDir = daemon.dir;
    }
    const warmup = Math.max(50, Math.floor(args.count / 10));
    const results = {};

    const direct = net.connect(port, '127.0.0.1');
    direct.setNoDelay(true);
    await new Promise((resolve) => direct.once('connect', resolve));
    await echoStream(direct, warmup);
    results.direct = summary(await echoStream(direct, args.count));
    direct.destroy();

    const client = new sockbroker.Client({ url, clientName: 'node-latency-bench' });
    sockbroker.setDefaultClient(client);
    const brokered = sockbroker.net.connect(port, '127.0.0.1');
    brokered.setNoDelay(true);
    await new Promise((resolve, reject) => { brokered.once('connect', resolve); brokered.once('error', reject); });
    await echoStream(brokered, warmup);
    results['sockbroker net'] = summary(await echoStream(brokered, args.count));
    brokered.destroy();

    const k = await client.constants();
    const [h] = await client.createConnection('127.0.0.1', port);
    await client.setsockopt(h, k.IPPROTO_TCP, k.TCP_NODELAY, 1);
    const payload = Buffer.alloc(SIZE, 0x79);
    const apiSamples = [];
    for (let i = 0; i < warmup + args.count; i++) {
      const t0 = process.hrtime.bigint();
      await client.sendall(h, payload);
      let got = 0;
      while (got < SIZE) got += (await client.recv(h, SIZE - got)).length;
      if (i >= warmup) apiSamples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    results['sockbroker API'] = summary(apiSamples);
    await client.close(h);
    client.end();

    console.log(`64 B echo round trip, ${args.count} round trips each (microseconds)`);
    console.log('| way | median | p99 | median / direct |');
    console.log('| --- | --- | --- | --- |');
    for (const [way, r] of Object.entries(results)) {
      console.log(`| ${way} | ${r.median.toFixed(1)} | ${r.p99.toFixed(1)} | ` +
        `${(r.median / results.direct.median).toFixed(2)}x |`);
    }
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGTERM');
        await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(10000)]);
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
      }
    }
    if (daemonDir) fs.rmSync(daemonDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`node_latency.js: ${err.stack}`);
  process.exitCode = 1;
});
