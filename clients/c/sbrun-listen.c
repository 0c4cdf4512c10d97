/*
 * sbrun's servers: a TCP socket the program puts in listening mode listens in
 * the daemon instead (bound to the address the program bound, judged by the
 * policy's bind and listen), and the program's descriptor becomes a
 * placeholder: an AF_UNIX listening socket of sbrun's. Listening sockets are
 * never handed over (the policy judges each accepted peer): an acceptor thread
 * per listener accepts in the daemon and takes each connection by handoff
 * (where a handoff rule allows its peer), queues it, and connects once to the
 * placeholder, which makes it readable to the program's poll. The program's
 * accept()/accept4() on the placeholder are answered with a queued connection,
 * placed atomically with SECCOMP_ADDFD_FLAG_SEND (Linux 5.14); its
 * getsockname() with the daemon's address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sbrun.h"

/* Connections accepted in the daemon and not yet by the program, per listener. */
#define MAX_QUEUED 64

struct accepted {
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
};

struct listener {
	ino_t ino;                     /* the program's placeholder */
	struct sockaddr_un name;       /* its abstract address, for the readiness connects */
	socklen_t name_len;
	sb_handle h;                   /* the daemon's listening socket */
	struct sb_client *client;
	struct sockaddr_storage local; /* the daemon's bound address */
	socklen_t local_len;
	pthread_t acceptor;
	bool acceptor_started;
	pthread_mutex_t lock;          /* queue, n_queued */
	struct accepted queue[MAX_QUEUED];
	size_t n_queued;
};

static struct listener *
listener_of(const struct sbrun *run, int sock)
{
	struct stat st;

	if (run->n_listeners == 0 || fstat(sock, &st) < 0)
		return NULL;
	for (size_t i = 0; i < run->n_listeners; i++)
		if (run->listeners[i]->ino == st.st_ino)
			return run->listeners[i];
	return NULL;
}

static socklen_t
sockaddr_of(const struct sb_addr *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (addr->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		inet_pton(AF_INET, addr->host, &in->sin_addr);
		in->sin_port = htons(addr->port);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, addr->host, &in6->sin6_addr);
	in6->sin6_port = htons(addr->port);
	in6->sin6_scope_id = addr->scope_id;
	return sizeof(*in6);
}

/* daemon -> program: accept, take over, queue, and make the placeholder readable. */
static void *
acceptor_main(void *arg)
{
	struct listener *l = arg;
	struct sb_error err;

	for (;;) {
		sb_handle conn;
		struct sb_addr peer;
		int fd;
		if (sb_accept(l->client, l->h, &conn, &peer, &err) < 0) {
			if (err.kind == SB_ERR_OS && (err.errno_number == ECONNABORTED ||
						      err.errno_number == EINTR))
				continue;
			break; /* closed or cancelled (sbrun exits), or the daemon went away */
		}
		if (sb_handoff(l->client, conn, &fd, &err) < 0) {
			fprintf(stderr, "sbrun: a connection from %s is not handed over (%s); closed\n",
				peer.host, err.message);
			sb_close(l->client, conn, NULL);
			continue;
		}
		pthread_mutex_lock(&l->lock);
		if (l->n_queued == MAX_QUEUED) {
			pthread_mutex_unlock(&l->lock);
			close(fd); /* as a full backlog would refuse it */
			continue;
		}
		struct accepted *a = &l->queue[l->n_queued++];
		a->fd = fd;
		a->peer_len = sockaddr_of(&peer, &a->peer);
		pthread_mutex_unlock(&l->lock);
		/* One pending connection on the placeholder per queued one: its readiness. */
		int ready = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (ready >= 0) {
			(void)connect(ready, (struct sockaddr *)&l->name, l->name_len);
			close(ready);
		}
	}
	return NULL;
}

/* Where listen() on `sock` (the program's descriptor `number`) is served: 1 in the daemon (a
 * TCP socket of the sandbox not yet connected), 0 here by sbrun on the file it inspected
 * (anything else listens where it is, reached from the sandbox only: never a CONTINUE, which a
 * racing dup2 could point at a host socket), or -errno to answer. */
static int
listen_where(struct sbrun *run, int sock, int number, int *family_out)
{
	int family = 0, type = 0;
	socklen_t optlen = sizeof(family);

	getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &family, &optlen);
	optlen = sizeof(type);
	getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &optlen);
	bool inet_stream = (family == AF_INET || family == AF_INET6) && type == SOCK_STREAM;
	if (inet_stream && !run->addfd_send) {
		fprintf(stderr, "sbrun: listen on fd %d refused: servers are not supported on this "
				"kernel, which cannot answer accept() with a descriptor "
				"(SECCOMP_ADDFD_FLAG_SEND, Linux 5.14)\n",
			number);
		return -EOPNOTSUPP;
	}
	/* A host socket (handed over, its connect failed or shut down) would listen on the host,
	 * unjudged: EINVAL, as for a connected socket. */
	if (sbrun_host_socket(run, sock)) {
		sbrun_refuse_host_socket(run, "listen", number);
		return -EINVAL;
	}
	struct tcp_info info;
	optlen = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (!inet_stream || getsockopt(sock, IPPROTO_TCP, TCP_INFO, &info, &optlen) < 0 ||
	    info.tcpi_state != TCP_CLOSE)
		return 0;
	*family_out = family;
	return 1;
}

