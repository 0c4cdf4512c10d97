/*
 * audit: the only writer of audit records. One JSON object per line, to a
 * file (opened for append, created 0600) or to stderr, for each audited
 * event: the reference's auditing events ("socket.__new__", "socket.bind",
 * "socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
 * "socket.gethostbyname", "socket.gethostbyaddr", "socket.gethostname",
 * "socket.getnameinfo", "socket.getservbyname", "socket.getservbyport",
 * "socket.sethostname"), plus "sockbroker.session.start",
 * "sockbroker.session.end" and "sockbroker.hello", and denials.
 * schema/audit.schema.json describes a line.
 *
 * Which events are written is the configuration's choice (audit.events);
 * a record with a denial or an exceeded quota is always written. A line is
 * written with one write(2), so lines never interleave. Reactor thread (and
 * the main thread before it starts).
 */
#ifndef SOCKBROKER_AUDIT_H
#define SOCKBROKER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct peer_identity;

enum audit_arg_kind {
	AUDIT_ARG_STRING,  /* JSON string (escaped); NULL is written as null */
	AUDIT_ARG_INT,     /* JSON number */
	AUDIT_ARG_BOOL,    /* JSON true/false */
	AUDIT_ARG_ADDRESS, /* {"family": "AF_INET", "host": "127.0.0.1", "port": 80}, or
			    * {"family": "AF_UNIX", "path": "/run/x.sock"} ("@name" for
			    * an abstract name), or {"family": "AF_NETLINK"...} with the
			    * family's own fields; other families: {"family", "bytes"} */
};

struct audit_arg {
	const char *key;
	enum audit_arg_kind kind;
	union {
		const char *string;
		int64_t integer;
		bool boolean;
		struct {
			const struct sockaddr *sa;
			socklen_t len;
		} address;
	} value;
};

#define AUDIT_MAX_ARGS 8

/* Decisions a record can carry. */
enum audit_decision {
	AUDIT_NO_DECISION, /* not a policy question (a result only) */
	AUDIT_ALLOW,       /* "allow": the policy let it through */
	AUDIT_DENY,        /* "deny": the policy refused it (always written) */
	AUDIT_QUOTA,       /* "quota": a quota refused it (always written) */
};

struct audit_record {
	const char *event; /* "socket.connect" */
	/* Who: NULL peer for events outside a session. */
	uint64_t session;
	const struct peer_identity *peer;
	const char *token_name;  /* NULL: no token */
	const char *client_name; /* from Hello; NULL or "": none */
	uint64_t handle;         /* 0: none */
	struct audit_arg args[AUDIT_MAX_ARGS];
	size_t n_args;
	enum audit_decision decision;
	const char *rule; /* the deciding rule or quota; NULL: none */
	/* The result: errnum 0 is success. */
	int errnum;
	const char *error_kind; /* "os", "denied", "quota", "gai", ...; NULL on success */
	const char *message;    /* the error's message; NULL on success */
};

struct audit_config {
	const char *file;    /* absolute path, or NULL for stderr */
	const char *const *events; /* event names, "*" for all; NULL: the default set */
	size_t n_events;
};

struct audit;

/*
 * Open the audit sink. The default events (cfg->events NULL) are the session
 * start and end, hello, socket.bind, socket.connect and socket.sethostname.
 * Returns 0, or -errno with a message in `err` naming the file and what to
 * do. Unknown event names are the configuration's to refuse (config.c).
 */
int audit_open(struct audit **out, const struct audit_config *cfg, char *err, size_t errlen);

/* Close the sink. NULL is a no-op. */
void audit_close(struct audit *audit);

/* Whether records of `event` are written (denials are written regardless).
 * A NULL audit wants nothing. Cheap: callers ask before building a record. */
bool audit_wants(const struct audit *audit, const char *event);

/* Write one record as a line if its event is wanted or it is a denial or a
 * quota refusal. A write error is logged once and the daemon goes on. NULL
 * audit: no-op. */
void audit_write(struct audit *audit, const struct audit_record *record);

/* The event names the configuration may list, NULL-terminated. */
extern const char *const audit_event_names[];

/* The events written when the configuration names none (cfg->events NULL),
 * NULL-terminated; config_print() shows them as the effective setting. */
extern const char *const audit_default_events[];

/* Helpers to fill record->args. */
static inline void
audit_arg_string(struct audit_record *r, const char *key, const char *value)
{
	if (r->n_args < AUDIT_MAX_ARGS)
		r->args[r->n_args++] = (struct audit_arg){ key, AUDIT_ARG_STRING, { .string = value } };
}

static inline void
audit_arg_int(struct audit_record *r, const char *key, int64_t value)
{
	if (r->n_args < AUDIT_MAX_ARGS)
		r->args[r->n_args++] = (struct audit_arg){ key, AUDIT_ARG_INT, { .integer = value } };
}

static inline void
audit_arg_bool(struct audit_record *r, const char *key, bool value)
{
	if (r->n_args < AUDIT_MAX_ARGS)
		r->args[r->n_args++] = (struct audit_arg){ key, AUDIT_ARG_BOOL, { .boolean = value } };
}

static inline void
audit_arg_address(struct audit_record *r, const char *key, const struct sockaddr *sa,
		  socklen_t len)
{
	if (r->n_args < AUDIT_MAX_ARGS && sa) {
		struct audit_arg arg = { key, AUDIT_ARG_ADDRESS, { .string = NULL } };
		arg.value.address.sa = sa;
		arg.value.address.len = len;
		r->args[r->n_args++] = arg;
	}
}

#endif
