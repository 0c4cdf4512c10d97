#include "config.h"
#include "audit.h"
#include "config-policy.h"
#include "error.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The keys of a configuration file, as JSON paths, each with how to read it. This table is the
 * parser's single list of keys: lookups, "known keys" hints, range checks and
 * config_key_name() all walk it. Sections come before their members.
 */
enum field_kind {
	FIELD_SECTION,  /* an object whose members are the entries under its path */
	FIELD_LISTEN,   /* array of listen URLs */
	FIELD_U32,      /* integer in [min, max] */
	FIELD_U64,      /* integer in [min, max] */
	FIELD_LOG_LEVEL,
	FIELD_MODE,     /* octal permission string */
	FIELD_NAME,     /* non-empty string */
	FIELD_ABS_PATH, /* absolute file name */
	FIELD_RESERVED, /* a key kept for a later version: refused with `note` */
	FIELD_POLICY,   /* the policy object, read by config-policy.c */
	FIELD_EVENTS,   /* array of audit event names, or "*" */
	FIELD_TOKENS,   /* array of {"name", "sha256"} */
	FIELD_TRANSPORTS, /* array of transport names (policy_transport_name()) */
	FIELD_IDS,      /* array of uids or gids: struct config_ids */
	FIELD_NAMES,    /* array of token names: struct config_names */
};

struct field {
	const char *path;
	enum field_kind kind;
	size_t offset; /* of the member in struct config */
	uint64_t min;
	uint64_t max;
	const char *note; /* FIELD_U32/U64: after the range; FIELD_RESERVED: the refusal */
};

#define MEMBER(m) offsetof(struct config, m)

static const struct field fields[] = {
	{ "listen", FIELD_LISTEN, 0, 0, 0, NULL },
	{ "limits", FIELD_SECTION, 0, 0, 0, NULL },
	{ "limits.max_message_size", FIELD_U64, MEMBER(max_message_size),
	  CONFIG_MAX_MESSAGE_SIZE_MIN, CONFIG_MAX_MESSAGE_SIZE_MAX, " (bytes: 64 KiB to 1 GiB)" },
	{ "limits.max_handles_per_session", FIELD_U32, MEMBER(max_handles), 1,
	  CONFIG_PER_SESSION_MAX, NULL },
	{ "limits.max_parked_per_session", FIELD_U32, MEMBER(max_parked), 1,
	  CONFIG_PER_SESSION_MAX, NULL },
	{ "limits.max_sessions", FIELD_U32, MEMBER(max_sessions), 1, CONFIG_MAX_SESSIONS_MAX,
	  NULL },
	{ "limits.reply_timeout_ms", FIELD_U32, MEMBER(reply_timeout_ms),
	  CONFIG_REPLY_TIMEOUT_MS_MIN, CONFIG_REPLY_TIMEOUT_MS_MAX, " (milliseconds)" },
	{ "limits.frame_timeout_ms", FIELD_U32, MEMBER(frame_timeout_ms),
	  CONFIG_REPLY_TIMEOUT_MS_MIN, CONFIG_REPLY_TIMEOUT_MS_MAX, " (milliseconds)" },
	{ "limits.memory_per_identity", FIELD_U64, MEMBER(memory_per_identity), CONFIG_MEMORY_MIN,
	  CONFIG_MEMORY_MAX, " (bytes)" },
	{ "limits.memory_total", FIELD_U64, MEMBER(memory_total), CONFIG_MEMORY_MIN,
	  CONFIG_MEMORY_MAX, " (bytes)" },
	{ "limits.max_sessions_per_identity", FIELD_U32, MEMBER(max_sessions_per_identity), 1,
	  CONFIG_MAX_SESSIONS_MAX, NULL },
	{ "log_level", FIELD_LOG_LEVEL, MEMBER(log_level), 0, 0, NULL },
	{ "resolver_threads", FIELD_U32, MEMBER(resolver_threads), 1,
	  CONFIG_RESOLVER_THREADS_MAX, NULL },
	{ "ipc", FIELD_SECTION, 0, 0, 0, NULL },
	{ "ipc.mode", FIELD_MODE, MEMBER(ipc_mode), 0, 0777, NULL },
	{ "ipc.group", FIELD_NAME, MEMBER(ipc_group), 0, 0, NULL },
	{ "ipc.owner", FIELD_NAME, MEMBER(ipc_owner), 0, 0, NULL },
	{ "ipc.directory_mode", FIELD_MODE, MEMBER(ipc_directory_mode), 0, 0777, NULL },
	{ "privileges", FIELD_SECTION, 0, 0, 0, NULL },
	{ "privileges.user", FIELD_NAME, MEMBER(privileges_user), 0, 0, NULL },
	{ "privileges.group", FIELD_NAME, MEMBER(privileges_group), 0, 0, NULL },
	{ "tls", FIELD_SECTION, 0, 0, 0, NULL },
	{ "tls.cert_key_file", FIELD_ABS_PATH, MEMBER(tls_cert_key_file), 0, 0, NULL },
	{ "tls.ca_file", FIELD_ABS_PATH, MEMBER(tls_ca_file), 0, 0, NULL },
	{ "auth", FIELD_SECTION, 0, 0, 0, NULL },
	{ "auth.tokens", FIELD_TOKENS, 0, 0, 0, NULL },
	{ "auth.require_token", FIELD_TRANSPORTS, 0, 0, 0, NULL },
	{ "audit", FIELD_SECTION, 0, 0, 0, NULL },
	{ "audit.file", FIELD_ABS_PATH, MEMBER(audit_file), 0, 0, NULL },
	{ "audit.events", FIELD_EVENTS, 0, 0, 0, NULL },
	{ "admin", FIELD_SECTION, 0, 0, 0, NULL },
	{ "admin.uids", FIELD_IDS, MEMBER(admin_uids), 0, 0, NULL },
	{ "admin.gids", FIELD_IDS, MEMBER(admin_gids), 0, 0, NULL },
	{ "admin.tokens", FIELD_NAMES, MEMBER(admin_tokens), 0, 0, NULL },
	{ "policy", FIELD_POLICY, 0, 0, 0, NULL },
	{ "remote", FIELD_SECTION, 0, 0, 0, NULL },
	{ "remote.keepalive_idle_s", FIELD_U32, MEMBER(keepalive_idle_s), 1,
	  CONFIG_KEEPALIVE_IDLE_S_MAX, " (seconds)" },
	{ "remote.keepalive_interval_s", FIELD_U32, MEMBER(keepalive_interval_s), 1,
	  CONFIG_KEEPALIVE_INTERVAL_S_MAX, " (seconds)" },
	{ "remote.keepalive_count", FIELD_U32, MEMBER(keepalive_count), 1,
	  CONFIG_KEEPALIVE_COUNT_MAX, NULL },
	{ "remote.resume_grace_tcp_s", FIELD_U32, MEMBER(resume_grace_s[POLICY_TRANSPORT_TCP]), 0,
	  CONFIG_RESUME_GRACE_S_MAX, " (seconds)" },
	{ "remote.resume_grace_tls_s", FIELD_U32, MEMBER(resume_grace_s[POLICY_TRANSPORT_TLS]), 0,
	  CONFIG_RESUME_GRACE_S_MAX, " (seconds)" },
	{ "remote.resume_grace_ipc_s", FIELD_U32, MEMBER(resume_grace_s[POLICY_TRANSPORT_IPC]), 0,
	  CONFIG_RESUME_GRACE_S_MAX, " (seconds)" },
	{ "remote.resume_buffer_bytes", FIELD_U64, MEMBER(resume_buffer_bytes),
	  CONFIG_RESUME_BUFFER_MIN, CONFIG_RESUME_BUFFER_MAX, " (bytes: 64 KiB to 1 GiB)" },
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* Longest JSON path of a known key, with room to spare; longer keys are unknown anyway. */
#define PATH_MAX_LEN 64

enum url_kind { URL_IPC, URL_ABSTRACT, URL_TCP, URL_TLS_TCP };

static const struct {
	const char *prefix;
	enum url_kind kind;
} schemes[] = {
	{ "ipc://", URL_IPC },
	{ "abstract://", URL_ABSTRACT },
	{ "tcp://", URL_TCP },
	{ "tls+tcp://", URL_TLS_TCP },
};

#define URL_FORMS "ipc://PATH, abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT"

struct listen_url {
	enum url_kind kind;
	const char *address; /* after the scheme, inside the URL string */
	char host[256];      /* URL_TCP, URL_TLS_TCP: without brackets; "" for every address */
	unsigned port;
};

/* Where a load reports its errors: "origin: path: message". */
struct load {
	const char *origin;
	char *err;
	size_t errlen;
};

static int
fail(const struct load *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report an error of the file being loaded; returns -EINVAL for the caller to pass up. */
static int
fail(const struct load *ld, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path && path[0])
		set_err(ld->err, ld->errlen, "%s: %s: %s", ld->origin, path, msg);
	else
		set_err(ld->err, ld->errlen, "%s: %s", ld->origin, msg);
	return -EINVAL;
}

/* s as a JSON string literal for a message, cut after max_bytes of s with "...". */
static void
quote(char *buf, size_t len, const char *s, size_t max_bytes)
{
	size_t pos = 0;
	size_t i;

	if (len < 8) {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	buf[pos++] = '"';
	for (i = 0; s[i] && i < max_bytes; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		int n;

		if (c == '"' || c == '\\')
			n = snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			n = snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\t')
			n = snprintf(esc, sizeof(esc), "\\t");
		else if (c == '\r')
			n = snprintf(esc, sizeof(esc), "\\r");
		else if (c < 0x20 || c == 0x7f)
			n = snprintf(esc, sizeof(esc), "\\u%04x", c);
		else
			n = snprintf(esc, sizeof(esc), "%c", c);
		/* Keep room for '...', the closing quote and the NUL. */
		if (pos + (size_t)n + 5 > len)
			break;
		memcpy(buf + pos, esc, (size_t)n);
		pos += (size_t)n;
	}
	if (s[i]) {
		memcpy(buf + pos, "...", 3);
		pos += 3;
	}
	buf[pos++] = '"';
	buf[pos] = '\0';
}

/* d as an exact integer, if it is one that a double holds exactly. */
static bool
integral(double d, int64_t *out)
{
	/* Written so that NaN fails too. */
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0))
		return false;
	if ((double)(int64_t)d != d)
		return false;
	*out = (int64_t)d;
	return true;
}

