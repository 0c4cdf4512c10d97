/*
 * libsockbroker: the C client of sockbrokerd.
 *
 * A `struct sb_client` is one connection (one session) to a broker. All
 * sockets it creates are handles of that session: opaque 64-bit ids, valid
 * only on the client that created them, closed by the daemon when the client
 * goes away. Every function is thread-safe, and several calls may be in
 * flight on one client at once; calls on one handle start in the order they
 * were issued.
 *
 * The connection: for ipc://, abstract:// and tcp:// the library speaks the
 * SP request/reply protocol itself on one blocking socket, with no thread of
 * its own. Each call writes its request and waits; whichever waiting thread
 * is free to read reads the replies and hands each to the thread it belongs
 * to, so a recv parked for hours does not hold up other threads' calls.
 * tls+tcp:// goes through libnng (which runs threads of its own).
 *
 * Write-behind: every reply about a connected stream handle tells the
 * client how many bytes the kernel would take at once on it. sb_send(),
 * sb_sendall() and sb_sendmsg() of at most 64 KiB with flags 0, no
 * ancillary data and no address, whose bytes fit in that room (less what was written behind and
 * not yet answered), return at once (sb_send() with the full length) and
 * their reply is collected later. An error of such a send (EPIPE,
 * ECONNRESET, a quota) is returned by the next call on the handle, as the
 * kernel's asynchronous errors are. sb_close(), sb_shutdown(), sb_dup(),
 * sb_settimeout(), sb_setblocking() and passing the handle in SCM_RIGHTS
 * wait for that handle's sends written behind first; sb_close() of a
 * connected stream handle then returns without waiting for its own reply.
 *
 * Conventions: functions return 0 (or a byte count) on success and a negative
 * errno on failure. When `err` is not NULL it is filled with what the daemon
 * said: the error kind, the errno name (numbers differ between platforms; the
 * returned value is the client's own errno for that name), and a message
 * meant for people. Timeouts follow Python's socket module: SB_TIMEOUT_NONE
 * (blocking), 0.0 (non-blocking) or a number of seconds.
 */
#ifndef SOCKBROKER_H
#define SOCKBROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_PROTOCOL_VERSION 1

/* Environment variable naming the broker URL; see sb_default_url(). */
#define SB_URL_ENV "SOCKBROKER_URL"

/* Environment variable holding the access token sent in Hello, for daemons
 * configured with tokens; see struct sb_client_options. */
#define SB_TOKEN_ENV "SOCKBROKER_TOKEN"

/* A timeout of "None": the handle is in blocking mode. */
#define SB_TIMEOUT_NONE (-1.0)

/* listen() without a backlog: the daemon uses the reference's default. */
#define SB_BACKLOG_DEFAULT (-2147483647 - 1)

typedef uint64_t sb_handle;

enum sb_error_kind {
	SB_ERR_NONE = 0,
	SB_ERR_OS = 1,          /* the kernel's errno for the operation */
	SB_ERR_TIMEOUT = 2,     /* the handle's timeout expired ("timed out") */
	SB_ERR_GAI = 3,         /* name resolution: gai_code is set */
	SB_ERR_HERROR = 4,      /* gethostby*: herror_code is set */
	SB_ERR_DENIED = 5,      /* the daemon's policy refused; rule is set */
	SB_ERR_BAD_REQUEST = 6, /* invalid arguments */
	SB_ERR_BAD_HANDLE = 7,  /* unknown, closed or foreign handle (EBADF) */
	SB_ERR_UNSUPPORTED = 8, /* the daemon does not implement the operation */
	SB_ERR_QUOTA = 9,       /* a session limit was reached */
	SB_ERR_CANCELLED = 10,  /* cancelled with sb_cancel_handle() */
	SB_ERR_TRANSPORT = 11,  /* connection to the broker failed or was lost */
};

struct sb_error {
	enum sb_error_kind kind;
	int errno_number;    /* the client's errno for errno_name (or the daemon's number) */
	char errno_name[32]; /* "ECONNREFUSED"; empty when the kind has none */
	char message[256];
	int gai_code;    /* SB_ERR_GAI */
	int herror_code; /* SB_ERR_HERROR */
	char rule[64];   /* SB_ERR_DENIED */
};

/* The name of an error kind ("os", "timeout", ...). */
const char *sb_error_kind_name(enum sb_error_kind kind);

/* Which AF_CAN tuple an address is (the socket's CAN protocol decides). */
enum sb_can_form {
	SB_CAN_PLAIN = 0, /* (interface,): CAN_RAW, CAN_BCM */
	SB_CAN_ISOTP = 1, /* (interface, rx_addr, tx_addr) */
	SB_CAN_J1939 = 2, /* (interface, name, pgn, addr) */
};

/*
 * A socket address. For AF_INET/AF_INET6 `host` may be a name: the daemon
 * resolves it ("" is the any address, "<broadcast>" the IPv4 broadcast).
 * For AF_UNIX, `path` holds path_len bytes: a filesystem path, or with
 * `abstract` set a Linux abstract name without its leading NUL; path_len 0
 * is an unnamed socket. AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK, AF_CAN and
 * AF_TIPC use their member of the union (the reference's tuples; fill them
 * with the sb_addr_* functions below). Any other family travels as `raw`
 * bytes (the sockaddr after sa_family). An address the daemon reports
 * without any (an AF_ALG operation socket's peer) has family AF_UNSPEC.
 */
