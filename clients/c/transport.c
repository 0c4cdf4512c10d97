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

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "internal.h"
#include "transport.h"

#define TLS_CA_FILE_ENV "SOCKBROKER_TLS_CA_FILE"
#define TLS_CERT_KEY_FILE_ENV "SOCKBROKER_TLS_CERT_KEY_FILE"
#define URL_FORMS "ipc://PATH, abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT"
/* Bounds connect and the handshake, so that a listener that never answers is an error. */
#define CONNECT_TIMEOUT_S 30
/* What one read asks of the kernel; a larger frame grows the buffer. */
#define READ_CHUNK (64 * 1024)
/*
 * Reconnection is never wanted (a new connection is a new session without
 * the old handles), and extra pipes are rejected anyway; the dialer's
 * back-off is only made long so that it does not keep trying in vain.
 */
#define RECONNECT_INTERVAL_MS (24 * 60 * 60 * 1000)

struct sb__transport {
	const char *url; /* borrowed for messages: the caller's string outlives the open */
	enum sb__sp_scheme scheme;
	atomic_bool shut;

	/* SP spoken here (ipc, abstract, tcp). */
	int fd;
	uint8_t *in;         /* received bytes; in[in_start, in_end) not yet consumed */
	size_t in_size, in_start, in_end;