/* What a JSON value is, for "got ..." in messages: -3, 1.5, true, null, the string "x". */
static void
describe(char *buf, size_t len, const cJSON *v)
{
	char quoted[80];
	int64_t i;

	if (cJSON_IsNumber(v)) {
		if (integral(v->valuedouble, &i))
			snprintf(buf, len, "%lld", (long long)i);
		else
			snprintf(buf, len, "%.15g", v->valuedouble);
	} else if (cJSON_IsString(v)) {
		quote(quoted, sizeof(quoted), v->valuestring, 60);
		snprintf(buf, len, "the string %s", quoted);
	} else if (cJSON_IsTrue(v)) {
		snprintf(buf, len, "true");
	} else if (cJSON_IsFalse(v)) {
		snprintf(buf, len, "false");
	} else if (cJSON_IsNull(v)) {
		snprintf(buf, len, "null");
	} else if (cJSON_IsArray(v)) {
		snprintf(buf, len, "an array");
	} else if (cJSON_IsObject(v)) {
		snprintf(buf, len, "an object");
	} else {
		snprintf(buf, len, "an unreadable value");
	}
}

static const struct field *
find_field(const char *path)
{
	for (size_t i = 0; i < N_FIELDS; i++) {
		if (strcmp(fields[i].path, path) == 0)
			return &fields[i];
	}
	return NULL;
}

/* The member name of a field whose parent is `parent` ("" for the top level), else NULL. */
static const char *
child_name(const struct field *f, const char *parent)
{
	size_t plen = strlen(parent);
	const char *name = f->path;

	if (plen > 0) {
		if (strncmp(f->path, parent, plen) != 0 || f->path[plen] != '.')
			return NULL;
		name = f->path + plen + 1;
	}
	return strchr(name, '.') ? NULL : name;
}

static uint64_t
get_uint(const struct config *cfg, const struct field *f)
{
	const void *p = (const char *)cfg + f->offset;

	if (f->kind == FIELD_U64)
		return *(const uint64_t *)p;
	return *(const uint32_t *)p;
}

static void
set_uint(struct config *cfg, const struct field *f, uint64_t value)
{
	void *p = (char *)cfg + f->offset;

	if (f->kind == FIELD_U64)
		*(uint64_t *)p = value;
	else
		*(uint32_t *)p = (uint32_t)value;
}

static char **
string_member(struct config *cfg, const struct field *f)
{
	void *p = (char *)cfg + f->offset;

	return p;
}

/* Case-insensitive edit distance, for "did you mean"; names longer than 63 bytes never match. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t above = row[j];
			size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1;
			size_t best = diag + cost;

			if (above + 1 < best)
				best = above + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = above;
		}
	}
	return row[lb];
}

/* Whether a mistyped key plausibly meant `known`. */
static bool
close_to(const char *name, const char *known, size_t *score)
{
	size_t ln = strlen(name), lk = strlen(known);
	size_t d = edit_distance(name, known);
	size_t allowed = (lk > ln ? lk : ln) / 3;

	if (allowed == 0)
		allowed = 1;
	*score = d;
	if (d <= allowed)
		return true;
	/* "max_handles" for "max_handles_per_session": a prefix is a shortened name. */
	return ln >= 4 && (strncmp(name, known, ln) == 0 || strncmp(name, known, lk) == 0);
}

static int
unknown_key(const struct load *ld, const char *parent, const char *name)
{
	char known[256] = "";
	char quoted[96];
	char hint[128] = "";
	const char *best = NULL;
	size_t best_score = SIZE_MAX;
	size_t pos = 0;

	for (size_t i = 0; i < N_FIELDS; i++) {
		const char *child = child_name(&fields[i], parent);
		size_t score;
		int n;

		if (!child || fields[i].kind == FIELD_RESERVED)
			continue;
		n = snprintf(known + pos, sizeof(known) - pos, "%s%s", pos ? ", " : "", child);
		if (n > 0 && (size_t)n < sizeof(known) - pos)
			pos += (size_t)n;
		if (close_to(name, child, &score) && score < best_score) {
			best = child;
			best_score = score;
		}
	}
	if (best)
		snprintf(hint, sizeof(hint), "did you mean \"%s\"? ", best);
	quote(quoted, sizeof(quoted), name, 64);
	return fail(ld, parent, "unknown key %s (%sknown keys: %s)", quoted, hint, known);
}

/* No spaces or control characters anywhere in `url`. */
static int
check_url_characters(const char *url, char *err, size_t errlen)
{
	char quoted[160];

	for (size_t i = 0; url[i]; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c == 0x7f) {
			quote(quoted, sizeof(quoted), url, 120);
			set_err(err, errlen, "%s: a listen URL cannot contain spaces or control "
				"characters", quoted);
			return -EINVAL;
		}
	}
	return 0;
}

/* An ipc:// or abstract:// URL's path or name: 0 when it is one and well-formed, 1 when the
 * URL is of another kind (HOST:PORT follows), -EINVAL. */
