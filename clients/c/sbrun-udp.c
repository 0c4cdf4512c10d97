/*
 * sbrun's UDP: a UDP socket the program connects becomes a placeholder (sbrun.h
 * says why): the program keeps a descriptor at its number that reaches only
 * sbrun, and sbrun relays its datagrams to a connected UDP socket in the daemon,
 * whose policy judged the destination (and judges every sendto with an
 * address). What the program sends without an address reaches sbrun's end of
 * the pair and goes out with sb_send(); a relay thread per placeholder waits
 * in sb_recv() and writes what arrives to sbrun's end, where the program reads
 * it. The program's recvfrom/recvmsg with an address, getpeername and
 * getsockname are answered by sbrun with the UDP peer's address, as the
 * kernel would.
 *
 * A UDP socket the program never connects becomes an unconnected placeholder
 * on its first sendto/sendmsg with an address, or its bind() to an inet
 * address (a server): each datagram out goes with sb_sendto() and the address
 * sbrun copied (the daemon judges each); each datagram in is relayed with its
 * source address kept in a ring beside the pair, in the order the datagrams
 * wait there, and the program's recvfrom/recvmsg/recvmmsg are answered with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbrun.h"

/* A limit of the kernel's (UIO_MAXIOV) that sendmsg and recvmsg keep. */
#define MAX_IOV 1024

struct placeholder *
udp_placeholder_of(struct sbrun *run, int sock)
{
	struct stat st;

	if (run->n_placeholders == 0 || fstat(sock, &st) < 0)
		return NULL;
	for (size_t i = 0; i < run->n_placeholders; i++)
		if (run->placeholders[i]->ino == st.st_ino)
			return run->placeholders[i];
	return NULL;
}

/* What a relay thread works with (it frees it). */
struct relay {
	struct sb_client *client;
	struct placeholder *ph;
};

/* An unconnected placeholder's next datagram came from `from`: kept for the program's recvfrom,
 * unless the ring is full. Under ph->lock. */
static bool
push_source(struct placeholder *ph, const struct sb_addr *from, size_t size)
{
	struct sockaddr_storage ss;

	if (ph->n_sources == SBRUN_MAX_SOURCES)
		return false;
	struct source *source = &ph->sources[(ph->first + ph->n_sources) % SBRUN_MAX_SOURCES];
	source->len = sbrun_kernel_address(from, &ss);
	if (source->len > sizeof(source->addr))
		source->len = 0;
	memcpy(&source->addr, &ss, source->len);
	source->size = size;
	ph->n_sources++;
	return true;
}

