#include "cmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- which (level, type) is which ------------------------------------- */

static bool
is(const struct cmsg_item *item, int level, int type)
{
	return item->level == level && item->type == type;
}

static bool
is_rights(int level, int type)
{
	return level == SOL_SOCKET && type == SCM_RIGHTS;
}

static bool
is_pktinfo6(const struct cmsg_item *item)
{
	return is(item, IPPROTO_IPV6, IPV6_PKTINFO);
}

static bool
is_int_type(const struct cmsg_item *item)
{
	return is(item, IPPROTO_IP, IP_TOS) || is(item, IPPROTO_IP, IP_TTL) ||
	       is(item, IPPROTO_IPV6, IPV6_HOPLIMIT) || is(item, IPPROTO_IPV6, IPV6_TCLASS);
}

/* SO_TIMESTAMP and SO_TIMESTAMPNS are expressions, not constants, where
 * time_t may be 64 bits on a 32-bit kernel ABI: hence ifs, not a switch.
 * Each comes in the old (native timeval/timespec) and new (64-bit fields)
 * layout; the kernel answers in the layout the option was set with. */
enum timestamp_layout {
	TS_NONE,
	TS_TIMEVAL,
	TS_TIMESPEC,
	TS_TIMEVAL64,
	TS_TIMESPEC64,
};

static enum timestamp_layout
timestamp_layout(int level, int type)
{
	if (level != SOL_SOCKET)
		return TS_NONE;
#ifdef SO_TIMESTAMP_NEW
	if (type == SO_TIMESTAMP_NEW)
		return TS_TIMEVAL64;
	if (type == SO_TIMESTAMPNS_NEW)
		return TS_TIMESPEC64;
	if (type == SO_TIMESTAMP_OLD)
		return TS_TIMEVAL;
	if (type == SO_TIMESTAMPNS_OLD)
		return TS_TIMESPEC;
#else
	if (type == SO_TIMESTAMP)
		return TS_TIMEVAL;
	if (type == SO_TIMESTAMPNS)
		return TS_TIMESPEC;
#endif
	return TS_NONE;
}

void
cmsg_describe(int level, int type, char *buf, size_t len)
{
	const char *level_name = NULL, *type_name = NULL;

	if (level == SOL_SOCKET) {
		level_name = "SOL_SOCKET";
		if (type == SCM_RIGHTS)
			type_name = "SCM_RIGHTS";
		else if (type == SCM_CREDENTIALS)
			type_name = "SCM_CREDENTIALS";
		else if (timestamp_layout(level, type) == TS_TIMEVAL ||
			 timestamp_layout(level, type) == TS_TIMEVAL64)
			type_name = "SO_TIMESTAMP";
		else if (timestamp_layout(level, type) != TS_NONE)
			type_name = "SO_TIMESTAMPNS";
	} else if (level == IPPROTO_IP) {
		level_name = "IPPROTO_IP";
		type_name = type == IP_PKTINFO   ? "IP_PKTINFO"
			    : type == IP_TOS     ? "IP_TOS"
			    : type == IP_TTL     ? "IP_TTL"
			    : type == IP_RECVERR ? "IP_RECVERR"
						 : NULL;
	} else if (level == IPPROTO_IPV6) {
		level_name = "IPPROTO_IPV6";
		type_name = type == IPV6_PKTINFO    ? "IPV6_PKTINFO"
			    : type == IPV6_HOPLIMIT ? "IPV6_HOPLIMIT"
			    : type == IPV6_TCLASS   ? "IPV6_TCLASS"
			    : type == IPV6_RECVERR  ? "IPV6_RECVERR"
						    : NULL;
	}
	if (level_name && type_name)
		snprintf(buf, len, "%s, %s", level_name, type_name);
	else if (level_name)
		snprintf(buf, len, "%s, type %d", level_name, type);
	else
		snprintf(buf, len, "level %d, type %d", level, type);
}

