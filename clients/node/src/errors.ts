/**
 * The daemon's errors as Node's errors: an `Error` with `code` the errno name
 * ("ECONNREFUSED"), `errno` Node's negative number for it on this platform,
 * and `syscall` the operation, as Node's own sockets report them. The wire's
 * details ride along: `kind` ("os", "timeout", "gai", "herror", "denied",
 * "bad_request", "bad_handle", "unsupported", "quota", "cancelled"),
 * `errnoName`, and for denials the policy `rule`.
 */
import * as os from "node:os";
import { ErrorKind, type Error as WireError } from "./gen/sockbroker_pb.js";

export type ErrorKindName =
  | "os" | "timeout" | "gai" | "herror" | "denied" | "bad_request" | "bad_handle"
  | "unsupported" | "quota" | "cancelled" | "transport";

const KIND_NAMES: Record<number, ErrorKindName> = {
  [ErrorKind.OS]: "os",
  [ErrorKind.TIMEOUT]: "timeout",
  [ErrorKind.GAI]: "gai",
  [ErrorKind.HERROR]: "herror",
  [ErrorKind.DENIED]: "denied",
  [ErrorKind.BAD_REQUEST]: "bad_request",
  [ErrorKind.BAD_HANDLE]: "bad_handle",
  [ErrorKind.UNSUPPORTED]: "unsupported",
  [ErrorKind.QUOTA]: "quota",
  [ErrorKind.CANCELLED]: "cancelled",
};

/** The errno a kind stands for when the daemon named none. */
const KIND_DEFAULT_ERRNO: Partial<Record<ErrorKindName, string>> = {
  timeout: "ETIMEDOUT",
  denied: "EACCES",
  bad_request: "EINVAL",
  bad_handle: "EBADF",
  unsupported: "ENOSYS",
  quota: "ENOBUFS",
  cancelled: "ECANCELED",
};

/** Node's gai error codes (dns module) for the EAI_* names. */
const GAI_CODES: Record<string, string> = {
  EAI_NONAME: "ENOTFOUND",
  EAI_NODATA: "ENODATA",
  EAI_AGAIN: "EAI_AGAIN",
  EAI_FAIL: "ESERVFAIL",
  EAI_FAMILY: "EBADFAMILY",
  EAI_SERVICE: "ESERVICE",
  EAI_MEMORY: "ENOMEM",
  EAI_BADFLAGS: "EBADFLAGS",
  EAI_ADDRFAMILY: "EADDRFAMILY",
  EAI_SOCKTYPE: "EBADSOCKTYPE",
};

/** An error the daemon answered, shaped as Node's system errors. */
export interface BrokerError extends Error {
  code: string;
  errno?: number;
  syscall: string;
  kind: ErrorKindName;
  errnoName: string;
  /** DENIED: the policy rule that decided. */
  rule?: string;
  /** GAI: the EAI_* code and name; HERROR: h_errno. */
  gaiCode?: number;
  gaiName?: string;
  herrorCode?: number;
  hostname?: string;
  address?: string;
  port?: number;
}

/** Node's errno (negative) for an errno name, or undefined. */
export function localErrno(name: string): number | undefined {
  const number = (os.constants.errno as Record<string, number>)[name];
  return number === undefined ? undefined : -number;
}

/** A Node error for one wire Error of operation `syscall`. */
export function fromWire(err: WireError, syscall: string): BrokerError {
  const kind = KIND_NAMES[err.kind] ?? "os";
  const errnoName = err.errnoName || KIND_DEFAULT_ERRNO[kind] || "";
  let code = errnoName;
  if (kind === "gai") code = GAI_CODES[err.gaiName] ?? err.gaiName ?? "EAI_FAIL";
  if (kind === "herror") code = "ENOTFOUND";
  let detail = err.message || errnoName;
  if (kind === "denied" && err.rule) detail += ` (policy rule '${err.rule}')`;
  const e = new Error(`${syscall} ${code}: ${detail}`) as BrokerError;
  e.code = code;
  const errno = kind === "gai" ? err.gaiCode : localErrno(errnoName);
  if (errno !== undefined) e.errno = errno;
  e.syscall = syscall;
  e.kind = kind;
  e.errnoName = errnoName;
  if (kind === "denied") e.rule = err.rule;
  if (kind === "gai") {
    e.gaiCode = err.gaiCode;
    e.gaiName = err.gaiName;
  }
  if (kind === "herror") e.herrorCode = err.herrorCode;
  return e;
}

/** A Node error for a failure detected on this side (bad arguments). */
export function localError(code: string, syscall: string, message: string,
    kind: ErrorKindName = "bad_request"): BrokerError {
  const e = new Error(`${syscall} ${code}: ${message}`) as BrokerError;
  e.code = code;
  const errno = localErrno(code);
  if (errno !== undefined) e.errno = errno;
  e.syscall = syscall;
  e.kind = kind;
  e.errnoName = code;
  return e;
}
