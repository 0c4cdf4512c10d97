#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

/* The longest abstract name: sun_path less its leading NUL. */
#define ABSTRACT_NAME_MAX (sizeof(((struct sb_addr *)0)->path) - 1)
/* IPv6 flow labels are 20 bits. */
#define FLOWINFO_MAX 0xfffffu
/* The kernel's TIPC scope is a signed char. */
#define TIPC_SCOPE_MAX 127u
/* TIPC address types (linux/tipc.h), which this header need not pull in. */
#define TIPC_ADDR_NAMESEQ_VALUE 1u
#define TIPC_ADDR_ID_VALUE 3u
#define TIPC_CLUSTER_SCOPE_VALUE 2u

#define member_size(type, member) sizeof(((type *)0)->member)

/*
 * One allocation for an Address and its member, so that a request can
 * carry it without the caller tracking several pieces. `address` comes
 * first: the block is freed through it.
 */
struct wire_address {
	Sockbroker__V1__Address address;
	union {
		Sockbroker__V1__InetAddress af_inet;
		Sockbroker__V1__Inet6Address af_inet6;
		Sockbroker__V1__UnixAddress af_unix;
		Sockbroker__V1__NetlinkAddress af_netlink;
		Sockbroker__V1__PacketAddress af_packet;
		Sockbroker__V1__AlgAddress af_alg;
		Sockbroker__V1__VsockAddress af_vsock;
		Sockbroker__V1__CanAddress af_can;
		Sockbroker__V1__TipcAddress af_tipc;
		Sockbroker__V1__RawAddress raw;
	} member;
	/* The host, an interface name, or an AF_ALG type. */
	char host[member_size(struct sb_addr, host)];
	/* An AF_ALG name. */
	char name[member_size(struct sb_addr, alg.name)];
	uint8_t bytes[member_size(struct sb_addr, raw)];
};

/* Copy a NUL-terminated string into a char array of `size`; -EINVAL when
 * it does not fit with its NUL. */
static int
copy_string(char *to, size_t size, const char *from)
{
	size_t len;

	if (from == NULL)
		return -EINVAL;
	len = strlen(from);
	if (len >= size)
		return -EINVAL;
	memcpy(to, from, len + 1);
	return 0;
}

int
sb_addr_inet(struct sb_addr *addr, const char *host, unsigned port)
{
	if (addr == NULL || host == NULL || port > UINT16_MAX)
		return -EINVAL;
	if (strlen(host) >= sizeof(addr->host))
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_INET;
	strcpy(addr->host, host);
	addr->port = (uint16_t)port;
	return 0;
}

int
sb_addr_inet6(struct sb_addr *addr, const char *host, unsigned port, uint32_t flowinfo,
	      uint32_t scope_id)
{
	if (addr == NULL || host == NULL || port > UINT16_MAX || flowinfo > FLOWINFO_MAX)
		return -EINVAL;
	if (strlen(host) >= sizeof(addr->host))
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_INET6;
	strcpy(addr->host, host);
	addr->port = (uint16_t)port;
	addr->flowinfo = flowinfo;
	addr->scope_id = scope_id;
	return 0;
}

int
sb_addr_unix(struct sb_addr *addr, const char *path)
{
	size_t len;

	if (addr == NULL || path == NULL)
		return -EINVAL;
	/* Linux takes a sun_path filled to the end, without a NUL. */
	len = strlen(path);
	if (len > sizeof(addr->path))
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_UNIX;
	memcpy(addr->path, path, len);
	addr->path_len = len;
	return 0;
}

int
sb_addr_abstract(struct sb_addr *addr, const void *name, size_t len)
{
	if (addr == NULL || (name == NULL && len > 0) || len > ABSTRACT_NAME_MAX)
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_UNIX;
	addr->abstract = true;
	if (len > 0)
		memcpy(addr->path, name, len);
	addr->path_len = len;
	return 0;
}

int
sb_addr_netlink(struct sb_addr *addr, uint32_t pid, uint32_t groups)
{
	if (addr == NULL)
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_NETLINK;
	addr->netlink.pid = pid;
	addr->netlink.groups = groups;
	return 0;
}

