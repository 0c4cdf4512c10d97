#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include "hex.h"
#include "internal.h"
#include "transport.h"

#define TLS_CA_FILE_ENV "SOCKBROKER_TLS_CA_FILE"
#define TLS_CERT_KEY_FILE_ENV "SOCKBROKER_TLS_CERT_KEY_FILE"
#define URL_FORMS "ipc://PATH, abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT"
/* Bounds connect and the handshake, so that a listener that never answers is an error. */
#define CONNECT_TIMEOUT_S 30
/* TCP keepalive on tcp and tls+tcp connections: probes after 15 s of silence, every 5 s,
 * 3 unanswered end the connection. */
#define KEEPALIVE_IDLE_S 15
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 3
/* What one read asks of the kernel; a larger frame grows the buffer. */
#define READ_CHUNK (64 * 1024)

struct sb__transport {
	const char *url; /* borrowed for messages: the caller's string outlives the open */
	enum sb__sp_scheme scheme;
	atomic_bool shut;

	/* SP spoken here (ipc, abstract, tcp). */
	int fd;
	uint8_t *in;         /* received bytes; in[in_start, in_end) not yet consumed */
	size_t in_size, in_start, in_end;
	/* ipc, abstract: descriptors that came with replies (handoff), oldest first. */
	int *fds;
	size_t n_fds, fds_size;

	/*
	 * tls+tcp: OpenSSL on the same socket, made non-blocking. An SSL object
	 * is not to be used by two threads at once, and the one sender and the
	 * one receiver may overlap: each SSL call is made under `tls_lock`, and
	 * the waiting for the socket happens outside it, so that neither holds
	 * the other up while the peer is slow.
	 */
	SSL_CTX *tls_ctx;
	SSL *ssl;
	pthread_mutex_t tls_lock;
	int wait_ms; /* how long one wait for the socket may take; -1: for ever */
	/* What the broker's TLS said last when it ended the connection ("tlsv13 alert
	 * certificate required"), and the certificate this side offered (NULL: none;
	 * borrowed, for messages during the open): with TLS 1.3 a refused client
	 * certificate shows only after the handshake. */
	char tls_alert[160];
	const char *tls_cert_key_file;
};

/* ---- frames ----------------------------------------------------------------- */

