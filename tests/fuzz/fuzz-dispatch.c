/*
 * Fuzz target for decode + dispatch: each input is one request body, sent as
 * a frame on one session of a daemon running in this process (on a thread
 * of its own, serving an ipc:// socket in a temporary directory), so that
 * what decodes goes through the session, the policy gate, the handlers and
 * the reply path. The daemon's policy keeps every kernel call it allows on
 * loopback: sockets of AF_INET, AF_INET6 and AF_UNIX (socketpair), connect,
 * bind and send-to only to 127.0.0.1 and ::1, listen, and name lookups of
 * "localhost" only; everything else is denied before the kernel sees it.
 *
 * A reply is waited for briefly (an operation that parks answers later, or
 * when the session ends); every 256 inputs the session is ended and a new
 * one begun, so that what the inputs left open is closed. At exit the daemon
 * is stopped and freed, so that leak checkers see its memory given back.
 * Built as a libFuzzer program with -Dfuzz=true under clang; replay.c drives
 * it in every test run (test 'fuzz-dispatch-replay').
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "sockbroker.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_POLICY                                                                          \
	"{\"rules\": ["                                                                    \
	"{\"name\": \"fuzz-create\", \"allow\": true, \"ops\": [\"create\"], "               \
	"\"families\": [\"AF_INET\", \"AF_INET6\", \"AF_UNIX\"]}, "                          \
	"{\"name\": \"fuzz-loopback\", \"allow\": true, "                                    \
	"\"ops\": [\"connect\", \"bind\", \"send-to\"], \"addresses\": [\"127.0.0.1/32\", \"::1\"]}, " \
	"{\"name\": \"fuzz-listen\", \"allow\": true, \"ops\": [\"listen\"]}, "               \
	"{\"name\": \"fuzz-names\", \"allow\": true, \"ops\": [\"resolve\"], "                \
	"\"hosts\": [\"localhost\"]}]}"
/* How long an input's reply is waited for. */
#define REPLY_WAIT_MS 20
#define INPUTS_PER_SESSION 256

static struct {
	char dir[64];
	char url[128];
	struct config config;
	struct daemon *daemon;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t ready_cond;
	int ready; /* 0: starting, 1: serving, -1: failed */
	int fd;    /* the session's connection; -1: none */
	uint32_t next_id;
	unsigned inputs;
	unsigned long replies, sessions; /* for the figures printed at exit */
} fuzz = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .ready_cond = PTHREAD_COND_INITIALIZER };

static void *
daemon_thread(void *arg)
{
	(void)arg;
	char err[512];
	int r = daemon_new(&fuzz.daemon, &fuzz.config, NULL, err, sizeof(err));
	pthread_mutex_lock(&fuzz.lock);
	fuzz.ready = r < 0 ? -1 : 1;
	pthread_cond_signal(&fuzz.ready_cond);
	pthread_mutex_unlock(&fuzz.lock);
	if (r < 0) {
		fprintf(stderr, "fuzz-dispatch: cannot start the daemon: %s\n", err);
		return NULL;
	}
	daemon_run(fuzz.daemon);
	return NULL;
}

static void
stop_daemon(void)
{
	if (fuzz.fd >= 0)
		close(fuzz.fd);
	if (fuzz.ready != 1)
		return;
	fprintf(stderr, "fuzz-dispatch: %lu replies on %lu sessions\n", fuzz.replies,
		fuzz.sessions);
	daemon_stop(fuzz.daemon);
	pthread_join(fuzz.thread, NULL);
	daemon_free(fuzz.daemon);
	config_fini(&fuzz.config);
	char path[160];
	snprintf(path, sizeof(path), "%s/sb.sock", fuzz.dir);
	unlink(path);
	rmdir(fuzz.dir);
}

static bool
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read exactly `len` bytes, waiting at most `ms` for each arrival; 1 when
 * read, 0 when nothing came in time, -1 when the connection ended. */
static int
read_exact(int fd, void *buf, size_t len, int ms)
{
	uint8_t *p = buf;
	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, ms) != 1)
			return p == buf ? 0 : -1;
		ssize_t n = recv(fd, p, len, 0);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

