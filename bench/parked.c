/*
 * bench-parked: the parked-operations probe. Through sockbrokerd, it makes
 * H UDP sockets bound to 127.0.0.1 and parks one blocking recv on each, then
 * reads the daemon's thread count and resident memory, then wakes every
 * recv with a datagram and times how long each takes to come back.
 *
 * usage: bench-parked URL --pid PID [--handles H] [--wake-interval-us U]
 *                     [--settle-ms MS]
 *   URL        the broker's URL
 *   --pid      the daemon's process id, to read /proc/PID/status
 *   --handles  how many handles, each with one parked recv (default 10000)
 *   --wake-interval-us  the gap between two wake-up datagrams (default 100;
 *              0 sends them all back to back, which measures the daemon's
 *              throughput more than its wake-up latency)
 *   --settle-ms  the pause between parking the last recv and reading the
 *              daemon's memory (default 1000)
 *
 * A thread per blocking call would measure this program, not the daemon:
 * the probe speaks the wire protocol itself, with one NNG request context
 * and one aio per parked recv, all in flight from one thread. The handles
 * are made in order (socket, bind, getsockname) on one context. The
 * daemon's session limits must allow H handles and H parked operations.
 *
 * Memory per handle is the growth of the daemon's VmRSS from before the
 * first handle to after the last recv is parked, divided by H: it includes
 * what NNG keeps per waiting request, but not the kernel's socket buffers.
 * A recv's wake-up latency is from the moment its datagram is sent (a
 * kernel UDP socket of this program) to the moment its reply is in. It
 * prints one line (here folded):
 *   parked handles=10000 threads=9 rss_per_handle_bytes=1500 wake_p50_us=40.0
 *     wake_p99_us=300.0 wake_max_us=900.0 threads_before=9 rss_before_kib=4000
 *     rss_parked_kib=19000 wake_interval_us=100
 * and exits 0, or 1 with the reason on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common.h"
#include "sockbroker.pb-c.h"

#define PROGRAM "bench-parked"
#define DEFAULT_HANDLES 10000
#define MAX_HANDLES 1000000
#define DEFAULT_WAKE_INTERVAL_US 100
#define MAX_WAKE_INTERVAL_US 1000000
#define DEFAULT_SETTLE_MS 1000
#define MAX_SETTLE_MS 60000
/* Bounds: one setup request, all the parking, and the replies after the
 * last wake-up. */
#define CALL_TIMEOUT_MS 10000
#define PARK_TIMEOUT_MS 60000
#define REPLY_TIMEOUT_MS 10000
#define RECV_SIZE 64
#define WAKE_BYTE 'w'

typedef Sockbroker__V1__Request Request;
typedef Sockbroker__V1__Reply Reply;

struct options {
	const char *url;
	long pid;
	uint64_t handles;
	uint64_t wake_interval_us;
	uint64_t settle_ms;
};

enum parked_state {
	PARKED_NEW,
	PARKED_SENDING, /* the recv request is going out */
	PARKED_WAITING, /* its reply is awaited */
	PARKED_DONE,    /* the reply is in (or the call failed: `failure`) */
};

struct probe;

/* One handle and its parked recv. */
struct parked {
	struct probe *probe;
	uint64_t handle;
	struct sockaddr_in address; /* where the daemon's socket is bound */
	nng_ctx ctx;
	bool ctx_open;
	nng_aio *aio;
	enum parked_state state; /* the aio callback's, once the request is posted */
	uint64_t woken_ns;       /* when its datagram was sent */
	uint64_t replied_ns;     /* when its reply came in */
	const char *failure;     /* NULL, or why the call failed */
	int nng_error;
};

struct probe {
	nng_socket socket;
	bool socket_open;
	nng_ctx setup_ctx;
	bool setup_ctx_open;
	nng_aio *setup_aio;
	int64_t af_inet, sock_dgram; /* the daemon's numbers */

	struct parked *parked; /* `n_parked` of them */
	size_t n_parked;

