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

#include "addr.h"

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

struct request {
	enum op_code op;
	uint64_t seq;
	uint64_t handle; /* for operations on a handle */
	union {
		struct {
			uint32_t protocol_version;
			char client_name[64];
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
			uint64_t target_seq;
		} cancel;
		struct {
			size_t length;
		} cmsg_size;
	};
	void *message; /* the unpacked protobuf message, when still needed */
};

/* Limits wire_decode_request() enforces. */
struct wire_limits {
	size_t max_data_size; /* largest recv bufsize honoured (larger is clamped) */
};

/* Error details for a request that cannot be decoded. */
struct wire_error {
	int kind;           /* enum error_kind: BAD_REQUEST, or UNSUPPORTED */
	int errnum;         /* EINVAL, EOVERFLOW, ENOMEM, ENOSYS */
	char message[256];  /* names the field and why */
	uint64_t seq;       /* the request's seq if it could be read, else 0 */
	enum op_code op;    /* the operation if it could be read */
};

/* Decode and validate `len` bytes. On success returns 0 and *out owns a new
 * request (free with wire_request_free()). Returns -EINVAL (malformed or
 * invalid: `error` says which field and why) or -ENOMEM. */
int wire_decode_request(const void *buf, size_t len, const struct wire_limits *limits,
			struct request **out, struct wire_error *error);

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
	REPLY_CANCEL,
	REPLY_CMSG_SIZE,
};

struct reply {
	uint64_t seq;
	enum op_code op;
	struct reply_error error; /* kind ERROR_NONE: a result */
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
		bool cancelled;
		struct {
			uint64_t len, space;
		} cmsg_size;
	};
};

/* Pack `reply` into a buffer that alloc(userdata, size) provides (the
 * transport's reply message). Returns 0, or -ENOMEM when allocation
 * failed. */
int wire_encode_reply(const struct reply *reply, void *(*alloc)(void *userdata, size_t len),
		      void *userdata);

#endif
