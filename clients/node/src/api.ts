/**
 * The low-level promise API: one method per operation of the daemon, with
 * the reference's (Python socket module's) arguments and results, for
 * harnesses that want the raw surface. Handles are numbers (the daemon's
 * opaque ids); families, types, levels and flags are the daemon's numbers,
 * read from `await client.constants()`; timeouts are seconds, `null` for
 * blocking mode. Errors reject with Node errors (errors.ts).
 */
import { ClientCore, errnoNumber, type CallOptions, type Session } from "./client.js";
import { fromWire as addressFromWire, toWire as addressToWire, type Address } from "./address.js";
import type { Ancillary as WireAncillary, SocketReply } from "./gen/sockbroker_pb.js";
import { isFieldSet, type MessageInitShape } from "@bufbuild/protobuf";
import { TimeoutReplySchema, type AncillarySchema } from "./gen/sockbroker_pb.js";

export type Handle = number;
export type Timeout = number | null;

/** Poll readiness bits (the wire's, independent of the host's POLL*). */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
export const POLL_ERROR = 4;
export const POLL_HANGUP = 8;

/** One control message: raw `data`, or a decoded member (rights, pktinfo...). */
export interface Ancillary {
  level: number;
  type: number;
  data?: Buffer;
  /** SCM_RIGHTS: handles. */
  rights?: Handle[];
  credentials?: { pid: number; uid: number; gid: number };
  pktinfo?: { ifindex: number; specDst?: string; addr: string };
  intValue?: number;
  timestamp?: { seconds: number; nanoseconds: number };
  extendedError?: Record<string, unknown>;
}

export interface RecvMsgResult {
  data: Buffer;
  ancillary: Ancillary[];
  flags: number;
  address: Address | null;
}

export type AddrInfo = [family: number, type: number, proto: number, canonname: string,
  address: Address];

function handleId(value: bigint): Handle {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`handle id ${value} is beyond what this client can represent`);
  }
  return Number(value);
}

function timeoutField(timeout: Timeout | undefined): { timeout?: number } {
  return timeout === null || timeout === undefined ? {} : { timeout };
}

function ancillaryToWire(item: Ancillary): MessageInitShape<typeof AncillarySchema> {
  const base = { level: item.level, type: item.type };
  if (item.rights) return { ...base, decoded: { case: "rights", value: { handles: item.rights.map(BigInt) } } };
  if (item.credentials) {
    const c = item.credentials;
    return { ...base, decoded: { case: "credentials", value: { pid: BigInt(c.pid), uid: BigInt(c.uid), gid: BigInt(c.gid) } } };
  }
  if (item.pktinfo) return { ...base, decoded: { case: "pktinfo", value: item.pktinfo } };
  if (item.intValue !== undefined) return { ...base, decoded: { case: "intValue", value: item.intValue } };
  return { ...base, data: item.data ?? Buffer.alloc(0) };
}

function ancillaryFromWire(item: WireAncillary): Ancillary {
  const out: Ancillary = { level: item.level, type: item.type, data: Buffer.from(item.data) };
  const d = item.decoded;
  switch (d.case) {
    case "rights": out.rights = d.value.handles.map(handleId); break;
    case "credentials":
      out.credentials = { pid: Number(d.value.pid), uid: Number(d.value.uid), gid: Number(d.value.gid) };
      break;
    case "pktinfo": out.pktinfo = { ifindex: d.value.ifindex, specDst: d.value.specDst, addr: d.value.addr }; break;
    case "intValue": out.intValue = d.value; break;
    case "timestamp":
      out.timestamp = { seconds: Number(d.value.seconds), nanoseconds: Number(d.value.nanoseconds) };
      break;
    case "extendedError": {
      const e = d.value;
      out.extendedError = { errno: e.errnoNumber, code: e.errnoName, origin: e.origin, type: e.type,
        icmpCode: e.code, info: e.info, data: e.data, offender: e.offender ? addressFromWire(e.offender) : null };
      break;
    }
    default: break;
  }
  return out;
}

/** A client of one daemon with the low-level operations as methods. */
export class Client extends ClientCore {
  private async family(handle: Handle, session?: Session): Promise<number | undefined> {
    const s = session ?? await this.session();
    return s.families.get(handle);
  }

