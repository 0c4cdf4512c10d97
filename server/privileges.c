#include "privileges.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "erange.h"
#include "error.h"
#include "log.h"
#include "monitor.h"
#include "policy.h"

/* The capabilities a policy can ask for, with what they are for in an operator's words. */
static const struct {
	unsigned policy_cap; /* POLICY_CAP_* */
	cap_value_t cap;
	const char *name;
	const char *feature;
} needed_table[] = {
	{ POLICY_CAP_NET_BIND_SERVICE, CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE",
	  "binding ports below 1024" },
	{ POLICY_CAP_NET_RAW, CAP_NET_RAW, "CAP_NET_RAW",
	  "raw and packet sockets (SOCK_RAW, AF_PACKET)" },
	{ POLICY_CAP_NET_ADMIN, CAP_NET_ADMIN, "CAP_NET_ADMIN",
	  "SO_MARK, IP_TRANSPARENT and netlink changes" },
	{ POLICY_CAP_SYS_ADMIN, CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "sethostname" },
};

#define N_NEEDED (sizeof(needed_table) / sizeof(needed_table[0]))

/* Sets of capabilities as bit masks of cap_value_t (all of them are below 64). */
typedef uint64_t capmask;

#define CAPBIT(cap) ((capmask)1 << (cap))

static capmask caps_of(unsigned policy_caps);

/* A name database entry that needs more than this is refused rather than grown into. */
#define LOOKUP_BUFFER_MAX (1024 * 1024)

/* A decimal id ("65534"), as the user and group fields also accept. */
static bool
parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	/* (uid_t)-1 means "unchanged" to chown and setresuid: never an id. */
	return !*end && errno == 0 && *out < (unsigned long)(uid_t)-1;
}

/* getpw*_r and getgr*_r answer "no such entry" in several ways. */
static bool
not_found(int r)
{
	return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

/* What a lookup that ended with erange_grow() answering `g` and the call answering `r`
 * says: 0 with *found (`got`: it returned an entry; else the entry does not exist), or
 * -errno when it failed. */
static int
lookup_outcome(int g, int r, bool got, bool *found)
{
	if (g < 0)
		return g;
	*found = got;
	return got || not_found(r) ? 0 : -r;
}

/*
 * Look up a user by name (or by id when `by_id`). Returns 0 with *found telling whether it
 * exists, or -errno when the lookup failed.
 */
static int
get_user(const char *name, uid_t id, bool by_id, struct passwd *pw, char **buffer, bool *found)
{
	size_t len = 0;
	struct passwd *result = NULL;
	int r = ERANGE, g;

	while ((g = erange_grow(buffer, &len, r, 1024, LOOKUP_BUFFER_MAX)) > 0)
		r = by_id ? getpwuid_r(id, pw, *buffer, len, &result)
			   : getpwnam_r(name, pw, *buffer, len, &result);
	return lookup_outcome(g, r, result != NULL, found);
}

static int
get_group(const char *name, gid_t id, bool by_id, struct group *gr, char **buffer, bool *found)
{
	size_t len = 0;
	struct group *result = NULL;
	int r = ERANGE, g;

	while ((g = erange_grow(buffer, &len, r, 1024, LOOKUP_BUFFER_MAX)) > 0)
		r = by_id ? getgrgid_r(id, gr, *buffer, len, &result)
			   : getgrnam_r(name, gr, *buffer, len, &result);
	return lookup_outcome(g, r, result != NULL, found);
}

/* The user `field` names: its uid, and its primary group when it has a passwd entry. */
static int
lookup_user(const char *field, const char *name, uid_t *uid, gid_t *gid, bool *has_gid,
	    char *err, size_t errlen)
{
	struct passwd pw;
	char *buffer = NULL;
	unsigned long id = 0;
	bool by_id = parse_id(name, &id);
	bool found;
	int r;

	r = get_user(name, (uid_t)id, by_id, &pw, &buffer, &found);
	if (r < 0) {
		set_err(err, errlen, "%s: cannot look up the user \"%s\": %s", field, name,
			strerror(-r));
		goto out;
	}
	if (!found && !by_id) {
		r = -ENOENT;
		set_err(err, errlen, "%s: there is no user \"%s\" on this system; name an existing "
			"user (such as \"nobody\") or create a system user for the daemon", field,
			name);
		goto out;
	}
	*uid = found ? pw.pw_uid : (uid_t)id;
	*has_gid = found;
	if (found)
		*gid = pw.pw_gid;
out:
	free(buffer);
	return r;
}

static int
lookup_group(const char *field, const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr;
	char *buffer = NULL;
	unsigned long id = 0;
	bool by_id = parse_id(name, &id);
	bool found;
	int r;

	r = get_group(name, (gid_t)id, by_id, &gr, &buffer, &found);
	if (r < 0) {
		set_err(err, errlen, "%s: cannot look up the group \"%s\": %s", field, name,
			strerror(-r));
		goto out;
	}
	if (!found && !by_id) {
		r = -ENOENT;
		set_err(err, errlen, "%s: there is no group \"%s\" on this system; name an existing "
			"group or create it", field, name);
		goto out;
	}
	*gid = found ? gr.gr_gid : (gid_t)id;
out:
	free(buffer);
	return r;
}

/* A name for messages: the database's, else "uid N" / "gid N". */
static void
user_name(char *buf, size_t len, uid_t uid)
{
	struct passwd pw;
	char *buffer = NULL;
	bool found = false;

	if (get_user(NULL, uid, true, &pw, &buffer, &found) == 0 && found)
		snprintf(buf, len, "%s", pw.pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)uid);
	free(buffer);
}

