/*
 * The wire: the only module that sees protobuf. wire_decode_request()
 * unpacks a client's bytes, checks every field (presence, ranges, lengths,
 * known enums), and produces a plain `struct request`; wire_encode_reply()
 * packs a `struct reply`. Untrusted bytes are parsed here and nowhere else.
 *
 * A request keeps the unpacked message alive only when its arguments point
 * into it (send data, option bytes); wire_request_free() releases both.
 */
#ifndef SOCKBROKER_WIRE_H
#define SOCKBROKER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "addr.h"
#include "cmsg.h"

/* Every operation of the protocol, in the order of the Request oneof. */
enum op_code {
	OP_UNKNOWN = 0,
	OP_HELLO,
	OP_SOCKET,
	OP_SOCKETPAIR,
	OP_DUP,
	OP_CLOSE,
	OP_BIND,
	OP_LISTEN,
	OP_ACCEPT,
	OP_CONNECT,
	OP_SHUTDOWN,
	OP_GETSOCKNAME,
	OP_GETPEERNAME,
	OP_GETSOCKOPT,
	OP_SETSOCKOPT,
	OP_SETTIMEOUT,
	OP_GETTIMEOUT,
	OP_SET_INHERITABLE,
	OP_GET_INHERITABLE,
	OP_SEND,
	OP_SENDTO,
	OP_SENDALL,
	OP_RECV,
	OP_RECVFROM,
	OP_SENDMSG,
	OP_RECVMSG,
	OP_SENDMSG_AFALG,
	OP_POLL,
	OP_CANCEL,
	OP_CREATE_CONNECTION,
	OP_CREATE_SERVER,
	OP_HAS_DUALSTACK_IPV6,
	OP_HAS_IPV6,
	OP_CMSG_SIZE,
	OP_GETADDRINFO,
	OP_GETNAMEINFO,
	OP_GETHOSTBYNAME,
	OP_GETHOSTBYNAME_EX,
	OP_GETHOSTBYADDR,
	OP_GETFQDN,
	OP_GETHOSTNAME,
	OP_SETHOSTNAME,
	OP_GETPROTOBYNAME,
	OP_GETSERVBYNAME,
	OP_GETSERVBYPORT,
	OP_IF_NAMEINDEX,
	OP_IF_NAMETOINDEX,
	OP_IF_INDEXTONAME,
	OP_HANDOFF,
	OP_ADMIN_STATUS,
	OP_ADMIN_SESSIONS,
	OP_ADMIN_HANDLES,
	OP__COUNT,
};

/* A timeout in nanoseconds: TIMEOUT_NONE is blocking mode (None), 0 is
 * non-blocking, a positive value is timeout mode. */
#define TIMEOUT_NONE (-1)

/* The longest timeout accepted, in seconds (what fits in int64
 * nanoseconds, with room to add it to the monotonic clock). */
#define TIMEOUT_MAX_SECONDS 4.0e9

enum sockopt_value_kind {
	SOCKOPT_INT,
	SOCKOPT_BYTES,
	SOCKOPT_NULL,
};

#define SOCKOPT_MAX_LEN 1024

/* sendmsg_afalg: the longest IV taken (kernel ciphers take at most
 * PAGE_SIZE / 8 bytes, 512 with 4 KiB pages). */
#define AFALG_IV_MAX 1024

/* Longest host name a name-service request may carry (NI_MAXHOST less its
 * NUL), and the longest service, protocol or interface name. */
#define WIRE_NAME_MAX 1024
#define WIRE_SERVICE_MAX 255

/* The longest access token a Hello may carry, in bytes. */
#define WIRE_TOKEN_MAX 4096
/* The most seqs a resuming Hello may list (HelloRequest.resume_pending_seqs). */
#define WIRE_RESUME_PENDING_MAX 65536
/* Resume secrets and the constants digest: their lengths. */
#define WIRE_RESUME_SECRET_LEN 16
#define WIRE_DIGEST_LEN 32

