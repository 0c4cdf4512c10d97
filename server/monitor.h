/*
 * monitor: privilege separation, as OpenSSH's monitor does it. The process that reads and
 * parses what clients send, runs the policy and the reactor holds no capability at all; the
 * few operations that need one are asked of a small helper process, the monitor, forked
 * before any thread exists and before privileges are dropped. It keeps only the capabilities
 * the loaded policy can need (policy_needed_caps(): CAP_NET_BIND_SERVICE, CAP_NET_RAW,
 * CAP_NET_ADMIN, CAP_SYS_ADMIN) and answers a fixed table of requests over a socketpair:
 *
 *   socket      create a socket whose (family, type, protocol) needs a capability
 *               (SOCK_RAW, AF_PACKET, SOCK_PACKET); answered with the descriptor (SCM_RIGHTS)
 *   bind        bind a passed descriptor to a port below 1024
 *   setsockopt  set a privileged option (SO_MARK, IP_TRANSPARENT, IPV6_TRANSPARENT,
 *               SO_PRIORITY, SO_RCVBUFFORCE, SO_SNDBUFFORCE) on a passed descriptor
 *   sethostname rename the host (its UTS namespace)
 *   pin         attach and lock the filter that holds a handed-off TCP socket to its peer
 *               (where the kernel lets only CAP_NET_ADMIN attach socket filters)
 *
 * or an errno. The monitor re-checks every request against what the loaded policy could ever
 * allow (policy_could_allow(), for any identity), so a compromised serving process gets no
 * more than some client could have had; it parses no protobuf, only fixed-size records, and
 * exits when the serving process does (end of file on the socketpair, and PR_SET_PDEATHSIG).
 * If the monitor goes away, the serving process stops as on SIGTERM: sessions are ended and
 * told, listeners removed. A policy that needs no capability (the built-in default) has no
 * monitor, and neither has a daemon started unprivileged.
 *
 * One monitor per process, used from the reactor thread only: the state is this module's.
 * Callers try the kernel first and ask the monitor when it answered EPERM or EACCES, so
 * nothing changes where no capability is needed.
 */
#ifndef SOCKBROKER_MONITOR_H
#define SOCKBROKER_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct policy;
struct privileges_config;
struct reactor;

/* Request codes (the table in monitor.c). */
enum monitor_op {
	MONITOR_SOCKET = 1,
	MONITOR_BIND,
	MONITOR_SETSOCKOPT,
	MONITOR_SETHOSTNAME,
	MONITOR_PIN,
};

#define MONITOR_DATA_MAX 256

/* One request as it travels: fixed size, every field checked by the monitor. */
struct monitor_request {
	uint32_t op; /* enum monitor_op */
	int32_t family, type, proto; /* socket */
	int32_t level, optname;      /* setsockopt */
	uint32_t len;                /* bytes of data used */
	uint8_t data[MONITOR_DATA_MAX]; /* bind: the sockaddr; setsockopt: the value;
					 * sethostname: the name */
};

/* The answer: 0 (socket: a descriptor rides along) or -errno. */
struct monitor_answer {
	int32_t result;
};

/*
 * Before any thread exists and before privileges_drop(): fork the monitor if `policy` needs a
 * capability the process holds and the process is root; otherwise do nothing. The monitor
 * takes the configured user (`privileges`) as the serving process will, keeps the needed
 * capabilities among those held, and serves until the socketpair closes. The serving side is
 * watched on `reactor`: if the monitor ends, the reactor is stopped. Returns 0, or -errno
 * with a message in err (the daemon must not start).
 */
/* The capabilities the daemon keeps for its monitor: what the policy needs
 * (policy_needed_caps()), and CAP_NET_ADMIN where handoff is allowed and this
 * kernel lets only that capability attach the filter monitor_pin() needs. */
unsigned monitor_needed_caps(const struct policy *policy);

int monitor_start(struct reactor *reactor, const struct policy *policy,
		  const struct privileges_config *privileges, char *err, size_t errlen);

/* Whether a monitor serves this process. */
bool monitor_running(void);

/* Whether the monitor went away while the daemon served (the daemon should exit non-zero). */
bool monitor_lost(void);

/* The monitor's pid, or 0. */
pid_t monitor_pid(void);

/* The capabilities the monitor keeps (POLICY_CAP_*), 0 without one. */
unsigned monitor_caps(void);

/*
 * The privileged system calls, from the reactor thread: each makes the call itself first, and
 * asks the monitor only when the kernel refused it (EPERM, EACCES) and a monitor runs; a
 * refusal by the monitor answers the kernel's own errno. Asking blocks for the monitor's
 * answer (one system call there; at most 5 s if it hangs, then the daemon stops).
 * monitor_socket() returns a new descriptor (the flags of `type`, and close-on-exec in the
 * monitor's copy) or -errno; the others 0 or -errno. `fd` stays the caller's.
 */
int monitor_socket(int family, int type, int proto);
int monitor_bind(int fd, const struct sockaddr *addr, socklen_t len);
int monitor_setsockopt(int fd, int level, int optname, const void *value, socklen_t len);
int monitor_sethostname(const char *name, size_t len);
/* Hold TCP socket `fd` to `peer` (its connection's other end) before it is handed off: a
 * locked socket filter drops every segment from anywhere else (ops/handoff.c). */
int monitor_pin(int fd, const struct sockaddr *peer, socklen_t len);

/* Send `request` as it is (with `fd` passed when >= 0) and return the answer, a descriptor
 * received in *fd_out (or -1). For the tests of the monitor's own checks. */
int monitor_call(const struct monitor_request *request, int fd, int *fd_out);

/*
 * The monitor's decision on `request` (with `fd`, the passed descriptor or -1) under
 * `policy`: 0 when it is in the table and the policy could allow it, else -EPERM (outside the
 * table or the policy's reach) or -EINVAL (malformed). Pure but for reading the passed
 * socket's family, type and protocol. With `policy` NULL, only whether the request is one of
 * the table's (the serving side asks nothing else).
 */
int monitor_check(const struct policy *policy, const struct monitor_request *request, int fd);

/* Close the serving side and wait (at most 5 s) for the monitor to exit. For tests and an
 * orderly stop; harmless without a monitor. */
void monitor_stop(void);

#endif