	pthread_mutex_t lock;
	pthread_cond_t changed;
	/* Guarded by lock. */
	size_t n_posted;  /* recv requests that went out */
	size_t n_replied; /* recvs that are over, replied or failed */
	char first_error[320]; /* the first error a recv answered, or "" */
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: %s URL --pid PID [--handles H] [--wake-interval-us U] "
		"[--settle-ms MS]\n", PROGRAM);
}

static int
parse_options(int argc, char **argv, struct options *options)
{
	uint64_t pid = 0;
	int index = 2, r = 0;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		exit(0);
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "missing the broker's URL\n");
		return -EINVAL;
	}
	options->url = argv[1];
	options->handles = DEFAULT_HANDLES;
	options->wake_interval_us = DEFAULT_WAKE_INTERVAL_US;
	options->settle_ms = DEFAULT_SETTLE_MS;
	while (index < argc) {
		const char *name = argv[index];
		const char *value = index + 1 < argc ? argv[index + 1] : NULL;

		if (strcmp(name, "--pid") == 0)
			r = bench_parse_size(name, value, 1, INT32_MAX, &pid);
		else if (strcmp(name, "--handles") == 0)
			r = bench_parse_size(name, value, 1, MAX_HANDLES, &options->handles);
		else if (strcmp(name, "--wake-interval-us") == 0)
			r = bench_parse_size(name, value, 0, MAX_WAKE_INTERVAL_US,
					     &options->wake_interval_us);
		else if (strcmp(name, "--settle-ms") == 0)
			r = bench_parse_size(name, value, 0, MAX_SETTLE_MS, &options->settle_ms);
		else {
			fprintf(stderr, "unknown option '%s'\n", name);
			r = -EINVAL;
		}
		if (r < 0)
			return r;
		index += 2;
	}
	if (pid == 0) {
		fprintf(stderr, "--pid is required: the daemon's process id\n");
		return -EINVAL;
	}
	options->pid = (long)pid;
	return 0;
}

/* Warn when `pid` does not look like the daemon: its numbers would be
 * another process's. A wrapper (valgrind, a renamed binary) is allowed. */
static void
check_daemon_name(long pid)
{
	char path[64], name[64] = "";
	FILE *file;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	file = fopen(path, "re");
	if (file == NULL)
		return;
	if (fgets(name, sizeof(name), file) != NULL)
		name[strcspn(name, "\n")] = '\0';
	fclose(file);
	if (strstr(name, "sockbrokerd") == NULL)
		fprintf(stderr, "warning: process %ld is '%s', not sockbrokerd; its memory and "
			"threads are reported\n", pid, name);
}

/* The daemon's resident memory (KiB) and thread count, from /proc. */
static int
read_daemon_status(long pid, uint64_t *rss_kib, uint64_t *threads)
{
	char path[64], line[256];
	bool have_rss = false, have_threads = false;
	unsigned long long value;
	FILE *file;
	int r;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	file = fopen(path, "re");
	if (file == NULL) {
		r = -errno;
		fprintf(stderr, "cannot read %s (is --pid the daemon's?): %s\n", path,
			strerror(-r));
		return r;
	}
	while (fgets(line, sizeof(line), file) != NULL) {
		if (sscanf(line, "VmRSS: %llu kB", &value) == 1) {
			*rss_kib = value;
			have_rss = true;
		} else if (sscanf(line, "Threads: %llu", &value) == 1) {
			*threads = value;
			have_threads = true;
		}
	}
	fclose(file);
	if (!have_rss || !have_threads) {
		fprintf(stderr, "%s has no VmRSS or Threads line\n", path);
		return -ENOENT;
	}
	return 0;
}

static int
pack(const Request *request, nng_msg **out)
{
	size_t len = protobuf_c_message_get_packed_size(&request->base);
	int rv = nng_msg_alloc(out, len);

	if (rv != 0) {
		fprintf(stderr, "cannot allocate a request: %s\n", nng_strerror(rv));
		return -ENOMEM;
	}
	protobuf_c_message_pack(&request->base, nng_msg_body(*out));
	return 0;
}