/* ---- sending ------------------------------------------------------------ */

static int item_error(char *message, size_t message_len, int errnum, size_t index,
		      const struct cmsg_item *item, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int
item_error(char *message, size_t message_len, int errnum, size_t index,
	   const struct cmsg_item *item, const char *fmt, ...)
{
	char what[64], why[160];
	va_list ap;

	cmsg_describe(item->level, item->type, what, sizeof(what));
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(message, message_len, "ancillary[%zu] (%s): %s", index, what, why);
	return -errnum;
}

/* The data length an item has in the control buffer; 0 for a decoded
 * member that does not fit its level and type (cmsg_build() says so). */
static size_t
data_size(const struct cmsg_item *item)
{
	switch (item->view) {
	case CMSG_VIEW_NONE:
		return item->len;
	case CMSG_VIEW_RIGHTS:
		return item->rights.count <= CMSG_SEND_MAX / sizeof(int)
			       ? item->rights.count * sizeof(int)
			       : CMSG_SEND_MAX + 1;
	case CMSG_VIEW_CREDENTIALS:
		return sizeof(struct ucred);
	case CMSG_VIEW_PKTINFO:
		return is_pktinfo6(item) ? sizeof(struct in6_pktinfo) : sizeof(struct in_pktinfo);
	case CMSG_VIEW_INT:
		return sizeof(int);
	default:
		return 0;
	}
}

size_t
cmsg_build_size(const struct cmsg_item *items, size_t count)
{
	size_t total = 0;

	for (size_t i = 0; i < count; i++) {
		size_t size = data_size(&items[i]);
		if (size > CMSG_SEND_MAX)
			return SIZE_MAX;
		total += CMSG_SPACE(size);
		if (total > CMSG_SEND_MAX)
			return SIZE_MAX;
	}
	return total;
}

/* The daemon may speak only for itself: the kernel would let a privileged
 * daemon send any pid, uid and gid, and a client must not borrow that. */
static bool
own_credentials(int64_t pid, int64_t uid, int64_t gid)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return false;
	return pid == getpid() && (uid == ruid || uid == euid || uid == suid) &&
	       (gid == rgid || gid == egid || gid == sgid);
}

static int
parse_ip(int family, const char *text, void *out)
{
	if (text[0] == '\0')
		return 0; /* out is zeroed: the any address */
	return inet_pton(family, text, out) == 1 ? 0 : -EINVAL;
}

/* Raw bytes for a type whose size the kernel fixes: refuse a wrong size
 * here, with a message naming the item, rather than leave the client
 * with the kernel's bare EINVAL. */
static int
check_raw(const struct cmsg_item *item, size_t index, char *message, size_t message_len)
{
	size_t want = 0;
	const char *what = NULL;

	if (is_rights(item->level, item->type))
		return item_error(message, message_len, EINVAL, index, item,
				  "SCM_RIGHTS names handles in `rights`; raw descriptor numbers "
				  "are not accepted");
	if (is(item, SOL_SOCKET, SCM_CREDENTIALS)) {
		want = sizeof(struct ucred);
		what = "a struct ucred";
	} else if (is(item, IPPROTO_IP, IP_PKTINFO)) {
		want = sizeof(struct in_pktinfo);
		what = "a struct in_pktinfo";
	} else if (is(item, IPPROTO_IPV6, IPV6_PKTINFO)) {
		want = sizeof(struct in6_pktinfo);
		what = "a struct in6_pktinfo";
	} else if (is(item, IPPROTO_IP, IP_TOS)) {
		/* The kernel takes the TOS as a byte or as an int. */
		if (item->len == 1 || item->len == sizeof(int))
			return 0;
		return item_error(message, message_len, EINVAL, index, item,
				  "data is %zu bytes; IP_TOS takes 1 byte or a %zu-byte int",
				  item->len, sizeof(int));
	} else if (is_int_type(item)) {
		want = sizeof(int);
		what = "a C int";
	}
	if (what && item->len != want)
		return item_error(message, message_len, EINVAL, index, item,
				  "data is %zu bytes, but %s is %zu (truncated or malformed)",
				  item->len, what, want);
	if (is(item, SOL_SOCKET, SCM_CREDENTIALS)) {
		struct ucred cred;
		memcpy(&cred, item->data, sizeof(cred));
		if (!own_credentials(cred.pid, cred.uid, cred.gid))
			return item_error(message, message_len, EPERM, index, item,
					  "only the daemon's own pid, uid and gid may be sent; "
					  "the daemon does not send credentials for others");
	}
	return 0;
}