static void
group_name(char *buf, size_t len, gid_t gid)
{
	struct group gr;
	char *buffer = NULL;
	bool found = false;

	if (get_group(NULL, gid, true, &gr, &buffer, &found) == 0 && found)
		snprintf(buf, len, "%s", gr.gr_name);
	else
		snprintf(buf, len, "gid %lu", (unsigned long)gid);
	free(buffer);
}

int
privileges_resolve(const struct config *cfg, struct privileges_config *out, char *err,
		   size_t errlen)
{
	bool has_gid = false;
	int r;

	*out = (struct privileges_config){ .uid = geteuid(), .gid = getegid() };
	if (cfg->privileges_user) {
		out->user_configured = true;
		r = lookup_user("privileges.user", cfg->privileges_user, &out->uid, &out->gid,
				&has_gid, err, errlen);
		if (r < 0)
			return r;
		if (!cfg->privileges_group && !has_gid) {
			set_err(err, errlen, "privileges.user: the user id %s has no entry in the "
				"user database to take a primary group from; set privileges.group "
				"too", cfg->privileges_user);
			return -ENOENT;
		}
	} else if (cfg->privileges_group) {
		set_err(err, errlen, "privileges.group: needs privileges.user (the user the daemon "
			"switches to); set it too, or remove privileges.group");
		return -EINVAL;
	} else if (geteuid() == 0) {
		/* The safe default: the packaging's dedicated user, when there is one. */
		struct passwd pw;
		char *buffer = NULL;
		bool found = false;
		r = get_user(PRIVILEGES_DEFAULT_USER, 0, false, &pw, &buffer, &found);
		if (r == 0 && found && pw.pw_uid != 0) {
			out->user_configured = true;
			out->default_user = true;
			out->uid = pw.pw_uid;
			out->gid = pw.pw_gid;
		}
		free(buffer);
		if (r < 0) {
			set_err(err, errlen, "privileges.user is not set and looking up the default "
				"user \"%s\" failed: %s; set privileges.user", PRIVILEGES_DEFAULT_USER,
				strerror(-r));
			return r;
		}
	}
	if (cfg->privileges_group) {
		r = lookup_group("privileges.group", cfg->privileges_group, &out->gid, err, errlen);
		if (r < 0)
			return r;
	}
	out->switch_user = out->user_configured && geteuid() == 0 && out->uid != 0;
	if (out->user_configured && !out->switch_user) {
		/* Unprivileged, or asked for root: the daemon stays who it is. */
		out->uid = geteuid();
		out->gid = getegid();
	}
	user_name(out->user, sizeof(out->user), out->uid);
	group_name(out->group, sizeof(out->group), out->gid);

	out->ipc_uid = out->uid;
	out->ipc_gid = out->gid;
	out->ipc_chown = out->switch_user;
	if (cfg->ipc_owner) {
		r = lookup_user("ipc.owner", cfg->ipc_owner, &out->ipc_uid, &(gid_t){ 0 }, &has_gid,
				err, errlen);
		if (r < 0)
			return r;
		out->ipc_chown = true;
	}
	if (cfg->ipc_group) {
		r = lookup_group("ipc.group", cfg->ipc_group, &out->ipc_gid, err, errlen);
		if (r < 0)
			return r;
		out->ipc_chown = true;
	}
	return 0;
}

