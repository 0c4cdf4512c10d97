/**
 * `node --require sockbroker/register app.js` (or `--import
 * sockbroker/register`): Node's own `net`, `dgram` and `dns` use the broker
 * for everything the program does afterwards, and through them `http`,
 * `https`, `tls` and the global `fetch` — so an unmodified program works in a
 * process with no network of its own (`unshare -n`, a container without
 * one), given $SOCKBROKER_URL.
 *
 * What is replaced: net.connect/createConnection/createServer,
 * tls.connect (its TCP connection is a brokered socket; TLS stays in this
 * process), http.Agent's createConnection, dgram.createSocket, and dns's
 * lookup, lookupService, resolve, resolve4, resolve6 and reverse (callback
 * and promise forms). Classes stay Node's own: `new net.Socket().connect()`
 * and `new net.Server()` are not brokered.
 */
import dgram = require("node:dgram");
import dns = require("node:dns");
import http = require("node:http");
import nodeModule = require("node:module");
import net = require("node:net");
import tls = require("node:tls");
import * as brokerDgram from "./dgram.js";
import * as brokerDns from "./dns.js";
import * as brokerNet from "./net.js";

// The modules themselves (not import wrappers): their properties are patched.

type Mutable = Record<string, unknown>;

const originalTlsConnect = tls.connect;

/** tls.connect over a brokered TCP connection, unless given a socket. */
function brokeredTlsConnect(...args: unknown[]): tls.TLSSocket {
  let callback: (() => void) | undefined;
  if (typeof args[args.length - 1] === "function") callback = args.pop() as () => void;
  let options: tls.ConnectionOptions;
  if (args[0] !== null && typeof args[0] === "object") {
    options = { ...(args[0] as tls.ConnectionOptions) };
  } else {
    options = { ...((typeof args[1] === "object" ? args[1] : args[2]) as tls.ConnectionOptions ?? {}) };
    options.port = Number(args[0]);
    if (typeof args[1] === "string") options.host = args[1];
  }
  if (!options.socket && !options.path) {
    const host = options.host ?? "localhost";
    // Half-open: the TLS layer, not the end of the ciphertext stream, ends
    // the writing side (it still sends close_notify after reading EOF).
    options.socket = brokerNet.connect({ host, port: Number(options.port ?? 443), allowHalfOpen: true,
      localAddress: (options as { localAddress?: string }).localAddress }) as unknown as net.Socket;
    if (!options.servername && !net.isIP(host)) options.servername = host;
    options.host = host;
  }
  const tlsSocket = callback ? originalTlsConnect(options, callback) : originalTlsConnect(options);
  const inner = options.socket as unknown;
  if (inner instanceof brokerNet.Socket) {
    // The TLS socket's own ref/unref reach only its TLS handle: pass them on
    // to the brokered socket, so that an idle keep-alive connection (which
    // the https agent unrefs) does not keep the process alive.
    const ref = tlsSocket.ref.bind(tlsSocket);
    const unref = tlsSocket.unref.bind(tlsSocket);
    tlsSocket.ref = () => { inner.ref(); return ref(); };
    tlsSocket.unref = () => { inner.unref(); return unref(); };
  }
  return tlsSocket;
}

function patch(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: true });
}

function install(): void {
  patch(net, "connect", brokerNet.connect);
  patch(net, "createConnection", brokerNet.createConnection);
  patch(net, "createServer", brokerNet.createServer);
  patch(tls, "connect", brokeredTlsConnect);
  patch(http.Agent.prototype, "createConnection", brokerNet.createConnection);
  patch(dgram, "createSocket", brokerDgram.createSocket);
  for (const name of ["lookup", "lookupService", "resolve", "resolve4", "resolve6", "reverse"] as const) {
    patch(dns, name, (brokerDns as Mutable)[name]);
    patch(dns.promises, name, (brokerDns.promises as Mutable)[name]);
  }
  // `import { connect } from "node:net"` reads the patched functions too.
  nodeModule.syncBuiltinESMExports();
}

install();