int
sb_addr_packet(struct sb_addr *addr, const char *ifname, unsigned proto, unsigned pkttype,
	       unsigned hatype, const void *hwaddr, size_t hwaddr_len)
{
	struct sb_addr out;

	if (addr == NULL || proto > UINT16_MAX || pkttype > UINT8_MAX || hatype > UINT16_MAX ||
	    hwaddr_len > sizeof(out.packet.addr) || (hwaddr == NULL && hwaddr_len > 0))
		return -EINVAL;
	memset(&out, 0, sizeof(out));
	if (copy_string(out.packet.ifname, sizeof(out.packet.ifname), ifname) < 0)
		return -EINVAL;
	out.family = AF_PACKET;
	out.packet.proto = (uint16_t)proto;
	out.packet.pkttype = (uint8_t)pkttype;
	out.packet.hatype = (uint16_t)hatype;
	out.packet.addr_len = hwaddr_len;
	if (hwaddr_len > 0)
		memcpy(out.packet.addr, hwaddr, hwaddr_len);
	*addr = out;
	return 0;
}

int
sb_addr_alg(struct sb_addr *addr, const char *type, const char *name, uint32_t feat,
	    uint32_t mask)
{
	struct sb_addr out;

	if (addr == NULL)
		return -EINVAL;
	memset(&out, 0, sizeof(out));
	if (copy_string(out.alg.type, sizeof(out.alg.type), type) < 0 ||
	    copy_string(out.alg.name, sizeof(out.alg.name), name) < 0)
		return -EINVAL;
	out.family = AF_ALG;
	out.alg.feat = feat;
	out.alg.mask = mask;
	*addr = out;
	return 0;
}

int
sb_addr_vsock(struct sb_addr *addr, uint32_t cid, uint32_t port)
{
	if (addr == NULL)
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_VSOCK;
	addr->vsock.cid = cid;
	addr->vsock.port = port;
	return 0;
}

static int
can_address(struct sb_addr *addr, const char *ifname, enum sb_can_form form)
{
	struct sb_addr out;

	if (addr == NULL)
		return -EINVAL;
	memset(&out, 0, sizeof(out));
	if (copy_string(out.can.ifname, sizeof(out.can.ifname), ifname) < 0)
		return -EINVAL;
	out.family = AF_CAN;
	out.can.form = form;
	*addr = out;
	return 0;
}

int
sb_addr_can(struct sb_addr *addr, const char *ifname)
{
	return can_address(addr, ifname, SB_CAN_PLAIN);
}

int
sb_addr_can_isotp(struct sb_addr *addr, const char *ifname, uint32_t rx_addr, uint32_t tx_addr)
{
	int r = can_address(addr, ifname, SB_CAN_ISOTP);

	if (r < 0)
		return r;
	addr->can.rx_addr = rx_addr;
	addr->can.tx_addr = tx_addr;
	return 0;
}

int
sb_addr_can_j1939(struct sb_addr *addr, const char *ifname, uint64_t name, uint32_t pgn,
		  uint8_t j1939_addr)
{
	int r = can_address(addr, ifname, SB_CAN_J1939);

	if (r < 0)
		return r;
	addr->can.j1939_name = name;
	addr->can.j1939_pgn = pgn;
	addr->can.j1939_addr = j1939_addr;
	return 0;
}

int
sb_addr_tipc(struct sb_addr *addr, unsigned addr_type, uint32_t v1, uint32_t v2, uint32_t v3,
	     unsigned scope)
{
	if (addr == NULL || addr_type < TIPC_ADDR_NAMESEQ_VALUE || addr_type > TIPC_ADDR_ID_VALUE ||
	    scope > TIPC_SCOPE_MAX)
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_TIPC;
	addr->tipc.addr_type = addr_type;
	addr->tipc.v1 = v1;
	addr->tipc.v2 = v2;
	addr->tipc.v3 = v3;
	addr->tipc.scope = scope;
	return 0;
}

/*
 * Append to a bounded buffer as snprintf() does, keeping track of the
 * position so that later pieces are dropped once the buffer is full.
 */
static void
append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list args;
	int n;

	if (*pos >= len)
		return;
	va_start(args, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, args);
	va_end(args);
	if (n < 0)
		return;
	*pos = (size_t)n >= len - *pos ? len : *pos + (size_t)n;
}

/* Names and paths may hold any byte; escape those a terminal would act on. */
static void
append_bytes(char *buf, size_t len, size_t *pos, const char *bytes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		unsigned char c = (unsigned char)bytes[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			append(buf, len, pos, "%c", c);
		else
			append(buf, len, pos, "\\x%02x", c);
	}
}