/* daemon -> program: each datagram the daemon's socket receives, to sbrun's end. */
static void *
relay_in(void *arg)
{
	struct relay *relay = arg;
	struct placeholder *ph = relay->ph;
	uint8_t *buf = malloc(SBRUN_MAX_DATAGRAM);
	struct sb_error err;
	struct sb_addr from;

	while (buf != NULL) {
		pthread_mutex_lock(&ph->lock);
		bool connected = ph->connected;
		pthread_mutex_unlock(&ph->lock);
		/* A connected socket's datagrams all come from its peer. */
		ssize_t n = connected ? sb_recv(relay->client, ph->h, buf, SBRUN_MAX_DATAGRAM, 0, &err)
				      : sb_recvfrom(relay->client, ph->h, buf, SBRUN_MAX_DATAGRAM, 0,
						    &from, &err);
		if (n < 0)
			break; /* closed (the program closed its end), or the daemon went away */
		pthread_mutex_lock(&ph->lock);
		bool sourced = !ph->connected;
		/* A full receive queue (or ring) drops the datagram, as UDP would. */
		if ((!sourced || push_source(ph, &from, (size_t)n)) &&
		    send(ph->mine, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && sourced)
			ph->n_sources--;
		pthread_mutex_unlock(&ph->lock);
	}
	free(buf);
	free(relay);
	return NULL;
}

/* The source of the datagram of `size` the program reads now (peek: leaving it for the next
 * read). Datagrams read without an address (read(2), which sbrun does not see) left theirs
 * behind: those whose size differs are skipped. *len is 0 when none is known. */
static void
take_source(struct placeholder *ph, size_t size, bool peek, struct sockaddr_storage *ss,
	    socklen_t *len)
{
	pthread_mutex_lock(&ph->lock);
	*len = 0;
	if (ph->connected) {
		memcpy(ss, &ph->peer, sizeof(*ss));
		*len = ph->peer_len;
	}
	while (!ph->connected && ph->n_sources > 0) {
		const struct source *source = &ph->sources[ph->first];
		bool match = source->size == size;
		if (match) {
			memcpy(ss, &source->addr, source->len);
			*len = source->len;
		}
		if (match && peek)
			break;
		ph->first = (ph->first + 1) % SBRUN_MAX_SOURCES;
		ph->n_sources--;
		if (match)
			break;
	}
	pthread_mutex_unlock(&ph->lock);
}

static void
placeholder_free(struct sbrun *run, struct placeholder *ph)
{
	/* Cancelling ends the relay thread's sb_recv(). */
	sb_cancel_handle(run->client, ph->h, NULL, NULL);
	sb_close(run->client, ph->h, NULL);
	if (ph->reader_started)
		pthread_join(ph->reader, NULL);
	close(ph->mine);
	pthread_mutex_destroy(&ph->lock);
	free(ph);
}

static int
daemon_connect(struct sbrun *run, sb_handle h, const struct sockaddr_storage *ss, const char *where)
{
	struct sb_addr addr;
	struct sb_error err;

	if (sbrun_broker_address(ss, &addr) < 0)
		return -EINVAL;
	if (sb_connect(run->client, h, &addr, &err) < 0) {
		if (err.kind == SB_ERR_DENIED)
			fprintf(stderr,
				"sbrun: UDP connect to %s denied by the daemon's policy (rule \"%s\")\n",
				where, err.rule);
		return -(err.errno_number ? err.errno_number : EACCES);
	}
	return 0;
}

static void
set_peer(struct placeholder *ph, const struct sockaddr_storage *ss)
{
	pthread_mutex_lock(&ph->lock);
	memcpy(&ph->peer, ss, sizeof(ph->peer));
	ph->peer_len = ph->family == AF_INET ? sizeof(struct sockaddr_in)
					     : sizeof(struct sockaddr_in6);
	ph->connected = true;
	ph->n_sources = 0;
	pthread_mutex_unlock(&ph->lock);
}

int
udp_reconnect(struct sbrun *run, struct placeholder *ph, const struct sockaddr_storage *ss,
	      socklen_t len)
{
	char where[80];
	int r = sbrun_check_address(ph->family, ss, len);

	if (r < 0)
		return r;
	sbrun_describe(ss, where, sizeof(where));
	if ((r = daemon_connect(run, ph->h, ss, where)) < 0)
		return r;
	set_peer(ph, ss);
	sbrun_say(run, "UDP connect to %s: relayed", where);
	return 0;
}

/* A placeholder for the program's UDP socket `sock`, with its daemon socket (the options the
 * program set copied), not yet in the program's hands; 0 or a negative errno. */
static int
placeholder_new(struct sbrun *run, int sock, int family, struct placeholder **out)
{
	struct sb_error err;
	int proto = 0, r;
	socklen_t optlen = sizeof(proto);

	if (run->n_placeholders == SBRUN_MAX_PLACEHOLDERS)
		return -EMFILE;
	getsockopt(sock, SOL_SOCKET, SO_PROTOCOL, &proto, &optlen);
	struct placeholder *ph = calloc(1, sizeof(*ph));
	if (ph == NULL)
		return -ENOMEM;
	ph->mine = -1;
	ph->family = family;
	if (sb_socket(run->client, family, SOCK_DGRAM, proto, &ph->h, &err) < 0) {
		r = -(err.errno_number ? err.errno_number : EACCES);
		free(ph);
		return r;
	}
	sbrun_copy_options(run, sock, family, SOCK_DGRAM, ph->h, &err);
	pthread_mutex_init(&ph->lock, NULL);
	*out = ph;
	return 0;
}

static void
placeholder_discard(struct sbrun *run, struct placeholder *ph)
{
	sb_close(run->client, ph->h, NULL);
	pthread_mutex_destroy(&ph->lock);
	free(ph);
}

/* Put `ph` at the program's number (its socket `sock`), and start relaying; on failure before
 * the swap, `ph` is discarded. */
static int
placeholder_install(struct sbrun *run, const struct seccomp_notif *req, int sock,
		    struct placeholder *ph, const char *where)
{
	int number = (int)req->data.args[0];
	int pair[2] = { -1, -1 };
	int r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		r = -errno;
		placeholder_discard(run, ph);
		return r;
	}
	/* The program's blocking mode and close-on-exec flag stay as they were. */
	int status_flags = fcntl(sock, F_GETFL);
	int fd_flags = sbrun_program_cloexec(req->pid, number) ? O_CLOEXEC : 0;
	if (status_flags >= 0 && (status_flags & O_NONBLOCK))
		fcntl(pair[1], F_SETFL, O_NONBLOCK);
	struct stat st;
	struct seccomp_notif_addfd addfd = {
		.id = req->id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (uint32_t)pair[1],
		.newfd = (uint32_t)number,
		.newfd_flags = (uint32_t)fd_flags,
	};
	if (fstat(pair[1], &st) < 0 || ioctl(run->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0) {
		r = -errno;
		close(pair[0]);
		close(pair[1]);
		placeholder_discard(run, ph);
		return r;
	}
	close(pair[1]);
	ph->ino = st.st_ino;
	ph->mine = pair[0];
	struct relay *relay = malloc(sizeof(*relay));
	if (relay != NULL) {
		relay->client = run->client;
		relay->ph = ph;
		ph->reader_started = pthread_create(&ph->reader, NULL, relay_in, relay) == 0;
		if (!ph->reader_started)
			free(relay);
	}
	run->placeholders[run->n_placeholders++] = ph;
	if (!ph->reader_started) {
		fprintf(stderr, "sbrun: no thread to relay UDP from %s\n", where);
		return -ENOMEM;
	}
	return 0;
}

int
udp_connect(struct sbrun *run, const struct seccomp_notif *req, int sock, int family,
	    const struct sockaddr_storage *ss, socklen_t len)
{
	struct placeholder *ph;
	char where[80];
	int r;

	if ((r = sbrun_check_address(family, ss, len)) < 0)
		return r;
	sbrun_describe(ss, where, sizeof(where));
	if ((r = placeholder_new(run, sock, family, &ph)) < 0)
		return r;
	if ((r = daemon_connect(run, ph->h, ss, where)) < 0) {
		placeholder_discard(run, ph);
		return r;
	}
	set_peer(ph, ss);
	if ((r = placeholder_install(run, req, sock, ph, where)) < 0)
		return r;
	sbrun_say(run, "UDP connect to %s (fd %d): relayed", where, (int)req->data.args[0]);
	return 0;
}

/* The family of the program's socket `sock` if it is an inet UDP (datagram) socket, else 0. */
static int
inet_dgram_family(int sock)
{
	int family = 0, type = 0;
	socklen_t len = sizeof(family);

	if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0 ||
	    (family != AF_INET && family != AF_INET6))
		return 0;
	len = sizeof(type);
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_DGRAM)
		return 0;
	return family;
}