struct sb_addr {
	int family;
	char host[256];
	uint16_t port;
	uint32_t flowinfo;
	uint32_t scope_id;
	bool abstract;
	size_t path_len;
	char path[108];
	size_t raw_len;
	uint8_t raw[128];
	union {
		struct {
			uint32_t pid;
			uint32_t groups;
		} netlink;
		struct {
			char ifname[16];   /* "": any interface */
			uint16_t proto;    /* ETH_P_*, host byte order */
			uint8_t pkttype;   /* PACKET_HOST, PACKET_OUTGOING, ... */
			uint16_t hatype;   /* ARPHRD_* */
			size_t addr_len;   /* hardware address length, at most 8 */
			uint8_t addr[8];
		} packet;
		struct {
			char type[14]; /* "hash", "skcipher", "aead", "rng" */
			char name[64]; /* "sha256", "cbc(aes)", ... */
			uint32_t feat;
			uint32_t mask;
		} alg;
		struct {
			uint32_t cid;
			uint32_t port;
		} vsock;
		struct {
			char ifname[16]; /* "": every interface */
			enum sb_can_form form;
			uint32_t rx_addr, tx_addr; /* SB_CAN_ISOTP */
			uint64_t j1939_name;       /* SB_CAN_J1939 */
			uint32_t j1939_pgn;
			uint8_t j1939_addr;
		} can;
		struct {
			unsigned addr_type; /* TIPC_ADDR_NAMESEQ, TIPC_ADDR_NAME, TIPC_ADDR_ID */
			uint32_t v1, v2, v3;
			unsigned scope; /* TIPC_ZONE_SCOPE, TIPC_CLUSTER_SCOPE, TIPC_NODE_SCOPE */
		} tipc;
	};
};

/* Fill `addr`; they return 0, or -EINVAL when an argument does not fit. */
int sb_addr_inet(struct sb_addr *addr, const char *host, unsigned port);
int sb_addr_inet6(struct sb_addr *addr, const char *host, unsigned port, uint32_t flowinfo,
		  uint32_t scope_id);
int sb_addr_unix(struct sb_addr *addr, const char *path);
int sb_addr_abstract(struct sb_addr *addr, const void *name, size_t len);
/* (pid, groups). */
int sb_addr_netlink(struct sb_addr *addr, uint32_t pid, uint32_t groups);
/* (ifname, proto, pkttype, hatype, hwaddr): proto in host byte order
 * (ETH_P_ALL, ETH_P_IP); hwaddr may be NULL when hwaddr_len is 0 (at most
 * 8). An ifname the daemon's host lacks fails the operation with ENODEV. */
int sb_addr_packet(struct sb_addr *addr, const char *ifname, unsigned proto, unsigned pkttype,
		   unsigned hatype, const void *hwaddr, size_t hwaddr_len);
/* (type, name, feat, mask): type at most 13 bytes, name at most 63. */
int sb_addr_alg(struct sb_addr *addr, const char *type, const char *name, uint32_t feat,
		uint32_t mask);
/* (cid, port). */
int sb_addr_vsock(struct sb_addr *addr, uint32_t cid, uint32_t port);
/* (ifname,) for CAN_RAW and CAN_BCM; "" is every interface. */
int sb_addr_can(struct sb_addr *addr, const char *ifname);
/* (ifname, rx_addr, tx_addr) for CAN_ISOTP. */
int sb_addr_can_isotp(struct sb_addr *addr, const char *ifname, uint32_t rx_addr,
		      uint32_t tx_addr);
/* (ifname, name, pgn, addr) for CAN_J1939. */
int sb_addr_can_j1939(struct sb_addr *addr, const char *ifname, uint64_t name, uint32_t pgn,
		      uint8_t j1939_addr);
/* (addr_type, v1, v2, v3, scope); addr_type TIPC_ADDR_NAMESEQ, _NAME or _ID,
 * scope at most 127. */
int sb_addr_tipc(struct sb_addr *addr, unsigned addr_type, uint32_t v1, uint32_t v2,
		 uint32_t v3, unsigned scope);

/* "127.0.0.1:80", "[::1]:80", "/path", "@abstract", "netlink pid=0 groups=0",
 * "packet lo proto=0x0800 ...", "alg hash sha256", "vsock 1:1234",
 * "can vcan0", "tipc type=2 1000/1/0 scope=2"; truncated to len. */
void sb_addr_format(const struct sb_addr *addr, char *buf, size_t len);

struct sb_client;

/*
 * Connect to the broker at `url` (NULL: sb_default_url()) and say Hello.
 * `client_name` goes to the daemon's logs (NULL: "libsockbroker"). The
 * other settings are the defaults of struct sb_client_options (the token
 * from $SOCKBROKER_TOKEN, TLS files from the environment).
 * On success *out owns a new client; free it with sb_client_free().
 */
int sb_client_new(struct sb_client **out, const char *url, const char *client_name,
		  struct sb_error *err);

/* How sb_client_new_with() connects. Zero-initialise it and set what
 * differs from the defaults; the strings are only read during the call. */
struct sb_client_options {
	const char *url;         /* NULL: sb_default_url() */
	const char *client_name; /* NULL: "libsockbroker" */
	/* The access token for a daemon configured with tokens. NULL: the value
	 * of $SOCKBROKER_TOKEN when it is set and not empty; "": no token. A
	 * token the daemon does not know fails with -EACCES (kind
	 * SB_ERR_DENIED), as does a missing one where the daemon requires one.
	 * Prefer the environment or a file to a command-line argument, which
	 * other users of the machine can read. */
	const char *token;
	/* tls+tcp:// only: the CA certificates (PEM) the daemon's certificate
	 * must chain to, and this client's certificate followed by its private
	 * key (PEM), which the daemon requires. NULL: $SOCKBROKER_TLS_CA_FILE
	 * and $SOCKBROKER_TLS_CERT_KEY_FILE; "": none. */
	const char *tls_ca_file;
	const char *tls_cert_key_file;
};