/* An interface or algorithm name from a char array; "(any)" when empty. */
static void
append_name(char *buf, size_t len, size_t *pos, const char *name, size_t size)
{
	size_t n = strnlen(name, size);

	if (n == 0)
		append(buf, len, pos, "(any)");
	else
		append_bytes(buf, len, pos, name, n);
}

void
sb_addr_format(const struct sb_addr *addr, char *buf, size_t len)
{
	size_t pos = 0, path_len;

	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	if (addr == NULL)
		return;

	switch (addr->family) {
	case AF_INET:
		append(buf, len, &pos, "%.*s:%u", (int)sizeof(addr->host), addr->host, addr->port);
		break;
	case AF_INET6:
		append(buf, len, &pos, "[%.*s]:%u", (int)sizeof(addr->host), addr->host,
		       addr->port);
		break;
	case AF_UNIX:
		path_len = addr->path_len < sizeof(addr->path) ? addr->path_len : sizeof(addr->path);
		if (addr->abstract) {
			append(buf, len, &pos, "@");
			append_bytes(buf, len, &pos, addr->path, path_len);
		} else if (path_len == 0) {
			append(buf, len, &pos, "(unnamed)");
		} else {
			append_bytes(buf, len, &pos, addr->path, path_len);
		}
		break;
	case AF_NETLINK:
		append(buf, len, &pos, "netlink pid=%u groups=%#x", addr->netlink.pid,
		       addr->netlink.groups);
		break;
	case AF_PACKET:
		append(buf, len, &pos, "packet ");
		append_name(buf, len, &pos, addr->packet.ifname, sizeof(addr->packet.ifname));
		append(buf, len, &pos,
		       " proto=0x%04x pkttype=%u hatype=%u addr=", addr->packet.proto,
		       addr->packet.pkttype, addr->packet.hatype);
		for (size_t i = 0; i < addr->packet.addr_len && i < sizeof(addr->packet.addr); i++)
			append(buf, len, &pos, "%s%02x", i == 0 ? "" : ":", addr->packet.addr[i]);
		break;
	case AF_ALG:
		append(buf, len, &pos, "alg ");
		append_name(buf, len, &pos, addr->alg.type, sizeof(addr->alg.type));
		append(buf, len, &pos, " ");
		append_name(buf, len, &pos, addr->alg.name, sizeof(addr->alg.name));
		if (addr->alg.feat != 0 || addr->alg.mask != 0)
			append(buf, len, &pos, " feat=%#x mask=%#x", addr->alg.feat,
			       addr->alg.mask);
		break;
	case AF_VSOCK:
		append(buf, len, &pos, "vsock %u:%u", addr->vsock.cid, addr->vsock.port);
		break;
	case AF_CAN:
		append(buf, len, &pos, "can ");
		append_name(buf, len, &pos, addr->can.ifname, sizeof(addr->can.ifname));
		if (addr->can.form == SB_CAN_ISOTP)
			append(buf, len, &pos, " rx=%#x tx=%#x", addr->can.rx_addr,
			       addr->can.tx_addr);
		else if (addr->can.form == SB_CAN_J1939)
			append(buf, len, &pos, " name=%#llx pgn=%#x addr=%#x",
			       (unsigned long long)addr->can.j1939_name, addr->can.j1939_pgn,
			       addr->can.j1939_addr);
		break;
	case AF_TIPC:
		append(buf, len, &pos, "tipc type=%u %u/%u/%u scope=%u", addr->tipc.addr_type,
		       addr->tipc.v1, addr->tipc.v2, addr->tipc.v3, addr->tipc.scope);
		break;
	case AF_UNSPEC:
		append(buf, len, &pos, "(no address)");
		break;
	default:
		append(buf, len, &pos, "(family %d)", addr->family);
		for (size_t i = 0; i < addr->raw_len && i < sizeof(addr->raw); i++)
			append(buf, len, &pos, "%s%02x", i == 0 ? " " : "", addr->raw[i]);
		break;
	}
}

/* sb__addr_to_wire() for AF_INET and AF_INET6: 0, or -EINVAL. */
static int
inet_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	if (memchr(addr->host, '\0', sizeof(addr->host)) == NULL)
		return -EINVAL;
	strcpy(wire->host, addr->host);
	if (addr->family == AF_INET) {
		sockbroker__v1__inet_address__init(&wire->member.af_inet);
		wire->member.af_inet.host = wire->host;
		wire->member.af_inet.has_port = true;
		wire->member.af_inet.port = addr->port;
		wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
		wire->address.af_inet = &wire->member.af_inet;
	} else {
		sockbroker__v1__inet6_address__init(&wire->member.af_inet6);
		wire->member.af_inet6.host = wire->host;
		wire->member.af_inet6.has_port = true;
		wire->member.af_inet6.port = addr->port;
		wire->member.af_inet6.has_flowinfo = true;
		wire->member.af_inet6.flowinfo = addr->flowinfo;
		wire->member.af_inet6.has_scope_id = true;
		wire->member.af_inet6.scope_id = addr->scope_id;
		wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
		wire->address.af_inet6 = &wire->member.af_inet6;
	}
	return 0;
}