/* Bind and listen the daemon's socket of `l` at `addr`, as `sock` asks (SO_REUSEADDR):
 * 0 or -errno (said on stderr). */
static int
listen_in_broker(struct sbrun *run, struct listener *l, int sock, const struct sb_addr *addr,
		 int backlog, const char *where)
{
	struct sb_error err;
	int reuse = 0;
	socklen_t optlen = sizeof(reuse);

	if ((getsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &reuse, &optlen) == 0 && reuse &&
	     sb_setsockopt_int(run->client, l->h, SOL_SOCKET, SO_REUSEADDR, 1, &err) < 0) ||
	    sb_bind(run->client, l->h, addr, &err) < 0 ||
	    sb_listen(run->client, l->h, backlog, &err) < 0) {
		if (err.kind == SB_ERR_DENIED)
			fprintf(stderr, "sbrun: listen on %s denied by the daemon's policy (rule \"%s\")\n",
				where, err.rule);
		else
			sbrun_say(run, "listen on %s: %s", where, err.message);
		return -(err.errno_number ? err.errno_number : EACCES);
	}
	struct sb_addr local;
	if (sb_getsockname(run->client, l->h, &local, &err) == 0)
		l->local_len = sockaddr_of(&local, &l->local);
	return 0;
}

/* The placeholder of `l`: a Unix socket listening on an abstract name no one else
 * is told, put in the program's descriptor `number` in place of its socket. 0 or
 * -errno. */