static void
put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
get_u64be(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void
sb__sp_handshake(uint8_t out[SB__SP_HANDSHAKE_SIZE])
{
	static const uint8_t handshake[SB__SP_HANDSHAKE_SIZE] = { 0, 'S', 'P', 0, 0, SB__SP_REQ0,
								 0, 0 };

	memcpy(out, handshake, sizeof(handshake));
}

int
sb__sp_check_handshake(const uint8_t peer[SB__SP_HANDSHAKE_SIZE], unsigned *protocol)
{
	unsigned number = (unsigned)peer[4] << 8 | peer[5];

	if (protocol != NULL)
		*protocol = number;
	if (peer[0] != 0 || peer[1] != 'S' || peer[2] != 'P' || peer[3] != 0 || peer[6] != 0 ||
	    peer[7] != 0)
		return -EPROTO;
	if (number != SB__SP_REP0)
		return -EPROTONOSUPPORT;
	return 0;
}

int
sb__sp_parse_header(const uint8_t *buf, size_t n, bool ipc, uint64_t *length)
{
	size_t size = ipc ? 9 : 8;

	if (n < 1)
		return 0;
	if (ipc && buf[0] != 1)
		return -EPROTO;
	if (n < size)
		return 0;
	*length = get_u64be(buf + size - 8);
	if (*length > SB__FRAME_MAX)
		return -EMSGSIZE;
	return (int)size;
}

uint8_t *
sb__sp_frame_header(uint8_t *body, size_t length, bool ipc, uint32_t request_id)
{
	uint8_t *id = body - 4;
	uint8_t *len = id - 8;

	id[0] = (request_id >> 24) & 0xff;
	id[1] = (request_id >> 16) & 0xff;
	id[2] = (request_id >> 8) & 0xff;
	id[3] = request_id & 0xff;
	put_u64be(len, (uint64_t)length + 4);
	if (!ipc)
		return len;
	len[-1] = 1;
	return len - 1;
}

/* ---- URLs ------------------------------------------------------------------- */

static int
parse_unix(const char *rest, bool abstract, struct sb__sp_address *address)
{
	struct sockaddr_un *sun = &address->unix_address;
	size_t n = 0, max = sizeof(sun->sun_path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (rest[0] == '\0')
		return -EINVAL;
	if (!abstract) {
		if (strlen(rest) >= max)
			return -ENAMETOOLONG;
		memcpy(sun->sun_path, rest, strlen(rest));
		address->unix_length = sizeof(*sun);
		return 0;
	}
	/* NNG's abstract names are URL-encoded; the address holds the name exactly. */
	sun->sun_path[n++] = '\0';
	for (const char *p = rest; *p != '\0'; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int high = hex_value(p[1]), low = high < 0 ? -1 : hex_value(p[2]);

			if (low < 0)
				return -EINVAL;
			c = high << 4 | low;
			p += 2;
		}
		if (n >= max)
			return -ENAMETOOLONG;
		sun->sun_path[n++] = (char)c;
	}
	address->unix_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

static int
parse_host_port(const char *rest, struct sb__sp_address *address)
{
	const char *colon = strrchr(rest, ':');
	const char *host = rest;
	size_t host_len;
	unsigned long port;
	char *end;

	if (colon == NULL || colon[1] == '\0')
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port > 65535 || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	host_len = (size_t)(colon - rest);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len >= sizeof(address->host))
		return -ENAMETOOLONG;
	memcpy(address->host, host, host_len);
	address->host[host_len] = '\0';
	snprintf(address->port, sizeof(address->port), "%lu", port);
	return 0;
}

int
sb__sp_parse_url(const char *url, struct sb__sp_address *address)
{
	static const struct {
		const char *prefix;
		enum sb__sp_scheme scheme;
		int family;
	} schemes[] = {
		{ "ipc://", SB__SP_IPC, AF_UNIX },
		{ "abstract://", SB__SP_ABSTRACT, AF_UNIX },
		{ "tcp://", SB__SP_TCP, AF_UNSPEC },
		{ "tcp4://", SB__SP_TCP, AF_INET },
		{ "tcp6://", SB__SP_TCP, AF_INET6 },
		{ "tls+tcp://", SB__SP_TLS, AF_UNSPEC },
		{ "tls+tcp4://", SB__SP_TLS, AF_INET },
		{ "tls+tcp6://", SB__SP_TLS, AF_INET6 },
	};

	memset(address, 0, sizeof(*address));
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].prefix);
		const char *rest = url + n;

		if (strncmp(url, schemes[i].prefix, n) != 0)
			continue;
		address->scheme = schemes[i].scheme;
		address->family = schemes[i].family;
		switch (schemes[i].scheme) {
		case SB__SP_IPC:
			return parse_unix(rest, false, address);
		case SB__SP_ABSTRACT:
			return parse_unix(rest, true, address);
		case SB__SP_TCP:
		case SB__SP_TLS:
			return parse_host_port(rest, address);
		}
	}
	return -EINVAL;
}

/* ---- SP on a stream socket ---------------------------------------------------- */

static ssize_t tls_io(struct sb__transport *t, bool write, void *buf, size_t length);

/* Keep the descriptors that came with bytes (SCM_RIGHTS), in order. */
static int
keep_fds(struct sb__transport *t, struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		size_t count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (t->n_fds == t->fds_size) {
				size_t size = t->fds_size ? t->fds_size * 2 : 8;
				int *grown = realloc(t->fds, size * sizeof(*grown));

				if (grown == NULL) {
					close(fd);
					return -ENOMEM;
				}
				t->fds = grown;
				t->fds_size = size;
			}
			t->fds[t->n_fds++] = fd;
		}
	}
	return 0;
}

