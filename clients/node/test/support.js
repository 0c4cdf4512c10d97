'use strict';
// Fixtures for the Node client's tests: the real daemon on an ipc:// path in
// a fresh temporary directory (stopped by pid: SIGTERM, then SIGKILL after a
// bounded wait), the package under test, and bounded child processes.
//
// $SOCKBROKERD names the daemon binary (meson test sets it; without it the
// tests that need a daemon skip). $SOCKBROKER_NODE_PACKAGE names the built
// package directory (meson test sets it; default: this package).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const packageDir = process.env.SOCKBROKER_NODE_PACKAGE || path.resolve(__dirname, '..');
const sockbroker = require(packageDir);

const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 20000;

/**
 * DIR/node_modules with `sockbroker` in it, the package under test: a
 * NODE_PATH root for `--require`, and for `--import` (which ignores
 * NODE_PATH) the node_modules of a program run in DIR.
 */
function nodePathRoot(dir) {
  const root = path.join(dir, 'node_modules');
  fs.mkdirSync(root, { recursive: true });
  fs.symlinkSync(packageDir, path.join(root, 'sockbroker'));
  return root;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class Daemon {
  /**
   * Start sockbrokerd on ipc://DIR/sockbroker.sock and the `extraListen`
   * URLs; `config` is merged into an allow-all policy.
   */
  static async start(config = {}, extraListen = []) {
    const binary = process.env.SOCKBROKERD;
    if (!binary) return null;
    const daemon = new Daemon();
    daemon.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockbroker-nodetest-'));
    daemon.path = path.join(daemon.dir, 'sockbroker.sock');
    daemon.url = `ipc://${daemon.path}`;
    const settings = { policy: { rules: [{ name: 'tests-allow-all', allow: true }] }, ...config };
    const configPath = path.join(daemon.dir, 'config.json');
    fs.writeFileSync(configPath, JSON.stringify(settings));
    daemon.logPath = path.join(daemon.dir, 'daemon.log');
    const log = fs.openSync(daemon.logPath, 'w');
    const listen = [daemon.url, ...extraListen].flatMap((url) => ['--listen', url]);
    daemon.process = spawn(binary, [...listen, '--config', configPath],
      { stdio: ['ignore', 'ignore', log] });
    fs.closeSync(log);
    daemon.exit = new Promise((resolve) => daemon.process.once('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!fs.existsSync(daemon.path)) {
      if (daemon.process.exitCode !== null) throw new Error(`sockbrokerd exited during start-up:\n${daemon.log()}`);
      if (Date.now() > deadline) {
        daemon.process.kill('SIGKILL');
        throw new Error(`sockbrokerd did not listen within ${START_TIMEOUT_MS} ms:\n${daemon.log()}`);
      }
      await sleep(10);
    }
    return daemon;
  }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  /** Stop it hard (a crash, as far as clients can tell), and clean up. */
  async kill() {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      process.kill(this.process.pid, 'SIGKILL');
    }
    await this.exit;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGTERM, bounded wait, SIGKILL; resolves with the exit code (0 = clean). */
  async stop() {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      process.kill(this.process.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (this.process.exitCode === null) process.kill(this.process.pid, 'SIGKILL');
      }, STOP_TIMEOUT_MS);
      await this.exit;
      clearTimeout(timer);
    }
    const { code } = await this.exit;
    fs.rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}

/**
 * Run a command with a time bound; resolves with { code, signal, stdout,
 * stderr }. The child is killed by its pid when the bound runs out, and the
 * result says so (`timedOut`).
 */
function run(argv, { env = process.env, timeoutMs = 30000, onStdout, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (onStdout) onStdout(stdout, child);
    });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a daemon's listener). */
async function freeTcpPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether `unshare -n` works here (root with util-linux). */
function canUnshare() {
  const probe = spawnSync('unshare', ['-n', 'true'], { timeout: 30000 });
  return probe.status === 0;
}

module.exports = { Daemon, canUnshare, freeTcpPort, nodePathRoot, packageDir, run, sleep, sockbroker };