/* SCM_CREDENTIALS: only the daemon's own, as the kernel would check for an unprivileged
 * sender. 0, or -errno with `message` filled. */
static int
build_credentials(const struct cmsg_item *item, size_t index, uint8_t *data, char *message,
		  size_t message_len)
{
	const int64_t pid = item->credentials.pid, uid = item->credentials.uid,
		      gid = item->credentials.gid;
	if (pid < 0 || pid > INT_MAX || uid < 0 || uid > UINT32_MAX || gid < 0 ||
	    gid > UINT32_MAX)
		return item_error(message, message_len, EINVAL, index, item,
				  "pid, uid or gid out of range");
	if (!own_credentials(pid, uid, gid))
		return item_error(message, message_len, EPERM, index, item,
				  "only the daemon's own pid, uid and gid may be sent; "
				  "the daemon does not send credentials for others");
	struct ucred cred = { .pid = (pid_t)pid, .uid = (uid_t)uid, .gid = (gid_t)gid };
	memcpy(data, &cred, sizeof(cred));
	return 0;
}

static int
build_view(const struct cmsg_item *item, size_t index, cmsg_fd_lookup lookup, void *userdata,
	   uint8_t *data, char *message, size_t message_len)
{
	switch (item->view) {
	case CMSG_VIEW_RIGHTS:
		if (!is_rights(item->level, item->type))
			break;
		for (size_t i = 0; i < item->rights.count; i++) {
			int fd = lookup(userdata, item->rights.handles[i]);
			if (fd < 0)
				return item_error(message, message_len, EBADF, index, item,
						  "handle %llu is not an open socket of this "
						  "session; nothing was sent",
						  (unsigned long long)item->rights.handles[i]);
			memcpy(data + i * sizeof(int), &fd, sizeof(int));
		}
		return 0;
	case CMSG_VIEW_CREDENTIALS:
		if (!is(item, SOL_SOCKET, SCM_CREDENTIALS))
			break;
		return build_credentials(item, index, data, message, message_len);
	case CMSG_VIEW_PKTINFO:
		if (is(item, IPPROTO_IP, IP_PKTINFO)) {
			struct in_pktinfo info;
			memset(&info, 0, sizeof(info));
			info.ipi_ifindex = (int)item->pktinfo.ifindex;
			if (parse_ip(AF_INET, item->pktinfo.spec_dst, &info.ipi_spec_dst) < 0 ||
			    parse_ip(AF_INET, item->pktinfo.addr, &info.ipi_addr) < 0)
				return item_error(message, message_len, EINVAL, index, item,
						  "pktinfo addresses must be IPv4 dotted quads "
						  "(got \"%s\" and \"%s\")",
						  item->pktinfo.spec_dst, item->pktinfo.addr);
			memcpy(data, &info, sizeof(info));
			return 0;
		}
		if (is_pktinfo6(item)) {
			struct in6_pktinfo info;
			memset(&info, 0, sizeof(info));
			info.ipi6_ifindex = item->pktinfo.ifindex;
			if (item->pktinfo.spec_dst[0])
				return item_error(message, message_len, EINVAL, index, item,
						  "spec_dst is IPv4 only; leave it out");
			if (parse_ip(AF_INET6, item->pktinfo.addr, &info.ipi6_addr) < 0)
				return item_error(
					message, message_len, EINVAL, index, item,
					"pktinfo.addr must be an IPv6 address (got \"%s\")",
					item->pktinfo.addr);
			memcpy(data, &info, sizeof(info));
			return 0;
		}
		break;
	case CMSG_VIEW_INT:
		if (!is_int_type(item))
			break;
		memcpy(data, &item->int_value, sizeof(int));
		return 0;
	default:
		break;
	}
	static const char *const names[] = {
		[CMSG_VIEW_NONE] = "data",
		[CMSG_VIEW_RIGHTS] = "rights",
		[CMSG_VIEW_CREDENTIALS] = "credentials",
		[CMSG_VIEW_PKTINFO] = "pktinfo",
		[CMSG_VIEW_INT] = "int_value",
		[CMSG_VIEW_TIMESTAMP] = "timestamp",
		[CMSG_VIEW_EXTENDED_ERROR] = "extended_error",
	};
	return item_error(message, message_len, EINVAL, index, item,
			  "a `%s` member does not fit this level and type; give raw `data`",
			  (unsigned)item->view < sizeof(names) / sizeof(names[0])
				  ? names[item->view]
				  : "decoded");
}