/* The capabilities kept for serving: the policy's, but never CAP_SYS_ADMIN for another user. */
static capmask
kept_caps(const struct privileges_config *cfg, unsigned needed_caps)
{
	capmask keep = 0;

	for (size_t i = 0; i < N_NEEDED; i++) {
		if (!(needed_caps & needed_table[i].policy_cap))
			continue;
		if (needed_table[i].cap == CAP_SYS_ADMIN && cfg->switch_user)
			continue;
		keep |= CAPBIT(needed_table[i].cap);
	}
	return keep;
}

static void
describe_caps(char *buf, size_t len, capmask caps)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_NEEDED; i++) {
		int n;

		if (!(caps & CAPBIT(needed_table[i].cap)))
			continue;
		n = snprintf(buf + pos, len - pos, "%s%s", pos ? ", " : "", needed_table[i].name);
		if (n < 0 || (size_t)n >= len - pos)
			break;
		pos += (size_t)n;
	}
	if (pos == 0)
		snprintf(buf, len, "none");
}

/* Permitted = effective = `caps`, inheritable empty, for the calling thread. */
static int
set_caps(capmask caps)
{
	cap_value_t values[64];
	int n = 0;
	cap_t state;
	int r = 0;

	for (cap_value_t v = 0; v < 64; v++) {
		if (caps & CAPBIT(v))
			values[n++] = v;
	}
	state = cap_init();
	if (!state)
		return -errno;
	if (n > 0 && (cap_set_flag(state, CAP_PERMITTED, n, values, CAP_SET) < 0 ||
		      cap_set_flag(state, CAP_EFFECTIVE, n, values, CAP_SET) < 0))
		r = -errno;
	else if (cap_set_proc(state) < 0)
		r = -errno;
	cap_free(state);
	return r;
}

/* Drop from the calling thread's bounding set every capability outside `keep`. Needs
 * CAP_SETPCAP in the effective set. */
static int
drop_bound(capmask keep)
{
	cap_value_t max = cap_max_bits();

	for (cap_value_t v = 0; v < max && v < 64; v++) {
		if ((keep & CAPBIT(v)) || cap_get_bound(v) != 1)
			continue;
		if (cap_drop_bound(v) < 0)
			return -errno;
	}
	return 0;
}

static int
reset_ambient(void)
{
	/* EINVAL: a kernel without ambient capabilities, so there are none to clear. */
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

/* Whether the calling thread's permitted and effective sets are exactly `caps`, nothing is
 * inheritable, and (when `check_bound`) its bounding set is within `caps`. */
static bool
caps_are(capmask caps, bool check_bound, char *what, size_t len)
{
	cap_t state = cap_get_proc();
	cap_value_t max = cap_max_bits();
	bool ok = true;

	if (!state) {
		snprintf(what, len, "cannot read the capability sets: %s", strerror(errno));
		return false;
	}
	for (cap_value_t v = 0; ok && v < max && v < 64; v++) {
		cap_flag_value_t p = CAP_CLEAR, e = CAP_CLEAR, i = CAP_CLEAR;
		bool want = caps & CAPBIT(v);

		cap_get_flag(state, v, CAP_PERMITTED, &p);
		cap_get_flag(state, v, CAP_EFFECTIVE, &e);
		cap_get_flag(state, v, CAP_INHERITABLE, &i);
		if ((p == CAP_SET) != want || (e == CAP_SET) != want || i == CAP_SET) {
			snprintf(what, len, "capability %d is %s", (int)v,
				 want ? "missing from the permitted or effective set"
				      : "still held");
			ok = false;
		} else if (check_bound && !want && cap_get_bound(v) == 1) {
			snprintf(what, len, "capability %d is still in the bounding set", (int)v);
			ok = false;
		}
	}
	cap_free(state);
	return ok;
}

/* The calling thread's `flag` set (CAP_PERMITTED, CAP_EFFECTIVE) as a mask. */
static capmask
caps_held(cap_flag_t flag)
{
	cap_t state = cap_get_proc();
	cap_value_t max = cap_max_bits();
	capmask held = 0;

	if (!state)
		return 0;
	for (cap_value_t v = 0; v < max && v < 64; v++) {
		cap_flag_value_t value = CAP_CLEAR;

		if (cap_get_flag(state, v, flag, &value) == 0 && value == CAP_SET)
			held |= CAPBIT(v);
	}
	cap_free(state);
	return held;
}

static int
set_no_new_privs(char *err, size_t errlen)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int r = -errno;

		set_err(err, errlen, "cannot set no_new_privs: %s", strerror(-r));
		return r;
	}
	return 0;
}

