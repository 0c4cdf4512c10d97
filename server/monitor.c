#include "monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"
#include "privileges.h"
#include "reactor.h"

/* The monitor's descriptor for its end of the socketpair, after the fork. */
#define MONITOR_FD 3
/* How long the serving process waits for an answer, and for the monitor to exit. */
#define MONITOR_TIMEOUT_S 5

/* The serving side. */
static struct {
	int fd;
	pid_t pid;
	unsigned caps;
	bool lost;
	struct reactor *reactor;
	struct reactor_source source;
} serving = { .fd = -1 };

/* ---- holding a handed-off socket to its peer ----------------------------- */

/*
 * A TCP socket's peer is not fixed by its connection: the client holding it
 * could disconnect it (connect() to AF_UNSPEC, or shutdown() of a connect
 * under way) and connect it again, anywhere the daemon's network reaches. So
 * before it goes, the socket gets a filter that accepts only segments from
 * the peer the policy judged, locked (SO_LOCK_FILTER) so that the client
 * cannot take it off: connected elsewhere, it never hears back, and no
 * connection is ever made. The filter runs on the TCP header (offset 0:
 * the source port) and reaches the IP header below it (SKF_NET_OFF).
 * Some kernels let only CAP_NET_ADMIN attach a socket filter: then the
 * monitor does it (MONITOR_PIN), building the same filter from the peer.
 */
static unsigned
pin_filter(const struct sockaddr *peer, struct sock_filter code[16])
{
	unsigned n = 0;
	uint16_t port;

	if (peer->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)peer)->sin6_addr)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
		uint32_t word[4];
		memcpy(word, &in6->sin6_addr, sizeof(word));
		port = ntohs(in6->sin6_port);
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF);
		code[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0);
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x60, 0, 11);
		for (unsigned i = 0; i < 4; i++) {
			code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
								 SKF_NET_OFF + 8 + 4 * i);
			code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
								 ntohl(word[i]), 0, 9 - 2 * i);
		}
	} else {
		uint32_t ip;
		if (peer->sa_family == AF_INET) {
			ip = ((const struct sockaddr_in *)peer)->sin_addr.s_addr;
			port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
		} else {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
			memcpy(&ip, &in6->sin6_addr.s6_addr[12], sizeof(ip));
			port = ntohs(in6->sin6_port);
		}
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF);
		code[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0);
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 0, 5);
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12);
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(ip), 0, 3);
	}
	code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0);
	code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);

	return n;
}

/* Attach and lock the filter that holds `fd` to `peer`. */
static int
attach_pin(int fd, const struct sockaddr *peer)
{
	struct sock_filter code[16];
	struct sock_fprog program = { .len = (unsigned short)pin_filter(peer, code),
				      .filter = code };
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

/* ---- the checks ---------------------------------------------------------- */

/* Options that need a capability and that a policy may allow (CAP_NET_ADMIN). */
static const struct {
	int level, optname;
} privileged_options[] = {
	{ SOL_SOCKET, SO_MARK },
	{ SOL_SOCKET, SO_PRIORITY },
	{ SOL_SOCKET, SO_RCVBUFFORCE },
	{ SOL_SOCKET, SO_SNDBUFFORCE },
	{ SOL_IP, IP_TRANSPARENT },
	{ SOL_IPV6, IPV6_TRANSPARENT },
};

/* The family, type and protocol of a passed descriptor; -ENOTSOCK for anything else. */
static int
socket_of(int fd, struct policy_request *p)
{
	struct stat st;
	socklen_t len = sizeof(int);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	p->has_socket = true;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &p->family, &len) < 0)
		return -errno;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &p->type, &len) < 0)
		return -errno;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &p->proto, &len) < 0)
		return -errno;
	return 0;
}

static int
check_socket(const struct policy *policy, const struct monitor_request *m, int fd)
{
	int type = m->type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	/* Only what needs a capability: anything else the serving process makes itself. */
	bool privileged = (type == SOCK_RAW && (m->family == AF_INET || m->family == AF_INET6)) ||
			  m->family == AF_PACKET || type == SOCK_PACKET;
	if (fd >= 0 || m->len != 0)
		return -EINVAL;
	if (!privileged)
		return -EPERM;
	struct policy_request p = {
		.op = POLICY_OP_CREATE,
		.has_socket = true,
		.family = m->family,
		.type = type,
		.proto = m->proto,
	};
	return !policy || policy_could_allow(policy, &p) ? 0 : -EPERM;
}