	/* libnng (tls+tcp): a raw req0 socket, one aio per direction. */
	nng_socket socket;
	bool socket_open;
	nng_aio *send_aio, *recv_aio;
	nng_msg *last_msg;       /* the frame last received, freed at the next receive */
	pthread_mutex_t nng_lock; /* guards the fields below and the posting of aios */
	uint32_t session_pipe;   /* the connection the session lives on; 0 before it */
	bool pipe_lost;
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
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

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

static int
write_all(int fd, const uint8_t *data, size_t length)
{
	while (length > 0) {
		ssize_t n = send(fd, data, length, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
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
			size_t size = want + READ_CHUNK;
			uint8_t *grown = realloc(t->in, size);

			if (grown == NULL)
				return -ENOMEM;
			t->in = grown;
			t->in_size = size;
		}
		n = recv(t->fd, t->in + t->in_end, t->in_size - t->in_end, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0 || atomic_load(&t->shut))
			return -ECONNRESET;
		t->in_end += (size_t)n;
	}
	return 0;
}

static int
stream_recv(struct sb__transport *t, uint32_t *request_id, const uint8_t **body, size_t *length)
{
	bool ipc = t->scheme != SB__SP_TCP;
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

	if (address->scheme != SB__SP_TCP) {
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
	r = write_all(t->fd, mine, sizeof(mine));
	if (r == 0)
		r = fill(t, SB__SP_HANDSHAKE_SIZE);
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
	r = set_io_timeout(t->fd, 0);
	if (r < 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, -r,
				     "cannot clear the connection's timeouts: %s", strerror(-r));
	return 0;
}

/* ---- libnng (tls+tcp) ----------------------------------------------------------- */

/* NNG's errors in errno terms, for transport failures. */
static int
errno_from_nng(int rv)
{
	if (rv & NNG_ESYSERR)
		return rv & ~NNG_ESYSERR;
	switch (rv) {
	case NNG_EINTR:
		return EINTR;
	case NNG_ENOMEM:
		return ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return EINVAL;
	case NNG_EBUSY:
		return EBUSY;
	case NNG_ETIMEDOUT:
		return ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return ECONNREFUSED;
	case NNG_ECLOSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		return ECONNRESET;
	case NNG_EAGAIN:
		return EAGAIN;
	case NNG_ENOTSUP:
		return EPROTONOSUPPORT;
	case NNG_EADDRINUSE:
		return EADDRINUSE;
	case NNG_ENOENT:
		return ENOENT;
	case NNG_EPROTO:
		return EPROTO;
	case NNG_EUNREACHABLE:
		return EHOSTUNREACH;
	case NNG_EPERM:
	case NNG_EPEERAUTH:
		return EACCES;
	case NNG_EMSGSIZE:
		return EMSGSIZE;
	case NNG_ECONNABORTED:
		return ECONNABORTED;
	case NNG_ECANCELED:
		return ECANCELED;
	case NNG_ENOFILES:
		return EMFILE;
	case NNG_ENOSPC:
		return ENOSPC;
	default:
		return EIO;
	}
}

/*
 * Pipe events run on NNG's threads. The first pipe is the session; any
 * later one would be a silent new session without the client's handles
 * (NNG redials on its own), so it is refused, and the loss of the first
 * fails the receive and send in progress and every later one.
 */
static void
pipe_added(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
	struct sb__transport *t = arg;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	bool reject;

	(void)event;
	pthread_mutex_lock(&t->nng_lock);
	if (t->session_pipe == 0 && !t->pipe_lost)
		t->session_pipe = id;
	reject = t->session_pipe != id;
	pthread_mutex_unlock(&t->nng_lock);
	if (reject)
		nng_pipe_close(pipe);
}

static void
pipe_removed(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
	struct sb__transport *t = arg;

	(void)event;
	pthread_mutex_lock(&t->nng_lock);
	if (t->session_pipe == (uint32_t)nng_pipe_id(pipe)) {
		t->pipe_lost = true;
		nng_aio_abort(t->recv_aio, NNG_ECONNRESET);
		nng_aio_abort(t->send_aio, NNG_ECONNRESET);
	}
	pthread_mutex_unlock(&t->nng_lock);
}

static int
nng_dial_error(struct sb__transport *t, struct sb_error *err, int rv)
{
	const char *reason = nng_strerror(rv);
	int errnum = errno_from_nng(rv);

	if (rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO)
		return sb__error_set(err, SB_ERR_TRANSPORT, errnum,
				     "cannot connect to the broker at %s: %s (check %s and %s)",
				     t->url, reason, TLS_CA_FILE_ENV, TLS_CERT_KEY_FILE_ENV);
	return sb__error_set(err, SB_ERR_TRANSPORT, errnum,
			     "cannot connect to the broker at %s: %s; is sockbrokerd running? "
			     "(set %s)",
			     t->url, reason, SB_URL_ENV);
}

static int
nng_connect(struct sb__transport *t, const struct sb_client_options *options,
	    struct sb_error *err)
{
	const char *ca_file = options->tls_ca_file != NULL ? options->tls_ca_file
							   : getenv(TLS_CA_FILE_ENV);
	const char *cert_key_file = options->tls_cert_key_file != NULL
					    ? options->tls_cert_key_file
					    : getenv(TLS_CERT_KEY_FILE_ENV);
	nng_dialer dialer;
	int rv;

	rv = nng_req0_open_raw(&t->socket);
	if (rv != 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
				     "cannot open an NNG request socket: %s", nng_strerror(rv));
	t->socket_open = true;
	if ((rv = nng_aio_alloc(&t->send_aio, NULL, NULL)) != 0 ||
	    (rv = nng_aio_alloc(&t->recv_aio, NULL, NULL)) != 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
				     "cannot set up NNG: %s", nng_strerror(rv));
	/* A blocking recv may wait for hours: no timeout on this side. */
	nng_aio_set_timeout(t->recv_aio, NNG_DURATION_INFINITE);
	nng_aio_set_timeout(t->send_aio, NNG_DURATION_INFINITE);
	/* The daemon bounds message sizes; the client takes what it is sent. */
	nng_socket_set_size(t->socket, NNG_OPT_RECVMAXSZ, 0);
	nng_pipe_notify(t->socket, NNG_PIPE_EV_ADD_PRE, pipe_added, t);
	nng_pipe_notify(t->socket, NNG_PIPE_EV_REM_POST, pipe_removed, t);

	rv = nng_dialer_create(&dialer, t->socket, t->url);
	if (rv != 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
				     "cannot use '%s' as the broker's URL: %s (expected %s)", t->url,
				     nng_strerror(rv), URL_FORMS);
	if (ca_file != NULL && ca_file[0] != '\0') {
		rv = nng_dialer_set_string(dialer, NNG_OPT_TLS_CA_FILE, ca_file);
		if (rv != 0)
			return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
					     "cannot use the CA file %s (%s): %s", ca_file,
					     TLS_CA_FILE_ENV, nng_strerror(rv));
	}
	if (cert_key_file != NULL && cert_key_file[0] != '\0') {
		rv = nng_dialer_set_string(dialer, NNG_OPT_TLS_CERT_KEY_FILE, cert_key_file);
		if (rv != 0)
			return sb__error_set(err, SB_ERR_TRANSPORT, errno_from_nng(rv),
					     "cannot use the certificate file %s (%s): %s",
					     cert_key_file, TLS_CERT_KEY_FILE_ENV, nng_strerror(rv));
	}
	nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT, RECONNECT_INTERVAL_MS);
	nng_dialer_set_ms(dialer, NNG_OPT_RECONNMAXT, RECONNECT_INTERVAL_MS);

	/* Synchronous, so that a missing daemon is an error now, not a hang. */
	rv = nng_dialer_start(dialer, 0);
	if (rv != 0)
		return nng_dial_error(t, err, rv);
	return 0;
}

