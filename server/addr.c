#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/can.h>
#include <linux/if_alg.h>
#include <linux/netlink.h>
#include <linux/tipc.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "family.h"

/* The lengths the kernel's CAN protocols give for their addresses (its
 * CAN_REQUIRED_SIZE): CAN_RAW and CAN_BCM stop after the interface index,
 * CAN_ISOTP after the rx/tx ids, CAN_J1939 after name/pgn/addr. A sockaddr
 * does not say which protocol made it; its length does. */
#define CAN_LEN_ISOTP                                 \
	(offsetof(struct sockaddr_can, can_addr.tp) + \
	 sizeof(((struct sockaddr_can *)0)->can_addr.tp))
#define CAN_LEN_J1939                                    \
	(offsetof(struct sockaddr_can, can_addr.j1939) + \
	 sizeof(((struct sockaddr_can *)0)->can_addr.j1939))

/* An interface name's index in the daemon's namespace; "" is 0, which the
 * packet and CAN families take as "any interface". Returns the index or
 * -errno (-ENODEV: no such interface). */
static int
interface_index(const char *ifname)
{
	if (strnlen(ifname, ADDRESS_IFNAME_MAX) == ADDRESS_IFNAME_MAX)
		return -EINVAL;
	if (ifname[0] == '\0')
		return 0;
	unsigned index = if_nametoindex(ifname);
	if (index == 0)
		return -errno;
	return (int)index;
}

/* The name of interface `index`, or "" for index 0 and for an interface
 * that is gone, as the reference reports them. */
static void
interface_name(int index, char name[ADDRESS_IFNAME_MAX])
{
	name[0] = '\0';
	if (index <= 0 || !if_indextoname((unsigned)index, name))
		name[0] = '\0';
}

/* A sockaddr the kernel gave may be shorter than its family's struct (CAN
 * protocols stop early): read it into a zeroed struct of full size. */
static void
copy_sockaddr(void *to, size_t size, const struct sockaddr *sa, socklen_t len)
{
	memset(to, 0, size);
	memcpy(to, sa, (size_t)len < size ? (size_t)len : size);
}

/* A "%scope" suffix on an IPv6 host: split it off and turn it into an
 * interface index (a number or an interface name). */
static int
split_scope(const char *host, char *bare, size_t bare_len, uint32_t *scope_id)
{
	const char *percent = strchr(host, '%');
	if (!percent) {
		snprintf(bare, bare_len, "%s", host);
		return 0;
	}
	size_t n = (size_t)(percent - host);
	if (n >= bare_len)
		return -EINVAL;
	memcpy(bare, host, n);
	bare[n] = '\0';
	const char *scope = percent + 1;
	char *end;
	unsigned long value = strtoul(scope, &end, 10);
	if (*scope && !*end && value <= UINT32_MAX) {
		*scope_id = (uint32_t)value;
		return 0;
	}
	unsigned index = if_nametoindex(scope);
	if (index == 0)
		return -EINVAL;
	*scope_id = index;
	return 0;
}

/* addr_to_sockaddr() for AF_INET. */
static int
inet_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(addr->inet.port);
	out->len = sizeof(*sin);
	const char *host = addr->inet.host;
	if (host[0] == '\0') {
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (strcmp(host, "<broadcast>") == 0) {
		sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1)
		return 0;
	return ADDR_NEEDS_RESOLVE;
}

/* addr_to_sockaddr() for AF_INET6. */
static int
inet6_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
	char bare[ADDRESS_HOST_MAX];
	uint32_t scope_id = addr->inet.scope_id;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(addr->inet.port);
	sin6->sin6_flowinfo = htonl(addr->inet.flowinfo);
	out->len = sizeof(*sin6);
	if (addr->inet.host[0] == '\0') {
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_scope_id = scope_id;
		return 0;
	}
	if (split_scope(addr->inet.host, bare, sizeof(bare), &scope_id) == 0 &&
	    inet_pton(AF_INET6, bare, &sin6->sin6_addr) == 1) {
		sin6->sin6_scope_id = scope_id;
		return 0;
	}
	sin6->sin6_scope_id = scope_id;
	return ADDR_NEEDS_RESOLVE;
}

