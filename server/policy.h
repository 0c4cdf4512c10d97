/*
 * policy: the decision every brokered operation passes before it touches the
 * kernel. A policy is an ordered list of rules, each a set of conditions and
 * a verdict; the first rule whose every condition holds decides, and a
 * request no rule matches is denied by the implicit last rule "default-deny".
 * Quotas are a second ordered list, the first entry matching the identity
 * applies.
 *
 * policy_check() is a pure function of (policy, identity, request): no I/O,
 * no clock, no allocation, so the matcher is tested on its own, table-driven.
 * The caller hands it what it decided on: addresses already resolved (a host
 * name never reaches a destination rule; IPv4-mapped IPv6 addresses are
 * judged as the IPv4 address they carry, and a denial about an IPv4 range
 * also holds for the IPv6 forms that embed one: SIIT, IPv4-compatible, NAT64
 * 64:ff9b::/96 and 6to4 2002::/16), and AF_UNIX paths already checked
 * free of symlinks and "..". Building a policy from the config file is
 * config.c's job; a struct policy is immutable once built.
 */
#ifndef SOCKBROKER_POLICY_H
#define SOCKBROKER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "peer-transport.h"

/* Operation classes a rule can name ("ops" in the file). */
enum policy_op {
	POLICY_OP_CREATE,      /* socket(), socketpair(), the socket of create_* */
	POLICY_OP_CONNECT,     /* connect(), connect_ex(), each create_connection attempt */
	POLICY_OP_BIND,        /* bind(), create_server, create_connection's source_address */
	POLICY_OP_LISTEN,      /* listen(), create_server */
	POLICY_OP_SEND_TO,     /* sendto(), sendmsg() with an address */
	POLICY_OP_RESOLVE,     /* the name service, and host names in addresses */
	POLICY_OP_SETHOSTNAME, /* sethostname() */
	POLICY_OP_INTERFACES,  /* if_nameindex(), if_nametoindex(), if_indextoname() */
	POLICY_OP_SOCKOPT,     /* setsockopt() */
	POLICY_OP_HANDOFF,     /* passing a socket's descriptor to a local client; the request
				* carries the socket's peer address, when it has one */
	POLICY_OP__COUNT,
};

/* enum policy_transport: peer-transport.h. */

/* Who asks: built from the session. */
struct policy_identity {
	enum policy_transport transport;
	bool has_credentials; /* uid and gid are the peer's (ipc, abstract) */
	uid_t uid;
	gid_t gid;
	const char *token_name; /* the token the session authenticated with, or NULL */
	bool tls_verified;      /* a client certificate was verified */
};

/* What is asked. Fields an operation does not have stay at their zero/NULL value. */
struct policy_request {
	enum policy_op op;
	/* The socket's family, type (without SOCK_NONBLOCK/SOCK_CLOEXEC) and
	 * protocol: every op but RESOLVE, SETHOSTNAME and INTERFACES. */
	bool has_socket;
	int family, type, proto;
	/* CONNECT, BIND, SEND_TO: the resolved address; RESOLVE: the address of
	 * a reverse lookup. AF_INET, AF_INET6, or AF_UNIX (see unix_path). */
	const struct sockaddr *addr;
	socklen_t addrlen;
	/* AF_UNIX addresses: the path free of symlinks ("/run/app.sock"), or
	 * "@name" for an abstract name; NULL for an unnamed socket. */
	const char *unix_path;
	int level, optname; /* SOCKOPT */
	const char *host;   /* RESOLVE: the name looked up; SETHOSTNAME: the new name */
};

struct policy_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct policy_port_range {
	uint16_t lo, hi;
};

struct policy_sockopt {
	int level;
	int optname; /* -1: every option of the level */
};

/* Conditions on who asks; an empty list matches everyone. */
struct policy_identity_match {
	uid_t *uids;
	size_t n_uids;
	gid_t *gids;
	size_t n_gids;
	char **tokens; /* token names; "*": any token */
	size_t n_tokens;
	int tls;             /* -1: either; 0: no verified certificate; 1: one */
	unsigned transports; /* 1u << enum policy_transport; 0: any */
};

struct policy_rule {
	char *name;
	bool allow;
	int errnum; /* of a denial; 0: the op's usual one (policy_default_errno()) */
	struct policy_identity_match who;
	unsigned ops;       /* 1u << enum policy_op; 0: any */
	uint64_t families;  /* 1ull << AF_*; 0: any */
	uint32_t types;     /* 1u << SOCK_*; 0: any */
	int *protos;        /* IPPROTO_* numbers; empty: any */
	size_t n_protos;
	struct policy_cidr *addresses; /* connect/send-to destination, bind address */
	size_t n_addresses;
	struct policy_port_range *ports;
	size_t n_ports;
	char **unix_paths; /* "/dir/" (a directory and below), "/exact.sock", or "@abstract*" */
	size_t n_unix_paths;
	struct policy_sockopt *sockopts;
	size_t n_sockopts;
	char **hosts; /* host-name patterns (fnmatch, case-insensitive) */
	size_t n_hosts;
};