/* Read what is there, up to `length`: the count, 0 at the end of the stream, or -errno. */
static ssize_t
read_some(struct sb__transport *t, uint8_t *buf, size_t length)
{
	union {
		char space[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = length };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (t->ssl != NULL)
		return tls_io(t, false, buf, length);
	/* Only a unix connection carries descriptors (handed-off sockets). */
	if (t->scheme == SB__SP_IPC || t->scheme == SB__SP_ABSTRACT) {
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
	}
	for (;;) {
		ssize_t n = recvmsg(t->fd, &msg, MSG_CMSG_CLOEXEC);

		if (n >= 0) {
			int r = msg.msg_controllen > 0 ? keep_fds(t, &msg) : 0;

			return r < 0 ? r : n;
		}
		if (errno != EINTR)
			return -errno;
	}
}

static int
write_all(struct sb__transport *t, const uint8_t *data, size_t length)
{
	while (length > 0) {
		ssize_t n = t->ssl != NULL ? tls_io(t, true, (void *)data, length)
					   : send(t->fd, data, length, MSG_NOSIGNAL);

		if (n < 0 && t->ssl == NULL) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		data += n;
		length -= (size_t)n;
	}
	return 0;
}

/* Read at least `want` bytes into the buffer, from in_end on. */
static int
fill(struct sb__transport *t, size_t want)
{
	while (t->in_end - t->in_start < want) {
		ssize_t n;

		if (t->in_size - t->in_end < READ_CHUNK && t->in_start > 0) {
			memmove(t->in, t->in + t->in_start, t->in_end - t->in_start);
			t->in_end -= t->in_start;
			t->in_start = 0;
		}
		if (t->in_size - t->in_start < want) {
			/* Room for what is kept from in_start on, not only `want`:
			 * a smaller buffer would cut unread bytes off. */
			size_t size = t->in_start + want + READ_CHUNK;
			uint8_t *grown = realloc(t->in, size);

			if (grown == NULL)
				return -ENOMEM;
			t->in = grown;
			t->in_size = size;
		}
		n = read_some(t, t->in + t->in_end, t->in_size - t->in_end);
		if (n < 0)
			return (int)n;
		if (n == 0 || atomic_load(&t->shut))
			return -ECONNRESET;
		t->in_end += (size_t)n;
	}
	return 0;
}

static int
stream_recv(struct sb__transport *t, uint32_t *request_id, const uint8_t **body, size_t *length)
{
	bool ipc = t->scheme != SB__SP_TCP && t->scheme != SB__SP_TLS;
	uint64_t frame_length;
	const uint8_t *frame;
	int header, r;

	for (;;) {
		header = sb__sp_parse_header(t->in + t->in_start, t->in_end - t->in_start, ipc,
					     &frame_length);
		if (header != 0)
			break;
		if ((r = fill(t, t->in_end - t->in_start + 1)) < 0)
			return r;
	}
	if (header < 0)
		return header;
	if (frame_length < 4)
		return -EPROTO;
	if ((r = fill(t, (size_t)header + (size_t)frame_length)) < 0)
		return r;
	frame = t->in + t->in_start + header;
	*request_id = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 |
		      (uint32_t)frame[2] << 8 | frame[3];
	*body = frame + 4;
	*length = (size_t)frame_length - 4;
	t->in_start += (size_t)header + (size_t)frame_length;
	return 0;
}

static int
set_io_timeout(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int
connect_error(const char *url, struct sb_error *err, int errnum)
{
	/* A timed-out socket call reports EAGAIN; say what it means here. */
	if (errnum == EAGAIN || errnum == EINPROGRESS)
		errnum = ETIMEDOUT;
	return sb__error_set(err, SB_ERR_TRANSPORT, errnum,
			     "cannot connect to the broker at %s: %s; is sockbrokerd running? "
			     "(set %s)",
			     url, strerror(errnum), SB_URL_ENV);
}

static int
stream_connect(struct sb__transport *t, const struct sb__sp_address *address,
	       struct sb_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *found = NULL;
	int fd = -1, r, gai, one = 1;

	if (address->scheme != SB__SP_TCP && address->scheme != SB__SP_TLS) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return connect_error(t->url, err, errno);
		if (set_io_timeout(fd, CONNECT_TIMEOUT_S) < 0 ||
		    connect(fd, (const struct sockaddr *)&address->unix_address,
			    address->unix_length) < 0) {
			r = errno;
			close(fd);
			return connect_error(t->url, err, r);
		}
		t->fd = fd;
		return 0;
	}

	hints.ai_family = address->family;
	gai = getaddrinfo(address->host[0] != '\0' ? address->host : "127.0.0.1", address->port,
			  &hints, &found);
	if (gai != 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, EHOSTUNREACH,
				     "cannot connect to the broker at %s: cannot resolve '%s': %s "
				     "(set %s)",
				     t->url, address->host, gai_strerror(gai), SB_URL_ENV);
	r = ENOENT;
	for (struct addrinfo *ai = found; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = errno;
			continue;
		}
		if (set_io_timeout(fd, CONNECT_TIMEOUT_S) == 0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
			break;
		r = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(found);
	if (fd < 0)
		return connect_error(t->url, err, r);
	/* A link gone silent is noticed (and the session resumed) within idle + interval *
	 * count seconds, well inside the broker's default grace period. */
	int idle = KEEPALIVE_IDLE_S, interval = KEEPALIVE_INTERVAL_S, count = KEEPALIVE_COUNT;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
	t->fd = fd;
	return 0;
}

static int
stream_handshake(struct sb__transport *t, struct sb_error *err)
{
	uint8_t mine[SB__SP_HANDSHAKE_SIZE], *peer;
	unsigned protocol;
	int r;

	sb__sp_handshake(mine);
	r = write_all(t, mine, sizeof(mine));
	if (r == 0)
		r = fill(t, SB__SP_HANDSHAKE_SIZE);
	if (r < 0 && t->ssl != NULL && r != -EAGAIN && t->tls_cert_key_file == NULL)
		return sb__error_set(err, SB_ERR_TRANSPORT, EACCES,
				     "the broker at %s wants a client certificate: set %s to a PEM "
				     "file with one its client CA signed and its key (TLS: %s)",
				     t->url, TLS_CERT_KEY_FILE_ENV,
				     t->tls_alert[0] ? t->tls_alert : strerror(-r));
	if (r < 0 && t->ssl != NULL && r != -EAGAIN)
		return sb__error_set(err, SB_ERR_TRANSPORT, EACCES,
				     "the broker at %s refused the client certificate of %s (%s): "
				     "give one its client CA (tls.ca_file) signed (TLS: %s)",
				     t->url, t->tls_cert_key_file, TLS_CERT_KEY_FILE_ENV,
				     t->tls_alert[0] ? t->tls_alert : strerror(-r));
	if (r < 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, r == -EAGAIN ? ETIMEDOUT : -r,
				     "the broker at %s did not complete the SP handshake: %s; is "
				     "it a sockbrokerd listen URL? (set %s)",
				     t->url, strerror(r == -EAGAIN ? ETIMEDOUT : -r), SB_URL_ENV);
	peer = t->in + t->in_start;
	r = sb__sp_check_handshake(peer, &protocol);
	if (r == -EPROTO)
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				     "%s does not speak the SP protocol; is it a sockbrokerd "
				     "listen URL? (set %s)",
				     t->url, SB_URL_ENV);
	if (r < 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTONOSUPPORT,
				     "%s speaks SP protocol 0x%x, not rep0 (0x31); is it a "
				     "sockbrokerd listen URL? (set %s)",
				     t->url, protocol, SB_URL_ENV);
	t->in_start += SB__SP_HANDSHAKE_SIZE;
	/* From here on a call may wait for hours: no timeout on this side. */
	t->wait_ms = -1;
	r = t->ssl != NULL ? 0 : set_io_timeout(t->fd, 0);
	if (r < 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, -r,
				     "cannot clear the connection's timeouts: %s", strerror(-r));
	return 0;
}

/* ---- TLS (tls+tcp) ---------------------------------------------------------------- */

static const char *
tls_error_string(char *buf, size_t length)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "the connection ended during the handshake";
	ERR_error_string_n(e, buf, length);
	return buf;
}