/* addr_to_sockaddr() for AF_UNIX. */
static int
unix_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
	sun->sun_family = AF_UNIX;
	size_t offset = addr->un.abstract ? 1 : 0;
	if (addr->un.len + offset > sizeof(sun->sun_path))
		return -EINVAL;
	memcpy(sun->sun_path + offset, addr->un.path, addr->un.len);
	out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + offset +
			       addr->un.len);
	/* A filesystem path is NUL-terminated when there is room, as the
	 * reference passes it. */
	if (!addr->un.abstract && addr->un.len > 0 &&
	    addr->un.len < sizeof(sun->sun_path))
		out->len++;
	return 0;
}

/* addr_to_sockaddr() for AF_NETLINK. */
static int
netlink_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_nl *nl = (struct sockaddr_nl *)&out->ss;
	nl->nl_family = AF_NETLINK;
	nl->nl_pid = addr->netlink.pid;
	nl->nl_groups = addr->netlink.groups;
	out->len = sizeof(*nl);
	return 0;
}

/* addr_to_sockaddr() for AF_PACKET. */
static int
packet_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_ll *ll = (struct sockaddr_ll *)&out->ss;
	if (addr->packet.halen > sizeof(ll->sll_addr))
		return -EINVAL;
	int index = interface_index(addr->packet.ifname);
	if (index < 0)
		return index;
	ll->sll_family = AF_PACKET;
	ll->sll_protocol = htons(addr->packet.proto);
	ll->sll_ifindex = index;
	ll->sll_hatype = addr->packet.hatype;
	ll->sll_pkttype = addr->packet.pkttype;
	ll->sll_halen = addr->packet.halen;
	memcpy(ll->sll_addr, addr->packet.addr, addr->packet.halen);
	out->len = sizeof(*ll);
	return 0;
}

/* addr_to_sockaddr() for AF_ALG. */
static int
alg_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_alg *alg = (struct sockaddr_alg *)&out->ss;
	/* Both names must end in a NUL inside their arrays. */
	size_t type_len = strnlen(addr->alg.type, sizeof(alg->salg_type));
	size_t name_len = strnlen(addr->alg.name, sizeof(alg->salg_name));
	if (type_len == sizeof(alg->salg_type) || name_len == sizeof(alg->salg_name))
		return -EINVAL;
	alg->salg_family = AF_ALG;
	memcpy(alg->salg_type, addr->alg.type, type_len);
	memcpy(alg->salg_name, addr->alg.name, name_len);
	alg->salg_feat = addr->alg.feat;
	alg->salg_mask = addr->alg.mask;
	out->len = sizeof(*alg);
	return 0;
}

/* addr_to_sockaddr() for AF_VSOCK. */
static int
vsock_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_vm *vm = (struct sockaddr_vm *)&out->ss;
	vm->svm_family = AF_VSOCK;
	vm->svm_cid = addr->vsock.cid;
	vm->svm_port = addr->vsock.port;
	out->len = sizeof(*vm);
	return 0;
}

/* addr_to_sockaddr() for AF_CAN. */
static int
can_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_can *can = (struct sockaddr_can *)&out->ss;
	int index = interface_index(addr->can.ifname);
	if (index < 0)
		return index;
	can->can_family = AF_CAN;
	can->can_ifindex = index;
	if (addr->can.form == ADDRESS_CAN_ISOTP) {
		can->can_addr.tp.rx_id = addr->can.rx_id;
		can->can_addr.tp.tx_id = addr->can.tx_id;
	} else if (addr->can.form == ADDRESS_CAN_J1939) {
		can->can_addr.j1939.name = addr->can.j1939_name;
		can->can_addr.j1939.pgn = addr->can.j1939_pgn;
		can->can_addr.j1939.addr = addr->can.j1939_addr;
	}
	/* The whole struct, as the reference passes it: every CAN
	 * protocol accepts it. */
	out->len = sizeof(*can);
	return 0;
}