/* sb_client_new() with every setting of `options` (NULL: all defaults). */
int sb_client_new_with(struct sb_client **out, const struct sb_client_options *options,
		       struct sb_error *err);

/* Close the connection: the daemon closes every handle of the session.
 * Calls still in flight on other threads return at once with -ECONNRESET
 * (kind SB_ERR_TRANSPORT, "the client was closed while the call was in
 * flight"); no call may begin once this is called. After the connection
 * was lost (the daemon stopped), every call fails at once with -ECONNRESET
 * and says so: free the client and make a new one. NULL is a no-op. */
void sb_client_free(struct sb_client *client);

/* The URL used when none is given: $SOCKBROKER_URL, else the daemon's
 * default ipc:// path. Written to buf (truncated to len); returns buf. */
char *sb_default_url(char *buf, size_t len);

struct sb_server_info {
	char server_version[64];
	uint32_t protocol_version;
	uint64_t max_message_size;
	uint64_t max_data_size;
	uint32_t max_handles;
	uint32_t max_parked;
	uint64_t session_id;
	/* The identity the daemon sees for this connection. */
	bool has_credentials; /* uid, gid and pid are set (ipc://, abstract://) */
	int64_t uid, gid, pid;
	bool tls_verified;    /* the daemon verified this client's certificate */
	char token_name[64];  /* the name of the token that authenticated; "" for none */
	char peer[96];        /* the daemon's view of the peer ("ipc", "tcp 127.0.0.1:40112") */
	bool handoff;         /* the daemon can hand sockets over on this connection */
};

/* What the daemon said in its Hello reply. */
void sb_client_info(const struct sb_client *client, struct sb_server_info *info);

/* The daemon's value of a constant by name ("AF_INET", "SO_REUSEADDR",
 * "ECONNREFUSED"). Returns 0, or -ENOENT if the daemon did not announce it. */
int sb_constant(const struct sb_client *client, const char *name, int64_t *value);

/* The timeout new handles start with (socket, accept): the C analogue of
 * setdefaulttimeout(). Default SB_TIMEOUT_NONE. */
void sb_client_set_default_timeout(struct sb_client *client, double timeout);
double sb_client_default_timeout(const struct sb_client *client);

/* Socket lifecycle. */
int sb_socket(struct sb_client *c, int family, int type, int proto, sb_handle *out,
	      struct sb_error *err);
int sb_close(struct sb_client *c, sb_handle h, struct sb_error *err);
int sb_bind(struct sb_client *c, sb_handle h, const struct sb_addr *addr, struct sb_error *err);
int sb_listen(struct sb_client *c, sb_handle h, int backlog, struct sb_error *err);
/* peer may be NULL. */
int sb_accept(struct sb_client *c, sb_handle h, sb_handle *conn, struct sb_addr *peer,
	      struct sb_error *err);
int sb_connect(struct sb_client *c, sb_handle h, const struct sb_addr *addr,
	       struct sb_error *err);
/* connect_ex(): *result is 0 or the (positive, client-side) errno of the
 * connect; the return value is negative only for errors that are not the
 * connect's own (bad handle, resolution, transport). */
int sb_connect_ex(struct sb_client *c, sb_handle h, const struct sb_addr *addr, int *result,
		  struct sb_error *err);
int sb_shutdown(struct sb_client *c, sb_handle h, int how, struct sb_error *err);
int sb_getsockname(struct sb_client *c, sb_handle h, struct sb_addr *out, struct sb_error *err);
int sb_getpeername(struct sb_client *c, sb_handle h, struct sb_addr *out, struct sb_error *err);

/*
 * Lifecycle extras. sb_socketpair(): socketpair(family, type, proto), both
 * handles in the client's default timeout mode; a family the kernel cannot
 * pair fails with its errno (AF_INET: -EOPNOTSUPP). sb_dup(): a second
 * handle on the same socket, non-inheritable, in the same timeout mode.
 * sb_set_inheritable() and sb_get_inheritable(): the daemon fd's inheritable
 * (not close-on-exec) flag, which matters only to processes the daemon
 * starts. sb_has_ipv6(): whether the daemon's host makes IPv6 sockets.
 *
 * detach() and fileno(): a C client holds only the handle id, which is what
 * fileno() gives. To detach, stop using the id without sb_close(): the
 * socket stays open in the daemon (and counts against the session's handle
 * quota) until something closes it or the session ends. The daemon's fd
 * itself never leaves the daemon (but see sb_send_fds()).
 */
int sb_socketpair(struct sb_client *c, int family, int type, int proto, sb_handle pair[2],
		  struct sb_error *err);
int sb_dup(struct sb_client *c, sb_handle h, sb_handle *out, struct sb_error *err);
int sb_set_inheritable(struct sb_client *c, sb_handle h, bool inheritable, struct sb_error *err);
int sb_get_inheritable(struct sb_client *c, sb_handle h, bool *inheritable,
		       struct sb_error *err);
int sb_has_ipv6(struct sb_client *c, bool *result, struct sb_error *err);

