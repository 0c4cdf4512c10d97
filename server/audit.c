#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "constants.h"
#include "errname.h"
#include "family.h"
#include "log.h"
#include "policy.h"
#include "transport.h"
#include "utf8.h"

const char *const audit_event_names[] = {
	"socket.__new__",
	"socket.bind",
	"socket.connect",
	"socket.sendto",
	"socket.sendmsg",
	"socket.getaddrinfo",
	"socket.gethostbyname",
	"socket.gethostbyaddr",
	"socket.gethostname",
	"socket.getnameinfo",
	"socket.getservbyname",
	"socket.getservbyport",
	"socket.sethostname",
	"sockbroker.session.start",
	"sockbroker.session.end",
	"sockbroker.hello",
	"sockbroker.handoff",
	"sockbroker.tls.refused",
	"sockbroker.session.detach",
	"sockbroker.session.resume",
	NULL,
};

/* What changes who can reach what: cheap to keep, and what an operator asks
 * about first after an incident. Data-path events (sendto, resolution) are
 * opt-in because they come at the rate of the traffic. */
const char *const audit_default_events[] = {
	"sockbroker.session.start",
	"sockbroker.session.end",
	"sockbroker.hello",
	"socket.bind",
	"socket.connect",
	"socket.sethostname",
	"sockbroker.handoff",
	"sockbroker.tls.refused",
	"sockbroker.session.detach",
	"sockbroker.session.resume",
	NULL,
};

#define N_EVENT_NAMES (sizeof(audit_event_names) / sizeof(audit_event_names[0]) - 1)

/* One bit per known event in `wanted`. */
_Static_assert(N_EVENT_NAMES <= 32, "audit::wanted has a bit per event name");

/* A string longer than this (in bytes of input) is cut and ends in "...":
 * no legitimate argument comes near it (host names stop at 255 bytes, unix
 * paths at 108), and it keeps a hostile client from making a line of
 * megabytes. */
#define AUDIT_STRING_MAX 4096

/* A line being built. On allocation failure `failed` is set and the line is
 * dropped whole: a half record would be worse than none. */