/* addr_to_sockaddr() for AF_TIPC. */
static int
tipc_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	struct sockaddr_tipc *tipc = (struct sockaddr_tipc *)&out->ss;
	tipc->family = AF_TIPC;
	tipc->addrtype = addr->tipc.addr_type;
	tipc->scope = addr->tipc.scope;
	switch (addr->tipc.addr_type) {
	case TIPC_ADDR_NAMESEQ:
		tipc->addr.nameseq.type = addr->tipc.v1;
		tipc->addr.nameseq.lower = addr->tipc.v2;
		tipc->addr.nameseq.upper = addr->tipc.v3;
		break;
	case TIPC_ADDR_NAME:
		tipc->addr.name.name.type = addr->tipc.v1;
		tipc->addr.name.name.instance = addr->tipc.v2;
		tipc->addr.name.domain = addr->tipc.v3;
		break;
	case TIPC_ADDR_ID:
		tipc->addr.id.node = addr->tipc.v1;
		tipc->addr.id.ref = addr->tipc.v2;
		break;
	default:
		return -EINVAL;
	}
	out->len = sizeof(*tipc);
	return 0;
}

int
addr_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	memset(out, 0, sizeof(*out));
	switch (addr->family) {
	case AF_INET:
		return inet_to_sockaddr(addr, out);
	case AF_INET6:
		return inet6_to_sockaddr(addr, out);
	case AF_UNIX:
		return unix_to_sockaddr(addr, out);
	case AF_NETLINK:
		return netlink_to_sockaddr(addr, out);
	case AF_PACKET:
		return packet_to_sockaddr(addr, out);
	case AF_ALG:
		return alg_to_sockaddr(addr, out);
	case AF_VSOCK:
		return vsock_to_sockaddr(addr, out);
	case AF_CAN:
		return can_to_sockaddr(addr, out);
	case AF_TIPC:
		return tipc_to_sockaddr(addr, out);
	default:
		if (addr->family < 0 || addr->family > 0xffff ||
		    addr->raw.len > sizeof(out->ss) - sizeof(sa_family_t))
			return -EINVAL;
		out->ss.ss_family = (sa_family_t)addr->family;
		memcpy((char *)&out->ss + sizeof(sa_family_t), addr->raw.data, addr->raw.len);
		out->len = (socklen_t)(sizeof(sa_family_t) + addr->raw.len);
		return 0;
	}
}

void
addr_apply_resolved(const struct address *addr, const struct sockaddr *resolved,
		    struct sockaddr_buf *out)
{
	memset(out, 0, sizeof(*out));
	if (resolved->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
		memcpy(sin, resolved, sizeof(*sin));
		sin->sin_port = htons(addr->inet.port);
		out->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
		memcpy(sin6, resolved, sizeof(*sin6));
		sin6->sin6_port = htons(addr->inet.port);
		sin6->sin6_flowinfo = htonl(addr->inet.flowinfo);
		if (addr->inet.scope_id)
			sin6->sin6_scope_id = addr->inet.scope_id;
		out->len = sizeof(*sin6);
	}
}

/* addr_from_sockaddr() for AF_INET. */
static void
inet_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	inet_ntop(AF_INET, &sin->sin_addr, out->inet.host, sizeof(out->inet.host));
	out->inet.port = ntohs(sin->sin_port);
	return;
}

/* addr_from_sockaddr() for AF_INET6. */
static void
inet6_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	inet_ntop(AF_INET6, &sin6->sin6_addr, out->inet.host, sizeof(out->inet.host));
	out->inet.port = ntohs(sin6->sin6_port);
	out->inet.flowinfo = ntohl(sin6->sin6_flowinfo);
	out->inet.scope_id = sin6->sin6_scope_id;
	return;
}

/* addr_from_sockaddr() for AF_UNIX. */
static void
unix_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	size_t n = len > offsetof(struct sockaddr_un, sun_path)
			   ? len - offsetof(struct sockaddr_un, sun_path)
			   : 0;
	if (n > sizeof(sun->sun_path))
		n = sizeof(sun->sun_path);
	if (n > 0 && sun->sun_path[0] == '\0') {
		out->un.abstract = true;
		out->un.len = n - 1;
		memcpy(out->un.path, sun->sun_path + 1, n - 1);
	} else {
		/* Paths come back NUL-terminated; the name stops there. */
		out->un.len = strnlen(sun->sun_path, n);
		memcpy(out->un.path, sun->sun_path, out->un.len);
	}
	return;
}