int
privileges_prepare(const struct privileges_config *cfg, unsigned needed_caps, char *err,
		   size_t errlen)
{
	capmask setup = CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_DAC_OVERRIDE) |
			CAPBIT(CAP_DAC_READ_SEARCH) | CAPBIT(CAP_SETPCAP);
	capmask held;
	int r;

	/* The daemon never executes a program, so no_new_privs costs nothing; set here, every
	 * thread inherits it. */
	r = set_no_new_privs(err, errlen);
	if (r < 0 || geteuid() != 0)
		return r;

	if (cfg->ipc_chown)
		setup |= CAPBIT(CAP_CHOWN);
	if (cfg->switch_user)
		setup |= CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID);
	/* Every capability the policy needs, CAP_SYS_ADMIN included: the monitor, forked
	 * before the drop, keeps them; the serving process keeps none after it. */
	setup |= caps_of(needed_caps);
	/* Root in a container may lack some: a set can only shrink. */
	held = caps_held(CAP_PERMITTED);
	setup &= held;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which stays until
	 * privileges_drop(). Without it the bounding set stays: no_new_privs already keeps
	 * an execve from granting anything. */
	if (((held & CAPBIT(CAP_SETPCAP)) && (r = drop_bound(setup)) < 0) ||
	    (r = reset_ambient()) < 0 || (r = set_caps(setup)) < 0) {
		set_err(err, errlen, "cannot narrow the capabilities for start-up: %s",
			strerror(-r));
		return r;
	}
	return 0;
}

/* privileges_drop() is done: threads made from now on clear their own sets at start. */
static atomic_bool dropped;

int
privileges_thread_start(void)
{
	/* Before the drop a thread keeps the start-up set: glibc makes every thread run the
	 * user switch's set*id calls, which fail, and abort the process, in a thread without
	 * CAP_SETUID. The drop's sweep clears it afterwards. */
	return atomic_load(&dropped) ? privileges_drop_thread() : 0;
}

int
privileges_drop_thread(void)
{
	/* The raw system call, not libcap: it is async-signal-safe, and strip_handler()
	 * runs it in a signal handler. Version 3 takes two 32-bit words per set. */
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &header, data) < 0 ? -errno : 0;
}

/* Threads that ran strip_handler() successfully. */
static atomic_int threads_stripped;

static void
strip_handler(int signo)
{
	int saved = errno;

	(void)signo;
	if (privileges_drop_thread() == 0)
		atomic_fetch_add(&threads_stripped, 1);
	errno = saved;
}

/* How long the other threads get to run strip_handler(). */
#define STRIP_WAIT_MS 2000

/* The thread ids of this process other than the calling thread's, at most `max`. */
static size_t
other_threads(pid_t *tids, size_t max)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	DIR *dir = opendir("/proc/self/task");
	struct dirent *entry;
	size_t n = 0;

	if (!dir)
		return 0;
	while (n < max && (entry = readdir(dir))) {
		long tid = strtol(entry->d_name, NULL, 10);
		if (tid > 0 && (pid_t)tid != self)
			tids[n++] = (pid_t)tid;
	}
	closedir(dir);
	return n;
}

/* The CapPrm and CapEff masks of thread `tid` of this process; false if it has ended. */
static bool
thread_caps(pid_t tid, unsigned long long *permitted, unsigned long long *effective)
{
	char path[64], line[256];
	int found = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	while (found < 2 && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "CapPrm:", 7) == 0)
			found += sscanf(line + 7, "%llx", permitted) == 1;
		else if (strncmp(line, "CapEff:", 7) == 0)
			found += sscanf(line + 7, "%llx", effective) == 1;
	}
	fclose(f);
	return found == 2;
}

