'use strict';
// The conformance scenarios (tests/conformance/scenarios) run by the Node
// client's low-level API against the daemon at $SOCKBROKER_URL. The format
// is described in tests/conformance/README.md. $SOCKBROKER_NODE_PACKAGE
// names the built package (meson test sets it).
const fs = require('node:fs');

const path = require('node:path');

const packageDir = process.env.SOCKBROKER_NODE_PACKAGE || path.resolve(__dirname, '../../clients/node');
const { Client } = require(packageDir);

const STEP_TIMEOUT_MS = 30000;
const CONSTANT_NAMES = /^[A-Z][A-Z0-9_]*(\|[A-Z][A-Z0-9_]*)*$/;

// Operations this client cannot express, with the reason (none today).
const UNSUPPORTED = {};

class ScenarioError extends Error {}

function loadScenarios(dir) {
  const fixtures = JSON.parse(fs.readFileSync(path.join(dir, 'fixtures.json'), 'utf8')).fixtures;
  const scenarios = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'fixtures.json').sort()) {
    for (const scenario of JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')).scenarios) {
      const setup = scenario.setup ? fixtures[scenario.setup] : [];
      if (!setup) throw new ScenarioError(`${scenario.name}: unknown setup ${scenario.setup}`);
      scenarios.push({ ...scenario, file, steps: [...setup, ...scenario.steps] });
    }
  }
  return scenarios;
}

function bytesOf(value) {
  if (typeof value.text === 'string') return Buffer.from(value.text, 'utf8');
  if (typeof value.hex === 'string') return Buffer.from(value.hex, 'hex');
  return Buffer.from(value.repeat.repeat(value.times), 'utf8');
}

function isBytesSpec(value) {
  return value && typeof value === 'object' && !Array.isArray(value) &&
    ('text' in value || 'hex' in value || 'repeat' in value);
}

/** Resolve variables, constants and bytes in a value of a step. */
function resolve(value, vars, k) {
  if (typeof value === 'string') {
    if (value === '*') return value;
    if (value.startsWith('$')) {
      const [name, ...keys] = value.slice(1).split('.');
      if (!(name in vars)) throw new ScenarioError(`no variable ${name}`);
      let v = vars[name];
      for (const key of keys) v = v[key];
      return v;
    }
    if (CONSTANT_NAMES.test(value)) {
      return value.split('|').reduce((acc, name) => {
        if (k[name] === undefined) throw new ScenarioError(`the daemon has no constant ${name}`);
        return acc | k[name];
      }, 0);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, vars, k));
  if (isBytesSpec(value)) return bytesOf(value);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [key, v] of Object.entries(value)) out[key] = resolve(v, vars, k);
    return out;
  }
  return value;
}

function matches(expected, actual) {
  if (expected === '*') return true;
  if (Buffer.isBuffer(expected)) return Buffer.isBuffer(actual) && expected.equals(actual);
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length &&
      expected.every((e, i) => matches(e, actual[i]));
  }
  if (expected && typeof expected === 'object') {
    return actual && typeof actual === 'object' &&
      Object.entries(expected).every(([key, e]) => matches(e, actual[key]));
  }
  if (typeof expected === 'number' && typeof actual === 'number') return Math.abs(expected - actual) < 1e-9;
  return expected === actual || (expected === null && actual === undefined);
}

function show(value) {
  return JSON.stringify(value, (key, v) => (v && v.type === 'Buffer' && Array.isArray(v.data)
    ? { hex: Buffer.from(v.data).toString('hex') } : v));
}