struct policy_quota {
	char *name;
	struct policy_identity_match who;
	uint32_t max_handles;         /* 0: no limit beyond the daemon's per-session one */
	uint32_t max_parked;          /* 0: likewise */
	uint64_t send_bytes_per_second; /* 0: unlimited */
	uint64_t recv_bytes_per_second;
	uint32_t ops_per_second;
};

struct policy {
	struct policy_rule *rules;
	size_t n_rules;
	struct policy_quota *quotas;
	size_t n_quotas;
	bool builtin; /* the built-in default, no "policy" in the configuration */
};

struct policy_decision {
	bool allow;
	const char *rule; /* the deciding rule's name; "default-deny" when none matched */
	int errnum;       /* EACCES or EPERM for a denial, 0 when allowed */
};

/* Capabilities a policy can need (bit mask). */
enum {
	POLICY_CAP_NET_BIND_SERVICE = 1 << 0, /* binds to ports below 1024 */
	POLICY_CAP_NET_RAW = 1 << 1,          /* SOCK_RAW, AF_PACKET */
	POLICY_CAP_NET_ADMIN = 1 << 2,        /* SO_MARK, IP_TRANSPARENT, netlink changes */
	POLICY_CAP_SYS_ADMIN = 1 << 3,        /* sethostname: never kept, only reported */
};

/* Decide `request` for `identity`. Always fills `decision`. */
void policy_check(const struct policy *policy, const struct policy_identity *identity,
		  const struct policy_request *request, struct policy_decision *decision);

/* The quota that applies to `identity`, or NULL for none. */
const struct policy_quota *policy_quota_for(const struct policy *policy,
					    const struct policy_identity *identity);

/* Whether some identity could be allowed `request`: for each allow rule, an identity that
 * meets its identity conditions asks (as policy_needed_caps() works out capabilities). The
 * monitor's check of what the serving process asks of it. */
bool policy_could_allow(const struct policy *policy, const struct policy_request *request);

/* The capabilities some allow rule of `policy` may need (POLICY_CAP_*). */
unsigned policy_needed_caps(const struct policy *policy);

/* EPERM for create, sethostname and sockopt (what the kernel answers an
 * unprivileged caller), EACCES for the rest. */
int policy_default_errno(enum policy_op op);

/* The op class's name in the file ("connect", "send-to", ...). */
const char *policy_op_name(enum policy_op op);

/* The transport's name in the file ("ipc", "abstract", "tcp", "tls+tcp"). */
const char *policy_transport_name(enum policy_transport transport);

/*
 * Fill `policy` with the built-in default: TCP and UDP over AF_INET/AF_INET6
 * to anywhere but link-local (with link-scope multicast ff02::/16), site-local
 * (fec0::/10) and the cloud metadata addresses; binds to ports 0 and
 * 1024-65535 of any address but the metadata one; name resolution and
 * interface listing; unnamed AF_UNIX sockets and socketpairs; every
 * setsockopt but the privileged ones (IP_TRANSPARENT, IPV6_TRANSPARENT,
 * SO_MARK), those that choose the device (SO_BINDTODEVICE, SO_BINDTOIFINDEX,
 * IP_UNICAST_IF, IPV6_UNICAST_IF) or the route (IP_OPTIONS, IP_RETOPTS,
 * IPV6_RTHDR, IPV6_2292RTHDR, IPV6_2292PKTOPTIONS), and SO_REUSEPORT.
 * Nothing else: no AF_UNIX paths or abstract names, AF_NETLINK, AF_PACKET,
 * SOCK_RAW or sethostname.
 * Returns 0 or -ENOMEM. Release with policy_fini().
 */
int policy_init_default(struct policy *policy);

/* Free what `policy` owns and zero it; harmless on a zeroed policy. */
void policy_fini(struct policy *policy);

/* The name of protocol `proto` for a rule of `families` (1ull << AF_*; 0: any): IPPROTO_*
 * for the IP families, ETH_P_* for AF_PACKET, NETLINK_* for AF_NETLINK, CAN_* for AF_CAN;
 * NULL when the families mix, or no name or several names have that value. */
const char *policy_protocol_name(uint64_t families, int proto);

/* Write the effective rules and quotas, one per line, as an operator reads
 * them (for --check-config). */
void policy_print(const struct policy *policy, FILE *out);

#endif