/* Socket options. sb_getsockopt: *len is the buffer size in, the option's
 * length out. sb_setsockopt_null: setsockopt(level, name, None, optlen). */
int sb_getsockopt_int(struct sb_client *c, sb_handle h, int level, int name, int *value,
		      struct sb_error *err);
int sb_getsockopt(struct sb_client *c, sb_handle h, int level, int name, void *buf, size_t *len,
		  struct sb_error *err);
int sb_setsockopt_int(struct sb_client *c, sb_handle h, int level, int name, int value,
		      struct sb_error *err);
int sb_setsockopt(struct sb_client *c, sb_handle h, int level, int name, const void *buf,
		  size_t len, struct sb_error *err);
int sb_setsockopt_null(struct sb_client *c, sb_handle h, int level, int name, unsigned optlen,
		       struct sb_error *err);

/* Timeout mode, kept by the daemon per handle. */
int sb_settimeout(struct sb_client *c, sb_handle h, double timeout, struct sb_error *err);
int sb_gettimeout(struct sb_client *c, sb_handle h, double *timeout, struct sb_error *err);
int sb_setblocking(struct sb_client *c, sb_handle h, bool blocking, struct sb_error *err);
int sb_getblocking(struct sb_client *c, sb_handle h, bool *blocking, struct sb_error *err);

/* Data transfer. send/sendto/recv/recvfrom return the byte count or a
 * negative errno. sb_send sends at most the daemon's max_data_size bytes (a
 * partial send, as the kernel may make one); sb_sendto of more is EMSGSIZE
 * (kind bad_request). sb_sendall returns 0 once every byte was taken; data
 * larger than max_data_size is sent as pipelined pieces. Sends that fit the
 * handle's write-behind room return at once (see the top of this file). */
ssize_t sb_send(struct sb_client *c, sb_handle h, const void *buf, size_t len, int flags,
		struct sb_error *err);
ssize_t sb_sendto(struct sb_client *c, sb_handle h, const void *buf, size_t len, int flags,
		  const struct sb_addr *to, struct sb_error *err);
int sb_sendall(struct sb_client *c, sb_handle h, const void *buf, size_t len, int flags,
	       struct sb_error *err);
ssize_t sb_recv(struct sb_client *c, sb_handle h, void *buf, size_t len, int flags,
		struct sb_error *err);
/* from may be NULL. */
ssize_t sb_recvfrom(struct sb_client *c, sb_handle h, void *buf, size_t len, int flags,
		    struct sb_addr *from, struct sb_error *err);

/*
 * Messages with ancillary data.
 *
 * An ancillary item (one cmsghdr) is a (level, type, data) triple as the
 * reference has it, with the daemon's numbers (SOL_SOCKET, SCM_RIGHTS,
 * IPPROTO_IP, IP_PKTINFO, ...: see sb_constant()). sb_recvmsg() gives
 * every item's bytes exactly as the kernel gave them, and for the types
 * below also a decoded view (`view` says which member is set). sb_sendmsg()
 * takes either raw bytes (view SB_CMSG_RAW: data and len) or one decoded
 * member (any other view; data is then ignored), except for SCM_RIGHTS.
 *
 * SCM_RIGHTS passes sockets between handles: sent items name handles of
 * this client (view SB_CMSG_RIGHTS; raw descriptor numbers are refused),
 * whose daemon fds the kernel passes; a handle of another client, or one
 * not open, fails the call with -EBADF (SB_ERR_BAD_HANDLE) and nothing is
 * sent. Descriptors a handle receives become NEW handles of this client,
 * listed in rights.handles (the item's data holds the same ids as a native
 * int array, -1 for an id beyond int). A descriptor that is not a socket (a
 * peer outside the broker may send files or pipes) is closed by the daemon
 * and listed as 0, never a valid id. Received handles start in blocking
 * mode, and count against the handle quota: over it, the daemon closes them
 * all and the call fails with -EMFILE (SB_ERR_QUOTA); the message's data is
 * lost then. Received handles are the caller's to sb_close().
 *
 * SCM_CREDENTIALS may carry only the daemon's own pid, uid and gid: the
 * daemon does not lend its privileges to speak for others (-EPERM,
 * SB_ERR_DENIED).
 */
enum sb_cmsg_view {
	SB_CMSG_RAW = 0,        /* data and len only */
	SB_CMSG_RIGHTS,         /* SOL_SOCKET, SCM_RIGHTS */
	SB_CMSG_CREDENTIALS,    /* SOL_SOCKET, SCM_CREDENTIALS (set SO_PASSCRED) */
	SB_CMSG_PKTINFO,        /* IPPROTO_IP, IP_PKTINFO; IPPROTO_IPV6, IPV6_PKTINFO */
	SB_CMSG_INT,            /* IP_TOS, IP_TTL, IPV6_HOPLIMIT, IPV6_TCLASS */
	SB_CMSG_TIMESTAMP,      /* SO_TIMESTAMP, SO_TIMESTAMPNS (received only) */
	SB_CMSG_EXTENDED_ERROR, /* IP_RECVERR, IPV6_RECVERR (received only, MSG_ERRQUEUE) */
};

