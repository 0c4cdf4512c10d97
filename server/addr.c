#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

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

int
addr_to_sockaddr(const struct address *addr, struct sockaddr_buf *out)
{
	memset(out, 0, sizeof(*out));
	switch (addr->family) {
	case AF_INET: {
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
	case AF_INET6: {
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
	case AF_UNIX: {
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
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, out->inet.host, sizeof(out->inet.host));
		out->inet.port = ntohs(sin->sin_port);
		return;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, out->inet.host, sizeof(out->inet.host));
		out->inet.port = ntohs(sin6->sin6_port);
		out->inet.flowinfo = ntohl(sin6->sin6_flowinfo);
		out->inet.scope_id = sin6->sin6_scope_id;
		return;
	}
	case AF_UNIX: {
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
	default:
		snprintf(buf, len, "(family %d, %zu bytes)", addr->family, addr->raw.len);
		break;
	}
}

void
addr_format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	struct address addr;
	addr_from_sockaddr(sa, len, &addr);
	addr_format(&addr, buf, buflen);
}