/* addr_from_sockaddr() for AF_NETLINK. */
static void
netlink_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	struct sockaddr_nl nl;
	copy_sockaddr(&nl, sizeof(nl), sa, len);
	out->netlink.pid = nl.nl_pid;
	out->netlink.groups = nl.nl_groups;
	return;
}

/* addr_from_sockaddr() for AF_PACKET. */
static void
packet_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	struct sockaddr_ll ll;
	copy_sockaddr(&ll, sizeof(ll), sa, len);
	interface_name(ll.sll_ifindex, out->packet.ifname);
	out->packet.proto = ntohs(ll.sll_protocol);
	out->packet.pkttype = ll.sll_pkttype;
	out->packet.hatype = ll.sll_hatype;
	out->packet.halen =
		ll.sll_halen < sizeof(ll.sll_addr) ? ll.sll_halen : sizeof(ll.sll_addr);
	memcpy(out->packet.addr, ll.sll_addr, out->packet.halen);
	return;
}

/* addr_from_sockaddr() for AF_ALG. */
static void
alg_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	struct sockaddr_alg alg;
	copy_sockaddr(&alg, sizeof(alg), sa, len);
	memcpy(out->alg.type, alg.salg_type,
	       strnlen((const char *)alg.salg_type, sizeof(alg.salg_type) - 1));
	memcpy(out->alg.name, alg.salg_name,
	       strnlen((const char *)alg.salg_name, sizeof(alg.salg_name) - 1));
	out->alg.feat = alg.salg_feat;
	out->alg.mask = alg.salg_mask;
	return;
}

/* addr_from_sockaddr() for AF_VSOCK. */
static void
vsock_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	struct sockaddr_vm vm;
	copy_sockaddr(&vm, sizeof(vm), sa, len);
	out->vsock.cid = vm.svm_cid;
	out->vsock.port = vm.svm_port;
	return;
}

/* addr_from_sockaddr() for AF_CAN. */
static void
can_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	struct sockaddr_can can;
	copy_sockaddr(&can, sizeof(can), sa, len);
	interface_name(can.can_ifindex, out->can.ifname);
	if ((size_t)len >= CAN_LEN_J1939) {
		out->can.form = ADDRESS_CAN_J1939;
		out->can.j1939_name = can.can_addr.j1939.name;
		out->can.j1939_pgn = can.can_addr.j1939.pgn;
		out->can.j1939_addr = can.can_addr.j1939.addr;
	} else if ((size_t)len >= CAN_LEN_ISOTP) {
		out->can.form = ADDRESS_CAN_ISOTP;
		out->can.rx_id = can.can_addr.tp.rx_id;
		out->can.tx_id = can.can_addr.tp.tx_id;
	}
	return;
}

/* addr_from_sockaddr() for AF_TIPC. */
static void
tipc_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	struct sockaddr_tipc tipc;
	copy_sockaddr(&tipc, sizeof(tipc), sa, len);
	out->tipc.addr_type = tipc.addrtype;
	out->tipc.scope = tipc.scope;
	switch (tipc.addrtype) {
	case TIPC_ADDR_NAMESEQ:
		out->tipc.v1 = tipc.addr.nameseq.type;
		out->tipc.v2 = tipc.addr.nameseq.lower;
		out->tipc.v3 = tipc.addr.nameseq.upper;
		break;
	case TIPC_ADDR_NAME:
		out->tipc.v1 = tipc.addr.name.name.type;
		out->tipc.v2 = tipc.addr.name.name.instance;
		out->tipc.v3 = tipc.addr.name.domain;
		break;
	case TIPC_ADDR_ID:
		out->tipc.v1 = tipc.addr.id.node;
		out->tipc.v2 = tipc.addr.id.ref;
		break;
	default:
		break;
	}
	return;
}

