#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <linux/tipc.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "errname.h"
#include "sockbroker.pb-c.h"
#include "utf8.h"

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

/* An interface name (AF_PACKET, AF_CAN): absent is "", which the kernel
 * takes as "any interface". Whether it exists is the OS's answer, found when
 * the sockaddr is built; here only its length. */
static int
decode_ifname(const char *ifname, const char *field, char out[ADDRESS_IFNAME_MAX],
	      struct wire_error *error)
{
	if (!ifname)
		ifname = "";
	size_t n = strlen(ifname);
	if (n >= ADDRESS_IFNAME_MAX)
		return invalid(error, EINVAL, "%s.ifname: interface names are at most %d bytes, "
			       "got %zu", field, ADDRESS_IFNAME_MAX - 1, n);
	memcpy(out, ifname, n + 1);
	return 0;
}

/* A string that must fit a NUL-terminated char array of `size`. */
static int
decode_fixed_string(const char *value, const char *field, const char *member, char *out,
		    size_t size, struct wire_error *error)
{
	if (!value)
		return invalid(error, EINVAL, "%s.%s is required", field, member);
	size_t n = strlen(value);
	if (n >= size)
		return invalid(error, EINVAL, "%s.%s: longer than %zu bytes (got %zu)", field,
			       member, size - 1, n);
	memcpy(out, value, n + 1);
	return 0;
}

static int
decode_packet(const Sockbroker__V1__PacketAddress *m, const char *field, struct address *out,
	      struct wire_error *error)
{
	char member[128];

	snprintf(member, sizeof(member), "%s.af_packet", field);
	field = member;
	out->family = AF_PACKET;
	if (decode_ifname(m->ifname, field, out->packet.ifname, error) < 0)
		return -EINVAL;
	if (!m->has_proto)
		return invalid(error, EINVAL, "%s.proto is required", field);
	if (m->proto > 0xffff)
		return invalid(error, EOVERFLOW, "%s.proto: must be 0-65535, got %u", field,
			       m->proto);
	if (m->pkttype > 0xff)
		return invalid(error, EOVERFLOW, "%s.pkttype: must be 0-255, got %u", field,
			       m->pkttype);
	if (m->hatype > 0xffff)
		return invalid(error, EOVERFLOW, "%s.hatype: must be 0-65535, got %u", field,
			       m->hatype);
	if (m->has_addr && m->addr.len > ADDRESS_HWADDR_MAX)
		return invalid(error, EINVAL, "%s.addr: hardware address must be %d bytes or "
			       "less, got %zu", field, ADDRESS_HWADDR_MAX, m->addr.len);
	out->packet.proto = (uint16_t)m->proto;
	out->packet.pkttype = (uint8_t)m->pkttype;
	out->packet.hatype = (uint16_t)m->hatype;
	if (m->has_addr && m->addr.len) {
		out->packet.halen = (uint8_t)m->addr.len;
		memcpy(out->packet.addr, m->addr.data, m->addr.len);
	}
	return 0;
}

static int
decode_can(const Sockbroker__V1__CanAddress *m, const char *field, struct address *out,
	   struct wire_error *error)
{
	bool isotp = m->has_rx_addr || m->has_tx_addr;
	bool j1939 = m->has_j1939_name || m->has_j1939_pgn || m->has_j1939_addr;
	char member[128];

	snprintf(member, sizeof(member), "%s.af_can", field);
	field = member;
	out->family = AF_CAN;
	if (decode_ifname(m->ifname, field, out->can.ifname, error) < 0)
		return -EINVAL;
	if (isotp && j1939)
		return invalid(error, EINVAL, "%s: give rx_addr/tx_addr (CAN_ISOTP) or j1939_name/"
			       "j1939_pgn/j1939_addr (CAN_J1939), not both", field);
	if (isotp) {
		if (!m->has_rx_addr || !m->has_tx_addr)
			return invalid(error, EINVAL, "%s: CAN_ISOTP needs both rx_addr and "
				       "tx_addr", field);
		out->can.form = ADDRESS_CAN_ISOTP;
		out->can.rx_id = m->rx_addr;
		out->can.tx_id = m->tx_addr;
	} else if (j1939) {
		if (!m->has_j1939_name || !m->has_j1939_pgn || !m->has_j1939_addr)
			return invalid(error, EINVAL, "%s: CAN_J1939 needs j1939_name, j1939_pgn "
				       "and j1939_addr", field);
		if (m->j1939_addr > 0xff)
			return invalid(error, EOVERFLOW, "%s.j1939_addr: must be 0-255, got %u",
				       field, m->j1939_addr);
		out->can.form = ADDRESS_CAN_J1939;
		out->can.j1939_name = m->j1939_name;
		out->can.j1939_pgn = m->j1939_pgn;
		out->can.j1939_addr = (uint8_t)m->j1939_addr;
	}
	return 0;
}

/* An af_inet6 address: host, port, flowinfo and scope id. */
static int
decode_inet6(const Sockbroker__V1__Inet6Address *in6, const char *field, struct address *out,
	     struct wire_error *error)
{
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

/* An af_unix address: a path, an abstract name, or none (unnamed). */
static int
decode_unix(const Sockbroker__V1__UnixAddress *un, const char *field, struct address *out,
	    struct wire_error *error)
{
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

/* A raw address: a family the broker has no member for, and its bytes. */
static int
decode_raw(const Sockbroker__V1__RawAddress *raw, const char *field, struct address *out,
	   struct wire_error *error)
{
	if (!raw->has_family || raw->family < 0 || raw->family > 0xffff)
		return invalid(error, EINVAL, "%s.raw.family must be 0-65535", field);
	if (raw->data.len > sizeof(out->raw.data))
		return invalid(error, EINVAL, "%s.raw.data: longer than %zu bytes", field,
			       sizeof(out->raw.data));
	out->family = raw->family;
	out->raw.len = raw->data.len;
	if (out->raw.len)
		memcpy(out->raw.data, raw->data.data, out->raw.len);
	if (out->family == AF_INET || out->family == AF_INET6 || out->family == AF_UNIX)
		return invalid(error, EINVAL, "%s: use the af_inet/af_inet6/af_unix member "
			       "for this family, not raw", field);
	if (out->family == AF_NETLINK || out->family == AF_PACKET ||
	    out->family == AF_ALG || out->family == AF_VSOCK || out->family == AF_CAN ||
	    out->family == AF_TIPC)
		return invalid(error, EINVAL, "%s: use the af_netlink/af_packet/af_alg/"
			       "af_vsock/af_can/af_tipc member for this family, not raw",
			       field);
	return 0;
}

/* An af_alg address: the algorithm type and name. */
static int
decode_alg(const Sockbroker__V1__AlgAddress *alg, const char *field, struct address *out,
	   struct wire_error *error)
{
	out->family = AF_ALG;
	if (decode_fixed_string(alg->type, field, "af_alg.type", out->alg.type,
			sizeof(out->alg.type), error) < 0 ||
	    decode_fixed_string(alg->name, field, "af_alg.name", out->alg.name,
			sizeof(out->alg.name), error) < 0)
		return -EINVAL;
	out->alg.feat = alg->feat;
	out->alg.mask = alg->mask;
	return 0;
}

static int
decode_tipc(const Sockbroker__V1__TipcAddress *m, const char *field, struct address *out,
	    struct wire_error *error)
{
	char member[128];

