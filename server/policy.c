#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "constants.h"
#include "errname.h"
#include "family.h"

static const char *const op_names[POLICY_OP__COUNT] = {
	[POLICY_OP_CREATE] = "create",
	[POLICY_OP_CONNECT] = "connect",
	[POLICY_OP_BIND] = "bind",
	[POLICY_OP_LISTEN] = "listen",
	[POLICY_OP_SEND_TO] = "send-to",
	[POLICY_OP_RESOLVE] = "resolve",
	[POLICY_OP_SETHOSTNAME] = "sethostname",
	[POLICY_OP_INTERFACES] = "interfaces",
	[POLICY_OP_SOCKOPT] = "sockopt",
	[POLICY_OP_HANDOFF] = "handoff",
};

static const char *const transport_names[POLICY_TRANSPORT__COUNT] = {
	[POLICY_TRANSPORT_IPC] = "ipc",
	[POLICY_TRANSPORT_ABSTRACT] = "abstract",
	[POLICY_TRANSPORT_TCP] = "tcp",
	[POLICY_TRANSPORT_TLS] = "tls+tcp",
};

const char *
policy_op_name(enum policy_op op)
{
	return (unsigned)op < POLICY_OP__COUNT ? op_names[op] : "unknown";
}

const char *
policy_transport_name(enum policy_transport transport)
{
	return (unsigned)transport < POLICY_TRANSPORT__COUNT ? transport_names[transport]
							      : "unknown";
}

int
policy_default_errno(enum policy_op op)
{
	switch (op) {
	case POLICY_OP_CREATE:
	case POLICY_OP_SETHOSTNAME:
	case POLICY_OP_SOCKOPT:
		return EPERM;
	default:
		return EACCES;
	}
}

/* ---- matching ------------------------------------------------------------ */

static bool
identity_matches(const struct policy_identity_match *m, const struct policy_identity *id)
{
	if (m->transports && !(m->transports & (1u << id->transport)))
		return false;
	if (m->tls >= 0 && (int)id->tls_verified != m->tls)
		return false;
	if (m->n_uids) {
		bool found = false;
		for (size_t i = 0; id->has_credentials && i < m->n_uids && !found; i++)
			found = m->uids[i] == id->uid;
		if (!found)
			return false;
	}
	if (m->n_gids) {
		bool found = false;
		for (size_t i = 0; id->has_credentials && i < m->n_gids && !found; i++)
			found = m->gids[i] == id->gid;
		if (!found)
			return false;
	}
	if (m->n_tokens) {
		bool found = false;
		for (size_t i = 0; id->token_name && i < m->n_tokens && !found; i++)
			found = strcmp(m->tokens[i], "*") == 0 ||
				strcmp(m->tokens[i], id->token_name) == 0;
		if (!found)
			return false;
	}
	return true;
}

/*
 * The IP address and port a request names, as the kernel will use it, and every IPv4 address
 * embedded in it. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it
 * carries: the kernel sends to the IPv4 host. The other forms that embed an IPv4 address
 * (SIIT ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4
 * 2002:AABB:CCDD::/48) reach a translator that may forward to that IPv4 host, so a denial
 * about the IPv4 address holds for them too (see rule_matches()).
 */
struct ip_view {
	int family;
	uint8_t addr[16];
	uint16_t port;
	bool has_embedded; /* an IPv6 address that embeds an IPv4 one (not the mapped form) */
	uint8_t embedded[4];
};

