/*
 * sbrun: run an unmodified program whose network goes through sockbrokerd.
 *
 * The program runs under a seccomp filter that sends its connect() calls (and
 * its sends and receives that name an address) to sbrun as user
 * notifications (seccomp_unotify(2)). For an AF_INET/AF_INET6
 * stream socket sbrun has the daemon create the equivalent socket, judge and
 * start the connect and hand the socket over, puts it at the program's
 * descriptor number (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD)
 * and answers the call with the daemon's result.
 *
 * The invariant that keeps it safe: PROGRAM runs in a network namespace that
 * reaches nothing (the caller's `unshare -n`), so a socket it creates itself
 * reaches nothing; only the descriptors the daemon hands over reach the
 * network, and each of those is a TCP socket whose peer the policy judged and
 * the kernel fixed. A UDP socket the program connects becomes a placeholder
 * relayed by sbrun (sbrun-udp.c, sbrun.h): UDP sockets are never handed over.
 * A TCP socket the program listens on listens in the daemon, and the program
 * accepts the connections the daemon handed over (sbrun-listen.c).
 * Nothing the program can do makes a descriptor reach another destination:
 *  - connect() is never answered with SECCOMP_USER_NOTIF_FLAG_CONTINUE: a
 *    racing thread could swap the descriptor (dup2) or rewrite the address
 *    between the check and the kernel's action. sbrun performs every connect
 *    itself, on the file it inspected and the address it copied; connect to
 *    AF_UNSPEC (which would disconnect a handed-over socket) is refused on
 *    inet sockets.
 *  - sendto()/sendmsg()/sendmmsg() with MSG_FASTOPEN (a connect in disguise)
 *    are refused by the filter itself, from the flags register: no race.
 *    Other sends and receives are continued unless they are on a placeholder:
 *    whatever file they reach, it can send nowhere unjudged.
 *  - io_uring_setup() fails with ENOSYS (its operations bypass seccomp).
 *  - Only the native system call ABI is allowed (no i386 socketcall, no x32).
 * sbrun itself is not dumpable, so the program cannot ptrace it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockbroker.h"
#include "sbrun.h"
#include "tokenfile.h"

#if defined(__x86_64__)
#define SBRUN_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SBRUN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "sbrun knows the system call ABI of x86_64 and aarch64 only"
#endif

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* sbrun's own failures, distinct from any status PROGRAM exits with (env, timeout). */
#define EXIT_SBRUN 125
#define EXIT_EXEC_FAILED 127

static const char usage_text[] =
	"Usage: sbrun [--broker URL] [--token-file FILE] [-v] [--] PROGRAM [ARGS...]\n"
	"Run PROGRAM (in a network namespace of its own, such as `unshare -n` makes)\n"
	"with its TCP and UDP connections through sockbrokerd: each connect() is judged\n"
	"by the daemon's policy and answered with a real socket. See sbrun(1).\n"
	"\n"
	"    --broker URL, --url URL  the daemon (ipc:// or abstract://; default\n"
	"                             $SOCKBROKER_URL, else the system's socket)\n"
	"    --token-file FILE        the session token, read from FILE\n"
	"    -v, --verbose            print each brokered call on stderr\n";

struct options {
	const char *broker_url;
	const char *token_file;
	bool verbose;
	char **program; /* argv of PROGRAM, NULL-terminated */
};

void
sbrun_say(const struct sbrun *run, const char *fmt, ...)
{
	va_list ap;

	if (!run->verbose)
		return;
	va_start(ap, fmt);
	fputs("sbrun: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("sbrun: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n", stderr);
	va_end(ap);
	fputs(usage_text, stderr);
	exit(EXIT_SBRUN);
}

static void
parse_options(struct options *options, int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "url", required_argument, NULL, 'b' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(options, 0, sizeof(*options));
	/* "+": options end at PROGRAM, whose own options are its business. */
	while ((c = getopt_long(argc, argv, "+vh", long_options, NULL)) != -1) {
		switch (c) {
		case 'b':
			options->broker_url = optarg;
			break;
		case 'T':
			options->token_file = optarg;
			break;
		case 'v':
			options->verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			usage_error("unknown option (see --help)");
		}
	}
	if (optind >= argc)
		usage_error("no PROGRAM to run");
	options->program = argv + optind;
}

/* ---- the filter ---------------------------------------------------------------------------- */

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
/* The low 32 bits of argument `i` (both ABIs here are little-endian). */
#define LOAD_ARG(i) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))
#define LOAD_ARG_HIGH(i)                                                                  \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]) + 4)
#define RETURN(action) BPF_STMT(BPF_RET | BPF_K, (action))
/* nr == `call`: `action`, else on. */
#define ON_CALL(call, action) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (call), 0, 1), RETURN(action)
/* nr == `call` with a non-NULL pointer in argument `arg` (both halves): `action`. Reloads nr. */
#define ON_CALL_WITH_POINTER(call, arg, action)                                             \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (call), 0, 5), LOAD_ARG(arg),                  \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2), LOAD_ARG_HIGH(arg),          \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), RETURN(action), LOAD_NR
/* nr == `call` with MSG_FASTOPEN in its flags argument `arg`: EOPNOTSUPP. Reloads nr. */
#define NO_FASTOPEN(call, arg)                                                            \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (call), 0, 3), LOAD_ARG(arg),                  \
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MSG_FASTOPEN, 0, 1),                 \
		RETURN(SECCOMP_RET_ERRNO | EOPNOTSUPP), LOAD_NR

