/**
 * `dgram` through the broker: `createSocket()` gives a socket with
 * `dgram.Socket`'s interface. Once bound (by `bind()`, or implicitly by the
 * first `send()`, as Node does) one blocking `recvfrom` waits in the daemon
 * and each datagram is a `message` event. Operations run in the order they
 * were called.
 */
import { EventEmitter } from "node:events";
import type { Client, Handle } from "./api.js";
import type { Session } from "./client.js";
import { defaultClient, familyLabel } from "./default.js";
import type { BrokerError } from "./errors.js";

const MAX_DATAGRAM = 65535;

export type SocketType = "udp4" | "udp6";

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** The broker client; default the shared one. */
  client?: Client;
}

export interface RemoteInfo {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
  size: number;
}

type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;
type SendCallback = (error: Error | null, bytes?: number) => void;

function withAddress(err: unknown, syscall: string, host?: string, port?: number): Error {
  const e = err as BrokerError;
  if (e && typeof e === "object" && typeof e.code === "string") {
    e.message = `${syscall} ${e.code}${host === undefined ? "" : ` ${host}${port === undefined ? "" : `:${port}`}`}`;
    e.syscall = syscall;
    if (host !== undefined) e.address = host;
    if (port !== undefined) e.port = port;
  }
  return err as Error;
}

/** A brokered UDP socket. */
export class Socket extends EventEmitter {
  readonly type: SocketType;
  private readonly client: Client;
  private readonly options: SocketOptions;
  private session: Session | null = null;
  private handle: Handle | null = null;
  /** Every operation waits for the ones called before it. */
  private queue: Promise<unknown> = Promise.resolve();
  private bound: { address: string; family: string; port: number } | null = null;
  private binding = false;
  private remote: { address: string; family: string; port: number } | null = null;
  private closed = false;
  private receiving = false;
  private readonly refToken = { refd: true };

