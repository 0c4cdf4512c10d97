/**
 * sockbroker: Node's net, dgram and dns through sockbrokerd, a daemon that
 * owns the sockets. See README.md.
 */
export { Client, POLL_ERROR, POLL_HANGUP, POLL_READABLE, POLL_WRITABLE } from "./api.js";
export type { Ancillary, AddrInfo, Handle, RecvMsgResult, Timeout } from "./api.js";
export type { Address } from "./address.js";
export { VERSION, type ClientOptions, type CallOptions } from "./client.js";
export { BrokerConnectionError, defaultUrl, parseUrl } from "./transport.js";
export type { BrokerError, ErrorKindName } from "./errors.js";
export * as net from "./net.js";
export * as dgram from "./dgram.js";
export * as dns from "./dns.js";
export { defaultClient, setDefaultClient } from "./default.js";