static struct sock_filter filter_code[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SBRUN_AUDIT_ARCH, 1, 0),
	RETURN(SECCOMP_RET_KILL_PROCESS),
	LOAD_NR,
#ifdef __x86_64__
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1),
	RETURN(SECCOMP_RET_ERRNO | ENOSYS),
#endif
	ON_CALL(__NR_connect, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_io_uring_setup, SECCOMP_RET_ERRNO | ENOSYS),
	NO_FASTOPEN(__NR_sendto, 3),
	NO_FASTOPEN(__NR_sendmsg, 2),
	NO_FASTOPEN(__NR_sendmmsg, 3),
	/* Sends and receives that name an address, and the names: served on UDP placeholders
	 * (sbrun-udp.c), continued on anything else. */
	ON_CALL_WITH_POINTER(__NR_sendto, 4, SECCOMP_RET_USER_NOTIF),
	ON_CALL_WITH_POINTER(__NR_recvfrom, 4, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_sendmsg, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_recvmsg, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_recvmmsg, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_getsockname, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_getpeername, SECCOMP_RET_USER_NOTIF),
	/* Servers (sbrun-listen.c). */
	ON_CALL(__NR_listen, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_accept, SECCOMP_RET_USER_NOTIF),
	ON_CALL(__NR_accept4, SECCOMP_RET_USER_NOTIF),
	/* UDP servers (sbrun-udp.c); other binds continued. */
	ON_CALL(__NR_bind, SECCOMP_RET_USER_NOTIF),
	RETURN(SECCOMP_RET_ALLOW),
};

/* ---- starting PROGRAM ---------------------------------------------------------------------- */

/*
 * The child: install the filter, tell the parent the listener's number, wait
 * until the parent holds its own copy (pidfd_getfd), then exec. The listener
 * cannot travel over SCM_RIGHTS: a sendmsg would already be the filter's.
 */
static void __attribute__((noreturn))
child_main(char **program, const sigset_t *old_mask, int to_parent, int from_parent)
{
	struct sock_fprog prog = {
		.len = sizeof(filter_code) / sizeof(filter_code[0]),
		.filter = filter_code,
	};
	int listener;
	int report;
	char go;

	sigprocmask(SIG_SETMASK, old_mask, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		report = -errno;
		goto failed;
	}
	listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (listener < 0) {
		report = -errno;
		goto failed;
	}
	if (write(to_parent, &listener, sizeof(listener)) != sizeof(listener) ||
	    read(from_parent, &go, 1) != 1)
		_exit(EXIT_SBRUN);
	close(listener);
	close(to_parent);
	close(from_parent);
	execvp(program[0], program);
	fprintf(stderr, "sbrun: cannot run %s: %s\n", program[0], strerror(errno));
	_exit(EXIT_EXEC_FAILED);
failed:
	if (write(to_parent, &report, sizeof(report)) != sizeof(report))
		_exit(EXIT_SBRUN);
	_exit(EXIT_SBRUN);
}

/* Is `flags` of SECCOMP_IOCTL_NOTIF_ADDFD known? Asked of no notification: ENOENT says yes. */
static int
probe_addfd(int listener, uint32_t flags)
{
	struct seccomp_notif_addfd addfd = { .id = 0, .flags = flags, .srcfd = (uint32_t)listener };

	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) == 0)
		return 0;
	return errno == ENOENT ? 0 : -errno;
}