int
udp_bind(struct sbrun *run, const struct seccomp_notif *req, int sock,
	 const struct sockaddr_storage *ss, socklen_t len)
{
	int family = inet_dgram_family(sock);
	struct placeholder *ph;
	struct sb_addr addr;
	struct sb_error err;
	char where[80];
	int r;

	if (family == 0)
		return SBRUN_CONTINUE;
	if ((r = sbrun_check_address(family, ss, len)) < 0)
		return r;
	if (sbrun_broker_address(ss, &addr) < 0)
		return -EINVAL;
	sbrun_describe(ss, where, sizeof(where));
	if ((r = placeholder_new(run, sock, family, &ph)) < 0)
		return r;
	if (sb_bind(run->client, ph->h, &addr, &err) < 0) {
		if (err.kind == SB_ERR_DENIED)
			fprintf(stderr,
				"sbrun: UDP bind to %s denied by the daemon's policy (rule \"%s\")\n",
				where, err.rule);
		else
			sbrun_say(run, "UDP bind to %s: %s", where, err.message);
		placeholder_discard(run, ph);
		return -(err.errno_number ? err.errno_number : EACCES);
	}
	if ((r = placeholder_install(run, req, sock, ph, where)) < 0)
		return r;
	sbrun_say(run, "UDP bind to %s (fd %d): relayed", where, (int)req->data.args[0]);
	return 0;
}