struct sb_cmsg {
	int level, type;
	size_t len;
	const uint8_t *data;
	enum sb_cmsg_view view;
	union {
		struct {
			const sb_handle *handles;
			size_t count;
		} rights;
		struct {
			int64_t pid, uid, gid;
		} credentials;
		struct {
			unsigned ifindex;
			char spec_dst[46]; /* IPv4 only; "" when absent */
			char addr[46];     /* "" is the any address */
		} pktinfo;
		int int_value;
		struct {
			int64_t seconds, nanoseconds; /* SO_TIMESTAMP: microseconds * 1000 */
		} timestamp;
		struct {
			int errno_number;    /* the client's errno for errno_name */
			char errno_name[32]; /* "ECONNREFUSED" */
			unsigned origin;     /* SO_EE_ORIGIN_* */
			unsigned type, code; /* ICMP type and code, for ICMP origins */
			uint32_t info, data;
			bool has_offender;
			struct sb_addr offender; /* the node that reported it */
		} extended_error;
	};
};

/*
 * sendmsg(buffers, ancdata, flags, address): the n_buffers buffers are sent
 * as one message (their total at most the daemon's max_data_size, else
 * -EMSGSIZE: a message cannot be split), with the n_ancillary items, to
 * `to` (NULL: the connected peer). Returns the byte count the kernel took.
 * A malformed item fails with -EINVAL (SB_ERR_BAD_REQUEST) naming it
 * ("sendmsg.ancillary[1] (IPPROTO_IP, IP_PKTINFO): data is 5 bytes, ...").
 */
ssize_t sb_sendmsg(struct sb_client *c, sb_handle h, const struct iovec *buffers,
		   size_t n_buffers, const struct sb_cmsg *ancillary, size_t n_ancillary,
		   int flags, const struct sb_addr *to, struct sb_error *err);

/* A received message: one allocation, freed with sb_msg_free(). */
struct sb_msg {
	uint8_t *data; /* len bytes */
	size_t len;
	struct sb_cmsg *ancillary; /* n_ancillary items */
	size_t n_ancillary;
	int msg_flags;    /* MSG_TRUNC, MSG_CTRUNC, MSG_EOR, MSG_ERRQUEUE, ... as the kernel set them */
	bool has_address; /* the sender's address, when the kernel gave one */
	struct sb_addr address;
};

/*
 * recvmsg(bufsize, ancbufsize, flags): at most `bufsize` bytes of data and
 * `ancbufsize` bytes of control buffer handed to the kernel (size it with
 * sb_cmsg_space()); items that do not fit are truncated or dropped and
 * MSG_CTRUNC set, exactly as the kernel reports it, as MSG_TRUNC for a
 * datagram longer than bufsize. The daemon clamps bufsize to its
 * max_data_size less room for the ancillary data, and ancbufsize to 16384
 * bytes (more than the kernel delivers with one message); an ancbufsize
 * beyond what a socklen_t holds is refused (-EOVERFLOW). MSG_ERRQUEUE
 * never waits: an empty error queue is -EAGAIN in every mode, as in the
 * kernel. MSG_WAITALL is passed to the kernel as is: the daemon's sockets
 * are non-blocking, so it returns what has arrived once any has (sb_recv()
 * is the call that waits for the whole buffer). On success *out owns the
 * message and the data length is returned.
 */
ssize_t sb_recvmsg(struct sb_client *c, sb_handle h, size_t bufsize, size_t ancbufsize,
		   int flags, struct sb_msg **out, struct sb_error *err);

/* Free a message from sb_recvmsg(); NULL is a no-op. Handles it listed
 * stay open. */
void sb_msg_free(struct sb_msg *msg);

/* CMSG_LEN(length) and CMSG_SPACE(length) as the daemon's platform has them
 * (one round trip each). A length out of range is -EOVERFLOW
 * (SB_ERR_BAD_REQUEST), where the reference raises OverflowError. */
int sb_cmsg_len(struct sb_client *c, size_t length, size_t *out, struct sb_error *err);
int sb_cmsg_space(struct sb_client *c, size_t length, size_t *out, struct sb_error *err);

/* send_fds(sock, [buf], handles): buf with one SCM_RIGHTS item passing the
 * n handles' sockets. Returns the byte count sent. */
ssize_t sb_send_fds(struct sb_client *c, sb_handle h, const void *buf, size_t len,
		    const sb_handle *handles, size_t n, struct sb_error *err);

/*
 * recv_fds(sock, len, max_handles, flags): up to len bytes into buf, and up
 * to max_handles received sockets as new handles in handles[] (*n_handles
 * of them; 0 for a descriptor that was not a socket). *msg_flags (may be
 * NULL) gets the kernel's flags (MSG_CTRUNC when more were sent than fit).
 * Returns the data length. One round trip more than sb_recvmsg(): the
 * daemon's CMSG_LEN sizes the buffer, as the reference's recv_fds does.
 */
ssize_t sb_recv_fds(struct sb_client *c, sb_handle h, void *buf, size_t len,
		    sb_handle *handles, size_t max_handles, size_t *n_handles, int flags,
		    int *msg_flags, struct sb_error *err);

/*
 * sendfile(file, offset, count): send `count` bytes (0: up to the end of the
 * file) of the local file `local_fd` from `offset`, read here and streamed
 * with sendall in pieces of 256 KiB, each bounded by the handle's timeout.
 * As the reference: the handle must be SOCK_STREAM and not non-blocking
 * (-EINVAL, SB_ERR_BAD_REQUEST), and the file position ends after the bytes
 * sent, on success and on error. *sent (may be NULL) is the number of bytes
 * sent; on an error it counts the pieces the daemon confirmed, so it may be
 * short by up to one piece that went out in part. A pipe is read from its
 * current position when offset is 0.
 */