/* Fork PROGRAM under the filter; returns its pid, with the listener in run->listener. */
static pid_t
start_program(struct sbrun *run, char **program, const sigset_t *old_mask)
{
	int to_parent[2], from_parent[2];
	int listener_number = -1;
	pid_t pid;

	if (pipe2(to_parent, O_CLOEXEC) < 0 || pipe2(from_parent, O_CLOEXEC) < 0) {
		fprintf(stderr, "sbrun: pipe: %s\n", strerror(errno));
		exit(EXIT_SBRUN);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "sbrun: fork: %s\n", strerror(errno));
		exit(EXIT_SBRUN);
	}
	if (pid == 0)
		child_main(program, old_mask, to_parent[1], from_parent[0]);
	close(to_parent[1]);
	close(from_parent[0]);
	if (read(to_parent[0], &listener_number, sizeof(listener_number)) !=
	    sizeof(listener_number)) {
		fprintf(stderr, "sbrun: the child died before installing its filter\n");
		exit(EXIT_SBRUN);
	}
	if (listener_number < 0) {
		int errnum = -listener_number;
		if (errnum == EINVAL || errnum == ENOSYS)
			fprintf(stderr,
				"sbrun: this kernel has no seccomp user notification "
				"(SECCOMP_FILTER_FLAG_NEW_LISTENER, Linux 5.0 or later, "
				"CONFIG_SECCOMP_FILTER): %s\n",
				strerror(errnum));
		else
			fprintf(stderr, "sbrun: cannot install the seccomp filter: %s\n",
				strerror(errnum));
		exit(EXIT_SBRUN);
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	run->listener = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, listener_number, 0);
	if (run->listener < 0) {
		fprintf(stderr,
			"sbrun: cannot take the child's seccomp listener: %s (pidfd_open and "
			"pidfd_getfd need Linux 5.6, and the right to ptrace the child)\n",
			strerror(errno));
		exit(EXIT_SBRUN);
	}
	close(pidfd);
	int r = probe_addfd(run->listener, SECCOMP_ADDFD_FLAG_SETFD);
	if (r < 0) {
		fprintf(stderr,
			"sbrun: this kernel cannot place descriptors into a process "
			"(SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD, Linux 5.9): "
			"%s\n",
			strerror(-r));
		exit(EXIT_SBRUN);
	}
	run->addfd_send = probe_addfd(run->listener, SECCOMP_ADDFD_FLAG_SEND) == 0;
	if (write(from_parent[1], "g", 1) != 1) {
		fprintf(stderr, "sbrun: the child died before running %s\n", program[0]);
		exit(EXIT_SBRUN);
	}
	close(to_parent[0]);
	close(from_parent[1]);
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &run->sizes) < 0) {
		fprintf(stderr, "sbrun: SECCOMP_GET_NOTIF_SIZES: %s\n", strerror(errno));
		exit(EXIT_SBRUN);
	}
	return pid;
}

/* ---- one notification ---------------------------------------------------------------------- */

/* The calling thread's process, for pidfd_getfd (which wants a thread-group leader before
 * PIDFD_THREAD, Linux 6.9). */
static int
open_target(pid_t tid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (pidfd >= 0 || errno != EINVAL)
		return pidfd < 0 ? -errno : pidfd;
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	FILE *status = fopen(path, "re");
	if (status == NULL)
		return -errno;
	pid_t tgid = 0;
	while (fgets(line, sizeof(line), status) != NULL)
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(status);
	if (tgid <= 0)
		return -ESRCH;
	pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	return pidfd < 0 ? -errno : pidfd;
}

bool
sbrun_still_waiting(const struct sbrun *run, uint64_t id)
{
	return ioctl(run->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

bool
sbrun_program_cloexec(pid_t tid, int fd)
{
	char path[64], line[128];
	unsigned long flags = 0;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)tid, fd);
	FILE *info = fopen(path, "re");
	if (info == NULL)
		return false;
	while (fgets(line, sizeof(line), info) != NULL)
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(info);
	return (flags & O_CLOEXEC) != 0;
}

static void
answer(const struct sbrun *run, uint64_t id, int result)
{
	struct seccomp_notif_resp resp = { .id = id };

	if (result == SBRUN_CONTINUE)
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (result < 0)
		resp.error = result;
	else
		resp.val = result;
	/* ENOENT: the calling thread was killed or interrupted meanwhile. */
	if (ioctl(run->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
		fprintf(stderr, "sbrun: cannot answer a system call: %s\n", strerror(errno));
}

void
sbrun_park(struct sbrun *run, enum parked_kind kind, const struct seccomp_notif *req, int fd)
{
	if (run->n_parked == SBRUN_MAX_PARKED) {
		close(fd);
		answer(run, req->id, -EAGAIN);
		return;
	}
	struct parked *p = &run->parked[run->n_parked++];
	p->kind = kind;
	p->id = req->id;
	p->fd = fd;
	p->req = *req;
}

int
sbrun_check_address(int family, const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_UNSPEC)
		/* It would disconnect a handed-over socket, free to connect anywhere after. */
		return -EOPNOTSUPP;
	if (ss->ss_family != family)
		return -EAFNOSUPPORT;
	/* SIN6_LEN_RFC2133: the kernel takes an AF_INET6 address without its scope id. */
	if (len < (family == AF_INET ? sizeof(struct sockaddr_in) : 24))
		return -EINVAL;
	return 0;
}

int
sbrun_read(pid_t tid, uint64_t address, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)address, .iov_len = len };

	if (len == 0)
		return 0;
	return process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

int
sbrun_write(pid_t tid, uint64_t address, const void *buf, size_t len)
{
	struct iovec local = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)address, .iov_len = len };

	if (len == 0)
		return 0;
	return process_vm_writev(tid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

bool
sbrun_host_socket(const struct sbrun *run, int sock)
{
	uint64_t cookie = 0;
	int family = 0, type = 0;
	socklen_t len = sizeof(cookie);

	if (run->sandbox_netns != 0 &&
	    getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0)
		return cookie != run->sandbox_netns;
	len = sizeof(family);
	getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &family, &len);
	len = sizeof(type);
	getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len);
	return (family == AF_INET || family == AF_INET6) && type == SOCK_STREAM;
}

