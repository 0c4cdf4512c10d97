/*
 * sbrun's supervisor state, shared by its connect path (sbrun.c) and its UDP
 * relay (sbrun-udp.c). One thread (the supervisor's loop) owns all of it,
 * except the relay threads of sbrun-udp.c, which touch only their own
 * placeholder's daemon handle and sbrun's end of its socket pair.
 *
 * The invariant (README, sbrun(1)): no descriptor the program holds reaches
 * the network, except the TCP sockets the daemon handed over, whose peer is
 * fixed. A UDP socket the program connects becomes a placeholder: one end of
 * an AF_UNIX SOCK_SEQPACKET pair whose other end is sbrun's, relayed to a
 * connected UDP socket that stays in the daemon (every destination judged
 * there). A listening TCP socket's placeholder is an AF_UNIX listener of
 * sbrun's (sbrun-listen.c); its connections are handed over, peer fixed.
 * So answering a send or a recv with SECCOMP_USER_NOTIF_FLAG_CONTINUE
 * is safe whatever another thread does meanwhile; a connect never is (it could
 * disconnect a handed-over socket), and sbrun always makes it itself. Nor is a
 * bind or a listen, which on a host socket (a handed-over one whose connect
 * failed or was shut down, told by its namespace cookie) would hold a port or
 * listen on the host: sbrun refuses those, and makes the others itself on the
 * file it inspected (a bind to an AF_UNIX address excepted, which no inet
 * socket takes).
 */
#ifndef SOCKBROKER_SBRUN_H
#define SOCKBROKER_SBRUN_H

#include <linux/seccomp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sockbroker.h"

/* Blocking calls waiting at once (connect handshakes, recvs); beyond it, EAGAIN. */
#define SBRUN_MAX_PARKED 1024
/* UDP sockets connected at once. */
#define SBRUN_MAX_PLACEHOLDERS 64
/* The largest datagram relayed (UDP's own limit). */
#define SBRUN_MAX_DATAGRAM 65536

/* What a handler answers besides a value or a negative errno. */
#define SBRUN_PARKED (-0x7ffffff0)   /* answered later, from the parked list */
#define SBRUN_CONTINUE (-0x7ffffff1) /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
#define SBRUN_ANSWERED (-0x7ffffff2) /* answered already (SECCOMP_ADDFD_FLAG_SEND) */

/* A parked connect is answered with SO_ERROR once writable; any other parked call (a recv, an
 * accept) is served again once readable. */
enum parked_kind { PARKED_CONNECT, PARKED_CALL };

/* A blocking call waiting for `fd` to be ready. */
struct parked {
	enum parked_kind kind;
	uint64_t id;
	int fd;                 /* sbrun's copy of the program's socket */
	struct seccomp_notif req; /* PARKED_CALL: the call, served again when fd is readable */
};

/* Source addresses of datagrams relayed to an unconnected placeholder and not yet read: beyond
 * it, a datagram is dropped (as a full receive queue drops it). */
#define SBRUN_MAX_SOURCES 256

/* The source of one datagram waiting in sbrun's end of an unconnected placeholder. */
struct source {
	struct sockaddr_in6 addr; /* or a sockaddr_in */
	socklen_t len;
	size_t size;              /* the datagram's length, to pair it with its address */
};

/* A UDP socket of the program (see the header's paragraph): connected, or unconnected (made on
 * its first sendto with an address, or its bind to an inet address). */
struct placeholder {
	ino_t ino;          /* the program's end of the pair */
	int mine;           /* sbrun's end */
	sb_handle h;        /* the daemon's UDP socket */
	int family;
	struct sockaddr_storage peer; /* connected: the peer */
	socklen_t peer_len;
	pthread_t reader;   /* daemon -> program */
	bool reader_started;
	/* Shared with the relay thread, under `lock`: */
	pthread_mutex_t lock;
	bool connected;
	struct source sources[SBRUN_MAX_SOURCES]; /* a ring, oldest at `first` */
	size_t first, n_sources;
};

struct listener; /* sbrun-listen.c */

struct sbrun {
	struct sb_client *client;
	bool verbose;
	int listener;     /* the seccomp notification listener */
	bool addfd_send;  /* SECCOMP_ADDFD_FLAG_SEND (Linux 5.14): servers are brokered */
	/* SO_NETNS_COOKIE (Linux 5.14) of the sandbox's namespace, taken from a socket sbrun made
	 * before the program ran; 0 when the kernel cannot tell. */
	uint64_t sandbox_netns;
	struct seccomp_notif_sizes sizes;
	struct parked parked[SBRUN_MAX_PARKED];
	size_t n_parked;
	struct placeholder *placeholders[SBRUN_MAX_PLACEHOLDERS];
	size_t n_placeholders;
	struct listener *listeners[SBRUN_MAX_PLACEHOLDERS];
	size_t n_listeners;
};