void
addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out)
{
	memset(out, 0, sizeof(*out));
	if (len < (socklen_t)sizeof(sa_family_t)) {
		/* The kernel gave no address (an unnamed peer): report an
		 * unnamed AF_UNIX-like empty raw address of family 0. */
		out->family = AF_UNSPEC;
		return;
	}
	out->family = sa->sa_family;
	switch (sa->sa_family) {
	case AF_INET:
		inet_from_sockaddr(sa, len, out);
		return;
	case AF_INET6:
		inet6_from_sockaddr(sa, len, out);
		return;
	case AF_UNIX:
		unix_from_sockaddr(sa, len, out);
		return;
	case AF_NETLINK:
		netlink_from_sockaddr(sa, len, out);
		return;
	case AF_PACKET:
		packet_from_sockaddr(sa, len, out);
		return;
	case AF_ALG:
		alg_from_sockaddr(sa, len, out);
		return;
	case AF_VSOCK:
		vsock_from_sockaddr(sa, len, out);
		return;
	case AF_CAN:
		can_from_sockaddr(sa, len, out);
		return;
	case AF_TIPC:
		tipc_from_sockaddr(sa, len, out);
		return;
	default: {
		size_t n = (size_t)len - sizeof(sa_family_t);
		if (n > sizeof(out->raw.data))
			n = sizeof(out->raw.data);
		out->raw.len = n;
		memcpy(out->raw.data, (const char *)sa + sizeof(sa_family_t), n);
		return;
	}
	}
}

void
addr_format(const struct address *addr, char *buf, size_t len)
{
	switch (addr->family) {
	case AF_INET:
		snprintf(buf, len, "%s:%u", addr->inet.host[0] ? addr->inet.host : "0.0.0.0",
			 addr->inet.port);
		break;
	case AF_INET6:
		snprintf(buf, len, "[%s]:%u", addr->inet.host[0] ? addr->inet.host : "::",
			 addr->inet.port);
		break;
	case AF_UNIX:
		if (addr->un.len == 0)
			snprintf(buf, len, "(unnamed)");
		else
			snprintf(buf, len, "%s%.*s", addr->un.abstract ? "@" : "",
				 (int)addr->un.len, (const char *)addr->un.path);
		break;
	case AF_NETLINK:
		snprintf(buf, len, "netlink %u/%u", addr->netlink.pid, addr->netlink.groups);
		break;
	case AF_PACKET:
		snprintf(buf, len, "packet %s 0x%04x",
			 addr->packet.ifname[0] ? addr->packet.ifname : "(any)",
			 addr->packet.proto);
		break;
	case AF_ALG:
		snprintf(buf, len, "alg %s %s", addr->alg.type, addr->alg.name);
		break;
	case AF_VSOCK:
		snprintf(buf, len, "vsock %u:%u", addr->vsock.cid, addr->vsock.port);
		break;
	case AF_CAN:
		snprintf(buf, len, "can %s", addr->can.ifname[0] ? addr->can.ifname : "(any)");
		break;
	case AF_TIPC:
		snprintf(buf, len, "tipc %u %u/%u/%u", addr->tipc.addr_type, addr->tipc.v1,
			 addr->tipc.v2, addr->tipc.v3);
		break;
	default:
		snprintf(buf, len, "(family %d, %zu bytes)", addr->family, addr->raw.len);
		break;
	}
}

void
addr_describe_failure(const struct address *addr, int r, char *buf, size_t len)
{
	const char *ifname = addr->family == AF_PACKET ? addr->packet.ifname
			     : addr->family == AF_CAN  ? addr->can.ifname
						       : NULL;
	const char *family = family_name(addr->family);

	if (r == -ENODEV && ifname)
		snprintf(buf, len,
			 "%s: the daemon's host has no network interface named \"%.*s\" "
			 "(if_nameindex lists them)",
			 strerror(ENODEV), ADDRESS_IFNAME_MAX, ifname);
	else if (r != -EINVAL && ifname)
		snprintf(buf, len, "%s: looking up network interface \"%.*s\"", strerror(-r),
			 ADDRESS_IFNAME_MAX, ifname);
	else if (family)
		snprintf(buf, len, "the address does not fit an %s sockaddr", family);
	else
		snprintf(buf, len,
			 "the address of family %d does not fit a sockaddr (family "
			 "0-65535, at most %zu bytes)",
			 addr->family, sizeof(struct sockaddr_storage) - sizeof(sa_family_t));
}

void
addr_format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	struct address addr;
	addr_from_sockaddr(sa, len, &addr);
	addr_format(&addr, buf, buflen);
}