void
sbrun_refuse_host_socket(const struct sbrun *run, const char *call, int number)
{
	static bool told;

	if (told) {
		sbrun_say(run, "%s of fd %d refused: a socket of the host's namespace", call, number);
		return;
	}
	told = true;
	fprintf(stderr,
		"sbrun: %s of fd %d refused: it is a socket of the host's network namespace "
		"(handed over by the daemon, or inherited), not of the sandbox's; bind and listen "
		"on sockets the program makes itself (said once; -v says each)\n",
		call, number);
}

/* The cookie of sbrun's own namespace, the sandbox's (sbrun runs in it, as the program does). */
static uint64_t
sandbox_netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sock < 0)
		return 0;
	if (getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
		cookie = 0;
	close(sock);
	return cookie;
}

int
sbrun_program_fd(const struct sbrun *run, const struct seccomp_notif *req, int number)
{
	int pidfd = open_target(req->pid);
	if (pidfd < 0)
		return pidfd;
	/* The pid named the calling thread until now: pidfd_getfd reaches the right process. */
	if (!sbrun_still_waiting(run, req->id)) {
		close(pidfd);
		return -EINTR;
	}
	int sock = (int)syscall(SYS_pidfd_getfd, pidfd, number, 0);
	int r = sock < 0 ? -errno : sock;
	close(pidfd);
	return r;
}

/* The options a program sets before connecting (or, UDP, before its first send) that its
 * socket must keep; `type` 0 for both kinds. */