static int
check_bind(const struct policy *policy, const struct monitor_request *m, int fd)
{
	struct policy_request p = { .op = POLICY_OP_BIND };
	struct sockaddr_storage ss;
	unsigned port;
	int r;

	if (m->len > sizeof(ss) || m->len < sizeof(sa_family_t))
		return -EINVAL;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, m->data, m->len);
	if (ss.ss_family == AF_INET && m->len >= sizeof(struct sockaddr_in))
		port = ntohs(((const struct sockaddr_in *)(const void *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6 && m->len >= sizeof(struct sockaddr_in6))
		port = ntohs(((const struct sockaddr_in6 *)(const void *)&ss)->sin6_port);
	else
		return -EINVAL;
	if (port == 0 || port >= 1024)
		return -EPERM; /* no capability needed: the serving process binds it */
	if ((r = socket_of(fd, &p)) < 0)
		return r == -ENOTSOCK ? -EINVAL : r;
	if (p.family != ss.ss_family)
		return -EINVAL;
	p.addr = (const struct sockaddr *)&ss;
	p.addrlen = m->len;
	return !policy || policy_could_allow(policy, &p) ? 0 : -EPERM;
}

static int
check_setsockopt(const struct policy *policy, const struct monitor_request *m, int fd)
{
	struct policy_request p = { .op = POLICY_OP_SOCKOPT, .level = m->level,
				    .optname = m->optname };
	bool listed = false;
	int r;

	if (m->len > 64)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(privileged_options) / sizeof(privileged_options[0]); i++)
		listed |= privileged_options[i].level == m->level &&
			  privileged_options[i].optname == m->optname;
	if (!listed)
		return -EPERM;
	if ((r = socket_of(fd, &p)) < 0)
		return r == -ENOTSOCK ? -EINVAL : r;
	return !policy || policy_could_allow(policy, &p) ? 0 : -EPERM;
}

static int
check_pin(const struct policy *policy, const struct monitor_request *m, int fd)
{
	struct policy_request p = { .op = POLICY_OP_HANDOFF };
	int r;

	if ((r = socket_of(fd, &p)) < 0)
		return r == -ENOTSOCK ? -EINVAL : r;
	if (p.type != SOCK_STREAM || (p.proto != 0 && p.proto != IPPROTO_TCP))
		return -EINVAL;
	if (!((p.family == AF_INET && m->len == sizeof(struct sockaddr_in)) ||
	      (p.family == AF_INET6 && m->len == sizeof(struct sockaddr_in6))) ||
	    ((const struct sockaddr *)(const void *)m->data)->sa_family != p.family)
		return -EINVAL;
	return !policy || policy_could_allow(policy, &p) ? 0 : -EPERM;
}

static int
check_sethostname(const struct policy *policy, const struct monitor_request *m, int fd)
{
	struct policy_request p = { .op = POLICY_OP_SETHOSTNAME };
	/* The length is the kernel's to judge (EINVAL above 64 bytes), as without a monitor. */
	if (fd >= 0 || m->len > MONITOR_DATA_MAX)
		return -EINVAL;
	return !policy || policy_could_allow(policy, &p) ? 0 : -EPERM;
}

/* ---- the request table --------------------------------------------------- */

static int
run_socket(const struct monitor_request *m, int fd, int *fd_out)
{
	(void)fd;
	int s = socket(m->family, m->type | SOCK_CLOEXEC, m->proto);
	if (s < 0)
		return -errno;
	*fd_out = s;
	return 0;
}

static int
run_bind(const struct monitor_request *m, int fd, int *fd_out)
{
	(void)fd_out;
	return bind(fd, (const struct sockaddr *)(const void *)m->data, m->len) < 0 ? -errno : 0;
}

static int
run_setsockopt(const struct monitor_request *m, int fd, int *fd_out)
{
	(void)fd_out;
	return setsockopt(fd, m->level, m->optname, m->data, m->len) < 0 ? -errno : 0;
}

static int
run_pin(const struct monitor_request *m, int fd, int *fd_out)
{
	(void)fd_out;
	return attach_pin(fd, (const struct sockaddr *)(const void *)m->data);
}

static int
run_sethostname(const struct monitor_request *m, int fd, int *fd_out)
{
	(void)fd;
	(void)fd_out;
	return sethostname((const char *)m->data, m->len) < 0 ? -errno : 0;
}