/*
 * Make every other thread of the process clear its capability sets (see the header), then
 * check in /proc that none holds one. The signal is the first real-time one glibc leaves to
 * programs; none of the daemon's threads blocks it.
 */
static int
strip_other_threads(char *err, size_t errlen)
{
	enum { MAX_THREADS = 512 };
	static pid_t tids[MAX_THREADS];
	struct sigaction action = { .sa_handler = strip_handler, .sa_flags = SA_RESTART };
	int signo = SIGRTMIN;
	int sent = 0;

	sigemptyset(&action.sa_mask);
	if (sigaction(signo, &action, NULL) < 0) {
		int r = -errno;
		set_err(err, errlen, "cannot install the handler that drops the other threads' "
			"capabilities: %s", strerror(-r));
		return r;
	}
	atomic_store(&threads_stripped, 0);
	size_t n = other_threads(tids, MAX_THREADS);
	for (size_t i = 0; i < n; i++)
		if (syscall(SYS_tgkill, getpid(), tids[i], signo) == 0)
			sent++;
	struct timespec tick = { 0, 1000000 };
	for (int waited = 0; atomic_load(&threads_stripped) < sent && waited < STRIP_WAIT_MS;
	     waited++)
		nanosleep(&tick, NULL);

	n = other_threads(tids, MAX_THREADS);
	for (size_t i = 0; i < n; i++) {
		unsigned long long permitted = 0, effective = 0;
		if (thread_caps(tids[i], &permitted, &effective) && (permitted || effective)) {
			set_err(err, errlen, "thread %d of the daemon still holds capabilities "
				"(permitted %llx, effective %llx) after being told to drop them; "
				"refusing to serve", (int)tids[i], permitted, effective);
			return -EPERM;
		}
	}
	return 0;
}

/* POLICY_CAP_* bits as a capability mask. */
static capmask
caps_of(unsigned policy_caps)
{
	capmask caps = 0;
	for (size_t i = 0; i < N_NEEDED; i++)
		if (policy_caps & needed_table[i].policy_cap)
			caps |= CAPBIT(needed_table[i].cap);
	return caps;
}

unsigned
privileges_held(unsigned policy_caps)
{
	capmask held = caps_held(CAP_PERMITTED);
	unsigned out = 0;
	for (size_t i = 0; i < N_NEEDED; i++)
		if ((policy_caps & needed_table[i].policy_cap) && (held & CAPBIT(needed_table[i].cap)))
			out |= needed_table[i].policy_cap;
	return out;
}

void
privileges_describe(unsigned policy_caps, char *buf, size_t len)
{
	describe_caps(buf, len, caps_of(policy_caps));
}

static int switch_user(const struct privileges_config *cfg, capmask keep, bool bound, char *err,
		       size_t errlen);
static bool ids_are(const struct privileges_config *cfg, char *what, size_t len);

int
privileges_confine_monitor(const struct privileges_config *cfg, unsigned policy_caps, char *err,
			   size_t errlen)
{
	capmask keep = caps_of(policy_caps) & caps_held(CAP_PERMITTED);
	bool bound = caps_held(CAP_EFFECTIVE) & CAPBIT(CAP_SETPCAP);
	char what[160];
	int r;

	if (cfg->switch_user) {
		r = switch_user(cfg, keep, bound, err, errlen);
	} else {
		r = bound ? drop_bound(keep) : 0;
		if (r == 0)
			r = reset_ambient();
		if (r == 0)
			r = set_caps(keep);
		if (r < 0)
			set_err(err, errlen, "cannot narrow the monitor's capabilities: %s",
				strerror(-r));
	}
	if (r < 0 || (r = set_no_new_privs(err, errlen)) < 0)
		return r;
	if ((cfg->switch_user && !ids_are(cfg, what, sizeof(what))) ||
	    !caps_are(keep, bound, what, sizeof(what))) {
		set_err(err, errlen, "confining the monitor did not take (%s)", what);
		return -EPERM;
	}
	return 0;
}

