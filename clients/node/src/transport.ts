/**
 * The SP (scalability protocols) wire protocol, spoken by hand: the req0 side
 * of one connection to the daemon's rep0 listener, without NNG.
 *
 * - connect: `ipc://PATH` and `abstract://NAME` (unix stream sockets; the
 *   abstract name is URL-decoded, as NNG takes it), `tcp://HOST:PORT`, and
 *   `tls+tcp://HOST:PORT` (TLS with a client certificate);
 * - handshake: each side sends `00 'S' 'P' 00`, its protocol id as a u16be
 *   (req0 = 0x30, rep0 = 0x31) and `00 00`, and checks the peer's;
 * - frames: over ipc/abstract a byte 0x01, a u64be length and the message;
 *   over tcp and tls+tcp a u64be length and the message.
 *
 * The sockets used here are Node's own, captured when this module loads, so
 * that `sockbroker/register` never routes the broker's own connection
 * through the broker.
 */
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as tls from "node:tls";

const RealSocket = net.Socket;
const realTlsConnect = tls.connect;

export const PROTO_REQ0 = 0x30;
export const PROTO_REP0 = 0x31;
const HANDSHAKE = Buffer.from([0, 0x53, 0x50, 0, 0, PROTO_REQ0, 0, 0]);

export const URL_ENV = "SOCKBROKER_URL";
export const TLS_CA_FILE_ENV = "SOCKBROKER_TLS_CA_FILE";
export const TLS_CERT_KEY_FILE_ENV = "SOCKBROKER_TLS_CERT_KEY_FILE";

/** Largest frame this side accepts before allocating it (the daemon's
 * largest message is far below). */
const MAX_FRAME = 256 * 1024 * 1024;

/** The broker URL: $SOCKBROKER_URL, else the daemon's default path. */
export function defaultUrl(): string {
  const url = process.env[URL_ENV];
  if (url) return url;
  const euid = process.geteuid ? process.geteuid() : os.userInfo().uid;
  if (euid === 0) return "ipc:///run/sockbroker/sockbroker.sock";
  let runtimeDir = process.env.XDG_RUNTIME_DIR ?? "";
  if (runtimeDir.startsWith("/")) {
    runtimeDir = runtimeDir.replace(/\/+$/, "");
    return `ipc://${runtimeDir}/sockbroker/sockbroker.sock`;
  }
  return `ipc:///tmp/sockbroker-${euid}/sockbroker.sock`;
}

export type ParsedUrl =
  | { scheme: "ipc" | "abstract"; path: string }
  | { scheme: "tcp" | "tls+tcp"; host: string; port: number };

/** Split a broker URL; throws a TypeError naming what is wrong. */
export function parseUrl(url: string): ParsedUrl {
  const at = url.indexOf("://");
  if (at < 0) {
    throw new TypeError(`broker URL '${url}' has no scheme: use ipc://PATH, abstract://NAME, ` +
      "tcp://HOST:PORT or tls+tcp://HOST:PORT");
  }
  const scheme = url.slice(0, at);
  const rest = url.slice(at + 3);
  if (scheme === "ipc") {
    if (!rest) throw new TypeError(`broker URL '${url}' has no path`);
    return { scheme, path: rest };
  }
  if (scheme === "abstract") {
    if (!rest) throw new TypeError(`broker URL '${url}' has no name`);
    // NNG takes the name URL-encoded (%00 for a NUL byte).
    let name: string;
    try {
      name = decodeURIComponent(rest);
    } catch {
      throw new TypeError(`broker URL '${url}': the abstract name is not valid URL-encoded UTF-8`);
    }
    return { scheme, path: "\0" + name };
  }
  const base = scheme.replace(/[46]$/, "");
  if (base === "tcp" || base === "tls+tcp") {
    const colon = rest.lastIndexOf(":");
    const portText = colon < 0 ? "" : rest.slice(colon + 1);
    if (!/^[0-9]+$/.test(portText) || Number(portText) > 65535) {
      throw new TypeError(`broker URL '${url}' needs HOST:PORT with a port 0-65535`);
    }
    let host = rest.slice(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
    return { scheme: base, host: host || "127.0.0.1", port: Number(portText) };
  }
  throw new TypeError(`broker URL '${url}': unknown scheme '${scheme}'; use ipc://, ` +
    "abstract://, tcp:// or tls+tcp://");
}

/** The connection failed or was lost (code ECONNRESET or the socket's). */
export class BrokerConnectionError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  constructor(message: string, code = "ECONNRESET", cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "BrokerConnectionError";
    this.code = code;
    const number = (os.constants.errno as Record<string, number>)[code];
    if (number !== undefined) this.errno = -number;
  }
}