/* The first send with an address of a UDP socket never connected nor bound: an unconnected
 * placeholder (NULL, with the answer in *r, if not). */
static struct placeholder *
udp_unconnected(struct sbrun *run, const struct seccomp_notif *req, int sock,
		const struct sockaddr_storage *ss, socklen_t len, int *r)
{
	int family = inet_dgram_family(sock);
	struct placeholder *ph;

	if (family == 0) {
		*r = SBRUN_CONTINUE;
		return NULL;
	}
	if ((*r = sbrun_check_address(family, ss, len)) < 0 ||
	    (*r = placeholder_new(run, sock, family, &ph)) < 0 ||
	    (*r = placeholder_install(run, req, sock, ph, "an unconnected socket")) < 0)
		return NULL;
	sbrun_say(run, "UDP socket (fd %d), unconnected: relayed", (int)req->data.args[0]);
	return ph;
}

/* ---- sends with an address --------------------------------------------------------------- */

static int
sendto_daemon(struct sbrun *run, struct placeholder *ph, const void *data, size_t len, int flags,
	      const struct sockaddr_storage *ss, socklen_t ss_len)
{
	struct sb_addr addr;
	struct sb_error err;
	char where[80];
	int r = sbrun_check_address(ph->family, ss, ss_len);

	if (r < 0)
		return r;
	if (sbrun_broker_address(ss, &addr) < 0)
		return -EINVAL;
	ssize_t n = sb_sendto(run->client, ph->h, data, len, flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL),
			      &addr, &err);
	if (n < 0) {
		sbrun_describe(ss, where, sizeof(where));
		if (err.kind == SB_ERR_DENIED)
			fprintf(stderr,
				"sbrun: UDP sendto %s denied by the daemon's policy (rule \"%s\")\n",
				where, err.rule);
		return -(err.errno_number ? err.errno_number : EACCES);
	}
	return (int)n;
}

static int
serve_sendto(struct sbrun *run, const struct seccomp_notif *req, int sock, struct placeholder *ph)
{
	size_t len = (size_t)req->data.args[2];
	int flags = (int)req->data.args[3];
	socklen_t addr_len = (socklen_t)req->data.args[5];
	struct sockaddr_storage ss;
	uint8_t *data;

	if (ph == NULL && inet_dgram_family(sock) == 0)
		return SBRUN_CONTINUE;
	if (len > SBRUN_MAX_DATAGRAM)
		return -EMSGSIZE;
	if (addr_len > sizeof(ss))
		return -EINVAL;
	memset(&ss, 0, sizeof(ss));
	data = malloc(len ? len : 1);
	if (data == NULL)
		return -ENOMEM;
	int r = sbrun_read(req->pid, req->data.args[1], data, len);
	if (r == 0)
		r = sbrun_read(req->pid, req->data.args[4], &ss, addr_len);
	if (r == 0 && ph == NULL)
		ph = udp_unconnected(run, req, sock, &ss, addr_len, &r);
	if (r == 0)
		r = sendto_daemon(run, ph, data, len, flags, &ss, addr_len);
	free(data);
	return r;
}

static int
read_iov(pid_t tid, const struct msghdr *msg, struct iovec *iov, size_t *total)
{
	if (msg->msg_iovlen > MAX_IOV)
		return -EMSGSIZE;
	if (msg->msg_iovlen &&
	    sbrun_read(tid, (uint64_t)(uintptr_t)msg->msg_iov, iov, msg->msg_iovlen * sizeof(*iov)) < 0)
		return -EFAULT;
	*total = 0;
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		*total += iov[i].iov_len;
	return 0;
}

