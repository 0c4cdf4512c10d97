/*
 * privileges: run with the least privilege the policy needs (libcap).
 *
 * Started as root, the daemon opens its listeners, then privileges_drop() switches it to the
 * configured user ("privileges.user", and "privileges.group" or that user's primary group)
 * and keeps only the capabilities among CAP_NET_BIND_SERVICE, CAP_NET_RAW and CAP_NET_ADMIN
 * that the policy needs (policy_needed_caps()), in the permitted and effective sets; the
 * bounding, inheritable and ambient sets hold nothing else, and no_new_privs is set.
 * CAP_SYS_ADMIN (sethostname) is never kept after switching user: it is nearly root, and
 * keeping it would undo the switch; the daemon says so and sethostname answers EPERM.
 *
 * With a monitor (monitor.h: when the policy needs a capability and the daemon is root) the
 * serving process keeps no capability at all: the monitor holds them.
 *
 * Started as root with no user configured, the daemon takes the dedicated user "sockbroker"
 * (PRIVILEGES_DEFAULT_USER, which the packaging creates) when it exists, as if configured.
 *
 * Started as root with no user configured and no such user (or "root"), the daemon stays
 * uid 0 with a warning,
 * but still drops every capability the policy does not need, CAP_SYS_ADMIN being kept only
 * when the policy allows sethostname: the operator chose root, and a policy rule asks for it.
 * A uid-0 process without CAP_DAC_OVERRIDE still owns what root owns, so the daemon keeps
 * doing its own housekeeping (removing its ipc socket files, writing the audit file it
 * opened) in root's directories; in directories root does not own it may no longer.
 *
 * Root may hold less than every capability (in a container): sets only ever shrink, so the
 * daemon keeps what it needs among what it holds and logs what the policy needs that it
 * lacks; without CAP_SETPCAP the bounding set is left alone (no_new_privs still keeps any
 * execve from granting capabilities).
 *
 * Started unprivileged, nothing changes but no_new_privs; the daemon logs which policy
 * features cannot work for lack of which capability.
 *
 * Threads: capability sets, the bounding set and no_new_privs belong to each thread, and
 * NNG's and the resolver's threads exist before the listeners open. privileges_prepare(),
 * called before any thread is created, sets no_new_privs and narrows every set to what the
 * start-up needs, so all threads inherit that. privileges_drop() then runs on the thread
 * that serves operations (the main thread, which runs the reactor) and leaves every other
 * thread of the process with no capability at all: glibc applies setgroups/setgid/setuid to
 * every thread, which without PR_SET_KEEPCAPS loses its capabilities, and, with or without
 * a user to switch to, each other thread is then made to clear its own sets (a thread can
 * only change its own) by a signal whose handler does just that; the result is read back
 * from /proc/self/task, and a thread left holding one stops the start-up. Threads created
 * later inherit the creator's sets, so the resolver's workers, which the reactor starts
 * when the pool grows, clear theirs first (privileges_thread_start()).
 */
#ifndef SOCKBROKER_PRIVILEGES_H
#define SOCKBROKER_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;

/* The user a daemon started as root takes when "privileges.user" is not set, if it exists. */
#define PRIVILEGES_DEFAULT_USER "sockbroker"

/* Who the daemon runs as and who owns its ipc files, resolved from the configuration by
 * privileges_resolve(). */
struct privileges_config {
	bool user_configured; /* "privileges.user" is set, or default_user */
	bool default_user;    /* not set, and the dedicated user PRIVILEGES_DEFAULT_USER exists */
	bool switch_user;     /* ... and names a user other than root, and the daemon is root */
	uid_t uid;            /* the user the daemon serves as: the configured one, else euid */
	gid_t gid;            /* its group: configured, the user's primary group, or egid */
	char user[64];        /* names for messages ("nobody", or "uid 1234") */
	char group[64];

	/* ipc:// socket files: owner ("ipc.owner", else the daemon's user) and group
	 * ("ipc.group", else the daemon's group). The directory the daemon creates for its
	 * socket belongs to the daemon's user (it removes and re-creates its socket there)
	 * and to the same group. */
	bool ipc_chown; /* ownership differs from the creator's: apply it after creating */
	uid_t ipc_uid;
	gid_t ipc_gid;
};

/*
 * Look up "privileges.user", "privileges.group", "ipc.owner" and "ipc.group" of `cfg` in the
 * system's user and group databases and fill `out`. A name may also be a decimal id. Returns
 * 0, -ENOENT when a name does not exist (err names the field and says what to do), or another
 * -errno when the lookup itself failed. Reads geteuid()/getegid() for the defaults.
 */
int privileges_resolve(const struct config *cfg, struct privileges_config *out, char *err,
		       size_t errlen);

/*
 * Before the daemon creates any thread: set no_new_privs and, when running as root, narrow
 * the permitted, effective and bounding sets to `needed_caps` (POLICY_CAP_*, all of them: the
 * monitor forked after this keeps them) plus what opening listeners and switching user need:
 * CAP_NET_BIND_SERVICE, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SETPCAP, CAP_CHOWN when
 * the ipc files change hands, and CAP_SETUID and CAP_SETGID when switching user.
 * Inheritable and ambient are emptied.
 * Returns 0 or -errno with a message in err.
 */
int privileges_prepare(const struct privileges_config *cfg, unsigned needed_caps, char *err,
		       size_t errlen);

/*
 * After the listeners are open and before serving, on the thread that runs operations:
 * switch user and keep `needed_caps` as described above, leave every other thread without
 * capabilities, then check that it took (ids, the capability sets of every thread, the
 * bounding set, no_new_privs). Logs one line saying who the daemon
 * runs as and what it kept, or, unprivileged, what the policy asks that cannot work.
 * Returns 0, or -errno with a message in err: the daemon must then not serve.
 */
int privileges_drop(const struct privileges_config *cfg, unsigned needed_caps, char *err,
		    size_t errlen);

/* Which of `policy_caps` (POLICY_CAP_*) the process holds in its permitted set. */
unsigned privileges_held(unsigned policy_caps);

/* "CAP_NET_BIND_SERVICE, CAP_NET_RAW" for `policy_caps`, or "none". */
void privileges_describe(unsigned policy_caps, char *buf, size_t len);

/*
 * In the monitor (monitor.h), single-threaded, right after the fork: take the configured
 * user as privileges_drop() will, and keep `policy_caps` (POLICY_CAP_*, CAP_SYS_ADMIN
 * included: sethostname is the monitor's to do) among those held, in the permitted and
 * effective sets; the bounding set holds nothing else when it can be narrowed; no_new_privs.
 * Checks that it took. Returns 0 or -errno with a message in err.
 */
int privileges_confine_monitor(const struct privileges_config *cfg, unsigned policy_caps,
			       char *err, size_t errlen);

/*
 * Clear the calling thread's permitted, effective and inheritable capability sets: for
 * threads that never run a privileged operation. Returns 0 or -errno.
 */
int privileges_drop_thread(void);

/*
 * What a thread that needs no capability calls first: privileges_drop_thread() once
 * privileges_drop() has run, nothing before (the user switch needs every thread to hold
 * CAP_SETUID and CAP_SETGID, and the drop clears the threads it finds). Returns 0 or -errno.
 */
int privileges_thread_start(void);

#endif