/* Poll readiness bits: the protocol's PollEvents values, independent of the
 * host's POLL* numbers. ERROR and HANGUP are reported whether asked or not. */
enum {
	POLL_EV_READABLE = 1,
	POLL_EV_WRITABLE = 2,
	POLL_EV_ERROR = 4,
	POLL_EV_HANGUP = 8,
	POLL_EV_ALL = 15,
};

/* The most items one Poll may list. */
#define POLL_MAX_ITEMS 65536

/* One (handle, events) pair of a Poll request or reply. */
struct poll_item {
	uint64_t handle;
	uint32_t events; /* POLL_EV_* */
};

struct request {
	enum op_code op;
	uint64_t seq;
	uint64_t handle; /* for operations on a handle */
	/* connect, accept, create_connection: hand the socket over with the
	 * reply when allowed (Request.handoff flags). */
	bool handoff;
	union {
		struct {
			uint32_t protocol_version;
			char client_name[64];
			/* The access token, NULL when none (or empty) was given; into
			 * the unpacked message, wiped by wire_request_free(). A
			 * secret: never logged, audited or echoed. */
			const char *token;
			/* Resuming (HelloRequest.resume_secret): the secret, and the seqs the
			 * client waits for (into the unpacked message). */
			bool resume;
			uint8_t resume_secret[WIRE_RESUME_SECRET_LEN];
			const uint64_t *pending_seqs;
			size_t n_pending_seqs;
			/* The client's constants digest; has_digest false: none. */
			bool has_digest;
			uint8_t digest[WIRE_DIGEST_LEN];
		} hello;
		struct {
			int family, type, proto;
			int64_t timeout_ns;
		} socket; /* socket, socketpair */
		struct {
			struct address address;
			bool ex; /* connect_ex */
		} addr; /* bind, connect */
		struct {
			bool has_backlog;
			int backlog;
		} listen;
		struct {
			int64_t default_timeout_ns;
		} accept;
		struct {
			int how;
		} shutdown;
		struct {
			int level, optname;
			bool has_buflen;
			int buflen;
		} getsockopt;
		struct {
			int level, optname;
			enum sockopt_value_kind kind;
			int int_value;
			const uint8_t *bytes; /* into the unpacked message */
			size_t len;           /* bytes length, or the NULL form's optlen */
		} setsockopt;
		struct {
			int64_t timeout_ns;
		} settimeout;
		struct {
			bool inheritable;
		} inheritable;
		struct {
			const uint8_t *data; /* into the unpacked message */
			size_t len;
			int flags;
			bool has_address;
			struct address address;
		} send; /* send, sendto, sendall */
		struct {
			size_t bufsize; /* already clamped to the data limit */
			int flags;
		} recv; /* recv, recvfrom */
		struct {
			/* Owned by the request, pointing into the message; NULL when
			 * n_buffers exceeds IOV_MAX (the handler answers EMSGSIZE, as
			 * the kernel would). */
			struct iovec *buffers;
			size_t n_buffers;
			struct cmsg_item *ancillary; /* owned by the request */
			size_t n_ancillary;
			int flags;
			bool has_address;
			struct address address;
		} sendmsg;
		struct {
			size_t bufsize;    /* clamped: the data limit less room for ancillary data */
			size_t ancbufsize; /* clamped to CMSG_RECV_MAX */
			int flags;
		} recvmsg;
		struct {
			uint64_t target_seq;
		} cancel;
		struct {
			size_t length;
		} cmsg_size;
		struct {
			/* Owned by the request, pointing into the message; NULL when
			 * n_buffers exceeds IOV_MAX (the handler answers EMSGSIZE, as
			 * the kernel would). */
			struct iovec *buffers;
			size_t n_buffers;
			uint32_t op;       /* ALG_OP_*, passed as is: the kernel judges it */
			const uint8_t *iv; /* NULL: no ALG_SET_IV; into the message */
			size_t iv_len;
			bool has_assoclen;
			uint32_t assoclen;
			int flags;
		} afalg; /* sendmsg_afalg */
		struct {
			const char *host; /* NULL: None; into the unpacked message */
			const char *port; /* NULL: None; a number or a service name */
			int family, type, proto, flags;
		} getaddrinfo;
		struct {
			struct address address; /* AF_INET or AF_INET6 */
			int flags;
		} getnameinfo;
		struct {
			const char *name; /* into the unpacked message */
		} name; /* gethostbyname(_ex), gethostbyaddr, getfqdn, getprotobyname,
			 * if_nametoindex */
		struct {
			const uint8_t *name; /* into the unpacked message; no NUL */
			size_t len;
		} sethostname;
		struct {
			const char *name;  /* into the unpacked message */
			const char *proto; /* NULL: any protocol */
		} getservbyname;
		struct {
			int port;          /* 0-65535 */
			const char *proto; /* NULL: any protocol */
		} getservbyport;
		struct {
			unsigned index;
		} if_indextoname;
		struct {
			struct poll_item *items; /* owned by the request */
			size_t n_items;
			int64_t timeout_ns;
		} poll;
		struct {
			char host[ADDRESS_HOST_MAX];
			uint16_t port;
			int64_t timeout_ns; /* per attempt, and the new handle's mode */
			bool has_source;
			struct address source;
			bool all_errors;
		} create_connection;
		struct {
			struct address address; /* its family is the socket's */
			bool has_backlog;
			int backlog;
			bool reuse_port, dualstack_ipv6;
			int64_t timeout_ns;
		} create_server;
		struct {
			uint64_t session; /* 0: every session */
		} admin_handles;
	};
	void *message; /* the unpacked protobuf message, when still needed */
	/* Set for a request that failed to decode but whose seq was readable:
	 * it still takes its turn in the session's sequence (and is answered
	 * with this error then), so that later requests do not wait for it. */
	struct wire_error *invalid;
	/* The size of the request on the wire: about what its decoded form
	 * holds (its payload copied out of the frame), for the memory budget. */
	size_t wire_len;
};