  private async wireAddress(address: Address, handle: Handle | undefined, caller: string,
      options: CallOptions) {
    const session = options.session ?? await this.session();
    const family = handle === undefined ? undefined : session.families.get(handle);
    return addressToWire(address, family, session.constants, caller);
  }

  private remember(reply: SocketReply | undefined, options: CallOptions): Handle {
    if (!reply) throw new TypeError("the broker answered no socket");
    const handle = handleId(reply.handle);
    const session = options.session ?? this.sessionNow();
    session?.families.set(handle, reply.family);
    return handle;
  }

  private forget(handle: Handle, options: CallOptions): void {
    (options.session ?? this.sessionNow())?.families.delete(handle);
  }

  // ---- lifecycle ----------------------------------------------------------

  async socket(family?: number, type?: number, proto?: number, timeout: Timeout = null,
      options: CallOptions = {}): Promise<Handle> {
    const r = await this.call({ case: "socket", value: { family, type, proto, ...timeoutField(timeout) } },
      "socket", "socket", options);
    return this.remember(r, options);
  }

  async socketpair(family?: number, type?: number, proto?: number, timeout: Timeout = null,
      options: CallOptions = {}): Promise<[Handle, Handle]> {
    const r = await this.call({ case: "socketpair", value: { family, type, proto, ...timeoutField(timeout) } },
      "socketpair", "socketpair", options);
    return [this.remember(r.first, options), this.remember(r.second, options)];
  }

  async dup(handle: Handle, options: CallOptions = {}): Promise<Handle> {
    const r = await this.call({ case: "dup", value: { handle: BigInt(handle) } }, "socket", "dup", options);
    return this.remember(r, options);
  }

  async close(handle: Handle, options: CallOptions = {}): Promise<void> {
    await this.call({ case: "close", value: { handle: BigInt(handle) } }, "done", "close", options);
    this.forget(handle, options);
  }

  async bind(handle: Handle, address: Address, options: CallOptions = {}): Promise<void> {
    const a = await this.wireAddress(address, handle, "bind", options);
    await this.call({ case: "bind", value: { handle: BigInt(handle), address: a } }, "done", "bind", options);
  }

  async listen(handle: Handle, backlog?: number, options: CallOptions = {}): Promise<void> {
    await this.call({ case: "listen", value: { handle: BigInt(handle), backlog } }, "done", "listen", options);
  }

  async accept(handle: Handle, options: CallOptions = {}): Promise<[Handle, Address | null]> {
    const r = await this.call({ case: "accept", value: { handle: BigInt(handle) } }, "accept", "accept", options);
    return [this.remember(r.socket, options), r.address ? addressFromWire(r.address) : null];
  }

  async connect(handle: Handle, address: Address, options: CallOptions = {}): Promise<void> {
    const a = await this.wireAddress(address, handle, "connect", options);
    await this.call({ case: "connect", value: { handle: BigInt(handle), address: a } }, "done", "connect", options);
  }

  /** connect_ex(): 0, or this platform's (positive) errno of the connect. */
  async connectEx(handle: Handle, address: Address, options: CallOptions = {}): Promise<number> {
    const a = await this.wireAddress(address, handle, "connect_ex", options);
    const r = await this.call({ case: "connect", value: { handle: BigInt(handle), address: a, ex: true } },
      "connect", "connect", options);
    if (!r.errnoNumber) return 0;
    return errnoNumber(r.errnoName ?? "") || r.errnoNumber;
  }

  async shutdown(handle: Handle, how: number, options: CallOptions = {}): Promise<void> {
    await this.call({ case: "shutdown", value: { handle: BigInt(handle), how } }, "done", "shutdown", options);
  }

  async getsockname(handle: Handle, options: CallOptions = {}): Promise<Address> {
    const r = await this.call({ case: "getsockname", value: { handle: BigInt(handle) } }, "address",
      "getsockname", options);
    return addressFromWire(r.address);
  }

  async getpeername(handle: Handle, options: CallOptions = {}): Promise<Address> {
    const r = await this.call({ case: "getpeername", value: { handle: BigInt(handle) } }, "address",
      "getpeername", options);
    return addressFromWire(r.address);
  }