/* sb__addr_to_wire() for AF_UNIX: 0, or -EINVAL. */
static int
unix_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	if (addr->path_len > (addr->abstract ? ABSTRACT_NAME_MAX : sizeof(addr->path)))
		return -EINVAL;
	sockbroker__v1__unix_address__init(&wire->member.af_unix);
	memcpy(wire->bytes, addr->path, addr->path_len);
	if (addr->abstract) {
		wire->member.af_unix.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT;
		wire->member.af_unix.abstract.data = wire->bytes;
		wire->member.af_unix.abstract.len = addr->path_len;
	} else if (addr->path_len > 0) {
		wire->member.af_unix.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH;
		wire->member.af_unix.path.data = wire->bytes;
		wire->member.af_unix.path.len = addr->path_len;
	}
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	wire->address.af_unix = &wire->member.af_unix;
	return 0;
}

/* sb__addr_to_wire() for AF_NETLINK: 0, or -EINVAL. */
static int
netlink_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	sockbroker__v1__netlink_address__init(&wire->member.af_netlink);
	wire->member.af_netlink.has_pid = wire->member.af_netlink.has_groups = true;
	wire->member.af_netlink.pid = addr->netlink.pid;
	wire->member.af_netlink.groups = addr->netlink.groups;
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK;
	wire->address.af_netlink = &wire->member.af_netlink;
	return 0;
}

/* sb__addr_to_wire() for AF_PACKET: 0, or -EINVAL. */
static int
packet_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	Sockbroker__V1__PacketAddress *packet = &wire->member.af_packet;

	if (copy_string(wire->host, sizeof(addr->packet.ifname), addr->packet.ifname) < 0 ||
	    addr->packet.addr_len > sizeof(addr->packet.addr))
		return -EINVAL;
	sockbroker__v1__packet_address__init(packet);
	memcpy(wire->bytes, addr->packet.addr, addr->packet.addr_len);
	packet->ifname = wire->host;
	packet->has_proto = packet->has_pkttype = packet->has_hatype = true;
	packet->proto = addr->packet.proto;
	packet->pkttype = addr->packet.pkttype;
	packet->hatype = addr->packet.hatype;
	packet->has_addr = true;
	packet->addr.data = wire->bytes;
	packet->addr.len = addr->packet.addr_len;
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET;
	wire->address.af_packet = packet;
	return 0;
}

/* sb__addr_to_wire() for AF_ALG: 0, or -EINVAL. */
static int
alg_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	Sockbroker__V1__AlgAddress *alg = &wire->member.af_alg;

	if (copy_string(wire->host, sizeof(addr->alg.type), addr->alg.type) < 0 ||
	    copy_string(wire->name, sizeof(addr->alg.name), addr->alg.name) < 0)
		return -EINVAL;
	sockbroker__v1__alg_address__init(alg);
	alg->type = wire->host;
	alg->name = wire->name;
	alg->has_feat = alg->has_mask = true;
	alg->feat = addr->alg.feat;
	alg->mask = addr->alg.mask;
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG;
	wire->address.af_alg = alg;
	return 0;
}

/* sb__addr_to_wire() for AF_VSOCK: 0, or -EINVAL. */
static int
vsock_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	sockbroker__v1__vsock_address__init(&wire->member.af_vsock);
	wire->member.af_vsock.has_cid = wire->member.af_vsock.has_port = true;
	wire->member.af_vsock.cid = addr->vsock.cid;
	wire->member.af_vsock.port = addr->vsock.port;
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK;
	wire->address.af_vsock = &wire->member.af_vsock;
	return 0;
}