/* Limits wire_decode_request() enforces. */
struct wire_limits {
	size_t max_data_size; /* largest recv bufsize honoured (larger is clamped) */
};

/* Error details for a request that cannot be decoded. */
struct wire_error {
	int kind;           /* enum error_kind: always ERROR_BAD_REQUEST */
	int errnum;         /* EINVAL, EOVERFLOW, EMSGSIZE, ENOMEM, ESTALE */
	char message[256];  /* names the field and why */
	uint64_t seq;       /* the request's seq if it could be read, else 0 */
	enum op_code op;    /* the operation if it could be read */
};

/* Decode and validate `len` bytes. On success returns 0 and *out owns a new
 * request (free with wire_request_free()). Returns -EINVAL (malformed or
 * invalid: `error` says which field and why) or -ENOMEM. */
int wire_decode_request(const void *buf, size_t len, const struct wire_limits *limits,
			struct request **out, struct wire_error *error);

/* A request that stands for one that failed to decode (op OP_UNKNOWN,
 * seq and error from `error`), or NULL when out of memory. */
struct request *wire_request_invalid(const struct wire_error *error);

/* Free a request and the message it keeps. NULL is a no-op. */
void wire_request_free(struct request *request);

/* ---- replies ---------------------------------------------------------- */

/* Error kinds, as in the protocol's ErrorKind. */
enum error_kind {
	ERROR_NONE = 0,
	ERROR_OS = 1,
	ERROR_TIMEOUT = 2,
	ERROR_GAI = 3,
	ERROR_HERROR = 4,
	ERROR_DENIED = 5,
	ERROR_BAD_REQUEST = 6,
	ERROR_BAD_HANDLE = 7,
	ERROR_UNSUPPORTED = 8,
	ERROR_QUOTA = 9,
	ERROR_CANCELLED = 10,
};

struct reply_error {
	enum error_kind kind;
	int errnum;
	char message[256];
	int gai_code;
	int herror_code;
	const char *rule;
	const char *operation;
};