int
cmsg_build(const struct cmsg_item *items, size_t count, cmsg_fd_lookup lookup, void *userdata,
	   uint8_t *buf, size_t buflen, size_t *used, char *message, size_t message_len)
{
	size_t offset = 0;
	int r;

	if (buflen > 0)
		memset(buf, 0, buflen);
	for (size_t i = 0; i < count; i++) {
		const struct cmsg_item *item = &items[i];
		size_t size = data_size(item);

		if (size > CMSG_SEND_MAX || offset + CMSG_SPACE(size) > buflen) {
			snprintf(message, message_len,
				 "ancillary data larger than the %d bytes the daemon builds",
				 CMSG_SEND_MAX);
			return -ENOBUFS;
		}
		struct cmsghdr *header = (struct cmsghdr *)(void *)(buf + offset);
		header->cmsg_level = item->level;
		header->cmsg_type = item->type;
		header->cmsg_len = CMSG_LEN(size);
		if (item->view == CMSG_VIEW_NONE) {
			if ((r = check_raw(item, i, message, message_len)) < 0)
				return r;
			if (size > 0)
				memcpy(CMSG_DATA(header), item->data, size);
		} else if ((r = build_view(item, i, lookup, userdata, CMSG_DATA(header), message,
					   message_len)) < 0) {
			return r;
		}
		offset += CMSG_SPACE(size);
	}
	*used = offset;
	return 0;
}

/* ---- receiving ----------------------------------------------------------- */

/* The header at `offset` if a whole one is there, with its data length
 * cut to the buffer (an item the kernel truncated, or one that claims more
 * than the buffer holds). */
static struct cmsghdr *
header_at(const uint8_t *control, size_t len, size_t offset, size_t *data_len)
{
	if (offset >= len || len - offset < CMSG_LEN(0))
		return NULL;
	struct cmsghdr *header = (struct cmsghdr *)(void *)(control + offset);
	if (header->cmsg_len < CMSG_LEN(0))
		return NULL;
	size_t total = header->cmsg_len < len - offset ? header->cmsg_len : len - offset;
	*data_len = total - CMSG_LEN(0);
	return header;
}

/* Past the header at `offset`; the end for one that claims more than the
 * buffer holds (so that a huge cmsg_len cannot wrap the offset around). */
static size_t
next_offset(size_t len, size_t offset, const struct cmsghdr *header)
{
	if (header->cmsg_len >= len - offset)
		return len;
	return offset + CMSG_ALIGN(header->cmsg_len);
}

size_t
cmsg_max_items(size_t len)
{
	return len / CMSG_LEN(0);
}

