/**
 * The call machinery: one session with the daemon, requests in flight, and
 * replies matched by their SP request id.
 *
 * A `Client` talks to one daemon URL over one connection at a time; that
 * connection is a broker *session*: the daemon ties every handle to it and
 * closes them all when it ends. The first request of a session is Hello,
 * whose reply carries the daemon's constants (its AF_*, SOCK_*, errno... by
 * name). Requests are numbered (`Request.seq` 1, 2, 3, ...) in the order they
 * are written, so the daemon starts them in that order; any number may be in
 * flight; nothing is resent and nothing times out on this side (the daemon
 * applies the socket's timeout: a blocking recv may wait for hours). When the
 * connection drops, every waiting call fails with ECONNRESET and the next
 * call opens a new session.
 *
 * Event loop: the connection keeps the process alive only while a call that
 * asked to (`ref`, the default) waits for its reply, as Node's own handles do.
 */
import * as os from "node:os";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ReplySchema,
  RequestSchema,
  type HelloReply,
  type Reply,
  type Request,
} from "./gen/sockbroker_pb.js";
import { fromWire, type BrokerError } from "./errors.js";
import { BrokerConnectionError, Connection, defaultUrl } from "./transport.js";

export const VERSION = "0.1.0";
export const PROTOCOL_VERSION = 1;
export const TOKEN_ENV = "SOCKBROKER_TOKEN";

type RequestInit = MessageInitShape<typeof RequestSchema>;
/** The `op` member of a request, as an init object. */
export type OpInit = NonNullable<RequestInit["op"]>;
type ResultCase = NonNullable<Reply["result"]["case"]>;
/** The reply member `K` of a reply. */
export type ResultOf<K extends ResultCase> = Extract<Reply["result"], { case: K }>["value"];

/** A ref flag that its owner may flip while calls wait (a socket's unref()). */
export interface RefToken {
  refd: boolean;
}

export interface CallOptions {
  /** Keep the event loop alive while the call waits (default true); a
   * RefToken is read whenever the client recounts (see ClientCore.recount). */
  ref?: boolean | RefToken;
  /** Cancel a waiting operation (the daemon answers it CANCELLED). */
  signal?: AbortSignal;
  /** The session the handle belongs to: the call fails once it is gone. */
  session?: Session;
}

interface Pending {
  seq: bigint;
  syscall: string;
  ref: boolean | RefToken;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

/** One connection to the daemon and what its Hello said. */
export class Session {
  readonly conn: Connection;
  lost: Error | null = null;
  hello: HelloReply | null = null;
  constants: Record<string, number> = {};
  maxDataSize = 1 << 20;
  seq = 0n;
  requestId: number;
  readonly pending = new Map<number, Pending>();
  refd = false;
  /** The family of each handle this session made, for reading addresses. */
  readonly families = new Map<number, number>();

  constructor(conn: Connection) {
    this.conn = conn;
    this.requestId = Math.floor(Math.random() * 0x7fffffff);
  }
}

export interface ClientOptions {
  /** The broker URL; default $SOCKBROKER_URL or the daemon's default path. */
  url?: string;
  /** The token for Hello; default $SOCKBROKER_TOKEN. */
  token?: string;
  /** The name in the daemon's logs; default "node-sockbroker/VERSION (pid N)". */
  clientName?: string;
}

/** The connection to one daemon and the calls on it. Connects lazily. */
export class ClientCore {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly clientName: string;
  private current: Session | null = null;
  private opening: Promise<Session> | null = null;
  private closed = false;

  constructor(options: ClientOptions = {}) {
    this.url = options.url ?? defaultUrl();
    this.token = options.token ?? process.env[TOKEN_ENV];
    this.clientName = options.clientName ?? `node-sockbroker/${VERSION}`;
  }

  /** The live session, connecting (and saying Hello) if there is none. */
  session(): Promise<Session> {
    if (this.current && !this.current.lost) return Promise.resolve(this.current);
    if (this.closed) {
      return Promise.reject(new BrokerConnectionError(
        "this sockbroker client was closed; create a new one"));
    }
    if (!this.opening) {
      this.opening = this.openSession().finally(() => { this.opening = null; });
    }
    return this.opening;
  }

  /** The session if one is open (no connecting). */
  sessionNow(): Session | null {
    return this.current && !this.current.lost ? this.current : null;
  }

  private async openSession(): Promise<Session> {
    const conn = await Connection.open(this.url);
    const session = new Session(conn);
    conn.unref();
    conn.on("message", (data: Buffer) => this.onMessage(session, data));
    conn.on("close", (why: Error) => this.onLost(session, why));
    const hello = await this.callOn(session, {
      case: "hello",
      value: {
        protocolVersion: PROTOCOL_VERSION,
        clientName: `${this.clientName} (pid ${process.pid})`,
        ...(this.token ? { token: this.token } : {}),
      },
    }, "hello", "hello", {});
    session.hello = hello;
    if (hello.maxDataSize) session.maxDataSize = Number(hello.maxDataSize);
    for (const c of hello.constants) session.constants[c.name] = Number(c.value);
    this.current = session;
    return session;
  }