/* sb__addr_to_wire() for AF_CAN: 0, or -EINVAL. */
static int
can_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	Sockbroker__V1__CanAddress *can = &wire->member.af_can;

	if (copy_string(wire->host, sizeof(addr->can.ifname), addr->can.ifname) < 0)
		return -EINVAL;
	sockbroker__v1__can_address__init(can);
	can->ifname = wire->host;
	if (addr->can.form == SB_CAN_ISOTP) {
		can->has_rx_addr = can->has_tx_addr = true;
		can->rx_addr = addr->can.rx_addr;
		can->tx_addr = addr->can.tx_addr;
	} else if (addr->can.form == SB_CAN_J1939) {
		can->has_j1939_name = can->has_j1939_pgn = can->has_j1939_addr = true;
		can->j1939_name = addr->can.j1939_name;
		can->j1939_pgn = addr->can.j1939_pgn;
		can->j1939_addr = addr->can.j1939_addr;
	} else if (addr->can.form != SB_CAN_PLAIN) {
		return -EINVAL;
	}
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN;
	wire->address.af_can = can;
	return 0;
}

/* sb__addr_to_wire() for AF_TIPC: 0, or -EINVAL. */
static int
tipc_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	Sockbroker__V1__TipcAddress *tipc = &wire->member.af_tipc;

	/* Out-of-range types and scopes go to the daemon, which says what
	 * is allowed. */
	sockbroker__v1__tipc_address__init(tipc);
	tipc->has_addr_type = tipc->has_v1 = tipc->has_v2 = tipc->has_v3 = true;
	tipc->has_scope = true;
	tipc->addr_type = addr->tipc.addr_type;
	tipc->v1 = addr->tipc.v1;
	tipc->v2 = addr->tipc.v2;
	tipc->v3 = addr->tipc.v3;
	tipc->scope = addr->tipc.scope;
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC;
	wire->address.af_tipc = tipc;
	return 0;
}

/* sb__addr_to_wire() for any other family (raw bytes): 0, or -EINVAL. */
static int
raw_to_wire(const struct sb_addr *addr, struct wire_address *wire)
{
	if (addr->raw_len > sizeof(addr->raw))
		return -EINVAL;
	sockbroker__v1__raw_address__init(&wire->member.raw);
	memcpy(wire->bytes, addr->raw, addr->raw_len);
	wire->member.raw.has_family = true;
	wire->member.raw.family = addr->family;
	wire->member.raw.has_data = true;
	wire->member.raw.data.data = wire->bytes;
	wire->member.raw.data.len = addr->raw_len;
	wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_RAW;
	wire->address.raw = &wire->member.raw;
	return 0;
}

int
sb__addr_to_wire(const struct sb_addr *addr, struct Sockbroker__V1__Address **out)
{
	struct wire_address *wire;
	int r;

	if (addr == NULL)
		return -EINVAL;
	wire = calloc(1, sizeof(*wire));
	if (wire == NULL)
		return -ENOMEM;
	sockbroker__v1__address__init(&wire->address);

	switch (addr->family) {
	case AF_INET:
	case AF_INET6:
		r = inet_to_wire(addr, wire);
		break;
	case AF_UNIX:
		r = unix_to_wire(addr, wire);
		break;
	case AF_NETLINK:
		r = netlink_to_wire(addr, wire);
		break;
	case AF_PACKET:
		r = packet_to_wire(addr, wire);
		break;
	case AF_ALG:
		r = alg_to_wire(addr, wire);
		break;
	case AF_VSOCK:
		r = vsock_to_wire(addr, wire);
		break;
	case AF_CAN:
		r = can_to_wire(addr, wire);
		break;
	case AF_TIPC:
		r = tipc_to_wire(addr, wire);
		break;
	default:
		r = raw_to_wire(addr, wire);
		break;
	}
	if (r < 0) {
		free(wire);
		return r;
	}
	*out = &wire->address;
	return 0;
}

void
sb__addr_wire_free(struct Sockbroker__V1__Address *wire)
{
	free(wire);
}

static void
copy_host(struct sb_addr *addr, const char *host)
{
	if (host != NULL)
		snprintf(addr->host, sizeof(addr->host), "%s", host);
}

/* A string from the daemon into a char array, cut to fit with its NUL. */
static void
copy_truncated(char *to, size_t size, const char *from)
{
	if (from != NULL)
		snprintf(to, size, "%s", from);
}

static void
copy_path(struct sb_addr *addr, ProtobufCBinaryData bytes)
{
	addr->path_len = bytes.len < sizeof(addr->path) ? bytes.len : sizeof(addr->path);
	if (addr->path_len > 0)
		memcpy(addr->path, bytes.data, addr->path_len);
}

