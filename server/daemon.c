#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "dispatch.h"
#include "log.h"
#include "monitor.h"
#include "privileges.h"
#include "resume.h"
#include "session.h"
#include "resolve.h"
#include "systemd.h"

/* Room left in a message for the envelope around a payload (seq, field
 * tags, an address). */
#define ENVELOPE_ROOM 4096
/* Allocations from this size up are mmapped (see daemon_new()). */
#define DAEMON_MMAP_THRESHOLD (256 * 1024)
/* From accept to a completed handshake (TLS and SP). */
#define HANDSHAKE_TIMEOUT_MS 5000

/* Decode the request here, so that garbage never reaches dispatch. */
static void
on_request(void *userdata, struct tx *tx, uint32_t conn_id, const void *body, size_t len)
{
	struct daemon *daemon = userdata;
	struct request *request;
	struct wire_error error;

	if (wire_decode_request(body, len, &daemon->limits, &request, &error) < 0) {
		log_debug("connection %u: bad request: %s", conn_id, error.message);
		resume_note_request(daemon, conn_id, error.seq);
		dispatch_reply_bad_request(daemon, tx, &error);
		return;
	}
	resume_note_request(daemon, conn_id, request->seq);
	dispatch_request(daemon, tx, conn_id, request);
}

/* What one identity may hold of the process's descriptors: half of what is
 * left after a reserve for the daemon's own (listeners, the monitor, the
 * resolver, accept's spare), so that one identity holding all it may leaves
 * the others as much. */
static uint32_t
descriptor_share(void)
{
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur == RLIM_INFINITY ||
	    limit.rlim_cur > UINT32_MAX)
		return 0;
	uint64_t n = limit.rlim_cur, reserve = 32 + n / 8;
	return n > reserve ? (uint32_t)((n - reserve) / 2) : 1;
}

static void
on_connection_added(void *userdata, uint32_t conn_id, const struct peer_identity *identity)
{
	struct daemon *daemon = userdata;
	dispatch_session_added(daemon, conn_id, identity);
	struct session *session = session_find(&daemon->sessions, conn_id);
	if (session)
		resume_session_added(daemon, session);
}

static void
on_connection_removed(void *userdata, uint32_t conn_id)
{
	/* A resumable session outlives its connection for its grace period. */
	if (resume_detach(userdata, conn_id))
		return;
	dispatch_session_removed(userdata, conn_id);
}

/* Dispatch answers through the transport. */
static void *
sink_buffer(void *userdata, struct tx *tx, size_t len)
{
	return transport_reply_buffer(tx, len);
}

static void
sink_send(void *userdata, struct tx *tx)
{
	transport_reply_send(tx);
}

static void
sink_disconnect(void *userdata, uint32_t conn_id)
{
	struct daemon *daemon = userdata;

	transport_disconnect(daemon->transport, conn_id);
}

static bool
sink_can_pass_fds(void *userdata, const struct tx *tx)
{
	return transport_tx_can_pass_fds(tx);
}

static void
sink_attach_fd(void *userdata, struct tx *tx, int fd)
{
	transport_reply_attach_fd(tx, fd);
}

static void
sink_set_identity(void *userdata, uint32_t conn_id, const char *key)
{
	struct daemon *daemon = userdata;
	transport_set_identity(daemon->transport, conn_id, key);
}

/* A refused TLS handshake: one record, a denial (always written), with the reason. */
static void
on_handshake_refused(void *userdata, const struct peer_identity *identity, const char *reason)
{
	struct daemon *daemon = userdata;
	struct audit_record record = {
		.event = "sockbroker.tls.refused",
		.peer = identity,
		.decision = AUDIT_DENY,
		.rule = "tls",
		.errnum = EACCES,
		.error_kind = "denied",
		.message = reason,
	};
	audit_write(daemon->audit, &record);
}

static const struct transport_callbacks callbacks = {
	.connection_added = on_connection_added,
	.connection_removed = on_connection_removed,
	.request = on_request,
	.handshake_refused = on_handshake_refused,
	.reply_route = resume_reply_route,
};

static void
on_signal(struct reactor *reactor, int signo)
{
	log_info("received %s; stopping", strsignal(signo));
	reactor_stop(reactor);
}