/* Wait until the socket is ready for what OpenSSL asked (`ssl_error`). */
static int
tls_wait(struct sb__transport *t, int ssl_error)
{
	struct pollfd p = { .fd = t->fd,
			    .events = ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };

	for (;;) {
		int n = poll(&p, 1, t->wait_ms);

		if (atomic_load(&t->shut))
			return -ECONNRESET;
		if (n > 0)
			return 0;
		if (n == 0)
			return -EAGAIN;
		if (errno != EINTR)
			return -errno;
	}
}

/* One read or write through OpenSSL: the count, 0 at the end of the stream, or -errno. */
static ssize_t
tls_io(struct sb__transport *t, bool write, void *buf, size_t length)
{
	int chunk = length > INT32_MAX ? INT32_MAX : (int)length;

	for (;;) {
		int n, e, saved_errno;

		if (atomic_load(&t->shut))
			return -ECONNRESET;
		pthread_mutex_lock(&t->tls_lock);
		/* OpenSSL's error queue is per thread; start each call clean. */
		ERR_clear_error();
		n = write ? SSL_write(t->ssl, buf, chunk) : SSL_read(t->ssl, buf, chunk);
		saved_errno = errno;
		e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_SSL && ERR_peek_error() != 0)
			tls_error_string(t->tls_alert, sizeof(t->tls_alert));
		ERR_clear_error();
		pthread_mutex_unlock(&t->tls_lock);
		if (n > 0)
			return n;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int r = tls_wait(t, e);

			if (r < 0)
				return r;
			continue;
		}
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL)
			return saved_errno != 0 ? -saved_errno : 0;
		return -ECONNRESET;
	}
}

