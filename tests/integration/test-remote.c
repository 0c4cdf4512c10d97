/*
 * Remote clients (tcp:// and tls+tcp://) against the real daemon: dead-peer
 * detection with TCP keepalive; refused TLS handshakes, logged and audited with
 * their reason and explained to the client; a daemon reached by IP address
 * with a certificate that names only the IP, from the C client and sbcat;
 * create_connection to a numeric host without the `resolve` permission, and
 * one audit record for its denial.
 *
 * A client "vanishes" as a crashed host or a NAT that forgot the flow does:
 * its end of the connection disappears without a FIN or a reset. The test
 * does this with TCP_REPAIR (root or CAP_NET_ADMIN): a socket closed in
 * repair mode goes away silently. Only the daemon's keepalive probes can
 * then notice the peer is gone.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certs.h"
#include "clock.h"
#include "fixture.h"
#include "servers.h"
#include "sockbroker.h"

/* Probes after 1 s of silence, one every second, the first unanswered one ends the
 * connection; its session is then kept 1 s for a resume. */
#define KEEPALIVE_CONFIG \
	"{\"remote\": {\"keepalive_idle_s\": 1, \"keepalive_interval_s\": 1, " \
	"\"keepalive_count\": 1, \"resume_grace_tcp_s\": 1}}"

/* How long a vanished client's session may take to end: keepalive and grace (about 3 s
 * here) with ample room for a loaded machine; the default keepalive (30 s idle) exceeds
 * it. */
#define VANISH_WAIT_MS 15000

static char tcp_url[64];
static uint16_t daemon_port;

static uint16_t
free_tcp_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void
start(const char *config)
{
	client = NULL;
	daemon_port = free_tcp_port();
	snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%u", daemon_port);
	test_daemon_start_listening(&daemon_under_test, config, tcp_url);
}

static void
setup(void)
{
	cert_dir[0] = '\0';
	daemon_under_test.pid = 0;
}

static void
teardown(void)
{
	/* A case that skipped started no daemon. */
	if (daemon_under_test.pid > 0)
		fixture_stop();
	if (cert_dir[0])
		remove_certificates();
}

static struct sb_client *
connect_tcp(const char *name)
{
	struct sb_client_options options = { .url = tcp_url, .client_name = name };
	struct sb_client *c = NULL;
	struct sb_error err;

	ck_assert_msg(sb_client_new_with(&c, &options, &err) == 0, "%s", err.message);
	return c;
}

/* The descriptor of this process's TCP connection to the daemon, or -1. */
static int
daemon_connection_fd(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (e = readdir(dir))) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
		    peer.sin_family == AF_INET && ntohs(peer.sin_port) == daemon_port)
			found = fd;
	}
	closedir(dir);
	return found;
}

/* In a child: connect over tcp://, open a TCP listener through the daemon, write its port
 * to `out` (0 when the connection cannot be made to vanish), and vanish. */
static void
vanishing_client(int out)
{
	struct sb_client *c = connect_tcp("vanishing");
	struct sb_error err;
	struct sb_addr addr, local;
	sb_handle h;
	uint16_t port = 0;
	int one = 1;

	sb_addr_inet(&addr, "127.0.0.1", 0);
	if (sb_socket(c, AF_INET, SOCK_STREAM, 0, &h, &err) < 0 ||
	    sb_bind(c, h, &addr, &err) < 0 || sb_listen(c, h, 4, &err) < 0)
		_exit(2);
	/* The last reply is acknowledged now (TCP_QUICKACK sends a delayed ACK still
	 * pending): else the daemon would retransmit it, get a reset and notice without
	 * keepalive. */
	int fd = daemon_connection_fd();
	if (fd < 0 || sb_getsockname(c, h, &local, &err) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)) < 0)
		_exit(2);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)) == 0)
		port = local.port;
	if (write(out, &port, sizeof(port)) != (ssize_t)sizeof(port))
		_exit(3);
	_exit(0); /* the connection goes without a FIN: it was in repair mode */
}