static int
serve_sendmsg(struct sbrun *run, const struct seccomp_notif *req, int sock, struct placeholder *ph)
{
	struct msghdr msg;
	struct sockaddr_storage ss;
	size_t total;
	int r;

	if (sbrun_read(req->pid, req->data.args[1], &msg, sizeof(msg)) < 0)
		return -EFAULT;
	/* Without an address it goes to the connected peer, through sbrun's end. */
	if (msg.msg_name == NULL || msg.msg_namelen == 0 ||
	    (ph == NULL && inet_dgram_family(sock) == 0))
		return SBRUN_CONTINUE;
	if (msg.msg_namelen > sizeof(ss))
		return -EINVAL;
	struct iovec *iov = calloc(MAX_IOV, sizeof(*iov));
	if (iov == NULL)
		return -ENOMEM;
	memset(&ss, 0, sizeof(ss));
	if ((r = read_iov(req->pid, &msg, iov, &total)) < 0 ||
	    (r = sbrun_read(req->pid, (uint64_t)(uintptr_t)msg.msg_name, &ss, msg.msg_namelen)) < 0)
		goto out;
	if (total > SBRUN_MAX_DATAGRAM) {
		r = -EMSGSIZE;
		goto out;
	}
	uint8_t *data = malloc(total ? total : 1);
	if (data == NULL) {
		r = -ENOMEM;
		goto out;
	}
	size_t at = 0;
	for (size_t i = 0; i < msg.msg_iovlen && r == 0; i++) {
		r = sbrun_read(req->pid, (uint64_t)(uintptr_t)iov[i].iov_base, data + at,
			       iov[i].iov_len);
		at += iov[i].iov_len;
	}
	if (r == 0 && ph == NULL)
		ph = udp_unconnected(run, req, sock, &ss, msg.msg_namelen, &r);
	if (r == 0)
		r = sendto_daemon(run, ph, data, total, (int)req->data.args[2], &ss,
				  msg.msg_namelen);
	free(data);
out:
	free(iov);
	return r;
}

/* ---- receives with an address, and the names ---------------------------------------------- */

/* Write the address (ss, ss_len) to the program's (addr, *addr_len) as the kernel does:
 * truncated to the room given, the full length written back. */
static int
write_address(pid_t tid, const struct sockaddr_storage *ss, socklen_t ss_len, uint64_t addr,
	      uint64_t addr_len_at)
{
	socklen_t room;

	if (addr == 0 || addr_len_at == 0)
		return 0;
	if (sbrun_read(tid, addr_len_at, &room, sizeof(room)) < 0)
		return -EFAULT;
	if ((int)room < 0)
		return -EINVAL;
	size_t n = room < ss_len ? room : ss_len;
	if (sbrun_write(tid, addr, ss, n) < 0 ||
	    sbrun_write(tid, addr_len_at, &ss_len, sizeof(ss_len)) < 0)
		return -EFAULT;
	return 0;
}

/* The `copied` bytes received into the program's buffers `iov` (of `msg`). 0 or
 * -EFAULT. */
static int
write_received(pid_t pid, const struct msghdr *msg, const struct iovec *iov,
	       const uint8_t *data, size_t copied)
{
	size_t at = 0;
	for (size_t i = 0; i < msg->msg_iovlen && at < copied; i++) {
		size_t part = iov[i].iov_len < copied - at ? iov[i].iov_len : copied - at;
		if (sbrun_write(pid, (uint64_t)(uintptr_t)iov[i].iov_base, data + at, part) < 0)
			return -EFAULT;
		at += part;
	}
	return 0;
}

/* recvmsg/recvmmsg: the sender's address, the lengths and flags written back into
 * the program's msghdr at `msg_at` (`n` bytes received, `copied` of them kept). 0 or
 * -EFAULT. */
