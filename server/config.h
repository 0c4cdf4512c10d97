/*
 * config: the daemon's configuration, read from a JSON file into a plain struct.
 *
 * Settings come in layers: config_init() sets the defaults, config_load_file() merges a file
 * over them, and the command line may change fields after that; config_validate() then checks
 * the combination once, before anything listens. Loading is all or nothing: a file with any
 * error leaves the config as it was. Unknown keys are errors, so a typo never passes as a
 * default; every error message names the file, the field as a JSON path and what is wrong.
 * The accepted keys are exactly those of the JSON Schema shipped with the daemon (a unit test
 * keeps the two in step). cJSON is used only inside config.c: no JSON node outlives a call.
 *
 * A struct config owns its strings. It is not locked: the main thread builds it before
 * starting other threads, which afterwards only read it.
 */
#ifndef SOCKBROKER_CONFIG_H
#define SOCKBROKER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "policy.h"
#include "sha256.h"

/* Defaults and limits of the settings; the JSON Schema documents the same numbers. */
#define CONFIG_MAX_MESSAGE_SIZE_DEFAULT (16u * 1024 * 1024)
#define CONFIG_MAX_MESSAGE_SIZE_MIN (64u * 1024)
#define CONFIG_MAX_MESSAGE_SIZE_MAX (1024u * 1024 * 1024)
#define CONFIG_MAX_HANDLES_DEFAULT 4096u
#define CONFIG_MAX_PARKED_DEFAULT 4096u
#define CONFIG_MAX_SESSIONS_DEFAULT 4096u
#define CONFIG_FRAME_TIMEOUT_MS_DEFAULT 10000u
#define CONFIG_MAX_SESSIONS_MAX 1000000u
#define CONFIG_PER_SESSION_MAX 1000000u
#define CONFIG_REPLY_TIMEOUT_MS_DEFAULT 10000u
#define CONFIG_REPLY_TIMEOUT_MS_MIN 100u
#define CONFIG_REPLY_TIMEOUT_MS_MAX 3600000u
#define CONFIG_RESOLVER_THREADS_DEFAULT 4u
#define CONFIG_RESOLVER_THREADS_MAX 64u
#define CONFIG_IPC_MODE_DEFAULT 0660u
#define CONFIG_IPC_DIRECTORY_MODE_DEFAULT 0750u
/* The memory budget (server/budget.h): per identity, and in total (0 in the
 * default: a quarter of the machine's memory, found at start). */
#define CONFIG_MAX_SESSIONS_PER_IDENTITY_DEFAULT 1024u
#define CONFIG_MEMORY_PER_IDENTITY_DEFAULT (64ull * 1024 * 1024)
#define CONFIG_MEMORY_MIN (1ull * 1024 * 1024)
#define CONFIG_MEMORY_MAX (1ull << 48)
#define CONFIG_KEEPALIVE_IDLE_S_DEFAULT 30u
#define CONFIG_KEEPALIVE_IDLE_S_MAX 7200u
#define CONFIG_KEEPALIVE_INTERVAL_S_DEFAULT 10u
#define CONFIG_KEEPALIVE_INTERVAL_S_MAX 600u
#define CONFIG_KEEPALIVE_COUNT_DEFAULT 3u
#define CONFIG_KEEPALIVE_COUNT_MAX 127u
#define CONFIG_RESUME_GRACE_S_DEFAULT 60u
#define CONFIG_RESUME_GRACE_S_MAX 86400u
#define CONFIG_RESUME_BUFFER_DEFAULT (1024u * 1024)
#define CONFIG_RESUME_BUFFER_MIN (64u * 1024)
#define CONFIG_RESUME_BUFFER_MAX (1024u * 1024 * 1024)

/* A configuration file larger than this is refused rather than read. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* The longest token name: 1 to 63 characters of [A-Za-z0-9._-]. */
#define CONFIG_TOKEN_NAME_MAX 63

/* One access token of "auth.tokens": its name and the SHA-256 of the token. The token itself
 * is never in the configuration (nor anywhere in the daemon's memory past a Hello). */
struct config_token {
	char name[CONFIG_TOKEN_NAME_MAX + 1];
	uint8_t sha256[SHA256_DIGEST_LEN];
};

/* A list of ids ("admin.uids", "admin.gids"). */
struct config_ids {
	uint32_t *ids;
	size_t n;
};

/* A list of names ("admin.tokens"). */
struct config_names {
	char **names;
	size_t n;
};

struct config {
	/* "listen": where to accept clients, in order. Each URL is ipc://PATH,
	 * abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT. Empty means the daemon's
	 * default (paths_default_listen_url()). */
	char **listen_urls;
	size_t n_listen_urls;

	/* "limits": per-connection limits, announced to clients in the Hello reply. */
	uint64_t max_message_size; /* largest request or reply, in bytes */
	uint32_t max_handles;      /* open handles per session */
	uint32_t max_parked;       /* operations waiting at once per session */
	uint32_t max_sessions;     /* client connections at once, handshaking ones included */
	uint32_t reply_timeout_ms; /* how long a reply waits for a client that does not read */
	uint32_t frame_timeout_ms; /* how long a request frame may stay incomplete */
	uint64_t memory_per_identity; /* bytes held for one identity's sessions */
	uint32_t max_sessions_per_identity; /* connections of one identity at once */
	uint64_t memory_total;        /* bytes held for all clients */