START_TEST(keepalive_ends_a_vanished_clients_session)
{
	int pipefd[2], status;
	uint16_t port = 0;

	start(KEEPALIVE_CONFIG);
	int fds_before = test_daemon_fd_count(&daemon_under_test);
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		vanishing_client(pipefd[1]);
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], &port, sizeof(port));
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the vanishing client failed before it vanished (status %d)", status);
	ck_assert_int_eq(n, (ssize_t)sizeof(port));
	if (port == 0) {
		test_skip("keepalive_ends_a_vanished_clients_session",
			  "TCP_REPAIR is not allowed here (needs CAP_NET_ADMIN)");
		return;
	}

	/* The session's connection and listener live until the daemon notices the client
	 * is gone. */
	ck_assert_int_eq(test_daemon_fd_count(&daemon_under_test), fds_before + 2);
	int fds = test_daemon_wait_fd_count(&daemon_under_test, fds_before, VANISH_WAIT_MS);
	ck_assert_msg(fds == fds_before,
		      "the session of a vanished client still holds its connection and listener "
		      "after %d ms (%d descriptors open, %d before)",
		      VANISH_WAIT_MS, fds, fds_before);
	/* Detached first, for a resume that did not come, then ended. */
	ck_assert(test_daemon_wait_log(&daemon_under_test, "detached with 1 sockets", 1000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"event\": \"sockbroker.session.detach\"",
				       1000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "not resumed within its grace period",
				       1000));
}
END_TEST

/* ---- create_connection ----------------------------------------------------- */

/* No `resolve` anywhere: names cannot be looked up; 127.0.0.2 may not be reached. */
#define NO_RESOLVE_CONFIG \
	"{\"policy\": {\"rules\": [" \
	"{\"name\": \"no-second\", \"allow\": false, \"ops\": [\"connect\"], " \
	"\"addresses\": [\"127.0.0.2/32\"]}, " \
	"{\"name\": \"tcp\", \"allow\": true, \"ops\": [\"create\", \"connect\"], " \
	"\"families\": [\"AF_INET\", \"AF_INET6\"]}]}, " \
	"\"audit\": {\"events\": [\"socket.connect\"]}}"

/* How many lines of the daemon's log contain `text`. */
static int
log_count(const char *text)
{
	FILE *f = fopen(daemon_under_test.log, "r");
	char line[4096];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

START_TEST(create_connection_to_a_numeric_host_needs_no_resolve_and_audits_once)
{
	struct echo_server echo;
	struct sb_error err;
	struct sb_addr peer;
	sb_handle h;

	test_daemon_start(&daemon_under_test, NO_RESOLVE_CONFIG);
	fixture_connect("test-remote");
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_STREAM), 0);

	/* A literal address connects, as connect() to it would. */
	ck_assert_msg(sb_create_connection(client, "127.0.0.1", echo.port, -1, NULL, &h, &peer,
					   NULL, NULL, &err) == 0,
		      "%s", err.message);
	fixture_echo(h, "numeric");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	/* A name still needs `resolve`. */
	ck_assert_int_eq(sb_create_connection(client, "localhost", echo.port, -1, NULL, &h, &peer,
					      NULL, NULL, &err),
			 -EACCES);
	ck_assert_msg(strstr(err.message, "default-deny"), "%s", err.message);

	/* A denied address: one record, the denial, and none that says "allow". */
	ck_assert_int_eq(sb_create_connection(client, "127.0.0.2", echo.port, -1, NULL, &h, &peer,
					      NULL, NULL, &err),
			 -EACCES);
	ck_assert_str_eq(err.rule, "no-second");
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"rule\": \"no-second\"", 10000));
	/* A sync point: a later call's record comes after every earlier one. */
	ck_assert_msg(sb_create_connection(client, "127.0.0.1", echo.port, -1, NULL, &h, &peer,
					   NULL, NULL, &err) == 0,
		      "%s", err.message);
	int64_t deadline = test_now_ms() + 10000;
	/* Records: the first connection, the name's refusal, the denial, the last one. */
	while (log_count("\"event\": \"socket.connect\"") < 4 && test_now_ms() < deadline)
		test_sleep_ms(10);
	ck_assert_int_eq(log_count("\"host\": \"127.0.0.2\""), 1);
	ck_assert_int_eq(log_count("\"event\": \"socket.connect\""), 4);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&echo);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------ */

static char tls_url[64];
static char ca[128], server_pem[128], client_pem[128], stranger_pem[128];

/* Certificates whose server certificate names only `san`, and a daemon serving tls+tcp:// on
 * 127.0.0.1 with them. False when the case skipped. */
