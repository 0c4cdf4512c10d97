#include <errno.h>
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
		Sockbroker__V1__RawAddress raw;
	} member;
	char host[sizeof(((struct sb_addr *)0)->host)];
	uint8_t bytes[sizeof(((struct sb_addr *)0)->raw)];
};

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
	default:
		append(buf, len, &pos, "(family %d)", addr->family);
		for (size_t i = 0; i < addr->raw_len && i < sizeof(addr->raw); i++)
			append(buf, len, &pos, "%s%02x", i == 0 ? " " : "", addr->raw[i]);
		break;
	}
}

int
sb__addr_to_wire(const struct sb_addr *addr, struct Sockbroker__V1__Address **out)
{
	struct wire_address *wire;

	if (addr == NULL)
		return -EINVAL;
	wire = calloc(1, sizeof(*wire));
	if (wire == NULL)
		return -ENOMEM;
	sockbroker__v1__address__init(&wire->address);

	switch (addr->family) {
	case AF_INET:
	case AF_INET6:
		if (memchr(addr->host, '\0', sizeof(addr->host)) == NULL)
			goto err_invalid;
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
		break;
	case AF_UNIX:
		if (addr->path_len > (addr->abstract ? ABSTRACT_NAME_MAX : sizeof(addr->path)))
			goto err_invalid;
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
		break;
	default:
		if (addr->raw_len > sizeof(addr->raw))
			goto err_invalid;
		sockbroker__v1__raw_address__init(&wire->member.raw);
		memcpy(wire->bytes, addr->raw, addr->raw_len);
		wire->member.raw.has_family = true;
		wire->member.raw.family = addr->family;
		wire->member.raw.has_data = true;
		wire->member.raw.data.data = wire->bytes;
		wire->member.raw.data.len = addr->raw_len;
		wire->address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_RAW;
		wire->address.raw = &wire->member.raw;
		break;
	}

	*out = &wire->address;
	return 0;

err_invalid:
	free(wire);
	return -EINVAL;
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

static void
copy_path(struct sb_addr *addr, ProtobufCBinaryData bytes)
{
	addr->path_len = bytes.len < sizeof(addr->path) ? bytes.len : sizeof(addr->path);
	if (addr->path_len > 0)
		memcpy(addr->path, bytes.data, addr->path_len);
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
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET:
		addr->family = AF_PACKET;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG:
		addr->family = AF_ALG;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_VSOCK:
		addr->family = AF_VSOCK;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_CAN:
		addr->family = AF_CAN;
		break;
	case SOCKBROKER__V1__ADDRESS__FAMILY_AF_TIPC:
		addr->family = AF_TIPC;
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