static int
check_local_address(const struct listen_url *u, const char *url, char *err, size_t errlen)
{
	switch (u->kind) {
	case URL_IPC:
		if (!u->address[0]) {
			set_err(err, errlen, "%s: an ipc listen URL needs a socket path, as in "
				"ipc:///run/sockbroker/sockbroker.sock", url);
			return -EINVAL;
		}
		if (strlen(u->address) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			set_err(err, errlen, "%.200s: the socket path is %zu bytes long but a unix "
				"socket path can have at most %zu; choose a shorter path", url,
				strlen(u->address),
				sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
			return -EINVAL;
		}
		return 0;
	case URL_ABSTRACT:
		if (!u->address[0]) {
			set_err(err, errlen, "%s: an abstract listen URL needs a name, as in "
				"abstract://sockbroker", url);
			return -EINVAL;
		}
		return 0;
	case URL_TCP:
	case URL_TLS_TCP:
		break;
	}
	return 1;
}

/* The HOST:PORT of a tcp:// or tls+tcp:// URL (its scheme `prefix`) into u->host, u->port. */
static int
parse_host_port(struct listen_url *u, const char *url, const char *prefix, char *err,
		size_t errlen)
{
	const char *colon;
	const char *port;
	size_t host_len;
	char *end;
	unsigned long port_number;

	if (u->address[0] == '[') {
		colon = strchr(u->address, ']');
		if (!colon) {
			set_err(err, errlen, "%.200s: the '[' before the IPv6 address is not "
				"closed by ']'", url);
			return -EINVAL;
		}
		host_len = (size_t)(colon - u->address) - 1;
		memcpy(u->host, u->address + 1, host_len < sizeof(u->host) ? host_len : 0);
		colon++;
		if (*colon != ':')
			colon = NULL;
	} else {
		colon = strrchr(u->address, ':');
		host_len = colon ? (size_t)(colon - u->address) : 0;
		if (colon && memchr(u->address, ':', host_len)) {
			set_err(err, errlen, "%.200s: an IPv6 address must be in brackets, as in "
				"%s[::1]:9000", url, prefix);
			return -EINVAL;
		}
		memcpy(u->host, u->address, host_len < sizeof(u->host) ? host_len : 0);
	}
	if (!colon) {
		set_err(err, errlen, "%.200s: a listen URL of this kind needs HOST:PORT, as in "
			"%s127.0.0.1:9000", url, prefix);
		return -EINVAL;
	}
	if (host_len >= sizeof(u->host)) {
		set_err(err, errlen, "%.200s: the host name is longer than %zu bytes", url,
			sizeof(u->host) - 1);
		return -EINVAL;
	}
	u->host[host_len] = '\0';

	port = colon + 1;
	errno = 0;
	port_number = strtoul(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || *end || errno || port_number > 65535) {
		set_err(err, errlen, "%.200s: the port must be a number from 0 to 65535", url);
		return -EINVAL;
	}
	u->port = (unsigned)port_number;
	return 0;
}

static int
parse_listen_url(struct listen_url *u, const char *url, char *err, size_t errlen)
{
	size_t i;
	int r;

	if ((r = check_url_characters(url, err, errlen)) < 0)
		return r;
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			break;
	}
	if (i == sizeof(schemes) / sizeof(schemes[0])) {
		set_err(err, errlen, "%.200s: unsupported listen URL; use " URL_FORMS, url);
		return -EINVAL;
	}
	u->kind = schemes[i].kind;
	u->address = url + strlen(schemes[i].prefix);
	u->host[0] = '\0';
	u->port = 0;

	if ((r = check_local_address(u, url, err, errlen)) <= 0)
		return r;
	return parse_host_port(u, url, schemes[i].prefix, err, errlen);
}

/* Whether a tcp listener on `host` can only be reached from this machine. */
static bool
loopback_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	/* Empty and "*" are every address; any other name could resolve anywhere. */
	return false;
}

static int
append_url(struct config *cfg, const char *url)
{
	char **urls;
	char *copy;

	copy = strdup(url);
	if (!copy)
		return -ENOMEM;
	urls = realloc(cfg->listen_urls, (cfg->n_listen_urls + 1) * sizeof(*urls));
	if (!urls) {
		free(copy);
		return -ENOMEM;
	}
	urls[cfg->n_listen_urls++] = copy;
	cfg->listen_urls = urls;
	return 0;
}

static void
free_urls(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen_urls; i++)
		free(cfg->listen_urls[i]);
	free(cfg->listen_urls);
	cfg->listen_urls = NULL;
	cfg->n_listen_urls = 0;
}

static int
set_string(char **slot, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

static int
set_ids(struct config_ids *slot, const uint32_t *ids, size_t n)
{
	uint32_t *copy = NULL;

	if (n > 0) {
		if (!(copy = malloc(n * sizeof(*copy))))
			return -ENOMEM;
		memcpy(copy, ids, n * sizeof(*copy));
	}
	free(slot->ids);
	slot->ids = copy;
	slot->n = n;
	return 0;
}

static void
free_names(struct config_names *slot)
{
	for (size_t i = 0; i < slot->n; i++)
		free(slot->names[i]);
	free(slot->names);
	slot->names = NULL;
	slot->n = 0;
}

static int
set_names(struct config_names *slot, char *const *names, size_t n)
{
	char **copy = calloc(n ? n : 1, sizeof(*copy));

	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(copy[i] = strdup(names[i]))) {
			while (i--)
				free(copy[i]);
			free(copy);
			return -ENOMEM;
		}
	}
	free_names(slot);
	slot->names = copy;
	slot->n = n;
	return 0;
}

static void
free_events(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_audit_events; i++)
		free(cfg->audit_events[i]);
	free(cfg->audit_events);
	cfg->audit_events = NULL;
	cfg->n_audit_events = 0;
}

/* Replace the audit events with copies of names[0..n); NULL names: the default set. The list
 * is kept non-NULL even when empty, since an empty list (denials only) is not the default. */
static int
set_events(struct config *cfg, const char *const *names, size_t n)
{
	char **events = NULL;
	size_t i = 0;

	if (names) {
		events = calloc(n + 1, sizeof(*events));
		if (!events)
			return -ENOMEM;
		for (; i < n; i++) {
			events[i] = strdup(names[i]);
			if (!events[i])
				goto err_events;
		}
	}
	free_events(cfg);
	cfg->audit_events = events;
	cfg->n_audit_events = names ? n : 0;
	return 0;

err_events:
	while (i-- > 0)
		free(events[i]);
	free(events);
	return -ENOMEM;
}

static void
free_tokens(struct config *cfg)
{
	free(cfg->tokens);
	cfg->tokens = NULL;
	cfg->n_tokens = 0;
}

/* Replace the tokens with a copy of tokens[0..n). */
static int
set_tokens(struct config *cfg, const struct config_token *tokens, size_t n)
{
	struct config_token *copy = NULL;

	if (n > 0) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, tokens, n * sizeof(*copy));
	}
	free_tokens(cfg);
	cfg->tokens = copy;
	cfg->n_tokens = n;
	return 0;
}

uint64_t
config_memory_total_default(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t quarter = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 4
						 : 4 * CONFIG_MEMORY_PER_IDENTITY_DEFAULT;
	if (quarter < CONFIG_MEMORY_PER_IDENTITY_DEFAULT)
		quarter = CONFIG_MEMORY_PER_IDENTITY_DEFAULT;
	return quarter > CONFIG_MEMORY_MAX ? CONFIG_MEMORY_MAX : quarter;
}

void
config_init(struct config *cfg)
{
	*cfg = (struct config){
		.max_message_size = CONFIG_MAX_MESSAGE_SIZE_DEFAULT,
		.max_handles = CONFIG_MAX_HANDLES_DEFAULT,
		.max_parked = CONFIG_MAX_PARKED_DEFAULT,
		.max_sessions = CONFIG_MAX_SESSIONS_DEFAULT,
		.reply_timeout_ms = CONFIG_REPLY_TIMEOUT_MS_DEFAULT,
		.frame_timeout_ms = CONFIG_FRAME_TIMEOUT_MS_DEFAULT,
		.memory_per_identity = CONFIG_MEMORY_PER_IDENTITY_DEFAULT,
		.memory_total = config_memory_total_default(),
		.max_sessions_per_identity = CONFIG_MAX_SESSIONS_PER_IDENTITY_DEFAULT,
		.resolver_threads = CONFIG_RESOLVER_THREADS_DEFAULT,
		.log_level = LOG_LEVEL_INFO,
		.ipc_mode = CONFIG_IPC_MODE_DEFAULT,
		.ipc_directory_mode = CONFIG_IPC_DIRECTORY_MODE_DEFAULT,
		.keepalive_idle_s = CONFIG_KEEPALIVE_IDLE_S_DEFAULT,
		.keepalive_interval_s = CONFIG_KEEPALIVE_INTERVAL_S_DEFAULT,
		.keepalive_count = CONFIG_KEEPALIVE_COUNT_DEFAULT,
		.resume_grace_s = { [POLICY_TRANSPORT_TCP] = CONFIG_RESUME_GRACE_S_DEFAULT,
				    [POLICY_TRANSPORT_TLS] = CONFIG_RESUME_GRACE_S_DEFAULT },
		.resume_buffer_bytes = CONFIG_RESUME_BUFFER_DEFAULT,
	};
}

void
config_fini(struct config *cfg)
{
	free_urls(cfg);
	free(cfg->ipc_group);
	free(cfg->ipc_owner);
	free(cfg->privileges_user);
	free(cfg->privileges_group);
	free(cfg->tls_cert_key_file);
	free(cfg->tls_ca_file);
	free(cfg->audit_file);
	free_events(cfg);
	free_tokens(cfg);
	free(cfg->admin_uids.ids);
	free(cfg->admin_gids.ids);
	free_names(&cfg->admin_tokens);
	if (cfg->policy) {
		policy_fini(cfg->policy);
		free(cfg->policy);
	}
	*cfg = (struct config){ 0 };
}