static bool
start_tls(const char *test, const char *san)
{
	char config[1024];

	if (!make_certificates(test, san))
		return false;
	snprintf(ca, sizeof(ca), "%s/ca.crt", cert_dir);
	snprintf(server_pem, sizeof(server_pem), "%s/server.pem", cert_dir);
	snprintf(client_pem, sizeof(client_pem), "%s/client.pem", cert_dir);
	snprintf(stranger_pem, sizeof(stranger_pem), "%s/stranger.pem", cert_dir);
	snprintf(tls_url, sizeof(tls_url), "tls+tcp://127.0.0.1:%u", free_tcp_port());
	snprintf(config, sizeof(config),
		 "{\"tls\": {\"cert_key_file\": \"%s\", \"ca_file\": \"%s\"}}", server_pem, ca);
	client = NULL;
	test_daemon_start_listening(&daemon_under_test, config, tls_url);
	return true;
}

static int
connect_tls(struct sb_client **out, const char *ca_file, const char *cert_key_file,
	    struct sb_error *err)
{
	struct sb_client_options options = {
		.url = tls_url,
		.client_name = "test-remote",
		.tls_ca_file = ca_file,
		.tls_cert_key_file = cert_key_file,
	};
	*out = NULL;
	return sb_client_new_with(out, &options, err);
}

