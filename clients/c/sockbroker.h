/*
 * libsockbroker: the C client of sockbrokerd.
 *
 * A `struct sb_client` is one connection (one session) to a broker. All
 * sockets it creates are handles of that session: opaque 64-bit ids, valid
 * only on the client that created them, closed by the daemon when the client
 * goes away. Every function is thread-safe, and several calls may be in
 * flight on one client at once (each uses its own NNG context); calls on one
 * handle start in the order they were issued.
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

#ifdef __cplusplus
extern "C" {
#endif

#define SB_PROTOCOL_VERSION 1

/* Environment variable naming the broker URL; see sb_default_url(). */
#define SB_URL_ENV "SOCKBROKER_URL"

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

/*
 * A socket address. For AF_INET/AF_INET6 `host` may be a name: the daemon
 * resolves it ("" is the any address, "<broadcast>" the IPv4 broadcast).
 * For AF_UNIX, `path` holds path_len bytes: a filesystem path, or with
 * `abstract` set a Linux abstract name without its leading NUL; path_len 0
 * is an unnamed socket. Any other family travels as `raw` bytes (the
 * sockaddr after sa_family).
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
};

/* Fill `addr`; they return 0, or -EINVAL when an argument does not fit. */
int sb_addr_inet(struct sb_addr *addr, const char *host, unsigned port);
int sb_addr_inet6(struct sb_addr *addr, const char *host, unsigned port, uint32_t flowinfo,
		  uint32_t scope_id);
int sb_addr_unix(struct sb_addr *addr, const char *path);
int sb_addr_abstract(struct sb_addr *addr, const void *name, size_t len);

/* "127.0.0.1:80", "[::1]:80", "/path", "@abstract"; truncated to len. */
void sb_addr_format(const struct sb_addr *addr, char *buf, size_t len);

struct sb_client;

/*
 * Connect to the broker at `url` (NULL: sb_default_url()) and say Hello.
 * `client_name` goes to the daemon's logs (NULL: "libsockbroker").
 * On success *out owns a new client; free it with sb_client_free().
 */
int sb_client_new(struct sb_client **out, const char *url, const char *client_name,
		  struct sb_error *err);

/* Close the connection: the daemon closes every handle of the session.
 * Calls still in flight return -ECONNRESET. NULL is a no-op. */
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
 * negative errno. sb_sendall returns 0 once every byte was taken; data
 * larger than the daemon's max_data_size is sent as pipelined pieces. */
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

/* Cancel every operation of this client still waiting on handle h (from
 * other threads); they return -ECANCELED with kind SB_ERR_CANCELLED.
 * *count (may be NULL) is how many the daemon found waiting. */
int sb_cancel_handle(struct sb_client *c, sb_handle h, unsigned *count, struct sb_error *err);

#ifdef __cplusplus
}
#endif

#endif