  /** getsockopt(level, name): the int; with buflen: the bytes. */
  async getsockopt(handle: Handle, level: number, optname: number, buflen?: number,
      options: CallOptions = {}): Promise<number | Buffer> {
    const r = await this.call({ case: "getsockopt", value: { handle: BigInt(handle), level, optname, buflen } },
      "getsockopt", "getsockopt", options);
    if (r.value.case === "bytesValue") return Buffer.from(r.value.value);
    return Number(r.value.value ?? 0);
  }

  /** setsockopt(level, name, int | Buffer), or (level, name, null, optlen). */
  async setsockopt(handle: Handle, level: number, optname: number, value: number | Buffer | null,
      optlen?: number, options: CallOptions = {}): Promise<void> {
    const v = value === null ? { case: "nullOptlen" as const, value: optlen ?? 0 }
      : typeof value === "number" ? { case: "intValue" as const, value: BigInt(value) }
      : { case: "bytesValue" as const, value };
    await this.call({ case: "setsockopt", value: { handle: BigInt(handle), level, optname, value: v } },
      "done", "setsockopt", options);
  }

  async settimeout(handle: Handle, timeout: Timeout, options: CallOptions = {}): Promise<void> {
    await this.call({ case: "settimeout", value: { handle: BigInt(handle), ...timeoutField(timeout) } },
      "done", "settimeout", options);
  }

  async gettimeout(handle: Handle, options: CallOptions = {}): Promise<Timeout> {
    const r = await this.call({ case: "gettimeout", value: { handle: BigInt(handle) } }, "timeout",
      "gettimeout", options);
    // proto2 presence: an absent timeout is None (blocking), not 0.0.
    return isFieldSet(r, TimeoutReplySchema.field.timeout) ? r.timeout : null;
  }

  async setblocking(handle: Handle, flag: boolean, options: CallOptions = {}): Promise<void> {
    await this.settimeout(handle, flag ? null : 0, options);
  }

  async setInheritable(handle: Handle, inheritable: boolean, options: CallOptions = {}): Promise<void> {
    await this.call({ case: "setInheritable", value: { handle: BigInt(handle), inheritable } }, "done",
      "set_inheritable", options);
  }

  async getInheritable(handle: Handle, options: CallOptions = {}): Promise<boolean> {
    const r = await this.call({ case: "getInheritable", value: { handle: BigInt(handle) } }, "flag",
      "get_inheritable", options);
    return r.value;
  }

  // ---- data ---------------------------------------------------------------

  async send(handle: Handle, data: Uint8Array, flags = 0, options: CallOptions = {}): Promise<number> {
    const r = await this.call({ case: "send", value: { handle: BigInt(handle), data, flags } }, "send", "send", options);
    return Number(r.count);
  }

  async sendto(handle: Handle, data: Uint8Array, flags: number, address: Address,
      options: CallOptions = {}): Promise<number> {
    const a = await this.wireAddress(address, handle, "sendto", options);
    const r = await this.call({ case: "sendto", value: { handle: BigInt(handle), data, flags, address: a } },
      "send", "sendto", options);
    return Number(r.count);
  }

  /** sendall(): every byte, split into requests of the daemon's largest payload. */
  async sendall(handle: Handle, data: Uint8Array, flags = 0, options: CallOptions = {}): Promise<number> {
    const session = options.session ?? await this.session();
    const max = session.maxDataSize;
    if (data.length <= max) {
      await this.call({ case: "sendall", value: { handle: BigInt(handle), data, flags } }, "send", "sendall",
        { ...options, session });
      return data.length;
    }
    const parts: Promise<unknown>[] = [];
    for (let at = 0; at < data.length; at += max) {
      parts.push(this.call({ case: "sendall", value: { handle: BigInt(handle), data: data.subarray(at, at + max), flags } },
        "send", "sendall", { ...options, session }));
    }
    await Promise.all(parts);
    return data.length;
  }