struct line {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

struct audit {
	int fd;
	bool owns_fd;
	char *file; /* for messages; NULL: standard error */
	bool all_events;
	uint32_t wanted; /* bit i: audit_event_names[i] */
	bool failing;    /* the last write failed (and was logged) */
	uint64_t lost;   /* records lost since the failure was logged */
	struct line line; /* reused for every record: one thread writes */
};

static void
reserve(struct line *line, size_t more)
{
	size_t cap;
	char *data;

	if (line->failed || line->cap - line->len >= more)
		return;
	cap = line->cap ? line->cap : 1024;
	while (cap - line->len < more)
		cap *= 2;
	data = realloc(line->data, cap);
	if (!data) {
		line->failed = true;
		return;
	}
	line->data = data;
	line->cap = cap;
}

static void
put_bytes(struct line *line, const char *s, size_t n)
{
	reserve(line, n);
	if (line->failed)
		return;
	memcpy(line->data + line->len, s, n);
	line->len += n;
}

static void
put(struct line *line, const char *s)
{
	put_bytes(line, s, strlen(s));
}

static void
putf(struct line *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For numbers and other short pieces. */
static void
putf(struct line *line, const char *fmt, ...)
{
	char piece[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(piece, sizeof(piece), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(piece)) {
		line->failed = true;
		return;
	}
	put_bytes(line, piece, (size_t)n);
}

/*
 * n bytes of s as a JSON string that is valid whatever the bytes are: quotes and backslashes
 * escaped, control characters (C0, DEL and the C1 range) as \u00XX so that no byte of a
 * client's can act on a terminal that shows the log, well-formed UTF-8 kept as it is, and
 * every byte that is not part of well-formed UTF-8 as the four characters \xHH (a backslash
 * in the decoded string, the convention of Python's "backslashreplace").
 */
static void
put_string_bytes(struct line *line, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	put(line, "\"");
	while (i < n) {
		size_t start = i;

		/* A run of bytes that need no escape goes in at once. */
		while (i < n && i < AUDIT_STRING_MAX && u[i] >= 0x20 && u[i] < 0x7f &&
		       u[i] != '"' && u[i] != '\\')
			i++;
		put_bytes(line, s + start, i - start);
		if (i >= n)
			break;
		if (i >= AUDIT_STRING_MAX) {
			put(line, "...");
			break;
		}

		size_t len = utf8_sequence(u + i, n - i);
		char esc[8];

		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			put_bytes(line, esc, 2);
		} else if (u[i] == '\n') {
			put(line, "\\n");
		} else if (u[i] == '\r') {
			put(line, "\\r");
		} else if (u[i] == '\t') {
			put(line, "\\t");
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[u[i] >> 4];
			esc[5] = hex[u[i] & 0xf];
			put_bytes(line, esc, 6);
		} else if (len == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0) {
			/* U+0080..U+009F: C1 controls. */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[u[i + 1] >> 4];
			esc[5] = hex[u[i + 1] & 0xf];
			put_bytes(line, esc, 6);
			i++;
		} else if (len > 1) {
			put_bytes(line, s + i, len);
			i += len - 1;
		} else {
			memcpy(esc, "\\\\x", 3);
			esc[3] = hex[u[i] >> 4];
			esc[4] = hex[u[i] & 0xf];
			put_bytes(line, esc, 5);
		}
		i++;
	}
	put(line, "\"");
}

/* A C string as a JSON string; NULL as null. */
static void
put_string(struct line *line, const char *s)
{
	if (!s)
		put(line, "null");
	else
		put_string_bytes(line, s, strlen(s));
}

/* `"key": ` after a comma unless it is the first member. */
static void
put_key(struct line *line, bool *first, const char *key)
{
	if (!*first)
		put(line, ", ");
	*first = false;
	put_string(line, key);
	put(line, ": ");
}

static void
put_hex(struct line *line, const uint8_t *bytes, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	put(line, "\"");
	for (size_t i = 0; i < n; i++) {
		char pair[2] = { hex[bytes[i] >> 4], hex[bytes[i] & 0xf] };
		put_bytes(line, pair, 2);
	}
	put(line, "\"");
}

/* `"key": value`, an unsigned number, after a comma unless *first. */
static void
put_uint(struct line *line, bool *first, const char *key, uint64_t value)
{
	put_key(line, first, key);
	putf(line, "%" PRIu64, value);
}

/* An AF_CAN address's members: the interface, and the ids of its protocol if it has any. */
static void
put_can_address(struct line *line, bool *first, const struct address *addr)
{
	put_key(line, first, "ifname");
	put_string(line, addr->can.ifname);
	if (addr->can.form == ADDRESS_CAN_ISOTP) {
		put_uint(line, first, "rx_id", addr->can.rx_id);
		put_uint(line, first, "tx_id", addr->can.tx_id);
	} else if (addr->can.form == ADDRESS_CAN_J1939) {
		put_uint(line, first, "name", addr->can.j1939_name);
		put_uint(line, first, "pgn", addr->can.j1939_pgn);
		put_uint(line, first, "addr", addr->can.j1939_addr);
	}
}

/* The family's AF_ name; the constants table knows the rarer ones. A family
 * without a name is written as its number. */
static void
put_family(struct line *line, int family)
{
	const char *name = family == AF_UNSPEC ? "AF_UNSPEC" : family_name(family);
	const struct constant *table;
	size_t count;

	if (name) {
		put_string(line, name);
		return;
	}
	table = constants_table(&count);
	for (size_t i = 0; i < count; i++) {
		if (strncmp(table[i].name, "AF_", 3) == 0 && strcmp(table[i].name, "AF_MAX") != 0 &&
		    table[i].value == family) {
			put_string(line, table[i].name);
			return;
		}
	}
	putf(line, "%d", family);
}

/* An AF_UNIX address's fields. An abstract name is "@name", as the log and the
 * tools show it; the bytes after "@" are the name's, NULs included. */
static void
put_unix_address(struct line *line, bool *first, const struct address *addr)
{
	char path[ADDRESS_PATH_MAX + 1];
	size_t n = 0;

	if (addr->un.abstract)
		path[n++] = '@';
	memcpy(path + n, addr->un.path, addr->un.len);
	n += addr->un.len;
	put_key(line, first, "path");
	put_string_bytes(line, path, n);
}

/* A sockaddr as an object with its family's own fields (audit.h). */
static void
put_address(struct line *line, const struct sockaddr *sa, socklen_t len)
{
	struct address addr;
	bool first = false;

	if (!sa) {
		put(line, "null");
		return;
	}
	addr_from_sockaddr(sa, len, &addr);
	put(line, "{\"family\": ");
	put_family(line, addr.family);
	switch (addr.family) {
	case AF_UNSPEC:
		break;
	case AF_INET:
	case AF_INET6:
		put_key(line, &first, "host");
		put_string(line, addr.inet.host);
		put_uint(line, &first, "port", addr.inet.port);
		if (addr.family == AF_INET6) {
			put_uint(line, &first, "flowinfo", addr.inet.flowinfo);
			put_uint(line, &first, "scope_id", addr.inet.scope_id);
		}
		break;
	case AF_UNIX:
		put_unix_address(line, &first, &addr);
		break;
	case AF_NETLINK:
		put_uint(line, &first, "pid", addr.netlink.pid);
		put_uint(line, &first, "groups", addr.netlink.groups);
		break;
	case AF_PACKET:
		put_key(line, &first, "ifname");
		put_string(line, addr.packet.ifname);
		put_uint(line, &first, "proto", addr.packet.proto);
		put_uint(line, &first, "pkttype", addr.packet.pkttype);
		put_uint(line, &first, "hatype", addr.packet.hatype);
		put_key(line, &first, "addr");
		put_hex(line, addr.packet.addr, addr.packet.halen);
		break;
	case AF_ALG:
		put_key(line, &first, "type");
		put_string(line, addr.alg.type);
		put_key(line, &first, "name");
		put_string(line, addr.alg.name);
		break;
	case AF_VSOCK:
		put_uint(line, &first, "cid", addr.vsock.cid);
		put_uint(line, &first, "port", addr.vsock.port);
		break;
	case AF_CAN:
		put_can_address(line, &first, &addr);
		break;
	case AF_TIPC:
		put_uint(line, &first, "addr_type", addr.tipc.addr_type);
		put_key(line, &first, "scope");
		putf(line, "%d", addr.tipc.scope);
		put_uint(line, &first, "v1", addr.tipc.v1);
		put_uint(line, &first, "v2", addr.tipc.v2);
		put_uint(line, &first, "v3", addr.tipc.v3);
		break;
	default:
		put_key(line, &first, "bytes");
		put_hex(line, addr.raw.data, addr.raw.len);
		break;
	}
	put(line, "}");
}

/* The kind of listener that accepted the peer, as the policy names it ("tls+tcp"); the peer
 * text is for people, not parsed. */
static const char *
transport_name(const struct peer_identity *identity)
{
	return policy_transport_name(identity->transport);
}

static void
put_identity(struct line *line, const struct audit_record *record)
{
	const struct peer_identity *identity = record->peer;
	bool first = true;

	if (!identity) {
		put(line, "null");
		return;
	}
	put(line, "{");
	put_key(line, &first, "transport");
	put_string(line, transport_name(identity));
	if (identity->has_credentials) {
		put_key(line, &first, "uid");
		putf(line, "%lu", (unsigned long)identity->uid);
		put_key(line, &first, "gid");
		putf(line, "%lu", (unsigned long)identity->gid);
		put_key(line, &first, "pid");
		putf(line, "%ld", (long)identity->pid);
	}
	put_key(line, &first, "tls_verified");
	put(line, identity->tls_verified ? "true" : "false");
	put_key(line, &first, "token");
	put_string(line, record->token_name && record->token_name[0] ? record->token_name : NULL);
	put_key(line, &first, "client");
	put_string(line, record->client_name && record->client_name[0] ? record->client_name
								       : NULL);
	put_key(line, &first, "peer");
	put_string_bytes(line, identity->peer, strnlen(identity->peer, sizeof(identity->peer)));
	put(line, "}");
}

static void
put_args(struct line *line, const struct audit_record *record)
{
	size_t n = record->n_args < AUDIT_MAX_ARGS ? record->n_args : AUDIT_MAX_ARGS;
	bool first = true;

	put(line, "{");
	for (size_t i = 0; i < n; i++) {
		const struct audit_arg *arg = &record->args[i];

		if (!arg->key)
			continue;
		put_key(line, &first, arg->key);
		switch (arg->kind) {
		case AUDIT_ARG_STRING:
			put_string(line, arg->value.string);
			break;
		case AUDIT_ARG_INT:
			putf(line, "%" PRId64, arg->value.integer);
			break;
		case AUDIT_ARG_BOOL:
			put(line, arg->value.boolean ? "true" : "false");
			break;
		case AUDIT_ARG_ADDRESS:
			put_address(line, arg->value.address.sa, arg->value.address.len);
			break;
		default:
			put(line, "null");
			break;
		}
	}
	put(line, "}");
}

/* A failure is any record with an errno or an error kind: a resolver error
 * (kind "gai") has no errno of its own. */
static void
put_result(struct line *line, const struct audit_record *record)
{
	const char *kind = record->error_kind;
	const char *name = NULL;

	if (record->errnum == 0 && !kind) {
		put(line, "{\"ok\": true}");
		return;
	}
	if (!kind)
		kind = "os";
	if (record->errnum > 0)
		name = errname_from_errno(record->errnum);
	put(line, "{\"ok\": false, \"errno\": ");
	put_string(line, name);
	putf(line, ", \"errno_number\": %d, \"kind\": ", record->errnum);
	put_string(line, kind);
	put(line, ", \"message\": ");
	put_string(line, record->message);
	put(line, "}");
}

static void
put_time(struct line *line)
{
	struct timespec now;
	struct tm tm;
	char stamp[64];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", now.tv_nsec / 1000000L);
	put_string(line, stamp);
}

static const char *
decision_name(enum audit_decision decision)
{
	switch (decision) {
	case AUDIT_ALLOW:
		return "allow";
	case AUDIT_DENY:
		return "deny";
	case AUDIT_QUOTA:
		return "quota";
	case AUDIT_NO_DECISION:
		break;
	}
	return NULL;
}

static void
format_record(struct line *line, const struct audit_record *record)
{
	const char *decision = decision_name(record->decision);

	line->len = 0;
	line->failed = false;
	put(line, "{\"time\": ");
	put_time(line);
	put(line, ", \"event\": ");
	put_string(line, record->event);
	put(line, ", \"session\": ");
	if (record->session)
		putf(line, "%" PRIu64, record->session);
	else
		put(line, "null");
	put(line, ", \"identity\": ");
	put_identity(line, record);
	put(line, ", \"handle\": ");
	if (record->handle)
		putf(line, "%" PRIu64, record->handle);
	else
		put(line, "null");
	put(line, ", \"args\": ");
	put_args(line, record);
	if (decision) {
		put(line, ", \"decision\": ");
		put_string(line, decision);
	}
	if (record->rule) {
		put(line, ", \"rule\": ");
		put_string(line, record->rule);
	}
	put(line, ", \"result\": ");
	put_result(line, record);
	put(line, "}\n");
}

static const char *
sink_name(const struct audit *audit)
{
	return audit->file ? audit->file : "standard error";
}

static void
note_lost(struct audit *audit, int errnum)
{
	audit->lost++;
	if (audit->failing)
		return;
	audit->failing = true;
	log_warn("audit: cannot write a record to %s: %s; records are lost until writing works "
		  "again (check the free space and the file's permissions)",
		  sink_name(audit), strerror(errnum));
}

/*
 * One write(2) per line, so that lines never interleave with each other or with the log's. A
 * short write (a full disk, a signal) is finished with more writes rather than leaving half a
 * line for the next record to run into.
 */
static int
write_line(struct audit *audit)
{
	const char *p = audit->line.data;
	size_t left = audit->line.len;

	for (int attempts = 0; left > 0 && attempts < 8; attempts++) {
		ssize_t n = write(audit->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		left -= (size_t)n;
	}
	return left > 0 ? -EIO : 0;
}

static int
event_index(const char *event)
{
	for (size_t i = 0; i < N_EVENT_NAMES; i++) {
		if (strcmp(audit_event_names[i], event) == 0)
			return (int)i;
	}
	return -1;
}

int
audit_open(struct audit **out, const struct audit_config *cfg, char *err, size_t errlen)
{
	const char *const *events = cfg && cfg->events ? cfg->events : audit_default_events;
	size_t n_events = 0;
	struct audit *audit;
	int r;

	if (cfg && cfg->events)
		n_events = cfg->n_events;
	else
		while (audit_default_events[n_events])
			n_events++;

	audit = calloc(1, sizeof(*audit));
	if (!audit) {
		snprintf(err, errlen, "out of memory for the audit log");
		return -ENOMEM;
	}
	audit->fd = STDERR_FILENO;
	for (size_t i = 0; i < n_events; i++) {
		int index;

		if (strcmp(events[i], "*") == 0) {
			audit->all_events = true;
			continue;
		}
		index = event_index(events[i]);
		if (index < 0) {
			r = -EINVAL;
			snprintf(err, errlen, "audit.events: unknown event \"%.64s\"; remove it",
				 events[i]);
			goto err_audit;
		}
		audit->wanted |= 1u << index;
	}

	if (cfg && cfg->file) {
		if (cfg->file[0] != '/') {
			r = -EINVAL;
			snprintf(err, errlen, "audit.file: must be an absolute file name, got "
				 "\"%.200s\"", cfg->file);
			goto err_audit;
		}
		audit->file = strdup(cfg->file);
		if (!audit->file) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory for the audit log");
			goto err_audit;
		}
		/* 0600: the log says who did what; it is the operator's to share. */
		audit->fd = open(cfg->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
				 0600);
		if (audit->fd < 0) {
			r = -errno;
			snprintf(err, errlen, "audit.file: cannot open %.200s for appending: %s; "
				 "create its directory and let the daemon's user write there, or "
				 "remove audit.file to audit to standard error",
				 cfg->file, strerror(-r));
			goto err_audit;
		}
		audit->owns_fd = true;
	}
	*out = audit;
	return 0;

err_audit:
	audit_close(audit);
	return r;
}

void
audit_close(struct audit *audit)
{
	if (!audit)
		return;
	if (audit->owns_fd)
		close(audit->fd);
	free(audit->file);
	free(audit->line.data);
	free(audit);
}

bool
audit_wants(const struct audit *audit, const char *event)
{
	int index;

	if (!audit || !event)
		return false;
	if (audit->all_events)
		return true;
	index = event_index(event);
	return index >= 0 && (audit->wanted & (1u << index));
}

void
audit_write(struct audit *audit, const struct audit_record *record)
{
	int r;

	if (!audit || !record || !record->event)
		return;
	if (record->decision != AUDIT_DENY && record->decision != AUDIT_QUOTA &&
	    !audit_wants(audit, record->event))
		return;
	format_record(&audit->line, record);
	if (audit->line.failed) {
		note_lost(audit, ENOMEM);
		return;
	}
	r = write_line(audit);
	if (r < 0) {
		note_lost(audit, -r);
		return;
	}
	if (audit->failing) {
		log_info("audit: writing to %s again; %" PRIu64 " records were lost",
			 sink_name(audit), audit->lost);
		audit->failing = false;
		audit->lost = 0;
	}
}