/* An ipc:// socket's directory is made if missing, so the default path
 * works on a fresh machine: its parents as `mkdir -p` would, the directory
 * itself with ipc.directory_mode, owned by the user the daemon serves as
 * (it removes and re-creates its socket there after dropping privileges)
 * and the ipc group. A directory that exists is left as it is. */
static int
prepare_ipc_directory(const char *url, unsigned mode, const struct privileges_config *privileges,
		      char *err, size_t errlen)
{
	if (strncmp(url, "ipc://", 6) != 0)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s", url + 6);
	char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	*slash = '\0';
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0) {
		if (errno == EEXIST)
			return 0;
		goto fail;
	}
	/* Mode before owner: once given away, changing the mode would need CAP_FOWNER. */
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (fchmod(fd, mode) < 0 ||
	    (privileges && privileges->ipc_chown &&
	     fchown(fd, privileges->uid, privileges->ipc_gid) < 0)) {
		int r = -errno;
		close(fd);
		snprintf(err, errlen, "%s: cannot set the mode 0%o and owner uid %lu, gid %lu of "
			 "the directory %s: %s", url, mode,
			 (unsigned long)(privileges ? privileges->uid : geteuid()),
			 (unsigned long)(privileges ? privileges->ipc_gid : getegid()), path,
			 strerror(-r));
		return r;
	}
	close(fd);
	log_info("%s: created the directory %s (mode 0%o)", url, path, mode);
	return 0;
fail:;
	int r = -errno;
	snprintf(err, errlen, "%s: cannot create the directory %s: %s", url, path, strerror(errno));
	return r;
}

/* After dropping privileges: an ipc socket whose directory the daemon can no
 * longer write to stays behind when it stops, and cannot be re-created if
 * the listener must restart. Worth a warning, not a refusal: it serves. */
static void
check_ipc_directory(const char *url)
{
	if (strncmp(url, "ipc://", 6) != 0)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s", url + 6);
	char *slash = strrchr(path, '/');
	if (!slash)
		return;
	if (slash == path)
		slash++;
	*slash = '\0';
	if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) < 0)
		log_warn("%s: after dropping privileges the daemon cannot write to the directory "
			 "%s (%s), so it cannot remove its socket file when it stops; let the daemon "
			 "create the directory, or give it to the daemon's user",
			 url, path, strerror(errno));
}

/* The daemon's own state: how it answers, its tables, its policy, what the admin
 * operations count and list. */
static int
init_state(struct daemon *daemon, const struct config *config, char *err, size_t errlen)
{
	int r;

	daemon->config = config;
	daemon->sink = (struct reply_sink){
		.buffer = sink_buffer,
		.send = sink_send,
		.disconnect = sink_disconnect,
		.can_pass_fds = sink_can_pass_fds,
		.attach_fd = sink_attach_fd,
		.set_identity = sink_set_identity,
		.userdata = daemon,
	};
	/* Buffers of a large request or reply get mappings of their own, given
	 * back to the system when freed: without a fixed threshold glibc raises
	 * it after the first such free, and a burst of large messages would
	 * leave its memory in the heap for good. */
	mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
	daemon->limits.max_data_size = config->max_message_size - ENVELOPE_ROOM;
	session_table_init(&daemon->sessions);
	quota_table_init(&daemon->quotas);
	budget_init(&daemon->budget, config->memory_per_identity, config->memory_total);
	daemon->budget.connections_per_identity = config->max_sessions_per_identity;
	daemon->budget.descriptor_share = descriptor_share();

	if (config->policy) {
		daemon->policy = config->policy;
	} else if ((r = policy_init_default(&daemon->builtin_policy)) < 0) {
		snprintf(err, errlen, "out of memory for the default policy");
		return r;
	} else {
		daemon->policy = &daemon->builtin_policy;
		log_info("policy: the built-in default (TCP and UDP anywhere but link-local and "
			 "cloud metadata addresses, binds to ports >= 1024, name resolution, "
			 "connected TCP sockets handed to local clients; see the README to change "
			 "it)");
	}

	/* What the admin operations count and list. */
	struct op_stats *stats = &daemon->stats;
	stats->n_rule_counts = daemon->policy->n_rules + 1;
	if (!(stats->rule_counts = calloc(stats->n_rule_counts, sizeof(*stats->rule_counts))) ||
	    !(stats->listener_urls = calloc(systemd_listen_count() + config->n_listen_urls + 1,
					    sizeof(*stats->listener_urls)))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		return r;
	}
	return 0;
}