START_TEST(a_refused_tls_handshake_is_logged_audited_and_explained)
{
	struct sb_client *c;
	struct sb_error err;

	if (!start_tls("refused-tls", TEST_CERTS_SERVER_SAN))
		return;

	/* No client certificate. */
	ck_assert_int_lt(connect_tls(&c, ca, "", &err), 0);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "SOCKBROKER_TLS_CERT_KEY_FILE"), "%s", err.message);
	ck_assert_msg(test_daemon_wait_log(&daemon_under_test,
					   "\"event\": \"sockbroker.tls.refused\"", 10000),
		      "no audit record of the refused handshake");
	ck_assert(test_daemon_wait_log(&daemon_under_test, "the client sent no certificate", 10000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"transport\": \"tls+tcp\"", 10000));
	ck_assert(test_daemon_wait_log(&daemon_under_test, "\"rule\": \"tls\"", 10000));

	/* A certificate another CA signed. */
	ck_assert_int_lt(connect_tls(&c, ca, stranger_pem, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "refused the client certificate of ") &&
			      strstr(err.message, stranger_pem),
		      "%s", err.message);
	ck_assert(test_daemon_wait_log(&daemon_under_test,
				       "the client certificate was refused: unable to get local "
				       "issuer certificate",
				       10000));

	/* A server certificate the client's CA file does not vouch for. */
	ck_assert_int_lt(connect_tls(&c, stranger_pem, client_pem, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_msg(strstr(err.message, "SOCKBROKER_TLS_CA_FILE"), "%s", err.message);

	/* A certificate file that does not exist is named. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/missing.pem", cert_dir);
	ck_assert_int_lt(connect_tls(&c, ca, missing, &err), 0);
	ck_assert_msg(strstr(err.message, missing), "%s", err.message);

	/* The daemon serves the right certificate still. */
	ck_assert_msg(connect_tls(&client, ca, client_pem, &err) == 0, "%s", err.message);
}
END_TEST

/* Run sbcat with `args` under `env` (NULL-terminated "NAME=value"), stdin from `input`;
 * its stdout to `out` (len bytes), stderr to `errout`. Returns its exit status, or -1 when
 * it did not end within 30 s (then it is killed). */
static int
run_sbcat(const char *const *args, const char *const *env, const char *input, char *out,
	  size_t len, char *errout, size_t errlen)
{
	const char *path = getenv("SBCAT");
	int in[2], o[2], e[2];

	ck_assert_msg(path, "SBCAT must name the sbcat binary under test");
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(o), 0);
	ck_assert_int_eq(pipe(e), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		const char *argv[16];
		int argc = 0;

		dup2(in[0], STDIN_FILENO);
		dup2(o[1], STDOUT_FILENO);
		dup2(e[1], STDERR_FILENO);
		/* Only the duplicates stay: stdin must end when the parent closes its end. */
		for (int i = 0; i < 2; i++) {
			close(in[i]);
			close(o[i]);
			close(e[i]);
		}
		argv[argc++] = path;
		for (size_t i = 0; args[i] && argc < 15; i++)
			argv[argc++] = args[i];
		argv[argc] = NULL;
		execve(path, (char **)argv, (char **)env);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	ck_assert_int_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in[1]);
	fcntl(o[0], F_SETFL, O_NONBLOCK);
	fcntl(e[0], F_SETFL, O_NONBLOCK);
	size_t n_out = 0, n_err = 0;
	int status = -1;
	int64_t deadline = test_now_ms() + 30000;
	for (;;) {
		ssize_t n;
		while (n_out + 1 < len && (n = read(o[0], out + n_out, len - 1 - n_out)) > 0)
			n_out += (size_t)n;
		while (n_err + 1 < errlen && (n = read(e[0], errout + n_err, errlen - 1 - n_err)) > 0)
			n_err += (size_t)n;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (test_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			status = -1;
			break;
		}
		test_sleep_ms(10);
	}
	ssize_t n;
	while (n_out + 1 < len && (n = read(o[0], out + n_out, len - 1 - n_out)) > 0)
		n_out += (size_t)n;
	while (n_err + 1 < errlen && (n = read(e[0], errout + n_err, errlen - 1 - n_err)) > 0)
		n_err += (size_t)n;
	out[n_out] = '\0';
	errout[n_err] = '\0';
	close(o[0]);
	close(e[0]);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(the_c_client_and_sbcat_reach_a_daemon_by_ip_with_an_ip_certificate)
{
	struct echo_server echo, echo2;
	struct sb_error err;
	char url[96], ca_env[160], cert_env[160], target[64], out[256], errout[1024];

	/* The server certificate names 127.0.0.1 as an IP address and nothing else. */
	if (!start_tls("ip-certificate", "IP:127.0.0.1"))
		return;
	ck_assert_msg(connect_tls(&client, ca, client_pem, &err) == 0, "%s", err.message);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_STREAM), 0);
	struct sb_addr addr;
	sb_addr_inet(&addr, "127.0.0.1", echo.port);
	ck_assert_msg(sb_connect(client, h, &addr, &err) == 0, "%s", err.message);
	fixture_echo(h, "over TLS by IP");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	/* sbcat gets an echo server of its own: the close above may still be written behind. */
	ck_assert_int_eq(echo_server_start(&echo2, AF_INET, SOCK_STREAM), 0);

	snprintf(url, sizeof(url), "SOCKBROKER_URL=%s", tls_url);
	snprintf(ca_env, sizeof(ca_env), "SOCKBROKER_TLS_CA_FILE=%s", ca);
	snprintf(cert_env, sizeof(cert_env), "SOCKBROKER_TLS_CERT_KEY_FILE=%s", client_pem);
	snprintf(target, sizeof(target), "tcp:127.0.0.1:%u", echo2.port);
	const char *args[] = { "-t", "10", target, NULL };
	const char *env[] = { url, ca_env, cert_env, NULL };
	int status = run_sbcat(args, env, "ping\n", out, sizeof(out), errout, sizeof(errout));
	ck_assert_msg(status == 0, "sbcat exited %d: %s", status, errout);
	ck_assert_str_eq(out, "ping\n");

	/* Without a certificate sbcat says which is missing and where it goes. */
	const char *no_cert_env[] = { url, ca_env, NULL };
	status = run_sbcat(args, no_cert_env, "ping\n", out, sizeof(out), errout, sizeof(errout));
	ck_assert_int_ne(status, 0);
	ck_assert_msg(strstr(errout, "SOCKBROKER_TLS_CERT_KEY_FILE"), "%s", errout);
	ck_assert_msg(!strstr(errout, "is sockbrokerd running"), "%s", errout);
	echo_server_stop(&echo);
	echo_server_stop(&echo2);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("remote");
	const struct fixture_case cases[] = {
		{ "keepalive_ends_a_vanished_clients_session",
		  keepalive_ends_a_vanished_clients_session },
		{ "refused-tls", a_refused_tls_handshake_is_logged_audited_and_explained },
		{ "numeric-host", create_connection_to_a_numeric_host_needs_no_resolve_and_audits_once },
		{ "ip-certificate", the_c_client_and_sbcat_reach_a_daemon_by_ip_with_an_ip_certificate },
	};

	fixture_add_cases(suite, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return fixture_run(suite);
}