/* A deep copy, so that a load can work on a draft and leave cfg alone when it fails. */
static int
config_copy(struct config *dst, const struct config *src)
{
	*dst = *src;
	dst->listen_urls = NULL;
	dst->n_listen_urls = 0;
	dst->ipc_group = NULL;
	dst->ipc_owner = NULL;
	dst->privileges_user = NULL;
	dst->privileges_group = NULL;
	dst->tls_cert_key_file = NULL;
	dst->tls_ca_file = NULL;
	dst->audit_file = NULL;
	dst->audit_events = NULL;
	dst->n_audit_events = 0;
	dst->tokens = NULL;
	dst->n_tokens = 0;
	dst->admin_uids = (struct config_ids){ 0 };
	dst->admin_gids = (struct config_ids){ 0 };
	dst->admin_tokens = (struct config_names){ 0 };
	/* The draft starts without the policy: one read from the file goes in
	 * its place, else the draft takes over cfg's when the load succeeds. */
	dst->policy = NULL;

	for (size_t i = 0; i < src->n_listen_urls; i++) {
		if (append_url(dst, src->listen_urls[i]) < 0)
			goto err_copy;
	}
	if (set_string(&dst->ipc_group, src->ipc_group) < 0 ||
	    set_string(&dst->ipc_owner, src->ipc_owner) < 0 ||
	    set_string(&dst->privileges_user, src->privileges_user) < 0 ||
	    set_string(&dst->privileges_group, src->privileges_group) < 0 ||
	    set_string(&dst->tls_cert_key_file, src->tls_cert_key_file) < 0 ||
	    set_string(&dst->tls_ca_file, src->tls_ca_file) < 0 ||
	    set_string(&dst->audit_file, src->audit_file) < 0 ||
	    set_events(dst, (const char *const *)src->audit_events, src->n_audit_events) < 0 ||
	    set_tokens(dst, src->tokens, src->n_tokens) < 0 ||
	    set_ids(&dst->admin_uids, src->admin_uids.ids, src->admin_uids.n) < 0 ||
	    set_ids(&dst->admin_gids, src->admin_gids.ids, src->admin_gids.n) < 0 ||
	    set_names(&dst->admin_tokens, src->admin_tokens.names, src->admin_tokens.n) < 0)
		goto err_copy;
	return 0;

err_copy:
	config_fini(dst);
	return -ENOMEM;
}

int
config_add_listen(struct config *cfg, const char *url, char *err, size_t errlen)
{
	struct listen_url parsed;
	int r;

	if (!url) {
		set_err(err, errlen, "a listen URL is missing; use " URL_FORMS);
		return -EINVAL;
	}
	r = parse_listen_url(&parsed, url, err, errlen);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->n_listen_urls; i++) {
		if (strcmp(cfg->listen_urls[i], url) == 0) {
			set_err(err, errlen, "%.200s: this listen URL is given twice; remove one",
				url);
			return -EINVAL;
		}
	}
	r = append_url(cfg, url);
	if (r < 0)
		set_err(err, errlen, "%.200s: out of memory", url);
	return r;
}

static int parse_section(const struct load *ld, const cJSON *obj, const char *path,
			 struct config *cfg);

static int
parse_listen(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	char msg[384];
	char path[PATH_MAX_LEN + 24];
	const cJSON *item;
	size_t i = 0;
	int r;

	if (!cJSON_IsArray(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an array of URL strings such as "
			    "[\"ipc:///run/sockbroker/sockbroker.sock\"], got %s", got);
	}
	/* The file's list replaces what came before it: merging lists would leave no way for a
	 * file to drop a listener. */
	free_urls(cfg);
	cJSON_ArrayForEach(item, v) {
		snprintf(path, sizeof(path), "%s[%zu]", f->path, i++);
		if (!cJSON_IsString(item)) {
			describe(got, sizeof(got), item);
			return fail(ld, path, "must be a URL string (" URL_FORMS "), got %s", got);
		}
		r = config_add_listen(cfg, item->valuestring, msg, sizeof(msg));
		if (r < 0) {
			fail(ld, path, "%s", msg);
			return r;
		}
	}
	return 0;
}

static int
parse_uint(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	int64_t value;

	if (!cJSON_IsNumber(v) || !integral(v->valuedouble, &value) || value < 0 ||
	    (uint64_t)value < f->min || (uint64_t)value > f->max) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an integer from %llu to %llu%s, got %s",
			    (unsigned long long)f->min, (unsigned long long)f->max,
			    f->note ? f->note : "", got);
	}
	set_uint(cfg, f, (uint64_t)value);
	return 0;
}

static int
parse_log_level(const struct load *ld, const struct field *f, const cJSON *v,
		struct config *cfg)
{
	char got[128];

	if (cJSON_IsString(v) && log_level_from_name(v->valuestring, &cfg->log_level) == 0)
		return 0;
	describe(got, sizeof(got), v);
	return fail(ld, f->path, "must be one of \"error\", \"warn\", \"info\", \"debug\", got %s",
		    got);
}

static int
parse_mode(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	const char *s;
	size_t len;

	if (cJSON_IsNumber(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an octal string such as \"0660\" (JSON numbers "
			    "are decimal, so write the mode in quotes), got %s", got);
	}
	if (cJSON_IsString(v)) {
		s = v->valuestring;
		len = strlen(s);
		if (len == 4 && s[0] == '0') {
			s++;
			len--;
		}
		if (len == 3 && strspn(s, "01234567") == 3) {
			*(unsigned *)((char *)cfg + f->offset) = (unsigned)strtoul(s, NULL, 8);
			return 0;
		}
	}
	describe(got, sizeof(got), v);
	return fail(ld, f->path, "must be a permission mode of three octal digits with an optional "
		    "leading 0, such as \"0660\", got %s", got);
}

static int
parse_string(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	bool ok = s && s[0];
	int r;

	if (ok && f->kind == FIELD_ABS_PATH)
		ok = s[0] == '/';
	for (size_t i = 0; ok && s[i]; i++)
		ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
	if (!ok) {
		describe(got, sizeof(got), v);
		if (f->kind == FIELD_ABS_PATH)
			return fail(ld, f->path, "must be an absolute file name such as "
				    "\"/etc/sockbroker/server.pem\", got %s", got);
		return fail(ld, f->path, "must be a non-empty name without control characters, "
			    "got %s", got);
	}
	r = set_string(string_member(cfg, f), s);
	if (r < 0)
		fail(ld, f->path, "out of memory");
	return r;
}

/* The audit event names, comma-separated, into `known` (cut short at `size`). */
static void
list_event_names(char *known, size_t size)
{
	size_t pos = 0;

	known[0] = '\0';
	for (size_t k = 0; audit_event_names[k]; k++) {
		int w = snprintf(known + pos, size - pos, "%s%s", k ? ", " : "",
				 audit_event_names[k]);
		if (w < 0 || (size_t)w >= size - pos)
			break;
		pos += (size_t)w;
	}
}

/* "audit.events": event names from audit_event_names, "*" among them for every event, or
 * "*" alone. The list replaces the one before it, like "listen". */
