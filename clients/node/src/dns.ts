/**
 * `dns` through the daemon's name service: `lookup` and `lookupService` are
 * getaddrinfo/getnameinfo on the daemon's host, as Node's are on this one;
 * `resolve4`/`resolve6`/`resolve`/`reverse` answer from the same name
 * service (the daemon has no DNS message interface: TTLs read 0, and record
 * types other than A and AAAA answer ENOTIMP). Errors are Node's: code
 * ENOTFOUND for a name that does not resolve, syscall, hostname.
 */
import * as net from "node:net";
import type { Client } from "./api.js";
import { defaultClient } from "./default.js";
import type { BrokerError } from "./errors.js";

export interface LookupOptions {
  family?: number | "IPv4" | "IPv6";
  hints?: number;
  all?: boolean;
  verbatim?: boolean;
  order?: "ipv4first" | "ipv6first" | "verbatim";
  /** The broker client; default the shared one. */
  client?: Client;
}

export interface LookupAddress {
  address: string;
  family: number;
}

function dnsError(err: unknown, syscall: string, hostname: string): Error {
  const e = err as BrokerError;
  if (e && typeof e === "object" && typeof e.code === "string") {
    e.message = `${syscall} ${e.code} ${hostname}`;
    e.syscall = syscall;
    e.hostname = hostname;
  }
  return err as Error;
}

function familyNumber(family: LookupOptions["family"]): number {
  if (family === "IPv4") return 4;
  if (family === "IPv6") return 6;
  return family ?? 0;
}

/** dns.promises.lookup(hostname[, options]). */
export async function lookupAsync(hostname: string, options: number | LookupOptions = {}):
    Promise<LookupAddress | LookupAddress[]> {
  const o: LookupOptions = typeof options === "number" ? { family: options } : options;
  const family = familyNumber(o.family);
  const literal = net.isIP(hostname);
  let results: LookupAddress[];
  if (literal) {
    results = [{ address: hostname, family: literal }];
  } else {
    const client = o.client ?? defaultClient();
    const k = await client.constants();
    const af = family === 4 ? k.AF_INET : family === 6 ? k.AF_INET6 : 0;
    let infos;
    try {
      infos = await client.getaddrinfo(hostname || "localhost", null, af, k.SOCK_STREAM, 0, o.hints ?? 0);
    } catch (err) {
      throw dnsError(err, "getaddrinfo", hostname);
    }
    results = [];
    for (const [, , , , address] of infos) {
      if (!Array.isArray(address)) continue;
      const entry = { address: address[0], family: address.length === 4 ? 6 : 4 };
      if (!results.some((r) => r.address === entry.address)) results.push(entry);
    }
    const order = o.order ?? (o.verbatim === false ? "ipv4first" : "verbatim");
    if (order !== "verbatim") {
      const first = order === "ipv4first" ? 4 : 6;
      results.sort((a, b) => (a.family === first ? 0 : 1) - (b.family === first ? 0 : 1));
    }
  }
  if (results.length === 0) {
    throw dnsError(Object.assign(new Error(), { code: "ENOTFOUND", kind: "gai" }), "getaddrinfo", hostname);
  }
  return o.all ? results : results[0];
}

type LookupCallback = (err: Error | null, address?: string | LookupAddress[], family?: number) => void;

/** dns.lookup(hostname[, options], callback). */
export function lookup(hostname: string, options: number | LookupOptions | LookupCallback,
    callback?: LookupCallback): void {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  const cb = callback!;
  const all = typeof options === "object" && options.all === true;
  lookupAsync(hostname, options).then((result) => {
    if (all) cb(null, result as LookupAddress[]);
    else cb(null, (result as LookupAddress).address, (result as LookupAddress).family);
  }, (err: Error) => cb(err));
}

/** dns.promises.lookupService(address, port). */
export async function lookupServiceAsync(address: string, port: number, client = defaultClient()):
    Promise<{ hostname: string; service: string }> {
  try {
    const [hostname, service] = await client.getnameinfo(address.includes(":") ? [address, port, 0, 0]
      : [address, port]);
    return { hostname, service };
  } catch (err) {
    throw dnsError(err, "getnameinfo", address);
  }
}

export function lookupService(address: string, port: number,
    callback: (err: Error | null, hostname?: string, service?: string) => void): void {
  lookupServiceAsync(address, port).then((r) => callback(null, r.hostname, r.service), (err: Error) => callback(err));
}

async function resolveFamily(hostname: string, family: 4 | 6, ttl: boolean):
    Promise<string[] | Array<{ address: string; ttl: number }>> {
  let found: LookupAddress[];
  try {
    found = await lookupAsync(hostname, { family, all: true }) as LookupAddress[];
  } catch (err) {
    throw dnsError(err, family === 4 ? "queryA" : "queryAaaa", hostname);
  }
  const addresses = found.filter((r) => r.family === family).map((r) => r.address);
  return ttl ? addresses.map((address) => ({ address, ttl: 0 })) : addresses;
}

export async function resolve4Async(hostname: string, options: { ttl?: boolean } = {}) {
  return resolveFamily(hostname, 4, options.ttl === true);
}

export async function resolve6Async(hostname: string, options: { ttl?: boolean } = {}) {
  return resolveFamily(hostname, 6, options.ttl === true);
}

export async function resolveAsync(hostname: string, rrtype = "A") {
  if (rrtype === "A") return resolveFamily(hostname, 4, false);
  if (rrtype === "AAAA") return resolveFamily(hostname, 6, false);
  throw Object.assign(new Error(`query${rrtype} ENOTIMP ${hostname}: the broker's name service ` +
    "answers only A and AAAA"), { code: "ENOTIMP", syscall: `query${rrtype}`, hostname });
}

export async function reverseAsync(ip: string, client = defaultClient()): Promise<string[]> {
  try {
    const [hostname, aliases] = await client.gethostbyaddr(ip);
    return [hostname, ...aliases];
  } catch (err) {
    throw dnsError(err, "getHostByAddr", ip);
  }
}

function callbackify<A extends unknown[], R>(fn: (...args: A) => Promise<R>) {
  return (...args: [...A, (err: Error | null, result?: R) => void] | unknown[]) => {
    const cb = args.pop() as (err: Error | null, result?: R) => void;
    fn(...(args as A)).then((r) => cb(null, r), (err: Error) => cb(err));
  };
}

export const resolve4 = callbackify(resolve4Async);
export const resolve6 = callbackify(resolve6Async);
export const resolve = callbackify(resolveAsync);
export const reverse = callbackify(reverseAsync);

export const promises = {
  lookup: lookupAsync,
  lookupService: lookupServiceAsync,
  resolve: resolveAsync,
  resolve4: resolve4Async,
  resolve6: resolve6Async,
  reverse: reverseAsync,
};