static const struct {
	int type, level, name;
	const char *what;
} copied_options[] = {
	{ 0, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR" },
	{ SOCK_STREAM, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE" },
	{ 0, SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY" },
	{ SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY" },
	{ SOCK_STREAM, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE" },
	{ SOCK_STREAM, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL" },
	{ SOCK_STREAM, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT" },
	{ SOCK_STREAM, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT" },
	{ 0, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY" },
	{ SOCK_DGRAM, SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST" },
	{ SOCK_DGRAM, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF" },
	{ SOCK_DGRAM, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF" },
	{ SOCK_DGRAM, IPPROTO_IP, IP_TTL, "IP_TTL" },
	{ SOCK_DGRAM, IPPROTO_IP, IP_TOS, "IP_TOS" },
	{ SOCK_DGRAM, IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS" },
};

int
sbrun_copy_options(struct sbrun *run, int sock, int family, int type, sb_handle h,
		   struct sb_error *err)
{
	int fresh = socket(family, type | SOCK_CLOEXEC, 0);

	for (size_t i = 0; i < sizeof(copied_options) / sizeof(copied_options[0]); i++) {
		int value = 0, initial = 0;
		socklen_t len = sizeof(value);
		if (copied_options[i].type != 0 && copied_options[i].type != type)
			continue;
		if ((copied_options[i].level == IPPROTO_IPV6 && family != AF_INET6) ||
		    (copied_options[i].level == IPPROTO_IP && family != AF_INET))
			continue;
		if (getsockopt(sock, copied_options[i].level, copied_options[i].name, &value,
			       &len) < 0)
			continue;
		len = sizeof(initial);
		if (fresh >= 0 && getsockopt(fresh, copied_options[i].level,
					     copied_options[i].name, &initial, &len) == 0 &&
		    initial == value)
			continue;
		/* The kernel reports the buffer sizes doubled, and doubles what it is given. */
		if (copied_options[i].name == SO_RCVBUF || copied_options[i].name == SO_SNDBUF)
			value /= 2;
		int r = sb_setsockopt_int(run->client, h, copied_options[i].level,
					  copied_options[i].name, value, err);
		if (r < 0) {
			sbrun_say(run, "setsockopt %s: %s", copied_options[i].what, err->message);
			if (type == SOCK_DGRAM)
				continue;
			if (fresh >= 0)
				close(fresh);
			return r;
		}
	}
	if (fresh >= 0)
		close(fresh);
	return 0;
}

socklen_t
sbrun_kernel_address(const struct sb_addr *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (addr->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr->host, &in->sin_addr) != 1)
			return 0;
		in->sin_port = htons(addr->port);
		return sizeof(*in);
	}
	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr->host, &in6->sin6_addr) != 1)
			return 0;
		in6->sin6_port = htons(addr->port);
		in6->sin6_flowinfo = htonl(addr->flowinfo);
		in6->sin6_scope_id = addr->scope_id;
		return sizeof(*in6);
	}
	return 0;
}

void
sbrun_describe(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	}
}

int
sbrun_broker_address(const struct sockaddr_storage *ss, struct sb_addr *addr)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		return sb_addr_inet(addr, host, ntohs(in->sin_port));
	}
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
	return sb_addr_inet6(addr, host, ntohs(in6->sin6_port), ntohl(in6->sin6_flowinfo),
			     in6->sin6_scope_id);
}

/* A TCP socket the program bound before connecting (bind before connect: a source address or
 * port of its choosing): the daemon's socket bound there too. */
static int
carry_bound_address(struct sbrun *run, int sock, sb_handle h, struct sb_error *err)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	struct sb_addr addr;

	memset(&local, 0, sizeof(local));
	if (getsockname(sock, (struct sockaddr *)&local, &len) < 0)
		return 0;
	if (local.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&local;
		if (in->sin_port == 0 && in->sin_addr.s_addr == htonl(INADDR_ANY))
			return 0;
	} else if (local.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&local;
		if (in6->sin6_port == 0 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			return 0;
	} else {
		return 0;
	}
	if (sbrun_broker_address(&local, &addr) < 0)
		return 0;
	return sb_bind(run->client, h, &addr, err);
}

/* The daemon's socket for a connect to `addr`: created, given `sock`'s options and
 * bound address, connected without blocking. 0 with `*h`, `*result` and (if handed
 * over) `*fd` set, or -errno (said on stderr) with nothing left open. */
static int
connect_in_broker(struct sbrun *run, int sock, int family, int proto,
		  const struct sb_addr *addr, const char *where, sb_handle *h, int *result,
		  int *fd)
{
	struct sb_error err;
	int r;

	r = sb_socket(run->client, family, SOCK_STREAM, proto, h, &err);
	if (r < 0) {
		sbrun_say(run, "connect to %s: socket: %s", where, err.message);
		return -(err.errno_number ? err.errno_number : EACCES);
	}
	if ((r = sbrun_copy_options(run, sock, family, SOCK_STREAM, *h, &err)) < 0 ||
	    (r = carry_bound_address(run, sock, *h, &err)) < 0 ||
	    (r = sb_setblocking(run->client, *h, false, &err)) < 0 ||
	    (r = sb_connect_fd(run->client, *h, addr, result, fd, &err)) < 0) {
		if (err.kind == SB_ERR_DENIED)
			fprintf(stderr, "sbrun: connect to %s denied by the daemon's policy (rule \"%s\")\n",
				where, err.rule);
		else
			sbrun_say(run, "connect to %s: %s", where, err.message);
		sb_close(run->client, *h, NULL);
		return -(err.errno_number ? err.errno_number : EACCES);
	}
	return 0;
}

/* A connect the daemon did not hand over (its socket `h`, now closed): its error
 * from the handshake, or EACCES when the policy keeps the socket brokered. */
static int
connect_not_handed_over(struct sbrun *run, sb_handle h, int result, const char *where)
{
	/* A handshake over before the handoff (refused at once, on loopback) left
	 * its error in the daemon's socket. */
	int error = 0;
	if (result == EINPROGRESS &&
	    sb_getsockopt_int(run->client, h, SOL_SOCKET, SO_ERROR, &error, NULL) == 0 &&
	    error != 0)
		result = error;
	sb_close(run->client, h, NULL);
	if (result != 0 && result != EINPROGRESS) {
		sbrun_say(run, "connect to %s: %s", where, strerror(result));
		return -result;
	}
	fprintf(stderr,
		"sbrun: connect to %s: the daemon's policy keeps this socket brokered "
		"(no \"handoff\" rule allows it), and sbrun can only give the program "
		"handed-over sockets\n",
		where);
	return -EACCES;
}

/*
 * connect() of an inet stream socket: the daemon's socket, connected (or
 * connecting), placed at the program's number. Returns the answer, or
 * SBRUN_PARKED (a blocking connect whose handshake is under way).
 */
static int
broker_connect(struct sbrun *run, const struct seccomp_notif *req, int sock, int family,
	       const struct sockaddr_storage *ss, socklen_t len)
{
	int number = (int)req->data.args[0];
	struct sb_addr addr;
	sb_handle h;
	int result, fd, r;
	char where[80];

	if ((r = sbrun_check_address(family, ss, len)) < 0)
		return r;
	int proto = 0;
	socklen_t optlen = sizeof(proto);
	getsockopt(sock, SOL_SOCKET, SO_PROTOCOL, &proto, &optlen);
	/* TCP only: an SCTP association can add peers (and MPTCP subflows) through calls sbrun
	 * does not trap, so its peer would not stay the one the policy judged. EPROTONOSUPPORT,
	 * not EACCES: sbrun cannot carry the protocol, whatever the policy says. */
	if (proto != 0 && proto != IPPROTO_TCP) {
		fprintf(stderr,
			"sbrun: connect: a stream socket of protocol %d is not supported "
			"(only TCP is brokered); use IPPROTO_TCP\n",
			proto);
		return -EPROTONOSUPPORT;
	}
	struct tcp_info info;
	optlen = sizeof(info);
	memset(&info, 0, sizeof(info));
	int status_flags = fcntl(sock, F_GETFL);
	bool nonblocking = status_flags >= 0 && (status_flags & O_NONBLOCK);
	if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &info, &optlen) == 0 &&
	    info.tcpi_state != TCP_CLOSE) {
		if (info.tcpi_state != TCP_SYN_SENT)
			return -EISCONN;
		if (nonblocking)
			return -EALREADY;
		/* A blocking connect restarted after a signal: the kernel waits again. */
		int copy = fcntl(sock, F_DUPFD_CLOEXEC, 3);
		if (copy < 0)
			return -errno;
		sbrun_park(run, PARKED_CONNECT, req, copy);
		return SBRUN_PARKED;
	}

	sbrun_describe(ss, where, sizeof(where));
	if (sbrun_broker_address(ss, &addr) < 0)
		return -EINVAL;
	r = connect_in_broker(run, sock, family, proto, &addr, where, &h, &result, &fd);
	if (r < 0)
		return r;
	if (fd < 0)
		return connect_not_handed_over(run, h, result, where);
	if (!nonblocking && fcntl(fd, F_SETFL, status_flags) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	struct seccomp_notif_addfd addfd = {
		.id = req->id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (uint32_t)fd,
		.newfd = (uint32_t)number,
		.newfd_flags = sbrun_program_cloexec(req->pid, number) ? O_CLOEXEC : 0,
	};
	if (ioctl(run->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	sbrun_say(run, "connect to %s (fd %d): %s, handed over", where, number,
	    result ? strerror(result) : "connected");
	if (result == EINPROGRESS && !nonblocking) {
		sbrun_park(run, PARKED_CONNECT, req, fd);
		return SBRUN_PARKED;
	}
	close(fd);
	return -result;
}

/*
 * connect() of a socket of any other family, made by sbrun on the file it
 * inspected with the address it copied (never a CONTINUE, which a racing
 * thread could point at another file). A relative AF_UNIX path is resolved
 * from the program's working directory.
 */
static int
local_connect(const struct seccomp_notif *req, int sock, struct sockaddr_storage *ss,
	      socklen_t len)
{
	int cwd = -1, r;

	if (ss->ss_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t path_len = len - offsetof(struct sockaddr_un, sun_path);
		if (un->sun_path[0] != '\0' && un->sun_path[0] != '/') {
			char path[64], relative[sizeof(un->sun_path) + 1];
			snprintf(path, sizeof(path), "/proc/%d/cwd", (int)req->pid);
			cwd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (cwd < 0)
				return -errno;
			memcpy(relative, un->sun_path, path_len);
			relative[path_len] = '\0';
			int n = snprintf(un->sun_path, sizeof(un->sun_path), "/proc/self/fd/%d/%s",
					 cwd, relative);
			if (n < 0 || (size_t)n >= sizeof(un->sun_path)) {
				close(cwd);
				return -ENAMETOOLONG;
			}
			len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
		}
	}
	r = connect(sock, (struct sockaddr *)ss, len) < 0 ? -errno : 0;
	if (cwd >= 0)
		close(cwd);
	return r;
}

static int
serve_connect(struct sbrun *run, const struct seccomp_notif *req)
{
	int number = (int)req->data.args[0];
	int addrlen = (int)req->data.args[2];
	struct sockaddr_storage ss;
	int sock, family = 0, type = 0, r;
	socklen_t optlen;
	struct placeholder *ph;

	if (addrlen < 0 || (size_t)addrlen > sizeof(ss))
		return -EINVAL;
	memset(&ss, 0, sizeof(ss));
	if (sbrun_read(req->pid, req->data.args[1], &ss, (size_t)addrlen) < 0)
		return -EFAULT;
	sock = sbrun_program_fd(run, req, number);
	if (sock < 0)
		return sock;
	/* Read before the check: a notification still waiting names the same thread. */
	if (!sbrun_still_waiting(run, req->id)) {
		close(sock);
		return -EINTR;
	}
	optlen = sizeof(family);
	if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &family, &optlen) < 0) {
		r = -errno;
		close(sock);
		return r;
	}
	if (addrlen < (int)sizeof(sa_family_t)) {
		close(sock);
		return -EINVAL;
	}
	optlen = sizeof(type);
	getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &optlen);
	if (family == AF_INET || family == AF_INET6) {
		if (type == SOCK_STREAM)
			r = broker_connect(run, req, sock, family, &ss, (socklen_t)addrlen);
		else if (type == SOCK_DGRAM)
			r = udp_connect(run, req, sock, family, &ss, (socklen_t)addrlen);
		else
			r = -EACCES;
	} else if ((ph = udp_placeholder_of(run, sock)) != NULL) {
		r = udp_reconnect(run, ph, &ss, (socklen_t)addrlen);
	} else {
		r = local_connect(req, sock, &ss, (socklen_t)addrlen);
	}
	close(sock);
	return r;
}

/* bind(): of a host socket (a handed-over TCP socket whose connect failed, or was shut down
 * during its handshake, is unbound again), EINVAL, as the kernel answers for a socket already
 * bound: its port or source address would be held on the host unjudged; of an inet UDP
 * socket, an unconnected placeholder bound in the daemon (sbrun-udp.c); of any other socket,
 * the kernel's (a sandbox socket's bind reaches no network). */
static int
serve_bind(struct sbrun *run, const struct seccomp_notif *req)
{
	int addrlen = (int)req->data.args[2];
	struct sockaddr_storage ss;
	int sock, r;

	if (addrlen < 0 || (size_t)addrlen > sizeof(ss))
		return -EINVAL; /* the kernel's answer */
	memset(&ss, 0, sizeof(ss));
	if (sbrun_read(req->pid, req->data.args[1], &ss, (size_t)addrlen) < 0)
		return -EFAULT;
	sock = sbrun_program_fd(run, req, (int)req->data.args[0]);
	if (sock < 0)
		return sock;
	if (sbrun_host_socket(run, sock)) {
		sbrun_refuse_host_socket(run, "bind", (int)req->data.args[0]);
		close(sock);
		return -EINVAL;
	}
	r = udp_bind(run, req, sock, &ss, (socklen_t)addrlen);
	/* Anything else is bound by sbrun, on the file it inspected: a CONTINUE would let a racing
	 * dup2 put a host socket at the number. Only an address no inet socket takes (AF_UNIX's,
	 * whose relative path and umask are the program's) goes on to the kernel: were a host inet
	 * socket swapped in, its bind would fail (EAFNOSUPPORT). */
	if (r == SBRUN_CONTINUE &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6 || ss.ss_family == AF_UNSPEC))
		r = bind(sock, (struct sockaddr *)&ss, (socklen_t)addrlen) < 0 ? -errno : 0;
	close(sock);
	return r;
}

/* One trapped call, by its number: its answer, or SBRUN_PARKED / SBRUN_ANSWERED. */
static int
dispatch(struct sbrun *run, const struct seccomp_notif *req)
{
	int nr = (int)req->data.nr;
	int r;

	if (nr == __NR_connect)
		return serve_connect(run, req);
	if (nr == __NR_listen || nr == __NR_accept || nr == __NR_accept4)
		return listen_serve(run, req);
	if (nr == __NR_bind)
		return serve_bind(run, req);
	if (nr == __NR_getsockname && (r = listen_serve(run, req)) != SBRUN_CONTINUE)
		return r;
	return udp_serve(run, req);
}

static void
serve_notification(struct sbrun *run, struct seccomp_notif *req)
{
	memset(req, 0, run->sizes.seccomp_notif);
	if (ioctl(run->listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		/* ENOENT: the caller went away before we read it. */
		if (errno != ENOENT && errno != EINTR)
			fprintf(stderr, "sbrun: reading a notification: %s\n", strerror(errno));
		return;
	}
	int r = dispatch(run, req);
	if (r != SBRUN_PARKED && r != SBRUN_ANSWERED)
		answer(run, req->id, r);
}

/* Parked calls whose socket is ready: a connect's handshake ended (answered with SO_ERROR),
 * a recv has a datagram (served again). */
static void
serve_parked(struct sbrun *run, const struct pollfd *fds, size_t n_polled)
{
	size_t kept = 0;

	for (size_t i = 0; i < n_polled; i++) {
		struct parked p = run->parked[i];
		if (fds[i].revents == 0 && sbrun_still_waiting(run, p.id)) {
			run->parked[kept++] = p;
			continue;
		}
		if (p.kind == PARKED_CALL) {
			close(p.fd);
			/* Served again, it may park again: at the end, past n_polled. */
			int r = sbrun_still_waiting(run, p.id) ? dispatch(run, &p.req) : -EINTR;
			if (r != SBRUN_PARKED && r != SBRUN_ANSWERED)
				answer(run, p.id, r);
			continue;
		}
		int error = 0;
		socklen_t len = sizeof(error);
		if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
			error = errno;
		close(p.fd);
		answer(run, p.id, -error);
	}
	/* Those parked since the poll wait for the next. */
	for (size_t i = n_polled; i < run->n_parked; i++)
		run->parked[kept++] = run->parked[i];
	run->n_parked = kept;
}

/* ---- the supervisor ------------------------------------------------------------------------ */

static const int forwarded_signals[] = { SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,  SIGUSR1,
					 SIGUSR2, SIGALRM, SIGCONT, SIGWINCH, SIGTSTP };

static int __attribute__((noreturn))
exit_like(int status)
{
	if (WIFEXITED(status))
		exit(WEXITSTATUS(status));
	int sig = WTERMSIG(status);
	/* Die of the same signal, as a shell would see PROGRAM die (no core: not dumpable). */
	sigset_t mask;
	signal(sig, SIG_DFL);
	sigemptyset(&mask);
	sigaddset(&mask, sig);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	raise(sig);
	exit(128 + sig);
}

static int
supervise(struct sbrun *run, pid_t child, int signals)
{
	struct seccomp_notif *req = calloc(1, run->sizes.seccomp_notif);
	struct pollfd fds[SBRUN_MAX_PARKED + SBRUN_MAX_PLACEHOLDERS + 2];
	bool listener_gone = false;
	int status;

	if (req == NULL) {
		fprintf(stderr, "sbrun: out of memory\n");
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		return EXIT_SBRUN;
	}
	for (;;) {
		size_t n_parked = run->n_parked;
		for (size_t i = 0; i < n_parked; i++)
			fds[i] = (struct pollfd){ .fd = run->parked[i].fd,
						  .events = run->parked[i].kind == PARKED_CALL
								    ? POLLIN
								    : POLLOUT };
		struct pollfd *relay_polls = &fds[n_parked];
		size_t n_relays = udp_poll_fds(run, relay_polls);
		struct pollfd *signal_poll = &fds[n_parked + n_relays];
		struct pollfd *listener_poll = signal_poll + 1;
		*signal_poll = (struct pollfd){ .fd = signals, .events = POLLIN };
		/* Once every task under the filter is gone (POLLHUP) only the exit is awaited. */
		*listener_poll = (struct pollfd){ .fd = listener_gone ? -1 : run->listener,
						  .events = POLLIN };
		/* Parked callers killed meanwhile are noticed at least once a second. */
		int n = poll(fds, n_parked + n_relays + 2, n_parked ? 1000 : -1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "sbrun: poll: %s\n", strerror(errno));
			kill(child, SIGKILL);
		}
		if (n < 0)
			continue;
		/* Parked before this notification adds any (fds holds only those). */
		serve_parked(run, fds, n_parked);
		udp_serve_polled(run, relay_polls, n_relays);
		if (listener_poll->revents & POLLIN)
			serve_notification(run, req);
		else if (listener_poll->revents & (POLLHUP | POLLERR))
			listener_gone = true;
		if (signal_poll->revents & POLLIN) {
			struct signalfd_siginfo info;
			if (read(signals, &info, sizeof(info)) == sizeof(info) &&
			    info.ssi_signo != SIGCHLD)
				kill(child, (int)info.ssi_signo);
			if (waitpid(child, &status, WNOHANG) == child)
				break;
		}
	}
	free(req);
	return status;
}

int
main(int argc, char **argv)
{
	struct options options;
	struct sbrun run;
	char default_url[4096];
	char token[TOKENFILE_BUF_LEN];
	struct sb_client_options client_options = { .client_name = "sbrun/" SOCKBROKER_VERSION };
	struct sb_server_info info;
	struct sb_error err;
	sigset_t mask, old_mask;

	parse_options(&options, argc, argv);
	memset(&run, 0, sizeof(run));
	run.verbose = options.verbose;

	unsigned notify = SECCOMP_RET_USER_NOTIF;
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &notify) < 0) {
		fprintf(stderr,
			"sbrun: this kernel has no seccomp user notification (SECCOMP_RET_USER_NOTIF, "
			"Linux 5.0 or later with CONFIG_SECCOMP_FILTER): %s\n",
			strerror(errno));
		return EXIT_SBRUN;
	}

	client_options.url = options.broker_url != NULL
				     ? options.broker_url
				     : sb_default_url(default_url, sizeof(default_url));
	if (options.token_file != NULL) {
		if (tokenfile_read("sbrun", options.token_file, token, sizeof(token)) < 0)
			return EXIT_SBRUN;
		client_options.token = token;
	}
	int r = sb_client_new_with(&run.client, &client_options, &err);
	explicit_bzero(token, sizeof(token));
	if (r < 0) {
		fprintf(stderr, "sbrun: %s\n", err.message);
		return EXIT_SBRUN;
	}
	sb_client_info(run.client, &info);
	if (!info.handoff) {
		fprintf(stderr,
			"sbrun: the daemon at %s cannot hand sockets over on this connection; "
			"use its ipc:// or abstract:// address\n",
			client_options.url);
		sb_client_free(run.client);
		return EXIT_SBRUN;
	}

	/* Blocked before the fork, so that none is lost; the child restores the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&mask, forwarded_signals[i]);
	sigprocmask(SIG_BLOCK, &mask, &old_mask);
	int signals = signalfd(-1, &mask, SFD_CLOEXEC);
	if (signals < 0) {
		fprintf(stderr, "sbrun: signalfd: %s\n", strerror(errno));
		return EXIT_SBRUN;
	}
	run.sandbox_netns = sandbox_netns_cookie();
	pid_t child = start_program(&run, options.program, &old_mask);
	/* A closed pipe is PROGRAM's business; sbrun never dies of it (set after the fork,
	 * as an ignored signal would stay ignored across exec). */
	signal(SIGPIPE, SIG_IGN);
	/* The program may not ptrace sbrun or read its memory. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sbrun_say(&run, "running %s (pid %d) with %s", options.program[0], (int)child,
	    client_options.url);

	int status = supervise(&run, child, signals);
	for (size_t i = 0; i < run.n_parked; i++)
		close(run.parked[i].fd);
	udp_close_all(&run);
	listen_close_all(&run);
	close(run.listener);
	close(signals);
	sb_client_free(run.client);
	exit_like(status);
}
