/**
 * Socket addresses: the reference's forms in JavaScript <-> the wire's
 * Address message.
 *
 * - AF_INET: `[host, port]`; AF_INET6: `[host, port, flowinfo, scopeId]`
 *   (`[host, port]` is taken too); host names are resolved by the daemon;
 * - AF_UNIX: a path string, `"\0name"` for Linux's abstract namespace, `""`
 *   for an unnamed socket (a Buffer is taken as the path's bytes);
 * - any other family the daemon reports comes back as the wire's object
 *   (`{ family: "af_netlink", pid, groups }`, `{ family: "raw", ... }`).
 *
 * Which inet member a tuple becomes follows the socket's family when it is
 * known, else the host (a ':' makes it IPv6).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AddressSchema, type Address as WireAddress } from "./gen/sockbroker_pb.js";

export type InetAddress = [host: string, port: number];
export type Inet6Address = [host: string, port: number, flowinfo: number, scopeId: number];
export type OtherAddress = { family: string; [field: string]: unknown };
export type Address = InetAddress | Inet6Address | string | Buffer | OtherAddress;

export type AddressInit = MessageInitShape<typeof AddressSchema>;

/** Families by the daemon's numbers, for choosing the inet member. */
export interface FamilyNumbers {
  AF_INET?: number;
  AF_INET6?: number;
  AF_UNIX?: number;
}

/** Encode an address for the wire; `family` is the socket's, when known. */
export function toWire(address: Address, family: number | undefined,
    consts: FamilyNumbers, caller: string): AddressInit {
  if (typeof address === "string" || Buffer.isBuffer(address)) {
    const bytes = Buffer.isBuffer(address) ? address : Buffer.from(address, "utf8");
    if (bytes.length > 0 && bytes[0] === 0) {
      return { family: { case: "afUnix", value: { name: { case: "abstract", value: bytes.subarray(1) } } } };
    }
    if (bytes.length === 0) return { family: { case: "afUnix", value: {} } };
    return { family: { case: "afUnix", value: { name: { case: "path", value: bytes } } } };
  }
  if (Array.isArray(address)) {
    const [host, port] = address;
    if (typeof host !== "string") throw new TypeError(`${caller}(): host must be a string`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`${caller}(): port must be 0-65535, not ${String(port)}`);
    }
    const inet6 = family !== undefined && family === consts.AF_INET6 ? true
      : family !== undefined && family === consts.AF_INET ? false
      : address.length === 4 || host.includes(":");
    if (inet6) {
      const flowinfo = address.length === 4 ? address[2] : 0;
      const scopeId = address.length === 4 ? address[3] : 0;
      return { family: { case: "afInet6", value: { host, port, flowinfo, scopeId } } };
    }
    return { family: { case: "afInet", value: { host, port } } };
  }
  if (address && typeof address === "object" && typeof address.family === "string") {
    const { family: member, ...fields } = address;
    return { family: { case: member, value: fields } } as AddressInit;
  }
  throw new TypeError(`${caller}(): an address is [host, port], [host, port, flowinfo, ` +
    "scopeId], a unix path string or Buffer, or { family, ...fields }");
}

/** Decode a wire address to its JavaScript form. */
export function fromWire(address: WireAddress | undefined): Address {
  if (!address) return "";
  const member = address.family;
  switch (member.case) {
    case "afInet":
      return [member.value.host, member.value.port];
    case "afInet6":
      return [member.value.host, member.value.port, member.value.flowinfo, member.value.scopeId];
    case "afUnix": {
      const name = member.value.name;
      if (name.case === "path") return Buffer.from(name.value).toString("utf8");
      if (name.case === "abstract") return "\0" + Buffer.from(name.value).toString("utf8");
      return "";
    }
    case undefined:
      return "";
    default: {
      const out: OtherAddress = { family: member.case };
      for (const [key, value] of Object.entries(member.value)) {
        if (key !== "$typeName" && key !== "$unknown") out[key] = value;
      }
      return out;
    }
  }
}