static int
parse_events(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	static const char *const every[] = { "*" };
	char got[128];
	char path[PATH_MAX_LEN + 24];
	char known[640];
	const char **names;
	const cJSON *item;
	size_t n, i = 0;
	int r = 0;

	if (cJSON_IsString(v) && strcmp(v->valuestring, "*") == 0) {
		r = set_events(cfg, every, 1);
		if (r < 0)
			fail(ld, f->path, "out of memory");
		return r;
	}
	if (!cJSON_IsArray(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an array of audit event names such as "
			    "[\"socket.connect\", \"socket.bind\"], or \"*\" for every event, got %s",
			    got);
	}
	list_event_names(known, sizeof(known));
	n = (size_t)cJSON_GetArraySize(v);
	names = calloc(n + 1, sizeof(*names));
	if (!names) {
		fail(ld, f->path, "out of memory");
		return -ENOMEM;
	}
	cJSON_ArrayForEach(item, v) {
		const char *name = cJSON_IsString(item) ? item->valuestring : NULL;
		bool found = name && strcmp(name, "*") == 0;
		const char *hint = NULL;
		size_t best = SIZE_MAX;

		snprintf(path, sizeof(path), "%s[%zu]", f->path, i);
		for (size_t k = 0; name && !found && audit_event_names[k]; k++) {
			size_t score;

			found = strcmp(name, audit_event_names[k]) == 0;
			if (!found && close_to(name, audit_event_names[k], &score) && score < best) {
				best = score;
				hint = audit_event_names[k];
			}
		}
		if (!name) {
			describe(got, sizeof(got), item);
			r = fail(ld, path, "must be an audit event name (a string), got %s", got);
			goto out;
		}
		if (!found) {
			quote(got, sizeof(got), name, 64);
			if (hint)
				r = fail(ld, path, "unknown audit event %s (did you mean \"%s\"?); the "
					 "events are %s, or \"*\" for every event", got, hint, known);
			else
				r = fail(ld, path, "unknown audit event %s; the events are %s, or \"*\" "
					 "for every event", got, known);
			goto out;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(names[k], name) == 0) {
				r = fail(ld, path, "the event \"%s\" is listed twice; keep one", name);
				goto out;
			}
		}
		names[i++] = name;
	}
	r = set_events(cfg, names, i);
	if (r < 0)
		fail(ld, f->path, "out of memory");
out:
	free(names);
	return r;
}

/* A "policy" replaces the whole policy of the layers below it. */
static int
parse_policy(const struct load *ld, const cJSON *v, struct config *cfg)
{
	char msg[512];
	struct policy *policy;
	int r = config_parse_policy(v, &policy, msg, sizeof(msg));
	if (r < 0)
		return fail(ld, NULL, "%s", msg);
	if (cfg->policy) {
		policy_fini(cfg->policy);
		free(cfg->policy);
	}
	cfg->policy = policy;
	return 0;
}

static bool
token_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= CONFIG_TOKEN_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
		       len;
}

/* One entry of "auth.tokens" at `path` into *token. */
static int
parse_token(const struct load *ld, const char *path, const cJSON *item,
	    struct config_token *token)
{
	char got[128];
	char member_path[PATH_MAX_LEN + 48];
	const cJSON *member, *name = NULL, *hash = NULL;

	if (!cJSON_IsObject(item)) {
		/* A string here may be a token written where its entry goes: not quoted. */
		if (cJSON_IsString(item))
			snprintf(got, sizeof(got), "a string of %zu characters",
				 strlen(item->valuestring));
		else
			describe(got, sizeof(got), item);
		return fail(ld, path, "must be an object {\"name\": ..., \"sha256\": ...}, got %s",
			    got);
	}
	cJSON_ArrayForEach(member, item) {
		const cJSON **slot = strcmp(member->string, "name") == 0     ? &name
				     : strcmp(member->string, "sha256") == 0 ? &hash
									     : NULL;

		quote(got, sizeof(got), member->string, 64);
		if (!slot)
			return fail(ld, path, "unknown key %s (known keys: name, sha256)", got);
		if (*slot)
			return fail(ld, path, "the key %s appears twice; keep one", got);
		*slot = member;
	}
	if (!name || !hash)
		return fail(ld, path, "needs both \"name\" and \"sha256\"; \"%s\" is missing",
			    name ? "sha256" : "name");

	snprintf(member_path, sizeof(member_path), "%s.name", path);
	if (!cJSON_IsString(name) || !token_name_ok(name->valuestring)) {
		describe(got, sizeof(got), name);
		return fail(ld, member_path, "must be 1 to %d characters among letters, digits, "
			    "'.', '_' and '-', got %s", CONFIG_TOKEN_NAME_MAX, got);
	}
	snprintf(member_path, sizeof(member_path), "%s.sha256", path);
	if (!cJSON_IsString(hash) || sha256_from_hex(hash->valuestring, token->sha256) < 0) {
		/* Never quoted back: it may be the token itself, pasted where its hash goes. */
		if (cJSON_IsString(hash))
			snprintf(got, sizeof(got), "a string of %zu characters",
				 strlen(hash->valuestring));
		else
			describe(got, sizeof(got), hash);
		return fail(ld, member_path, "must be the SHA-256 of the token as 64 hexadecimal "
			    "digits, never the token itself (make it with: printf %%s \"$TOKEN\" | "
			    "sha256sum), got %s", got);
	}
	memcpy(token->name, name->valuestring, strlen(name->valuestring) + 1);
	return 0;
}

/* "auth.tokens": the list replaces the one before it, like "listen". */
static int
parse_tokens(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	char path[PATH_MAX_LEN + 24];
	struct config_token *tokens;
	const cJSON *item;
	size_t n, i = 0;
	int r;

	if (!cJSON_IsArray(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an array of tokens such as [{\"name\": \"ci\", "
			    "\"sha256\": \"<64 hexadecimal digits>\"}], got %s", got);
	}
	n = (size_t)cJSON_GetArraySize(v);
	tokens = calloc(n ? n : 1, sizeof(*tokens));
	if (!tokens) {
		fail(ld, f->path, "out of memory");
		return -ENOMEM;
	}
	cJSON_ArrayForEach(item, v) {
		snprintf(path, sizeof(path), "%s[%zu]", f->path, i);
		r = parse_token(ld, path, item, &tokens[i]);
		if (r < 0)
			goto out;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(tokens[k].name, tokens[i].name) == 0) {
				r = fail(ld, path, "the name \"%s\" is taken by %s[%zu]; token "
					 "names must be unique", tokens[i].name, f->path, k);
				goto out;
			}
			if (sha256_equal(tokens[k].sha256, tokens[i].sha256)) {
				r = fail(ld, path, "has the same sha256 as %s[%zu] (\"%s\"): one "
					 "token would have two names; give each name its own token",
					 f->path, k, tokens[k].name);
				goto out;
			}
		}
		i++;
	}
	r = set_tokens(cfg, tokens, i);
	if (r < 0)
		fail(ld, f->path, "out of memory");
out:
	free(tokens);
	return r;
}

/* "auth.require_token": transport names; the list replaces the one before it. */
static int
parse_transports(const struct load *ld, const struct field *f, const cJSON *v,
		 struct config *cfg)
{
	char got[128];
	char path[PATH_MAX_LEN + 24];
	char known[96];
	const cJSON *item;
	unsigned mask = 0;
	size_t i = 0, pos = 0;

	for (int t = 0; t < POLICY_TRANSPORT__COUNT; t++) {
		int w = snprintf(known + pos, sizeof(known) - pos, "%s\"%s\"",
				 t == 0 ? "" : t + 1 < POLICY_TRANSPORT__COUNT ? ", " : " and ",
				 policy_transport_name((enum policy_transport)t));
		if (w < 0 || (size_t)w >= sizeof(known) - pos)
			break;
		pos += (size_t)w;
	}
	if (!cJSON_IsArray(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an array of transports among %s, such as "
			    "[\"tcp\"], got %s", known, got);
	}
	cJSON_ArrayForEach(item, v) {
		int found = -1;

		snprintf(path, sizeof(path), "%s[%zu]", f->path, i++);
		for (int t = 0; cJSON_IsString(item) && t < POLICY_TRANSPORT__COUNT; t++) {
			if (strcmp(item->valuestring,
				   policy_transport_name((enum policy_transport)t)) == 0)
				found = t;
		}
		if (found < 0) {
			describe(got, sizeof(got), item);
			return fail(ld, path, "must be one of the transports %s, got %s", known,
				    got);
		}
		if (mask & (1u << found))
			return fail(ld, path, "the transport \"%s\" is listed twice; keep one",
				    item->valuestring);
		mask |= 1u << found;
	}
	cfg->require_token = mask;
	return 0;
}

/* "admin.uids", "admin.gids": numbers; the list replaces the one before it. */
static int
parse_ids(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	char path[PATH_MAX_LEN + 24];
	const cJSON *item;
	uint32_t *ids;
	size_t n = 0;
	int r;

	if (!cJSON_IsArray(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an array of numeric ids, got %s", got);
	}
	if (!(ids = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*ids))))
		return fail(ld, f->path, "out of memory");
	cJSON_ArrayForEach(item, v) {
		snprintf(path, sizeof(path), "%s[%zu]", f->path, n);
		if (!cJSON_IsNumber(item) || item->valuedouble < 0 ||
		    item->valuedouble > 4294967294.0 ||
		    item->valuedouble != (double)(uint32_t)item->valuedouble) {
			describe(got, sizeof(got), item);
			r = fail(ld, path, "must be a numeric id from 0 to 4294967294 (names are "
				 "not looked up here), got %s", got);
			goto out;
		}
		ids[n++] = (uint32_t)item->valuedouble;
	}
	r = set_ids((struct config_ids *)(void *)((char *)cfg + f->offset), ids, n);
	if (r < 0)
		fail(ld, f->path, "out of memory");