/** The operations: (client, handle, args) -> the result in the common form. */
const OPS = {
  socket: (c, h, [family, type, proto = 0]) => c.socket(family, type, proto),
  socketpair: (c, h, [family, type]) => c.socketpair(family, type),
  dup: (c, h) => c.dup(h),
  close: (c, h) => c.close(h),
  bind: (c, h, [address]) => c.bind(h, address),
  listen: (c, h, [backlog]) => c.listen(h, backlog),
  accept: (c, h) => c.accept(h),
  connect: (c, h, [address]) => c.connect(h, address),
  connect_ex: (c, h, [address]) => c.connectEx(h, address),
  shutdown: (c, h, [how]) => c.shutdown(h, how),
  getsockname: (c, h) => c.getsockname(h),
  getpeername: (c, h) => c.getpeername(h),
  getsockopt: (c, h, [level, name, buflen]) => c.getsockopt(h, level, name, buflen),
  setsockopt: (c, h, [level, name, value]) => c.setsockopt(h, level, name, value),
  settimeout: (c, h, [timeout]) => c.settimeout(h, timeout),
  gettimeout: (c, h) => c.gettimeout(h),
  setblocking: (c, h, [flag]) => c.setblocking(h, flag),
  send: (c, h, [data, flags = 0]) => c.send(h, data, flags),
  sendto: (c, h, [data, flags, address]) => c.sendto(h, data, flags, address),
  sendall: async (c, h, [data, flags = 0]) => { await c.sendall(h, data, flags); return null; },
  recv: (c, h, [bufsize, flags = 0]) => c.recv(h, bufsize, flags),
  recvfrom: (c, h, [bufsize, flags = 0]) => c.recvfrom(h, bufsize, flags),
  sendmsg: (c, h, [buffers, ancillary = [], flags = 0, address = null]) =>
    c.sendmsg(h, buffers, ancillary.map((a) => (a.rights ? { level: a.level, type: a.type, rights: a.rights }
      : { level: a.level, type: a.type, data: a.data })), flags, address ?? undefined),
  recvmsg: async (c, h, [bufsize, ancbufsize = 0, flags = 0]) => {
    const msg = await c.recvmsg(h, bufsize, ancbufsize, flags);
    return { data: msg.data, rights: msg.ancillary.flatMap((a) => a.rights ?? []), flags: msg.flags,
      ancillary: msg.ancillary.map((a) => [a.level, a.type]), address: msg.address };
  },
  poll: (c, h, [items, timeout]) => c.poll(items, timeout),
  create_connection: async (c, h, [[host, port], timeout = null]) => (await c.createConnection(host, port, timeout))[0],
  create_server: (c, h, [address]) => c.createServer(address),
  getaddrinfo: (c, h, [host, port, family = 0, type = 0, proto = 0, flags = 0]) =>
    c.getaddrinfo(host, port, family, type, proto, flags),
  getnameinfo: (c, h, [address, flags]) => c.getnameinfo(address, flags),
  gethostbyname: (c, h, [name]) => c.gethostbyname(name),
  gethostbyname_ex: (c, h, [name]) => c.gethostbynameEx(name),
  gethostbyaddr: (c, h, [address]) => c.gethostbyaddr(address),
  getservbyname: (c, h, [name, proto]) => c.getservbyname(name, proto),
  getservbyport: (c, h, [port, proto]) => c.getservbyport(port, proto),
  getprotobyname: (c, h, [name]) => c.getprotobyname(name),
  gethostname: (c) => c.gethostname(),
  if_nametoindex: (c, h, [name]) => c.ifNametoindex(name),
  if_indextoname: (c, h, [index]) => c.ifIndextoname(index),
  CMSG_LEN: (c, h, [length]) => c.cmsgLen(length),
  CMSG_SPACE: (c, h, [length]) => c.cmsgSpace(length),
  has_ipv6: (c) => c.hasIpv6(),
};

function withTimeout(promise, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new ScenarioError(`${what} did not answer within ${STEP_TIMEOUT_MS} ms`)),
      STEP_TIMEOUT_MS);
  })]).finally(() => clearTimeout(timer));
}

async function runScenario(url, scenario) {
  const client = new Client({ url, clientName: 'conformance-node' });
  const k = await client.constants();
  const vars = {};
  try {
    for (const [index, step] of scenario.steps.entries()) {
      const where = `step ${index + 1} (${step.op})`;
      const op = OPS[step.op];
      if (!op) throw new ScenarioError(`${where}: unknown operation`);
      const handle = step.handle === undefined ? undefined : resolve(
        typeof step.handle === 'string' && !step.handle.startsWith('$') ? `$${step.handle}` : step.handle, vars, k);
      const args = resolve(step.args ?? [], vars, k);
      let result;
      try {
        result = await withTimeout(op(client, handle, args), where);
      } catch (err) {
        if (err instanceof ScenarioError) throw err;
        if (!step.error) throw new ScenarioError(`${where}: failed: ${err.kind ?? ''} ${err.message}`);
        if (err.kind !== step.error.kind || (step.error.errno && err.errnoName !== step.error.errno)) {
          throw new ScenarioError(`${where}: expected error ${show(step.error)}, got ` +
            `${show({ kind: err.kind, errno: err.errnoName })} (${err.message})`);
        }
        continue;
      }
      if (step.error) throw new ScenarioError(`${where}: expected error ${show(step.error)}, got ${show(result)}`);
      if ('expect' in step && !matches(resolve(step.expect, vars, k), result)) {
        throw new ScenarioError(`${where}: expected ${show(resolve(step.expect, vars, k))}, got ${show(result)}`);
      }
      if ('expect_contains' in step) {
        const want = resolve(step.expect_contains, vars, k);
        if (!Array.isArray(result) || !result.some((r) => matches(want, r))) {
          throw new ScenarioError(`${where}: expected an element ${show(want)} in ${show(result)}`);
        }
      }
      if (Array.isArray(step.as)) step.as.forEach((name, i) => { vars[name] = result[i]; });
      else if (step.as) vars[step.as] = result;
    }
  } finally {
    client.end();
  }
}

async function main() {
  const url = process.env.SOCKBROKER_URL;
  if (!url) {
    console.error('runner.js: set SOCKBROKER_URL to the daemon (run.py does)');
    process.exit(2);
  }
  const scenarios = loadScenarios(path.join(__dirname, 'scenarios'));
  let passed = 0;
  let failed = 0;
  const skipped = [];
  for (const scenario of scenarios) {
    const missing = scenario.steps.map((s) => s.op).find((op) => UNSUPPORTED[op]);
    if (missing) {
      skipped.push([scenario.name, `${missing}: ${UNSUPPORTED[missing]}`]);
      continue;
    }
    try {
      await runScenario(url, scenario);
      passed += 1;
      console.log(`ok ${scenario.name}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL ${scenario.name} (${scenario.file}): ${err.message}`);
    }
  }
  console.log(`\nNode runner: ${scenarios.length} scenarios; skipped:${skipped.length ? '' : ' none'}`);
  for (const [name, reason] of skipped) console.log(`  skip ${name}: ${reason}`);
  console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
  process.exitCode = failed ? 1 : passed === 0 ? 77 : 0;
}

main().catch((err) => {
  console.error(`runner.js: ${err.stack}`);
  process.exit(2);
});