/* The event loop, the handle table on it, and the signals that stop it. */
static int
start_loop(struct daemon *daemon, char *err, size_t errlen)
{
	int r;

	if ((r = reactor_new(&daemon->reactor)) < 0) {
		snprintf(err, errlen, "cannot create the event loop: %s", strerror(-r));
		return r;
	}
	handle_table_init(&daemon->handles, daemon->reactor, dispatch_handle_ready);

	/* Signals are blocked before any other thread exists, so they all
	 * inherit the mask and only the signalfd sees SIGINT/SIGTERM. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if ((r = reactor_watch_signals(daemon->reactor, &mask, on_signal)) < 0) {
		snprintf(err, errlen, "cannot watch signals: %s", strerror(-r));
		return r;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* The receive buffer and the resolver's threads. */
static int
start_workers(struct daemon *daemon, char *err, size_t errlen)
{
	int r;

	daemon->scratch_len = daemon->limits.max_data_size;
	if (!(daemon->scratch = malloc(daemon->scratch_len))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory for the receive buffer");
		return r;
	}
	if ((r = resolver_new(&daemon->resolver, daemon->reactor,
			      daemon->config->resolver_threads)) < 0) {
		snprintf(err, errlen, "cannot start the resolver threads: %s", strerror(-r));
		return r;
	}
	return 0;
}

/* The transport and its listeners: the service manager's sockets first, then the
 * configured ones. */
static int
open_listeners(struct daemon *daemon, const struct privileges_config *privileges, char *err,
	       size_t errlen)
{
	const struct config *config = daemon->config;
	int r;

	struct transport_config tc = {
		.max_message_size = config->max_message_size,
		.reply_timeout_ms = (int)config->reply_timeout_ms,
		.handshake_timeout_ms = HANDSHAKE_TIMEOUT_MS,
		.frame_timeout_ms = (int)config->frame_timeout_ms,
		.max_connections = config->max_sessions,
		.ipc_mode = config->ipc_mode,
		.ipc_chown = privileges && privileges->ipc_chown,
		.ipc_uid = privileges ? privileges->ipc_uid : (uid_t)-1,
		.ipc_gid = privileges ? privileges->ipc_gid : (gid_t)-1,
		.tls_cert_key_file = config->tls_cert_key_file,
		.tls_ca_file = config->tls_ca_file,
		.budget = &daemon->budget,
		.keepalive_idle_s = (int)config->keepalive_idle_s,
		.keepalive_interval_s = (int)config->keepalive_interval_s,
		.keepalive_count = (int)config->keepalive_count,
	};
	if ((r = transport_new(&daemon->transport, daemon->reactor, &tc, &callbacks, daemon)) < 0) {
		snprintf(err, errlen, "cannot create the transport: %s", strerror(-r));
		return r;
	}
	/* Sockets from the service manager first: with them the daemon needs
	 * no privilege to listen, and their files are the manager's. */
	unsigned n_passed = systemd_listen_count();
	for (unsigned i = 0; i < n_passed; i++) {
		char name[64];
		const char *url;
		systemd_listen_name(i, name, sizeof(name));
		if ((r = transport_adopt(daemon->transport, SYSTEMD_LISTEN_FDS_START + (int)i, name,
					 &url, err, errlen)) < 0)
			return r;
		log_info("listening on %s (passed by the service manager)", url);
		daemon->stats.listener_urls[daemon->stats.n_listeners++] = url;
	}
	systemd_listen_done();
	for (size_t i = 0; i < config->n_listen_urls; i++) {
		const char *url = config->listen_urls[i];
		if ((r = prepare_ipc_directory(url, config->ipc_directory_mode, privileges, err,
						 errlen)) < 0)
			return r;
		if ((r = transport_listen(daemon->transport, url, err, errlen)) < 0)
			return r;
		daemon->stats.listener_urls[daemon->stats.n_listeners++] = url;
	}
	return 0;
}

int
daemon_new(struct daemon **out, const struct config *config,
	   const struct privileges_config *privileges, char *err, size_t errlen)
{
	int r;
	struct daemon *daemon = calloc(1, sizeof(*daemon));
	if (!daemon) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((r = init_state(daemon, config, err, errlen)) < 0)
		goto err;

	/* While this is the only thread: every thread made from here on inherits
	 * no_new_privs and the narrowed capability sets. */
	unsigned needed_caps = monitor_needed_caps(daemon->policy);
	if (privileges && (r = privileges_prepare(privileges, needed_caps, err, errlen)) < 0)
		goto err;

	/* Before anything listens: a daemon that cannot audit must not serve. */
	struct audit_config audit_config = {
		.file = config->audit_file,
		.events = (const char *const *)config->audit_events,
		.n_events = config->n_audit_events,
	};
	if ((r = audit_open(&daemon->audit, &audit_config, err, errlen)) < 0)
		goto err;
	log_info("audit: records go to %s",
		 config->audit_file ? config->audit_file : "standard error");

	if ((r = start_loop(daemon, err, errlen)) < 0)
		goto err;

	/* Still the only thread: the privileged monitor is forked now, before the drop. */
	if (privileges && (r = monitor_start(daemon->reactor, daemon->policy, privileges, err,
					     errlen)) < 0)
		goto err;

	if ((r = start_workers(daemon, err, errlen)) < 0)
		goto err;
	if ((r = open_listeners(daemon, privileges, err, errlen)) < 0)
		goto err;

	/* The listeners are open and nothing is served yet. This thread runs the
	 * reactor, hence every operation: it alone keeps the needed capabilities. */
	if (privileges) {
		if ((r = privileges_drop(privileges, needed_caps, err, errlen)) < 0)
			goto err;
		for (size_t i = 0; i < config->n_listen_urls; i++)
			check_ipc_directory(config->listen_urls[i]);
	}
	dispatch_context_init(daemon);
	*out = daemon;
	return 0;

err:
	daemon_free(daemon);
	return r;
}

/* How long a stopping daemon waits for its last answers to be sent. */
#define SHUTDOWN_FLUSH_MS 1000

int
daemon_run(struct daemon *daemon)
{
	int r = transport_start(daemon->transport);
	if (r < 0)
		return r;
	daemon->stats.started_ns = reactor_now_ns();
	for (size_t i = 0; i < daemon->config->n_listen_urls; i++)
		log_info("listening on %s", daemon->config->listen_urls[i]);
	if (systemd_notify("READY=1\nSTATUS=serving") < 0)
		log_warn("cannot tell the service manager that the daemon is ready (NOTIFY_SOCKET "
			 "%s): %s", getenv("NOTIFY_SOCKET"), strerror(errno));

	r = reactor_run(daemon->reactor);
	systemd_notify("STOPPING=1");

	/* Shutdown: what the resolver gives back is run once more; every
	 * session ends (its handles closed, its waiting requests answered)
	 * while the connections are still up, and those answers get a moment
	 * to reach their clients before the connections close. */
	daemon->stopping = true;
	resolver_free(daemon->resolver);
	daemon->resolver = NULL;
	daemon->ops.resolver = NULL;
	reactor_drain(daemon->reactor);
	dispatch_end_all_sessions(daemon);
	reactor_drain(daemon->reactor);
	transport_flush(daemon->transport, SHUTDOWN_FLUSH_MS);
	transport_stop(daemon->transport);
	reactor_drain(daemon->reactor);
	log_info("stopped");
	return r;
}

void
daemon_stop(struct daemon *daemon)
{
	reactor_stop(daemon->reactor);
}

void
daemon_free(struct daemon *daemon)
{
	if (!daemon)
		return;
	resolver_free(daemon->resolver);
	if (daemon->reactor) {
		reactor_drain(daemon->reactor);
		dispatch_end_all_sessions(daemon);
		reactor_drain(daemon->reactor);
	}
	transport_free(daemon->transport);
	if (daemon->reactor) {
		reactor_drain(daemon->reactor);
		handle_table_fini(&daemon->handles);
	}
	/* After the sessions ended: their last records are written. */
	audit_close(daemon->audit);
	session_table_fini(&daemon->sessions);
	quota_table_fini(&daemon->quotas);
	budget_fini(&daemon->budget);
	reactor_free(daemon->reactor);
	policy_fini(&daemon->builtin_policy);
	free(daemon->stats.rule_counts);
	free(daemon->stats.listener_urls);
	free(daemon->scratch);
	free(daemon);
}