static int
install_placeholder(struct sbrun *run, const struct seccomp_notif *req, struct listener *l,
		    int sock, int number)
{
	int placeholder = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (placeholder < 0)
		return -errno;
	static unsigned serial;
	l->name.sun_family = AF_UNIX;
	int n = snprintf(l->name.sun_path + 1, sizeof(l->name.sun_path) - 1, "sbrun-%d-%u",
			 (int)getpid(), serial++);
	l->name_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	int status_flags = fcntl(sock, F_GETFL);
	struct stat st;
	if (bind(placeholder, (struct sockaddr *)&l->name, l->name_len) < 0 ||
	    listen(placeholder, MAX_QUEUED) < 0 || fstat(placeholder, &st) < 0 ||
	    (status_flags >= 0 && (status_flags & O_NONBLOCK) &&
	     fcntl(placeholder, F_SETFL, O_NONBLOCK) < 0)) {
		int r = -errno;
		close(placeholder);
		return r;
	}
	l->ino = st.st_ino;
	struct seccomp_notif_addfd addfd = {
		.id = req->id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (uint32_t)placeholder,
		.newfd = (uint32_t)number,
		.newfd_flags = sbrun_program_cloexec(req->pid, number) ? O_CLOEXEC : 0,
	};
	int r = ioctl(run->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0 ? -errno : 0;
	close(placeholder);
	return r;
}

static int
serve_listen(struct sbrun *run, const struct seccomp_notif *req, int sock)
{
	int number = (int)req->data.args[0];
	int backlog = (int)req->data.args[1];
	int family = 0;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	struct sb_error err;
	struct sb_addr addr;
	char where[80];
	int r;

	r = listen_where(run, sock, number, &family);
	if (r <= 0)
		return r < 0 ? r : (listen(sock, backlog) < 0 ? -errno : 0);
	if (run->n_listeners == SBRUN_MAX_PLACEHOLDERS)
		return -EMFILE;
	memset(&bound, 0, sizeof(bound));
	if (getsockname(sock, (struct sockaddr *)&bound, &bound_len) < 0)
		return -errno;
	sbrun_describe(&bound, where, sizeof(where));
	if (sbrun_broker_address(&bound, &addr) < 0)
		return -EINVAL;

	struct listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->client = run->client;
	pthread_mutex_init(&l->lock, NULL);
	if (sb_socket(run->client, family, SOCK_STREAM, 0, &l->h, &err) < 0) {
		r = -(err.errno_number ? err.errno_number : EACCES);
		goto err_free;
	}
	r = listen_in_broker(run, l, sock, &addr, backlog, where);
	if (r < 0)
		goto err_handle;
	r = install_placeholder(run, req, l, sock, number);
	if (r < 0)
		goto err_handle;
	l->acceptor_started = pthread_create(&l->acceptor, NULL, acceptor_main, l) == 0;
	run->listeners[run->n_listeners++] = l;
	if (!l->acceptor_started)
		return -ENOMEM;
	sbrun_describe(&l->local, where, sizeof(where));
	sbrun_say(run, "listening on %s (fd %d) in the daemon", where, number);
	return 0;

err_handle:
	sb_close(run->client, l->h, NULL);
err_free:
	pthread_mutex_destroy(&l->lock);
	free(l);
	return r;
}

/* accept()/accept4() on a placeholder: a queued connection, or EAGAIN, or parked. */
static int
serve_accept(struct sbrun *run, const struct seccomp_notif *req, struct listener *l, int *sock)
{
	int flags = req->data.nr == __NR_accept4 ? (int)req->data.args[3] : 0;
	struct accepted a;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	/* One readiness connection drained per connection taken (it may come later). */
	int ready = accept4(*sock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (ready >= 0)
		close(ready);
	pthread_mutex_lock(&l->lock);
	bool have = l->n_queued > 0;
	if (have) {
		a = l->queue[0];
		memmove(&l->queue[0], &l->queue[1], (l->n_queued - 1) * sizeof(l->queue[0]));
		l->n_queued--;
	}
	pthread_mutex_unlock(&l->lock);
	if (!have) {
		int status_flags = fcntl(*sock, F_GETFL);
		if (status_flags >= 0 && (status_flags & O_NONBLOCK))
			return -EAGAIN;
		sbrun_park(run, PARKED_CALL, req, *sock);
		*sock = -1;
		return SBRUN_PARKED;
	}
	if (!(flags & SOCK_NONBLOCK))
		fcntl(a.fd, F_SETFL, fcntl(a.fd, F_GETFL) & ~O_NONBLOCK);
	/* The peer's address, as the kernel writes it: truncated to the room, full length back. */
	uint64_t addr_at = req->data.args[1], len_at = req->data.args[2];
	if (addr_at != 0 && len_at != 0) {
		socklen_t room;
		if (sbrun_read(req->pid, len_at, &room, sizeof(room)) < 0 || (int)room < 0) {
			close(a.fd);
			return -EFAULT;
		}
		if (sbrun_write(req->pid, addr_at, &a.peer, room < a.peer_len ? room : a.peer_len) <
			    0 ||
		    sbrun_write(req->pid, len_at, &a.peer_len, sizeof(a.peer_len)) < 0) {
			close(a.fd);
			return -EFAULT;
		}
	}
	struct seccomp_notif_addfd addfd = {
		.id = req->id,
		.flags = SECCOMP_ADDFD_FLAG_SEND,
		.srcfd = (uint32_t)a.fd,
		.newfd_flags = (flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0,
	};
	/* Placed and answered at once: the new number is accept's result. */
	int r = ioctl(run->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
	int saved = errno;
	close(a.fd);
	if (r < 0)
		return saved == EINVAL ? -EOPNOTSUPP : -saved;
	char where[80];
	sbrun_describe(&a.peer, where, sizeof(where));
	sbrun_say(run, "accepted %s (fd %d)", where, r);
	return SBRUN_ANSWERED;
}

int
listen_serve(struct sbrun *run, const struct seccomp_notif *req)
{
	int nr = (int)req->data.nr;
	int sock = sbrun_program_fd(run, req, (int)req->data.args[0]);
	int r;

	/* An accept let through acts on whatever the number holds by then; harmless, as no socket
	 * the daemon handed over listens (sbrun refuses those listens): the kernel answers EINVAL,
	 * or accepts in the sandbox (or on a listening socket the program inherited). */
	if (sock < 0)
		return nr == __NR_listen ? sock : SBRUN_CONTINUE;
	struct listener *l = listener_of(run, sock);
	if (nr == __NR_listen)
		r = l != NULL ? (listen(sock, (int)req->data.args[1]) < 0 ? -errno : 0)
			      : serve_listen(run, req, sock);
	else if (l == NULL)
		r = SBRUN_CONTINUE;
	else if (nr == __NR_getsockname) {
		socklen_t room;
		r = 0;
		if (sbrun_read(req->pid, req->data.args[2], &room, sizeof(room)) < 0 ||
		    (int)room < 0 ||
		    sbrun_write(req->pid, req->data.args[1], &l->local,
				room < l->local_len ? room : l->local_len) < 0 ||
		    sbrun_write(req->pid, req->data.args[2], &l->local_len, sizeof(l->local_len)) < 0)
			r = -EFAULT;
	} else {
		r = serve_accept(run, req, l, &sock);
	}
	if (sock >= 0)
		close(sock);
	return r;
}

void
listen_close_all(struct sbrun *run)
{
	for (size_t i = 0; i < run->n_listeners; i++) {
		struct listener *l = run->listeners[i];
		sb_cancel_handle(run->client, l->h, NULL, NULL);
		sb_close(run->client, l->h, NULL);
		if (l->acceptor_started)
			pthread_join(l->acceptor, NULL);
		for (size_t j = 0; j < l->n_queued; j++)
			close(l->queue[j].fd);
		pthread_mutex_destroy(&l->lock);
		free(l);
	}
	run->n_listeners = 0;
}
