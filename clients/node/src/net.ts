/**
 * `net` through the broker: `connect()`/`createConnection()` give a Duplex
 * that behaves as `net.Socket`, `createServer()` a server whose `listen()`
 * binds on the daemon's host.
 *
 * A socket is a handle of the daemon in blocking mode. Reading keeps one
 * blocking `recv` waiting in the daemon while the stream wants data
 * (back-pressure: no new recv until Node asks for more); each `write()` is
 * one `sendall`, and `write()` returns false past the high-water mark until
 * `drain`, as Node's own. `end()` is shutdown(SHUT_WR); `destroy()` closes
 * the handle, which answers the waiting recv.
 */
import { EventEmitter } from "node:events";
import { Duplex } from "node:stream";
import type { Client, Handle } from "./api.js";
import type { Session } from "./client.js";
import type { Address } from "./address.js";
import { defaultClient, familyLabel } from "./default.js";
import type { BrokerError } from "./errors.js";

const READ_SIZE = 64 * 1024;

export interface SocketConstructorOptions {
  allowHalfOpen?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  highWaterMark?: number;
  /** The broker client; default the shared one. */
  client?: Client;
}

export interface TcpConnectOptions {
  port: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: number;
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  path?: undefined;
}

export interface IpcConnectOptions {
  path: string;
  timeout?: number;
}

export type ConnectOptions = (TcpConnectOptions | IpcConnectOptions) & SocketConstructorOptions;

/** Add Node's net context to a broker error: "connect ECONNREFUSED 127.0.0.1:1". */
function withAddress(err: unknown, syscall: string, host?: string, port?: number): Error {
  const e = err as BrokerError;
  if (e && typeof e === "object" && typeof e.code === "string") {
    const where = host === undefined ? "" : port === undefined ? ` ${host}` : ` ${host}:${port}`;
    e.message = `${syscall} ${e.code}${where}`;
    e.syscall = syscall;
    if (host !== undefined) e.address = host;
    if (port !== undefined) e.port = port;
  }
  return err as Error;
}

function splitAddress(address: Address): { host: string; port: number } | null {
  return Array.isArray(address) ? { host: address[0], port: address[1] } : null;
}

/** A brokered stream socket with `net.Socket`'s interface. */
export class Socket extends Duplex {
  connecting = false;
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  localAddress?: string;
  localPort?: number;
  localFamily?: string;
  bytesRead = 0;
  timeout?: number;
  /** The daemon's handle, once connected. */
  handle: Handle | null = null;

  private readonly client: Client;
  private session: Session | null = null;
  private connected: Promise<void>;
  private markConnected!: () => void;
  private failConnect!: (err: Error) => void;
  private wantRead = false;
  private reading = false;
  private readonly refToken = { refd: true };
  private written = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private socketOptions: Array<() => Promise<void>> = [];