static int
reply_error(const char *what, const Sockbroker__V1__Error *error)
{
	fprintf(stderr, "%s failed: %s (%s)\n", what,
		error->message != NULL ? error->message : "no message",
		error->errno_name != NULL ? error->errno_name : "no errno");
	return -EIO;
}

/*
 * Send `request` on the setup context and wait (at most CALL_TIMEOUT_MS
 * each way) for its reply, which must carry `result`. On success *out owns
 * the reply (sockbroker__v1__reply__free_unpacked()).
 */
static int
call(struct probe *probe, const Request *request, Sockbroker__V1__Reply__ResultCase result,
     const char *what, Reply **out)
{
	nng_msg *msg;
	Reply *reply;
	int rv, r;

	if ((r = pack(request, &msg)) < 0)
		return r;
	nng_aio_set_msg(probe->setup_aio, msg);
	nng_ctx_send(probe->setup_ctx, probe->setup_aio);
	nng_aio_wait(probe->setup_aio);
	if ((rv = nng_aio_result(probe->setup_aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(probe->setup_aio));
		goto err_transport;
	}
	nng_ctx_recv(probe->setup_ctx, probe->setup_aio);
	nng_aio_wait(probe->setup_aio);
	if ((rv = nng_aio_result(probe->setup_aio)) != 0)
		goto err_transport;
	msg = nng_aio_get_msg(probe->setup_aio);
	reply = sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (reply == NULL) {
		fprintf(stderr, "%s: the daemon's reply cannot be decoded\n", what);
		return -EPROTO;
	}
	if (reply->error != NULL) {
		r = reply_error(what, reply->error);
		goto err_reply;
	}
	if (reply->result_case != result) {
		fprintf(stderr, "%s: the daemon's reply carries result %d, not %d\n", what,
			(int)reply->result_case, (int)result);
		r = -EPROTO;
		goto err_reply;
	}
	*out = reply;
	return 0;

err_reply:
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return r;
err_transport:
	fprintf(stderr, "%s: cannot talk to the broker: %s\n", what, nng_strerror(rv));
	return -EIO;
}

static int64_t
hello_constant(const Sockbroker__V1__HelloReply *hello, const char *name, int64_t fallback)
{
	for (size_t i = 0; i < hello->n_constants; i++) {
		const Sockbroker__V1__Constant *constant = hello->constants[i];

		if (constant->name != NULL && constant->has_value &&
		    strcmp(constant->name, name) == 0)
			return constant->value;
	}
	return fallback;
}

static int
say_hello(struct probe *probe, const struct options *options)
{
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__HelloReply *answer;
	Reply *reply;
	int r = 0;

	hello.has_protocol_version = true;
	hello.protocol_version = 1;
	hello.client_name = PROGRAM;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	if ((r = call(probe, &request, SOCKBROKER__V1__REPLY__RESULT_HELLO, "hello", &reply)) < 0)
		return r;
	answer = reply->hello;
	probe->af_inet = hello_constant(answer, "AF_INET", AF_INET);
	probe->sock_dgram = hello_constant(answer, "SOCK_DGRAM", SOCK_DGRAM);
	if (answer->has_max_handles && answer->max_handles < options->handles) {
		fprintf(stderr, "the daemon allows %u handles per session, the probe needs %" PRIu64
			": raise limits.max_handles_per_session in its config\n",
			answer->max_handles, options->handles);
		r = -EMFILE;
	} else if (answer->has_max_parked && answer->max_parked < options->handles) {
		fprintf(stderr, "the daemon allows %u parked operations per session, the probe "
			"needs %" PRIu64 ": raise limits.max_parked_per_session in its config\n",
			answer->max_parked, options->handles);
		r = -ENOBUFS;
	}
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return r;
}

/* socket(AF_INET, SOCK_DGRAM), bind to 127.0.0.1:0, getsockname. */
static int
make_handle(struct probe *probe, struct parked *parked)
{
	Sockbroker__V1__SocketRequest socket_args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	Sockbroker__V1__BindRequest bind_args = SOCKBROKER__V1__BIND_REQUEST__INIT;
	Sockbroker__V1__HandleRequest name_args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__Address *bound;
	Reply *reply;
	int r;

	socket_args.has_family = true;
	socket_args.family = (int32_t)probe->af_inet;
	socket_args.has_type = true;
	socket_args.type = (int32_t)probe->sock_dgram;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &socket_args;
	if ((r = call(probe, &request, SOCKBROKER__V1__REPLY__RESULT_SOCKET, "socket", &reply)) < 0)
		return r;
	parked->handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	inet.host = "127.0.0.1";
	inet.has_port = true;
	inet.port = 0;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	bind_args.has_handle = true;
	bind_args.handle = parked->handle;
	bind_args.address = &address;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_BIND;
	request.bind = &bind_args;
	if ((r = call(probe, &request, SOCKBROKER__V1__REPLY__RESULT_DONE, "bind", &reply)) < 0)
		return r;
	sockbroker__v1__reply__free_unpacked(reply, NULL);

	name_args.has_handle = true;
	name_args.handle = parked->handle;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME;
	request.getsockname = &name_args;
	r = call(probe, &request, SOCKBROKER__V1__REPLY__RESULT_ADDRESS, "getsockname", &reply);
	if (r < 0)
		return r;
	bound = reply->address->address;
	if (bound == NULL || bound->family_case != SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET ||
	    bound->af_inet->host == NULL || !bound->af_inet->has_port ||
	    inet_pton(AF_INET, bound->af_inet->host, &parked->address.sin_addr) != 1) {
		fprintf(stderr, "getsockname answered no IPv4 address\n");
		r = -EPROTO;
	} else {
		parked->address.sin_family = AF_INET;
		parked->address.sin_port = htons((uint16_t)bound->af_inet->port);
	}
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return r;
}

/* A request answered at once (getsockname of the first handle): once it
 * is back, every request sent before it has been taken in. */
static int
sync_with_daemon(struct probe *probe)
{
	Sockbroker__V1__HandleRequest args = SOCKBROKER__V1__HANDLE_REQUEST__INIT;
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	Reply *reply;
	int r;

	args.has_handle = true;
	args.handle = probe->parked[0].handle;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSOCKNAME;
	request.getsockname = &args;
	r = call(probe, &request, SOCKBROKER__V1__REPLY__RESULT_ADDRESS, "getsockname", &reply);
	if (r < 0)
		return r;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return 0;
}

/* Called with probe->lock held. */
static void
finish(struct parked *parked, const char *failure, int nng_error)
{
	parked->failure = failure;
	parked->nng_error = nng_error;
	parked->state = PARKED_DONE;
	parked->probe->n_replied++;
	pthread_cond_broadcast(&parked->probe->changed);
}

/* Decode a recv's reply: it must carry the one wake-up byte. The first
 * error the daemon answers is kept for the report. */
static const char *
check_recv_reply(struct probe *probe, nng_msg *msg)
{
	const char *failure = NULL;
	Reply *reply = sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));

	if (reply == NULL)
		return "the reply cannot be decoded";
	if (reply->error != NULL) {
		failure = "the daemon answered an error";
		pthread_mutex_lock(&probe->lock);
		if (probe->first_error[0] == '\0')
			snprintf(probe->first_error, sizeof(probe->first_error), "%s (%s)",
				 reply->error->message != NULL ? reply->error->message : "",
				 reply->error->errno_name != NULL ? reply->error->errno_name : "");
		pthread_mutex_unlock(&probe->lock);
	} else if (reply->result_case != SOCKBROKER__V1__REPLY__RESULT_RECV ||
		 !reply->recv->has_data || reply->recv->data.len != 1 ||
		 reply->recv->data.data[0] != WAKE_BYTE)
		failure = "the reply is not the wake-up datagram";
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return failure;
}