out:
	free(ids);
	return r;
}

/* "admin.tokens": names of auth.tokens (checked once the whole file is read). */
static int
parse_names(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];
	char path[PATH_MAX_LEN + 24];
	const cJSON *item;
	char **names;
	size_t n = 0;
	int r;

	if (!cJSON_IsArray(v)) {
		describe(got, sizeof(got), v);
		return fail(ld, f->path, "must be an array of token names, got %s", got);
	}
	if (!(names = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*names))))
		return fail(ld, f->path, "out of memory");
	cJSON_ArrayForEach(item, v) {
		snprintf(path, sizeof(path), "%s[%zu]", f->path, n);
		if (!cJSON_IsString(item) || !token_name_ok(item->valuestring)) {
			describe(got, sizeof(got), item);
			r = fail(ld, path, "must be the name of a token of auth.tokens, got %s",
				 got);
			goto out;
		}
		names[n++] = item->valuestring;
	}
	r = set_names((struct config_names *)(void *)((char *)cfg + f->offset), names, n);
	if (r < 0)
		fail(ld, f->path, "out of memory");
out:
	free(names); /* the strings are cJSON's */
	return r;
}

static int
parse_value(const struct load *ld, const struct field *f, const cJSON *v, struct config *cfg)
{
	char got[128];

	switch (f->kind) {
	case FIELD_SECTION:
		if (!cJSON_IsObject(v)) {
			describe(got, sizeof(got), v);
			return fail(ld, f->path, "must be an object ({ ... }), got %s", got);
		}
		return parse_section(ld, v, f->path, cfg);
	case FIELD_LISTEN:
		return parse_listen(ld, f, v, cfg);
	case FIELD_U32:
	case FIELD_U64:
		return parse_uint(ld, f, v, cfg);
	case FIELD_LOG_LEVEL:
		return parse_log_level(ld, f, v, cfg);
	case FIELD_MODE:
		return parse_mode(ld, f, v, cfg);
	case FIELD_NAME:
	case FIELD_ABS_PATH:
		return parse_string(ld, f, v, cfg);
	case FIELD_RESERVED:
		return fail(ld, f->path, "%s", f->note);
	case FIELD_POLICY:
		return parse_policy(ld, v, cfg);
	case FIELD_EVENTS:
		return parse_events(ld, f, v, cfg);
	case FIELD_TOKENS:
		return parse_tokens(ld, f, v, cfg);
	case FIELD_TRANSPORTS:
		return parse_transports(ld, f, v, cfg);
	case FIELD_IDS:
		return parse_ids(ld, f, v, cfg);
	case FIELD_NAMES:
		return parse_names(ld, f, v, cfg);
	}
	return fail(ld, f->path, "cannot be read by this version");
}

/* Apply the members of object `obj` found at `path` ("" for the top level). */
static int
parse_section(const struct load *ld, const cJSON *obj, const char *path, struct config *cfg)
{
	const cJSON *member;
	char member_path[PATH_MAX_LEN];
	char quoted[96];
	int r;

	cJSON_ArrayForEach(member, obj) {
		const char *name = member->string;
		const struct field *f = NULL;
		int n;

		/* cJSON keeps both copies of a repeated key; which one wins would be a guess. */
		for (const cJSON *prev = obj->child; prev != member; prev = prev->next) {
			if (strcmp(prev->string, name) == 0) {
				quote(quoted, sizeof(quoted), name, 64);
				return fail(ld, path, "the key %s appears twice; keep one", quoted);
			}
		}

		n = snprintf(member_path, sizeof(member_path), "%s%s%s", path, path[0] ? "." : "",
			     name);
		if (!strchr(name, '.') && n > 0 && (size_t)n < sizeof(member_path))
			f = find_field(member_path);
		if (!f)
			return unknown_key(ld, path, name);
		r = parse_value(ld, f, member, cfg);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool
json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Where JSON text starts to run off its end: the opening quote of a string left open, else
 * the last character when an array or object is left open; SIZE_MAX when all is closed.
 */
static size_t
unclosed_from(const char *text, size_t len)
{
	size_t depth = 0;
	size_t string_start = SIZE_MAX;

	for (size_t i = 0; i < len; i++) {
		if (string_start != SIZE_MAX) {
			if (text[i] == '\\')
				i++;
			else if (text[i] == '"')
				string_start = SIZE_MAX;
		} else if (text[i] == '"') {
			string_start = i;
		} else if (text[i] == '{' || text[i] == '[') {
			depth++;
		} else if ((text[i] == '}' || text[i] == ']') && depth > 0) {
			depth--;
		}
	}
	if (string_start != SIZE_MAX)
		return string_start;
	return depth > 0 ? len - 1 : SIZE_MAX;
}

/*
 * Report a syntax error at `at` with the text around it. cJSON stops at or just past the
 * offending character, so the excerpt shows what leads up to the position too.
 */
static int
syntax_error(const struct load *ld, const char *text, size_t len, const char *at,
	     const char *what)
{
	size_t offset = at && at >= text && at <= text + len ? (size_t)(at - text) : len;
	size_t line = 1, column = 1;
	size_t line_start = 0;
	size_t from, to;
	char near[48];
	char quoted[sizeof(near) * 2 + 16];

	/* cJSON reports running out of text as an error at the last character, or at the
	 * start of a string that never ends. */
	if (offset >= unclosed_from(text, len))
		offset = len;

	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n') {
			line++;
			column = 1;
			line_start = i + 1;
		} else {
			column++;
		}
	}
	if (offset >= len)
		return fail(ld, NULL, "line %zu, column %zu: the JSON text ends too early (is a "
			    "bracket, brace or quote not closed?)", line, column);

	from = offset - line_start > 16 ? offset - 16 : line_start;
	to = offset;
	while (to < len && to - offset < 8 && text[to] != '\n' && text[to] != '\r')
		to++;
	memcpy(near, text + from, to - from);
	near[to - from] = '\0';
	quote(quoted, sizeof(quoted), near, sizeof(near));
	return fail(ld, NULL, "line %zu, column %zu: %s near %s", line, column, what, quoted);
}

static int
load_text(struct config *cfg, const char *text, size_t len, const char *origin, char *err,
	  size_t errlen)
{
	struct load ld = { origin ? origin : "configuration", err, errlen };
	struct config draft;
	const char *end = NULL;
	cJSON *root;
	char got[128];
	size_t i;
	int r;

	if (memchr(text, '\0', len))
		return fail(&ld, NULL, "contains a NUL byte; a configuration file is JSON text");
	for (i = 0; i < len && json_space(text[i]); i++)
		;
	if (i == len)
		return fail(&ld, NULL, "is empty; a file that changes no setting is written {}");

	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root)
		return syntax_error(&ld, text, len, end, "JSON syntax error");
	while (end < text + len && json_space(*end))
		end++;
	if (end < text + len) {
		r = syntax_error(&ld, text, len, end, "unexpected text after the JSON document");
		goto err_root;
	}
	if (!cJSON_IsObject(root)) {
		describe(got, sizeof(got), root);
		r = fail(&ld, NULL, "the top level must be a JSON object ({ ... }), got %s", got);
		goto err_root;
	}

	r = config_copy(&draft, cfg);
	if (r < 0) {
		fail(&ld, NULL, "out of memory");
		goto err_root;
	}
	r = parse_section(&ld, root, "", &draft);
	if (r < 0)
		goto err_draft;

	cJSON_Delete(root);
	if (!draft.policy) {
		draft.policy = cfg->policy;
		cfg->policy = NULL;
	}
	config_fini(cfg);
	*cfg = draft;
	return 0;

err_draft:
	config_fini(&draft);
err_root:
	cJSON_Delete(root);
	return r;
}

int
config_load_string(struct config *cfg, const char *json, const char *origin, char *err,
		   size_t errlen)
{
	return load_text(cfg, json, strlen(json), origin, err, errlen);
}