/* "binding ports below 1024 (needs CAP_NET_BIND_SERVICE); ..." for the policy's needs
 * among `lacking`; empty when none. */
static void
describe_lacking(char *buf, size_t len, unsigned needed_caps, capmask lacking)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_NEEDED; i++) {
		int n;

		if (!(needed_caps & needed_table[i].policy_cap) ||
		    !(lacking & CAPBIT(needed_table[i].cap)))
			continue;
		n = snprintf(buf + pos, len - pos, "%s%s (needs %s)", pos ? "; " : "",
			     needed_table[i].feature, needed_table[i].name);
		if (n < 0 || (size_t)n >= len - pos)
			break;
		pos += (size_t)n;
	}
}

/* Started unprivileged: say what the policy asks that the daemon cannot do. */
static void
report_unprivileged(const struct privileges_config *cfg, unsigned needed_caps)
{
	char lacking[512];

	if (cfg->user_configured)
		log_warn("privileges: privileges.user is set but the daemon was not started as "
			 "root, so it cannot switch user; it keeps running as %s (uid %lu)",
			 cfg->user, (unsigned long)geteuid());
	describe_lacking(lacking, sizeof(lacking), needed_caps, ~caps_held(CAP_EFFECTIVE));
	if (!lacking[0]) {
		log_info("privileges: running unprivileged as %s (uid %lu) with every capability "
			 "the policy needs", cfg->user, (unsigned long)geteuid());
		return;
	}
	log_info("privileges: running unprivileged as %s (uid %lu): the policy allows what "
		 "cannot work without capabilities the daemon lacks: %s; those operations will "
		 "fail with EPERM or EACCES. Start the daemon as root with privileges.user set, or "
		 "give it those capabilities",
		 cfg->user, (unsigned long)geteuid(), lacking);
}

/* Switch every thread to the configured user; the calling thread keeps `keep`. */
static int
switch_user(const struct privileges_config *cfg, capmask keep, bool bound, char *err,
	    size_t errlen)
{
	gid_t groups[2] = { cfg->gid, cfg->ipc_gid };
	size_t n_groups = cfg->ipc_gid != cfg->gid ? 2 : 1;
	const char *what;
	int r;

	/* KEEPCAPS: setuid() away from 0 would otherwise empty the permitted set too. */
	what = "keep capabilities across the user switch";
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		goto fail;
	/* The bounding set before setuid: dropping needs CAP_SETPCAP, not kept after. */
	what = "drop capabilities from the bounding set";
	if (bound && (r = drop_bound(keep)) < 0)
		goto fail_r;
	what = "clear the ambient capabilities";
	if ((r = reset_ambient()) < 0)
		goto fail_r;
	/*
	 * glibc's setgroups/setgid/setuid change every thread of the process (the kernel's
	 * calls change only one): the NNG and resolver threads, without KEEPCAPS, thereby lose
	 * all their capabilities; only this thread, which runs the reactor and so every
	 * operation, keeps its permitted set. libcap's own cap_setuid() would change this
	 * thread alone and is not used for that reason. The ipc group is kept as a
	 * supplementary group so that a socket file re-created later can be given to it.
	 */
	what = "set the supplementary groups";
	if (setgroups(n_groups, groups) < 0)
		goto fail;
	what = "switch group";
	if (setresgid(cfg->gid, cfg->gid, cfg->gid) < 0)
		goto fail;
	what = "switch user";
	if (setresuid(cfg->uid, cfg->uid, cfg->uid) < 0)
		goto fail;
	what = "keep the needed capabilities";
	if ((r = set_caps(keep)) < 0)
		goto fail_r;
	what = "reset the keep-capabilities flag";
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		goto fail;
	return 0;

fail:
	r = -errno;
fail_r:
	set_err(err, errlen, "cannot %s while switching to user %s and group %s: %s", what,
		cfg->user, cfg->group, strerror(-r));
	return r;
}