/* The aio callback of a parked recv, on an NNG thread. */
static void
parked_callback(void *arg)
{
	struct parked *parked = arg;
	struct probe *probe = parked->probe;
	uint64_t now = bench_now_ns();
	int rv = nng_aio_result(parked->aio);
	const char *failure;
	nng_msg *msg;

	if (parked->state == PARKED_SENDING) {
		pthread_mutex_lock(&probe->lock);
		probe->n_posted++;
		if (rv != 0) {
			/* A request that did not go out comes back to its sender. */
			nng_msg_free(nng_aio_get_msg(parked->aio));
			nng_aio_set_msg(parked->aio, NULL);
			finish(parked, "sending the recv request failed", rv);
			pthread_mutex_unlock(&probe->lock);
			return;
		}
		parked->state = PARKED_WAITING;
		pthread_cond_broadcast(&probe->changed);
		pthread_mutex_unlock(&probe->lock);
		nng_ctx_recv(parked->ctx, parked->aio);
		return;
	}
	if (parked->state != PARKED_WAITING)
		return;
	if (rv != 0) {
		pthread_mutex_lock(&probe->lock);
		finish(parked, "waiting for the reply failed", rv);
		pthread_mutex_unlock(&probe->lock);
		return;
	}
	msg = nng_aio_get_msg(parked->aio);
	failure = check_recv_reply(probe, msg);
	nng_msg_free(msg);
	pthread_mutex_lock(&probe->lock);
	parked->replied_ns = now;
	finish(parked, failure, 0);
	pthread_mutex_unlock(&probe->lock);
}