	snprintf(member, sizeof(member), "%s.af_tipc", field);
	field = member;
	out->family = AF_TIPC;
	if (!m->has_addr_type)
		return invalid(error, EINVAL, "%s.addr_type is required", field);
	if (m->addr_type != TIPC_ADDR_NAMESEQ && m->addr_type != TIPC_ADDR_NAME &&
	    m->addr_type != TIPC_ADDR_ID)
		return invalid(error, EINVAL, "%s.addr_type: must be TIPC_ADDR_NAMESEQ (%d), "
			       "TIPC_ADDR_NAME (%d) or TIPC_ADDR_ID (%d), got %u", field,
			       TIPC_ADDR_NAMESEQ, TIPC_ADDR_NAME, TIPC_ADDR_ID, m->addr_type);
	/* The kernel's scope is a signed char; negative values mean "withdraw"
	 * to it, which is not an address. */
	if (m->has_scope && m->scope > INT8_MAX)
		return invalid(error, EOVERFLOW, "%s.scope: must be 0-%d, got %u", field,
			       INT8_MAX, m->scope);
	out->tipc.addr_type = (uint8_t)m->addr_type;
	/* Absent: the reference's default scope. */
	out->tipc.scope = m->has_scope ? (int8_t)m->scope : TIPC_CLUSTER_SCOPE;
	out->tipc.v1 = m->v1;
	out->tipc.v2 = m->v2;
	out->tipc.v3 = m->v3;
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
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6:
		return decode_inet6(msg->af_inet6, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX:
		return decode_unix(msg->af_unix, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_RAW:
		return decode_raw(msg->raw, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK:
		out->family = AF_NETLINK;
		out->netlink.pid = msg->af_netlink->pid;
		out->netlink.groups = msg->af_netlink->groups;
		return 0;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET:
		return decode_packet(msg->af_packet, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG:
		return decode_alg(msg->af_alg, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK:
		out->family = AF_VSOCK;
		if (!msg->af_vsock->has_cid || !msg->af_vsock->has_port)
			return invalid(error, EINVAL, "%s.af_vsock.cid and .port are required",
				       field);
		out->vsock.cid = msg->af_vsock->cid;
		out->vsock.port = msg->af_vsock->port;
		return 0;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN:
		return decode_can(msg->af_can, field, out, error);
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC:
		return decode_tipc(msg->af_tipc, field, out, error);
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

/* One Ancillary of a sendmsg into a plain item; bytes and names point into
 * the message. Which decoded member fits which (level, type) is cmsg.c's
 * to judge: it knows the kernel's structs. */
static int
decode_ancillary(const Sockbroker__V1__Ancillary *m, size_t index, struct cmsg_item *item,
		 struct wire_error *error)
{
	if (!m->has_level || !m->has_type)
		return invalid(error, EINVAL, "sendmsg.ancillary[%zu]: level and type are required",
			       index);
	item->level = m->level;
	item->type = m->type;
	if (m->has_data && m->decoded_case != SOCKBROKER__V1__ANCILLARY__DECODED__NOT_SET)
		return invalid(error, EINVAL,
			       "sendmsg.ancillary[%zu]: give either data or a decoded member, not "
			       "both",
			       index);
	if (m->has_data) {
		item->data = m->data.data;
		item->len = m->data.len;
	}
	switch (m->decoded_case) {
	case SOCKBROKER__V1__ANCILLARY__DECODED__NOT_SET:
		item->view = CMSG_VIEW_NONE;
		return 0;
	case SOCKBROKER__V1__ANCILLARY__DECODED_RIGHTS:
		item->view = CMSG_VIEW_RIGHTS;
		item->rights.handles = m->rights->handles;
		item->rights.count = m->rights->n_handles;
		return 0;
	case SOCKBROKER__V1__ANCILLARY__DECODED_CREDENTIALS: {
		const Sockbroker__V1__Credentials *c = m->credentials;
		if (!c->has_pid || !c->has_uid || !c->has_gid)
			return invalid(error, EINVAL,
				       "sendmsg.ancillary[%zu].credentials: pid, uid and gid are "
				       "required",
				       index);
		item->view = CMSG_VIEW_CREDENTIALS;
		item->credentials.pid = c->pid;
		item->credentials.uid = c->uid;
		item->credentials.gid = c->gid;
		return 0;
	}
	case SOCKBROKER__V1__ANCILLARY__DECODED_PKTINFO: {
		const Sockbroker__V1__PktInfo *p = m->pktinfo;
		const char *spec_dst = p->spec_dst ? p->spec_dst : "";
		const char *addr = p->addr ? p->addr : "";
		if (strlen(spec_dst) >= CMSG_ADDR_TEXT_MAX || strlen(addr) >= CMSG_ADDR_TEXT_MAX)
			return invalid(error, EINVAL,
				       "sendmsg.ancillary[%zu].pktinfo: an address longer than %d "
				       "characters",
				       index, CMSG_ADDR_TEXT_MAX - 1);
		item->view = CMSG_VIEW_PKTINFO;
		item->pktinfo.ifindex = p->ifindex;
		memcpy(item->pktinfo.spec_dst, spec_dst, strlen(spec_dst) + 1);
		memcpy(item->pktinfo.addr, addr, strlen(addr) + 1);
		return 0;
	}
	case SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE:
		item->view = CMSG_VIEW_INT;
		item->int_value = m->int_value;
		return 0;
	case SOCKBROKER__V1__ANCILLARY__DECODED_TIMESTAMP:
	case SOCKBROKER__V1__ANCILLARY__DECODED_EXTENDED_ERROR:
		return invalid(error, EINVAL,
			       "sendmsg.ancillary[%zu]: timestamp and extended_error are only "
			       "received, never sent; give raw data",
			       index);
	default:
		return invalid(error, EINVAL,
			       "sendmsg.ancillary[%zu]: a decoded member this daemon does not know "
			       "(field %d)",
			       index, (int)m->decoded_case);
	}
}

static int
decode_sendmsg(const Sockbroker__V1__SendMsgRequest *m, struct request *req,
	       const struct wire_limits *limits, struct wire_error *error)
{
	size_t total = 0;

	if (need_handle(m->has_handle, m->handle, "sendmsg", req, error) < 0)
		return -EINVAL;
	req->sendmsg.flags = m->has_flags ? m->flags : 0;
	if (m->address) {
		if (decode_address(m->address, "sendmsg.address", &req->sendmsg.address, error) < 0)
			return -EINVAL;
		req->sendmsg.has_address = true;
	}

	req->sendmsg.n_buffers = m->n_buffers;
	for (size_t i = 0; i < m->n_buffers; i++)
		total += m->buffers[i].len;
	if (total > limits->max_data_size)
		return invalid(error, EMSGSIZE,
			       "sendmsg: %zu bytes of data is more than the daemon's "
			       "max_data_size (%zu); one message cannot be split",
			       total, limits->max_data_size);
	if (m->n_buffers > 0 && m->n_buffers <= IOV_MAX) {
		req->sendmsg.buffers = calloc(m->n_buffers, sizeof(*req->sendmsg.buffers));
		if (!req->sendmsg.buffers)
			return invalid(error, ENOMEM, "the daemon is out of memory");
		for (size_t i = 0; i < m->n_buffers; i++) {
			req->sendmsg.buffers[i].iov_base = m->buffers[i].data;
			req->sendmsg.buffers[i].iov_len = m->buffers[i].len;
		}
	}

	/* Each item is at least a cmsghdr in the control buffer: more than fit
	 * in the largest one the daemon builds cannot be meant. */
	if (m->n_ancillary > CMSG_SEND_MAX / CMSG_LEN(0))
		return invalid(error, EINVAL, "sendmsg: %zu ancillary items is more than the %zu "
			       "that fit in %d bytes of ancillary data",
			       m->n_ancillary, (size_t)(CMSG_SEND_MAX / CMSG_LEN(0)), CMSG_SEND_MAX);
	if (m->n_ancillary > 0) {
		req->sendmsg.ancillary = calloc(m->n_ancillary, sizeof(*req->sendmsg.ancillary));
		if (!req->sendmsg.ancillary)
			return invalid(error, ENOMEM, "the daemon is out of memory");
		req->sendmsg.n_ancillary = m->n_ancillary;
		for (size_t i = 0; i < m->n_ancillary; i++)
			if (decode_ancillary(m->ancillary[i], i, &req->sendmsg.ancillary[i], error) < 0)
				return -EINVAL;
	}
	return 0;
}

static int
decode_recvmsg(const Sockbroker__V1__RecvMsgRequest *m, struct request *req,
	       const struct wire_limits *limits, struct wire_error *error)
{
	if (need_handle(m->has_handle, m->handle, "recvmsg", req, error) < 0)
		return -EINVAL;
	if (!m->has_bufsize)
		return invalid(error, EINVAL, "recvmsg.bufsize is required");
	if (m->bufsize < 0)
		return invalid(error, EINVAL, "negative buffer size in recvmsg()");
	if (m->has_ancbufsize && m->ancbufsize < 0)
		return invalid(error, EINVAL, "negative ancillary buffer size in recvmsg()");
	if (m->has_ancbufsize && m->ancbufsize > INT_MAX)
		return invalid(error, EOVERFLOW,
			       "invalid ancillary data buffer length in recvmsg(): %lld (a socklen_t "
			       "holds at most %d)",
			       (long long)m->ancbufsize, INT_MAX);

	/* The reply carries the data and the decoded ancillary items: keep
	 * room for both within the data limit. No message carries more
	 * ancillary data than CMSG_RECV_MAX, so a larger ancbufsize changes
	 * nothing the kernel would deliver. */
	size_t ancbufsize = m->has_ancbufsize ? (size_t)m->ancbufsize : 0;
	size_t anc_limit = limits->max_data_size / (2 * CMSG_REPLY_FACTOR);
	if (anc_limit > CMSG_RECV_MAX)
		anc_limit = CMSG_RECV_MAX;
	if (ancbufsize > anc_limit)
		ancbufsize = anc_limit;
	size_t data_limit = limits->max_data_size - ancbufsize * CMSG_REPLY_FACTOR;
	req->recvmsg.ancbufsize = ancbufsize;
	req->recvmsg.bufsize = (uint64_t)m->bufsize > data_limit ? data_limit : (size_t)m->bufsize;
	req->recvmsg.flags = m->has_flags ? m->flags : 0;
	return 0;
}

static int
decode_poll(const Sockbroker__V1__PollRequest *m, struct request *req, struct wire_error *error)
{
	if (m->n_items > POLL_MAX_ITEMS)
		return invalid(error, EINVAL,
			       "poll.items: %zu items, more than the %d one Poll may list; split "
			       "the set over several Polls",
			       m->n_items, POLL_MAX_ITEMS);
	if (decode_timeout(m->has_timeout, m->timeout, "poll.timeout", &req->poll.timeout_ns,
			   error) < 0)
		return -EINVAL;
	if (m->n_items == 0)
		return 0;
	req->poll.items = calloc(m->n_items, sizeof(*req->poll.items));
	if (!req->poll.items) {
		invalid(error, ENOMEM, "the daemon is out of memory for a Poll of %zu items",
			m->n_items);
		return -ENOMEM;
	}
	req->poll.n_items = m->n_items;
	for (size_t i = 0; i < m->n_items; i++) {
		const Sockbroker__V1__PollItem *item = m->items[i];
		if (!item->has_handle)
			return invalid(error, EINVAL, "poll.items[%zu].handle is required", i);
		if (item->events & ~(uint32_t)POLL_EV_ALL)
			return invalid(error, EINVAL,
				       "poll.items[%zu].events: unknown bits 0x%x (known: "
				       "POLL_READABLE, POLL_WRITABLE, POLL_ERROR, POLL_HANGUP)",
				       i, item->events & ~(uint32_t)POLL_EV_ALL);
		req->poll.items[i].handle = item->handle;
		req->poll.items[i].events = item->events;
	}
	return 0;
}

static int
decode_create_connection(const Sockbroker__V1__CreateConnectionRequest *m, struct request *req,
			 struct wire_error *error)
{
	struct address host;

	if (!m->host)
		return invalid(error, EINVAL, "create_connection.host is required");
	if (decode_host(m->host, "create_connection", &host, error) < 0 ||
	    decode_port(m->has_port, m->port, "create_connection", &host, error) < 0)
		return -EINVAL;
	memcpy(req->create_connection.host, host.inet.host, sizeof(req->create_connection.host));
	req->create_connection.port = host.inet.port;
	if (decode_timeout(m->has_timeout, m->timeout, "create_connection.timeout",
			   &req->create_connection.timeout_ns, error) < 0)
		return -EINVAL;
	req->create_connection.all_errors = m->has_all_errors && m->all_errors;
	if (!m->source_address)
		return 0;
	if (decode_address(m->source_address, "create_connection.source_address",
			   &req->create_connection.source, error) < 0)
		return -EINVAL;
	if (req->create_connection.source.family != AF_INET &&
	    req->create_connection.source.family != AF_INET6)
		return invalid(error, EINVAL, "create_connection.source_address must be an af_inet "
			       "or af_inet6 (host, port) address");
	req->create_connection.has_source = true;
	return 0;
}

static int
decode_create_server(const Sockbroker__V1__CreateServerRequest *m, struct request *req,
		     struct wire_error *error)
{
	struct address *address = &req->create_server.address;

	if (decode_address(m->address, "create_server.address", address, error) < 0)
		return -EINVAL;
	if (m->has_family && m->family != address->family) {
		/* The reference reads (host, port) in the socket's family, so an
		 * inet address given with family AF_INET6 is an IPv6 host string. */
		bool inet = address->family == AF_INET || address->family == AF_INET6;
		if (!inet || (m->family != AF_INET && m->family != AF_INET6))
			return invalid(error, EINVAL, "create_server.address (family %d) does not "
				       "fit create_server.family %d", address->family, m->family);
		if (m->family == AF_INET)
			address->inet.flowinfo = address->inet.scope_id = 0;
		address->family = m->family;
	}
	if (m->has_dualstack_ipv6 && m->dualstack_ipv6 && address->family != AF_INET6)
		return invalid(error, EINVAL, "dualstack_ipv6 requires AF_INET6 family");
	req->create_server.has_backlog = m->has_backlog;
	/* As listen(): the reference takes a negative backlog as 0. */
	req->create_server.backlog = m->backlog < 0 ? 0 : m->backlog;
	req->create_server.reuse_port = m->has_reuse_port && m->reuse_port;
	req->create_server.dualstack_ipv6 = m->has_dualstack_ipv6 && m->dualstack_ipv6;
	return decode_timeout(m->has_timeout, m->timeout, "create_server.timeout",
			      &req->create_server.timeout_ns, error);
}

/* A string argument of a name-service request: absent is NULL (the
 * reference's None), or refused when `required`. */
static int
decode_name(const char *value, bool required, size_t max, const char *field, const char **out,
	    struct wire_error *error)
{
	*out = NULL;
	if (!value) {
		if (required)
			return invalid(error, EINVAL, "%s is required", field);
		return 0;
	}
	size_t n = strlen(value);
	if (n > max)
		return invalid(error, EINVAL, "%s: %zu bytes, longer than the %zu allowed", field,
			       n, max);
	*out = value;
	return 0;
}

/* getaddrinfo. */
static int
decode_getaddrinfo(const Sockbroker__V1__GetAddrInfoRequest *m, struct request *req,
		   struct wire_error *error)
{
	req->op = OP_GETADDRINFO;
	/* Family, type, proto and flags go to libc as given: it judges them. */
	req->getaddrinfo.family = m->has_family ? m->family : AF_UNSPEC;
	req->getaddrinfo.type = m->has_type ? m->type : 0;
	req->getaddrinfo.proto = m->has_proto ? m->proto : 0;
	req->getaddrinfo.flags = m->has_flags ? m->flags : 0;
	if (decode_name(m->host, false, WIRE_NAME_MAX, "getaddrinfo.host",
			&req->getaddrinfo.host, error) < 0)
		return -EINVAL;
	return decode_name(m->port, false, WIRE_SERVICE_MAX, "getaddrinfo.port",
			   &req->getaddrinfo.port, error);
}

/* getnameinfo. */
static int
decode_getnameinfo(const Sockbroker__V1__GetNameInfoRequest *m, struct request *req,
		   struct wire_error *error)
{
	req->op = OP_GETNAMEINFO;
	req->getnameinfo.flags = m->has_flags ? m->flags : 0;
	if (decode_address(m->address, "getnameinfo.address", &req->getnameinfo.address,
			   error) < 0)
		return -EINVAL;
	if (req->getnameinfo.address.family != AF_INET &&
	    req->getnameinfo.address.family != AF_INET6)
		return invalid(error, EINVAL,
			       "getnameinfo.address must be an af_inet or af_inet6 address "
			       "(the reference takes a (host, port[, flowinfo, scope_id]) "
			       "tuple)");
	return 0;
}

/* sethostname. */
static int
decode_sethostname(const Sockbroker__V1__SetHostNameRequest *m, struct request *req,
		   struct wire_error *error)
{
	req->op = OP_SETHOSTNAME;
	if (!m->has_name)
		return invalid(error, EINVAL, "sethostname.name is required");
	/* Its length is the kernel's to judge (EINVAL above 64 bytes). */
	req->sethostname.name = m->name.data;
	req->sethostname.len = m->name.len;
	return 0;
}

/* getservbyname. */
static int
decode_getservbyname(const Sockbroker__V1__GetServByNameRequest *m, struct request *req,
		     struct wire_error *error)
{
	req->op = OP_GETSERVBYNAME;
	if (decode_name(m->name, true, WIRE_SERVICE_MAX, "getservbyname.name",
			&req->getservbyname.name, error) < 0)
		return -EINVAL;
	return decode_name(m->proto, false, WIRE_SERVICE_MAX, "getservbyname.proto",
			   &req->getservbyname.proto, error);
}

/* getservbyport. */
static int
decode_getservbyport(const Sockbroker__V1__GetServByPortRequest *m, struct request *req,
		     struct wire_error *error)
{
	req->op = OP_GETSERVBYPORT;
	if (!m->has_port)
		return invalid(error, EINVAL, "getservbyport.port is required");
	if (m->port < 0 || m->port > 65535)
		return invalid(error, EOVERFLOW,
			       "getservbyport.port: port must be 0-65535, got %d", m->port);
	req->getservbyport.port = m->port;
	return decode_name(m->proto, false, WIRE_SERVICE_MAX, "getservbyport.proto",
			   &req->getservbyport.proto, error);
}

/* if_indextoname. */
static int
decode_if_indextoname(const Sockbroker__V1__IfIndexToNameRequest *m, struct request *req,
		      struct wire_error *error)
{
	req->op = OP_IF_INDEXTONAME;
	if (!m->has_index)
		return invalid(error, EINVAL, "if_indextoname.index is required");
	if (m->index < 0 || m->index > UINT_MAX)
		return invalid(error, EOVERFLOW,
			       "if_indextoname.index: must be 0-%u, got %lld", UINT_MAX,
			       (long long)m->index);
	req->if_indextoname.index = (unsigned)m->index;
	return 0;
}

/* The name service and the interface functions. Their strings point into
 * the message, which the request keeps. */
static int
decode_name_service(const Request *msg, struct request *req, bool *keep,
		    struct wire_error *error)
{
	*keep = true;
	switch (msg->op_case) {
	case REQ(GETADDRINFO):
		return decode_getaddrinfo(msg->getaddrinfo, req, error);
	case REQ(GETNAMEINFO):
		return decode_getnameinfo(msg->getnameinfo, req, error);
	case REQ(GETHOSTBYNAME):
		req->op = OP_GETHOSTBYNAME;
		return decode_name(msg->gethostbyname->name, true, WIRE_NAME_MAX,
				   "gethostbyname.name", &req->name.name, error);
	case REQ(GETHOSTBYNAME_EX):
		req->op = OP_GETHOSTBYNAME_EX;
		return decode_name(msg->gethostbyname_ex->name, true, WIRE_NAME_MAX,
				   "gethostbyname_ex.name", &req->name.name, error);
	case REQ(GETHOSTBYADDR):
		req->op = OP_GETHOSTBYADDR;
		return decode_name(msg->gethostbyaddr->name, true, WIRE_NAME_MAX,
				   "gethostbyaddr.name", &req->name.name, error);
	case REQ(GETFQDN):
		req->op = OP_GETFQDN;
		if (decode_name(msg->getfqdn->name, false, WIRE_NAME_MAX, "getfqdn.name",
				&req->name.name, error) < 0)
			return -EINVAL;
		if (!req->name.name)
			req->name.name = ""; /* getfqdn(): the local host */
		return 0;
	case REQ(GETHOSTNAME):
		req->op = OP_GETHOSTNAME;
		return 0;
	case REQ(SETHOSTNAME):
		return decode_sethostname(msg->sethostname, req, error);
	case REQ(GETPROTOBYNAME):
		req->op = OP_GETPROTOBYNAME;
		return decode_name(msg->getprotobyname->name, true, WIRE_SERVICE_MAX,
				   "getprotobyname.name", &req->name.name, error);
	case REQ(GETSERVBYNAME):
		return decode_getservbyname(msg->getservbyname, req, error);
	case REQ(GETSERVBYPORT):
		return decode_getservbyport(msg->getservbyport, req, error);
	case REQ(IF_NAMEINDEX):
		req->op = OP_IF_NAMEINDEX;
		return 0;
	case REQ(IF_NAMETOINDEX):
		req->op = OP_IF_NAMETOINDEX;
		/* A name longer than IFNAMSIZ is no interface: the OS error says so. */
		return decode_name(msg->if_nametoindex->name, true, WIRE_SERVICE_MAX,
				   "if_nametoindex.name", &req->name.name, error);
	case REQ(IF_INDEXTONAME):
		return decode_if_indextoname(msg->if_indextoname, req, error);
	default:
		return invalid(error, EINVAL, "not a name-service request (field %d)",
			       (int)msg->op_case);
	}
}

/* sendmsg_afalg: the control messages are built by the handler; here the
 * buffers become an iovec pointing into the message. */
static int
decode_sendmsg_afalg(const Sockbroker__V1__SendMsgAfalgRequest *m, struct request *req,
		     struct wire_error *error)
{
	if (need_handle(m->has_handle, m->handle, "sendmsg_afalg", req, error) < 0)
		return -EINVAL;
	if (!m->has_op)
		return invalid(error, EINVAL, "sendmsg_afalg.op is required (ALG_OP_ENCRYPT or "
			       "ALG_OP_DECRYPT)");
	if (m->has_iv && m->iv.len > AFALG_IV_MAX)
		return invalid(error, EINVAL, "sendmsg_afalg.iv: %zu bytes, longer than the %d "
			       "bytes any kernel cipher takes", m->iv.len, AFALG_IV_MAX);
	if (m->has_assoclen && m->assoclen < 0)
		return invalid(error, EINVAL, "sendmsg_afalg.assoclen must not be negative, got %d",
			       m->assoclen);
	req->afalg.op = (uint32_t)m->op;
	if (m->has_iv) {
		/* An empty IV is still an ALG_SET_IV, as the reference sends it. */
		req->afalg.iv = m->iv.data ? m->iv.data : (const uint8_t *)"";
		req->afalg.iv_len = m->iv.len;
	}
	req->afalg.has_assoclen = m->has_assoclen;
	req->afalg.assoclen = m->has_assoclen ? (uint32_t)m->assoclen : 0;
	req->afalg.flags = m->has_flags ? m->flags : 0;
	req->afalg.n_buffers = m->n_buffers;
	if (m->n_buffers == 0 || m->n_buffers > IOV_MAX)
		return 0;
	req->afalg.buffers = calloc(m->n_buffers, sizeof(*req->afalg.buffers));
	if (!req->afalg.buffers) {
		invalid(error, ENOMEM, "the daemon is out of memory for %zu buffers",
			m->n_buffers);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_buffers; i++) {
		req->afalg.buffers[i].iov_base = m->buffers[i].data;
		req->afalg.buffers[i].iov_len = m->buffers[i].len;
	}
	return 0;
}

/* A decode of one group of operations that does not know msg's operation. */
#define DECODE_OTHER 1

/* setsockopt: level, option and one of its three kinds of value. */
static int
decode_setsockopt(const Sockbroker__V1__SetSockOptRequest *m, struct request *req, bool *keep,
		  struct wire_error *error)
{
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

/* The socket lifecycle: socket, socketpair, dup, close, bind, listen, accept, connect,
 * shutdown, the names, handoff. Returns 0, -EINVAL, or DECODE_OTHER for an operation of
 * another group (so do the other groups' decoders). */
static int
decode_socket_op(const Request *msg, struct request *req, const struct wire_limits *limits,
		 bool *keep, struct wire_error *error)
{
	switch (msg->op_case) {
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
		req->handoff = msg->accept->has_handoff && msg->accept->handoff;
		if (need_handle(msg->accept->has_handle, msg->accept->handle, "accept", req,
				error) < 0)
			return -EINVAL;
		return decode_timeout(msg->accept->has_default_timeout,
				      msg->accept->default_timeout, "accept.default_timeout",
				      &req->accept.default_timeout_ns, error);
	case REQ(CONNECT):
		req->op = OP_CONNECT;
		req->addr.ex = msg->connect->has_ex && msg->connect->ex;
		req->handoff = msg->connect->has_handoff && msg->connect->handoff;
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
	case REQ(HANDOFF):
		req->op = OP_HANDOFF;
		return need_handle(msg->handoff->has_handle, msg->handoff->handle, "handoff", req,
				   error);
	default:
		return DECODE_OTHER;
	}
}

/* Options and handle state: getsockopt, setsockopt, the timeout, inheritable. */
static int
decode_option_op(const Request *msg, struct request *req, const struct wire_limits *limits,
		 bool *keep, struct wire_error *error)
{
	switch (msg->op_case) {
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
	case REQ(SETSOCKOPT):
		return decode_setsockopt(msg->setsockopt, req, keep, error);
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
	default:
		return DECODE_OTHER;
	}
}

/* Data transfer, message I/O, Poll and Cancel. */
static int
decode_io_op(const Request *msg, struct request *req, const struct wire_limits *limits,
	     bool *keep, struct wire_error *error)
{
	switch (msg->op_case) {
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
	case REQ(SENDMSG):
		req->op = OP_SENDMSG;
		*keep = true;
		return decode_sendmsg(msg->sendmsg, req, limits, error);
	case REQ(RECVMSG):
		req->op = OP_RECVMSG;
		return decode_recvmsg(msg->recvmsg, req, limits, error);
	case REQ(SENDMSG_AFALG):
		req->op = OP_SENDMSG_AFALG;
		*keep = true;
		return decode_sendmsg_afalg(msg->sendmsg_afalg, req, error);
	case REQ(POLL):
		req->op = OP_POLL;
		return decode_poll(msg->poll, req, error);
	case REQ(CANCEL):
		req->op = OP_CANCEL;
		if (!msg->cancel->has_target_seq)
			return invalid(error, EINVAL, "cancel.target_seq is required");
		req->cancel.target_seq = msg->cancel->target_seq;
		return 0;
	default:
		return DECODE_OTHER;
	}
}

/* The module functions: create_*, has_*ipv6 (no arguments), cmsg_size, the name service,
 * and administration. */
static int
decode_module_op(const Request *msg, struct request *req, const struct wire_limits *limits,
		 bool *keep, struct wire_error *error)
{
	switch (msg->op_case) {
	case REQ(CREATE_CONNECTION):
		req->op = OP_CREATE_CONNECTION;
		req->handoff = msg->create_connection->has_handoff && msg->create_connection->handoff;
		return decode_create_connection(msg->create_connection, req, error);
	case REQ(CREATE_SERVER):
		req->op = OP_CREATE_SERVER;
		return decode_create_server(msg->create_server, req, error);
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
	case REQ(GETNAMEINFO):
	case REQ(GETHOSTBYNAME):
	case REQ(GETHOSTBYNAME_EX):
	case REQ(GETHOSTBYADDR):
	case REQ(GETFQDN):
	case REQ(GETHOSTNAME):
	case REQ(SETHOSTNAME):
	case REQ(GETPROTOBYNAME):
	case REQ(GETSERVBYNAME):
	case REQ(GETSERVBYPORT):
	case REQ(IF_NAMEINDEX):
	case REQ(IF_NAMETOINDEX):
	case REQ(IF_INDEXTONAME):
		return decode_name_service(msg, req, keep, error);
	case REQ(ADMIN_STATUS):
		req->op = OP_ADMIN_STATUS;
		return 0;
	case REQ(ADMIN_SESSIONS):
		req->op = OP_ADMIN_SESSIONS;
		return 0;
	case REQ(ADMIN_HANDLES):
		req->op = OP_ADMIN_HANDLES;
		if (msg->admin_handles->has_session)
			req->admin_handles.session = msg->admin_handles->session;
		return 0;
	default:
		return DECODE_OTHER;
	}
}

/* Decode the arguments of one operation. Returns 0 or -EINVAL; sets
 * *keep when the request points into the message. */
static int
decode_op(const Request *msg, struct request *req, const struct wire_limits *limits, bool *keep,
	  struct wire_error *error)
{
	int r;

	switch (msg->op_case) {
	case REQ(HELLO): {
		const Sockbroker__V1__HelloRequest *m = msg->hello;
		req->op = OP_HELLO;
		req->hello.protocol_version = m->has_protocol_version ? m->protocol_version : 1;
		if (m->has_resume_secret && m->resume_secret.len > 0) {
			/* Not a secret this daemon made: no session has it. */
			if (m->resume_secret.len != WIRE_RESUME_SECRET_LEN)
				return invalid(error, ESTALE, "hello.resume_secret: %zu bytes, not "
					       "a secret of this daemon (%d bytes); say Hello without "
					       "one to start a new session",
					       m->resume_secret.len, WIRE_RESUME_SECRET_LEN);
			if (m->n_resume_pending_seqs > WIRE_RESUME_PENDING_MAX)
				return invalid(error, EINVAL, "hello.resume_pending_seqs: %zu "
					       "entries, more than %d", m->n_resume_pending_seqs,
					       WIRE_RESUME_PENDING_MAX);
			req->hello.resume = true;
			memcpy(req->hello.resume_secret, m->resume_secret.data,
			       WIRE_RESUME_SECRET_LEN);
			req->hello.pending_seqs = m->resume_pending_seqs;
			req->hello.n_pending_seqs = m->n_resume_pending_seqs;
			*keep = true;
		} else if (m->n_resume_pending_seqs > 0) {
			return invalid(error, EINVAL, "hello.resume_pending_seqs: given without "
				       "hello.resume_secret");
		}
		if (m->has_constants_digest && m->constants_digest.len == WIRE_DIGEST_LEN) {
			req->hello.has_digest = true;
			memcpy(req->hello.digest, m->constants_digest.data, WIRE_DIGEST_LEN);
		}
		if (m->client_name)
			snprintf(req->hello.client_name, sizeof(req->hello.client_name), "%s",
				 m->client_name);
		if (m->token && m->token[0]) {
			size_t len = strlen(m->token);
			if (len > WIRE_TOKEN_MAX)
				return invalid(error, EINVAL, "hello.token: %zu bytes, longer "
					       "than the %d bytes a token may have", len,
					       WIRE_TOKEN_MAX);
			req->hello.token = m->token;
			*keep = true;
		}
		return 0;
	}
	default:
		break;
	}
	if ((r = decode_socket_op(msg, req, limits, keep, error)) != DECODE_OTHER ||
	    (r = decode_option_op(msg, req, limits, keep, error)) != DECODE_OTHER ||
	    (r = decode_io_op(msg, req, limits, keep, error)) != DECODE_OTHER ||
	    (r = decode_module_op(msg, req, limits, keep, error)) != DECODE_OTHER)
		return r;
	return invalid(error, EINVAL,
		       "the request names no operation this daemon knows (field %d); "
		       "is the client newer than the daemon?",
		       (int)msg->op_case);
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
	req->wire_len = len;
	error->seq = req->seq;

	bool keep = false;
	int r = decode_op(msg, req, limits, &keep, error);
	error->op = req->op;
	if (r < 0) {
		sockbroker__v1__request__free_unpacked(msg, NULL);
		if (req->op == OP_POLL)
			free(req->poll.items);
		if (req->op == OP_SENDMSG_AFALG)
			free(req->afalg.buffers);
		if (req->op == OP_SENDMSG) {
			free(req->sendmsg.buffers);
			free(req->sendmsg.ancillary);
		}
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

struct request *
wire_request_invalid(const struct wire_error *error)
{
	struct request *req = calloc(1, sizeof(*req));
	if (!req || !(req->invalid = malloc(sizeof(*req->invalid)))) {
		free(req);
		return NULL;
	}
	*req->invalid = *error;
	req->op = OP_UNKNOWN;
	req->seq = error->seq;
	return req;
}

void
wire_request_free(struct request *request)
{
	if (!request)
		return;
	free(request->invalid);
	/* The token is a secret: it does not stay in freed memory. */
	if (request->op == OP_HELLO && request->hello.token)
		explicit_bzero((char *)request->hello.token, strlen(request->hello.token));
	if (request->message)
		sockbroker__v1__request__free_unpacked(request->message, NULL);
	if (request->op == OP_POLL)
		free(request->poll.items);
	if (request->op == OP_SENDMSG_AFALG)
		free(request->afalg.buffers);
	if (request->op == OP_SENDMSG) {
		free(request->sendmsg.buffers);
		free(request->sendmsg.ancillary);
	}
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
	Sockbroker__V1__NetlinkAddress netlink;
	Sockbroker__V1__PacketAddress packet;
	Sockbroker__V1__AlgAddress alg;
	Sockbroker__V1__VsockAddress vsock;
	Sockbroker__V1__CanAddress can;
	Sockbroker__V1__TipcAddress tipc;
	Sockbroker__V1__RawAddress raw;
	struct address plain;
};

/* The members of the families the reference gives as tuples of their own. */
static void
build_family_member(struct address_msg *m)
{
	const struct address *plain = &m->plain;

	switch (plain->family) {
	case AF_NETLINK:
		sockbroker__v1__netlink_address__init(&m->netlink);
		m->netlink.has_pid = m->netlink.has_groups = true;
		m->netlink.pid = plain->netlink.pid;
		m->netlink.groups = plain->netlink.groups;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK;
		m->address.af_netlink = &m->netlink;
		break;
	case AF_PACKET:
		sockbroker__v1__packet_address__init(&m->packet);
		m->packet.ifname = (char *)plain->packet.ifname;
		m->packet.has_proto = m->packet.has_pkttype = m->packet.has_hatype = true;
		m->packet.proto = plain->packet.proto;
		m->packet.pkttype = plain->packet.pkttype;
		m->packet.hatype = plain->packet.hatype;
		m->packet.has_addr = true;
		m->packet.addr.len = plain->packet.halen;
		m->packet.addr.data = (uint8_t *)plain->packet.addr;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET;
		m->address.af_packet = &m->packet;
		break;
	case AF_ALG:
		sockbroker__v1__alg_address__init(&m->alg);
		m->alg.type = (char *)plain->alg.type;
		m->alg.name = (char *)plain->alg.name;
		m->alg.has_feat = m->alg.has_mask = true;
		m->alg.feat = plain->alg.feat;
		m->alg.mask = plain->alg.mask;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG;
		m->address.af_alg = &m->alg;
		break;
	case AF_VSOCK:
		sockbroker__v1__vsock_address__init(&m->vsock);
		m->vsock.has_cid = m->vsock.has_port = true;
		m->vsock.cid = plain->vsock.cid;
		m->vsock.port = plain->vsock.port;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK;
		m->address.af_vsock = &m->vsock;
		break;
	case AF_CAN:
		sockbroker__v1__can_address__init(&m->can);
		m->can.ifname = (char *)plain->can.ifname;
		if (plain->can.form == ADDRESS_CAN_ISOTP) {
			m->can.has_rx_addr = m->can.has_tx_addr = true;
			m->can.rx_addr = plain->can.rx_id;
			m->can.tx_addr = plain->can.tx_id;
		} else if (plain->can.form == ADDRESS_CAN_J1939) {
			m->can.has_j1939_name = m->can.has_j1939_pgn = m->can.has_j1939_addr = true;
			m->can.j1939_name = plain->can.j1939_name;
			m->can.j1939_pgn = plain->can.j1939_pgn;
			m->can.j1939_addr = plain->can.j1939_addr;
		}
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN;
		m->address.af_can = &m->can;
		break;
	case AF_TIPC:
		sockbroker__v1__tipc_address__init(&m->tipc);
		m->tipc.has_addr_type = m->tipc.has_v1 = m->tipc.has_v2 = m->tipc.has_v3 = true;
		m->tipc.has_scope = true;
		m->tipc.addr_type = plain->tipc.addr_type;
		m->tipc.v1 = plain->tipc.v1;
		m->tipc.v2 = plain->tipc.v2;
		m->tipc.v3 = plain->tipc.v3;
		/* The kernel's scope is a signed char; a negative one (never in
		 * an address the kernel gives) comes back as its byte. */
		m->tipc.scope = (uint8_t)plain->tipc.scope;
		m->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC;
		m->address.af_tipc = &m->tipc;
		break;
	default:
		break;
	}
}

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
	case AF_NETLINK:
	case AF_PACKET:
	case AF_ALG:
	case AF_VSOCK:
	case AF_CAN:
	case AF_TIPC:
		build_family_member(m);
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

static void
build_error(const struct reply_error *e, Sockbroker__V1__Error *error)
{
	sockbroker__v1__error__init(error);
	error->has_kind = true;
	error->kind = (Sockbroker__V1__ErrorKind)e->kind;
	if (e->errnum) {
		error->has_errno_number = true;
		error->errno_number = e->errnum;
		const char *name = errname_from_errno(e->errnum);
		error->errno_name = (char *)(name ? name : "EUNKNOWN");
	}
	error->message = (char *)e->message;
	if (e->kind == ERROR_GAI) {
		error->has_gai_code = true;
		error->gai_code = e->gai_code;
		error->gai_name = (char *)gai_name(e->gai_code);
	}
	if (e->kind == ERROR_HERROR) {
		error->has_herror_code = true;
		error->herror_code = e->herror_code;
	}
	error->rule = (char *)e->rule;
	error->operation = (char *)e->operation;
}

/*
 * Every `string` field of a reply is UTF-8 on the wire, as protobuf requires and strict
 * runtimes check: names the daemon passes on (a host name from the resolver, an interface
 * name, a message quoting what a client sent) may hold any byte. Before packing, each string
 * field of the message tree that is not well-formed is pointed at a copy with the bytes
 * escaped as the audit log writes them (\xHH); the copies live until the message is packed.
 */
struct escaped_strings {
	void **copies; /* escaped strings and copied arrays, freed after packing */
	size_t count, cap;
};

static void *
keep_copy(struct escaped_strings *escaped, size_t len)
{
	if (escaped->count == escaped->cap) {
		size_t cap = escaped->cap ? 2 * escaped->cap : 8;
		void **copies = realloc(escaped->copies, cap * sizeof(*copies));
		if (!copies)
			return NULL;
		escaped->copies = copies;
		escaped->cap = cap;
	}
	void *copy = malloc(len);
	if (copy)
		escaped->copies[escaped->count++] = copy;
	return copy;
}

static int
escape_string(char **field, struct escaped_strings *escaped)
{
	size_t n = strlen(*field);
	size_t len = utf8_escape(*field, n, NULL, 0);
	char *copy = keep_copy(escaped, len + 1);
	if (!copy)
		return -ENOMEM;
	utf8_escape(*field, n, copy, len + 1);
	*field = copy;
	return 0;
}

static bool
string_is_valid(const char *s)
{
	return !s || utf8_valid(s, strlen(s));
}

static int
escape_strings(ProtobufCMessage *msg, struct escaped_strings *escaped)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *member = (char *)msg + f->offset;
		int r;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(const void *)((const char *)msg +
								       f->quantifier_offset);
			void **values = *(void ***)(void *)member;
			if (!values)
				continue;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				for (size_t j = 0; j < count; j++)
					if (values[j] && (r = escape_strings(values[j], escaped)) < 0)
						return r;
				continue;
			}
			size_t bad = 0;
			while (bad < count && string_is_valid(values[bad]))
				bad++;
			if (bad == count)
				continue;
			/* The array may be borrowed (a resolver's alias list): escape into a
			 * copy of it. */
			char **copy = keep_copy(escaped, count * sizeof(*copy));
			if (!copy)
				return -ENOMEM;
			memcpy(copy, values, count * sizeof(*copy));
			for (size_t j = bad; j < count; j++)
				if (!string_is_valid(copy[j]) && (r = escape_string(&copy[j], escaped)) < 0)
					return r;
			*(char ***)(void *)member = copy;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which =
				*(const uint32_t *)(const void *)((const char *)msg + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		void **value = (void **)(void *)member;
		if (!*value)
			continue;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			r = escape_strings(*value, escaped);
		else
			r = string_is_valid(*value) ? 0 : escape_string((char **)value, escaped);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Pack `msg` into a buffer from alloc(), its strings as they are. 0 or -ENOMEM. */
static int
pack_as_is(Reply *msg, void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	size_t size = sockbroker__v1__reply__get_packed_size(msg);
	void *buf = alloc(userdata, size);

	if (!buf)
		return -ENOMEM;
	sockbroker__v1__reply__pack(msg, buf);
	return 0;
}

static int
pack_reply(Reply *msg, void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	struct escaped_strings escaped = { 0 };
	int r = escape_strings(&msg->base, &escaped);
	if (r == 0)
		r = pack_as_is(msg, alloc, userdata);
	for (size_t i = 0; i < escaped.count; i++)
		free(escaped.copies[i]);
	free(escaped.copies);
	return r;
}

/* PollReply: one PollItem per ready handle, allocated for the packing. */
static int
encode_poll(const struct reply *reply, Reply *msg, void *(*alloc)(void *userdata, size_t len),
	    void *userdata)
{
	Sockbroker__V1__PollReply poll = SOCKBROKER__V1__POLL_REPLY__INIT;
	size_t n = reply->poll.n_ready;
	Sockbroker__V1__PollItem *items = calloc(n ? n : 1, sizeof(*items));
	Sockbroker__V1__PollItem **item_ptrs = calloc(n ? n : 1, sizeof(*item_ptrs));
	int r = -ENOMEM;

	if (!items || !item_ptrs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sockbroker__v1__poll_item__init(&items[i]);
		items[i].has_handle = items[i].has_events = true;
		items[i].handle = reply->poll.ready[i].handle;
		items[i].events = reply->poll.ready[i].events;
		item_ptrs[i] = &items[i];
	}
	poll.n_ready = n;
	poll.ready = item_ptrs;
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_POLL;
	msg->poll = &poll;
	r = pack_reply(msg, alloc, userdata);
out:
	free(item_ptrs);
	free(items);
	return r;
}

/* Storage for one Ancillary message and its decoded member. */
struct ancillary_msg {
	Sockbroker__V1__Ancillary ancillary;
	Sockbroker__V1__Rights rights;
	Sockbroker__V1__Credentials credentials;
	Sockbroker__V1__PktInfo pktinfo;
	Sockbroker__V1__Timestamp timestamp;
	Sockbroker__V1__ExtendedError extended_error;
	struct address_msg offender;
};

static void
build_ancillary(const struct cmsg_item *item, struct ancillary_msg *m)
{
	Sockbroker__V1__Ancillary *a = &m->ancillary;

	sockbroker__v1__ancillary__init(a);
	a->has_level = a->has_type = a->has_data = true;
	a->level = item->level;
	a->type = item->type;
	a->data.data = item->data;
	a->data.len = item->len;
	switch (item->view) {
	case CMSG_VIEW_RIGHTS:
		sockbroker__v1__rights__init(&m->rights);
		m->rights.handles = item->rights.handles;
		m->rights.n_handles = item->rights.count;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_RIGHTS;
		a->rights = &m->rights;
		break;
	case CMSG_VIEW_CREDENTIALS:
		sockbroker__v1__credentials__init(&m->credentials);
		m->credentials.has_pid = m->credentials.has_uid = m->credentials.has_gid = true;
		m->credentials.pid = item->credentials.pid;
		m->credentials.uid = item->credentials.uid;
		m->credentials.gid = item->credentials.gid;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_CREDENTIALS;
		a->credentials = &m->credentials;
		break;
	case CMSG_VIEW_PKTINFO:
		sockbroker__v1__pkt_info__init(&m->pktinfo);
		m->pktinfo.has_ifindex = true;
		m->pktinfo.ifindex = item->pktinfo.ifindex;
		if (item->pktinfo.spec_dst[0])
			m->pktinfo.spec_dst = (char *)item->pktinfo.spec_dst;
		m->pktinfo.addr = (char *)item->pktinfo.addr;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_PKTINFO;
		a->pktinfo = &m->pktinfo;
		break;
	case CMSG_VIEW_INT:
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE;
		a->int_value = item->int_value;
		break;
	case CMSG_VIEW_TIMESTAMP:
		sockbroker__v1__timestamp__init(&m->timestamp);
		m->timestamp.has_seconds = m->timestamp.has_nanoseconds = true;
		m->timestamp.seconds = item->timestamp.seconds;
		m->timestamp.nanoseconds = item->timestamp.nanoseconds;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_TIMESTAMP;
		a->timestamp = &m->timestamp;
		break;
	case CMSG_VIEW_EXTENDED_ERROR: {
		Sockbroker__V1__ExtendedError *e = &m->extended_error;
		const char *name = errname_from_errno((int)item->extended_error.errnum);
		sockbroker__v1__extended_error__init(e);
		e->has_errno_number = e->has_origin = e->has_type = e->has_code = true;
		e->has_info = e->has_data = true;
		e->errno_number = item->extended_error.errnum;
		if (item->extended_error.errnum)
			e->errno_name = (char *)(name ? name : "EUNKNOWN");
		e->origin = item->extended_error.origin;
		e->type = item->extended_error.type;
		e->code = item->extended_error.code;
		e->info = item->extended_error.info;
		e->data = item->extended_error.data;
		if (item->extended_error.offender.len > 0)
			e->offender = build_address(&item->extended_error.offender, &m->offender);
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_EXTENDED_ERROR;
		a->extended_error = e;
		break;
	}
	default:
		break;
	}
}

/* RecvMsgReply: the data, one Ancillary per item, the flags and the
 * sender's address. */
static int
encode_recvmsg(const struct reply *reply, Reply *msg, void *(*alloc)(void *userdata, size_t len),
	       void *userdata)
{
	Sockbroker__V1__RecvMsgReply received = SOCKBROKER__V1__RECV_MSG_REPLY__INIT;
	struct address_msg address;
	size_t n = reply->recvmsg.n_ancillary;
	struct ancillary_msg *items = calloc(n ? n : 1, sizeof(*items));
	Sockbroker__V1__Ancillary **item_ptrs = calloc(n ? n : 1, sizeof(*item_ptrs));
	int r = -ENOMEM;

	if (!items || !item_ptrs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		build_ancillary(&reply->recvmsg.ancillary[i], &items[i]);
		item_ptrs[i] = &items[i].ancillary;
	}
	received.has_data = true;
	received.data.data = (uint8_t *)reply->recvmsg.data;
	received.data.len = reply->recvmsg.len;
	received.n_ancillary = n;
	received.ancillary = item_ptrs;
	received.has_msg_flags = true;
	received.msg_flags = reply->recvmsg.msg_flags;
	if (reply->recvmsg.has_address)
		received.address = build_address(&reply->recvmsg.address, &address);
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_RECVMSG;
	msg->recvmsg = &received;
	r = pack_reply(msg, alloc, userdata);
out:
	free(item_ptrs);
	free(items);
	return r;
}

/* CreateConnectionReply: the connected handle and its peer, or every
 * attempt's error. */
static int
encode_create_connection(const struct reply *reply, Reply *msg,
			 void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__CreateConnectionReply created =
		SOCKBROKER__V1__CREATE_CONNECTION_REPLY__INIT;
	Sockbroker__V1__SocketReply socket;
	struct address_msg peer;
	size_t n = reply->create_connection.n_attempt_errors;
	Sockbroker__V1__Error *errors = NULL;
	Sockbroker__V1__Error **error_ptrs = NULL;
	int r = -ENOMEM;

	if (reply->create_connection.connected) {
		build_socket(&reply->create_connection.socket, &socket);
		created.socket = &socket;
		created.peer = build_address(&reply->create_connection.peer, &peer);
	} else if (n > 0) {
		errors = calloc(n, sizeof(*errors));
		error_ptrs = calloc(n, sizeof(*error_ptrs));
		if (!errors || !error_ptrs)
			goto out;
		for (size_t i = 0; i < n; i++) {
			build_error(&reply->create_connection.attempt_errors[i], &errors[i]);
			error_ptrs[i] = &errors[i];
		}
		created.n_attempt_errors = n;
		created.attempt_errors = error_ptrs;
	}
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_CREATE_CONNECTION;
	msg->create_connection = &created;
	r = pack_reply(msg, alloc, userdata);
out:
	free(error_ptrs);
	free(errors);
	return r;
}

/* GetAddrInfoReply: a result per entry, each with its address. */
static int
encode_getaddrinfo(const struct reply *reply, Reply *msg,
		   void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__GetAddrInfoReply getaddrinfo = SOCKBROKER__V1__GET_ADDR_INFO_REPLY__INIT;
	Sockbroker__V1__AddrInfo *infos = NULL, **info_ptrs = NULL;
	struct address_msg *addresses = NULL;
	int r = 0;

	size_t n = reply->getaddrinfo.count;
	infos = calloc(n ? n : 1, sizeof(*infos));
	info_ptrs = calloc(n ? n : 1, sizeof(*info_ptrs));
	addresses = calloc(n ? n : 1, sizeof(*addresses));
	if (!infos || !info_ptrs || !addresses) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct addrinfo_entry *e = &reply->getaddrinfo.entries[i];
		sockbroker__v1__addr_info__init(&infos[i]);
		infos[i].has_family = infos[i].has_type = infos[i].has_proto = true;
		infos[i].family = e->family;
		infos[i].type = e->type;
		infos[i].proto = e->proto;
		/* The reference gives '' when there is no canonical name. */
		infos[i].canonname = (char *)(e->canonname ? e->canonname : "");
		infos[i].address = build_address(&e->address, &addresses[i]);
		info_ptrs[i] = &infos[i];
	}
	getaddrinfo.n_results = n;
	getaddrinfo.results = info_ptrs;
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_GETADDRINFO;
	msg->getaddrinfo = &getaddrinfo;
	r = pack_reply(msg, alloc, userdata);
out:
	free(addresses);
	free(info_ptrs);
	free(infos);
	return r;
}

/* IfNameIndexReply: an entry per interface. */
static int
encode_if_nameindex(const struct reply *reply, Reply *msg,
		    void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__IfNameIndexReply interfaces = SOCKBROKER__V1__IF_NAME_INDEX_REPLY__INIT;
	Sockbroker__V1__IfEntry *entries = NULL, **entry_ptrs = NULL;
	int r = 0;

	size_t n = reply->if_nameindex.count;
	entries = calloc(n ? n : 1, sizeof(*entries));
	entry_ptrs = calloc(n ? n : 1, sizeof(*entry_ptrs));
	if (!entries || !entry_ptrs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		sockbroker__v1__if_entry__init(&entries[i]);
		entries[i].has_index = true;
		entries[i].index = reply->if_nameindex.entries[i].index;
		entries[i].name = (char *)reply->if_nameindex.entries[i].name;
		entry_ptrs[i] = &entries[i];
	}
	interfaces.n_interfaces = n;
	interfaces.interfaces = entry_ptrs;
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_IF_NAMEINDEX;
	msg->if_nameindex = &interfaces;
	r = pack_reply(msg, alloc, userdata);
out:
	free(entry_ptrs);
	free(entries);
	return r;
}

/* The name-service and interface results: their messages are built here,
 * with storage of their own, and packed. */
static int
encode_names(const struct reply *reply, Reply *msg, void *(*alloc)(void *userdata, size_t len),
	     void *userdata)
{
	Sockbroker__V1__GetNameInfoReply getnameinfo = SOCKBROKER__V1__GET_NAME_INFO_REPLY__INIT;
	Sockbroker__V1__HostEntReply hostent = SOCKBROKER__V1__HOST_ENT_REPLY__INIT;
	Sockbroker__V1__StringReply string = SOCKBROKER__V1__STRING_REPLY__INIT;
	Sockbroker__V1__IntReply integer = SOCKBROKER__V1__INT_REPLY__INIT;

	switch (reply->shape) {
	case REPLY_GETADDRINFO:
		return encode_getaddrinfo(reply, msg, alloc, userdata);
	case REPLY_GETNAMEINFO:
		getnameinfo.host = (char *)reply->getnameinfo.host;
		getnameinfo.service = (char *)reply->getnameinfo.service;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_GETNAMEINFO;
		msg->getnameinfo = &getnameinfo;
		break;
	case REPLY_HOSTENT:
		/* protobuf-c's repeated strings are not const; packing only reads them. */
		hostent.hostname = (char *)reply->hostent.hostname;
		hostent.n_aliases = reply->hostent.n_aliases;
		hostent.aliases = (char **)(uintptr_t)reply->hostent.aliases;
		hostent.n_addresses = reply->hostent.n_addresses;
		hostent.addresses = (char **)(uintptr_t)reply->hostent.addresses;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_HOSTENT;
		msg->hostent = &hostent;
		break;
	case REPLY_STRING:
		string.value = (char *)reply->text;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_STRING;
		msg->string = &string;
		break;
	case REPLY_INTEGER:
		integer.has_value = true;
		integer.value = reply->integer;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_INTEGER;
		msg->integer = &integer;
		break;
	case REPLY_IF_NAMEINDEX:
		return encode_if_nameindex(reply, msg, alloc, userdata);
	default:
		return -EINVAL;
	}
	return pack_reply(msg, alloc, userdata);
}

/* One AdminStatus.identities row. */
static void
build_identity_row(const struct admin_identity_row *row, Sockbroker__V1__AdminIdentity *m)
{
	sockbroker__v1__admin_identity__init(m);
	m->identity = (char *)row->identity;
	m->has_sessions = m->has_handles = true;
	m->has_parked = true;
	m->sessions = row->sessions;
	m->handles = row->handles;
	m->parked = row->parked;
}

/* One AdminStatus.rules row. */
static void
build_rule_row(const struct admin_rule_row *row, Sockbroker__V1__AdminRule *m)
{
	sockbroker__v1__admin_rule__init(m);
	m->name = (char *)row->name;
	m->has_allow = m->has_allowed = m->has_denied = true;
	m->allow = row->allow;
	m->allowed = row->allowed;
	m->denied = row->denied;
}

/* One AdminStatus.quotas row. */
static void
build_quota_row(const struct admin_quota_row *row, Sockbroker__V1__AdminQuota *m)
{
	sockbroker__v1__admin_quota__init(m);
	m->quota = (char *)row->quota;
	m->account = (char *)row->account;
	m->has_sessions = m->has_handles = true;
	m->has_max_handles = m->has_parked = true;
	m->has_max_parked = true;
	m->sessions = row->sessions;
	m->handles = row->handles;
	m->max_handles = row->max_handles;
	m->parked = row->parked;
	m->max_parked = row->max_parked;
}

/* AdminStatus: the daemon, its identities, rules and quotas. */
static int
encode_admin_status(const struct reply *reply, Reply *msg,
		    void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__AdminStatusReply status = SOCKBROKER__V1__ADMIN_STATUS_REPLY__INIT;
	Sockbroker__V1__AdminIdentity *identities = NULL, **identity_ptrs = NULL;
	Sockbroker__V1__AdminRule *rules = NULL, **rule_ptrs = NULL;
	Sockbroker__V1__AdminQuota *quotas = NULL, **quota_ptrs = NULL;
	int r = 0;

	const struct admin_status *a = &reply->admin_status;
	size_t ni = a->n_identities, nr = a->n_rules, nq = a->n_quotas;
	identities = calloc(ni ? ni : 1, sizeof(*identities));
	identity_ptrs = calloc(ni ? ni : 1, sizeof(*identity_ptrs));
	rules = calloc(nr ? nr : 1, sizeof(*rules));
	rule_ptrs = calloc(nr ? nr : 1, sizeof(*rule_ptrs));
	quotas = calloc(nq ? nq : 1, sizeof(*quotas));
	quota_ptrs = calloc(nq ? nq : 1, sizeof(*quota_ptrs));
	if (!identities || !identity_ptrs || !rules || !rule_ptrs || !quotas ||
	    !quota_ptrs) {
		r = -ENOMEM;
		goto out;
	}
	status.version = (char *)a->version;
	status.has_pid = status.has_uptime = true;
	status.pid = a->pid;
	status.uptime = a->uptime;
	/* protobuf-c's repeated strings are not const; packing only reads them. */
	status.n_listeners = a->n_listeners;
	status.listeners = (char **)(uintptr_t)a->listeners;
	status.has_sessions = status.has_handles = status.has_parked = true;
	status.has_requests = true;
	status.sessions = a->sessions;
	status.handles = a->handles;
	status.parked = a->parked;
	status.requests = a->requests;
	status.has_max_handles_per_session = status.has_max_parked_per_session = true;
	status.has_max_sessions = status.has_rss_bytes = true;
	status.max_handles_per_session = a->max_handles_per_session;
	status.max_parked_per_session = a->max_parked_per_session;
	status.max_sessions = a->max_sessions;
	status.rss_bytes = a->rss_bytes;
	for (size_t i = 0; i < ni; i++) {
		build_identity_row(&a->identities[i], &identities[i]);
		identity_ptrs[i] = &identities[i];
	}
	for (size_t i = 0; i < nr; i++) {
		build_rule_row(&a->rules[i], &rules[i]);
		rule_ptrs[i] = &rules[i];
	}
	for (size_t i = 0; i < nq; i++) {
		build_quota_row(&a->quotas[i], &quotas[i]);
		quota_ptrs[i] = &quotas[i];
	}
	status.n_identities = ni;
	status.identities = identity_ptrs;
	status.n_rules = nr;
	status.rules = rule_ptrs;
	status.n_quotas = nq;
	status.quotas = quota_ptrs;
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_ADMIN_STATUS;
	msg->admin_status = &status;
	r = pack_as_is(msg, alloc, userdata);
out:
	free(identity_ptrs);
	free(identities);
	free(rule_ptrs);
	free(rules);
	free(quota_ptrs);
	free(quotas);
	return r;
}

/* AdminSessions: a row per session. */
static int
encode_admin_sessions(const struct reply *reply, Reply *msg,
		      void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__AdminSessionsReply sessions = SOCKBROKER__V1__ADMIN_SESSIONS_REPLY__INIT;
	Sockbroker__V1__AdminSession *session_msgs = NULL, **session_ptrs = NULL;
	Sockbroker__V1__Identity *session_ids = NULL;
	int r = 0;

	size_t n = reply->admin_sessions.n_rows;
	session_msgs = calloc(n ? n : 1, sizeof(*session_msgs));
	session_ptrs = calloc(n ? n : 1, sizeof(*session_ptrs));
	session_ids = calloc(n ? n : 1, sizeof(*session_ids));
	if (!session_msgs || !session_ptrs || !session_ids) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct admin_session_row *row = &reply->admin_sessions.rows[i];
		Sockbroker__V1__AdminSession *m = &session_msgs[i];
		Sockbroker__V1__Identity *id = &session_ids[i];
		sockbroker__v1__admin_session__init(m);
		sockbroker__v1__identity__init(id);
		if (row->has_credentials) {
			id->has_uid = id->has_gid = id->has_pid = true;
			id->uid = row->uid;
			id->gid = row->gid;
			id->pid = row->pid;
		}
		id->has_tls_verified = true;
		id->tls_verified = row->tls_verified;
		id->peer = (char *)row->peer;
		id->token_name = (char *)row->token_name;
		m->has_id = m->has_handles = m->has_parked = true;
		m->has_requests = m->has_age = true;
		m->id = row->id;
		m->identity = id;
		m->transport = (char *)row->transport;
		m->client_name = (char *)row->client_name;
		m->handles = row->handles;
		m->parked = row->parked;
		m->requests = row->requests;
		m->age = row->age;
		session_ptrs[i] = m;
	}
	sessions.n_sessions = n;
	sessions.sessions = session_ptrs;
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_ADMIN_SESSIONS;
	msg->admin_sessions = &sessions;
	r = pack_as_is(msg, alloc, userdata);
out:
	free(session_ptrs);
	free(session_msgs);
	free(session_ids);
	return r;
}

/* AdminHandles: a row per handle. */
static int
encode_admin_handles(const struct reply *reply, Reply *msg,
		     void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__AdminHandlesReply handles = SOCKBROKER__V1__ADMIN_HANDLES_REPLY__INIT;
	Sockbroker__V1__AdminHandle *handle_msgs = NULL, **handle_ptrs = NULL;
	struct address_msg *addresses = NULL;
	int r = 0;

	size_t n = reply->admin_handles.n_rows;
	handle_msgs = calloc(n ? n : 1, sizeof(*handle_msgs));
	handle_ptrs = calloc(n ? n : 1, sizeof(*handle_ptrs));
	addresses = calloc(2 * (n ? n : 1), sizeof(*addresses));
	if (!handle_msgs || !handle_ptrs || !addresses) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct admin_handle_row *row = &reply->admin_handles.rows[i];
		Sockbroker__V1__AdminHandle *m = &handle_msgs[i];
		sockbroker__v1__admin_handle__init(m);
		m->has_session = m->has_handle = m->has_family = m->has_type = true;
		m->has_proto = m->has_queued_reads = m->has_queued_writes = true;
		m->has_bytes_in = m->has_bytes_out = true;
		m->session = row->session;
		m->handle = row->handle;
		m->family = row->family;
		m->type = row->type;
		m->proto = row->proto;
		m->state = (char *)row->state;
		if (row->has_local)
			m->local = build_address(&row->local, &addresses[2 * i]);
		if (row->has_peer)
			m->peer = build_address(&row->peer, &addresses[2 * i + 1]);
		m->queued_reads = row->queued_reads;
		m->queued_writes = row->queued_writes;
		m->bytes_in = row->bytes_in;
		m->bytes_out = row->bytes_out;
		if (row->timeout_ns != TIMEOUT_NONE) {
			m->has_timeout = true;
			m->timeout = (double)row->timeout_ns / 1e9;
		}
		handle_ptrs[i] = m;
	}
	handles.n_handles = n;
	handles.handles = handle_ptrs;
	msg->result_case = SOCKBROKER__V1__REPLY__RESULT_ADMIN_HANDLES;
	msg->admin_handles = &handles;
	r = pack_as_is(msg, alloc, userdata);
out:
	free(handle_ptrs);
	free(handle_msgs);
	free(addresses);
	return r;
}

/* The admin results (sockbrokerctl): rows of plain data into their messages,
 * with storage of their own, and packed. */
/* Administration replies (the rows of ops/admin.c), built and packed apart. */
static int
encode_admin(const struct reply *reply, Reply *msg, void *(*alloc)(void *userdata, size_t len),
	     void *userdata)
{
	switch (reply->shape) {
	case REPLY_ADMIN_STATUS:
		return encode_admin_status(reply, msg, alloc, userdata);
	case REPLY_ADMIN_SESSIONS:
		return encode_admin_sessions(reply, msg, alloc, userdata);
	case REPLY_ADMIN_HANDLES:
		return encode_admin_handles(reply, msg, alloc, userdata);
	default:
		return -EINVAL;
	}
}

/* The results that carry a socket or an address: socket, socketpair, accept, connect,
 * getsockname/getpeername. Packs `msg` (its envelope filled). */
static int
encode_socket_result(const struct reply *reply, Reply *msg,
		     void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__SocketReply socket = SOCKBROKER__V1__SOCKET_REPLY__INIT;
	Sockbroker__V1__SocketReply second = SOCKBROKER__V1__SOCKET_REPLY__INIT;
	Sockbroker__V1__SocketPairReply pair = SOCKBROKER__V1__SOCKET_PAIR_REPLY__INIT;
	Sockbroker__V1__AcceptReply accept = SOCKBROKER__V1__ACCEPT_REPLY__INIT;
	Sockbroker__V1__ConnectReply connect = SOCKBROKER__V1__CONNECT_REPLY__INIT;
	Sockbroker__V1__AddressReply address = SOCKBROKER__V1__ADDRESS_REPLY__INIT;
	struct address_msg addr_storage;

	switch (reply->shape) {
	case REPLY_SOCKET:
		build_socket(&reply->socket, &socket);
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_SOCKET;
		msg->socket = &socket;
		break;
	case REPLY_SOCKETPAIR:
		build_socket(&reply->pair.first, &socket);
		build_socket(&reply->pair.second, &second);
		pair.first = &socket;
		pair.second = &second;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_SOCKETPAIR;
		msg->socketpair = &pair;
		break;
	case REPLY_ACCEPT:
		build_socket(&reply->accept.socket, &socket);
		accept.socket = &socket;
		/* No peer address at all (AF_ALG: the reference's None) is an
		 * absent address, not an empty one of some family. */
		if (reply->accept.peer.len > 0)
			accept.address = build_address(&reply->accept.peer, &addr_storage);
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_ACCEPT;
		msg->accept = &accept;
		break;
	case REPLY_CONNECT:
		connect.has_errno_number = true;
		connect.errno_number = reply->connect.errnum;
		if (reply->connect.errnum) {
			const char *name = errname_from_errno(reply->connect.errnum);
			connect.errno_name = (char *)(name ? name : "EUNKNOWN");
		}
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_CONNECT;
		msg->connect = &connect;
		break;
	case REPLY_ADDRESS:
		address.address = build_address(&reply->address, &addr_storage);
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_ADDRESS;
		msg->address = &address;
		break;
	default:
		return -EINVAL;
	}
	return pack_reply(msg, alloc, userdata);
}

/* The results of one value: done, getsockopt, a timeout, a flag, a count, received
 * data, cancel, cmsg_size. Packs `msg` (its envelope filled). */
static int
encode_value_result(const struct reply *reply, Reply *msg,
		    void *(*alloc)(void *userdata, size_t len), void *userdata)
{
	Sockbroker__V1__Empty empty = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__GetSockOptReply getsockopt = SOCKBROKER__V1__GET_SOCK_OPT_REPLY__INIT;
	Sockbroker__V1__TimeoutReply timeout = SOCKBROKER__V1__TIMEOUT_REPLY__INIT;
	Sockbroker__V1__BoolReply flag = SOCKBROKER__V1__BOOL_REPLY__INIT;
	Sockbroker__V1__SendReply send = SOCKBROKER__V1__SEND_REPLY__INIT;
	Sockbroker__V1__RecvReply recv = SOCKBROKER__V1__RECV_REPLY__INIT;
	Sockbroker__V1__CancelReply cancel = SOCKBROKER__V1__CANCEL_REPLY__INIT;
	Sockbroker__V1__CmsgSizeReply cmsg_size = SOCKBROKER__V1__CMSG_SIZE_REPLY__INIT;
	struct address_msg addr_storage;

	switch (reply->shape) {
	case REPLY_DONE:
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_DONE;
		msg->done = &empty;
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
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_GETSOCKOPT;
		msg->getsockopt = &getsockopt;
		break;
	case REPLY_TIMEOUT:
		if (reply->timeout_ns != TIMEOUT_NONE) {
			timeout.has_timeout = true;
			timeout.timeout = (double)reply->timeout_ns / 1e9;
		}
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_TIMEOUT;
		msg->timeout = &timeout;
		break;
	case REPLY_FLAG:
		flag.has_value = true;
		flag.value = reply->flag;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_FLAG;
		msg->flag = &flag;
		break;
	case REPLY_SEND:
		send.has_count = true;
		send.count = reply->count;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_SEND;
		msg->send = &send;
		break;
	case REPLY_RECV:
		recv.has_data = true;
		recv.data.data = (uint8_t *)reply->recv.data;
		recv.data.len = reply->recv.len;
		recv.has_count = true;
		recv.count = reply->recv.count;
		if (reply->recv.has_address)
			recv.address = build_address(&reply->recv.address, &addr_storage);
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_RECV;
		msg->recv = &recv;
		break;
	case REPLY_CANCEL:
		cancel.has_cancelled = true;
		cancel.cancelled = reply->cancelled;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_CANCEL;
		msg->cancel = &cancel;
		break;
	case REPLY_CMSG_SIZE:
		cmsg_size.has_cmsg_len = cmsg_size.has_cmsg_space = true;
		cmsg_size.cmsg_len = reply->cmsg_size.len;
		cmsg_size.cmsg_space = reply->cmsg_size.space;
		msg->result_case = SOCKBROKER__V1__REPLY__RESULT_CMSG_SIZE;
		msg->cmsg_size = &cmsg_size;
		break;
	default:
		return -EINVAL;
	}
	return pack_reply(msg, alloc, userdata);
}

/* A result other than Hello's, by its group's encoder. */
static int
encode_result(const struct reply *reply, Reply *msg, void *(*alloc)(void *userdata, size_t len),
	      void *userdata)
{
	switch (reply->shape) {
	case REPLY_GETADDRINFO:
	case REPLY_GETNAMEINFO:
	case REPLY_HOSTENT:
	case REPLY_STRING:
	case REPLY_INTEGER:
	case REPLY_IF_NAMEINDEX:
		/* Results with storage of their own: built and packed apart. */
		return encode_names(reply, msg, alloc, userdata);
	case REPLY_POLL:
		return encode_poll(reply, msg, alloc, userdata);
	case REPLY_RECVMSG:
		return encode_recvmsg(reply, msg, alloc, userdata);
	case REPLY_CREATE_CONNECTION:
		return encode_create_connection(reply, msg, alloc, userdata);
	case REPLY_ADMIN_STATUS:
	case REPLY_ADMIN_SESSIONS:
	case REPLY_ADMIN_HANDLES:
		return encode_admin(reply, msg, alloc, userdata);
	case REPLY_SOCKET:
	case REPLY_SOCKETPAIR:
	case REPLY_ACCEPT:
	case REPLY_CONNECT:
	case REPLY_ADDRESS:
		return encode_socket_result(reply, msg, alloc, userdata);
	case REPLY_DONE:
	case REPLY_GETSOCKOPT:
	case REPLY_TIMEOUT:
	case REPLY_FLAG:
	case REPLY_SEND:
	case REPLY_RECV:
	case REPLY_CANCEL:
	case REPLY_CMSG_SIZE:
		return encode_value_result(reply, msg, alloc, userdata);
	case REPLY_HELLO:
		break;
	}
	return -EINVAL;
}

/* What every reply carries beside its result: seq, send space, handed_off. */
static void
fill_envelope(const struct reply *reply, Reply *msg)
{
	msg->has_seq = reply->seq != 0;
	msg->seq = reply->seq;
	msg->has_send_space = reply->has_send_space;
	msg->send_space = reply->send_space;
	msg->has_handed_off = reply->handed_off;
	msg->handed_off = reply->handed_off;
}

/* The Hello reply's identity: who the daemon takes the client for. */
static void
build_hello_identity(const struct reply_hello *h, Sockbroker__V1__Identity *identity)
{
	if (h->has_credentials) {
		identity->has_uid = identity->has_gid = identity->has_pid = true;
		identity->uid = h->uid;
		identity->gid = h->gid;
		identity->pid = h->pid;
	}
	identity->has_tls_verified = true;
	identity->tls_verified = h->tls_verified;
	identity->peer = (char *)h->peer;
	if (h->token_name && h->token_name[0])
		identity->token_name = (char *)h->token_name;
}

/* The Hello reply, pointing into `h`; the arrays it allocates go to the `*_out`
 * pointers (set before they can fail, for the caller to free). 0 or -ENOMEM. */
static int
build_hello_reply(const struct reply_hello *h, Sockbroker__V1__HelloReply *hello,
		  Sockbroker__V1__Identity *identity, Sockbroker__V1__Constant **constants_out,
		  Sockbroker__V1__Constant ***ptrs_out, ProtobufCBinaryData **missed_out)
{
	Sockbroker__V1__Constant *constants;
	Sockbroker__V1__Constant **constant_ptrs;
	ProtobufCBinaryData *missed;

	hello->has_protocol_version = hello->has_max_message_size = true;
	hello->has_max_data_size = hello->has_max_handles = hello->has_max_parked = true;
	hello->has_session_id = hello->has_resume_secret = true;
	hello->protocol_version = h->protocol_version;
	hello->server_version = (char *)h->server_version;
	hello->max_message_size = h->max_message_size;
	hello->max_data_size = h->max_data_size;
	hello->max_handles = h->max_handles;
	hello->max_parked = h->max_parked;
	hello->session_id = h->session_id;
	hello->resume_secret.data = (uint8_t *)h->resume_secret;
	hello->resume_secret.len = h->resume_secret_len;
	*constants_out = constants = calloc(h->n_constants, sizeof(*constants));
	*ptrs_out = constant_ptrs = calloc(h->n_constants, sizeof(*constant_ptrs));
	if (h->n_constants && (!constants || !constant_ptrs))
		return -ENOMEM;
	for (size_t i = 0; i < h->n_constants; i++) {
		sockbroker__v1__constant__init(&constants[i]);
		constants[i].name = (char *)h->constants[i].name;
		constants[i].has_value = true;
		constants[i].value = h->constants[i].value;
		constant_ptrs[i] = &constants[i];
	}
	hello->n_constants = h->n_constants;
	hello->constants = constant_ptrs;
	build_hello_identity(h, identity);
	hello->identity = identity;
	hello->has_handoff = h->handoff;
	hello->handoff = h->handoff;
	hello->has_resume_grace_ms = true;
	hello->resume_grace_ms = h->resume_grace_ms;
	if (h->constants_digest) {
		hello->has_constants_digest = true;
		hello->constants_digest.data = (uint8_t *)h->constants_digest;
		hello->constants_digest.len = WIRE_DIGEST_LEN;
	}
	if (h->resumed) {
		hello->has_resumed = hello->has_resume_next_seq = true;
		hello->resumed = true;
		hello->resume_next_seq = h->resume_next_seq;
		*missed_out = missed = calloc(h->n_missed ? h->n_missed : 1, sizeof(*missed));
		if (!missed)
			return -ENOMEM;
		for (size_t i = 0; i < h->n_missed; i++) {
			missed[i].data = (uint8_t *)h->missed_replies[i];
			missed[i].len = h->missed_lens[i];
		}
		hello->n_missed_request_ids = hello->n_missed_replies = h->n_missed;
		hello->missed_request_ids = (uint32_t *)h->missed_request_ids;
		hello->missed_replies = missed;
	}
	return 0;
}

int
wire_encode_reply(const struct reply *reply, void *(*alloc)(void *userdata, size_t len),
		  void *userdata)
{
	Reply msg = SOCKBROKER__V1__REPLY__INIT;
	Sockbroker__V1__Error error = SOCKBROKER__V1__ERROR__INIT;
	Sockbroker__V1__HelloReply hello = SOCKBROKER__V1__HELLO_REPLY__INIT;
	Sockbroker__V1__Identity identity = SOCKBROKER__V1__IDENTITY__INIT;
	Sockbroker__V1__Constant *constants = NULL;
	Sockbroker__V1__Constant **constant_ptrs = NULL;
	ProtobufCBinaryData *missed = NULL;
	int r = 0;

	fill_envelope(reply, &msg);
	if (reply->error.kind != ERROR_NONE) {
		build_error(&reply->error, &error);
		msg.error = &error;
		goto pack;
	}

	switch (reply->shape) {
	case REPLY_HELLO: {
		r = build_hello_reply(&reply->hello, &hello, &identity, &constants,
				      &constant_ptrs, &missed);
		if (r < 0)
			goto out;
		msg.result_case = SOCKBROKER__V1__REPLY__RESULT_HELLO;
		msg.hello = &hello;
		break;
	}
	default:
		/* Every other result is built and packed by its group's encoder. */
		r = encode_result(reply, &msg, alloc, userdata);
		goto out;
	}

pack:
	r = pack_reply(&msg, alloc, userdata);
out:
	free(constant_ptrs);
	free(constants);
	free(missed);
	return r;
}

uint64_t
wire_reply_seq(const void *body, size_t len)
{
	const uint8_t *p = body;
	uint64_t seq = 0;

	/* Field 1, varint: tag byte 0x08. */
	if (len < 2 || p[0] != 0x08)
		return 0;
	for (size_t i = 1; i < len && i <= 10; i++) {
		seq |= (uint64_t)(p[i] & 0x7f) << (7 * (i - 1));
		if (!(p[i] & 0x80))
			return seq;
	}
	return 0;
}
