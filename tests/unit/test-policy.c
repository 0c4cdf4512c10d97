/*
 * Unit tests of server/policy.c, the rule matcher alone: tables of (identity,
 * request) -> (verdict, rule, errno) over the built-in default and over
 * policies read from JSON by the config module (server/config-policy.c),
 * plus the parser's refusals, the capabilities a policy needs, and quota
 * selection.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "policy.h"

/* An address for a request: "1.2.3.4" or "::1", with a port. */
struct addr {
	const char *host; /* NULL: none */
	unsigned port;
};

struct row {
	const char *what;
	enum policy_op op;
	int family, type, proto; /* family 0: the request has no socket */
	struct addr addr;
	const char *unix_path;
	int level, optname;
	const char *host;
	/* who */
	enum policy_transport transport;
	int uid;           /* -1: no credentials */
	const char *token; /* NULL: none */
	bool tls;
	/* expected */
	bool allow;
	const char *rule;
	int errnum;
};

static void
to_sockaddr(const struct addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)a->port);
		*len = sizeof(*in);
		return;
	}
	ck_assert_msg(inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1, "bad test address %s",
		      a->host);
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)a->port);
	*len = sizeof(*in6);
}

static void
check_rows(const struct policy *policy, const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct row *row = &rows[i];
		struct sockaddr_storage ss;
		struct sockaddr_un unnamed = { .sun_family = AF_UNIX };
		socklen_t len = 0;
		struct policy_request req = {
			.op = row->op,
			.has_socket = row->family != 0,
			.family = row->family,
			.type = row->type,
			.proto = row->proto,
			.unix_path = row->unix_path,
			.level = row->level,
			.optname = row->optname,
			.host = row->host,
		};
		if (row->addr.host) {
			to_sockaddr(&row->addr, &ss, &len);
			req.addr = (const struct sockaddr *)&ss;
			req.addrlen = len;
		}
		if (row->unix_path) {
			req.addr = (const struct sockaddr *)&unnamed;
			req.addrlen = sizeof(struct sockaddr_un);
		}
		struct policy_identity id = {
			.transport = row->transport,
			.has_credentials = row->uid >= 0,
			.uid = row->uid >= 0 ? (uid_t)row->uid : 0,
			.gid = row->uid >= 0 ? (gid_t)row->uid : 0,
			.token_name = row->token,
			.tls_verified = row->tls,
		};
		struct policy_decision d;
		policy_check(policy, &id, &req, &d);
		ck_assert_msg(d.allow == row->allow, "%s: %s, wanted %s (rule %s)", row->what,
			      d.allow ? "allowed" : "denied", row->allow ? "allowed" : "denied",
			      d.rule);
		ck_assert_msg(strcmp(d.rule, row->rule) == 0, "%s: decided by %s, wanted %s",
			      row->what, d.rule, row->rule);
		ck_assert_msg(d.errnum == row->errnum, "%s: errno %d, wanted %d", row->what,
			      d.errnum, row->errnum);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TCP AF_INET, SOCK_STREAM, 0
#define TCP6 AF_INET6, SOCK_STREAM, 0
#define UDP AF_INET, SOCK_DGRAM, 0

START_TEST(default_policy_decides_the_documented_cases)
{
	static const struct row rows[] = {
		{ "tcp socket", POLICY_OP_CREATE, TCP, .uid = 1000, .allow = true, .rule = "tcp-udp" },
		{ "udp6 socket", POLICY_OP_CREATE, AF_INET6, SOCK_DGRAM, IPPROTO_UDP, .uid = 1000,
		  .allow = true, .rule = "tcp-udp" },
		{ "raw icmp", POLICY_OP_CREATE, AF_INET, SOCK_RAW, IPPROTO_ICMP, .uid = 1000,
		  .rule = "default-deny", .errnum = EPERM },
		{ "packet", POLICY_OP_CREATE, AF_PACKET, SOCK_RAW, 0, .uid = 1000,
		  .rule = "default-deny", .errnum = EPERM },
		{ "netlink", POLICY_OP_CREATE, AF_NETLINK, SOCK_RAW, 0, .uid = 1000,
		  .rule = "default-deny", .errnum = EPERM },
		{ "sctp", POLICY_OP_CREATE, AF_INET, SOCK_STREAM, IPPROTO_SCTP, .uid = 1000,
		  .rule = "default-deny", .errnum = EPERM },
		{ "unix socketpair", POLICY_OP_CREATE, AF_UNIX, SOCK_STREAM, 0, .uid = 1000,
		  .allow = true, .rule = "unnamed-unix-sockets" },
		{ "connect anywhere", POLICY_OP_CONNECT, TCP, { "93.184.216.34", 443 }, .uid = 1000,
		  .allow = true, .rule = "tcp-udp" },
		{ "connect loopback", POLICY_OP_CONNECT, TCP, { "127.0.0.1", 8080 }, .uid = 1000,
		  .allow = true, .rule = "tcp-udp" },
		{ "metadata v4", POLICY_OP_CONNECT, TCP, { "169.254.169.254", 80 }, .uid = 1000,
		  .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "metadata v6", POLICY_OP_CONNECT, TCP6, { "fd00:ec2::254", 80 }, .uid = 1000,
		  .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "metadata mapped", POLICY_OP_CONNECT, TCP6, { "::ffff:169.254.169.254", 80 },
		  .uid = 1000, .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "link-local v4", POLICY_OP_SEND_TO, UDP, { "169.254.1.1", 53 }, .uid = 1000,
		  .rule = "deny-link-local", .errnum = EACCES },
		{ "link-local v6", POLICY_OP_CONNECT, TCP6, { "fe80::1", 22 }, .uid = 1000,
		  .rule = "deny-link-local", .errnum = EACCES },
		{ "just outside fe80::/10", POLICY_OP_CONNECT, TCP6, { "fec0::1", 22 }, .uid = 1000,
		  .rule = "deny-site-local", .errnum = EACCES },
		{ "just outside fec0::/10", POLICY_OP_CONNECT, TCP6, { "fc00::1", 22 }, .uid = 1000,
		  .allow = true, .rule = "tcp-udp" },
		{ "link-scope multicast", POLICY_OP_SEND_TO, AF_INET6, SOCK_DGRAM, 0, { "ff02::1", 53 },
		  .uid = 1000, .rule = "deny-link-local", .errnum = EACCES },
		{ "site-scope multicast", POLICY_OP_SEND_TO, AF_INET6, SOCK_DGRAM, 0, { "ff05::2", 53 },
		  .uid = 1000, .allow = true, .rule = "tcp-udp" },
		{ "metadata nat64", POLICY_OP_CONNECT, TCP6, { "64:ff9b::a9fe:a9fe", 80 }, .uid = 1000,
		  .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "metadata 6to4", POLICY_OP_CONNECT, TCP6, { "2002:a9fe:a9fe::1", 80 }, .uid = 1000,
		  .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "metadata v4-compatible", POLICY_OP_CONNECT, TCP6, { "::169.254.169.254", 80 },
		  .uid = 1000, .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "metadata siit", POLICY_OP_SEND_TO, AF_INET6, SOCK_DGRAM, 0,
		  { "::ffff:0:a9fe:a9fe", 80 }, .uid = 1000, .rule = "deny-cloud-metadata",
		  .errnum = EACCES },
		{ "link-local nat64", POLICY_OP_CONNECT, TCP6, { "64:ff9b::169.254.7.7", 80 },
		  .uid = 1000, .rule = "deny-link-local", .errnum = EACCES },
		{ "public nat64", POLICY_OP_CONNECT, TCP6, { "64:ff9b::5db8:d822", 80 }, .uid = 1000,
		  .allow = true, .rule = "tcp-udp" },
		{ "loopback v6 is not v4-compatible", POLICY_OP_CONNECT, TCP6, { "::1", 80 },
		  .uid = 1000, .allow = true, .rule = "tcp-udp" },
		{ "metadata as bind address", POLICY_OP_BIND, AF_INET, SOCK_DGRAM, 0,
		  { "169.254.169.254", 5000 }, .uid = 1000, .rule = "deny-cloud-metadata",
		  .errnum = EACCES },
		{ "metadata v6 as bind address", POLICY_OP_BIND, TCP6, { "fd00:ec2::254", 5000 },
		  .uid = 1000, .rule = "deny-cloud-metadata", .errnum = EACCES },
		{ "bind 80", POLICY_OP_BIND, TCP, { "0.0.0.0", 80 }, .uid = 1000,
		  .rule = "deny-privileged-bind", .errnum = EACCES },
		{ "bind 1023", POLICY_OP_BIND, TCP6, { "::", 1023 }, .uid = 1000,
		  .rule = "deny-privileged-bind", .errnum = EACCES },
		{ "bind 1024", POLICY_OP_BIND, TCP, { "127.0.0.1", 1024 }, .uid = 1000,
		  .allow = true, .rule = "tcp-udp" },
		{ "bind 0", POLICY_OP_BIND, TCP, { "127.0.0.1", 0 }, .uid = 1000, .allow = true,
		  .rule = "tcp-udp" },
		{ "unix path", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/run/dbus/system_bus_socket", .uid = 1000, .rule = "default-deny",
		  .errnum = EACCES },
		{ "abstract name", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "@/tmp/.X11-unix/X0", .uid = 1000, .rule = "default-deny",
		  .errnum = EACCES },
		{ "listen tcp", POLICY_OP_LISTEN, TCP, .uid = 1000, .allow = true, .rule = "tcp-udp" },
		{ "resolve", POLICY_OP_RESOLVE, .host = "example.com", .uid = 1000, .allow = true,
		  .rule = "name-service" },
		{ "interfaces", POLICY_OP_INTERFACES, .uid = 1000, .allow = true,
		  .rule = "name-service" },
		{ "sethostname", POLICY_OP_SETHOSTNAME, .uid = 0, .rule = "default-deny",
		  .errnum = EPERM },
		{ "SO_REUSEADDR", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET,
		  .optname = SO_REUSEADDR, .uid = 1000, .allow = true, .rule = "sockopts" },
		{ "SO_MARK", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET, .optname = SO_MARK,
		  .uid = 1000, .rule = "deny-privileged-sockopts", .errnum = EPERM },
		{ "SO_BINDTODEVICE", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET,
		  .optname = SO_BINDTODEVICE, .uid = 1000, .rule = "deny-privileged-sockopts",
		  .errnum = EPERM },
		{ "IP_TRANSPARENT", POLICY_OP_SOCKOPT, TCP, .level = SOL_IP,
		  .optname = IP_TRANSPARENT, .uid = 1000, .rule = "deny-privileged-sockopts",
		  .errnum = EPERM },
		{ "IPV6_TRANSPARENT", POLICY_OP_SOCKOPT, TCP6, .level = SOL_IPV6,
		  .optname = IPV6_TRANSPARENT, .uid = 1000, .rule = "deny-privileged-sockopts",
		  .errnum = EPERM },
		{ "SO_BINDTOIFINDEX", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET,
		  .optname = SO_BINDTOIFINDEX, .uid = 1000, .rule = "deny-privileged-sockopts",
		  .errnum = EPERM },
		{ "IP_UNICAST_IF", POLICY_OP_SOCKOPT, UDP, .level = SOL_IP, .optname = IP_UNICAST_IF,
		  .uid = 1000, .rule = "deny-privileged-sockopts", .errnum = EPERM },
		{ "IPV6_UNICAST_IF", POLICY_OP_SOCKOPT, TCP6, .level = SOL_IPV6,
		  .optname = IPV6_UNICAST_IF, .uid = 1000, .rule = "deny-privileged-sockopts",
		  .errnum = EPERM },
		{ "IP_OPTIONS", POLICY_OP_SOCKOPT, TCP, .level = SOL_IP, .optname = IP_OPTIONS,
		  .uid = 1000, .rule = "deny-privileged-sockopts", .errnum = EPERM },
		{ "IP_RETOPTS", POLICY_OP_SOCKOPT, UDP, .level = SOL_IP, .optname = IP_RETOPTS,
		  .uid = 1000, .rule = "deny-privileged-sockopts", .errnum = EPERM },
		{ "IPV6_RTHDR", POLICY_OP_SOCKOPT, TCP6, .level = SOL_IPV6, .optname = IPV6_RTHDR,
		  .uid = 1000, .rule = "deny-privileged-sockopts", .errnum = EPERM },
		{ "IPV6_2292RTHDR", POLICY_OP_SOCKOPT, TCP6, .level = SOL_IPV6,
		  .optname = IPV6_2292RTHDR, .uid = 1000, .rule = "deny-privileged-sockopts",
		  .errnum = EPERM },
		{ "SO_REUSEPORT", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET,
		  .optname = SO_REUSEPORT, .uid = 1000, .rule = "deny-reuseport", .errnum = EPERM },
		{ "IP_TOS", POLICY_OP_SOCKOPT, TCP, .level = SOL_IP, .optname = IP_TOS, .uid = 1000,
		  .allow = true, .rule = "sockopts" },
	};
	struct policy policy;
	ck_assert_int_eq(policy_init_default(&policy), 0);
	ck_assert(policy.builtin);
	check_rows(&policy, rows, N(rows));
	ck_assert_uint_eq(policy_needed_caps(&policy), 0);
	policy_fini(&policy);
	policy_fini(&policy); /* harmless twice */
}
END_TEST

/* Read a policy through the config module, as the daemon does. */
static struct config cfg;

static const struct policy *
load(const char *json)
{
	char err[512];
	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_msg(config_load_string(&cfg, json, "test.json", err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_ptr_nonnull(cfg.policy);
	return cfg.policy;
}

static void
teardown(void)
{
	config_fini(&cfg);
}

START_TEST(rules_match_identity_and_first_match_wins)
{
	static const char json[] =
		"{\"policy\": {\"rules\": ["
		"{\"name\": \"ci-token\", \"allow\": true, \"tokens\": [\"ci\"]},"
		"{\"name\": \"tls-only\", \"allow\": true, \"tls\": true, \"ops\": [\"connect\"]},"
		"{\"name\": \"no-uid-7\", \"allow\": false, \"errno\": \"EPERM\", \"uids\": [7]},"
		"{\"name\": \"group-100\", \"allow\": true, \"gids\": [100], \"ops\": [\"create\"]},"
		"{\"name\": \"ipc-resolve\", \"allow\": true, \"transports\": [\"ipc\"],"
		" \"ops\": [\"resolve\"], \"hosts\": [\"*.example.com\", \"localhost\"]},"
		"{\"name\": \"any-token\", \"allow\": true, \"tokens\": [\"*\"], \"ops\": [\"listen\"]}"
		"]}}";
	static const struct row rows[] = {
		{ "token ci allows anything", POLICY_OP_SETHOSTNAME, .uid = 7, .token = "ci",
		  .allow = true, .rule = "ci-token" },
		{ "other token falls through", POLICY_OP_SETHOSTNAME, .uid = 5, .token = "x",
		  .rule = "default-deny", .errnum = EPERM },
		{ "tls connect", POLICY_OP_CONNECT, TCP, { "10.0.0.1", 1 }, .uid = -1,
		  .transport = POLICY_TRANSPORT_TLS, .tls = true, .allow = true, .rule = "tls-only" },
		{ "no tls no connect", POLICY_OP_CONNECT, TCP, { "10.0.0.1", 1 }, .uid = 8,
		  .rule = "default-deny", .errnum = EACCES },
		{ "uid 7 denied with its errno", POLICY_OP_CONNECT, TCP, { "10.0.0.1", 1 }, .uid = 7,
		  .rule = "no-uid-7", .errnum = EPERM },
		{ "gid 100 creates", POLICY_OP_CREATE, TCP, .uid = 100, .allow = true,
		  .rule = "group-100" },
		{ "no credentials never match a gid", POLICY_OP_CREATE, TCP, .uid = -1,
		  .transport = POLICY_TRANSPORT_TCP, .rule = "default-deny", .errnum = EPERM },
		{ "host pattern", POLICY_OP_RESOLVE, .host = "WWW.Example.COM", .uid = 1,
		  .allow = true, .rule = "ipc-resolve" },
		{ "host pattern exact", POLICY_OP_RESOLVE, .host = "localhost", .uid = 1,
		  .allow = true, .rule = "ipc-resolve" },
		{ "host not in patterns", POLICY_OP_RESOLVE, .host = "example.org", .uid = 1,
		  .rule = "default-deny", .errnum = EACCES },
		{ "bare domain is not *.example.com", POLICY_OP_RESOLVE, .host = "example.com",
		  .uid = 1, .rule = "default-deny", .errnum = EACCES },
		{ "no host never matches hosts", POLICY_OP_RESOLVE, .uid = 1, .rule = "default-deny",
		  .errnum = EACCES },
		{ "wrong transport", POLICY_OP_RESOLVE, .host = "localhost", .uid = 1,
		  .transport = POLICY_TRANSPORT_ABSTRACT, .rule = "default-deny", .errnum = EACCES },
		{ "any token listens", POLICY_OP_LISTEN, TCP, .uid = -1, .token = "ops",
		  .allow = true, .rule = "any-token" },
		{ "no token no listen", POLICY_OP_LISTEN, TCP, .uid = 1, .rule = "default-deny",
		  .errnum = EACCES },
	};
	check_rows(load(json), rows, N(rows));
}
END_TEST

START_TEST(rules_match_addresses_ports_and_sockets)
{
	static const char json[] =
		"{\"policy\": {\"rules\": ["
		"{\"name\": \"no-private\", \"allow\": false, \"ops\": [\"connect\", \"send-to\"],"
		" \"addresses\": [\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\","
		" \"fc00::/7\", \"127.0.0.0/8\", \"::1\", \"0.0.0.0/8\", \"::/128\"]},"
		"{\"name\": \"web\", \"allow\": true, \"ops\": [\"connect\"], \"ports\": [80, 443,"
		" \"8000-8099\"], \"types\": [\"SOCK_STREAM\"]},"
		"{\"name\": \"dns\", \"allow\": true, \"ops\": [\"send-to\"], \"ports\": [53],"
		" \"protocols\": [0, \"IPPROTO_UDP\"], \"families\": [\"AF_INET\", 10]},"
		"{\"name\": \"create\", \"allow\": true, \"ops\": [\"create\"],"
		" \"families\": [\"AF_INET\", \"AF_INET6\"], \"types\": [\"SOCK_STREAM\", 2]},"
		"{\"name\": \"bind-high\", \"allow\": true, \"ops\": [\"bind\"], \"ports\":"
		" [\"1024-65535\"], \"addresses\": [\"127.0.0.1/32\", \"::1/128\"]},"
		"{\"name\": \"opts\", \"allow\": true, \"ops\": [\"sockopt\"], \"sockopts\":"
		" [[\"SOL_SOCKET\", \"SO_REUSEADDR\"], [\"IPPROTO_TCP\", \"*\"]]}"
		"]}}";
	static const struct row rows[] = {
		{ "private v4", POLICY_OP_CONNECT, TCP, { "10.1.2.3", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "172.16/12 upper edge", POLICY_OP_CONNECT, TCP, { "172.31.255.255", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "172.32 is public", POLICY_OP_CONNECT, TCP, { "172.32.0.1", 80 }, .uid = 1,
		  .allow = true, .rule = "web" },
		{ "ula v6", POLICY_OP_CONNECT, TCP6, { "fd12::1", 443 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "loopback mapped", POLICY_OP_CONNECT, TCP6, { "::ffff:127.0.0.1", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "loopback v6", POLICY_OP_CONNECT, TCP6, { "::1", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "loopback v4-compatible", POLICY_OP_CONNECT, TCP6, { "::127.0.0.1", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "private behind 6to4", POLICY_OP_CONNECT, TCP6, { "2002:a01:203::1", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "private behind nat64", POLICY_OP_CONNECT, TCP6, { "64:ff9b::192.168.0.1", 443 },
		  .uid = 1, .rule = "no-private", .errnum = EACCES },
		{ "private siit", POLICY_OP_CONNECT, TCP6, { "::ffff:0:10.0.0.1", 443 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "an allowance is not widened to embedded forms", POLICY_OP_BIND, TCP6,
		  { "::127.0.0.1", 5000 }, .uid = 1, .rule = "default-deny", .errnum = EACCES },
		{ "0.0.0.0 reaches the host", POLICY_OP_CONNECT, TCP, { "0.0.0.0", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ ":: reaches the host", POLICY_OP_CONNECT, TCP6, { "::", 80 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "public 443", POLICY_OP_CONNECT, TCP6, { "2001:db8::1", 443 }, .uid = 1,
		  .allow = true, .rule = "web" },
		{ "port range low", POLICY_OP_CONNECT, TCP, { "8.8.8.8", 8000 }, .uid = 1,
		  .allow = true, .rule = "web" },
		{ "port range high", POLICY_OP_CONNECT, TCP, { "8.8.8.8", 8099 }, .uid = 1,
		  .allow = true, .rule = "web" },
		{ "port outside", POLICY_OP_CONNECT, TCP, { "8.8.8.8", 8100 }, .uid = 1,
		  .rule = "default-deny", .errnum = EACCES },
		{ "udp connect is not web", POLICY_OP_CONNECT, UDP, { "8.8.8.8", 443 }, .uid = 1,
		  .rule = "default-deny", .errnum = EACCES },
		{ "dns send-to", POLICY_OP_SEND_TO, UDP, { "8.8.8.8", 53 }, .uid = 1, .allow = true,
		  .rule = "dns" },
		{ "dns over udp6 by number", POLICY_OP_SEND_TO, AF_INET6, SOCK_DGRAM, IPPROTO_UDP,
		  { "2001:4860::8888", 53 }, .uid = 1, .allow = true, .rule = "dns" },
		{ "private dns denied first", POLICY_OP_SEND_TO, UDP, { "192.168.1.1", 53 }, .uid = 1,
		  .rule = "no-private", .errnum = EACCES },
		{ "create dgram by number", POLICY_OP_CREATE, UDP, .uid = 1, .allow = true,
		  .rule = "create" },
		{ "create raw", POLICY_OP_CREATE, AF_INET, SOCK_RAW, 0, .uid = 1,
		  .rule = "default-deny", .errnum = EPERM },
		{ "bind loopback high", POLICY_OP_BIND, TCP, { "127.0.0.1", 5000 }, .uid = 1,
		  .allow = true, .rule = "bind-high" },
		{ "bind any high", POLICY_OP_BIND, TCP, { "0.0.0.0", 5000 }, .uid = 1,
		  .rule = "default-deny", .errnum = EACCES },
		{ "bind loopback low", POLICY_OP_BIND, TCP6, { "::1", 80 }, .uid = 1,
		  .rule = "default-deny", .errnum = EACCES },
		{ "sockopt listed", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET,
		  .optname = SO_REUSEADDR, .uid = 1, .allow = true, .rule = "opts" },
		{ "sockopt wildcard", POLICY_OP_SOCKOPT, TCP, .level = IPPROTO_TCP, .optname = 1,
		  .uid = 1, .allow = true, .rule = "opts" },
		{ "sockopt unlisted", POLICY_OP_SOCKOPT, TCP, .level = SOL_SOCKET,
		  .optname = SO_KEEPALIVE, .uid = 1, .rule = "default-deny", .errnum = EPERM },
	};
	check_rows(load(json), rows, N(rows));
}
END_TEST

START_TEST(rules_match_unix_paths)
{
	static const char json[] =
		"{\"policy\": {\"rules\": ["
		"{\"name\": \"app-dir\", \"allow\": true, \"unix_paths\": [\"/run/app/\","
		" \"/run/one.sock\", \"@app-*\"]}"
		"]}}";
	static const struct row rows[] = {
		{ "inside the directory", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/run/app/x.sock", .uid = 1, .allow = true, .rule = "app-dir" },
		{ "deeper", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/run/app/sub/x.sock", .uid = 1, .allow = true, .rule = "app-dir" },
		{ "the directory itself", POLICY_OP_BIND, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/run/app/", .uid = 1, .rule = "default-deny", .errnum = EACCES },
		{ "a sibling with the prefix", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/run/application.sock", .uid = 1, .rule = "default-deny",
		  .errnum = EACCES },
		{ "exact file", POLICY_OP_SEND_TO, AF_UNIX, SOCK_DGRAM, 0,
		  .unix_path = "/run/one.sock", .uid = 1, .allow = true, .rule = "app-dir" },
		{ "exact file is not a prefix", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/run/one.sock2", .uid = 1, .rule = "default-deny", .errnum = EACCES },
		{ "abstract pattern", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "@app-7", .uid = 1, .allow = true, .rule = "app-dir" },
		{ "abstract is not a path", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "@/run/app/x", .uid = 1, .rule = "default-deny", .errnum = EACCES },
		{ "a path is not abstract", POLICY_OP_CONNECT, AF_UNIX, SOCK_STREAM, 0,
		  .unix_path = "/app-1", .uid = 1, .rule = "default-deny", .errnum = EACCES },
		{ "an unnamed socket has no path", POLICY_OP_CREATE, AF_UNIX, SOCK_STREAM, 0,
		  .uid = 1, .rule = "default-deny", .errnum = EPERM },
	};
	check_rows(load(json), rows, N(rows));
}
END_TEST

START_TEST(an_empty_rule_list_denies_everything)
{
	static const struct row rows[] = {
		{ "create", POLICY_OP_CREATE, TCP, .uid = 0, .rule = "default-deny", .errnum = EPERM },
		{ "resolve", POLICY_OP_RESOLVE, .host = "x", .uid = 0, .rule = "default-deny",
		  .errnum = EACCES },
	};
	const struct policy *policy = load("{\"policy\": {\"rules\": []}}");
	ck_assert(!policy->builtin);
	check_rows(policy, rows, N(rows));
}
END_TEST

static void
assert_refused(const char *json, const char *message)
{
	char err[512] = "";
	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_int_eq(config_load_string(&cfg, json, "test.json", err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, message), "%s: got \"%s\", wanted it to contain \"%s\"", json,
		      err, message);
	ck_assert_ptr_null(cfg.policy);
}

START_TEST(the_parser_refuses_bad_rules_naming_the_field)
{
	static const struct {
		const char *json, *message;
	} cases[] = {
		{ "{\"policy\": []}", "policy: must be an object" },
		{ "{\"policy\": {\"rules\": [{}]}}", "policy.rules[0]: needs a \"name\"" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\"}]}}", "needs \"allow\": true or false" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"colour\": 1}]}}",
		  "unknown key \"colour\"" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true},"
		  " {\"name\": \"a\", \"allow\": false}]}}",
		  "policy.rules[1]: the name \"a\" is used by rule 0 too" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"ops\": [\"fly\"]}]}}",
		  "policy.rules[0].ops[0]: must be one of" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"addresses\": [\"example.com\"]}]}}",
		  "rules judge resolved addresses" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"addresses\": [\"10.0.0.1/8\"]}]}}",
		  "has bits set beyond its /8 prefix" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"addresses\": [\"10.0.0.0/33\"]}]}}",
		  "an IPv4 prefix length is 0 to 32" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"ports\": [70000]}]}}",
		  "policy.rules[0].ports[0]: a port is 0 to 65535" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"ports\": [\"9-1\"]}]}}",
		  "a range \"LOW-HIGH\"" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"families\": [\"AF_NOPE\"]}]}}",
		  "\"AF_NOPE\" is not an address family" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"unix_paths\": [\"/run/../etc/\"]}]}}",
		  "must be an absolute path without" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"unix_paths\": [\"run/x\"]}]}}",
		  "must be an absolute path without" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true,"
		  " \"sockopts\": [\"SO_MARK\"]}]}}",
		  "must be a pair [LEVEL, OPTION]" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"errno\": \"EPERM\"}]}}",
		  "an errno means nothing" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": false, \"errno\": \"EIO\"}]}}",
		  "errno must be \"EACCES\" or \"EPERM\"" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"uids\": []}]}}",
		  "policy.rules[0].uids: is empty" },
		{ "{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": true, \"tls\": 1}]}}",
		  "tls must be true" },
		{ "{\"policy\": {\"rules\": [], \"quotas\": [{\"max_handles\": 1}]}}",
		  "policy.quotas[0]: needs a \"name\"" },
		{ "{\"policy\": {\"rules\": [], \"quotas\": [{\"name\": \"q\", \"max_handles\": 0}]}}",
		  "max_handles must be an integer from 1 to 1000000" },
		{ "{\"policy\": {\"rules\": [], \"extra\": 1}}", "unknown key \"extra\"" },
	};
	for (size_t i = 0; i < N(cases); i++)
		assert_refused(cases[i].json, cases[i].message);
}
END_TEST

START_TEST(a_failed_policy_keeps_the_one_loaded_before)
{
	char err[512];
	const struct policy *before = load("{\"policy\": {\"rules\": [{\"name\": \"a\", \"allow\": "
					   "true}]}}");
	ck_assert_int_eq(config_load_string(&cfg, "{\"policy\": {\"rules\": [{}]}}", "t", err,
					    sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_eq(cfg.policy, before);
	ck_assert_str_eq(cfg.policy->rules[0].name, "a");
	/* A later layer without "policy" keeps it too. */
	ck_assert_int_eq(config_load_string(&cfg, "{\"log_level\": \"warn\"}", "t", err,
					    sizeof(err)),
			 0);
	ck_assert_ptr_nonnull(cfg.policy);
	ck_assert_str_eq(cfg.policy->rules[0].name, "a");
}
END_TEST

START_TEST(needed_capabilities_follow_the_allow_rules)
{
	ck_assert_uint_eq(policy_needed_caps(load("{\"policy\": {\"rules\": [{\"name\": \"all\","
						  " \"allow\": true}]}}")),
			  POLICY_CAP_NET_BIND_SERVICE | POLICY_CAP_NET_RAW |
				  POLICY_CAP_NET_ADMIN | POLICY_CAP_SYS_ADMIN);
	ck_assert_uint_eq(policy_needed_caps(load(
				  "{\"policy\": {\"rules\": [{\"name\": \"raw\", \"allow\": true,"
				  " \"ops\": [\"create\"], \"families\": [\"AF_INET\"],"
				  " \"types\": [\"SOCK_RAW\"]}]}}")),
			  POLICY_CAP_NET_RAW);
	ck_assert_uint_eq(policy_needed_caps(load(
				  "{\"policy\": {\"rules\": [{\"name\": \"low\", \"allow\": true,"
				  " \"ops\": [\"bind\"], \"ports\": [\"443-443\"]},"
				  " {\"name\": \"no-mark\", \"allow\": false, \"ops\": [\"sockopt\"]}]}}")),
			  POLICY_CAP_NET_BIND_SERVICE);
	ck_assert_uint_eq(policy_needed_caps(load(
				  "{\"policy\": {\"rules\": [{\"name\": \"mark\", \"allow\": true,"
				  " \"ops\": [\"sockopt\"], \"sockopts\": [[\"SOL_SOCKET\","
				  " \"SO_MARK\"]]}]}}")),
			  POLICY_CAP_NET_ADMIN);
}
END_TEST

START_TEST(the_first_matching_quota_applies)
{
	const struct policy *policy = load(
		"{\"policy\": {\"rules\": [], \"quotas\": ["
		"{\"name\": \"ci\", \"tokens\": [\"ci\"], \"max_handles\": 100},"
		"{\"name\": \"uid-1000\", \"uids\": [1000], \"max_parked\": 5,"
		" \"send_bytes_per_second\": 1000, \"ops_per_second\": 10}]}}");
	struct policy_identity ci = { .has_credentials = true, .uid = 1000, .token_name = "ci" };
	struct policy_identity user = { .has_credentials = true, .uid = 1000 };
	struct policy_identity other = { .has_credentials = true, .uid = 1001 };
	ck_assert_str_eq(policy_quota_for(policy, &ci)->name, "ci");
	ck_assert_uint_eq(policy_quota_for(policy, &ci)->max_handles, 100);
	const struct policy_quota *q = policy_quota_for(policy, &user);
	ck_assert_str_eq(q->name, "uid-1000");
	ck_assert_uint_eq(q->max_parked, 5);
	ck_assert_uint_eq(q->send_bytes_per_second, 1000);
	ck_assert_uint_eq(q->ops_per_second, 10);
	ck_assert_ptr_null(policy_quota_for(policy, &other));
}
END_TEST

START_TEST(a_printed_policy_loads_back_the_same)
{
	static const char json[] =
		"{\"policy\": {\"rules\": ["
		"{\"name\": \"r1\", \"allow\": false, \"errno\": \"EPERM\", \"uids\": [1, 2],"
		" \"tokens\": [\"t\"], \"tls\": false, \"transports\": [\"ipc\", \"tls+tcp\"],"
		" \"ops\": [\"connect\", \"send-to\"], \"families\": [\"AF_INET6\"],"
		" \"types\": [\"SOCK_DGRAM\"], \"protocols\": [17], \"addresses\": [\"fd00::/8\"],"
		" \"ports\": [53, \"1000-2000\"], \"hosts\": [\"*.x\"]},"
		"{\"name\": \"r2\", \"allow\": true, \"unix_paths\": [\"/run/a/\", \"@b*\"],"
		" \"sockopts\": [[\"SOL_SOCKET\", \"*\"], [6, 1]]}],"
		" \"quotas\": [{\"name\": \"q\", \"gids\": [5], \"max_handles\": 9,"
		" \"recv_bytes_per_second\": 77}]}}";
	char *first = NULL, *second = NULL;
	size_t len;

	load(json);
	FILE *f = open_memstream(&first, &len);
	config_print(&cfg, f);
	fclose(f);
	load(first);
	f = open_memstream(&second, &len);
	config_print(&cfg, f);
	fclose(f);
	ck_assert_str_eq(first, second);
	ck_assert_ptr_nonnull(strstr(first, "\"AF_INET6\""));
	ck_assert_ptr_nonnull(strstr(first, "\"1000-2000\""));
	free(first);
	free(second);
}
END_TEST

START_TEST(the_default_policy_prints_as_a_loadable_file)
{
	char *text = NULL;
	size_t len;
	config_fini(&cfg);
	config_init(&cfg);
	FILE *f = open_memstream(&text, &len);
	config_print(&cfg, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "\"deny-cloud-metadata\""));
	load(text);
	struct policy builtin;
	ck_assert_int_eq(policy_init_default(&builtin), 0);
	ck_assert_uint_eq(cfg.policy->n_rules, builtin.n_rules);
	for (size_t i = 0; i < builtin.n_rules; i++)
		ck_assert_str_eq(cfg.policy->rules[i].name, builtin.rules[i].name);
	policy_fini(&builtin);
	free(text);
}
END_TEST

static char *
print_policy_of(const struct config *c)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	config_print(c, f);
	fclose(f);
	return text;
}

START_TEST(the_shipped_default_example_is_the_builtin_default)
{
	const char *root = getenv("SOCKBROKER_SOURCE_ROOT");
	char path[4096], err[512];
	ck_assert_msg(root, "set SOCKBROKER_SOURCE_ROOT to the top of the source tree");
	snprintf(path, sizeof(path), "%s/examples/policy-default.json", root);

	struct config builtin;
	config_init(&builtin);
	char *expected = print_policy_of(&builtin);
	config_fini(&builtin);

	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	char *shipped = print_policy_of(&cfg);
	ck_assert_str_eq(shipped, expected);
	free(shipped);
	free(expected);
}
END_TEST

START_TEST(every_shipped_policy_example_loads)
{
	static const char *const names[] = { "policy-default.json", "policy-strict-sandbox.json",
					      "policy-sidecar.json", "policy-test-harness.json" };
	const char *root = getenv("SOCKBROKER_SOURCE_ROOT");
	char path[4096], err[512];
	ck_assert_msg(root, "set SOCKBROKER_SOURCE_ROOT to the top of the source tree");
	for (size_t i = 0; i < N(names); i++) {
		snprintf(path, sizeof(path), "%s/examples/%s", root, names[i]);
		config_fini(&cfg);
		config_init(&cfg);
		ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
		ck_assert_ptr_nonnull(cfg.policy);
		ck_assert_uint_gt(cfg.policy->n_rules, 0);
	}
}
END_TEST

START_TEST(the_strict_sandbox_keeps_the_host_out_of_reach)
{
	const char *root = getenv("SOCKBROKER_SOURCE_ROOT");
	char path[4096], err[512];
	ck_assert_msg(root, "set SOCKBROKER_SOURCE_ROOT to the top of the source tree");
	snprintf(path, sizeof(path), "%s/examples/policy-strict-sandbox.json", root);
	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	static const struct row rows[] = {
		{ "loopback", POLICY_OP_CONNECT, TCP, { "127.0.0.1", 80 }, .uid = 1,
		  .rule = "no-host-or-private", .errnum = EACCES },
		{ "mapped loopback", POLICY_OP_CONNECT, TCP6, { "::ffff:127.0.0.1", 80 }, .uid = 1,
		  .rule = "no-host-or-private", .errnum = EACCES },
		{ "any address", POLICY_OP_CONNECT, TCP, { "0.0.0.0", 80 }, .uid = 1,
		  .rule = "no-host-or-private", .errnum = EACCES },
		{ "private", POLICY_OP_SEND_TO, UDP, { "192.168.0.1", 53 }, .uid = 1,
		  .rule = "no-host-or-private", .errnum = EACCES },
		{ "public", POLICY_OP_CONNECT, TCP6, { "2001:db8::1", 443 }, .uid = 1, .allow = true,
		  .rule = "outbound-tcp-udp" },
		{ "no bind", POLICY_OP_BIND, TCP, { "0.0.0.0", 8080 }, .uid = 1,
		  .rule = "default-deny", .errnum = EACCES },
		{ "no unix", POLICY_OP_CREATE, AF_UNIX, SOCK_STREAM, 0, .uid = 1,
		  .rule = "default-deny", .errnum = EPERM },
	};
	check_rows(cfg.policy, rows, N(rows));
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("matcher");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, default_policy_decides_the_documented_cases);
	tcase_add_test(tc, rules_match_identity_and_first_match_wins);
	tcase_add_test(tc, rules_match_addresses_ports_and_sockets);
	tcase_add_test(tc, rules_match_unix_paths);
	tcase_add_test(tc, an_empty_rule_list_denies_everything);
	tcase_add_test(tc, the_first_matching_quota_applies);
	tcase_add_test(tc, needed_capabilities_follow_the_allow_rules);
	suite_add_tcase(s, tc);

	TCase *parse = tcase_create("parse");
	tcase_add_checked_fixture(parse, NULL, teardown);
	tcase_add_test(parse, the_parser_refuses_bad_rules_naming_the_field);
	tcase_add_test(parse, a_failed_policy_keeps_the_one_loaded_before);
	tcase_add_test(parse, a_printed_policy_loads_back_the_same);
	tcase_add_test(parse, the_default_policy_prints_as_a_loadable_file);
	tcase_add_test(parse, the_shipped_default_example_is_the_builtin_default);
	tcase_add_test(parse, every_shipped_policy_example_loads);
	tcase_add_test(parse, the_strict_sandbox_keeps_the_host_out_of_reach);
	suite_add_tcase(s, parse);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(policy_suite());
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