  constructor(options: SocketOptions, listener?: MessageListener) {
    super();
    this.type = options.type;
    this.options = options;
    this.client = options.client ?? defaultClient();
    if (listener) this.on("message", listener);
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async ensureHandle(): Promise<Handle> {
    if (this.handle !== null) return this.handle;
    const session = await this.client.session();
    this.session = session;
    const k = session.constants;
    const family = this.type === "udp6" ? k.AF_INET6 : k.AF_INET;
    const handle = await this.client.socket(family, k.SOCK_DGRAM, 0, null, { session });
    this.handle = handle;
    const opt = { session, ref: false };
    if (this.options.reuseAddr) await this.client.setsockopt(handle, k.SOL_SOCKET, k.SO_REUSEADDR, 1, undefined, opt);
    if (this.type === "udp6" && this.options.ipv6Only !== undefined) {
      await this.client.setsockopt(handle, k.IPPROTO_IPV6, k.IPV6_V6ONLY, this.options.ipv6Only ? 1 : 0, undefined, opt);
    }
    if (this.options.recvBufferSize) {
      await this.client.setsockopt(handle, k.SOL_SOCKET, k.SO_RCVBUF, this.options.recvBufferSize, undefined, opt);
    }
    if (this.options.sendBufferSize) {
      await this.client.setsockopt(handle, k.SOL_SOCKET, k.SO_SNDBUF, this.options.sendBufferSize, undefined, opt);
    }
    return handle;
  }

  private anyAddress(): string {
    return this.type === "udp6" ? "::" : "0.0.0.0";
  }

  private async doBind(port: number, address: string | undefined): Promise<void> {
    const handle = await this.ensureHandle();
    const host = address ?? this.anyAddress();
    try {
      await this.client.bind(handle, [host, port], { session: this.session! });
    } catch (err) {
      throw withAddress(err, "bind", host, port);
    }
    const local = await this.client.getsockname(handle, { session: this.session! });
    if (Array.isArray(local)) this.bound = { address: local[0], family: familyLabel(local[0]), port: local[1] };
    this.emit("listening");
    this.receive();
  }

  /** bind([port][, address][, callback]) or bind(options[, callback]). */
  bind(...args: unknown[]): this {
    let callback: (() => void) | undefined;
    if (typeof args[args.length - 1] === "function") callback = args.pop() as () => void;
    let port = 0;
    let address: string | undefined;
    if (args[0] !== null && typeof args[0] === "object") {
      const o = args[0] as { port?: number; address?: string };
      port = o.port ?? 0;
      address = o.address;
    } else {
      port = args[0] === undefined ? 0 : Number(args[0]);
      address = typeof args[1] === "string" ? args[1] : undefined;
    }
    if (this.binding || this.bound) {
      throw Object.assign(new Error("Socket is already bound"), { code: "ERR_SOCKET_ALREADY_BOUND" });
    }
    this.binding = true;
    if (callback) this.once("listening", callback);
    this.enqueue(() => this.doBind(port, address)).catch((err: Error) => this.emit("error", err));
    return this;
  }

  private receive(): void {
    if (this.receiving || this.closed || this.handle === null || !this.session) return;
    this.receiving = true;
    this.client.recvfrom(this.handle, MAX_DATAGRAM, 0, { session: this.session, ref: this.refToken })
      .then(([data, from]) => {
        this.receiving = false;
        if (this.closed) return;
        const rinfo: RemoteInfo = Array.isArray(from)
          ? { address: from[0], family: familyLabel(from[0]), port: from[1], size: data.length }
          : { address: "", family: "IPv4", port: 0, size: data.length };
        this.emit("message", data, rinfo);
        this.receive();
      }, (err: Error) => {
        this.receiving = false;
        if (!this.closed) this.emit("error", withAddress(err, "recvmsg"));
      });
  }

  /**
   * send(msg[, offset, length][, port][, address][, callback]); msg is a
   * Buffer, a string, or an array of them. An unbound socket is bound to
   * the any address first, as Node does.
   */
  send(msg: Buffer | string | Uint8Array | Array<Buffer | string | Uint8Array>, ...rest: unknown[]): void {
    let callback: SendCallback | undefined;
    if (typeof rest[rest.length - 1] === "function") callback = rest.pop() as SendCallback;
    let data: Buffer;
    if (Array.isArray(msg)) data = Buffer.concat(msg.map((m) => Buffer.from(m as Buffer)));
    else data = typeof msg === "string" ? Buffer.from(msg) : Buffer.from(msg);
    if (typeof rest[0] === "number" && typeof rest[1] === "number" && rest.length >= 2 &&
        (rest.length > 2 || this.remote)) {
      const offset = rest.shift() as number;
      const length = rest.shift() as number;
      data = data.subarray(offset, offset + length);
    }
    const port = rest[0] as number | undefined;
    let address = rest[1] as string | undefined;
    if (this.remote && port !== undefined) {
      throw Object.assign(new Error("Already connected"), { code: "ERR_SOCKET_DGRAM_IS_CONNECTED" });
    }
    if (!this.remote && port === undefined) {
      throw Object.assign(new Error("Port should be > 0 and < 65536"), { code: "ERR_SOCKET_BAD_PORT" });
    }
    if (!address) address = this.type === "udp6" ? "::1" : "127.0.0.1";
    if (!this.binding && !this.bound) {
      this.binding = true;
      this.enqueue(() => this.doBind(0, undefined)).catch((err: Error) => this.emit("error", err));
    }
    this.enqueue(async () => {
      const handle = await this.ensureHandle();
      const options = { session: this.session!, ref: true };
      try {
        if (this.remote) return await this.client.send(handle, data, 0, options);
        return await this.client.sendto(handle, data, 0, [address!, port!], options);
      } catch (err) {
        throw withAddress(err, "send", this.remote?.address ?? address, this.remote?.port ?? port);
      }
    }).then((bytes) => callback?.(null, bytes), (err: Error) => {
      if (callback) callback(err);
      else this.emit("error", err);
    });
  }

  /** connect(port[, address][, callback]): a default peer for send(). */
  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    if (typeof address === "function") {
      callback = address;
      address = undefined;
    }
    const host = address ?? (this.type === "udp6" ? "::1" : "127.0.0.1");
    if (!this.binding && !this.bound) {
      this.binding = true;
      this.enqueue(() => this.doBind(0, undefined)).catch((err: Error) => this.emit("error", err));
    }
    if (callback) this.once("connect", callback);
    this.enqueue(async () => {
      const handle = await this.ensureHandle();
      try {
        await this.client.connect(handle, [host, port], { session: this.session! });
      } catch (err) {
        throw withAddress(err, "connect", host, port);
      }
      const peer = await this.client.getpeername(handle, { session: this.session! });
      if (Array.isArray(peer)) this.remote = { address: peer[0], family: familyLabel(peer[0]), port: peer[1] };
      this.emit("connect");
    }).catch((err: Error) => this.emit("error", err));
  }

