/**
 * The module-wide client that `net`, `dgram` and `dns` use unless given
 * one: it talks to $SOCKBROKER_URL (or the daemon's default path) and
 * connects on the first call.
 */
import { Client } from "./api.js";

let shared: Client | null = null;

/** The shared client, made on first use. */
export function defaultClient(): Client {
  if (!shared) shared = new Client();
  return shared;
}

/** Replace the shared client (tests, or a program with its own URL). */
export function setDefaultClient(client: Client): void {
  shared = client;
}

/** Node's family label for an address. */
export function familyLabel(host: string): "IPv4" | "IPv6" {
  return host.includes(":") ? "IPv6" : "IPv4";
}