struct socket_info {
	uint64_t handle;
	int family, type, proto;
	int64_t timeout_ns;
};

#ifndef SOCKBROKER_CONSTANT_DEFINED
#define SOCKBROKER_CONSTANT_DEFINED
struct constant {
	const char *name;
	int64_t value;
};
#endif

struct reply_hello {
	uint32_t protocol_version;
	const char *server_version;
	uint64_t max_message_size;
	uint64_t max_data_size;
	uint32_t max_handles;
	uint32_t max_parked;
	uint64_t session_id;
	const uint8_t *resume_secret;
	size_t resume_secret_len;
	const struct constant *constants;
	size_t n_constants;
	bool has_credentials;
	int64_t uid, gid, pid;
	bool tls_verified;
	const char *peer;
	const char *token_name; /* the token that authenticated the session; NULL or "": none */
	bool handoff;           /* descriptors can be handed over on this connection */
	uint32_t resume_grace_ms;
	const uint8_t *constants_digest; /* WIRE_DIGEST_LEN bytes; NULL: none */
	bool resumed;
	uint64_t resume_next_seq;
	/* With `resumed`: the missed replies, encoded, and their SP request ids. */
	const uint32_t *missed_request_ids;
	const uint8_t *const *missed_replies;
	const size_t *missed_lens;
	size_t n_missed;
};

/* One result of getaddrinfo. */
struct addrinfo_entry {
	int family, type, proto;
	const char *canonname; /* NULL: none */
	struct sockaddr_buf address;
};

/* One network interface of if_nameindex. */
struct if_entry {
	unsigned index;
	const char *name;
};

/* Room for a string result (NI_MAXHOST), and for a service name
 * (NI_MAXSERV). */
#define REPLY_TEXT_MAX 1025
#define REPLY_SERVICE_MAX 32

/* Admin results (sockbrokerctl): plain rows, borrowed by the reply until it
 * is encoded. */
struct admin_identity_row {
	char identity[80]; /* "uid 1000", "token ci", "tls" */
	uint64_t sessions, handles, parked;
};

struct admin_rule_row {
	const char *name;
	bool allow;
	uint64_t allowed, denied;
};

struct admin_quota_row {
	const char *quota;
	const char *account;
	uint64_t sessions, handles, max_handles, parked, max_parked;
};

struct admin_status {
	const char *version;
	int64_t pid;
	double uptime;
	const char *const *listeners;
	size_t n_listeners;
	uint64_t sessions, handles, parked, requests;
	const struct admin_identity_row *identities;
	size_t n_identities;
	const struct admin_rule_row *rules;
	size_t n_rules;
	const struct admin_quota_row *quotas;
	size_t n_quotas;
	uint64_t max_handles_per_session, max_parked_per_session, max_sessions;
	uint64_t rss_bytes;
};

struct admin_session_row {
	uint64_t id;
	bool has_credentials;
	int64_t uid, gid, pid;
	const char *token_name; /* NULL: none */
	bool tls_verified;
	const char *peer;
	const char *transport;
	const char *client_name;
	uint64_t handles, parked, requests;
	double age;
};

struct admin_handle_row {
	uint64_t session, handle;
	int family, type, proto;
	const char *state;
	bool has_local, has_peer;
	struct sockaddr_buf local, peer;
	uint32_t queued_reads, queued_writes;
	uint64_t bytes_in, bytes_out;
	int64_t timeout_ns;
};

/* What a result looks like on the wire; the operation picks it. */
enum reply_shape {
	REPLY_DONE,
	REPLY_HELLO,
	REPLY_SOCKET,
	REPLY_SOCKETPAIR,
	REPLY_ACCEPT,
	REPLY_CONNECT,
	REPLY_ADDRESS,
	REPLY_GETSOCKOPT,
	REPLY_TIMEOUT,
	REPLY_FLAG,
	REPLY_SEND,
	REPLY_RECV,
	REPLY_RECVMSG,
	REPLY_CANCEL,
	REPLY_CMSG_SIZE,
	REPLY_GETADDRINFO,
	REPLY_GETNAMEINFO,
	REPLY_HOSTENT,
	REPLY_STRING,
	REPLY_INTEGER,
	REPLY_IF_NAMEINDEX,
	REPLY_POLL,
	REPLY_CREATE_CONNECTION,
	REPLY_ADMIN_STATUS,
	REPLY_ADMIN_SESSIONS,
	REPLY_ADMIN_HANDLES,
};