/* Post `aio` unless the connection is gone; then wait for it. */
static int
nng_run(struct sb__transport *t, nng_aio *aio, bool is_send)
{
	int rv;

	pthread_mutex_lock(&t->nng_lock);
	if (t->pipe_lost || atomic_load(&t->shut)) {
		pthread_mutex_unlock(&t->nng_lock);
		return -ECONNRESET;
	}
	/* Posted under the lock, so that a loss aborts it or is seen above. */
	if (is_send)
		nng_send_aio(t->socket, aio);
	else
		nng_recv_aio(t->socket, aio);
	pthread_mutex_unlock(&t->nng_lock);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECONNRESET || rv == NNG_ECANCELED)
		return -ECONNRESET;
	return rv != 0 ? -errno_from_nng(rv) : 0;
}

static int
nng_frame_send(struct sb__transport *t, uint32_t request_id, const uint8_t *body, size_t length)
{
	nng_msg *msg;
	int rv, r;

	rv = nng_msg_alloc(&msg, 0);
	if (rv == 0)
		rv = nng_msg_header_append_u32(msg, request_id);
	if (rv == 0)
		rv = nng_msg_append(msg, body, length);
	if (rv != 0) {
		nng_msg_free(msg);
		return -errno_from_nng(rv);
	}
	nng_aio_set_msg(t->send_aio, msg);
	r = nng_run(t, t->send_aio, true);
	/* An unsent message comes back to its sender. */
	if (r < 0)
		nng_msg_free(nng_aio_get_msg(t->send_aio));
	return r;
}

static int
nng_frame_recv(struct sb__transport *t, uint32_t *request_id, const uint8_t **body,
	       size_t *length)
{
	nng_msg *msg;
	int r;

	nng_msg_free(t->last_msg);
	t->last_msg = NULL;
	r = nng_run(t, t->recv_aio, false);
	if (r < 0)
		return r;
	msg = nng_aio_get_msg(t->recv_aio);
	if (nng_msg_header_trim_u32(msg, request_id) != 0) {
		nng_msg_free(msg);
		return -EPROTO;
	}
	t->last_msg = msg;
	*body = nng_msg_body(msg);
	*length = nng_msg_len(msg);
	return 0;
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
	pthread_mutex_init(&t->nng_lock, NULL);

	if (address.scheme == SB__SP_TLS) {
		r = nng_connect(t, options, err);
		if (r < 0)
			goto err;
		*out = t;
		return 0;
	}
	r = stream_connect(t, &address, err);
	/* A missing ipc:// socket file: say that, not just "no such file". */
	if (r == -ECONNREFUSED && address.scheme == SB__SP_IPC &&
	    stat(address.unix_address.sun_path, &st) < 0 && errno == ENOENT)
		r = connect_error(url, err, ENOENT);
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
	bool ipc = t->scheme != SB__SP_TCP;
	uint8_t *frame;

	if (atomic_load(&t->shut))
		return -ECONNRESET;
	if (t->scheme == SB__SP_TLS)
		return nng_frame_send(t, request_id, body, length);
	frame = sb__sp_frame_header(body, length, ipc, request_id);
	return write_all(t->fd, frame, (size_t)(body + length - frame));
}

int
sb__transport_recv(struct sb__transport *t, uint32_t *request_id, const uint8_t **body,
		   size_t *length)
{
	if (atomic_load(&t->shut))
		return -ECONNRESET;
	if (t->scheme == SB__SP_TLS)
		return nng_frame_recv(t, request_id, body, length);
	return stream_recv(t, request_id, body, length);
}

void
sb__transport_shutdown(struct sb__transport *t)
{
	atomic_store(&t->shut, true);
	if (t->scheme != SB__SP_TLS) {
		/* Wakes a blocked recv (end of stream) and send (EPIPE); the fd stays. */
		shutdown(t->fd, SHUT_RDWR);
		return;
	}
	pthread_mutex_lock(&t->nng_lock);
	if (t->recv_aio != NULL)
		nng_aio_abort(t->recv_aio, NNG_ECLOSED);
	if (t->send_aio != NULL)
		nng_aio_abort(t->send_aio, NNG_ECLOSED);
	pthread_mutex_unlock(&t->nng_lock);
}

void
sb__transport_free(struct sb__transport *t)
{
	if (t == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t->in);
	/* Returns once the pipe callbacks, which take the lock, are done. */
	if (t->socket_open)
		nng_close(t->socket);
	nng_msg_free(t->last_msg);
	if (t->recv_aio != NULL)
		nng_aio_free(t->recv_aio);
	if (t->send_aio != NULL)
		nng_aio_free(t->send_aio);
	pthread_mutex_destroy(&t->nng_lock);
	free(t);
}