  async recv(handle: Handle, bufsize: number, flags = 0, options: CallOptions = {}): Promise<Buffer> {
    const r = await this.call({ case: "recv", value: { handle: BigInt(handle), bufsize: BigInt(bufsize), flags } },
      "recv", "recv", options);
    return Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  }

  async recvfrom(handle: Handle, bufsize: number, flags = 0,
      options: CallOptions = {}): Promise<[Buffer, Address | null]> {
    const r = await this.call({ case: "recvfrom", value: { handle: BigInt(handle), bufsize: BigInt(bufsize), flags } },
      "recv", "recvfrom", options);
    return [Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength),
      r.address ? addressFromWire(r.address) : null];
  }

  async sendmsg(handle: Handle, buffers: Uint8Array[], ancillary: Ancillary[] = [], flags = 0,
      address?: Address, options: CallOptions = {}): Promise<number> {
    const a = address === undefined || address === null ? undefined
      : await this.wireAddress(address, handle, "sendmsg", options);
    const r = await this.call({ case: "sendmsg", value: { handle: BigInt(handle), buffers,
      ancillary: ancillary.map(ancillaryToWire), flags, address: a } }, "send", "sendmsg", options);
    return Number(r.count);
  }

  async recvmsg(handle: Handle, bufsize: number, ancbufsize = 0, flags = 0,
      options: CallOptions = {}): Promise<RecvMsgResult> {
    const r = await this.call({ case: "recvmsg", value: { handle: BigInt(handle), bufsize: BigInt(bufsize),
      ancbufsize: BigInt(ancbufsize), flags } }, "recvmsg", "recvmsg", options);
    const session = options.session ?? this.sessionNow();
    const ancillary = r.ancillary.map(ancillaryFromWire);
    for (const item of ancillary) {
      for (const h of item.rights ?? []) if (h) session?.families.set(h, -1);
    }
    return { data: Buffer.from(r.data), ancillary, flags: r.msgFlags,
      address: r.address ? addressFromWire(r.address) : null };
  }

  // ---- waiting ------------------------------------------------------------

  /** Wait until a handle is ready; [handle, events] of the ready ones, [] on timeout. */
  async poll(items: [Handle, number][], timeout: Timeout = null,
      options: CallOptions = {}): Promise<[Handle, number][]> {
    const r = await this.call({ case: "poll", value: {
      items: items.map(([handle, events]) => ({ handle: BigInt(handle), events })), ...timeoutField(timeout) } },
    "poll", "poll", options);
    return r.ready.map((item) => [handleId(item.handle), item.events]);
  }

  // ---- module functions ---------------------------------------------------

  /** create_connection((host, port), timeout, source): [handle, peer]. */
  async createConnection(host: string, port: number, timeout: Timeout = null,
      sourceAddress?: Address, options: CallOptions = {}): Promise<[Handle, Address]> {
    const source = sourceAddress === undefined ? undefined
      : await this.wireAddress(sourceAddress, undefined, "create_connection", options);
    const r = await this.call({ case: "createConnection", value: { host, port, ...timeoutField(timeout),
      sourceAddress: source } }, "createConnection", "create_connection", options);
    return [this.remember(r.socket, options), addressFromWire(r.peer)];
  }

  async createServer(address: Address, settings: { family?: number; backlog?: number;
      reusePort?: boolean; dualstackIpv6?: boolean; timeout?: Timeout } = {},
  options: CallOptions = {}): Promise<Handle> {
    const a = await this.wireAddress(address, undefined, "create_server", options);
    const r = await this.call({ case: "createServer", value: { address: a, family: settings.family,
      backlog: settings.backlog, reusePort: settings.reusePort, dualstackIpv6: settings.dualstackIpv6,
      ...timeoutField(settings.timeout) } }, "socket", "create_server", options);
    return this.remember(r, options);
  }

  async hasIpv6(options: CallOptions = {}): Promise<boolean> {
    return (await this.call({ case: "hasIpv6", value: {} }, "flag", "has_ipv6", options)).value;
  }

  async hasDualstackIpv6(options: CallOptions = {}): Promise<boolean> {
    return (await this.call({ case: "hasDualstackIpv6", value: {} }, "flag", "has_dualstack_ipv6", options)).value;
  }

  async cmsgLen(length: number, options: CallOptions = {}): Promise<number> {
    const r = await this.call({ case: "cmsgSize", value: { length: BigInt(length) } }, "cmsgSize", "CMSG_LEN", options);
    return Number(r.cmsgLen);
  }

  async cmsgSpace(length: number, options: CallOptions = {}): Promise<number> {
    const r = await this.call({ case: "cmsgSize", value: { length: BigInt(length) } }, "cmsgSize", "CMSG_SPACE", options);
    return Number(r.cmsgSpace);
  }

  // ---- name service -------------------------------------------------------

  async getaddrinfo(host: string | null, port: string | number | null, family = 0, type = 0, proto = 0,
      flags = 0, options: CallOptions = {}): Promise<AddrInfo[]> {
    const r = await this.call({ case: "getaddrinfo", value: {
      ...(host === null ? {} : { host }), ...(port === null ? {} : { port: String(port) }),
      family, type, proto, flags } }, "getaddrinfo", "getaddrinfo", options);
    return r.results.map((ai) => [ai.family, ai.type, ai.proto, ai.canonname, addressFromWire(ai.address)]);
  }

  async getnameinfo(address: Address, flags = 0, options: CallOptions = {}): Promise<[string, string]> {
    const a = await this.wireAddress(address, undefined, "getnameinfo", options);
    const r = await this.call({ case: "getnameinfo", value: { address: a, flags } }, "getnameinfo", "getnameinfo", options);
    return [r.host, r.service];
  }

  async gethostbyname(name: string, options: CallOptions = {}): Promise<string> {
    return (await this.call({ case: "gethostbyname", value: { name } }, "string", "gethostbyname", options)).value;
  }

  async gethostbynameEx(name: string, options: CallOptions = {}): Promise<[string, string[], string[]]> {
    const r = await this.call({ case: "gethostbynameEx", value: { name } }, "hostent", "gethostbyname_ex", options);
    return [r.hostname, r.aliases, r.addresses];
  }

  async gethostbyaddr(address: string, options: CallOptions = {}): Promise<[string, string[], string[]]> {
    const r = await this.call({ case: "gethostbyaddr", value: { name: address } }, "hostent", "gethostbyaddr", options);
    return [r.hostname, r.aliases, r.addresses];
  }

  async getfqdn(name = "", options: CallOptions = {}): Promise<string> {
    return (await this.call({ case: "getfqdn", value: { name } }, "string", "getfqdn", options)).value;
  }

  async gethostname(options: CallOptions = {}): Promise<string> {
    return (await this.call({ case: "gethostname", value: {} }, "string", "gethostname", options)).value;
  }

  async sethostname(name: string | Buffer, options: CallOptions = {}): Promise<void> {
    await this.call({ case: "sethostname", value: { name: Buffer.from(name) } }, "done", "sethostname", options);
  }

  async getprotobyname(name: string, options: CallOptions = {}): Promise<number> {
    return Number((await this.call({ case: "getprotobyname", value: { name } }, "integer", "getprotobyname",
      options)).value);
  }

  async getservbyname(name: string, proto?: string, options: CallOptions = {}): Promise<number> {
    return Number((await this.call({ case: "getservbyname", value: { name, proto } }, "integer", "getservbyname",
      options)).value);
  }

  async getservbyport(port: number, proto?: string, options: CallOptions = {}): Promise<string> {
    return (await this.call({ case: "getservbyport", value: { port, proto } }, "string", "getservbyport",
      options)).value;
  }

  async ifNameindex(options: CallOptions = {}): Promise<[number, string][]> {
    const r = await this.call({ case: "ifNameindex", value: {} }, "ifNameindex", "if_nameindex", options);
    return r.interfaces.map((i) => [i.index, i.name]);
  }

  async ifNametoindex(name: string, options: CallOptions = {}): Promise<number> {
    return Number((await this.call({ case: "ifNametoindex", value: { name } }, "integer", "if_nametoindex",
      options)).value);
  }

  async ifIndextoname(index: number, options: CallOptions = {}): Promise<string> {
    return (await this.call({ case: "ifIndextoname", value: { index: BigInt(index) } }, "string", "if_indextoname",
      options)).value;
  }
}