/**
 * One SP req0 connection to the daemon. Emits `message` (one reply body,
 * without the frame header) and `close` (an Error saying why) once.
 */
export class Connection extends EventEmitter {
  readonly url: string;
  private readonly socket: net.Socket;
  private readonly ipcFrames: boolean;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private handshakeDone = false;
  private closed = false;

  private constructor(url: string, socket: net.Socket, ipcFrames: boolean) {
    super();
    this.url = url;
    this.socket = socket;
    this.ipcFrames = ipcFrames;
  }

  /** Connect, shake hands, and resolve with the open connection. */
  static open(url: string, connectTimeoutMs = 30000): Promise<Connection> {
    const where = parseUrl(url);
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      let readyEvent = "connect";
      if (where.scheme === "ipc" || where.scheme === "abstract") {
        socket = new RealSocket();
        socket.connect({ path: where.path });
      } else if (where.scheme === "tcp") {
        socket = new RealSocket();
        socket.connect({ host: where.host, port: where.port });
        socket.setNoDelay(true);
      } else {
        const tlsWhere = where as { host: string; port: number };
        const caFile = process.env[TLS_CA_FILE_ENV];
        const certKeyFile = process.env[TLS_CERT_KEY_FILE_ENV];
        if (!caFile || !certKeyFile) {
          reject(new BrokerConnectionError(
            `a tls+tcp:// broker needs the CA that signed the daemon's certificate in ` +
            `$${TLS_CA_FILE_ENV} and this client's certificate and key (one PEM file) in ` +
            `$${TLS_CERT_KEY_FILE_ENV}`, "EINVAL"));
          return;
        }
        const pem = fs.readFileSync(certKeyFile);
        socket = realTlsConnect({
          host: tlsWhere.host, port: tlsWhere.port, servername: net.isIP(tlsWhere.host) ? undefined :
            tlsWhere.host, ca: fs.readFileSync(caFile), cert: pem, key: pem,
        });
        socket.setNoDelay(true);
        readyEvent = "secureConnect";
      }
      const conn = new Connection(url, socket, where.scheme === "ipc" || where.scheme === "abstract");
      const timer = setTimeout(() => fail(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })),
        connectTimeoutMs);
      const fail = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        const code = err.code ?? "ECONNREFUSED";
        // Node's libuv (up to Node 20 at least) connects to an abstract name
        // padded with NUL bytes to the whole sun_path, which is another name
        // than the daemon's unless that one is padded too.
        const abstractNote = where.scheme === "abstract" && code === "ECONNREFUSED"
          ? `; note that this Node (${process.version}) pads abstract socket names with NUL ` +
            "bytes to the full sun_path, so it reaches only listeners whose names are padded " +
            "the same way: give Node clients an ipc:// or tcp:// listener" : "";
        reject(new BrokerConnectionError(
          `cannot connect to the broker at ${url}: ${err.message}; is sockbrokerd running ` +
          `there? (set $${URL_ENV} to the daemon's listen URL)${abstractNote}`, code, err));
      };
      socket.once("error", fail);
      socket.once(readyEvent, () => {
        socket.write(HANDSHAKE);
      });
      conn.once("handshake", () => {
        clearTimeout(timer);
        socket.removeListener("error", fail);
        socket.on("error", (err) => conn.lose(err.message));
        socket.on("close", () => conn.lose("the broker closed the connection"));
        resolve(conn);
      });
      conn.once("handshake-failed", (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
      socket.on("data", (data: Buffer) => conn.receive(data));
      socket.on("end", () => {
        if (!conn.handshakeDone) {
          conn.emit("handshake-failed", new BrokerConnectionError(
            `the broker at ${url} closed the connection during the SP handshake; is it a ` +
            "sockbrokerd listen URL?"));
        }
      });
    });
  }

  /** The first n bytes (n <= buffered), removed from the buffer. */
  private take(n: number): Buffer {
    const head = this.peek(n);
    const rest = this.chunks[0].subarray(n);
    if (rest.length) this.chunks[0] = rest;
    else this.chunks.shift();
    this.buffered -= n;
    return head;
  }

  /** The first n bytes (n <= buffered), joining only as many chunks as that takes. */
  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) {
      let joined = 1;
      for (let have = this.chunks[0].length; have < n; joined++) have += this.chunks[joined].length;
      this.chunks.splice(0, joined, Buffer.concat(this.chunks.slice(0, joined)));
    }
    return this.chunks[0].subarray(0, n);
  }

  private receive(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
    if (!this.handshakeDone) {
      if (this.buffered < 8) return;
      const peer = this.take(8);
      if (peer[0] !== 0 || peer[1] !== 0x53 || peer[2] !== 0x50 || peer[3] !== 0 ||
          peer[6] !== 0 || peer[7] !== 0) {
        this.emit("handshake-failed", new BrokerConnectionError(
          `${this.url} does not speak the SP protocol (it answered ${peer.toString("hex")}); ` +
          "is it a sockbrokerd listen URL?", "EPROTO"));
        return;
      }
      const proto = peer.readUInt16BE(4);
      if (proto !== PROTO_REP0) {
        this.emit("handshake-failed", new BrokerConnectionError(
          `${this.url} speaks SP protocol 0x${proto.toString(16)}, not rep0 (0x31); is it a ` +
          "sockbrokerd listen URL?", "EPROTO"));
        return;
      }
      this.handshakeDone = true;
      this.emit("handshake");
    }
    const headerSize = this.ipcFrames ? 9 : 8;
    // A frame is joined into one buffer once, when all of it has arrived.
    while (!this.closed && this.buffered >= headerSize) {
      const header = this.peek(headerSize);
      if (this.ipcFrames && header[0] !== 1) {
        this.lose(`${this.url} sent an ipc frame of unknown type ${header[0]}`);
        return;
      }
      const length = header.readBigUInt64BE(headerSize - 8);
      if (length > BigInt(MAX_FRAME)) {
        this.lose(`${this.url} sent a frame of ${length} bytes, more than this client takes`);
        return;
      }
      if (this.buffered < headerSize + Number(length)) return;
      this.take(headerSize);
      this.emit("message", Buffer.from(this.take(Number(length))));
    }
  }

  /** Send one message made of the concatenation of parts. */
  send(parts: Uint8Array[]): void {
    if (this.closed) throw new BrokerConnectionError(`the connection to ${this.url} is closed`);
    let length = 0;
    for (const part of parts) length += part.length;
    const header = Buffer.alloc(this.ipcFrames ? 9 : 8);
    if (this.ipcFrames) header[0] = 1;
    header.writeBigUInt64BE(BigInt(length), this.ipcFrames ? 1 : 0);
    this.socket.write(Buffer.concat([header, ...parts], header.length + length));
  }

  /** Keep the event loop alive for this connection (or not). */
  ref(): void { this.socket.ref(); }
  unref(): void { this.socket.unref(); }

  /** End the connection; `close` is emitted with why. */
  lose(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.emit("close", new BrokerConnectionError(
      `the connection to the broker at ${this.url} was lost (${why}); the broker session and ` +
      "all its sockets are gone (a new call opens a new session)"));
  }
}