int sb_sendfile(struct sb_client *c, sb_handle h, int local_fd, off_t offset, size_t count,
		size_t *sent, struct sb_error *err);

/*
 * sendmsg_afalg(buffers, op, iv, assoclen, flags) on an AF_ALG operation
 * socket: the iovcnt buffers of iov are sent with the control messages
 * ALG_SET_OP (op: ALG_OP_ENCRYPT or ALG_OP_DECRYPT), ALG_SET_IV (when iv is
 * not NULL; ivlen bytes) and ALG_SET_AEAD_ASSOCLEN (when assoclen >= 0).
 * Returns the byte count the kernel took, or a negative errno. An assoclen
 * below -1 or an IV longer than any kernel cipher takes is sent as is, and
 * the daemon refuses it (-EINVAL, SB_ERR_BAD_REQUEST).
 */
ssize_t sb_sendmsg_afalg(struct sb_client *c, sb_handle h, const struct iovec *iov,
			 size_t iovcnt, int op, const void *iv, size_t ivlen, int assoclen,
			 int flags, struct sb_error *err);

/* Cancel every operation of this client still waiting on handle h (from
 * other threads); they return -ECANCELED with kind SB_ERR_CANCELLED.
 * *count (may be NULL) is how many the daemon found waiting. */
int sb_cancel_handle(struct sb_client *c, sb_handle h, unsigned *count, struct sb_error *err);

/*
 * Poll: wait on many handles at once (what select() and poll() are to the
 * reference). SB_POLL_ERROR and SB_POLL_HANGUP are reported whether asked
 * for or not, as poll(2) reports them.
 */
#define SB_POLL_READABLE 1u
#define SB_POLL_WRITABLE 2u
#define SB_POLL_ERROR 4u
#define SB_POLL_HANGUP 8u

struct sb_pollitem {
	sb_handle handle;
	unsigned events;  /* SB_POLL_READABLE | SB_POLL_WRITABLE */
	unsigned revents; /* set by sb_poll(): what it is ready for, 0 if nothing */
};

/*
 * Wait until at least one of the `n` items is ready for its events, or for
 * `timeout` seconds (SB_TIMEOUT_NONE: as long as it takes; 0.0: check and
 * return at once). Fills every item's revents and *n_ready (may be NULL)
 * with the number of ready items; a timeout is not an error (*n_ready 0).
 * A handle may appear in several items. A handle that is not an open socket
 * of this client fails the call (-EBADF, SB_ERR_BAD_HANDLE, naming it); a
 * handle closed while the call waits is reported SB_POLL_ERROR |
 * SB_POLL_HANGUP, and its next call fails with -EBADF.
 */
int sb_poll(struct sb_client *c, struct sb_pollitem *items, size_t n, double timeout,
	    size_t *n_ready, struct sb_error *err);

/* Cancel every sb_poll() of this client still waiting (from other threads):
 * they return -ECANCELED with kind SB_ERR_CANCELLED. sb_cancel_handle()
 * does not reach them: a poll waits on no single handle. *count (may be
 * NULL) is how many the daemon found waiting. */
int sb_cancel_polls(struct sb_client *c, unsigned *count, struct sb_error *err);

/*
 * create_connection((host, port), timeout, source_address, all_errors): the
 * daemon resolves `host` (names give their IPv6 and IPv4 addresses, in the
 * resolver's order), and tries each address in turn with `timeout` seconds
 * per attempt (SB_TIMEOUT_NONE: blocking; 0.0 makes every attempt fail with
 * EINPROGRESS, as in the reference), binding it first to `source` when that
 * is not NULL ("" and port 0 leave either to the system). The first
 * connected socket comes back in *out, in the mode `timeout` names, and its
 * address in *peer (may be NULL).
 *
 * On failure `err` holds the last attempt's error (a failed lookup is
 * SB_ERR_GAI). With `attempt_errors` not NULL (the reference's
 * all_errors=True, its ExceptionGroup), the attempts' errors are stored
 * there in order: *n_attempt_errors is the array's capacity on entry and
 * the number of attempts that failed on return (only the first capacity
 * are stored). Failed attempts leave nothing open in the daemon.
 */
int sb_create_connection(struct sb_client *c, const char *host, unsigned port, double timeout,
			 const struct sb_addr *source, sb_handle *out, struct sb_addr *peer,
			 struct sb_error *attempt_errors, size_t *n_attempt_errors,
			 struct sb_error *err);

/*
 * Handoff: the socket itself, as a descriptor of this process, once the
 * daemon's policy has judged it (DESIGN.md, Transport). Only on an ipc:// or
 * abstract:// connection (sb_server_info.handoff), for a socket whose peer is
 * fixed and that a "handoff" rule allows (the built-in default allows
 * connected TCP). The descriptor is the caller's (close-on-exec, in
 * non-blocking mode: set the mode you want); the daemon forgets the handle,
 * and the socket counts against nothing there any more.
 *
 * sb_handoff(): hand over handle `h` (connected earlier). Returns 0 with
 * *fd set, or a negative errno: -EOPNOTSUPP (SB_ERR_UNSUPPORTED) on a
 * connection that cannot carry descriptors, -EACCES (SB_ERR_DENIED, the
 * rule named) where the policy keeps it, -EBUSY with operations waiting on
 * it; the handle then stays as it was.
 *
 * sb_create_connection_fd(): sb_create_connection() that asks for the
 * handoff in the same round trip. On success either *fd >= 0 (handed over;
 * *out is 0) or, where the socket may not go, *fd is -1 and *out the handle
 * of the brokered connection: the caller uses whichever it got.
 */