struct reply {
	uint64_t seq;
	enum op_code op;
	struct reply_error error; /* kind ERROR_NONE: a result */
	/* The kernel's free send space on the stream socket the reply is
	 * about (Reply.send_space), when has_send_space. */
	bool has_send_space;
	uint64_t send_space;
	/* The socket went with the reply's frame (Reply.handed_off). */
	bool handed_off;
	enum reply_shape shape;
	union {
		struct reply_hello hello;
		struct socket_info socket;
		struct {
			struct socket_info first, second;
		} pair;
		struct {
			struct socket_info socket;
			struct sockaddr_buf peer;
		} accept;
		struct {
			int errnum;
		} connect;
		struct sockaddr_buf address;
		struct {
			bool is_int;
			int64_t int_value;
			uint8_t bytes[SOCKOPT_MAX_LEN];
			size_t len;
		} getsockopt;
		int64_t timeout_ns;
		bool flag;
		uint64_t count;
		struct {
			const uint8_t *data; /* borrowed until wire_encode_reply() returns */
			size_t len;
			uint64_t count;
			bool has_address;
			struct sockaddr_buf address;
		} recv;
		struct {
			/* Borrowed until wire_encode_reply() returns. */
			const uint8_t *data;
			size_t len;
			const struct cmsg_item *ancillary;
			size_t n_ancillary;
			int msg_flags;
			bool has_address;
			struct sockaddr_buf address;
		} recvmsg;
		bool cancelled;
		struct {
			uint64_t len, space;
		} cmsg_size;
		struct {
			const struct addrinfo_entry *entries; /* borrowed until encoded */
			size_t count;
		} getaddrinfo;
		struct {
			char host[REPLY_TEXT_MAX];
			char service[REPLY_SERVICE_MAX];
		} getnameinfo;
		struct {
			/* Borrowed until wire_encode_reply() returns. */
			const char *hostname;
			const char *const *aliases;
			size_t n_aliases;
			const char *const *addresses;
			size_t n_addresses;
		} hostent;
		char text[REPLY_TEXT_MAX]; /* REPLY_STRING */
		int64_t integer;           /* REPLY_INTEGER */
		struct {
			const struct if_entry *entries; /* borrowed until encoded */
			size_t count;
		} if_nameindex;
		struct {
			const struct poll_item *ready; /* borrowed until wire_encode_reply() returns */
			size_t n_ready;
		} poll;
		struct {
			/* Connected: the handle and its peer; else (all_errors) the
			 * error of every attempt, borrowed until encoded. */
			bool connected;
			struct socket_info socket;
			struct sockaddr_buf peer;
			const struct reply_error *attempt_errors;
			size_t n_attempt_errors;
		} create_connection;
		struct admin_status admin_status;
		struct {
			const struct admin_session_row *rows;
			size_t n_rows;
		} admin_sessions;
		struct {
			const struct admin_handle_row *rows;
			size_t n_rows;
		} admin_handles;
	};
};

/* Pack `reply` into a buffer that alloc(userdata, size) provides (the
 * transport's reply message). Returns 0, or -ENOMEM when allocation
 * failed. */
/* The `seq` of an encoded Reply (its field 1, which the encoder writes first); 0 when it
 * has none. Reads at most the first 11 bytes. */
uint64_t wire_reply_seq(const void *body, size_t len);

int wire_encode_reply(const struct reply *reply, void *(*alloc)(void *userdata, size_t len),
		      void *userdata);

#endif