  remoteAddress(): { address: string; family: string; port: number } {
    if (!this.remote) throw Object.assign(new Error("Not connected"), { code: "ERR_SOCKET_DGRAM_NOT_CONNECTED" });
    return this.remote;
  }

  address(): { address: string; family: string; port: number } {
    if (!this.bound) throw Object.assign(new Error("getsockname EBADF"), { code: "EBADF", syscall: "getsockname" });
    return this.bound;
  }

  close(callback?: () => void): this {
    if (this.closed) {
      throw Object.assign(new Error("Not running"), { code: "ERR_SOCKET_DGRAM_NOT_RUNNING" });
    }
    this.closed = true;
    if (callback) this.once("close", callback);
    this.enqueue(async () => {
      if (this.handle !== null && this.session) {
        await this.client.close(this.handle, { session: this.session, ref: false }).catch(() => undefined);
      }
    }).finally(() => this.emit("close"));
    return this;
  }

  private setOption(level: string, name: string, value: number): void {
    this.enqueue(async () => {
      const handle = await this.ensureHandle();
      const k = this.session!.constants;
      await this.client.setsockopt(handle, k[level], k[name], value, undefined, { session: this.session!, ref: false });
    }).catch((err: Error) => this.emit("error", err));
  }

  setBroadcast(flag: boolean): void { this.setOption("SOL_SOCKET", "SO_BROADCAST", flag ? 1 : 0); }
  setTTL(ttl: number): number {
    if (this.type === "udp6") this.setOption("IPPROTO_IPV6", "IPV6_UNICAST_HOPS", ttl);
    else this.setOption("IPPROTO_IP", "IP_TTL", ttl);
    return ttl;
  }
  setMulticastTTL(ttl: number): number {
    if (this.type === "udp6") this.setOption("IPPROTO_IPV6", "IPV6_MULTICAST_HOPS", ttl);
    else this.setOption("IPPROTO_IP", "IP_MULTICAST_TTL", ttl);
    return ttl;
  }
  setMulticastLoopback(flag: boolean): boolean {
    if (this.type === "udp6") this.setOption("IPPROTO_IPV6", "IPV6_MULTICAST_LOOP", flag ? 1 : 0);
    else this.setOption("IPPROTO_IP", "IP_MULTICAST_LOOP", flag ? 1 : 0);
    return flag;
  }
  setRecvBufferSize(size: number): void { this.setOption("SOL_SOCKET", "SO_RCVBUF", size); }
  setSendBufferSize(size: number): void { this.setOption("SOL_SOCKET", "SO_SNDBUF", size); }

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

/** dgram.createSocket(type[, listener]) or createSocket(options[, listener]). */
export function createSocket(type: SocketType | SocketOptions, listener?: MessageListener): Socket {
  const options = typeof type === "string" ? { type } : type;
  if (options.type !== "udp4" && options.type !== "udp6") {
    throw Object.assign(new TypeError(`Bad socket type specified. Valid types are: udp4, udp6`),
      { code: "ERR_SOCKET_BAD_TYPE" });
  }
  return new Socket(options, listener);
}