int sb_handoff(struct sb_client *c, sb_handle h, int *fd, struct sb_error *err);
int sb_create_connection_fd(struct sb_client *c, const char *host, unsigned port, double timeout,
			    const struct sb_addr *source, int *fd, sb_handle *out,
			    struct sb_addr *peer, struct sb_error *err);

/*
 * create_server(address, family, backlog, reuse_port, dualstack_ipv6): a
 * listening TCP socket bound to `addr`, with SO_REUSEADDR as the reference
 * sets it on POSIX. `family` 0 takes the address's family; AF_INET or
 * AF_INET6 reads the address's host in that family. `backlog`
 * SB_BACKLOG_DEFAULT is the reference's default. reuse_port sets
 * SO_REUSEPORT; dualstack_ipv6 (AF_INET6 only, else SB_ERR_BAD_REQUEST
 * "dualstack_ipv6 requires AF_INET6 family") accepts IPv4 too, whose peers
 * then read as IPv4-mapped IPv6 addresses. The handle starts in the
 * client's default timeout mode. A failed bind is the kernel's errno with a
 * message naming the address.
 */
int sb_create_server(struct sb_client *c, const struct sb_addr *addr, int family, int backlog,
		     bool reuse_port, bool dualstack_ipv6, sb_handle *out, struct sb_error *err);

/* has_dualstack_ipv6(): whether the daemon's host can make a TCP socket
 * that accepts both IPv4 and IPv6 connections. */
int sb_has_dualstack_ipv6(struct sb_client *c, bool *result, struct sb_error *err);

/*
 * Name service, host name and interfaces: answered by the daemon (its
 * resolver, its host name, its network interfaces), with the semantics of
 * Python's socket module. Flags and numbers are the daemon's (AI_*, NI_*,
 * AF_*: see sb_constant()). A failed lookup returns a negative errno with
 * err->kind SB_ERR_GAI (err->gai_code is the daemon's EAI_* value, the
 * message gai_strerror's; the return value is -ENOENT) or SB_ERR_HERROR
 * (err->herror_code is h_errno; -ENOENT), or SB_ERR_OS. A string result that
 * does not fit the caller's buffer is -ERANGE, never cut short.
 */

/* One result of sb_getaddrinfo(). */
struct sb_addrinfo {
	int family, type, proto;
	char *canonname; /* "" unless AI_CANONNAME found one */
	struct sb_addr addr;
};

/*
 * getaddrinfo(host, port, family, type, proto, flags): host NULL is None;
 * port is a number or a service name as a string ("80", "http"), NULL for
 * None. On success *results is an array of *count entries in the daemon's
 * order, freed with sb_addrinfo_free().
 */
int sb_getaddrinfo(struct sb_client *c, const char *host, const char *port, int family, int type,
		   int proto, int flags, struct sb_addrinfo **results, size_t *count,
		   struct sb_error *err);
void sb_addrinfo_free(struct sb_addrinfo *results);

/*
 * getnameinfo(addr, flags): addr is AF_INET or AF_INET6 with a numeric
 * host ("%scope" allowed; a non-zero scope_id wins over it). A link-local
 * IPv6 host comes back with its "%interface" suffix, as the reference's.
 */
int sb_getnameinfo(struct sb_client *c, const struct sb_addr *addr, int flags, char *host,
		   size_t hostlen, char *serv, size_t servlen, struct sb_error *err);

/* A host entry: gethostbyname_ex() and gethostbyaddr()'s (hostname,
 * aliaslist, ipaddrlist). The arrays are also NULL-terminated. */
struct sb_hostent {
	char *name;
	char **aliases;
	size_t n_aliases;
	char **addresses; /* numeric, "127.0.0.1" or "::1" */
	size_t n_addresses;
};

/* gethostbyname(name): the IPv4 address, as a dotted quad. */
int sb_gethostbyname(struct sb_client *c, const char *name, char *out, size_t len,
		     struct sb_error *err);
/* gethostbyname_ex(name) and gethostbyaddr(address) (a numeric address or a
 * name, as the reference takes it); *out is freed with sb_hostent_free(). */
int sb_gethostbyname_ex(struct sb_client *c, const char *name, struct sb_hostent **out,
			struct sb_error *err);
int sb_gethostbyaddr(struct sb_client *c, const char *address, struct sb_hostent **out,
		     struct sb_error *err);
void sb_hostent_free(struct sb_hostent *entry);

/* getfqdn(name): name NULL or "" is the daemon's host. */
int sb_getfqdn(struct sb_client *c, const char *name, char *out, size_t len,
	       struct sb_error *err);

/* gethostname() and sethostname(name) of the daemon's host: the latter
 * really renames it, and needs the privilege to (else -EPERM). */
int sb_gethostname(struct sb_client *c, char *out, size_t len, struct sb_error *err);
int sb_sethostname(struct sb_client *c, const void *name, size_t len, struct sb_error *err);

/* getprotobyname(name), getservbyname(name, proto) and getservbyport(port,
 * proto); proto NULL matches any protocol. "Not found" is -ENOENT with kind
 * SB_ERR_OS and the reference's message ("protocol not found",
 * "service/proto not found", "port/proto not found"). */
int sb_getprotobyname(struct sb_client *c, const char *name, int *proto, struct sb_error *err);
int sb_getservbyname(struct sb_client *c, const char *name, const char *proto, int *port,
		     struct sb_error *err);