/* The IPv4 address an IPv6 address embeds in one of the translation forms, if any. */
static bool
embedded_ipv4(const uint8_t *a, uint8_t out[4])
{
	static const uint8_t siit[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const uint8_t zero[12] = { 0 };

	if (memcmp(a, siit, 12) == 0 || memcmp(a, nat64, 12) == 0) {
		memcpy(out, a + 12, 4);
		return true;
	}
	/* IPv4-compatible (deprecated, RFC 4291), but not :: and ::1, which are not IPv4. */
	if (memcmp(a, zero, 12) == 0 && !(a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1)) {
		memcpy(out, a + 12, 4);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:V4ADDR::/48 */
		memcpy(out, a + 2, 4);
		return true;
	}
	return false;
}

static bool
ip_view_of(const struct sockaddr *sa, socklen_t len, struct ip_view *out)
{
	static const uint8_t mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!sa)
		return false;
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		out->family = AF_INET;
		memcpy(out->addr, &in->sin_addr, 4);
		out->port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		out->port = ntohs(in6->sin6_port);
		if (memcmp(in6->sin6_addr.s6_addr, mapped_prefix, sizeof(mapped_prefix)) == 0) {
			out->family = AF_INET;
			memcpy(out->addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			out->family = AF_INET6;
			memcpy(out->addr, in6->sin6_addr.s6_addr, 16);
			out->has_embedded = embedded_ipv4(out->addr, out->embedded);
		}
		return true;
	}
	return false;
}