static int
tls_failure(struct sb__transport *t, struct sb_error *err, int errnum, const char *what,
	    const char *detail)
{
	return sb__error_set(err, SB_ERR_TRANSPORT, errnum,
			     "cannot connect to the broker at %s: %s: %s (check %s and %s)", t->url,
			     what, detail, TLS_CA_FILE_ENV, TLS_CERT_KEY_FILE_ENV);
}

/*
 * TLS over the connected socket: the broker's certificate is checked against
 * the CA file (else the system's CAs) and the URL's host, and the client's
 * own certificate and key are offered when given. Bounded by the connect
 * timeout.
 */
static int
tls_connect(struct sb__transport *t, const struct sb__sp_address *address,
	    const struct sb_client_options *options, struct sb_error *err)
{
	const char *ca_file = options->tls_ca_file != NULL ? options->tls_ca_file
							   : getenv(TLS_CA_FILE_ENV);
	const char *cert_key_file = options->tls_cert_key_file != NULL
					    ? options->tls_cert_key_file
					    : getenv(TLS_CERT_KEY_FILE_ENV);
	const char *host = address->host[0] != '\0' ? address->host : "127.0.0.1";
	char buf[256];
	struct in6_addr ip;
	int r;

	t->tls_ctx = SSL_CTX_new(TLS_client_method());
	if (t->tls_ctx == NULL)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "cannot set up TLS: %s",
				     tls_error_string(buf, sizeof(buf)));
	SSL_CTX_set_min_proto_version(t->tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->tls_ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(t->tls_ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL && ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(t->tls_ctx, ca_file, NULL) != 1)
			return sb__error_set(err, SB_ERR_TRANSPORT, EINVAL,
					     "cannot use the CA file %s (%s): %s", ca_file,
					     TLS_CA_FILE_ENV, tls_error_string(buf, sizeof(buf)));
	} else if (SSL_CTX_set_default_verify_paths(t->tls_ctx) != 1) {
		return sb__error_set(err, SB_ERR_TRANSPORT, EINVAL,
				     "cannot load the system's CA certificates: %s (set %s)",
				     tls_error_string(buf, sizeof(buf)), TLS_CA_FILE_ENV);
	}
	if (cert_key_file != NULL && cert_key_file[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(t->tls_ctx, cert_key_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(t->tls_ctx, cert_key_file, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(t->tls_ctx) != 1))
		return sb__error_set(err, SB_ERR_TRANSPORT, EINVAL,
				     "cannot use the certificate file %s (%s): %s", cert_key_file,
				     TLS_CERT_KEY_FILE_ENV, tls_error_string(buf, sizeof(buf)));

	t->tls_cert_key_file =
		cert_key_file != NULL && cert_key_file[0] != '\0' ? cert_key_file : NULL;
	t->ssl = SSL_new(t->tls_ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "cannot set up TLS: %s",
				     tls_error_string(buf, sizeof(buf)));
	/* The certificate must name the host of the URL: its address, or its name. */
	if (inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host);
	} else {
		SSL_set_tlsext_host_name(t->ssl, host);
		SSL_set1_host(t->ssl, host);
	}
	if (fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) < 0)
		return connect_error(t->url, err, errno);
	t->wait_ms = CONNECT_TIMEOUT_S * 1000;
	for (;;) {
		int e;

		ERR_clear_error();
		r = SSL_connect(t->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(t->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;
		if ((r = tls_wait(t, e)) < 0)
			return connect_error(t->url, err, -r);
	}
	long verify = SSL_get_verify_result(t->ssl);
	if (verify != X509_V_OK)
		return tls_failure(t, err, EACCES, "the broker's certificate was refused",
				   X509_verify_cert_error_string(verify));
	return tls_failure(t, err, ECONNREFUSED, "the TLS handshake failed",
			   tls_error_string(buf, sizeof(buf)));
}

/* ---- the interface ------------------------------------------------------------------ */

int
sb__transport_open(struct sb__transport **out, const char *url,
		   const struct sb_client_options *options, struct sb_error *err)
{
	struct sb__sp_address address;
	struct sb__transport *t;
	struct stat st;
	int r;

	r = sb__sp_parse_url(url, &address);
	if (r == -ENAMETOOLONG)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENAMETOOLONG,
				     "cannot use '%s' as the broker's URL: the path or name is "
				     "longer than a unix socket address takes (%zu bytes)",
				     url, sizeof(address.unix_address.sun_path) - 1);
	if (r < 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, EINVAL,
				     "cannot use '%s' as the broker's URL (expected %s)", url,
				     URL_FORMS);

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
	t->url = url;
	t->scheme = address.scheme;
	t->fd = -1;
	atomic_init(&t->shut, false);
	pthread_mutex_init(&t->tls_lock, NULL);

	r = stream_connect(t, &address, err);
	/* A missing ipc:// socket file: say that, not just "no such file". */
	if (r == -ECONNREFUSED && address.scheme == SB__SP_IPC &&
	    stat(address.unix_address.sun_path, &st) < 0 && errno == ENOENT)
		r = connect_error(url, err, ENOENT);
	if (r == 0 && address.scheme == SB__SP_TLS)
		r = tls_connect(t, &address, options, err);
	if (r < 0)
		goto err;
	r = stream_handshake(t, err);
	if (r < 0)
		goto err;
	*out = t;
	return 0;

err:
	sb__transport_free(t);
	return r;
}