static const struct {
	enum monitor_op op;
	const char *name;
	bool takes_fd;
	int (*check)(const struct policy *policy, const struct monitor_request *m, int fd);
	int (*run)(const struct monitor_request *m, int fd, int *fd_out);
} monitor_table[] = {
	{ MONITOR_SOCKET, "socket", false, check_socket, run_socket },
	{ MONITOR_BIND, "bind", true, check_bind, run_bind },
	{ MONITOR_SETSOCKOPT, "setsockopt", true, check_setsockopt, run_setsockopt },
	{ MONITOR_SETHOSTNAME, "sethostname", false, check_sethostname, run_sethostname },
	{ MONITOR_PIN, "pin", true, check_pin, run_pin },
};

#define N_OPS (sizeof(monitor_table) / sizeof(monitor_table[0]))

static int
row_of(uint32_t op)
{
	for (size_t i = 0; i < N_OPS; i++)
		if (monitor_table[i].op == op)
			return (int)i;
	return -1;
}

int
monitor_check(const struct policy *policy, const struct monitor_request *request, int fd)
{
	int row = row_of(request->op);
	if (row < 0 || request->len > MONITOR_DATA_MAX)
		return -EINVAL;
	if (monitor_table[row].takes_fd != (fd >= 0))
		return -EINVAL;
	return monitor_table[row].check(policy, request, fd);
}

/* ---- messages ------------------------------------------------------------ */

/* Send `len` bytes with `fd` (>= 0) passed along. */
static int
send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* Receive one record of exactly `len` bytes and at most one descriptor (*fd, else -1).
 * Returns 0, -EPIPE at end of file, -EBADMSG for a record of another size, or -errno. */
static int
recv_with_fd(int sock, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int received;
			memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = received;
			else
				close(received); /* one at most */
		}
	}
	if (n == 0)
		return -EPIPE;
	if ((size_t)n != len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EBADMSG;
	}
	return 0;
}

/* ---- the monitor process ------------------------------------------------- */

/* Close every descriptor but 0-2 and MONITOR_FD. */
static void
close_the_rest(void)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir) {
		for (int fd = MONITOR_FD + 1; fd < 4096; fd++)
			close(fd);
		return;
	}
	int own = dirfd(dir);
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		long fd = strtol(entry->d_name, NULL, 10);
		if (entry->d_name[0] != '.' && fd > MONITOR_FD && fd != own)
			close((int)fd);
	}
	closedir(dir);
}

static void __attribute__((noreturn))
monitor_serve(const struct policy *policy)
{
	for (;;) {
		struct monitor_request m;
		struct monitor_answer answer = { 0 };
		int fd, fd_out = -1;
		int r = recv_with_fd(MONITOR_FD, &m, sizeof(m), &fd);

		if (r == -EPIPE)
			_exit(0); /* the serving process is gone */
		if (r < 0 && r != -EBADMSG) {
			log_error("monitor: cannot read a request: %s; exiting", strerror(-r));
			_exit(1);
		}
		if (r == 0)
			r = monitor_check(policy, &m, fd);
		else
			r = -EINVAL;
		if (r == 0) {
			r = monitor_table[row_of(m.op)].run(&m, fd, &fd_out);
		} else {
			int row = r == -EINVAL ? -1 : row_of(m.op);
			log_warn("monitor: refused a %s request (%s) that no rule of the policy "
				 "could allow or that was malformed: the serving process asked what "
				 "no client could; if this repeats, it may be compromised",
				 row >= 0 ? monitor_table[row].name : "malformed",
				 r == -EINVAL ? "malformed" : "outside the policy");
		}
		if (fd >= 0)
			close(fd);
		answer.result = r;
		r = send_with_fd(MONITOR_FD, &answer, sizeof(answer), fd_out);
		if (fd_out >= 0)
			close(fd_out);
		if (r == -EPIPE)
			_exit(0);
		if (r < 0) {
			log_error("monitor: cannot answer: %s; exiting", strerror(-r));
			_exit(1);
		}
	}
}

