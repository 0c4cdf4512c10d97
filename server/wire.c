#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "errname.h"
#include "sockbroker.pb-c.h"

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;
typedef Sockbroker__V1__Address Address;

#define REQ(name) SOCKBROKER__V1__REQUEST__OP_##name

/* Decoding fails through this: it records which field and why, and the
 * caller answers BAD_REQUEST with it. */
static int
invalid(struct wire_error *error, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
invalid(struct wire_error *error, int errnum, const char *fmt, ...)
{
	va_list ap;
	error->kind = ERROR_BAD_REQUEST;
	error->errnum = errnum;
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int
need_handle(bool has, uint64_t handle, const char *op, struct request *req,
	    struct wire_error *error)
{
	if (!has)
		return invalid(error, EINVAL, "%s.handle is required", op);
	req->handle = handle;
	return 0;
}

/* A timeout field: absent is None (blocking); negative or NaN is refused as
 * the reference refuses it. */
static int
decode_timeout(bool has, double seconds, const char *field, int64_t *out,
	       struct wire_error *error)
{
	if (!has) {
		*out = TIMEOUT_NONE;
		return 0;
	}
	if (isnan(seconds) || seconds < 0)
		return invalid(error, EINVAL, "%s: Timeout value out of range", field);
	if (seconds > TIMEOUT_MAX_SECONDS)
		return invalid(error, EOVERFLOW, "%s: timeout doesn't fit into C timeval", field);
	int64_t ns = (int64_t)ceil(seconds * 1e9);
	/* A tiny positive timeout is still timeout mode, not non-blocking. */
	*out = (seconds > 0 && ns == 0) ? 1 : ns;
	return 0;
}

static int
decode_host(const char *host, const char *field, struct address *out, struct wire_error *error)
{
	if (!host)
		host = "";
	size_t n = strlen(host);
	if (n >= sizeof(out->inet.host))
		return invalid(error, EINVAL, "%s.host: longer than %zu bytes", field,
			       sizeof(out->inet.host) - 1);
	memcpy(out->inet.host, host, n + 1);
	return 0;
}

static int
decode_port(bool has, uint32_t port, const char *field, struct address *out,
	    struct wire_error *error)
{
	if (!has)
		return invalid(error, EINVAL, "%s.port is required", field);
	if (port > 65535)
		return invalid(error, EOVERFLOW, "%s.port: port must be 0-65535, got %u", field,
			       port);
	out->inet.port = (uint16_t)port;
	return 0;
}

static int
decode_address(const Address *msg, const char *field, struct address *out,
	       struct wire_error *error)
{
	memset(out, 0, sizeof(*out));
	if (!msg)
		return invalid(error, EINVAL, "%s is required", field);

	switch (msg->family_case) {
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET:
		out->family = AF_INET;
		if (decode_host(msg->af_inet->host, field, out, error) < 0)
			return -EINVAL;
		return decode_port(msg->af_inet->has_port, msg->af_inet->port, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6: {
		const Sockbroker__V1__Inet6Address *in6 = msg->af_inet6;
		out->family = AF_INET6;
		if (decode_host(in6->host, field, out, error) < 0 ||
		    decode_port(in6->has_port, in6->port, field, out, error) < 0)
			return -EINVAL;
		if (in6->flowinfo > 0xfffff)
			return invalid(error, EOVERFLOW,
				       "%s.flowinfo: flowinfo must be 0-1048575, got %u", field,
				       in6->flowinfo);
		out->inet.flowinfo = in6->flowinfo;
		out->inet.scope_id = in6->scope_id;
		return 0;
	}
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX: {
		const Sockbroker__V1__UnixAddress *un = msg->af_unix;
		out->family = AF_UNIX;
		const ProtobufCBinaryData *name = NULL;
		if (un->name_case == SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH) {
			name = &un->path;
		} else if (un->name_case == SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT) {
			name = &un->abstract;
			out->un.abstract = true;
		}
		if (!name)
			return 0;
		size_t room = sizeof(((struct sockaddr_un *)0)->sun_path) - (out->un.abstract ? 1 : 0);
		if (name->len > room)
			return invalid(error, EINVAL, "%s: AF_UNIX path too long (%zu bytes, at most %zu)",
				       field, name->len, room);
		out->un.len = name->len;
		/* An empty bytes field has no data pointer at all. */
		if (name->len)
			memcpy(out->un.path, name->data, name->len);
		return 0;
	}
	case SOCKBROKER__V1__ADDRESS__FAMILY_RAW:
		if (!msg->raw->has_family || msg->raw->family < 0 || msg->raw->family > 0xffff)
			return invalid(error, EINVAL, "%s.raw.family must be 0-65535", field);
		if (msg->raw->data.len > sizeof(out->raw.data))
			return invalid(error, EINVAL, "%s.raw.data: longer than %zu bytes", field,
				       sizeof(out->raw.data));
		out->family = msg->raw->family;
		out->raw.len = msg->raw->data.len;
		if (out->raw.len)
			memcpy(out->raw.data, msg->raw->data.data, out->raw.len);
		if (out->family == AF_INET || out->family == AF_INET6 || out->family == AF_UNIX)
			return invalid(error, EINVAL, "%s: use the af_inet/af_inet6/af_unix member "
				       "for this family, not raw", field);
		return 0;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK:
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET:
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG:
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK:
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN:
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC:
		invalid(error, ENOSYS, "%s: this address family is not supported by this version "
			"of sockbrokerd", field);
		error->kind = ERROR_UNSUPPORTED;
		return -EINVAL;
	default:
		return invalid(error, EINVAL, "%s names no address family", field);
	}
}

static int
decode_socket_args(bool has_family, int family, bool has_type, int type, bool has_proto,
		   int proto, bool has_timeout, double timeout, int default_family,
		   const char *op, struct request *req, struct wire_error *error)
{
	char field[32];
	req->socket.family = has_family ? family : default_family;
	req->socket.type = has_type ? type : SOCK_STREAM;
	req->socket.proto = has_proto ? proto : 0;
	snprintf(field, sizeof(field), "%s.timeout", op);
	return decode_timeout(has_timeout, timeout, field, &req->socket.timeout_ns, error);
}

static int
decode_send(const Sockbroker__V1__SendRequest *m, const char *op, struct request *req,
	    struct wire_error *error)
{
	if (need_handle(m->has_handle, m->handle, op, req, error) < 0)
		return -EINVAL;
	req->send.data = m->has_data ? m->data.data : NULL;
	req->send.len = m->has_data ? m->data.len : 0;
	req->send.flags = m->has_flags ? m->flags : 0;
	if (req->op == OP_SENDTO) {
		char field[32];
		snprintf(field, sizeof(field), "%s.address", op);
		if (decode_address(m->address, field, &req->send.address, error) < 0)
			return -EINVAL;
		req->send.has_address = true;
	} else if (m->address) {
		return invalid(error, EINVAL, "%s takes no address (use sendto)", op);
	}
	return 0;
}

static int
decode_recv(const Sockbroker__V1__RecvRequest *m, const char *op, struct request *req,
	    const struct wire_limits *limits, struct wire_error *error)
{
	if (need_handle(m->has_handle, m->handle, op, req, error) < 0)
		return -EINVAL;
	if (!m->has_bufsize)
		return invalid(error, EINVAL, "%s.bufsize is required", op);
	if (m->bufsize < 0)
		return invalid(error, EINVAL, "negative buffersize in %s", op);
	req->recv.bufsize = (uint64_t)m->bufsize > limits->max_data_size ? limits->max_data_size
									  : (size_t)m->bufsize;
	req->recv.flags = m->has_flags ? m->flags : 0;
	return 0;
}

/* Decode the arguments of one operation. Returns 0 or -EINVAL; sets
 * *keep when the request points into the message. */
static int
decode_op(const Request *msg, struct request *req, const struct wire_limits *limits, bool *keep,
	  struct wire_error *error)
{
	switch (msg->op_case) {
	case REQ(HELLO): {
		const Sockbroker__V1__HelloRequest *m = msg->hello;
		req->op = OP_HELLO;
		req->hello.protocol_version = m->has_protocol_version ? m->protocol_version : 1;
		if (m->client_name)
			snprintf(req->hello.client_name, sizeof(req->hello.client_name), "%s",
				 m->client_name);
		return 0;
	}
	case REQ(SOCKET): {
		const Sockbroker__V1__SocketRequest *m = msg->socket;
		req->op = OP_SOCKET;
		return decode_socket_args(m->has_family, m->family, m->has_type, m->type,
					  m->has_proto, m->proto, m->has_timeout, m->timeout,
					  AF_INET, "socket", req, error);
	}
	case REQ(SOCKETPAIR): {
		const Sockbroker__V1__SocketPairRequest *m = msg->socketpair;
		req->op = OP_SOCKETPAIR;
		return decode_socket_args(m->has_family, m->family, m->has_type, m->type,
					  m->has_proto, m->proto, m->has_timeout, m->timeout,
					  AF_UNIX, "socketpair", req, error);
	}
	case REQ(DUP):
		req->op = OP_DUP;
		return need_handle(msg->dup->has_handle, msg->dup->handle, "dup", req, error);
	case REQ(CLOSE):
		req->op = OP_CLOSE;
		return need_handle(msg->close->has_handle, msg->close->handle, "close", req, error);
	case REQ(BIND):
		req->op = OP_BIND;
		if (need_handle(msg->bind->has_handle, msg->bind->handle, "bind", req, error) < 0)
			return -EINVAL;
		return decode_address(msg->bind->address, "bind.address", &req->addr.address,
				      error);
	case REQ(LISTEN):
		req->op = OP_LISTEN;
		req->listen.has_backlog = msg->listen->has_backlog;
		/* The reference takes a negative backlog as 0. */
		req->listen.backlog = msg->listen->backlog < 0 ? 0 : msg->listen->backlog;
		return need_handle(msg->listen->has_handle, msg->listen->handle, "listen", req,
				   error);
	case REQ(ACCEPT):
		req->op = OP_ACCEPT;
		if (need_handle(msg->accept->has_handle, msg->accept->handle, "accept", req,
				error) < 0)
			return -EINVAL;
		return decode_timeout(msg->accept->has_default_timeout,
				      msg->accept->default_timeout, "accept.default_timeout",
				      &req->accept.default_timeout_ns, error);
	case REQ(CONNECT):
		req->op = OP_CONNECT;
		req->addr.ex = msg->connect->has_ex && msg->connect->ex;
		if (need_handle(msg->connect->has_handle, msg->connect->handle, "connect", req,
				error) < 0)
			return -EINVAL;
		return decode_address(msg->connect->address, "connect.address",
				      &req->addr.address, error);
	case REQ(SHUTDOWN):
		req->op = OP_SHUTDOWN;
		if (!msg->shutdown->has_how)
			return invalid(error, EINVAL, "shutdown.how is required");
		req->shutdown.how = msg->shutdown->how;
		return need_handle(msg->shutdown->has_handle, msg->shutdown->handle, "shutdown",
				   req, error);
	case REQ(GETSOCKNAME):
		req->op = OP_GETSOCKNAME;
		return need_handle(msg->getsockname->has_handle, msg->getsockname->handle,
				   "getsockname", req, error);
	case REQ(GETPEERNAME):
		req->op = OP_GETPEERNAME;
		return need_handle(msg->getpeername->has_handle, msg->getpeername->handle,
				   "getpeername", req, error);
	case REQ(GETSOCKOPT): {
		const Sockbroker__V1__GetSockOptRequest *m = msg->getsockopt;
		req->op = OP_GETSOCKOPT;
		if (!m->has_level || !m->has_optname)
			return invalid(error, EINVAL, "getsockopt.level and .optname are required");
		req->getsockopt.level = m->level;
		req->getsockopt.optname = m->optname;
		req->getsockopt.has_buflen = m->has_buflen;
		if (m->has_buflen && (m->buflen <= 0 || m->buflen > SOCKOPT_MAX_LEN))
			return invalid(error, EINVAL,
				       "getsockopt buflen out of range (must be 1-%d, got %d)",
				       SOCKOPT_MAX_LEN, m->buflen);
		req->getsockopt.buflen = m->buflen;
		return need_handle(m->has_handle, m->handle, "getsockopt", req, error);
	}
	case REQ(SETSOCKOPT): {
		const Sockbroker__V1__SetSockOptRequest *m = msg->setsockopt;
		req->op = OP_SETSOCKOPT;
		if (!m->has_level || !m->has_optname)
			return invalid(error, EINVAL, "setsockopt.level and .optname are required");
		req->setsockopt.level = m->level;
		req->setsockopt.optname = m->optname;
		switch (m->value_case) {
		case SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_INT_VALUE:
			if (m->int_value < INT_MIN || m->int_value > INT_MAX)
				return invalid(error, EOVERFLOW,
					       "setsockopt: integer value %lld does not fit a C int",
					       (long long)m->int_value);
			req->setsockopt.kind = SOCKOPT_INT;
			req->setsockopt.int_value = (int)m->int_value;
			break;
		case SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_BYTES_VALUE:
			if (m->bytes_value.len > SOCKOPT_MAX_LEN)
				return invalid(error, EINVAL,
					       "setsockopt: value of %zu bytes is longer than %d",
					       m->bytes_value.len, SOCKOPT_MAX_LEN);
			req->setsockopt.kind = SOCKOPT_BYTES;
			req->setsockopt.bytes = m->bytes_value.data;
			req->setsockopt.len = m->bytes_value.len;
			*keep = true;
			break;
		case SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_NULL_OPTLEN:
			req->setsockopt.kind = SOCKOPT_NULL;
			req->setsockopt.len = m->null_optlen;
			break;
		default:
			return invalid(error, EINVAL, "setsockopt needs a value (int_value, "
				       "bytes_value or null_optlen)");
		}
		return need_handle(m->has_handle, m->handle, "setsockopt", req, error);
	}
	case REQ(SETTIMEOUT):
		req->op = OP_SETTIMEOUT;
		if (need_handle(msg->settimeout->has_handle, msg->settimeout->handle, "settimeout",
				req, error) < 0)
			return -EINVAL;
		return decode_timeout(msg->settimeout->has_timeout, msg->settimeout->timeout,
				      "settimeout.timeout", &req->settimeout.timeout_ns, error);
	case REQ(GETTIMEOUT):
		req->op = OP_GETTIMEOUT;
		return need_handle(msg->gettimeout->has_handle, msg->gettimeout->handle,
				   "gettimeout", req, error);
	case REQ(SET_INHERITABLE):
		req->op = OP_SET_INHERITABLE;
		if (!msg->set_inheritable->has_inheritable)
			return invalid(error, EINVAL, "set_inheritable.inheritable is required");
		req->inheritable.inheritable = msg->set_inheritable->inheritable;
		return need_handle(msg->set_inheritable->has_handle, msg->set_inheritable->handle,
				   "set_inheritable", req, error);
	case REQ(GET_INHERITABLE):
		req->op = OP_GET_INHERITABLE;
		return need_handle(msg->get_inheritable->has_handle, msg->get_inheritable->handle,
				   "get_inheritable", req, error);
	case REQ(SEND):
		req->op = OP_SEND;
		*keep = true;
		return decode_send(msg->send, "send", req, error);
	case REQ(SENDTO):
		req->op = OP_SENDTO;
		*keep = true;
		return decode_send(msg->sendto, "sendto", req, error);
	case REQ(SENDALL):
		req->op = OP_SENDALL;
		*keep = true;
		return decode_send(msg->sendall, "sendall", req, error);
	case REQ(RECV):
		req->op = OP_RECV;
		return decode_recv(msg->recv, "recv", req, limits, error);
	case REQ(RECVFROM):
		req->op = OP_RECVFROM;
		return decode_recv(msg->recvfrom, "recvfrom", req, limits, error);
	case REQ(CANCEL):
		req->op = OP_CANCEL;
		if (!msg->cancel->has_target_seq)
			return invalid(error, EINVAL, "cancel.target_seq is required");
		req->cancel.target_seq = msg->cancel->target_seq;
		return 0;

	/* The rest carry no arguments the daemon reads yet: they answer
	 * UNSUPPORTED, or need none (has_ipv6). */
	case REQ(SENDMSG):
		req->op = OP_SENDMSG;
		return 0;
	case REQ(RECVMSG):
		req->op = OP_RECVMSG;
		return 0;
	case REQ(SENDMSG_AFALG):
		req->op = OP_SENDMSG_AFALG;
		return 0;
	case REQ(POLL):
		req->op = OP_POLL;
		return 0;
	case REQ(CREATE_CONNECTION):
		req->op = OP_CREATE_CONNECTION;
		return 0;
	case REQ(CREATE_SERVER):
		req->op = OP_CREATE_SERVER;
		return 0;
	case REQ(HAS_DUALSTACK_IPV6):
		req->op = OP_HAS_DUALSTACK_IPV6;
		return 0;
	case REQ(HAS_IPV6):
		req->op = OP_HAS_IPV6;
		return 0;
	case REQ(CMSG_SIZE):
		req->op = OP_CMSG_SIZE;
		if (!msg->cmsg_size->has_length)
			return invalid(error, EINVAL, "cmsg_size.length is required");
		if (msg->cmsg_size->length < 0 || msg->cmsg_size->length > INT_MAX / 2)
			return invalid(error, EOVERFLOW, "CMSG_LEN() argument out of range");
		req->cmsg_size.length = (size_t)msg->cmsg_size->length;
		return 0;
	case REQ(GETADDRINFO):
		req->op = OP_GETADDRINFO;
		return 0;
	case REQ(GETNAMEINFO):
		req->op = OP_GETNAMEINFO;
		return 0;
	case REQ(GETHOSTBYNAME):
		req->op = OP_GETHOSTBYNAME;
		return 0;
	case REQ(GETHOSTBYNAME_EX):
		req->op = OP_GETHOSTBYNAME_EX;
		return 0;
	case REQ(GETHOSTBYADDR):
		req->op = OP_GETHOSTBYADDR;
		return 0;
	case REQ(GETFQDN):
		req->op = OP_GETFQDN;
		return 0;
	case REQ(GETHOSTNAME):
		req->op = OP_GETHOSTNAME;
		return 0;
	case REQ(SETHOSTNAME):
		req->op = OP_SETHOSTNAME;
		return 0;
	case REQ(GETPROTOBYNAME):
		req->op = OP_GETPROTOBYNAME;
		return 0;
	case REQ(GETSERVBYNAME):
		req->op = OP_GETSERVBYNAME;
		return 0;
	case REQ(GETSERVBYPORT):
		req->op = OP_GETSERVBYPORT;
		return 0;
	case REQ(IF_NAMEINDEX):
		req->op = OP_IF_NAMEINDEX;
		return 0;
	case REQ(IF_NAMETOINDEX):
		req->op = OP_IF_NAMETOINDEX;
		return 0;
	case REQ(IF_INDEXTONAME):
		req->op = OP_IF_INDEXTONAME;
		return 0;
	default:
		return invalid(error, EINVAL,
			       "the request names no operation this daemon knows (field %d); "
			       "is the client newer than the daemon?",
			       (int)msg->op_case);
	}
}

int
wire_decode_request(const void *buf, size_t len, const struct wire_limits *limits,
		    struct request **out, struct wire_error *error)
{
	memset(error, 0, sizeof(*error));
	Request *msg = sockbroker__v1__request__unpack(NULL, len, buf);
	if (!msg)
		return invalid(error, EINVAL,
			       "the request (%zu bytes) is not a valid sockbroker.v1.Request "
			       "message",
			       len);

	struct request *req = calloc(1, sizeof(*req));
	if (!req) {
		sockbroker__v1__request__free_unpacked(msg, NULL);
		error->kind = ERROR_BAD_REQUEST;
		error->errnum = ENOMEM;
		snprintf(error->message, sizeof(error->message), "the daemon is out of memory");
		return -ENOMEM;
	}
	req->seq = msg->has_seq ? msg->seq : 0;
	error->seq = req->seq;

	bool keep = false;
	int r = decode_op(msg, req, limits, &keep, error);
	error->op = req->op;
	if (r < 0) {
		sockbroker__v1__request__free_unpacked(msg, NULL);
		free(req);
		return r;
	}
	if (keep)
		req->message = msg;
	else
		sockbroker__v1__request__free_unpacked(msg, NULL);
	*out = req;
	return 0;
}

void
wire_request_free(struct request *request)
{
	if (!request)
		return;
	if (request->message)
		sockbroker__v1__request__free_unpacked(request->message, NULL);
	free(request);
}

/* ---- replies ---------------------------------------------------------- */

static const char *
gai_name(int code)
{
	switch (code) {
#define GAI(name) \
	case name: \
		return #name;
		GAI(EAI_BADFLAGS)
		GAI(EAI_NONAME)
		GAI(EAI_AGAIN)
		GAI(EAI_FAIL)
		GAI(EAI_FAMILY)
		GAI(EAI_SOCKTYPE)
		GAI(EAI_SERVICE)
		GAI(EAI_MEMORY)
		GAI(EAI_SYSTEM)
		GAI(EAI_OVERFLOW)
		GAI(EAI_NODATA)
		GAI(EAI_ADDRFAMILY)
		GAI(EAI_INPROGRESS)
		GAI(EAI_CANCELED)
		GAI(EAI_NOTCANCELED)
		GAI(EAI_ALLDONE)
		GAI(EAI_INTR)
		GAI(EAI_IDN_ENCODE)
#undef GAI
	default:
		return "EAI_UNKNOWN";
	}
}

/* Storage for one Address message built from a sockaddr. */
struct address_msg {
	Address address;
	Sockbroker__V1__InetAddress inet;
	Sockbroker__V1__Inet6Address inet6;
	Sockbroker__V1__UnixAddress un;
	Sockbroker__V1__RawAddress raw;
	struct address plain;
};

static Address *
build_address(const struct sockaddr_buf *sa, struct address_msg *m)
{
	sockbroker__v1__address__init(&m->address);
	addr_from_sockaddr((const struct sockaddr *)&sa->ss, sa->len, &m->plain);
	switch (m->plain.family) {
	case AF_INET:
		sockbroker__v1__inet_address__init(&m->inet);
		m->inet.host = m->plain.inet.host;
		m->inet.has_port = true;
		m->inet.port = m->plain.inet.port;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
		m->address.af_inet = &m->inet;
		break;
	case AF_INET6:
		sockbroker__v1__inet6_address__init(&m->inet6);
		m->inet6.host = m->plain.inet.host;
		m->inet6.has_port = true;
		m->inet6.port = m->plain.inet.port;
		m->inet6.has_flowinfo = true;
		m->inet6.flowinfo = m->plain.inet.flowinfo;
		m->inet6.has_scope_id = true;
		m->inet6.scope_id = m->plain.inet.scope_id;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
		m->address.af_inet6 = &m->inet6;
		break;
	case AF_UNIX:
		sockbroker__v1__unix_address__init(&m->un);
		if (m->plain.un.len > 0 || m->plain.un.abstract) {
			ProtobufCBinaryData name = { m->plain.un.len, m->plain.un.path };
			if (m->plain.un.abstract) {
				m->un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT;
				m->un.abstract = name;
			} else {
				m->un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH;
				m->un.path = name;
			}
		}
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
		m->address.af_unix = &m->un;
		break;
	default:
		sockbroker__v1__raw_address__init(&m->raw);
		m->raw.has_family = true;
		m->raw.family = m->plain.family;
		m->raw.has_data = true;
		m->raw.data.len = m->plain.raw.len;
		m->raw.data.data = m->plain.raw.data;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_RAW;
		m->address.raw = &m->raw;
		break;
	}
	return &m->address;
}

static void
build_socket(const struct socket_info *info, Sockbroker__V1__SocketReply *m)
{
	sockbroker__v1__socket_reply__init(m);
	m->has_handle = m->has_family = m->has_type = m->has_proto = true;
	m->handle = info->handle;
	m->family = info->family;
	m->type = info->type;
	m->proto = info->proto;
	if (info->timeout_ns != TIMEOUT_NONE) {
		m->has_timeout = true;
		m->timeout = (double)info->timeout_ns / 1e9;
	}
}

int
wire_encode_reply(const struct reply *reply, void *(*alloc)(void *userdata, size_t len),
		  void *userdata)
{
	Reply msg = SOCKBROKER__V1__REPLY__INIT;
	Sockbroker__V1__Error error = SOCKBROKER__V1__ERROR__INIT;
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__HelloReply hello = SOCKBROKER__V1__HELLO_REPLY__INIT;
	Sockbroker__V1__Identity identity = SOCKBROKER__V1__IDENTITY__INIT;
	Sockbroker__V1__SocketReply socket = SOCKBROKER__V1__SOCKET_REPLY__INIT;
	Sockbroker__V1__SocketReply second = SOCKBROKER__V1__SOCKET_REPLY__INIT;
	Sockbroker__V1__SocketPairReply pair = SOCKBROKER__V1__SOCKET_PAIR_REPLY__INIT;
	Sockbroker__V1__AcceptReply accept = SOCKBROKER__V1__ACCEPT_REPLY__INIT;
	Sockbroker__V1__ConnectReply connect = SOCKBROKER__V1__CONNECT_REPLY__INIT;
	Sockbroker__V1__AddressReply address = SOCKBROKER__V1__ADDRESS_REPLY__INIT;
	Sockbroker__V1__GetSockOptReply getsockopt = SOCKBROKER__V1__GET_SOCK_OPT_REPLY__INIT;
	Sockbroker__V1__TimeoutReply timeout = SOCKBROKER__V1__TIMEOUT_REPLY__INIT;
	Sockbroker__V1__BoolReply flag = SOCKBROKER__V1__BOOL_REPLY__INIT;
	Sockbroker__V1__SendReply send = SOCKBROKER__V1__SEND_REPLY__INIT;
	Sockbroker__V1__RecvReply recv = SOCKBROKER__V1__RECV_REPLY__INIT;
	Sockbroker__V1__CancelReply cancel = SOCKBROKER__V1__CANCEL_REPLY__INIT;
	Sockbroker__V1__CmsgSizeReply cmsg_size = SOCKBROKER__V1__CMSG_SIZE_REPLY__INIT;
	struct address_msg addr_storage;
	Sockbroker__V1__Constant *constants = NULL;
	Sockbroker__V1__Constant **constant_ptrs = NULL;
	int r = 0;

	msg.has_seq = reply->seq != 0;
	msg.seq = reply->seq;

	if (reply->error.kind != ERROR_NONE) {
		const struct reply_error *e = &reply->error;
		error.has_kind = true;
		error.kind = (Sockbroker__V1__ErrorKind)e->kind;
		if (e->errnum) {
			error.has_errno_number = true;
			error.errno_number = e->errnum;
			const char *name = errname_from_errno(e->errnum);
			error.errno_name = (char *)(name ? name : "EUNKNOWN");
		}
		error.message = (char *)e->message;
		if (e->kind == ERROR_GAI) {
			error.has_gai_code = true;
			error.gai_code = e->gai_code;
			error.gai_name = (char *)gai_name(e->gai_code);
		}
		if (e->kind == ERROR_HERROR) {
			error.has_herror_code = true;
			error.herror_code = e->herror_code;
		}
		error.rule = (char *)e->rule;
		error.operation = (char *)e->operation;
		msg.error = &error;
		goto pack;
	}

	switch (reply->shape) {
	case REPLY_DONE:
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_DONE;
		msg.done = &empty;
		break;
	case REPLY_HELLO: {
		const struct reply_hello *h = &reply->hello;
		hello.has_protocol_version = hello.has_max_message_size = true;
		hello.has_max_data_size = hello.has_max_handles = hello.has_max_parked = true;
		hello.has_session_id = hello.has_resume_secret = true;
		hello.protocol_version = h->protocol_version;
		hello.server_version = (char *)h->server_version;
		hello.max_message_size = h->max_message_size;
		hello.max_data_size = h->max_data_size;
		hello.max_handles = h->max_handles;
		hello.max_parked = h->max_parked;
		hello.session_id = h->session_id;
		hello.resume_secret.data = (uint8_t *)h->resume_secret;
		hello.resume_secret.len = h->resume_secret_len;
		constants = calloc(h->n_constants, sizeof(*constants));
		constant_ptrs = calloc(h->n_constants, sizeof(*constant_ptrs));
		if (h->n_constants && (!constants || !constant_ptrs)) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < h->n_constants; i++) {
			sockbroker__v1__constant__init(&constants[i]);
			constants[i].name = (char *)h->constants[i].name;
			constants[i].has_value = true;
			constants[i].value = h->constants[i].value;
			constant_ptrs[i] = &constants[i];
		}
		hello.n_constants = h->n_constants;
		hello.constants = constant_ptrs;
		if (h->has_credentials) {
			identity.has_uid = identity.has_gid = identity.has_pid = true;
			identity.uid = h->uid;
			identity.gid = h->gid;
			identity.pid = h->pid;
		}
		identity.has_tls_verified = true;
		identity.tls_verified = h->tls_verified;
		identity.peer = (char *)h->peer;
		hello.identity = &identity;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_HELLO;
		msg.hello = &hello;
		break;
	}
	case REPLY_SOCKET:
		build_socket(&reply->socket, &socket);
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_SOCKET;
		msg.socket = &socket;
		break;
	case REPLY_SOCKETPAIR:
		build_socket(&reply->pair.first, &socket);
		build_socket(&reply->pair.second, &second);
		pair.first = &socket;
		pair.second = &second;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_SOCKETPAIR;
		msg.socketpair = &pair;
		break;
	case REPLY_ACCEPT:
		build_socket(&reply->accept.socket, &socket);
		accept.socket = &socket;
		accept.address = build_address(&reply->accept.peer, &addr_storage);
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_ACCEPT;
		msg.accept = &accept;
		break;
	case REPLY_CONNECT:
		connect.has_errno_number = true;
		connect.errno_number = reply->connect.errnum;
		if (reply->connect.errnum) {
			const char *name = errname_from_errno(reply->connect.errnum);
			connect.errno_name = (char *)(name ? name : "EUNKNOWN");
		}
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_CONNECT;
		msg.connect = &connect;
		break;
	case REPLY_ADDRESS:
		address.address = build_address(&reply->address, &addr_storage);
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_ADDRESS;
		msg.address = &address;
		break;
	case REPLY_GETSOCKOPT:
		if (reply->getsockopt.is_int) {
			getsockopt.value_case = SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_INT_VALUE;
			getsockopt.int_value = reply->getsockopt.int_value;
		} else {
			getsockopt.value_case = SOCKBROKER__V1__GET_SOCK_OPT_REPLY__VALUE_BYTES_VALUE;
			getsockopt.bytes_value.data = (uint8_t *)reply->getsockopt.bytes;
			getsockopt.bytes_value.len = reply->getsockopt.len;
		}
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_GETSOCKOPT;
		msg.getsockopt = &getsockopt;
		break;
	case REPLY_TIMEOUT:
		if (reply->timeout_ns != TIMEOUT_NONE) {
			timeout.has_timeout = true;
			timeout.timeout = (double)reply->timeout_ns / 1e9;
		}
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_TIMEOUT;
		msg.timeout = &timeout;
		break;
	case REPLY_FLAG:
		flag.has_value = true;
		flag.value = reply->flag;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_FLAG;
		msg.flag = &flag;
		break;
	case REPLY_SEND:
		send.has_count = true;
		send.count = reply->count;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_SEND;
		msg.send = &send;
		break;
	case REPLY_RECV:
		recv.has_data = true;
		recv.data.data = (uint8_t *)reply->recv.data;
		recv.data.len = reply->recv.len;
		recv.has_count = true;
		recv.count = reply->recv.count;
		if (reply->recv.has_address)
			recv.address = build_address(&reply->recv.address, &addr_storage);
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_RECV;
		msg.recv = &recv;
		break;
	case REPLY_CANCEL:
		cancel.has_cancelled = true;
		cancel.cancelled = reply->cancelled;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_CANCEL;
		msg.cancel = &cancel;
		break;
	case REPLY_CMSG_SIZE:
		cmsg_size.has_cmsg_len = cmsg_size.has_cmsg_space = true;
		cmsg_size.cmsg_len = reply->cmsg_size.len;
		cmsg_size.cmsg_space = reply->cmsg_size.space;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_CMSG_SIZE;
		msg.cmsg_size = &cmsg_size;
		break;
	}

pack:;
	size_t size = sockbroker__v1__reply__get_packed_size(&msg);
	void *buf = alloc(userdata, size);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	sockbroker__v1__reply__pack(&msg, buf);
out:
	free(constant_ptrs);
	free(constants);
	return r;
}