int
sb__transport_send(struct sb__transport *t, uint32_t request_id, uint8_t *body, size_t length)
{
	bool ipc = t->scheme != SB__SP_TCP && t->scheme != SB__SP_TLS;
	uint8_t *frame;

	if (atomic_load(&t->shut))
		return -ECONNRESET;
	frame = sb__sp_frame_header(body, length, ipc, request_id);
	return write_all(t, frame, (size_t)(body + length - frame));
}

int
sb__transport_recv(struct sb__transport *t, uint32_t *request_id, const uint8_t **body,
		   size_t *length)
{
	if (atomic_load(&t->shut))
		return -ECONNRESET;
	return stream_recv(t, request_id, body, length);
}

void
sb__transport_shutdown(struct sb__transport *t)
{
	atomic_store(&t->shut, true);
	/* Wakes a blocked recv or poll (end of stream) and send (EPIPE); the fd stays. */
	shutdown(t->fd, SHUT_RDWR);
}

int
sb__transport_take_fd(struct sb__transport *t)
{
	int fd;

	if (t->n_fds == 0)
		return -1;
	fd = t->fds[0];
	memmove(t->fds, t->fds + 1, (t->n_fds - 1) * sizeof(*t->fds));
	t->n_fds--;
	return fd;
}

void
sb__transport_free(struct sb__transport *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_fds; i++)
		close(t->fds[i]);
	free(t->fds);
	SSL_free(t->ssl);
	SSL_CTX_free(t->tls_ctx);
	if (t->fd >= 0)
		close(t->fd);
	free(t->in);
	pthread_mutex_destroy(&t->tls_lock);
	free(t);
}