/* Whether the switch took: every id is the target and no way back is left. */
static bool
ids_are(const struct privileges_config *cfg, char *what, size_t len)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) {
		snprintf(what, len, "cannot read the user and group ids: %s", strerror(errno));
		return false;
	}
	if (ruid != cfg->uid || euid != cfg->uid || suid != cfg->uid ||
	    rgid != cfg->gid || egid != cfg->gid || sgid != cfg->gid) {
		snprintf(what, len, "the ids are uid %lu/%lu/%lu gid %lu/%lu/%lu",
			 (unsigned long)ruid, (unsigned long)euid, (unsigned long)suid,
			 (unsigned long)rgid, (unsigned long)egid, (unsigned long)sgid);
		return false;
	}
	return true;
}

/* What the drop left (the user, the capabilities kept), and what the policy will lack. */
static void
log_dropped(const struct privileges_config *cfg, unsigned needed_caps, capmask wanted,
	    capmask held, capmask keep, bool bound)
{
	char kept[256];
	char lacking[512];

	describe_caps(kept, sizeof(kept), keep);
	if (cfg->switch_user) {
		char ipc_group[64] = "";

		if (cfg->ipc_gid != cfg->gid)
			group_name(ipc_group, sizeof(ipc_group), cfg->ipc_gid);
		log_info("privileges: running as user %s (uid %lu), group %s (gid %lu)%s%s%s; "
			 "capabilities kept: %s; no_new_privs set",
			 cfg->user, (unsigned long)cfg->uid, cfg->group, (unsigned long)cfg->gid,
			 ipc_group[0] ? ", supplementary group " : "", ipc_group,
			 cfg->default_user ? " (privileges.user is not set: the dedicated user "
					     "\"" PRIVILEGES_DEFAULT_USER "\" exists)"
					   : "",
			 kept);
		if ((needed_caps & POLICY_CAP_SYS_ADMIN) && !monitor_running())
			log_warn("privileges: the policy allows sethostname, which needs "
				 "CAP_SYS_ADMIN; that capability is never kept after switching to "
				 "user %s, so sethostname will fail with EPERM", cfg->user);
	} else {
		log_warn("privileges: the daemon runs as root (uid 0) with root's access to every "
			 "file root owns, because privileges.user is %s; capabilities kept: %s. To "
			 "run as an unprivileged user after "
			 "opening the listeners, set \"privileges\": {\"user\": \"NAME\"} in the "
			 "configuration",
			 cfg->user_configured ? "root" : "not set", kept);
	}
	describe_lacking(lacking, sizeof(lacking), needed_caps, wanted & ~held);
	if (lacking[0])
		log_warn("privileges: the daemon was started without capabilities the policy "
			 "needs: %s; those operations will fail with EPERM or EACCES", lacking);
	if (!bound)
		log_warn("privileges: without CAP_SETPCAP the bounding set is left as it was; "
			 "no_new_privs still keeps a program from gaining capabilities");
}

int
privileges_drop(const struct privileges_config *cfg, unsigned needed_caps, char *err,
		size_t errlen)
{
	capmask wanted = kept_caps(cfg, needed_caps);
	capmask held, keep;
	bool bound;
	char what[160];
	int r;

	if (geteuid() != 0) {
		report_unprivileged(cfg, needed_caps);
		return 0;
	}
	held = caps_held(CAP_PERMITTED);
	/* With a monitor, the capabilities are its: the serving process keeps none. */
	keep = monitor_running() ? 0 : wanted & held;
	bound = held & CAPBIT(CAP_SETPCAP);

	if (cfg->switch_user) {
		r = switch_user(cfg, keep, bound, err, errlen);
	} else {
		r = bound ? drop_bound(keep) : 0;
		if (r == 0)
			r = reset_ambient();
		if (r == 0)
			r = set_caps(keep);
		if (r < 0)
			set_err(err, errlen, "cannot drop the capabilities the policy does not need: "
				"%s", strerror(-r));
	}
	if (r < 0)
		return r;
	atomic_store(&dropped, true);
	if ((r = set_no_new_privs(err, errlen)) < 0 || (r = strip_other_threads(err, errlen)) < 0)
		return r;

	if ((cfg->switch_user && !ids_are(cfg, what, sizeof(what))) ||
	    !caps_are(keep, bound, what, sizeof(what)) ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		set_err(err, errlen, "dropping privileges did not take (%s); refusing to serve",
			prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 ? "no_new_privs is not set"
								     : what);
		return -EPERM;
	}

	log_dropped(cfg, needed_caps, wanted, held, keep, bound);
	return 0;
}