int sb_getservbyport(struct sb_client *c, int port, const char *proto, char *out, size_t len,
		     struct sb_error *err);

/* One network interface of the daemon's host. */
struct sb_interface {
	unsigned index;
	char *name;
};

/* if_nameindex(): *interfaces is an array of *count entries, freed with
 * sb_if_nameindex_free(). */
int sb_if_nameindex(struct sb_client *c, struct sb_interface **interfaces, size_t *count,
		    struct sb_error *err);
void sb_if_nameindex_free(struct sb_interface *interfaces);
/* if_nametoindex(name): an unknown name is -ENODEV. */
int sb_if_nametoindex(struct sb_client *c, const char *name, unsigned *index,
		      struct sb_error *err);
/* if_indextoname(index): an unknown index is -ENXIO; an index outside
 * 0..UINT32_MAX is refused (SB_ERR_BAD_REQUEST, -EOVERFLOW). */
int sb_if_indextoname(struct sb_client *c, int64_t index, char *out, size_t len,
		      struct sb_error *err);

/*
 * Administration: what the daemon is doing right now (sockbrokerctl). The
 * daemon answers these only to an admin identity: root, or a uid, primary
 * group or token listed in its configuration's "admin" section; anyone else
 * gets -EACCES (kind SB_ERR_DENIED, rule "admin"). Counters run from the
 * daemon's start; everything else is of the moment of the call.
 */
struct sb_admin_identity {
	char *identity; /* "uid 1000", "token ci", or the transport ("tls+tcp") */
	uint64_t sessions, handles, parked;
};

struct sb_admin_rule {
	char *name; /* the policy rule's; "default-deny" for the implicit last one */
	bool allow; /* its verdict */
	uint64_t allowed, denied;
};

struct sb_admin_quota {
	char *quota;   /* the quota entry's name */
	char *account; /* whose account: "uid 1000", "token ci", "session 7" */
	uint64_t sessions, handles, max_handles, parked, max_parked; /* max 0: no limit */
};

struct sb_admin_status {
	char *version;
	int64_t pid;
	double uptime; /* seconds */
	char **listeners;
	size_t n_listeners;
	uint64_t sessions, handles, parked;
	uint64_t requests; /* requests started since the daemon's start */
	struct sb_admin_identity *identities; /* busiest first */
	size_t n_identities;
	struct sb_admin_rule *rules; /* in the policy's order, then default-deny */
	size_t n_rules;
	struct sb_admin_quota *quotas;
	size_t n_quotas;
	uint64_t max_handles_per_session, max_parked_per_session, max_sessions;
	uint64_t rss_bytes; /* the daemon's resident memory; 0: unknown */
};

/* The daemon's status: *status is freed with sb_admin_status_free(). */
int sb_admin_status(struct sb_client *c, struct sb_admin_status **status, struct sb_error *err);
void sb_admin_status_free(struct sb_admin_status *status);

struct sb_admin_session {
	uint64_t id;
	bool has_credentials; /* uid, gid and pid are set (ipc://, abstract://) */
	int64_t uid, gid, pid;
	char *token_name; /* "" for none */
	bool tls_verified;
	char *peer;        /* "ipc", "tcp 127.0.0.1:40112" */
	char *transport;   /* "ipc", "abstract", "tcp", "tls+tcp" */
	char *client_name; /* what it said in Hello */
	uint64_t handles, parked, requests;
	double age; /* seconds since it connected */
};

/* Every session, by id: an array of *count entries, freed with
 * sb_admin_sessions_free(sessions, count). */
int sb_admin_sessions(struct sb_client *c, struct sb_admin_session **sessions, size_t *count,
		      struct sb_error *err);
void sb_admin_sessions_free(struct sb_admin_session *sessions, size_t count);

struct sb_admin_handle {
	uint64_t session;
	sb_handle handle;
	int family, type, proto; /* the daemon's numbers */
	char *state; /* "listening", "connected", "bound" or "unconnected" */
	bool has_local, has_peer;
	struct sb_addr local, peer;
	uint32_t queued_reads, queued_writes; /* operations waiting on it */
	uint64_t bytes_in, bytes_out;
	double timeout; /* SB_TIMEOUT_NONE: blocking; 0: non-blocking */
};

/* The handles of session `session` (0: of every session), by session and
 * id: an array of *count entries, freed with sb_admin_handles_free(). */
int sb_admin_handles(struct sb_client *c, uint64_t session, struct sb_admin_handle **handles,
		     size_t *count, struct sb_error *err);
void sb_admin_handles_free(struct sb_admin_handle *handles, size_t count);

/*
 * connect_ex with handoff in one round trip: connect handle `h` (of this
 * session) to `addr` as sb_connect_ex() does and ask for the socket itself
 * (see sb_handoff()). Returns 0 with *result the connect's errno (0, or
 * EINPROGRESS for a handle in non-blocking mode, whose socket then comes over
 * with its handshake under way: poll it for writing and read SO_ERROR, as
 * after a native non-blocking connect), and *fd the handed-over descriptor
 * (close-on-exec, non-blocking; the handle is then gone) or -1 where the
 * connect failed or the policy keeps the socket brokered (the handle stays).
 * A denied destination or a bad handle is a negative errno with `err` set.
 */
int sb_connect_fd(struct sb_client *c, sb_handle h, const struct sb_addr *addr, int *result, int *fd,
		  struct sb_error *err);

#ifdef __cplusplus
}
#endif

#endif