static void __attribute__((noreturn))
monitor_main(int sock, pid_t parent, const struct policy *policy,
	     const struct privileges_config *privileges, unsigned caps)
{
	char err[512];

	/* Ends with the serving process even if the socketpair somehow stays open. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		_exit(1);
	prctl(PR_SET_NAME, "sockbroker-mon", 0, 0, 0);
	if (sock != MONITOR_FD && (dup2(sock, MONITOR_FD) < 0 || close(sock) < 0))
		_exit(1);
	close_the_rest();
	if (privileges_confine_monitor(privileges, caps, err, sizeof(err)) < 0) {
		log_error("monitor: %s", err);
		_exit(1);
	}
	monitor_serve(policy);
}

/* ---- the serving side ------------------------------------------------------ */

static void
gone(const char *why)
{
	if (serving.lost)
		return;
	serving.lost = true;
	log_error("privileges: the monitor (pid %d) that runs the privileged operations %s; "
		  "the daemon stops, since those operations can no longer run. Restart it",
		  (int)serving.pid, why);
	if (serving.reactor) {
		reactor_del_fd(serving.reactor, &serving.source);
		reactor_stop(serving.reactor);
	}
	if (serving.pid > 0)
		waitpid(serving.pid, NULL, WNOHANG);
}

/* The monitor speaks only when asked: anything else on its socket is its end. */
static void
monitor_ready(struct reactor_source *source, uint32_t events)
{
	(void)source;
	(void)events;
	gone("has ended");
}

/* Whether this kernel lets only a process with CAP_NET_ADMIN attach a socket filter (some
 * hardened ones do): asked once, of a child that drops every capability and tries. */
static bool
filters_need_capability(void)
{
	static int known = -1;
	if (known >= 0)
		return known;
	pid_t pid = fork();
	if (pid == 0) {
		cap_t none = cap_init();
		struct sock_filter accept_all = BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
		struct sock_fprog program = { .len = 1, .filter = &accept_all };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok = none && cap_set_proc(none) == 0 && fd >= 0 &&
			  setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) == 0;
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	known = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		WEXITSTATUS(status) != 0;
	return known;
}

unsigned
monitor_needed_caps(const struct policy *policy)
{
	unsigned caps = policy_needed_caps(policy);
	struct policy_request handoff[] = {
		{ .op = POLICY_OP_HANDOFF, .has_socket = true, .family = AF_INET,
		  .type = SOCK_STREAM, .proto = IPPROTO_TCP },
		{ .op = POLICY_OP_HANDOFF, .has_socket = true, .family = AF_INET6,
		  .type = SOCK_STREAM, .proto = IPPROTO_TCP },
	};
	if (geteuid() == 0 && (policy_could_allow(policy, &handoff[0]) ||
			       policy_could_allow(policy, &handoff[1])) &&
	    filters_need_capability())
		caps |= POLICY_CAP_NET_ADMIN;
	return caps;
}

int
monitor_start(struct reactor *reactor, const struct policy *policy,
	      const struct privileges_config *privileges, char *err, size_t errlen)
{
	int pair[2], r;

	if (serving.fd >= 0 || geteuid() != 0)
		return 0;
	unsigned caps = privileges_held(monitor_needed_caps(policy));
	if (!caps)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot make the monitor's socketpair: %s", strerror(-r));
		return r;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot fork the monitor: %s", strerror(-r));
		close(pair[0]);
		close(pair[1]);
		return r;
	}
	if (pid == 0) {
		close(pair[0]);
		monitor_main(pair[1], parent, policy, privileges, caps);
	}
	close(pair[1]);
	serving.fd = pair[0];
	serving.pid = pid;
	serving.caps = caps;
	serving.lost = false;
	struct timeval timeout = { MONITOR_TIMEOUT_S, 0 };
	setsockopt(serving.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(serving.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	if (reactor) {
		serving.reactor = reactor;
		serving.source = (struct reactor_source){ .fd = serving.fd, .ready = monitor_ready };
		if ((r = reactor_add_fd(reactor, &serving.source, EPOLLIN | EPOLLRDHUP)) < 0) {
			snprintf(err, errlen, "cannot watch the monitor: %s", strerror(-r));
			serving.reactor = NULL;
			monitor_stop();
			return r;
		}
	}
	char held[256];
	privileges_describe(caps, held, sizeof(held));
	log_info("privileges: a monitor process (pid %d) keeps %s for the privileged operations "
		 "the policy allows; the process that serves clients keeps no capability",
		 (int)pid, held);
	return 0;
}

bool
monitor_running(void)
{
	return serving.fd >= 0 && !serving.lost;
}

bool
monitor_lost(void)
{
	return serving.lost;
}

pid_t
monitor_pid(void)
{
	return serving.fd >= 0 ? serving.pid : 0;
}

unsigned
monitor_caps(void)
{
	return serving.fd >= 0 ? serving.caps : 0;
}

int
monitor_call(const struct monitor_request *request, int fd, int *fd_out)
{
	struct monitor_answer answer;
	int r;

	*fd_out = -1;
	if (!monitor_running())
		return -EPERM;
	if ((r = send_with_fd(serving.fd, request, sizeof(*request), fd)) < 0 ||
	    (r = recv_with_fd(serving.fd, &answer, sizeof(answer), fd_out)) < 0) {
		gone(r == -EAGAIN ? "did not answer within 5 s" : "has ended");
		return -EPERM;
	}
	if (answer.result > 0 || answer.result < -4095) {
		if (*fd_out >= 0)
			close(*fd_out);
		*fd_out = -1;
		return -EBADMSG;
	}
	if (answer.result < 0 && *fd_out >= 0) {
		close(*fd_out);
		*fd_out = -1;
	}
	return answer.result;
}

/* Whether the kernel's answer is one a capability would change. */
static bool
refused(int e)
{
	return (e == EPERM || e == EACCES) && monitor_running();
}

int
monitor_socket(int family, int type, int proto)
{
	int fd = socket(family, type, proto);
	if (fd >= 0 || !refused(errno))
		return fd >= 0 ? fd : -errno;
	int e = errno;
	struct monitor_request m = { .op = MONITOR_SOCKET, .family = family, .type = type,
				     .proto = proto };
	if (monitor_check(NULL, &m, -1) < 0)
		return -e; /* not the monitor's to do: the kernel's answer stands */
	int r = monitor_call(&m, -1, &fd);
	if (r < 0)
		return r == -EPERM ? -e : r;
	return fd >= 0 ? fd : -EBADMSG;
}

int
monitor_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (bind(fd, addr, len) == 0)
		return 0;
	int e = errno;
	struct monitor_request m = { .op = MONITOR_BIND, .len = len };
	if (!refused(e) || len > sizeof(m.data))
		return -e;
	memcpy(m.data, addr, len);
	if (monitor_check(NULL, &m, fd) < 0)
		return -e;
	int unused, r = monitor_call(&m, fd, &unused);
	if (unused >= 0)
		close(unused);
	return r == -EPERM ? -e : r; /* a refusal: the kernel's own answer */
}

int
monitor_pin(int fd, const struct sockaddr *peer, socklen_t len)
{
	int r = attach_pin(fd, peer);
	if (r == 0)
		return 0;
	struct monitor_request m = { .op = MONITOR_PIN, .len = len };
	if (!refused(-r) || len > sizeof(m.data))
		return r;
	memcpy(m.data, peer, len);
	if (monitor_check(NULL, &m, fd) < 0)
		return r;
	int unused, e = monitor_call(&m, fd, &unused);
	if (unused >= 0)
		close(unused);
	return e == -EPERM ? r : e;
}

int
monitor_setsockopt(int fd, int level, int optname, const void *value, socklen_t len)
{
	if (setsockopt(fd, level, optname, value, len) == 0)
		return 0;
	int e = errno;
	struct monitor_request m = { .op = MONITOR_SETSOCKOPT, .level = level, .optname = optname,
				     .len = len };
	if (!refused(e) || len > sizeof(m.data) || (len && !value))
		return -e;
	if (len)
		memcpy(m.data, value, len);
	if (monitor_check(NULL, &m, fd) < 0)
		return -e;
	int unused, r = monitor_call(&m, fd, &unused);
	if (unused >= 0)
		close(unused);
	return r == -EPERM ? -e : r;
}

int
monitor_sethostname(const char *name, size_t len)
{
	if (sethostname(name, len) == 0)
		return 0;
	int e = errno;
	struct monitor_request m = { .op = MONITOR_SETHOSTNAME, .len = (uint32_t)len };
	if (!refused(e) || len > sizeof(m.data))
		return -e;
	memcpy(m.data, name, len);
	if (monitor_check(NULL, &m, -1) < 0)
		return -e;
	int unused, r = monitor_call(&m, -1, &unused);
	if (unused >= 0)
		close(unused);
	return r == -EPERM ? -e : r;
}

void
monitor_stop(void)
{
	if (serving.fd < 0)
		return;
	if (serving.reactor && !serving.lost)
		reactor_del_fd(serving.reactor, &serving.source);
	close(serving.fd);
	serving.fd = -1;
	serving.reactor = NULL;
	for (int waited = 0; serving.pid > 0 && waited < MONITOR_TIMEOUT_S * 100; waited++) {
		pid_t r = waitpid(serving.pid, NULL, WNOHANG);
		if (r == serving.pid || (r < 0 && errno == ECHILD))
			break;
		usleep(10000);
	}
	serving.pid = 0;
	serving.caps = 0;
}