/* Post the recv of one handle on its own context. */
static int
post_recv(struct probe *probe, struct parked *parked)
{
	Sockbroker__V1__RecvRequest recv_args = SOCKBROKER__V1__RECV_REQUEST__INIT;
	Request request = SOCKBROKER__V1__REQUEST__INIT;
	nng_msg *msg;
	int rv, r;

	recv_args.has_handle = true;
	recv_args.handle = parked->handle;
	recv_args.has_bufsize = true;
	recv_args.bufsize = RECV_SIZE;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_RECV;
	request.recv = &recv_args;
	if ((rv = nng_ctx_open(&parked->ctx, probe->socket)) != 0) {
		fprintf(stderr, "cannot open request context %zu: %s\n",
			(size_t)(parked - probe->parked), nng_strerror(rv));
		return -ENOMEM;
	}
	parked->ctx_open = true;
	if ((rv = nng_aio_alloc(&parked->aio, parked_callback, parked)) != 0) {
		fprintf(stderr, "cannot allocate an aio: %s\n", nng_strerror(rv));
		return -ENOMEM;
	}
	/* A parked recv waits as long as it must; the probe bounds the wait. */
	nng_aio_set_timeout(parked->aio, NNG_DURATION_INFINITE);
	if ((r = pack(&request, &msg)) < 0)
		return r;
	parked->state = PARKED_SENDING;
	nng_aio_set_msg(parked->aio, msg);
	nng_ctx_send(parked->ctx, parked->aio);
	return 0;
}

/* Wait until `*counter` reaches `target` or `timeout_ms` passes. */
static bool
wait_for(struct probe *probe, const size_t *counter, size_t target, uint64_t timeout_ms)
{
	struct timespec deadline;
	bool reached;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ms / 1000);
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&probe->lock);
	while (*counter < target &&
	       pthread_cond_timedwait(&probe->changed, &probe->lock, &deadline) != ETIMEDOUT)
		;
	reached = *counter >= target;
	pthread_mutex_unlock(&probe->lock);
	return reached;
}