/* sbrun.c */
/* Copy what the program set on `sock` (of `type`) to the daemon's socket `h`. For UDP an
 * option the daemon refuses is only reported (verbose); for TCP it fails the connect. */
int sbrun_copy_options(struct sbrun *run, int sock, int family, int type, sb_handle h,
		       struct sb_error *err);
/* The kernel's form of the daemon's address `addr` (AF_INET/AF_INET6): its length, or 0. */
socklen_t sbrun_kernel_address(const struct sb_addr *addr, struct sockaddr_storage *ss);
/* Whether `sock` lives in the host's namespace (a handed-over or inherited socket), where a
 * bind or a listen would not be judged: by its SO_NETNS_COOKIE. Without the cookie (Linux
 * before 5.14), every inet stream socket counts as a host socket, and no other does. */
bool sbrun_host_socket(const struct sbrun *run, int sock);
/* Say that `call` (bind, listen) of the program's `number` is refused: a host socket. */
void sbrun_refuse_host_socket(const struct sbrun *run, const char *call, int number);
void sbrun_say(const struct sbrun *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The program's socket `number` of the calling thread `tid` (a copy, sbrun's to close), having
 * checked that the notification still waits; a negative errno otherwise. */
int sbrun_program_fd(const struct sbrun *run, const struct seccomp_notif *req, int number);
bool sbrun_still_waiting(const struct sbrun *run, uint64_t id);
/* Copy `len` bytes from / to the program's memory: 0 or -EFAULT. */
int sbrun_read(pid_t tid, uint64_t address, void *buf, size_t len);
int sbrun_write(pid_t tid, uint64_t address, const void *buf, size_t len);
/* Park `fd` (sbrun's, taken over) for the call `req`; answers EAGAIN when full. */
void sbrun_park(struct sbrun *run, enum parked_kind kind, const struct seccomp_notif *req, int fd);
/* Close-on-exec of the program's descriptor `fd`, from /proc (no system call tells). */
bool sbrun_program_cloexec(pid_t tid, int fd);
/* An address for a connect or sendto on an inet socket of `family`: 0, or the kernel's errno
 * (AF_UNSPEC, which would disconnect, is EOPNOTSUPP). */
int sbrun_check_address(int family, const struct sockaddr_storage *ss, socklen_t len);
/* The daemon's form of an AF_INET/AF_INET6 address. */
int sbrun_broker_address(const struct sockaddr_storage *ss, struct sb_addr *addr);
void sbrun_describe(const struct sockaddr_storage *ss, char *buf, size_t len);

/* sbrun-udp.c */
/* The placeholder whose program end `sock` (sbrun's copy) is, or NULL. */
struct placeholder *udp_placeholder_of(struct sbrun *run, int sock);
/* connect() of the program's UDP socket `sock` at `number`, or of a placeholder `ph`. */
int udp_connect(struct sbrun *run, const struct seccomp_notif *req, int sock, int family,
		const struct sockaddr_storage *ss, socklen_t len);
int udp_reconnect(struct sbrun *run, struct placeholder *ph, const struct sockaddr_storage *ss,
		  socklen_t len);
/* bind() of the program's inet UDP socket `sock` (sbrun's copy): an unconnected placeholder
 * whose daemon socket is bound there; SBRUN_CONTINUE for any other socket. */
int udp_bind(struct sbrun *run, const struct seccomp_notif *req, int sock,
	     const struct sockaddr_storage *ss, socklen_t len);
/* sendto, sendmsg, recvfrom, recvmsg, recvmmsg, getsockname and getpeername: served on
 * placeholders, SBRUN_CONTINUE on anything else. */
int udp_serve(struct sbrun *run, const struct seccomp_notif *req);
/* The supervisor's loop: sbrun's ends to poll (POLLIN: the program sent; POLLHUP: it closed). */
size_t udp_poll_fds(const struct sbrun *run, struct pollfd *fds);
void udp_serve_polled(struct sbrun *run, const struct pollfd *fds, size_t n);
/* Close every placeholder (at exit). */
void udp_close_all(struct sbrun *run);

/* sbrun-listen.c: listen (always answered by sbrun), accept and accept4, and getsockname of
 * a listening placeholder; SBRUN_CONTINUE for an accept or getsockname of anything else. */
int listen_serve(struct sbrun *run, const struct seccomp_notif *req);
/* Close every listener (at exit). */
void listen_close_all(struct sbrun *run);

#endif