static bool
prefix_matches(const struct policy_cidr *cidr, const uint8_t *addr)
{
	unsigned full = cidr->prefix / 8, rest = cidr->prefix % 8;
	if (memcmp(cidr->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (cidr->addr[full] & mask) == (addr[full] & mask);
}

/*
 * Whether `cidr` holds for `ip`. A denial also holds for the IPv4 address an IPv6 one embeds
 * (64:ff9b::a9fe:a9fe is the metadata address behind a NAT64 gateway); an allowance does not
 * widen that way: an allow rule for 10.0.0.0/8 does not admit 2002:a00:1::1, which goes to a
 * 6to4 relay, not to 10.0.0.1.
 */
static bool
cidr_contains(const struct policy_cidr *cidr, const struct ip_view *ip, bool denial)
{
	if (cidr->family == ip->family && prefix_matches(cidr, ip->addr))
		return true;
	return denial && cidr->family == AF_INET && ip->has_embedded &&
	       prefix_matches(cidr, ip->embedded);
}

/* A path rule: "/dir/" holds everything below the directory, "@pattern" an
 * abstract name (fnmatch), anything else the exact path. */
static bool
unix_path_matches(const char *rule, const char *path)
{
	size_t n = strlen(rule);
	if (rule[0] == '@')
		return path[0] == '@' && fnmatch(rule + 1, path + 1, 0) == 0;
	if (path[0] != '/')
		return false;
	if (n > 0 && rule[n - 1] == '/')
		return strncmp(rule, path, n) == 0 && path[n] != '\0';
	return strcmp(rule, path) == 0;
}

static bool
rule_matches(const struct policy_rule *rule, const struct policy_identity *id,
	     const struct policy_request *req)
{
	if (!identity_matches(&rule->who, id))
		return false;
	if (rule->ops && !(rule->ops & (1u << req->op)))
		return false;

	/* A condition on something the request does not have does not hold. */
	if (rule->families || rule->types || rule->n_protos) {
		if (!req->has_socket)
			return false;
		if (rule->families && (req->family < 0 || req->family >= 64 ||
				       !(rule->families & (1ull << req->family))))
			return false;
		if (rule->types && (req->type < 0 || req->type >= 32 ||
				    !(rule->types & (1u << req->type))))
			return false;
		if (rule->n_protos) {
			bool found = false;
			for (size_t i = 0; i < rule->n_protos && !found; i++)
				found = rule->protos[i] == req->proto;
			if (!found)
				return false;
		}
	}

	if (rule->n_addresses || rule->n_ports) {
		struct ip_view ip;
		if (!ip_view_of(req->addr, req->addrlen, &ip))
			return false;
		if (rule->n_addresses) {
			bool found = false;
			for (size_t i = 0; i < rule->n_addresses && !found; i++)
				found = cidr_contains(&rule->addresses[i], &ip, !rule->allow);
			if (!found)
				return false;
		}
		if (rule->n_ports) {
			bool found = false;
			for (size_t i = 0; i < rule->n_ports && !found; i++)
				found = ip.port >= rule->ports[i].lo && ip.port <= rule->ports[i].hi;
			if (!found)
				return false;
		}
	}

	if (rule->n_unix_paths) {
		bool found = false;
		for (size_t i = 0; req->unix_path && i < rule->n_unix_paths && !found; i++)
			found = unix_path_matches(rule->unix_paths[i], req->unix_path);
		if (!found)
			return false;
	}

	if (rule->n_sockopts) {
		bool found = false;
		for (size_t i = 0; req->op == POLICY_OP_SOCKOPT && i < rule->n_sockopts && !found;
		     i++)
			found = rule->sockopts[i].level == req->level &&
				(rule->sockopts[i].optname < 0 ||
				 rule->sockopts[i].optname == req->optname);
		if (!found)
			return false;
	}

	if (rule->n_hosts) {
		bool found = false;
		for (size_t i = 0; req->host && i < rule->n_hosts && !found; i++)
			found = fnmatch(rule->hosts[i], req->host, FNM_CASEFOLD) == 0;
		if (!found)
			return false;
	}
	return true;
}

void
policy_check(const struct policy *policy, const struct policy_identity *identity,
	     const struct policy_request *request, struct policy_decision *decision)
{
	for (size_t i = 0; i < policy->n_rules; i++) {
		const struct policy_rule *rule = &policy->rules[i];
		if (!rule_matches(rule, identity, request))
			continue;
		decision->allow = rule->allow;
		decision->rule = rule->name;
		decision->errnum =
			rule->allow ? 0 : rule->errnum ? rule->errnum : policy_default_errno(request->op);
		return;
	}
	decision->allow = false;
	decision->rule = "default-deny";
	decision->errnum = policy_default_errno(request->op);
}

const struct policy_quota *
policy_quota_for(const struct policy *policy, const struct policy_identity *identity)
{
	for (size_t i = 0; i < policy->n_quotas; i++)
		if (identity_matches(&policy->quotas[i].who, identity))
			return &policy->quotas[i];
	return NULL;
}

/*
 * Capabilities are worked out by asking the policy itself: for each allow
 * rule, an identity that meets the rule's identity conditions asks for what
 * needs a capability (a bind below 1024, a raw socket, SO_MARK, ...) in a form
 * the rule's other conditions admit. A rule shadowed by an earlier denial
 * (the default's "deny-privileged-bind") then needs nothing.
 */
static void
identity_for(const struct policy_rule *rule, struct policy_identity *id)
{
	memset(id, 0, sizeof(*id));
	for (unsigned t = 0; t < POLICY_TRANSPORT__COUNT; t++)
		if (rule->who.transports & (1u << t)) {
			id->transport = (enum policy_transport)t;
			break;
		}
	id->has_credentials = true;
	id->uid = rule->who.n_uids ? rule->who.uids[0] : 65534;
	id->gid = rule->who.n_gids ? rule->who.gids[0] : 65534;
	id->token_name = rule->who.n_tokens ? rule->who.tokens[0] : NULL;
	id->tls_verified = rule->who.tls == 1;
}

static bool
allowed(const struct policy *policy, const struct policy_identity *id,
	const struct policy_request *req)
{
	struct policy_decision d;
	policy_check(policy, id, req, &d);
	return d.allow;
}

bool
policy_could_allow(const struct policy *policy, const struct policy_request *request)
{
	for (size_t i = 0; i < policy->n_rules; i++) {
		struct policy_identity id;
		if (!policy->rules[i].allow)
			continue;
		identity_for(&policy->rules[i], &id);
		if (allowed(policy, &id, request))
			return true;
	}
	return false;
}

/* Whether `id` may bind a port below 1024 in a form `rule` admits. */
static bool
may_bind_low(const struct policy *policy, const struct policy_rule *rule,
	     const struct policy_identity *id)
{
	unsigned port = 0;
	if (!rule->n_ports)
		port = 80;
	for (size_t i = 0; i < rule->n_ports && !port; i++)
		if (rule->ports[i].lo < 1024 && rule->ports[i].hi >= 1)
			port = rule->ports[i].lo ? rule->ports[i].lo : 1;
	if (!port)
		return false;
	static const int families[] = { AF_INET, AF_INET6 };
	for (size_t f = 0; f < 2; f++) {
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };
		for (size_t i = 0; i < rule->n_addresses; i++) {
			if (rule->addresses[i].family != families[f])
				continue;
			memcpy(&in.sin_addr, rule->addresses[i].addr, 4);
			memcpy(&in6.sin6_addr, rule->addresses[i].addr, 16);
			break;
		}
		struct policy_request req = {
			.op = POLICY_OP_BIND,
			.has_socket = true,
			.family = families[f],
			.type = SOCK_STREAM,
			.proto = rule->n_protos ? rule->protos[0] : 0,
			.addr = families[f] == AF_INET ? (const struct sockaddr *)&in
						       : (const struct sockaddr *)&in6,
			.addrlen = families[f] == AF_INET ? sizeof(in) : sizeof(in6),
		};
		if (rule->types && !(rule->types & (1u << SOCK_STREAM)))
			req.type = SOCK_DGRAM;
		if (allowed(policy, id, &req))
			return true;
	}
	return false;
}

unsigned
policy_needed_caps(const struct policy *policy)
{
	unsigned caps = 0;
	for (size_t i = 0; i < policy->n_rules; i++) {
		const struct policy_rule *rule = &policy->rules[i];
		struct policy_identity id;
		if (!rule->allow)
			continue;
		identity_for(rule, &id);
		if (may_bind_low(policy, rule, &id))
			caps |= POLICY_CAP_NET_BIND_SERVICE;

		struct policy_request raw[] = {
			{ .op = POLICY_OP_CREATE, .has_socket = true, .family = AF_INET,
			  .type = SOCK_RAW, .proto = IPPROTO_ICMP },
			{ .op = POLICY_OP_CREATE, .has_socket = true, .family = AF_INET6,
			  .type = SOCK_RAW, .proto = IPPROTO_ICMPV6 },
			{ .op = POLICY_OP_CREATE, .has_socket = true, .family = AF_PACKET,
			  .type = SOCK_RAW, .proto = 0 },
			{ .op = POLICY_OP_CREATE, .has_socket = true, .family = AF_PACKET,
			  .type = SOCK_DGRAM, .proto = 0 },
		};
		for (size_t j = 0; j < sizeof(raw) / sizeof(raw[0]); j++) {
			if (rule->n_protos)
				raw[j].proto = rule->protos[0];
			if (allowed(policy, &id, &raw[j]))
				caps |= POLICY_CAP_NET_RAW;
		}

		struct policy_request admin[] = {
			{ .op = POLICY_OP_SOCKOPT, .has_socket = true, .family = AF_INET,
			  .type = SOCK_STREAM, .level = SOL_SOCKET, .optname = SO_MARK },
			{ .op = POLICY_OP_SOCKOPT, .has_socket = true, .family = AF_INET,
			  .type = SOCK_STREAM, .level = SOL_IP, .optname = IP_TRANSPARENT },
			{ .op = POLICY_OP_SOCKOPT, .has_socket = true, .family = AF_INET6,
			  .type = SOCK_STREAM, .level = SOL_IPV6, .optname = IPV6_TRANSPARENT },
			{ .op = POLICY_OP_CREATE, .has_socket = true, .family = AF_NETLINK,
			  .type = SOCK_RAW, .proto = 0 },
		};
		for (size_t j = 0; j < sizeof(admin) / sizeof(admin[0]); j++)
			if (allowed(policy, &id, &admin[j]))
				caps |= POLICY_CAP_NET_ADMIN;

		struct policy_request hostname = { .op = POLICY_OP_SETHOSTNAME };
		if (allowed(policy, &id, &hostname))
			caps |= POLICY_CAP_SYS_ADMIN;
	}
	return caps;
}

/* ---- the built-in default ---------------------------------------------- */

void
policy_fini(struct policy *policy)
{
	for (size_t i = 0; i < policy->n_rules; i++) {
		struct policy_rule *r = &policy->rules[i];
		free(r->name);
		free(r->who.uids);
		free(r->who.gids);
		for (size_t j = 0; j < r->who.n_tokens; j++)
			free(r->who.tokens[j]);
		free(r->who.tokens);
		free(r->protos);
		free(r->addresses);
		free(r->ports);
		for (size_t j = 0; j < r->n_unix_paths; j++)
			free(r->unix_paths[j]);
		free(r->unix_paths);
		free(r->sockopts);
		for (size_t j = 0; j < r->n_hosts; j++)
			free(r->hosts[j]);
		free(r->hosts);
	}
	free(policy->rules);
	for (size_t i = 0; i < policy->n_quotas; i++) {
		struct policy_quota *q = &policy->quotas[i];
		free(q->name);
		free(q->who.uids);
		free(q->who.gids);
		for (size_t j = 0; j < q->who.n_tokens; j++)
			free(q->who.tokens[j]);
		free(q->who.tokens);
	}
	free(policy->quotas);
	memset(policy, 0, sizeof(*policy));
}

static void *
dup_bytes(const void *src, size_t len)
{
	void *copy = malloc(len ? len : 1);
	if (copy && len)
		memcpy(copy, src, len);
	return copy;
}

#define OPS(...) policy_ops_mask((const enum policy_op[]){ __VA_ARGS__, POLICY_OP__COUNT })

static unsigned
policy_ops_mask(const enum policy_op *ops)
{
	unsigned mask = 0;
	for (; *ops != POLICY_OP__COUNT; ops++)
		mask |= 1u << *ops;
	return mask;
}

/* One rule of the default, its lists copied to the heap so policy_fini()
 * frees the default like any configured policy. */
struct default_rule {
	const char *name;
	bool allow;
	unsigned ops;
	uint64_t families;
	uint32_t types;
	const int *protos;
	size_t n_protos;
	const struct policy_cidr *addresses;
	size_t n_addresses;
	const struct policy_port_range *ports;
	size_t n_ports;
	const struct policy_sockopt *sockopts;
	size_t n_sockopts;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

int
policy_init_default(struct policy *policy)
{
	static const struct policy_cidr metadata[] = {
		{ AF_INET, { 169, 254, 169, 254 }, 32 },
		{ AF_INET6, { 0xfd, 0x00, 0x0e, 0xc2, [15] = 0x54, [14] = 0x02 }, 128 },
	};
	static const struct policy_cidr link_local[] = {
		{ AF_INET, { 169, 254 }, 16 },
		{ AF_INET6, { 0xfe, 0x80 }, 10 },
		{ AF_INET6, { 0xff, 0x02 }, 16 }, /* link-scope multicast */
	};
	static const struct policy_cidr site_local[] = {
		{ AF_INET6, { 0xfe, 0xc0 }, 10 },
	};
	static const int tcp_udp[] = { 0, IPPROTO_TCP, IPPROTO_UDP };
	static const int tcp[] = { 0, IPPROTO_TCP };
	/* Options that need a capability, and those that choose the device or the route a
	 * packet takes (a device binding escapes rules about addresses; source routing
	 * escapes them on the path), as options or, for the routing ones, as ancillary data
	 * of sendmsg (ops/permit.c asks the same question for those). */
	static const struct policy_sockopt privileged_options[] = {
		{ SOL_IP, IP_TRANSPARENT },
		{ SOL_IPV6, IPV6_TRANSPARENT },
		{ SOL_SOCKET, SO_MARK },
		{ SOL_SOCKET, SO_BINDTODEVICE },
		{ SOL_SOCKET, SO_BINDTOIFINDEX },
		{ SOL_IP, IP_UNICAST_IF },
		{ SOL_IPV6, IPV6_UNICAST_IF },
		{ SOL_IP, IP_OPTIONS },
		{ SOL_IP, IP_RETOPTS },
		{ SOL_IPV6, IPV6_RTHDR },
		{ SOL_IPV6, IPV6_2292RTHDR },
		{ SOL_IPV6, IPV6_2292PKTOPTIONS },
	};
	/* SO_REUSEPORT shares a port with sockets of the daemon's uid, whoever asked for them
	 * (ops/socket.c checks the group of a bind where a rule allows it). */
	static const struct policy_sockopt reuseport[] = {
		{ SOL_SOCKET, SO_REUSEPORT },
	};
	const uint64_t inet = (1ull << AF_INET) | (1ull << AF_INET6);
	const uint32_t stream_dgram = (1u << SOCK_STREAM) | (1u << SOCK_DGRAM);
	const struct default_rule rules[] = {
		{ "deny-cloud-metadata", false,
		  OPS(POLICY_OP_CONNECT, POLICY_OP_SEND_TO, POLICY_OP_BIND), 0, 0, NULL, 0, metadata,
		  N(metadata), NULL, 0, NULL, 0 },
		{ "deny-link-local", false, OPS(POLICY_OP_CONNECT, POLICY_OP_SEND_TO), 0, 0, NULL,
		  0, link_local, N(link_local), NULL, 0, NULL, 0 },
		{ "deny-site-local", false, OPS(POLICY_OP_CONNECT, POLICY_OP_SEND_TO), 0, 0, NULL,
		  0, site_local, N(site_local), NULL, 0, NULL, 0 },
		{ "deny-privileged-bind", false, OPS(POLICY_OP_BIND), inet, 0, NULL, 0, NULL, 0,
		  (const struct policy_port_range[]){ { 1, 1023 } }, 1, NULL, 0 },
		{ "tcp-udp", true,
		  OPS(POLICY_OP_CREATE, POLICY_OP_CONNECT, POLICY_OP_SEND_TO, POLICY_OP_BIND,
		      POLICY_OP_LISTEN),
		  inet, stream_dgram, tcp_udp, N(tcp_udp), NULL, 0, NULL, 0, NULL, 0 },
		{ "unnamed-unix-sockets", true, OPS(POLICY_OP_CREATE, POLICY_OP_LISTEN),
		  1ull << AF_UNIX, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
		{ "deny-privileged-sockopts", false, OPS(POLICY_OP_SOCKOPT), 0, 0, NULL, 0, NULL, 0,
		  NULL, 0, privileged_options, N(privileged_options) },
		{ "deny-reuseport", false, OPS(POLICY_OP_SOCKOPT), 0, 0, NULL, 0, NULL, 0, NULL, 0,
		  reuseport, N(reuseport) },
		{ "sockopts", true, OPS(POLICY_OP_SOCKOPT), 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL,
		  0 },
		{ "name-service", true, OPS(POLICY_OP_RESOLVE, POLICY_OP_INTERFACES), 0, 0, NULL, 0,
		  NULL, 0, NULL, 0, NULL, 0 },
		/* A connected or accepted TCP socket reaches only the peer the policy
		 * already let it reach: the client may hold it itself. */
		{ "handoff-tcp", true, OPS(POLICY_OP_HANDOFF), inet, 1u << SOCK_STREAM, tcp, N(tcp),
		  NULL, 0, NULL, 0, NULL, 0 },
	};

	memset(policy, 0, sizeof(*policy));
	policy->builtin = true;
	policy->rules = calloc(N(rules), sizeof(*policy->rules));
	if (!policy->rules)
		return -ENOMEM;
	policy->n_rules = N(rules);
	for (size_t i = 0; i < N(rules); i++) {
		const struct default_rule *d = &rules[i];
		struct policy_rule *r = &policy->rules[i];
		r->who.tls = -1;
		r->allow = d->allow;
		r->ops = d->ops;
		r->families = d->families;
		r->types = d->types;
		r->name = strdup(d->name);
		r->protos = dup_bytes(d->protos, d->n_protos * sizeof(*d->protos));
		r->n_protos = d->n_protos;
		r->addresses = dup_bytes(d->addresses, d->n_addresses * sizeof(*d->addresses));
		r->n_addresses = d->n_addresses;
		r->ports = dup_bytes(d->ports, d->n_ports * sizeof(*d->ports));
		r->n_ports = d->n_ports;
		r->sockopts = dup_bytes(d->sockopts, d->n_sockopts * sizeof(*d->sockopts));
		r->n_sockopts = d->n_sockopts;
		if (!r->name || !r->protos || !r->addresses || !r->ports || !r->sockopts) {
			policy_fini(policy);
			return -ENOMEM;
		}
	}
	return 0;
}

/* ---- printing ------------------------------------------------------------ */

static const char *
type_name(int type)
{
	switch (type) {
	case SOCK_STREAM: return "SOCK_STREAM";
	case SOCK_DGRAM: return "SOCK_DGRAM";
	case SOCK_RAW: return "SOCK_RAW";
	case SOCK_RDM: return "SOCK_RDM";
	case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
	case SOCK_PACKET: return "SOCK_PACKET";
	default: return NULL;
	}
}

const char *
policy_protocol_name(uint64_t families, int proto)
{
	const uint64_t ip = (1ull << AF_INET) | (1ull << AF_INET6);
	const char *prefix = families == 0 || (families & ~ip) == 0 ? "IPPROTO_"
			     : families == 1ull << AF_PACKET	       ? "ETH_P_"
			     : families == 1ull << AF_NETLINK	       ? "NETLINK_"
			     : families == 1ull << AF_CAN	       ? "CAN_"
								       : NULL;
	size_t n;
	const struct constant *table = constants_table(&n);
	const char *found = NULL;

	for (size_t i = 0; prefix && i < n; i++) {
		if (table[i].value != proto || strncmp(table[i].name, prefix, strlen(prefix)) != 0)
			continue;
		if (found)
			return NULL;
		found = table[i].name;
	}
	return found;
}

static void
print_identity(const struct policy_identity_match *m, FILE *out)
{
	if (m->n_uids) {
		fprintf(out, " uid=");
		for (size_t i = 0; i < m->n_uids; i++)
			fprintf(out, "%s%u", i ? "," : "", (unsigned)m->uids[i]);
	}
	if (m->n_gids) {
		fprintf(out, " gid=");
		for (size_t i = 0; i < m->n_gids; i++)
			fprintf(out, "%s%u", i ? "," : "", (unsigned)m->gids[i]);
	}
	if (m->n_tokens) {
		fprintf(out, " token=");
		for (size_t i = 0; i < m->n_tokens; i++)
			fprintf(out, "%s%s", i ? "," : "", m->tokens[i]);
	}
	if (m->tls >= 0)
		fprintf(out, " tls=%s", m->tls ? "verified" : "none");
	if (m->transports) {
		fprintf(out, " transport=");
		const char *sep = "";
		for (unsigned t = 0; t < POLICY_TRANSPORT__COUNT; t++)
			if (m->transports & (1u << t)) {
				fprintf(out, "%s%s", sep, transport_names[t]);
				sep = ",";
			}
	}
}

static void
print_cidr(const struct policy_cidr *c, FILE *out)
{
	char text[INET6_ADDRSTRLEN];
	inet_ntop(c->family, c->addr, text, sizeof(text));
	fprintf(out, "%s/%u", text, c->prefix);
}

static const char *
op_name_of(int op)
{
	return op_names[op];
}

/* " key=a,b,3": the bits set in `mask` (of the first `n`) by name, or by number where
 * name_of() knows none; nothing when no bit is set. */
static void
print_bits(FILE *out, const char *key, uint64_t mask, int n, const char *(*name_of)(int))
{
	const char *sep = "";

	if (!mask)
		return;
	fprintf(out, " %s=", key);
	for (int b = 0; b < n; b++) {
		if (!(mask & (1ull << b)))
			continue;
		const char *name = name_of(b);
		if (name)
			fprintf(out, "%s%s", sep, name);
		else
			fprintf(out, "%s%d", sep, b);
		sep = ",";
	}
}

/* A rule's list conditions: protocols, addresses, ports, AF_UNIX paths, options, hosts. */
static void
print_rule_lists(const struct policy_rule *r, FILE *out)
{
	if (r->n_protos) {
		fprintf(out, " protocols=");
		for (size_t j = 0; j < r->n_protos; j++) {
			const char *name = policy_protocol_name(r->families, r->protos[j]);
			if (name)
				fprintf(out, "%s%s", j ? "," : "", name);
			else
				fprintf(out, "%s%d", j ? "," : "", r->protos[j]);
		}
	}
	if (r->n_addresses) {
		fprintf(out, " addresses=");
		for (size_t j = 0; j < r->n_addresses; j++) {
			fprintf(out, "%s", j ? "," : "");
			print_cidr(&r->addresses[j], out);
		}
	}
	if (r->n_ports) {
		fprintf(out, " ports=");
		for (size_t j = 0; j < r->n_ports; j++) {
			if (r->ports[j].lo == r->ports[j].hi)
				fprintf(out, "%s%u", j ? "," : "", r->ports[j].lo);
			else
				fprintf(out, "%s%u-%u", j ? "," : "", r->ports[j].lo,
					r->ports[j].hi);
		}
	}
	if (r->n_unix_paths) {
		fprintf(out, " unix_paths=");
		for (size_t j = 0; j < r->n_unix_paths; j++)
			fprintf(out, "%s%s", j ? "," : "", r->unix_paths[j]);
	}
	if (r->n_sockopts) {
		fprintf(out, " sockopts=");
		for (size_t j = 0; j < r->n_sockopts; j++) {
			if (r->sockopts[j].optname < 0)
				fprintf(out, "%s%d:*", j ? "," : "", r->sockopts[j].level);
			else
				fprintf(out, "%s%d:%d", j ? "," : "", r->sockopts[j].level,
					r->sockopts[j].optname);
		}
	}
	if (r->n_hosts) {
		fprintf(out, " hosts=");
		for (size_t j = 0; j < r->n_hosts; j++)
			fprintf(out, "%s%s", j ? "," : "", r->hosts[j]);
	}
}

/* A quota's identity and limits, on one line. */
static void
print_quota(const struct policy_quota *q, FILE *out)
{
	fprintf(out, "quota %s:", q->name);
	print_identity(&q->who, out);
	if (q->max_handles)
		fprintf(out, " max_handles=%u", q->max_handles);
	if (q->max_parked)
		fprintf(out, " max_parked=%u", q->max_parked);
	if (q->send_bytes_per_second)
		fprintf(out, " send_bytes_per_second=%llu",
			(unsigned long long)q->send_bytes_per_second);
	if (q->recv_bytes_per_second)
		fprintf(out, " recv_bytes_per_second=%llu",
			(unsigned long long)q->recv_bytes_per_second);
	if (q->ops_per_second)
		fprintf(out, " ops_per_second=%u", q->ops_per_second);
	fputc('\n', out);
}

void
policy_print(const struct policy *policy, FILE *out)
{
	fprintf(out, "policy: %s, %zu rules tried in order, first match wins\n",
		policy->builtin ? "the built-in default" : "from the configuration",
		policy->n_rules);
	for (size_t i = 0; i < policy->n_rules; i++) {
		const struct policy_rule *r = &policy->rules[i];
		fprintf(out, "  %2zu %-5s %s:", i + 1, r->allow ? "allow" : "deny", r->name);
		print_identity(&r->who, out);
		print_bits(out, "ops", r->ops, POLICY_OP__COUNT, op_name_of);
		print_bits(out, "families", r->families, 64, family_name);
		print_bits(out, "types", r->types, 32, type_name);
		print_rule_lists(r, out);
		if (!r->allow && r->errnum)
			fprintf(out, " -> %s", errname_from_errno(r->errnum));
		fputc('\n', out);
	}
	fprintf(out, "  %2zu deny  default-deny: everything no rule above matched (denials answer "
		     "EPERM for create, sethostname and sockopt, EACCES otherwise)\n",
		policy->n_rules + 1);
	for (size_t i = 0; i < policy->n_quotas; i++)
		print_quota(&policy->quotas[i], out);
}
