/*
 * Socket addresses as plain C values, and their conversion to and from
 * sockaddr. wire.c fills a `struct address` from the protocol's Address
 * message (checking lengths and ranges); everything past wire works on this
 * struct and on sockaddr_storage only.
 *
 * Host strings follow the reference: "" is the any address, "<broadcast>"
 * INADDR_BROADCAST, numeric forms are parsed here, anything else is a name
 * that must be resolved (off the reactor) before use.
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

struct address {
	int family; /* AF_INET, AF_INET6, AF_UNIX, or another family as raw bytes */
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
	};
};

/* A sockaddr and its length. */
struct sockaddr_buf {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Returned by addr_to_sockaddr() when the host is a name to resolve. */
#define ADDR_NEEDS_RESOLVE 1

/* Build the sockaddr for `addr`. Returns 0, ADDR_NEEDS_RESOLVE (then
 * out->ss.ss_family is set and the port is in place), or -EINVAL. */
int addr_to_sockaddr(const struct address *addr, struct sockaddr_buf *out);

/* Put a resolved IP address (a sockaddr_in/in6 from getaddrinfo) into
 * `out`, keeping the port, flowinfo and scope_id of `addr`. */
void addr_apply_resolved(const struct address *addr, const struct sockaddr *resolved,
			 struct sockaddr_buf *out);

/* Fill `out` from a sockaddr the kernel gave (numeric host strings). An
 * unknown family becomes raw bytes. */
void addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct address *out);

/* "127.0.0.1:80", "[::1]:80", "/path", "@name", "(unnamed)"; for logs. */
void addr_format(const struct address *addr, char *buf, size_t len);

/* The same for a sockaddr. */
void addr_format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

#endif