static bool
send_frame(const void *body, size_t len)
{
	uint8_t header[13] = { 0x01 };
	uint64_t n = len + 4;
	for (int i = 0; i < 8; i++)
		header[1 + i] = (uint8_t)(n >> (56 - 8 * i));
	uint32_t id = 0x80000000u | (fuzz.next_id++ & 0x7fffffffu);
	header[9] = (uint8_t)(id >> 24);
	header[10] = (uint8_t)(id >> 16);
	header[11] = (uint8_t)(id >> 8);
	header[12] = (uint8_t)id;
	return write_all(fuzz.fd, header, sizeof(header)) && write_all(fuzz.fd, body, len);
}

/* Read the replies that come within `ms`; false when the connection ended. */
static bool
drain_replies(int ms)
{
	for (;;) {
		uint8_t header[9];
		int r = read_exact(fuzz.fd, header, sizeof(header), ms);
		if (r <= 0)
			return r == 0;
		uint64_t len = 0;
		for (int i = 1; i < 9; i++)
			len = len << 8 | header[i];
		if (header[0] != 0x01 || len > (64u << 20))
			return false;
		uint8_t *body = malloc(len ? len : 1);
		if (!body)
			return false;
		r = read_exact(fuzz.fd, body, len, 1000);
		free(body);
		if (r <= 0)
			return false;
		fuzz.replies++;
		ms = 0; /* what else is there now */
	}
}

static void
end_session(void)
{
	if (fuzz.fd >= 0)
		close(fuzz.fd);
	fuzz.fd = -1;
}

static bool
begin_session(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sb.sock", fuzz.dir);
	fuzz.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fuzz.fd < 0 || connect(fuzz.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	static const uint8_t handshake[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	uint8_t theirs[8];
	if (!write_all(fuzz.fd, handshake, sizeof(handshake)) ||
	    read_exact(fuzz.fd, theirs, sizeof(theirs), 5000) != 1)
		goto fail;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	request.hello = &hello;
	uint8_t buf[64];
	size_t len = sockbroker__v1__request__pack(&request, buf);
	if (!send_frame(buf, len) || !drain_replies(5000))
		goto fail;
	fuzz.inputs = 0;
	fuzz.sessions++;
	return true;
fail:
	end_session();
	return false;
}

static bool
start_daemon(void)
{
	snprintf(fuzz.dir, sizeof(fuzz.dir), "/tmp/sockbroker-fuzz-XXXXXX");
	if (!mkdtemp(fuzz.dir))
		return false;
	char json[2048];
	snprintf(json, sizeof(json),
		 "{\"listen\": [\"ipc://%s/sb.sock\"], \"log_level\": \"error\", "
		 "\"audit\": {\"file\": \"/dev/null\"}, \"policy\": %s}",
		 fuzz.dir, FUZZ_POLICY);
	char err[512];
	config_init(&fuzz.config);
	if (config_load_string(&fuzz.config, json, "fuzz", err, sizeof(err)) < 0 ||
	    config_validate(&fuzz.config, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz-dispatch: %s\n", err);
		return false;
	}
	log_set_level(LOG_LEVEL_ERROR);
	if (pthread_create(&fuzz.thread, NULL, daemon_thread, NULL) != 0)
		return false;
	pthread_mutex_lock(&fuzz.lock);
	while (fuzz.ready == 0)
		pthread_cond_wait(&fuzz.ready_cond, &fuzz.lock);
	pthread_mutex_unlock(&fuzz.lock);
	if (fuzz.ready != 1) {
		pthread_join(fuzz.thread, NULL);
		return false;
	}
	atexit(stop_daemon);
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool started, broken;
	if (broken)
		abort();
	if (!started) {
		started = true;
		if (!start_daemon()) {
			broken = true;
			abort();
		}
	}
	if (fuzz.fd >= 0 && fuzz.inputs >= INPUTS_PER_SESSION)
		end_session();
	if (fuzz.fd < 0 && !begin_session())
		abort(); /* the daemon stopped serving: that is a finding */
	fuzz.inputs++;
	if (!send_frame(data, size) || !drain_replies(REPLY_WAIT_MS))
		end_session(); /* the daemon may end a session; the next input begins one */
	return 0;
}