static int
write_msghdr_back(const struct seccomp_notif *req, uint64_t msg_at, const struct msghdr *msg,
		  const struct sockaddr_storage *from, socklen_t from_len, ssize_t n,
		  size_t copied)
{
	socklen_t name_len = 0;
	if (msg->msg_name != NULL) {
		name_len = msg->msg_namelen < from_len ? msg->msg_namelen : from_len;
		if (sbrun_write(req->pid, (uint64_t)(uintptr_t)msg->msg_name, from,
				name_len) < 0)
			return -EFAULT;
		name_len = from_len;
	}
	int msg_flags = (size_t)n > copied ? MSG_TRUNC : 0;
	size_t control_len = 0;
	int r = 0;
	if (sbrun_write(req->pid, msg_at + offsetof(struct msghdr, msg_namelen), &name_len,
			sizeof(name_len)) < 0 ||
	    sbrun_write(req->pid, msg_at + offsetof(struct msghdr, msg_controllen),
			&control_len, sizeof(control_len)) < 0 ||
	    sbrun_write(req->pid, msg_at + offsetof(struct msghdr, msg_flags), &msg_flags,
			sizeof(msg_flags)) < 0)
		r = -EFAULT;
	unsigned msg_len = (unsigned)copied;
	if (r == 0 && req->data.nr == __NR_recvmmsg &&
	    sbrun_write(req->pid, msg_at + offsetof(struct mmsghdr, msg_len), &msg_len,
			sizeof(msg_len)) < 0)
		r = -EFAULT;
	return r;
}

/* One datagram from the program's end (sbrun's copy `sock`) into the program's buffers. */
static int
serve_recv(struct sbrun *run, const struct seccomp_notif *req, struct placeholder *ph, int *sock)
{
	int nr = (int)req->data.nr;
	uint64_t msg_at = req->data.args[1];
	struct msghdr msg;
	struct iovec one;
	int flags;
	int r;

	memset(&msg, 0, sizeof(msg));
	if (nr == __NR_recvfrom) {
		one = (struct iovec){ .iov_base = (void *)(uintptr_t)req->data.args[1],
				      .iov_len = (size_t)req->data.args[2] };
		flags = (int)req->data.args[3];
	} else {
		/* recvmmsg: its first message only (then it returns 1). */
		if (sbrun_read(req->pid, msg_at, &msg, sizeof(msg)) < 0)
			return -EFAULT;
		flags = (int)(nr == __NR_recvmsg ? req->data.args[2] : req->data.args[3]);
	}
	struct iovec *iov = calloc(MAX_IOV, sizeof(*iov));
	uint8_t *data = malloc(SBRUN_MAX_DATAGRAM);
	size_t total = one.iov_len;
	if (iov == NULL || data == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (nr == __NR_recvfrom) {
		iov[0] = one;
		msg.msg_iovlen = 1;
	} else if ((r = read_iov(req->pid, &msg, iov, &total)) < 0) {
		goto out;
	}
	size_t room = total < SBRUN_MAX_DATAGRAM ? total : SBRUN_MAX_DATAGRAM;
	ssize_t n = recv(*sock, data, room, MSG_DONTWAIT | MSG_TRUNC | (flags & MSG_PEEK));
	if (n < 0) {
		r = -errno;
		int status_flags = fcntl(*sock, F_GETFL);
		if (r == -EAGAIN && !(flags & MSG_DONTWAIT) && status_flags >= 0 &&
		    !(status_flags & O_NONBLOCK)) {
			sbrun_park(run, PARKED_CALL, req, *sock);
			*sock = -1;
			r = SBRUN_PARKED;
		}
		goto out;
	}
	size_t copied = (size_t)n < room ? (size_t)n : room;
	struct sockaddr_storage from;
	socklen_t from_len;
	take_source(ph, (size_t)n, (flags & MSG_PEEK) != 0, &from, &from_len);
	r = write_received(req->pid, &msg, iov, data, copied);
	if (r < 0)
		goto out;
	if (nr == __NR_recvfrom)
		r = write_address(req->pid, &from, from_len, req->data.args[4], req->data.args[5]);
	else
		r = write_msghdr_back(req, msg_at, &msg, &from, from_len, n, copied);
	if (r == 0)
		r = nr == __NR_recvmmsg ? 1 : (int)((flags & MSG_TRUNC) ? (size_t)n : copied);
out:
	free(iov);
	free(data);
	return r;
}

static int
serve_name(struct sbrun *run, const struct seccomp_notif *req, struct placeholder *ph)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (req->data.nr == __NR_getpeername) {
		pthread_mutex_lock(&ph->lock);
		bool connected = ph->connected;
		memcpy(&ss, &ph->peer, sizeof(ss));
		len = ph->peer_len;
		pthread_mutex_unlock(&ph->lock);
		if (!connected)
			return -ENOTCONN;
		return write_address(req->pid, &ss, len, req->data.args[1], req->data.args[2]);
	}
	/* The daemon's socket's own address. */
	struct sb_addr local;
	len = 0;
	if (sb_getsockname(run->client, ph->h, &local, NULL) == 0)
		len = sbrun_kernel_address(&local, &ss);
	if (len == 0) {
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)ph->family;
		len = ph->family == AF_INET ? sizeof(struct sockaddr_in)
					    : sizeof(struct sockaddr_in6);
	}
	return write_address(req->pid, &ss, len, req->data.args[1], req->data.args[2]);
}