size_t
cmsg_count_fds(const uint8_t *control, size_t len)
{
	size_t count = 0, offset = 0, data_len;
	const struct cmsghdr *header;

	for (; (header = header_at(control, len, offset, &data_len));
	     offset = next_offset(len, offset, header))
		if (is_rights(header->cmsg_level, header->cmsg_type))
			count += data_len / sizeof(int);
	return count;
}

void
cmsg_close_fds(const uint8_t *control, size_t len)
{
	size_t offset = 0, data_len;
	const struct cmsghdr *header;

	for (; (header = header_at(control, len, offset, &data_len));
	     offset = next_offset(len, offset, header)) {
		if (!is_rights(header->cmsg_level, header->cmsg_type))
			continue;
		for (size_t i = 0; i < data_len / sizeof(int); i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

static void
format_ip(int family, const void *addr, char *out)
{
	if (!inet_ntop(family, addr, out, CMSG_ADDR_TEXT_MAX))
		out[0] = '\0';
}

static void
decode_timestamp(struct cmsg_item *item, enum timestamp_layout layout)
{
	switch (layout) {
	case TS_TIMEVAL: {
		struct timeval tv;
		if (item->len < sizeof(tv))
			return;
		memcpy(&tv, item->data, sizeof(tv));
		item->timestamp.seconds = tv.tv_sec;
		item->timestamp.nanoseconds = (int64_t)tv.tv_usec * 1000;
		break;
	}
	case TS_TIMESPEC: {
		struct timespec ts;
		if (item->len < sizeof(ts))
			return;
		memcpy(&ts, item->data, sizeof(ts));
		item->timestamp.seconds = ts.tv_sec;
		item->timestamp.nanoseconds = ts.tv_nsec;
		break;
	}
	case TS_TIMEVAL64:
	case TS_TIMESPEC64: {
		int64_t fields[2];
		if (item->len < sizeof(fields))
			return;
		memcpy(fields, item->data, sizeof(fields));
		item->timestamp.seconds = fields[0];
		item->timestamp.nanoseconds = layout == TS_TIMEVAL64 ? fields[1] * 1000 : fields[1];
		break;
	}
	default:
		return;
	}
	item->view = CMSG_VIEW_TIMESTAMP;
}

static void
decode_extended_error(struct cmsg_item *item)
{
	struct sock_extended_err ee;
	if (item->len < sizeof(ee))
		return;
	memcpy(&ee, item->data, sizeof(ee));
	item->view = CMSG_VIEW_EXTENDED_ERROR;
	item->extended_error.errnum = ee.ee_errno;
	item->extended_error.origin = ee.ee_origin;
	item->extended_error.type = ee.ee_type;
	item->extended_error.code = ee.ee_code;
	item->extended_error.info = ee.ee_info;
	item->extended_error.data = ee.ee_data;

	/* SO_EE_OFFENDER(): the sockaddr right after the struct, when the
	 * error came from another node. */
	const uint8_t *offender = item->data + sizeof(ee);
	size_t room = item->len - sizeof(ee);
	sa_family_t family;
	size_t want = 0;
	if (room < sizeof(family))
		return;
	memcpy(&family, offender, sizeof(family));
	if (family == AF_INET)
		want = sizeof(struct sockaddr_in);
	else if (family == AF_INET6)
		want = sizeof(struct sockaddr_in6);
	if (want == 0 || room < want)
		return;
	memcpy(&item->extended_error.offender.ss, offender, want);
	item->extended_error.offender.len = (socklen_t)want;
}

/* The decoded view of a received item that is not SCM_RIGHTS. A view is
 * set only when the bytes hold the whole struct: a truncated item is left
 * raw, as the kernel gave it. */
static void
decode_view(struct cmsg_item *item)
{
	enum timestamp_layout layout = timestamp_layout(item->level, item->type);

	if (is(item, SOL_SOCKET, SCM_CREDENTIALS) && item->len >= sizeof(struct ucred)) {
		struct ucred cred;
		memcpy(&cred, item->data, sizeof(cred));
		item->view = CMSG_VIEW_CREDENTIALS;
		item->credentials.pid = cred.pid;
		item->credentials.uid = cred.uid;
		item->credentials.gid = cred.gid;
	} else if (layout != TS_NONE) {
		decode_timestamp(item, layout);
	} else if (is(item, IPPROTO_IP, IP_PKTINFO) && item->len >= sizeof(struct in_pktinfo)) {
		struct in_pktinfo info;
		memcpy(&info, item->data, sizeof(info));
		item->view = CMSG_VIEW_PKTINFO;
		item->pktinfo.ifindex = (uint32_t)info.ipi_ifindex;
		format_ip(AF_INET, &info.ipi_spec_dst, item->pktinfo.spec_dst);
		format_ip(AF_INET, &info.ipi_addr, item->pktinfo.addr);
	} else if (is_pktinfo6(item) && item->len >= sizeof(struct in6_pktinfo)) {
		struct in6_pktinfo info;
		memcpy(&info, item->data, sizeof(info));
		item->view = CMSG_VIEW_PKTINFO;
		item->pktinfo.ifindex = info.ipi6_ifindex;
		format_ip(AF_INET6, &info.ipi6_addr, item->pktinfo.addr);
	} else if (is(item, IPPROTO_IP, IP_TOS) && item->len >= 1) {
		/* Received as one byte (an int when sent that way by a peer). */
		item->view = CMSG_VIEW_INT;
		item->int_value = item->data[0];
		if (item->len >= sizeof(int))
			memcpy(&item->int_value, item->data, sizeof(int));
	} else if (is_int_type(item) && item->len >= sizeof(int)) {
		item->view = CMSG_VIEW_INT;
		memcpy(&item->int_value, item->data, sizeof(int));
	} else if (is(item, IPPROTO_IP, IP_RECVERR) || is(item, IPPROTO_IPV6, IPV6_RECVERR)) {
		decode_extended_error(item);
	}
}

/* Adopt the fds of one SCM_RIGHTS item. After a failure (`*r` < 0) the
 * remaining fds are only closed. */
static void
adopt_rights(struct cmsg_item *item, uint64_t *ids, cmsg_fd_adopt adopt, void *userdata, int *r)
{
	size_t count = item->len / sizeof(int);

	item->view = CMSG_VIEW_RIGHTS;
	item->rights.handles = ids;
	item->rights.count = count;
	for (size_t i = 0; i < count; i++) {
		uint8_t *slot = item->data + i * sizeof(int);
		int fd;
		memcpy(&fd, slot, sizeof(fd));
		ids[i] = 0;
		if (*r < 0) {
			close(fd);
			continue;
		}
		uint64_t id = 0;
		*r = adopt(userdata, fd, &id);
		if (*r < 0)
			continue;
		ids[i] = id;
		/* The reference's bytes are a native int array: the ids take the
		 * fds' places. An id beyond int is -1 there; `rights` has it. */
		int native = id <= INT_MAX ? (int)id : -1;
		memcpy(slot, &native, sizeof(native));
	}
}

int
cmsg_parse(uint8_t *control, size_t len, struct cmsg_item *items, size_t *count, uint64_t *ids,
	   cmsg_fd_adopt adopt, void *userdata)
{
	size_t n = 0, n_ids = 0, offset = 0, data_len;
	struct cmsghdr *header;
	int r = 0;

	for (; (header = header_at(control, len, offset, &data_len));
	     offset = next_offset(len, offset, header)) {
		struct cmsg_item *item = &items[n++];
		memset(item, 0, sizeof(*item));
		item->level = header->cmsg_level;
		item->type = header->cmsg_type;
		item->data = CMSG_DATA(header);
		item->len = data_len;
		if (is_rights(item->level, item->type)) {
			adopt_rights(item, ids + n_ids, adopt, userdata, &r);
			n_ids += item->rights.count;
		} else {
			decode_view(item);
		}
	}
	*count = n;
	return r;
}