  constructor(options: SocketConstructorOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark ?? options.highWaterMark,
      writableHighWaterMark: options.writableHighWaterMark ?? options.highWaterMark,
      emitClose: true,
      autoDestroy: true,
      decodeStrings: true,
    });
    this.client = options.client ?? defaultClient();
    this.connected = new Promise((resolve, reject) => {
      this.markConnected = resolve;
      this.failConnect = reject;
    });
    // A socket never connected must not make an unhandled rejection.
    this.connected.catch(() => undefined);
  }

  /** Wrap a connected handle (an accepted connection). */
  static fromHandle(client: Client, session: Session, handle: Handle, peer: Address | null,
      allowHalfOpen = false): Socket {
    const socket = new Socket({ client, allowHalfOpen });
    socket.session = session;
    socket.handle = handle;
    const p = peer ? splitAddress(peer) : null;
    if (p) {
      socket.remoteAddress = p.host;
      socket.remotePort = p.port;
      socket.remoteFamily = familyLabel(p.host);
    }
    socket.markConnected();
    // As Node's: start reading at once, so that the end of the stream is
    // seen even by a program that never reads.
    process.nextTick(() => { if (!socket.isPaused()) socket.read(0); });
    return socket;
  }

  get pending(): boolean {
    return this.handle === null;
  }

  get readyState(): string {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  get bytesWritten(): number {
    return this.written;
  }

  get bufferSize(): number {
    return this.writableLength;
  }

  /** connect(port[, host][, listener]), connect(path[, listener]), connect(options[, listener]). */
  connect(...args: unknown[]): this {
    const [options, listener] = normalizeConnectArgs(args);
    if (listener) this.once("connect", listener);
    if (this.connecting || this.handle !== null) {
      throw Object.assign(new Error("Socket is already connected or connecting"),
        { code: "ERR_SOCKET_CONNECTION_ALREADY" });
    }
    this.connecting = true;
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    const tcp = options as TcpConnectOptions;
    if (tcp.noDelay) this.setNoDelay(true);
    if (tcp.keepAlive) this.setKeepAlive(true, tcp.keepAliveInitialDelay);
    this.doConnect(options).catch((err: Error) => {
      this.connecting = false;
      this.failConnect(err);
      this.destroy(err);
    });
    return this;
  }

  private async doConnect(options: TcpConnectOptions | IpcConnectOptions): Promise<void> {
    const client = this.client;
    const session = await client.session();
    this.session = session;
    const k = session.constants;
    if (options.path) {
      const path = (options as IpcConnectOptions).path;
      const handle = await client.socket(k.AF_UNIX, k.SOCK_STREAM, 0, null, { session });
      this.handle = handle;
      try {
        await client.connect(handle, path, { session });
      } catch (err) {
        throw withAddress(err, "connect", path);
      }
      this.remoteAddress = undefined;
    } else {
      const tcp = options as TcpConnectOptions;
      const port = Number(tcp.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${String(tcp.port)}.`),
          { code: "ERR_SOCKET_BAD_PORT" });
      }
      const host = tcp.host || "localhost";
      const source: Address | undefined = tcp.localAddress || tcp.localPort
        ? [tcp.localAddress ?? (host.includes(":") ? "::" : ""), tcp.localPort ?? 0] : undefined;
      let handle: Handle;
      let peer: Address;
      try {
        [handle, peer] = await client.createConnection(host, port, null, source, { session });
      } catch (err) {
        throw withAddress(err, "connect", host, port);
      }
      this.handle = handle;
      const p = splitAddress(peer);
      if (p) {
        this.remoteAddress = p.host;
        this.remotePort = p.port;
        this.remoteFamily = familyLabel(p.host);
      }
      const local = splitAddress(await client.getsockname(handle, { session }));
      if (local) {
        this.localAddress = local.host;
        this.localPort = local.port;
        this.localFamily = familyLabel(local.host);
      }
    }
    if (this.destroyed) {
      await client.close(this.handle, { session, ref: false }).catch(() => undefined);
      return;
    }
    this.connecting = false;
    // Pipelined: the daemon starts a connection's requests in order.
    for (const apply of this.socketOptions.splice(0)) void apply();
    this.markConnected();
    this.touch();
    this.emit("connect");
    this.emit("ready");
    if (this.wantRead) this.pull();
    else if (!this.isPaused()) this.read(0);
  }

  override _read(): void {
    this.wantRead = true;
    if (this.handle !== null && !this.connecting) this.pull();
  }

  private pull(): void {
    if (this.reading || this.destroyed || this.handle === null || !this.session) return;
    this.reading = true;
    this.wantRead = false;
    this.client.recv(this.handle, READ_SIZE, 0, { session: this.session, ref: this.refToken }).then((data) => {
      this.reading = false;
      if (this.destroyed) return;
      if (data.length === 0) {
        this.push(null);
        // As Node's: 'end' is emitted even if nobody reads.
        this.read(0);
        return;
      }
      this.bytesRead += data.length;
      this.touch();
      if (this.push(data)) this.pull();
    }, (err: Error) => {
      this.reading = false;
      if (!this.destroyed) this.destroy(withAddress(err, "read"));
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.writeData(chunk, callback);
  }

  private writeData(chunk: Buffer, callback: (err?: Error | null) => void): void {
    this.connected.then(() => {
      if (this.handle === null || !this.session) throw new Error("This socket is closed");
      return this.client.sendall(this.handle, chunk, 0, { session: this.session, ref: true });
    }).then(() => {
      this.written += chunk.length;
      this.touch();
      callback();
    }, (err: Error) => callback(withAddress(err, "write")));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const data = Buffer.concat(chunks.map((c) => c.chunk));
    this.writeData(data, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.connected.then(() => {
      if (this.handle === null || !this.session) return;
      return this.client.shutdown(this.handle, this.session.constants.SHUT_WR, { session: this.session });
    }).then(() => callback(), (err: Error) => {
      // The peer may have gone already; shutting down a dead connection is no error to report.
      const code = (err as BrokerError).code;
      callback(code === "ENOTCONN" ? null : withAddress(err, "shutdown"));
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.clearIdle();
    const handle = this.handle;
    const session = this.session;
    if (handle !== null && session) {
      this.client.close(handle, { session, ref: false }).catch(() => undefined);
    }
    this.connecting = false;
    callback(err);
  }

  // ---- options --------------------------------------------------------------

  private whenConnected(apply: () => Promise<void>): void {
    if (this.handle !== null && !this.connecting) {
      apply().catch(() => undefined);
    } else {
      this.socketOptions.push(() => apply().catch(() => undefined));
    }
  }

  setNoDelay(noDelay = true): this {
    this.whenConnected(async () => {
      const k = this.session!.constants;
      if (this.handle === null || k.IPPROTO_TCP === undefined) return;
      await this.client.setsockopt(this.handle, k.IPPROTO_TCP, k.TCP_NODELAY, noDelay ? 1 : 0, undefined,
        { session: this.session!, ref: this.refToken });
    });
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.whenConnected(async () => {
      const k = this.session!.constants;
      if (this.handle === null) return;
      const options = { session: this.session!, ref: this.refToken };
      await this.client.setsockopt(this.handle, k.SOL_SOCKET, k.SO_KEEPALIVE, enable ? 1 : 0, undefined, options);
      if (enable && initialDelay > 0 && k.TCP_KEEPIDLE !== undefined) {
        await this.client.setsockopt(this.handle, k.IPPROTO_TCP, k.TCP_KEEPIDLE,
          Math.max(1, Math.floor(initialDelay / 1000)), undefined, options);
      }
    });
    return this;
  }

  /** Emit 'timeout' after `ms` of inactivity (0 turns it off), as net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms;
    if (callback) {
      if (ms === 0) this.removeListener("timeout", callback);
      else this.once("timeout", callback);
    }
    this.touch();
    return this;
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private touch(): void {
    this.clearIdle();
    if (this.timeout && !this.destroyed) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.emit("timeout");
      }, this.timeout);
      this.idleTimer.unref();
    }
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (this.localAddress === undefined || this.localPort === undefined) return {};
    return { address: this.localAddress, family: this.localFamily ?? familyLabel(this.localAddress),
      port: this.localPort };
  }

  /** Let the process exit while this socket waits (or not), as net.Socket. */
  unref(): this {
    this.refToken.refd = false;
    this.client.recount(this.session);
    return this;
  }

  ref(): this {
    this.refToken.refd = true;
    this.client.recount(this.session);
    return this;
  }

  resetAndDestroy(): this {
    return this.destroy();
  }
}

function normalizeConnectArgs(args: unknown[]): [ConnectOptions, (() => void) | undefined] {
  let listener: (() => void) | undefined;
  if (typeof args[args.length - 1] === "function") listener = args.pop() as () => void;
  const first = args[0];
  if (first !== null && typeof first === "object") return [first as ConnectOptions, listener];
  if (typeof first === "string" && !/^[0-9]+$/.test(first)) return [{ path: first }, listener];
  return [{ port: first as number, host: args[1] as string | undefined }, listener];
}

/** net.connect()/net.createConnection(): a connecting Socket. */
export function connect(...args: unknown[]): Socket {
  const [options, listener] = normalizeConnectArgs(args);
  const socket = new Socket(options);
  return listener ? socket.connect(options, listener) : socket.connect(options);
}

export const createConnection = connect;

export interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  client?: Client;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  path?: string;
  backlog?: number;
  ipv6Only?: boolean;
  reusePort?: boolean;
}

/** A brokered listening socket with `net.Server`'s interface. */
export class Server extends EventEmitter {
  listening = false;
  maxConnections?: number;
  private readonly client: Client;
  private readonly allowHalfOpen: boolean;
  private readonly pauseOnConnect: boolean;
  private handle: Handle | null = null;
  private session: Session | null = null;
  private bound: { address: string; family: string; port: number } | string | null = null;
  private readonly refToken = { refd: true };
  private closing = false;
  private readonly connections = new Set<Socket>();

  constructor(options: ServerOptions | ((socket: Socket) => void) = {},
      connectionListener?: (socket: Socket) => void) {
    super();
    if (typeof options === "function") {
      connectionListener = options;
      options = {};
    }
    this.client = options.client ?? defaultClient();
    this.allowHalfOpen = options.allowHalfOpen ?? false;
    this.pauseOnConnect = options.pauseOnConnect ?? false;
    if (connectionListener) this.on("connection", connectionListener);
  }

  /** listen([port[, host[, backlog]]][, cb]), listen(path[, cb]), listen(options[, cb]). */
  listen(...args: unknown[]): this {
    let callback: (() => void) | undefined;
    if (typeof args[args.length - 1] === "function") callback = args.pop() as () => void;
    let options: ListenOptions;
    if (args[0] !== null && typeof args[0] === "object") options = args[0] as ListenOptions;
    else if (typeof args[0] === "string" && !/^[0-9]+$/.test(args[0])) options = { path: args[0] };
    else {
      options = { port: args[0] === undefined ? 0 : Number(args[0]),
        host: typeof args[1] === "string" ? args[1] : undefined,
        backlog: typeof args[1] === "number" ? args[1] : args[2] as number | undefined };
    }
    if (callback) this.once("listening", callback);
    this.doListen(options).catch((err: Error) => this.emit("error", err));
    return this;
  }

  private async doListen(options: ListenOptions): Promise<void> {
    const client = this.client;
    const session = await client.session();
    this.session = session;
    const k = session.constants;
    let handle: Handle;
    if (options.path) {
      handle = await client.socket(k.AF_UNIX, k.SOCK_STREAM, 0, null, { session });
      try {
        await client.bind(handle, options.path, { session });
        await client.listen(handle, options.backlog ?? 511, { session });
      } catch (err) {
        await client.close(handle, { session }).catch(() => undefined);
        throw withAddress(err, "listen", options.path);
      }
      this.bound = options.path;
    } else {
      const port = options.port ?? 0;
      const settings = { backlog: options.backlog ?? 511, reusePort: options.reusePort || undefined };
      try {
        if (options.host) {
          handle = await client.createServer([options.host, port], settings, { session });
        } else {
          // As Node: the IPv6 any address, dual-stack, where the host has IPv6.
          try {
            handle = await client.createServer(["::", port],
              { ...settings, family: k.AF_INET6, dualstackIpv6: !options.ipv6Only }, { session });
          } catch {
            handle = await client.createServer(["0.0.0.0", port], { ...settings, family: k.AF_INET },
              { session });
          }
        }
      } catch (err) {
        throw withAddress(err, "listen", options.host ?? "::", port);
      }
      const local = splitAddress(await client.getsockname(handle, { session }));
      if (local) this.bound = { address: local.host, family: familyLabel(local.host), port: local.port };
    }
    this.handle = handle;
    if (this.closing) {
      await client.close(handle, { session }).catch(() => undefined);
      return;
    }
    this.listening = true;
    this.emit("listening");
    this.acceptLoop();
  }

  private acceptLoop(): void {
    if (this.closing || this.handle === null || !this.session) return;
    const session = this.session;
    this.client.accept(this.handle, { session, ref: this.refToken }).then(([handle, peer]) => {
      if (this.closing) {
        this.client.close(handle, { session, ref: false }).catch(() => undefined);
        return;
      }
      if (this.maxConnections !== undefined && this.connections.size >= this.maxConnections) {
        this.client.close(handle, { session, ref: false }).catch(() => undefined);
      } else {
        const socket = Socket.fromHandle(this.client, session, handle, peer, this.allowHalfOpen);
        this.connections.add(socket);
        socket.once("close", () => {
          this.connections.delete(socket);
          this.maybeClosed();
        });
        if (this.pauseOnConnect) socket.pause();
        this.emit("connection", socket);
      }
      this.acceptLoop();
    }, (err: Error) => {
      if (!this.closing) this.emit("error", withAddress(err, "accept"));
    });
  }

  private closeCallbacks: Array<(err?: Error) => void> = [];

  private maybeClosed(): void {
    if (!this.closing || this.connections.size > 0 || this.listening) return;
    const callbacks = this.closeCallbacks.splice(0);
    if (callbacks.length || this.listenerCount("close") || !this.emittedClose) {
      this.emittedClose = true;
      for (const cb of callbacks) cb();
      this.emit("close");
    }
  }

  private emittedClose = false;

  /** Stop accepting; 'close' once every connection has ended, as net.Server. */
  close(callback?: (err?: Error) => void): this {
    if (!this.listening && !this.handle) {
      if (callback) {
        const err = Object.assign(new Error("Server is not running."), { code: "ERR_SERVER_NOT_RUNNING" });
        process.nextTick(callback, err);
      }
      return this;
    }
    if (callback) this.closeCallbacks.push(callback);
    this.closing = true;
    const handle = this.handle;
    const session = this.session;
    this.handle = null;
    if (handle !== null && session) {
      this.client.close(handle, { session, ref: false }).catch(() => undefined).finally(() => {
        this.listening = false;
        this.maybeClosed();
      });
    }
    return this;
  }

  address(): { address: string; family: string; port: number } | string | null {
    return this.bound;
  }

  getConnections(callback: (err: Error | null, count: number) => void): this {
    process.nextTick(callback, null, this.connections.size);
    return this;
  }

  unref(): this {
    this.refToken.refd = false;
    this.client.recount(this.session);
    return this;
  }

  ref(): this {
    this.refToken.refd = true;
    this.client.recount(this.session);
    return this;
  }
}

/** net.createServer([options][, connectionListener]). */
export function createServer(options?: ServerOptions | ((socket: Socket) => void),
    connectionListener?: (socket: Socket) => void): Server {
  return new Server(options, connectionListener);
}