/* sb__addr_from_wire() for AF_PACKET. */
static void
packet_from_wire(struct sb_addr *addr, const Sockbroker__V1__PacketAddress *packet)
{
	addr->family = AF_PACKET;
	copy_truncated(addr->packet.ifname, sizeof(addr->packet.ifname), packet->ifname);
	addr->packet.proto = (uint16_t)packet->proto;
	addr->packet.pkttype = (uint8_t)packet->pkttype;
	addr->packet.hatype = (uint16_t)packet->hatype;
	addr->packet.addr_len = packet->addr.len < sizeof(addr->packet.addr)
					? packet->addr.len
					: sizeof(addr->packet.addr);
	if (addr->packet.addr_len > 0)
		memcpy(addr->packet.addr, packet->addr.data, addr->packet.addr_len);
}

/* sb__addr_from_wire() for AF_CAN. */
static void
can_from_wire(struct sb_addr *addr, const Sockbroker__V1__CanAddress *can)
{
	addr->family = AF_CAN;
	copy_truncated(addr->can.ifname, sizeof(addr->can.ifname), can->ifname);
	if (can->has_j1939_name || can->has_j1939_pgn || can->has_j1939_addr) {
		addr->can.form = SB_CAN_J1939;
		addr->can.j1939_name = can->j1939_name;
		addr->can.j1939_pgn = can->j1939_pgn;
		addr->can.j1939_addr = (uint8_t)can->j1939_addr;
	} else if (can->has_rx_addr || can->has_tx_addr) {
		addr->can.form = SB_CAN_ISOTP;
		addr->can.rx_addr = can->rx_addr;
		addr->can.tx_addr = can->tx_addr;
	}
}

void
sb__addr_from_wire(struct sb_addr *addr, const struct Sockbroker__V1__Address *wire)
{
	memset(addr, 0, sizeof(*addr));
	addr->family = AF_UNSPEC;
	if (wire == NULL)
		return;

	switch (wire->family_case) {
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET:
		addr->family = AF_INET;
		copy_host(addr, wire->af_inet->host);
		addr->port = (uint16_t)wire->af_inet->port;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6:
		addr->family = AF_INET6;
		copy_host(addr, wire->af_inet6->host);
		addr->port = (uint16_t)wire->af_inet6->port;
		addr->flowinfo = wire->af_inet6->flowinfo;
		addr->scope_id = wire->af_inet6->scope_id;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX:
		addr->family = AF_UNIX;
		if (wire->af_unix->name_case == SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT) {
			addr->abstract = true;
			copy_path(addr, wire->af_unix->abstract);
			if (addr->path_len > ABSTRACT_NAME_MAX)
				addr->path_len = ABSTRACT_NAME_MAX;
		} else if (wire->af_unix->name_case == SOCKBROKER__V1__UNIX_ADDRESS__NAME_PATH) {
			copy_path(addr, wire->af_unix->path);
		}
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_NETLINK:
		addr->family = AF_NETLINK;
		addr->netlink.pid = wire->af_netlink->pid;
		addr->netlink.groups = wire->af_netlink->groups;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET:
		packet_from_wire(addr, wire->af_packet);
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG:
		addr->family = AF_ALG;
		copy_truncated(addr->alg.type, sizeof(addr->alg.type), wire->af_alg->type);
		copy_truncated(addr->alg.name, sizeof(addr->alg.name), wire->af_alg->name);
		addr->alg.feat = wire->af_alg->feat;
		addr->alg.mask = wire->af_alg->mask;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK:
		addr->family = AF_VSOCK;
		addr->vsock.cid = wire->af_vsock->cid;
		addr->vsock.port = wire->af_vsock->port;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN:
		can_from_wire(addr, wire->af_can);
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC:
		addr->family = AF_TIPC;
		addr->tipc.addr_type = wire->af_tipc->addr_type;
		addr->tipc.v1 = wire->af_tipc->v1;
		addr->tipc.v2 = wire->af_tipc->v2;
		addr->tipc.v3 = wire->af_tipc->v3;
		addr->tipc.scope =
			wire->af_tipc->has_scope ? wire->af_tipc->scope : TIPC_CLUSTER_SCOPE_VALUE;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_RAW:
		addr->family = wire->raw->family;
		addr->raw_len = wire->raw->data.len < sizeof(addr->raw) ? wire->raw->data.len
									 : sizeof(addr->raw);
		if (addr->raw_len > 0)
			memcpy(addr->raw, wire->raw->data.data, addr->raw_len);
		break;
	default:
		break;
	}
}