static int
probe_open(struct probe *probe, const char *url)
{
	pthread_condattr_t attr;
	int rv;

	pthread_mutex_init(&probe->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&probe->changed, &attr);
	pthread_condattr_destroy(&attr);

	if ((rv = nng_req0_open(&probe->socket)) != 0) {
		fprintf(stderr, "cannot open an NNG request socket: %s\n", nng_strerror(rv));
		return -EIO;
	}
	probe->socket_open = true;
	/* Never resend a request (the daemon would run it twice); set before
	 * any context opens, since contexts copy it. */
	if ((rv = nng_socket_set_ms(probe->socket, NNG_OPT_REQ_RESENDTIME,
				    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(probe->socket, NNG_OPT_RECVMAXSZ, 0)) != 0) {
		fprintf(stderr, "cannot configure the NNG socket: %s\n", nng_strerror(rv));
		return -EIO;
	}
	if ((rv = nng_dial(probe->socket, url, NULL, 0)) != 0) {
		fprintf(stderr, "cannot connect to the broker at %s: %s\n", url, nng_strerror(rv));
		return -EIO;
	}
	if ((rv = nng_ctx_open(&probe->setup_ctx, probe->socket)) != 0) {
		fprintf(stderr, "cannot open a request context: %s\n", nng_strerror(rv));
		return -ENOMEM;
	}
	probe->setup_ctx_open = true;
	if ((rv = nng_aio_alloc(&probe->setup_aio, NULL, NULL)) != 0) {
		fprintf(stderr, "cannot allocate an aio: %s\n", nng_strerror(rv));
		return -ENOMEM;
	}
	nng_aio_set_timeout(probe->setup_aio, CALL_TIMEOUT_MS);
	return 0;
}

/* Stop every call still in flight and release everything. The daemon
 * closes the session's handles when the connection goes. */
static void
probe_close(struct probe *probe)
{
	for (size_t i = 0; i < probe->n_parked; i++) {
		struct parked *parked = &probe->parked[i];

		if (parked->aio != NULL)
			nng_aio_stop(parked->aio);
		if (parked->ctx_open)
			nng_ctx_close(parked->ctx);
		if (parked->aio != NULL)
			nng_aio_free(parked->aio);
	}
	free(probe->parked);
	if (probe->setup_aio != NULL)
		nng_aio_free(probe->setup_aio);
	if (probe->setup_ctx_open)
		nng_ctx_close(probe->setup_ctx);
	if (probe->socket_open)
		nng_close(probe->socket);
	pthread_cond_destroy(&probe->changed);
	pthread_mutex_destroy(&probe->lock);
}

/* Send one datagram to each handle, `interval_us` apart. */
static int
wake_all(struct probe *probe, uint64_t interval_us)
{
	const char byte = WAKE_BYTE;
	uint64_t start;
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "cannot make a UDP socket: %s\n", strerror(-r));
		return r;
	}
	/* Sleep to the microsecond, not to the default 50 us of slack. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	start = bench_now_ns();
	for (size_t i = 0; i < probe->n_parked; i++) {
		struct parked *parked = &probe->parked[i];
		uint64_t at = start + i * interval_us * 1000;
		struct timespec when = {
			.tv_sec = (time_t)(at / 1000000000u),
			.tv_nsec = (long)(at % 1000000000u),
		};

		if (interval_us > 0)
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL);
		parked->woken_ns = bench_now_ns();
		if (sendto(fd, &byte, 1, 0, (struct sockaddr *)&parked->address,
			   sizeof(parked->address)) < 0) {
			r = -errno;
			fprintf(stderr, "cannot send the wake-up datagram to handle %" PRIu64
				": %s\n", parked->handle, strerror(-r));
			break;
		}
	}
	close(fd);
	return r;
}

static int
report(struct probe *probe, const struct options *options, uint64_t threads_before,
       uint64_t rss_before_kib, uint64_t threads, uint64_t rss_parked_kib)
{
	uint64_t *latencies = calloc(probe->n_parked, sizeof(*latencies));
	size_t n = 0, failed = 0;
	const struct parked *first_failed = NULL;
	int64_t growth = ((int64_t)rss_parked_kib - (int64_t)rss_before_kib) * 1024;

	if (latencies == NULL) {
		fprintf(stderr, "out of memory\n");
		return -ENOMEM;
	}
	pthread_mutex_lock(&probe->lock);
	for (size_t i = 0; i < probe->n_parked; i++) {
		const struct parked *parked = &probe->parked[i];

		if (parked->state == PARKED_DONE && parked->failure == NULL) {
			latencies[n++] = parked->replied_ns - parked->woken_ns;
		} else {
			failed++;
			if (first_failed == NULL)
				first_failed = parked;
		}
	}
	pthread_mutex_unlock(&probe->lock);
	if (failed > 0) {
		fprintf(stderr, "%zu of %zu recvs did not come back with their datagram; the "
			"first: handle %" PRIu64 ": %s%s%s\n", failed, probe->n_parked,
			first_failed->handle,
			first_failed->failure != NULL ? first_failed->failure : "no reply in time",
			first_failed->nng_error != 0 ? ": " : "",
			first_failed->nng_error != 0 ? nng_strerror(first_failed->nng_error) : "");
		if (probe->first_error[0] != '\0')
			fprintf(stderr, "the daemon's first error: %s\n", probe->first_error);
		free(latencies);
		return -EIO;
	}
	qsort(latencies, n, sizeof(*latencies), bench_compare_u64);
	printf("parked handles=%zu threads=%" PRIu64 " rss_per_handle_bytes=%.0f "
	       "wake_p50_us=%.1f wake_p99_us=%.1f wake_max_us=%.1f threads_before=%" PRIu64
	       " rss_before_kib=%" PRIu64 " rss_parked_kib=%" PRIu64 " wake_interval_us=%" PRIu64
	       "\n",
	       probe->n_parked, threads, (double)growth / (double)probe->n_parked,
	       bench_percentile(latencies, n, 50) / 1e3, bench_percentile(latencies, n, 99) / 1e3,
	       latencies[n - 1] / 1e3, threads_before, rss_before_kib, rss_parked_kib,
	       options->wake_interval_us);
	fflush(stdout);
	free(latencies);
	return 0;
}

static int
run(struct probe *probe, const struct options *options)
{
	uint64_t threads_before, rss_before_kib, threads, rss_parked_kib;
	struct timespec settle = {
		.tv_sec = (time_t)(options->settle_ms / 1000),
		.tv_nsec = (long)(options->settle_ms % 1000) * 1000000,
	};
	int r;

	if ((r = say_hello(probe, options)) < 0)
		return r;
	check_daemon_name(options->pid);
	probe->parked = calloc(options->handles, sizeof(*probe->parked));
	if (probe->parked == NULL) {
		fprintf(stderr, "out of memory for %" PRIu64 " handles\n", options->handles);
		return -ENOMEM;
	}
	if ((r = read_daemon_status(options->pid, &rss_before_kib, &threads_before)) < 0)
		return r;

	for (size_t i = 0; i < options->handles; i++) {
		probe->parked[i].probe = probe;
		probe->n_parked = i + 1;
		if ((r = make_handle(probe, &probe->parked[i])) < 0) {
			fprintf(stderr, "making handle %zu of %" PRIu64 " failed\n", i + 1,
				options->handles);
			return r;
		}
	}
	for (size_t i = 0; i < probe->n_parked; i++) {
		if ((r = post_recv(probe, &probe->parked[i])) < 0)
			return r;
	}
	if (!wait_for(probe, &probe->n_posted, probe->n_parked, PARK_TIMEOUT_MS)) {
		fprintf(stderr, "the recv requests did not all go out within %d ms\n",
			PARK_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	pthread_mutex_lock(&probe->lock);
	r = probe->n_replied > 0 ? -EPROTO : 0;
	pthread_mutex_unlock(&probe->lock);
	if (r < 0) {
		fprintf(stderr, "recvs came back before any datagram was sent: they did not "
			"park\n");
		return r;
	}
	/* A request sent after them all is answered after they were all taken
	 * in; then the daemon is given time to settle before it is measured. */
	if ((r = sync_with_daemon(probe)) < 0)
		return r;
	nanosleep(&settle, NULL);
	if ((r = read_daemon_status(options->pid, &rss_parked_kib, &threads)) < 0)
		return r;

	if ((r = wake_all(probe, options->wake_interval_us)) < 0)
		return r;
	wait_for(probe, &probe->n_replied, probe->n_parked, REPLY_TIMEOUT_MS);
	return report(probe, options, threads_before, rss_before_kib, threads, rss_parked_kib);
}

int
main(int argc, char **argv)
{
	struct probe probe = { 0 };
	struct options options;
	int r;

	if (parse_options(argc, argv, &options) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r = probe_open(&probe, options.url);
	if (r == 0)
		r = run(&probe, &options);
	probe_close(&probe);
	return r < 0 ? 1 : 0;
}