  /** End the session: the daemon closes all of its sockets. */
  end(): void {
    this.closed = true;
    this.current?.conn.lose("the client was closed");
  }

  /** The daemon's constants by name (connecting if needed). */
  async constants(): Promise<Record<string, number>> {
    return (await this.session()).constants;
  }

  /** A constant of the daemon; throws if the daemon has no such name. */
  async constant(name: string): Promise<number> {
    const value = (await this.session()).constants[name];
    if (value === undefined) throw new TypeError(`the broker's host has no constant ${name}`);
    return value;
  }

  private onMessage(session: Session, data: Buffer): void {
    if (data.length < 4) {
      session.conn.lose("the broker sent a reply without a request id");
      return;
    }
    const id = data.readUInt32BE(0) & 0x7fffffff;
    const call = session.pending.get(id);
    if (!call) return;
    session.pending.delete(id);
    this.recount(session);
    let reply: Reply;
    try {
      reply = fromBinary(ReplySchema, data.subarray(4));
    } catch (err) {
      call.reject(new BrokerConnectionError(`the broker sent a reply this client cannot ` +
        `decode: ${(err as Error).message}`, "EPROTO"));
      session.conn.lose("undecodable reply");
      return;
    }
    call.resolve(reply);
  }

  private onLost(session: Session, why: Error): void {
    session.lost = why;
    if (this.current === session) this.current = null;
    const pending = [...session.pending.values()];
    session.pending.clear();
    // One error object each: their receivers add their own context to it.
    for (const call of pending) call.reject(new BrokerConnectionError(why.message));
  }

  /**
   * Keep the connection ref'd exactly while some waiting call is: called
   * after every change, and by owners of a RefToken after flipping it.
   */
  recount(session: Session | null = this.current): void {
    if (!session || session.lost) return;
    let refd = false;
    for (const call of session.pending.values()) {
      if (typeof call.ref === "boolean" ? call.ref : call.ref.refd) {
        refd = true;
        break;
      }
    }
    if (refd !== session.refd) {
      session.refd = refd;
      if (refd) session.conn.ref();
      else session.conn.unref();
    }
  }

  /** Number and send one request on `session`; resolve with its Reply. */
  private sendRequest(session: Session, op: OpInit, syscall: string, options: CallOptions): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (session.lost) {
        reject(session.hello && session !== this.current ? new BrokerConnectionError(
          `this socket belonged to a broker session (at ${this.url}) whose connection was ` +
          "lost; the broker closed it, create a new socket")
          : new BrokerConnectionError(session.lost.message));
        return;
      }
      session.seq += 1n;
      session.requestId = (session.requestId + 1) & 0x7fffffff;
      const id = session.requestId;
      const call: Pending = { seq: session.seq, syscall, ref: options.ref ?? true, resolve, reject };
      const body = toBinary(RequestSchema, create(RequestSchema, { seq: call.seq, op }));
      const header = Buffer.alloc(4);
      header.writeUInt32BE((id | 0x80000000) >>> 0);
      session.pending.set(id, call);
      this.recount(session);
      try {
        session.conn.send([header, body]);
      } catch (err) {
        session.pending.delete(id);
        this.recount(session);
        reject(err as Error);
        return;
      }
      const signal = options.signal;
      if (signal) {
        const abort = () => {
          if (session.pending.has(id) && !session.lost) {
            this.sendRequest(session, { case: "cancel", value: { targetSeq: call.seq } }, "cancel",
              { ref: false }).catch(() => undefined);
          }
        };
        if (signal.aborted) abort();
        else signal.addEventListener("abort", abort, { once: true });
      }
    });
  }

  private async callOn<K extends ResultCase>(session: Session, op: OpInit, expect: K,
      syscall: string, options: CallOptions): Promise<ResultOf<K>> {
    const reply = await this.sendRequest(session, op, syscall, options);
    if (reply.error) throw fromWire(reply.error, syscall);
    if (reply.result.case !== expect) {
      session.conn.lose(`the broker answered ${syscall} with '${reply.result.case}'`);
      throw new BrokerConnectionError(`the broker at ${this.url} sent a reply that does not ` +
        `match its request (${reply.result.case} where ${expect} was expected); the ` +
        "connection was closed", "EPROTO");
    }
    return reply.result.value as ResultOf<K>;
  }

  /**
   * Send one operation and return its reply's `expect` member; a wire error
   * rejects with a Node error (see errors.ts) whose syscall is `syscall`.
   */
  async call<K extends ResultCase>(op: OpInit, expect: K, syscall: string = op.case ?? "call",
      options: CallOptions = {}): Promise<ResultOf<K>> {
    const session = options.session ?? await this.session();
    return this.callOn(session, op, expect, syscall, options);
  }
}

export type { BrokerError };

/** This platform's positive errno number for a name (0 for none). */
export function errnoNumber(name: string): number {
  return (os.constants.errno as Record<string, number>)[name] ?? 0;
}