int
config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct load ld = { path, err, errlen };
	struct stat st;
	char *text;
	size_t len = 0;
	int fd;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		fail(&ld, NULL, "cannot open the configuration file: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		fail(&ld, NULL, "cannot read the configuration file: %s", strerror(-r));
		goto err_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		r = fail(&ld, NULL, "is not a regular file; give the path of a JSON file");
		goto err_fd;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		r = -EFBIG;
		fail(&ld, NULL, "is %lld bytes long; a configuration file may have at most %d",
		     (long long)st.st_size, CONFIG_FILE_MAX);
		goto err_fd;
	}

	/* One byte more than allowed, to notice a file that grew since fstat. */
	text = malloc(CONFIG_FILE_MAX + 1);
	if (!text) {
		r = -ENOMEM;
		fail(&ld, NULL, "out of memory");
		goto err_fd;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			fail(&ld, NULL, "cannot read the configuration file: %s", strerror(-r));
			goto err_text;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX) {
			r = -EFBIG;
			fail(&ld, NULL, "is longer than %d bytes, the most a configuration file "
			     "may have", CONFIG_FILE_MAX);
			goto err_text;
		}
	}

	r = load_text(cfg, text, len, path, err, errlen);

err_text:
	free(text);
err_fd:
	close(fd);
	return r;
}

/* A policy condition on a token name that auth.tokens lacks could never hold: most likely a
 * typo, which would otherwise pass in silence. "*" is any token. */
