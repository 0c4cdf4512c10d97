/*
 * Socket addresses as plain C values, and their conversion to and from
 * sockaddr. wire.c fills a `struct address` from the protocol's Address
 * message (checking lengths and ranges); everything past wire works on this
 * struct and on sockaddr_storage only.
 *
 * Host strings follow the reference: "" is the any address, "<broadcast>"
 * INADDR_BROADCAST, numeric forms are parsed here, anything else is a name
 * that must be resolved (off the reactor) before use. Interface names
 * (AF_PACKET, AF_CAN) are turned into indexes when the sockaddr is built,
 * in the daemon's network namespace: a cheap ioctl, not a name lookup.
 */
#ifndef SOCKBROKER_ADDR_H
#define SOCKBROKER_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDRESS_HOST_MAX 256
#define ADDRESS_PATH_MAX 108
#define ADDRESS_RAW_MAX 126
#define ADDRESS_IFNAME_MAX 16   /* IFNAMSIZ: an interface name and its NUL */
#define ADDRESS_HWADDR_MAX 8    /* sockaddr_ll::sll_addr */
#define ADDRESS_ALG_TYPE_MAX 14 /* sockaddr_alg::salg_type, with its NUL */
#define ADDRESS_ALG_NAME_MAX 64 /* sockaddr_alg::salg_name, with its NUL */

/* Which of the reference's AF_CAN tuples an address is: (interface,) for
 * CAN_RAW/CAN_BCM, with rx/tx ids for CAN_ISOTP, with name/pgn/addr for
 * CAN_J1939. */
enum address_can_form {
	ADDRESS_CAN_PLAIN,
	ADDRESS_CAN_ISOTP,
	ADDRESS_CAN_J1939,
};

struct address {
	/* AF_INET, AF_INET6, AF_UNIX, AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK,
	 * AF_CAN and AF_TIPC use their member below; any other family is raw
	 * bytes. */
	int family;
	union {
		struct {
			char host[ADDRESS_HOST_MAX];
			uint16_t port;
			uint32_t flowinfo; /* AF_INET6 */
			uint32_t scope_id; /* AF_INET6 */
		} inet;
		struct {
			bool abstract;
			size_t len; /* 0: unnamed */
			uint8_t path[ADDRESS_PATH_MAX];
		} un;
		struct {
			size_t len;
			uint8_t data[ADDRESS_RAW_MAX];
		} raw;
		struct {
			uint32_t pid, groups;
		} netlink;
		struct {
			char ifname[ADDRESS_IFNAME_MAX]; /* "": any interface (index 0) */
			uint16_t proto;                  /* ETH_P_*, host order */
			uint8_t pkttype;                 /* PACKET_HOST, ... */
			uint16_t hatype;                 /* ARPHRD_* */
			uint8_t halen;
			uint8_t addr[ADDRESS_HWADDR_MAX];
		} packet;
		struct {
			char type[ADDRESS_ALG_TYPE_MAX]; /* "hash", "skcipher", ... */
			char name[ADDRESS_ALG_NAME_MAX]; /* "sha256", "cbc(aes)", ... */
			uint32_t feat, mask;
		} alg;
		struct {
			uint32_t cid, port;
		} vsock;
		struct {
			char ifname[ADDRESS_IFNAME_MAX]; /* "": every interface (index 0) */
			enum address_can_form form;
			uint32_t rx_id, tx_id; /* ADDRESS_CAN_ISOTP */
			uint64_t j1939_name;   /* ADDRESS_CAN_J1939 */
			uint32_t j1939_pgn;
			uint8_t j1939_addr;
		} can;
		struct {
			uint8_t addr_type; /* TIPC_ADDR_NAMESEQ, TIPC_ADDR_NAME, TIPC_ADDR_ID */
			int8_t scope;      /* TIPC_ZONE_SCOPE, ... */
			uint32_t v1, v2, v3;
		} tipc;
	};
};

/* A sockaddr and its length. */
struct sockaddr_buf {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Returned by addr_to_sockaddr() when the host is a name to resolve. */
#define ADDR_NEEDS_RESOLVE 1

/* Build the sockaddr for `addr`, with its family's exact length. Returns 0,
 * ADDR_NEEDS_RESOLVE (then out->ss.ss_family is set and the port is in
 * place), -EINVAL when the address does not fit its sockaddr (a request
 * error), or the -errno of looking up an interface name (AF_PACKET, AF_CAN;
 * -ENODEV: no such interface), which is the OS's answer for the operation.
 * addr_describe_failure() says which. */
int addr_to_sockaddr(const struct address *addr, struct sockaddr_buf *out);

/* The message for an error reply after addr_to_sockaddr(addr) returned
 * `r` < 0: it names the interface of a failed lookup, or the family whose
 * sockaddr the address does not fit. */
void addr_describe_failure(const struct address *addr, int r, char *buf, size_t len);

/* Put a resolved IP address (a sockaddr_in/in6 from getaddrinfo) into
 * `out`, keeping the port, flowinfo and scope_id of `addr`. */
void addr_apply_resolved(const struct address *addr, const struct sockaddr *resolved,
			 struct sockaddr_buf *out);

/* Fill `out` from a sockaddr the kernel gave (numeric host strings;
 * interface indexes become names, "" when the index is 0 or unknown). An
 * unknown family becomes raw bytes. */
void addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out);

/* "127.0.0.1:80", "[::1]:80", "/path", "@name", "(unnamed)", "netlink 0/0",
 * "packet lo 0x0800", "alg hash sha256", "vsock 1:1234", "can vcan0",
 * "tipc 2 1000/1/1"; for logs. */
void addr_format(const struct address *addr, char *buf, size_t len);

/* The same for a sockaddr. */
void addr_format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

#endif