int
udp_serve(struct sbrun *run, const struct seccomp_notif *req)
{
	int nr = (int)req->data.nr;
	int sock = sbrun_program_fd(run, req, (int)req->data.args[0]);
	int r;

	/* Not a socket, or gone: the kernel's own answer. */
	if (sock < 0)
		return SBRUN_CONTINUE;
	struct placeholder *ph = udp_placeholder_of(run, sock);
	if (nr == __NR_sendto)
		r = serve_sendto(run, req, sock, ph);
	else if (nr == __NR_sendmsg)
		r = serve_sendmsg(run, req, sock, ph);
	else if (ph == NULL)
		r = SBRUN_CONTINUE;
	else if (nr == __NR_getsockname || nr == __NR_getpeername)
		r = serve_name(run, req, ph);
	else
		r = serve_recv(run, req, ph, &sock);
	if (sock >= 0)
		close(sock);
	return r;
}

/* ---- the relay's program -> daemon side --------------------------------------------------- */

size_t
udp_poll_fds(const struct sbrun *run, struct pollfd *fds)
{
	for (size_t i = 0; i < run->n_placeholders; i++)
		fds[i] = (struct pollfd){ .fd = run->placeholders[i]->mine, .events = POLLIN };
	return run->n_placeholders;
}

void
udp_serve_polled(struct sbrun *run, const struct pollfd *fds, size_t n)
{
	uint8_t *data = NULL;
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct placeholder *ph = run->placeholders[i];
		bool hangup = (fds[i].revents & (POLLHUP | POLLERR)) != 0;
		ssize_t len = -1;
		if (fds[i].revents & POLLIN) {
			if (data == NULL)
				data = malloc(SBRUN_MAX_DATAGRAM);
			len = data ? recv(ph->mine, data, SBRUN_MAX_DATAGRAM, MSG_DONTWAIT) : -1;
			struct sb_error err;
			/* Past the program's close, an empty read is the end (POLLIN stays set),
			 * not an empty datagram. */
			if ((len > 0 || (len == 0 && !hangup)) &&
			    sb_send(run->client, ph->h, data, (size_t)len, 0, &err) < 0)
				sbrun_say(run, "UDP send: %s", err.message);
		}
		if (hangup && len <= 0) {
			placeholder_free(run, ph);
			continue;
		}
		run->placeholders[kept++] = ph;
	}
	/* Those added since the poll wait for the next. */
	for (size_t i = n; i < run->n_placeholders; i++)
		run->placeholders[kept++] = run->placeholders[i];
	run->n_placeholders = kept;
	free(data);
}

void
udp_close_all(struct sbrun *run)
{
	for (size_t i = 0; i < run->n_placeholders; i++)
		placeholder_free(run, run->placeholders[i]);
	run->n_placeholders = 0;
}