	uint32_t resolver_threads; /* threads running blocking name-service calls */
	enum log_level log_level;

	/* "ipc": the socket file of ipc:// listeners. */
	unsigned ipc_mode; /* permission bits, at most 0777 */
	char *ipc_group;   /* group name owning the socket file, or NULL: the daemon's */
	char *ipc_owner;   /* user name owning the socket file, or NULL: the daemon's */
	unsigned ipc_directory_mode; /* of the socket's directory when the daemon creates it */

	/* "privileges": who the daemon becomes once its listeners are open (privileges.h). */
	char *privileges_user;  /* user name or id, or NULL: stay who it was started as */
	char *privileges_group; /* group name or id, or NULL: the user's primary group */

	/* "tls": required by tls+tcp:// listeners; NULL when not set. Absolute paths. */
	char *tls_cert_key_file; /* the server's certificate and private key, PEM */
	char *tls_ca_file;       /* CA certificates that client certificates must chain to */

	/* "auth": who may say Hello. A Hello may carry a token; one whose SHA-256 matches an
	 * entry of `tokens` authenticates the session under that entry's name. */
	struct config_token *tokens; /* names unique, hashes unique */
	size_t n_tokens;
	unsigned require_token; /* 1u << enum policy_transport: a Hello on a connection of
				 * these transports needs a valid token */

	/* "audit": where audit records go and which events are written (audit.h). */
	char *audit_file;    /* absolute path; NULL: standard error */
	char **audit_events; /* names from audit_event_names or "*", NULL-terminated; NULL:
			      * audit_default_events. An empty list (denials only) is non-NULL. */
	size_t n_audit_events;

	/* "admin": who may use the admin operations (status, sessions, handles) besides
	 * root: a session whose uid, primary gid or token name is listed. */
	struct config_ids admin_uids;
	struct config_ids admin_gids;
	struct config_names admin_tokens; /* names of auth.tokens */

	/* "policy": the rules every operation passes; NULL for the built-in default
	 * (policy_init_default()). Owned by the config. */
	struct policy *policy;

	/* "remote": tcp:// and tls+tcp:// client connections. TCP keepalive probes a connection
	 * idle for keepalive_idle_s every keepalive_interval_s; keepalive_count unanswered
	 * probes end it, so a vanished client is noticed within idle + interval * count. */
	uint32_t keepalive_idle_s;
	uint32_t keepalive_interval_s;
	uint32_t keepalive_count;
	/* How long a session outlives its dropped connection, waiting to be resumed, per
	 * transport (enum policy_transport; abstract:// uses the ipc entry): 0 ends it with
	 * the connection. Its replies meanwhile are kept up to resume_buffer_bytes. */
	uint32_t resume_grace_s[POLICY_TRANSPORT__COUNT];
	uint64_t resume_buffer_bytes;
};

/* Fill `cfg` with the defaults and no listen URLs. Release it with config_fini(). */
void config_init(struct config *cfg);

/* limits.memory_total when not set: a quarter of the machine's memory. */
uint64_t config_memory_total_default(void);

/* Free what `cfg` owns and leave it zeroed; calling it again is harmless. */
void config_fini(struct config *cfg);

/*
 * Append a listen URL (copied) after checking its form: a known scheme, a non-empty address,
 * HOST:PORT with a numeric port for tcp:// and tls+tcp://, a path short enough for a unix
 * socket for ipc://, and not already listed. Returns 0, -EINVAL with a message in err, or
 * -ENOMEM. `err` may be NULL; the message is cut to errlen bytes.
 */
int config_add_listen(struct config *cfg, const char *url, char *err, size_t errlen);

/*
 * Read the JSON file at `path` and merge its settings over `cfg`: keys present in the file
 * replace the values in cfg ("listen" replaces the whole list), absent keys keep them.
 * Returns 0; -EINVAL for a file that is not a valid configuration; -errno when it cannot be
 * read; -EFBIG when larger than CONFIG_FILE_MAX; -ENOMEM. On error `cfg` is unchanged and err
 * holds a message naming the file, e.g. "sockbrokerd.json: limits.max_handles_per_session:
 * must be an integer from 1 to 1000000, got -3".
 */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * As config_load_file() for JSON text already in memory. `origin` names it in messages
 * (NULL: "configuration").
 */
int config_load_string(struct config *cfg, const char *json, const char *origin, char *err,
		       size_t errlen);

/*
 * The checks that need the whole configuration, to run once all layers are applied: every
 * field in range, tls+tcp:// listeners have tls.cert_key_file and tls.ca_file, no plain
 * tcp:// listener is on an address other than loopback unless auth.require_token lists "tcp"
 * (it would expose the broker without authentication), and auth.require_token lists
 * transports only when auth.tokens has a token. No listen URL at all is fine: the daemon adds
 * its default. Returns 0 or -EINVAL with a message in err.
 */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/*
 * Write the configuration as a JSON document in the file's format, every setting included
 * (for --check-config). The output loads back into the same configuration.
 */
void config_print(const struct config *cfg, FILE *out);

/*
 * The JSON path of the index-th key a configuration file may contain ("listen", "limits",
 * "limits.max_message_size", ...), sections before their members; NULL past the last. For
 * help output and for the test that keeps the JSON Schema and the parser in step.
 */
const char *config_key_name(size_t index);

#endif