static int
check_token_names(const struct config *cfg, const char *what, const char *name,
		  const struct policy_identity_match *who, char *err, size_t errlen)
{
	for (size_t i = 0; i < who->n_tokens; i++) {
		bool known = strcmp(who->tokens[i], "*") == 0;

		for (size_t k = 0; !known && k < cfg->n_tokens; k++)
			known = strcmp(cfg->tokens[k].name, who->tokens[i]) == 0;
		if (!known) {
			set_err(err, errlen, "policy: %s \"%.64s\" names the token \"%.64s\", "
				"which auth.tokens does not have, so it could never apply; add "
				"the token to auth.tokens or correct the name", what, name,
				who->tokens[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* The numbers: each within its field's range, and the memory bounds consistent. */
static int
validate_numbers(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct field *f = &fields[i];
		uint64_t value;

		if (f->kind != FIELD_U32 && f->kind != FIELD_U64)
			continue;
		value = get_uint(cfg, f);
		if (value < f->min || value > f->max) {
			set_err(err, errlen, "%s: must be an integer from %llu to %llu%s, got %llu",
				f->path, (unsigned long long)f->min, (unsigned long long)f->max,
				f->note ? f->note : "", (unsigned long long)value);
			return -EINVAL;
		}
	}
	if (cfg->memory_per_identity < cfg->max_message_size ||
	    cfg->memory_total < cfg->memory_per_identity) {
		set_err(err, errlen, "limits.memory_per_identity (%llu) must be at least "
			"limits.max_message_size (%llu), and limits.memory_total (%llu) at least "
			"limits.memory_per_identity: a request of the largest size must fit",
			(unsigned long long)cfg->memory_per_identity,
			(unsigned long long)cfg->max_message_size,
			(unsigned long long)cfg->memory_total);
		return -EINVAL;
	}
	return 0;
}

/* The log level, the modes, and the settings that need another or an absolute file name. */
static int
validate_settings(const struct config *cfg, char *err, size_t errlen)
{
	if ((unsigned)cfg->log_level > LOG_LEVEL_DEBUG) {
		set_err(err, errlen, "log_level: must be one of \"error\", \"warn\", \"info\", "
			"\"debug\", got the value %d", (int)cfg->log_level);
		return -EINVAL;
	}
	if (cfg->ipc_mode > 0777) {
		set_err(err, errlen, "ipc.mode: must be a permission mode from 0000 to 0777, got "
			"0%o", cfg->ipc_mode);
		return -EINVAL;
	}
	if (cfg->ipc_directory_mode > 0777) {
		set_err(err, errlen, "ipc.directory_mode: must be a permission mode from 0000 to "
			"0777, got 0%o", cfg->ipc_directory_mode);
		return -EINVAL;
	}
	if (cfg->privileges_group && !cfg->privileges_user) {
		set_err(err, errlen, "privileges.group: needs privileges.user (the user the daemon "
			"switches to); set it too, or remove privileges.group");
		return -EINVAL;
	}
	if ((cfg->tls_cert_key_file && cfg->tls_cert_key_file[0] != '/') ||
	    (cfg->tls_ca_file && cfg->tls_ca_file[0] != '/')) {
		set_err(err, errlen, "%s: must be an absolute file name",
			cfg->tls_ca_file && cfg->tls_ca_file[0] != '/' ? "tls.ca_file"
								      : "tls.cert_key_file");
		return -EINVAL;
	}
	if (cfg->audit_file && cfg->audit_file[0] != '/') {
		set_err(err, errlen, "audit.file: must be an absolute file name");
		return -EINVAL;
	}
	return 0;
}

/* Every token named (auth.require_token, the rules' and quotas' "who", admin.tokens) exists. */
static int
validate_token_names(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->require_token >> POLICY_TRANSPORT__COUNT) {
		set_err(err, errlen, "auth.require_token: names a transport this version does not "
			"know (mask 0x%x)", cfg->require_token);
		return -EINVAL;
	}
	if (cfg->require_token && cfg->n_tokens == 0) {
		int t = __builtin_ctz(cfg->require_token);

		set_err(err, errlen, "auth.require_token: lists \"%s\" but auth.tokens has no "
			"token, so no client could say Hello there; add a token (its name and "
			"SHA-256) to auth.tokens, or empty auth.require_token",
			policy_transport_name((enum policy_transport)t));
		return -EINVAL;
	}
	for (size_t i = 0; cfg->policy && i < cfg->policy->n_rules; i++) {
		const struct policy_rule *rule = &cfg->policy->rules[i];

		if (check_token_names(cfg, "rule", rule->name, &rule->who, err, errlen) < 0)
			return -EINVAL;
	}
	for (size_t i = 0; cfg->policy && i < cfg->policy->n_quotas; i++) {
		const struct policy_quota *quota = &cfg->policy->quotas[i];

		if (check_token_names(cfg, "quota", quota->name, &quota->who, err, errlen) < 0)
			return -EINVAL;
	}
	for (size_t i = 0; i < cfg->admin_tokens.n; i++) {
		bool known = false;

		for (size_t k = 0; !known && k < cfg->n_tokens; k++)
			known = strcmp(cfg->tokens[k].name, cfg->admin_tokens.names[i]) == 0;
		if (!known) {
			set_err(err, errlen, "admin.tokens[%zu]: names the token \"%.64s\", which "
				"auth.tokens does not have; add the token to auth.tokens or correct "
				"the name", i, cfg->admin_tokens.names[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* Each listen URL: well-formed, given once, TLS set up for tls+tcp, no unauthenticated TCP
 * beyond loopback. */
static int
validate_listen_urls(const struct config *cfg, char *err, size_t errlen)
{
	struct listen_url url;
	char msg[384];

	for (size_t i = 0; i < cfg->n_listen_urls; i++) {
		const char *u = cfg->listen_urls[i];

		if (parse_listen_url(&url, u, msg, sizeof(msg)) < 0) {
			set_err(err, errlen, "listen[%zu]: %s", i, msg);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->listen_urls[j], u) == 0) {
				set_err(err, errlen, "%.200s: this listen URL is given twice; "
					"remove one", u);
				return -EINVAL;
			}
		}
		if (url.kind == URL_TLS_TCP && (!cfg->tls_cert_key_file || !cfg->tls_ca_file)) {
			set_err(err, errlen, "%.200s: a tls+tcp listener needs tls.cert_key_file "
				"(the server's certificate and private key) and tls.ca_file (the "
				"CA that client certificates must chain to); %s",
				u, !cfg->tls_cert_key_file && !cfg->tls_ca_file
					   ? "neither is set"
				   : !cfg->tls_cert_key_file ? "tls.cert_key_file is not set"
							     : "tls.ca_file is not set");
			return -EINVAL;
		}
		if (url.kind == URL_TCP && !loopback_host(url.host) &&
		    !(cfg->require_token & (1u << POLICY_TRANSPORT_TCP))) {
			set_err(err, errlen, "%.200s: a tcp listener on a non-loopback address "
				"needs tls+tcp:// or list \"tcp\" in auth.require_token; refusing "
				"to expose the broker unauthenticated", u);
			return -EINVAL;
		}
	}
	return 0;
}

int
config_validate(const struct config *cfg, char *err, size_t errlen)
{
	int r;

	if ((r = validate_numbers(cfg, err, errlen)) < 0 ||
	    (r = validate_settings(cfg, err, errlen)) < 0 ||
	    (r = validate_token_names(cfg, err, errlen)) < 0 ||
	    (r = validate_listen_urls(cfg, err, errlen)) < 0)
		return r;
	return 0;
}

static void
print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* The policy, the listen URLs, the limits, the log level and the resolver threads. */
static void
print_policy_listen_limits(const struct config *cfg, FILE *out)
{
	fputs("{\n", out);
	config_print_policy(cfg->policy, out);
	fputs("\t\"listen\": [", out);
	for (size_t i = 0; i < cfg->n_listen_urls; i++) {
		fputs(i ? ",\n\t\t" : "\n\t\t", out);
		print_string(out, cfg->listen_urls[i]);
	}
	fputs(cfg->n_listen_urls ? "\n\t],\n" : "],\n", out);

	fprintf(out, "\t\"limits\": {\n"
		"\t\t\"max_message_size\": %llu,\n"
		"\t\t\"max_handles_per_session\": %lu,\n"
		"\t\t\"max_parked_per_session\": %lu,\n"
		"\t\t\"max_sessions\": %lu,\n"
		"\t\t\"reply_timeout_ms\": %lu,\n"
		"\t\t\"frame_timeout_ms\": %lu,\n"
		"\t\t\"memory_per_identity\": %llu,\n"
		"\t\t\"memory_total\": %llu,\n"
		"\t\t\"max_sessions_per_identity\": %lu\n"
		"\t},\n",
		(unsigned long long)cfg->max_message_size, (unsigned long)cfg->max_handles,
		(unsigned long)cfg->max_parked, (unsigned long)cfg->max_sessions,
		(unsigned long)cfg->reply_timeout_ms, (unsigned long)cfg->frame_timeout_ms,
		(unsigned long long)cfg->memory_per_identity,
		(unsigned long long)cfg->memory_total,
		(unsigned long)cfg->max_sessions_per_identity);
	fprintf(out, "\t\"log_level\": \"%s\",\n", log_level_name(cfg->log_level));
	fprintf(out, "\t\"resolver_threads\": %lu,\n", (unsigned long)cfg->resolver_threads);
}

/* The ipc and privileges sections. */
static void
print_ipc_privileges(const struct config *cfg, FILE *out)
{
	fprintf(out, "\t\"ipc\": {\n\t\t\"mode\": \"%04o\"", cfg->ipc_mode);
	if (cfg->ipc_group) {
		fputs(",\n\t\t\"group\": ", out);
		print_string(out, cfg->ipc_group);
	}
	if (cfg->ipc_owner) {
		fputs(",\n\t\t\"owner\": ", out);
		print_string(out, cfg->ipc_owner);
	}
	fprintf(out, ",\n\t\t\"directory_mode\": \"%04o\"", cfg->ipc_directory_mode);
	fputs("\n\t},\n", out);

	fputs("\t\"privileges\": {", out);
	if (cfg->privileges_user) {
		fputs("\n\t\t\"user\": ", out);
		print_string(out, cfg->privileges_user);
	}
	if (cfg->privileges_group) {
		fputs(cfg->privileges_user ? ",\n\t\t\"group\": " : "\n\t\t\"group\": ", out);
		print_string(out, cfg->privileges_group);
	}
	fputs(cfg->privileges_user || cfg->privileges_group ? "\n\t},\n" : "},\n", out);
}

/* The audit section, its events listed even when they are the default. */
static void
print_audit(const struct config *cfg, FILE *out)
{
	fputs("\t\"audit\": {", out);
	if (cfg->audit_file) {
		fputs("\n\t\t\"file\": ", out);
		print_string(out, cfg->audit_file);
		fputc(',', out);
	}
	/* The default set is printed as the list it is, so the output says what is audited. */
	const char *const *events = cfg->audit_events ? (const char *const *)cfg->audit_events
						      : audit_default_events;
	fputs("\n\t\t\"events\": [", out);
	for (size_t i = 0; events[i]; i++) {
		fputs(i ? ", " : "", out);
		print_string(out, events[i]);
	}
	fputs("]\n\t},\n", out);
}

/* The auth and admin sections (tokens as their SHA-256, never a secret). */
static void
print_auth_admin(const struct config *cfg, FILE *out)
{
	fputs("\t\"auth\": {\n\t\t\"tokens\": [", out);
	for (size_t i = 0; i < cfg->n_tokens; i++) {
		char hex[SHA256_HEX_LEN + 1];

		sha256_to_hex(cfg->tokens[i].sha256, hex);
		fputs(i ? ",\n\t\t\t{\"name\": " : "\n\t\t\t{\"name\": ", out);
		print_string(out, cfg->tokens[i].name);
		fprintf(out, ", \"sha256\": \"%s\"}", hex);
	}
	fputs(cfg->n_tokens ? "\n\t\t],\n" : "],\n", out);
	fputs("\t\t\"require_token\": [", out);
	for (int t = 0, n = 0; t < POLICY_TRANSPORT__COUNT; t++) {
		if (!(cfg->require_token & (1u << t)))
			continue;
		fputs(n++ ? ", " : "", out);
		print_string(out, policy_transport_name((enum policy_transport)t));
	}
	fputs("]\n\t},\n", out);

	fputs("\t\"admin\": {\n\t\t\"uids\": [", out);
	for (size_t i = 0; i < cfg->admin_uids.n; i++)
		fprintf(out, "%s%lu", i ? ", " : "", (unsigned long)cfg->admin_uids.ids[i]);
	fputs("],\n\t\t\"gids\": [", out);
	for (size_t i = 0; i < cfg->admin_gids.n; i++)
		fprintf(out, "%s%lu", i ? ", " : "", (unsigned long)cfg->admin_gids.ids[i]);
	fputs("],\n\t\t\"tokens\": [", out);
	for (size_t i = 0; i < cfg->admin_tokens.n; i++) {
		fputs(i ? ", " : "", out);
		print_string(out, cfg->admin_tokens.names[i]);
	}
	fputs("]\n\t},\n", out);
}

/* The remote and tls sections, and the closing brace. */
static void
print_remote_tls(const struct config *cfg, FILE *out)
{
	fprintf(out, "\t\"remote\": {\n\t\t\"keepalive_idle_s\": %lu,\n"
		"\t\t\"keepalive_interval_s\": %lu,\n\t\t\"keepalive_count\": %lu,\n"
		"\t\t\"resume_grace_tcp_s\": %lu,\n\t\t\"resume_grace_tls_s\": %lu,\n"
		"\t\t\"resume_grace_ipc_s\": %lu,\n\t\t\"resume_buffer_bytes\": %llu\n\t},\n",
		(unsigned long)cfg->keepalive_idle_s, (unsigned long)cfg->keepalive_interval_s,
		(unsigned long)cfg->keepalive_count,
		(unsigned long)cfg->resume_grace_s[POLICY_TRANSPORT_TCP],
		(unsigned long)cfg->resume_grace_s[POLICY_TRANSPORT_TLS],
		(unsigned long)cfg->resume_grace_s[POLICY_TRANSPORT_IPC],
		(unsigned long long)cfg->resume_buffer_bytes);

	fputs("\t\"tls\": {", out);
	if (cfg->tls_cert_key_file) {
		fputs("\n\t\t\"cert_key_file\": ", out);
		print_string(out, cfg->tls_cert_key_file);
	}
	if (cfg->tls_ca_file) {
		fputs(cfg->tls_cert_key_file ? ",\n\t\t\"ca_file\": " : "\n\t\t\"ca_file\": ", out);
		print_string(out, cfg->tls_ca_file);
	}
	fputs(cfg->tls_cert_key_file || cfg->tls_ca_file ? "\n\t}\n}\n" : "}\n}\n", out);
}

void
config_print(const struct config *cfg, FILE *out)
{
	print_policy_listen_limits(cfg, out);
	print_ipc_privileges(cfg, out);
	print_audit(cfg, out);
	print_auth_admin(cfg, out);
	print_remote_tls(cfg, out);
}

const char *
config_key_name(size_t index)
{
	for (size_t i = 0; i < N_FIELDS; i++) {
		if (fields[i].kind == FIELD_RESERVED)
			continue;
		if (index-- == 0)
			return fields[i].path;
	}
	return NULL;
}
