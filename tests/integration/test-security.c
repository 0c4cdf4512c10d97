/*
 * The daemon as a way out of a sandbox, tried through the C library: with
 * the built-in default policy (and with a few policies of the tests' own),
 * every attempt to reach what a sandboxed client must not reach is refused
 * with the errno the kernel would give an unprivileged caller (checked by
 * name), with kind DENIED and the deciding rule named in the error, is
 * written to the audit log as a "deny" record naming the rule, leaves no fd
 * behind in the daemon, and leaves the session serving: a TCP echo to a
 * server on 127.0.0.1 still works on the same client afterwards. Quotas are
 * refused the same way (kind QUOTA, the quota named), never by a disconnect.
 *
 * Host names the tests need (one resolving to the cloud metadata address,
 * one to a private range) come from a hosts file of this program's own:
 * main() moves the program into private mount and UTS namespaces and binds
 * that file over /etc/hosts, so the daemon it starts resolves them with its
 * ordinary getaddrinfo() while the machine's hosts file is untouched (and a
 * sethostname() that got through could rename only the private namespace).
 * Without the privilege to do that, the cases by host name say SKIP.
 *
 * A wrong or missing token is tried here too; test-identity covers tokens
 * in depth, and TLS clients without a certificate.
 */
#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/netlink.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "servers.h"
#include "sockbroker.h"

/* Names of the private hosts file (see main()). */
#define METADATA_NAME "metadata.sec.sockbroker.test"
#define PRIVATE_NAME "private.sec.sockbroker.test"
#define PRIVATE_ADDRESS "10.1.2.3"

/* How long a denial may take to show in the audit log and the fd count. */
#define SETTLE_MS 5000

/* Whether /etc/hosts is this program's own (main() managed to set it up). */
static bool private_hosts;
static char hosts_dir[256];

/* Per test case: a scratch directory of the test's own (unix sockets,
 * symlinks, the audit log), removed with everything in it at teardown. */
static char scratch[256];
static char audit_path[320];
/* Audit lines already matched by expect_audit(). */
static int audit_consumed;
/* Under a policy that denies loopback, "still serving" is shown with a
 * socketpair instead of a TCP echo to 127.0.0.1. */
static bool loopback_denied;

/* ---- fixture ------------------------------------------------------------- */

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void
remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	snprintf(scratch, sizeof(scratch), "/tmp/sockbroker-security-XXXXXX");
	ck_assert_msg(mkdtemp(scratch), "mkdtemp: %s", strerror(errno));
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", scratch);
	audit_consumed = 0;
	loopback_denied = false;
	daemon_under_test.pid = 0;
	client = NULL;
}

static void
teardown(void)
{
	if (daemon_under_test.pid > 0)
		fixture_stop();
	remove_tree(scratch);
}

/* Start the daemon with `policy_json` (NULL: the built-in default), the
 * audit log in the scratch directory and the members `more_json` (NULL:
 * none) in its configuration. */
static void
start_daemon_only(const char *policy_json, const char *more_json)
{
	size_t len = strlen(audit_path) + (policy_json ? strlen(policy_json) : 0) +
		     (more_json ? strlen(more_json) : 0) + 64;
	char *config = malloc(len);
	ck_assert_ptr_nonnull(config);
	int n = snprintf(config, len, "{\"audit\": {\"file\": \"%s\"}", audit_path);
	if (more_json)
		n += snprintf(config + n, len - (size_t)n, ", %s", more_json);
	if (policy_json)
		snprintf(config + n, len - (size_t)n, ", \"policy\": %s}", policy_json);
	else
		snprintf(config + n, len - (size_t)n, "}");
	if (policy_json)
		test_daemon_start(&daemon_under_test, config);
	else
		test_daemon_start_builtin_policy(&daemon_under_test, config);
	free(config);
}

/* The same, and connect the client. */
static void
start_daemon(const char *policy_json)
{
	start_daemon_only(policy_json, NULL);
	fixture_connect("test-security");
}

static int
fd_count(void)
{
	int n = test_daemon_fd_count(&daemon_under_test);
	ck_assert_int_gt(n, 0);
	return n;
}

static bool
skip_without_private_hosts(const char *what)
{
	if (private_hosts)
		return false;
	fprintf(stderr, "SKIP %s: no private /etc/hosts (this program could not make a mount "
			"namespace of its own; it needs root)\n",
		what);
	return true;
}

/* ---- small helpers ------------------------------------------------------- */

static sb_handle
new_socket(struct sb_client *c, int family, int type, int proto)
{
	sb_handle h;
	struct sb_error err;
	int r = sb_socket(c, family, type, proto, &h, &err);
	ck_assert_msg(r == 0, "socket(%d, %d, %d): %s", family, type, proto, err.message);
	return h;
}

static void
addr_ip(struct sb_addr *addr, int family, const char *host, unsigned port)
{
	if (family == AF_INET6)
		ck_assert_int_eq(sb_addr_inet6(addr, host, port, 0, 0), 0);
	else
		ck_assert_int_eq(sb_addr_inet(addr, host, port), 0);
}

/* The session still gets what it is allowed: a TCP echo through 127.0.0.1,
 * or (under a policy denying loopback) data through a socketpair. */
static void
still_serves(void)
{
	struct sb_error err;
	if (loopback_denied) {
		sb_handle pair[2];
		char buf[16];
		ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err), 0);
		ck_assert_int_eq(sb_send(client, pair[0], "still", 5, 0, &err), 5);
		ck_assert_int_eq(sb_recv(client, pair[1], buf, sizeof(buf), 0, &err), 5);
		ck_assert(memcmp(buf, "still", 5) == 0);
		ck_assert_int_eq(sb_close(client, pair[0], &err), 0);
		ck_assert_int_eq(sb_close(client, pair[1], &err), 0);
		return;
	}
	struct echo_server server;
	struct sb_addr addr;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = new_socket(client, AF_INET, SOCK_STREAM, 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", server.port);
	int r = sb_connect(client, h, &addr, &err);
	ck_assert_msg(r == 0, "connect to the echo server: %s", err.message);
	fixture_echo(h, "the daemon still serves");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
}

/* ---- the audit log ------------------------------------------------------- */

static const char *
json_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool
str_is(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/*
 * The next audit record (after those matched before) with `decision` and
 * `rule`, for `event`, with the result errno `errno_name` and error kind
 * `kind`; waits up to SETTLE_MS for it. Returns the parsed line (the
 * caller's to cJSON_Delete()).
 */
static cJSON *
expect_audit(const char *event, const char *decision, const char *rule, const char *errno_name,
	     const char *kind)
{
	int64_t deadline = test_now_ms() + SETTLE_MS;
	for (;;) {
		FILE *f = fopen(audit_path, "r");
		char *line = NULL;
		size_t cap = 0;
		int n = 0;
		cJSON *found = NULL;
		while (f && !found && getline(&line, &cap, f) > 0) {
			if (n++ < audit_consumed)
				continue;
			cJSON *record = cJSON_Parse(line);
			ck_assert_msg(record, "an audit line is not JSON: %s", line);
			const cJSON *result = cJSON_GetObjectItemCaseSensitive(record, "result");
			if (str_is(json_string(record, "event"), event) &&
			    str_is(json_string(record, "decision"), decision) &&
			    str_is(json_string(record, "rule"), rule) &&
			    str_is(json_string(result, "errno"), errno_name) &&
			    str_is(json_string(result, "kind"), kind)) {
				found = record;
				audit_consumed = n;
			} else {
				cJSON_Delete(record);
			}
		}
		free(line);
		if (f)
			fclose(f);
		if (found) {
			const cJSON *result = cJSON_GetObjectItemCaseSensitive(found, "result");
			ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(result, "ok")));
			const cJSON *identity = cJSON_GetObjectItemCaseSensitive(found, "identity");
			ck_assert_str_eq(json_string(identity, "transport"), "ipc");
			ck_assert_str_eq(json_string(identity, "client"), "test-security");
			const cJSON *uid = cJSON_GetObjectItemCaseSensitive(identity, "uid");
			ck_assert(cJSON_IsNumber(uid) && uid->valuedouble == (double)getuid());
			return found;
		}
		if (test_now_ms() > deadline) {
			FILE *dump = fopen(audit_path, "r");
			char buf[2048];
			fprintf(stderr, "---- audit log ----\n");
			while (dump && fgets(buf, sizeof(buf), dump))
				fputs(buf, stderr);
			if (dump)
				fclose(dump);
			ck_abort_msg("no audit record %s \"%s\" by rule \"%s\" (%s, kind %s) after "
				     "line %d",
				     event, decision, rule, errno_name, kind, audit_consumed);
		}
		test_sleep_ms(20);
	}
}

/* The record's args.KEY address object. */
static const cJSON *
audit_address(const cJSON *record, const char *key)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(record, "args");
	const cJSON *address = cJSON_GetObjectItemCaseSensitive(args, key);
	ck_assert_msg(cJSON_IsObject(address), "the audit record has no args.%s", key);
	return address;
}

/* ---- the shape of every denial ------------------------------------------- */

/*
 * `r` and `err` are a denial by `rule` with `errno_name`; it is audited as
 * `event`, the daemon's fd count is back to `fds_before`, and the session
 * still serves. Returns the audit record (the caller's to cJSON_Delete()).
 */
static cJSON *
expect_denied(int r, const struct sb_error *err, int fds_before, const char *event,
	      const char *errno_name, const char *rule)
{
	ck_assert_msg(r < 0, "the operation succeeded; the policy should have denied it "
			     "(rule %s)", rule);
	ck_assert_msg(err->kind == SB_ERR_DENIED, "kind %s (%s): %s",
		      sb_error_kind_name(err->kind), err->errno_name, err->message);
	ck_assert_str_eq(err->errno_name, errno_name);
	ck_assert_int_eq(-r, strcmp(errno_name, "EPERM") == 0 ? EPERM : EACCES);
	ck_assert_str_eq(err->rule, rule);
	ck_assert_msg(strstr(err->message, rule), "the message does not name rule %s: %s", rule,
		      err->message);
	cJSON *record = expect_audit(event, "deny", rule, errno_name, "denied");
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, fds_before, SETTLE_MS),
			 fds_before);
	still_serves();
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, fds_before, SETTLE_MS),
			 fds_before);
	return record;
}

static void
expect_denied_and_free(int r, const struct sb_error *err, int fds_before, const char *event,
		       const char *errno_name, const char *rule)
{
	cJSON_Delete(expect_denied(r, err, fds_before, event, errno_name, rule));
}

/* `r` and `err` are a refusal by quota `quota` with `errno_name`, audited as
 * `event`; the message names the quota. */
static void
expect_over_quota(int r, const struct sb_error *err, const char *event, const char *errno_name,
		  const char *quota)
{
	ck_assert_msg(r < 0, "the operation succeeded; quota %s should have refused it", quota);
	ck_assert_msg(err->kind == SB_ERR_QUOTA, "kind %s (%s): %s",
		      sb_error_kind_name(err->kind), err->errno_name, err->message);
	ck_assert_str_eq(err->errno_name, errno_name);
	ck_assert_msg(strstr(err->message, quota), "the message does not name quota %s: %s",
		      quota, err->message);
	cJSON_Delete(expect_audit(event, "quota", quota, errno_name, "quota"));
}

/* ---- AF_UNIX, netlink, raw, packet, sethostname ------------------------- */

START_TEST(connect_to_a_unix_path_on_the_host_is_denied)
{
	start_daemon(NULL);
	struct echo_server server;
	struct sb_addr addr;
	struct sb_error err;
	char path[320];

	/* A real listener: the denial is the policy's, not a missing file. */
	snprintf(path, sizeof(path), "%s/host-service.sock", scratch);
	ck_assert_int_eq(echo_server_start_unix(&server, path, 0), 0);
	int direct = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path));
	ck_assert_int_eq(connect(direct, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(direct);

	sb_handle h = new_socket(client, AF_UNIX, SOCK_STREAM, 0);
	int fds = fd_count();
	ck_assert_int_eq(sb_addr_unix(&addr, path), 0);
	int r = sb_connect(client, h, &addr, &err);
	cJSON *record = expect_denied(r, &err, fds, "socket.connect", "EACCES", "default-deny");
	ck_assert_str_eq(json_string(record, "event"), "socket.connect");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(record, "args");
	ck_assert_str_eq(json_string(args, "path"), path);
	cJSON_Delete(record);

	/* The daemon's own listener is a path on the host like any other. */
	char own[320];
	snprintf(own, sizeof(own), "%s/sockbroker.sock", daemon_under_test.dir);
	ck_assert_int_eq(sb_addr_unix(&addr, own), 0);
	r = sb_connect(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "default-deny");

	/* A datagram sent to a path asks the same question. */
	sb_handle d = new_socket(client, AF_UNIX, SOCK_DGRAM, 0);
	fds = fd_count();
	ck_assert_int_eq(sb_addr_unix(&addr, path), 0);
	r = (int)sb_sendto(client, d, "x", 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES", "default-deny");

	/* The handle is still usable for what the policy allows. */
	struct sb_addr local;
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_close(client, d, &err), 0);
	echo_server_stop(&server);
}
END_TEST

START_TEST(connect_to_an_abstract_unix_name_is_denied)
{
	start_daemon(NULL);
	struct echo_server server;
	struct sb_addr addr;
	struct sb_error err;
	char name[64];

	snprintf(name, sizeof(name), "sockbroker-security-%d", (int)getpid());
	ck_assert_int_eq(echo_server_start_unix(&server, name, 1), 0);
	sb_handle h = new_socket(client, AF_UNIX, SOCK_STREAM, 0);
	int fds = fd_count();
	ck_assert_int_eq(sb_addr_abstract(&addr, name, strlen(name)), 0);
	int r = sb_connect(client, h, &addr, &err);
	cJSON *record = expect_denied(r, &err, fds, "socket.connect", "EACCES", "default-deny");
	char expected[80];
	snprintf(expected, sizeof(expected), "@%s", name);
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(record, "args");
	ck_assert_str_eq(json_string(args, "path"), expected);
	cJSON_Delete(record);

	/* bind to an abstract name is no better. */
	fds = fd_count();
	ck_assert_int_eq(sb_addr_abstract(&addr, "sockbroker-security-bind", 24), 0);
	r = sb_bind(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "default-deny");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
}
END_TEST

START_TEST(netlink_sockets_are_denied_so_no_route_can_change)
{
	start_daemon(NULL);
	struct sb_error err;
	sb_handle h;
	int fds = fd_count();
	int r = sb_socket(client, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, &h, &err);
	cJSON *record = expect_denied(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(record, "args");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(args, "family")->valueint, AF_NETLINK);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(args, "proto")->valueint,
			 NETLINK_ROUTE);
	cJSON_Delete(record);

	/* Every netlink flavour and type, and a pair of them. */
	r = sb_socket(client, AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE, &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	r = sb_socket(client, AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER, &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	sb_handle pair[2];
	r = sb_socketpair(client, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, pair, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
}
END_TEST

START_TEST(raw_and_packet_sockets_are_denied)
{
	start_daemon(NULL);
	struct sb_error err;
	sb_handle h;
	int fds = fd_count();
	int r = sb_socket(client, AF_INET, SOCK_RAW, IPPROTO_ICMP, &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	r = sb_socket(client, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	/* A raw socket asked for as IPPROTO_TCP is still raw. */
	r = sb_socket(client, AF_INET, SOCK_RAW, IPPROTO_TCP, &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	/* The ICMP "ping" datagram socket is not TCP or UDP either. */
	r = sb_socket(client, AF_INET, SOCK_DGRAM, IPPROTO_ICMP, &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	r = sb_socket(client, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	r = sb_socket(client, AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP), &h, &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
	/* SOCK_NONBLOCK and SOCK_CLOEXEC do not disguise the type. */
	r = sb_socket(client, AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP, &h,
		      &err);
	expect_denied_and_free(r, &err, fds, "socket.__new__", "EPERM", "default-deny");
}
END_TEST

START_TEST(sethostname_is_denied)
{
	start_daemon(NULL);
	struct sb_error err;
	char before[256], after[256];
	ck_assert_int_eq(sb_gethostname(client, before, sizeof(before), &err), 0);
	int fds = fd_count();
	int r = sb_sethostname(client, "taken-over", 10, &err);
	expect_denied_and_free(r, &err, fds, "socket.sethostname", "EPERM", "default-deny");
	ck_assert_int_eq(sb_gethostname(client, after, sizeof(after), &err), 0);
	ck_assert_str_eq(after, before);
}
END_TEST

START_TEST(privileged_socket_options_are_denied)
{
	start_daemon(NULL);
	struct sb_error err;
	sb_handle h = new_socket(client, AF_INET, SOCK_STREAM, 0);
	sb_handle h6 = new_socket(client, AF_INET6, SOCK_STREAM, 0);
	int fds = fd_count();
	int r = sb_setsockopt_int(client, h, SOL_SOCKET, SO_MARK, 1, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	r = sb_setsockopt_int(client, h, SOL_IP, IP_TRANSPARENT, 1, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	r = sb_setsockopt_int(client, h6, SOL_IPV6, IPV6_TRANSPARENT, 1, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	r = sb_setsockopt(client, h, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	/* Ordinary options are allowed. */
	int value = 0;
	ck_assert_int_eq(sb_setsockopt_int(client, h, SOL_SOCKET, SO_REUSEADDR, 1, &err), 0);
	ck_assert_int_eq(sb_getsockopt_int(client, h, SOL_SOCKET, SO_REUSEADDR, &value, &err), 0);
	ck_assert_int_ne(value, 0);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_close(client, h6, &err), 0);
}
END_TEST

START_TEST(device_and_route_options_are_denied_as_options_and_as_ancillary_data)
{
	start_daemon(NULL);
	struct sb_error err;
	sb_handle h = new_socket(client, AF_INET, SOCK_STREAM, 0);
	sb_handle u = new_socket(client, AF_INET, SOCK_DGRAM, 0);
	sb_handle u6 = new_socket(client, AF_INET6, SOCK_DGRAM, 0);
	int fds = fd_count();

	/* What SO_BINDTODEVICE does, by interface index. */
	int r = sb_setsockopt_int(client, h, SOL_SOCKET, SO_BINDTOIFINDEX, 1, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	char device[IFNAMSIZ] = "";
	size_t len = sizeof(device);
	ck_assert_int_eq(sb_getsockopt(client, h, SOL_SOCKET, SO_BINDTODEVICE, device, &len, &err),
			 0);
	ck_assert_msg(len == 0 || device[0] == '\0', "the socket is bound to %.*s", (int)len,
		      device);
	r = sb_setsockopt_int(client, u, SOL_IP, IP_UNICAST_IF, (int)htonl(1), &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	r = sb_setsockopt_int(client, u6, SOL_IPV6, IPV6_UNICAST_IF, 1, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");

	/* Source routing: a loose source route through 127.0.0.1, and an IPv6
	 * type-0 routing header. */
	static const uint8_t lsrr[8] = { 0x83, 7, 4, 127, 0, 0, 1, 0 };
	static const uint8_t rthdr[24] = { 0, 2, 0, 1, [23] = 1 };
	r = sb_setsockopt(client, h, SOL_IP, IP_OPTIONS, lsrr, sizeof(lsrr), &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	r = sb_setsockopt(client, u, SOL_IP, IP_RETOPTS, lsrr, sizeof(lsrr), &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");
	r = sb_setsockopt(client, u6, SOL_IPV6, IPV6_RTHDR, rthdr, sizeof(rthdr), &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM",
			       "deny-privileged-sockopts");

	/* The same as ancillary data of one datagram. */
	struct echo_server echo;
	struct sb_addr addr;
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_DGRAM), 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", echo.port);
	struct iovec iov = { .iov_base = "routed", .iov_len = 6 };
	struct sb_cmsg item = { .level = SOL_IP, .type = IP_RETOPTS, .data = lsrr,
				.len = sizeof(lsrr), .view = SB_CMSG_RAW };
	r = (int)sb_sendmsg(client, u, &iov, 1, &item, 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendmsg", "EPERM",
			       "deny-privileged-sockopts");
	addr_ip(&addr, AF_INET6, "::1", echo.port);
	item = (struct sb_cmsg){ .level = SOL_IPV6, .type = IPV6_RTHDR, .data = rthdr,
				 .len = sizeof(rthdr), .view = SB_CMSG_RAW };
	r = (int)sb_sendmsg(client, u6, &iov, 1, &item, 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendmsg", "EPERM",
			       "deny-privileged-sockopts");
	echo_server_stop(&echo);

	/* SO_REUSEPORT, as an option and as create_server's reuse_port. */
	r = sb_setsockopt_int(client, h, SOL_SOCKET, SO_REUSEPORT, 1, &err);
	expect_denied_and_free(r, &err, fds, "socket.setsockopt", "EPERM", "deny-reuseport");
	sb_handle server;
	addr_ip(&addr, AF_INET, "127.0.0.1", 0);
	r = sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &server, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EPERM", "deny-reuseport");

	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_close(client, u, &err), 0);
	ck_assert_int_eq(sb_close(client, u6, &err), 0);
}
END_TEST

/* ---- bind and connect by address ----------------------------------------- */

START_TEST(bind_to_a_privileged_port_is_denied_and_port_0_works)
{
	start_daemon(NULL);
	struct sb_addr addr, local;
	struct sb_error err;
	sb_handle h = new_socket(client, AF_INET, SOCK_STREAM, 0);
	int fds = fd_count();
	addr_ip(&addr, AF_INET, "127.0.0.1", 80);
	int r = sb_bind(client, h, &addr, &err);
	cJSON *record = expect_denied(r, &err, fds, "socket.bind", "EACCES",
				      "deny-privileged-bind");
	const cJSON *address = audit_address(record, "address");
	ck_assert_str_eq(json_string(address, "host"), "127.0.0.1");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(address, "port")->valueint, 80);
	cJSON_Delete(record);

	/* Port 1 and 1023 are the edges; IPv6 and UDP too. */
	addr_ip(&addr, AF_INET, "0.0.0.0", 1023);
	r = sb_bind(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "deny-privileged-bind");
	sb_handle u = new_socket(client, AF_INET6, SOCK_DGRAM, 0);
	fds = fd_count();
	addr_ip(&addr, AF_INET6, "::1", 53);
	r = sb_bind(client, u, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "deny-privileged-bind");

	/* create_server asks the same question. */
	sb_handle server;
	addr_ip(&addr, AF_INET, "127.0.0.1", 443);
	r = sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, false, false, &server, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "deny-privileged-bind");

	/* So does create_connection's source address. */
	struct echo_server echo;
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_STREAM), 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", 80);
	r = sb_create_connection(client, "127.0.0.1", echo.port, 5.0, &addr, &server, NULL, NULL,
				 NULL, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "deny-privileged-bind");
	echo_server_stop(&echo);

	/* Port 0 (the system picks one above 1023) works. */
	addr_ip(&addr, AF_INET, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, h, &addr, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	ck_assert_str_eq(local.host, "127.0.0.1");
	ck_assert_uint_ge(local.port, 1024);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_close(client, u, &err), 0);
}
END_TEST

/* Connect a fresh socket of `family` to host:port and expect a denial. */
static void
connect_denied(int family, int type, const char *host, unsigned port, const char *rule,
	       const char *expect_host)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h = new_socket(client, family, type, 0);
	int fds = fd_count();
	addr_ip(&addr, family, host, port);
	int r = sb_connect(client, h, &addr, &err);
	cJSON *record = expect_denied(r, &err, fds, "socket.connect", "EACCES", rule);
	/* The record names the address the daemon judged: the resolved one. */
	const cJSON *address = audit_address(record, "address");
	ck_assert_str_eq(json_string(address, "host"), expect_host);
	cJSON_Delete(record);

	/* connect_ex() is the same question; the denial comes before any
	 * connect, so it is the call's error, not the connect's result. */
	int result = 0;
	r = sb_connect_ex(client, h, &addr, &result, &err);
	ck_assert_msg(r == -EACCES && err.kind == SB_ERR_DENIED, "connect_ex: %d %s", r,
		      err.message);
	ck_assert_str_eq(err.rule, rule);
	cJSON_Delete(expect_audit("socket.connect", "deny", rule, "EACCES", "denied"));
	ck_assert_int_eq(sb_close(client, h, &err), 0);
}

START_TEST(connect_to_the_cloud_metadata_address_is_denied)
{
	start_daemon(NULL);
	connect_denied(AF_INET, SOCK_STREAM, "169.254.169.254", 80, "deny-cloud-metadata",
		       "169.254.169.254");
	/* The IPv4-mapped IPv6 form goes to the same host. */
	connect_denied(AF_INET6, SOCK_STREAM, "::ffff:169.254.169.254", 80, "deny-cloud-metadata",
		       "::ffff:169.254.169.254");
	connect_denied(AF_INET6, SOCK_STREAM, "fd00:ec2::254", 80, "deny-cloud-metadata",
		       "fd00:ec2::254");
	/* UDP connect, and the rest of link-local. */
	connect_denied(AF_INET, SOCK_DGRAM, "169.254.169.254", 53, "deny-cloud-metadata",
		       "169.254.169.254");
	connect_denied(AF_INET, SOCK_STREAM, "169.254.1.1", 80, "deny-link-local", "169.254.1.1");
	connect_denied(AF_INET6, SOCK_STREAM, "::ffff:169.254.1.1", 80, "deny-link-local",
		       "::ffff:169.254.1.1");
	connect_denied(AF_INET6, SOCK_STREAM, "fe80::1", 80, "deny-link-local", "fe80::1");
	if (skip_without_private_hosts("cloud metadata by host name"))
		return;
	connect_denied(AF_INET, SOCK_STREAM, METADATA_NAME, 80, "deny-cloud-metadata",
		       "169.254.169.254");
}
END_TEST

START_TEST(sending_to_the_cloud_metadata_address_is_denied)
{
	start_daemon(NULL);
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h = new_socket(client, AF_INET, SOCK_DGRAM, 0);
	int fds = fd_count();
	addr_ip(&addr, AF_INET, "169.254.169.254", 53);
	int r = (int)sb_sendto(client, h, "query", 5, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES", "deny-cloud-metadata");

	struct iovec iov = { .iov_base = "query", .iov_len = 5 };
	r = (int)sb_sendmsg(client, h, &iov, 1, NULL, 0, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendmsg", "EACCES", "deny-cloud-metadata");

	sb_handle h6 = new_socket(client, AF_INET6, SOCK_DGRAM, 0);
	fds = fd_count();
	addr_ip(&addr, AF_INET6, "::ffff:169.254.169.254", 53);
	r = (int)sb_sendto(client, h6, "query", 5, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES", "deny-cloud-metadata");
	if (!skip_without_private_hosts("sendto the cloud metadata address by host name")) {
		addr_ip(&addr, AF_INET, METADATA_NAME, 53);
		r = (int)sb_sendto(client, h, "query", 5, 0, &addr, &err);
		expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES",
				       "deny-cloud-metadata");
	}
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	ck_assert_int_eq(sb_close(client, h6, &err), 0);
}
END_TEST

START_TEST(create_connection_to_the_cloud_metadata_address_is_denied)
{
	start_daemon(NULL);
	struct sb_error err, attempts[4];
	sb_handle h = 0;
	int fds = fd_count();
	int r = sb_create_connection(client, "169.254.169.254", 80, 5.0, NULL, &h, NULL, NULL,
				     NULL, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "deny-cloud-metadata");

	size_t n = 4;
	r = sb_create_connection(client, "::ffff:169.254.169.254", 80, 5.0, NULL, &h, NULL,
				 attempts, &n, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "deny-cloud-metadata");
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(attempts[0].kind, SB_ERR_DENIED);
	ck_assert_str_eq(attempts[0].errno_name, "EACCES");
	ck_assert_str_eq(attempts[0].rule, "deny-cloud-metadata");

	if (!skip_without_private_hosts("create_connection to the metadata address by name")) {
		r = sb_create_connection(client, METADATA_NAME, 80, 5.0, NULL, &h, NULL, NULL, NULL,
					 &err);
		expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES",
				       "deny-cloud-metadata");
	}

	/* An allowed destination still connects. */
	struct echo_server server;
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	r = sb_create_connection(client, "127.0.0.1", server.port, 5.0, NULL, &h, NULL, NULL,
				 NULL, &err);
	ck_assert_msg(r == 0, "create_connection: %s", err.message);
	fixture_echo(h, "create_connection");
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
}
END_TEST

/* The text the daemon's audit record gives an IPv6 address. */
static const char *
canonical6(const char *host, char *buf, size_t len)
{
	struct in6_addr a;
	ck_assert_int_eq(inet_pton(AF_INET6, host, &a), 1);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &a, buf, (socklen_t)len));
	return buf;
}

START_TEST(every_form_embedding_the_metadata_address_is_denied)
{
	static const char *const forms[] = {
		"64:ff9b::a9fe:a9fe",  /* NAT64 */
		"2002:a9fe:a9fe::1",   /* 6to4 */
		"::169.254.169.254",   /* IPv4-compatible */
		"::ffff:0:a9fe:a9fe",  /* SIIT */
	};
	char text[INET6_ADDRSTRLEN];
	start_daemon(NULL);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		connect_denied(AF_INET6, SOCK_STREAM, forms[i], 80, "deny-cloud-metadata",
			       canonical6(forms[i], text, sizeof(text)));
	/* Link-local by way of NAT64, link-scope multicast and site-local. */
	connect_denied(AF_INET6, SOCK_STREAM, "64:ff9b::169.254.1.1", 80, "deny-link-local",
		       canonical6("64:ff9b::169.254.1.1", text, sizeof(text)));
	connect_denied(AF_INET6, SOCK_STREAM, "fec0::1", 80, "deny-site-local", "fec0::1");

	struct sb_addr addr;
	struct sb_error err;
	sb_handle u6 = new_socket(client, AF_INET6, SOCK_DGRAM, 0);
	int fds = fd_count();
	addr_ip(&addr, AF_INET6, "ff02::1", 53);
	int r = (int)sb_sendto(client, u6, "x", 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES", "deny-link-local");

	/* The metadata address as a bind (source) address, and as
	 * create_connection's source_address. */
	sb_handle u = new_socket(client, AF_INET, SOCK_DGRAM, 0);
	fds = fd_count();
	addr_ip(&addr, AF_INET, "169.254.169.254", 5000);
	r = sb_bind(client, u, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "deny-cloud-metadata");
	struct echo_server echo;
	sb_handle h;
	ck_assert_int_eq(echo_server_start(&echo, AF_INET, SOCK_STREAM), 0);
	addr_ip(&addr, AF_INET, "169.254.169.254", 0);
	r = sb_create_connection(client, "127.0.0.1", echo.port, 5.0, &addr, &h, NULL, NULL, NULL,
				 &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "deny-cloud-metadata");
	echo_server_stop(&echo);

	/* ... and as the source address of one datagram (IP_PKTINFO's ipi_spec_dst, decoded
	 * or raw; IPV6_PKTINFO's ipi6_addr). */
	struct echo_server udp_echo;
	struct iovec iov = { .iov_base = "spoofed", .iov_len = 7 };
	ck_assert_int_eq(echo_server_start(&udp_echo, AF_INET, SOCK_DGRAM), 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", udp_echo.port);
	struct sb_cmsg pktinfo = { .level = IPPROTO_IP, .type = IP_PKTINFO,
				   .view = SB_CMSG_PKTINFO };
	snprintf(pktinfo.pktinfo.spec_dst, sizeof(pktinfo.pktinfo.spec_dst), "169.254.169.254");
	r = (int)sb_sendmsg(client, u, &iov, 1, &pktinfo, 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendmsg", "EACCES", "deny-cloud-metadata");
	struct in_pktinfo raw_info = { .ipi_spec_dst.s_addr = htonl(0xa9fea9fe) };
	struct sb_cmsg raw_item = { .level = IPPROTO_IP, .type = IP_PKTINFO,
				    .data = (const uint8_t *)&raw_info, .len = sizeof(raw_info),
				    .view = SB_CMSG_RAW };
	r = (int)sb_sendmsg(client, u, &iov, 1, &raw_item, 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendmsg", "EACCES", "deny-cloud-metadata");
	struct sb_cmsg pktinfo6 = { .level = IPPROTO_IPV6, .type = IPV6_PKTINFO,
				    .view = SB_CMSG_PKTINFO };
	snprintf(pktinfo6.pktinfo.addr, sizeof(pktinfo6.pktinfo.addr), "fd00:ec2::254");
	addr_ip(&addr, AF_INET6, "::1", udp_echo.port);
	r = (int)sb_sendmsg(client, u6, &iov, 1, &pktinfo6, 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendmsg", "EACCES", "deny-cloud-metadata");
	/* A source of the host's own is a bind the default allows. */
	snprintf(pktinfo.pktinfo.spec_dst, sizeof(pktinfo.pktinfo.spec_dst), "127.0.0.1");
	addr_ip(&addr, AF_INET, "127.0.0.1", udp_echo.port);
	r = (int)sb_sendmsg(client, u, &iov, 1, &pktinfo, 1, 0, &addr, &err);
	ck_assert_msg(r == 7, "sendmsg with IP_PKTINFO from 127.0.0.1: %s", err.message);
	echo_server_stop(&udp_echo);
	ck_assert_int_eq(sb_close(client, u, &err), 0);
	ck_assert_int_eq(sb_close(client, u6, &err), 0);
}
END_TEST

/* A policy of the tests: no private 10/8, no loopback, the rest allowed. */
#define NO_PRIVATE_NO_LOOPBACK_POLICY                                                            \
	"{\"rules\": ["                                                                            \
	"{\"name\": \"deny-private-10\", \"allow\": false, \"ops\": [\"connect\", \"send-to\"], " \
	"\"addresses\": [\"10.0.0.0/8\"]}, "                                                       \
	"{\"name\": \"deny-loopback\", \"allow\": false, \"ops\": [\"connect\", \"send-to\"], "   \
	"\"addresses\": [\"127.0.0.0/8\", \"::1/128\"]}, "                                         \
	"{\"name\": \"allow-the-rest\", \"allow\": true}]}"

START_TEST(a_denied_range_is_denied_by_name_by_address_and_mapped)
{
	start_daemon(NO_PRIVATE_NO_LOOPBACK_POLICY);
	loopback_denied = true;
	connect_denied(AF_INET, SOCK_STREAM, PRIVATE_ADDRESS, 80, "deny-private-10",
		       PRIVATE_ADDRESS);
	connect_denied(AF_INET6, SOCK_STREAM, "::ffff:" PRIVATE_ADDRESS, 80, "deny-private-10",
		       "::ffff:" PRIVATE_ADDRESS);
	/* "localhost" and 127.0.0.1 are the same destination; so are ::1 and
	 * the mapped form, and the rest of 127/8. */
	connect_denied(AF_INET, SOCK_STREAM, "127.0.0.1", 80, "deny-loopback", "127.0.0.1");
	connect_denied(AF_INET, SOCK_STREAM, "localhost", 80, "deny-loopback", "127.0.0.1");
	connect_denied(AF_INET, SOCK_STREAM, "127.3.2.1", 80, "deny-loopback", "127.3.2.1");
	connect_denied(AF_INET6, SOCK_STREAM, "::1", 80, "deny-loopback", "::1");
	connect_denied(AF_INET6, SOCK_STREAM, "::ffff:127.0.0.1", 80, "deny-loopback",
		       "::ffff:127.0.0.1");

	struct sb_error err;
	sb_handle h;
	int fds = fd_count();
	int r = sb_create_connection(client, "localhost", 80, 5.0, NULL, &h, NULL, NULL, NULL,
				     &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "deny-loopback");

	if (skip_without_private_hosts("a denied private range by host name"))
		return;
	connect_denied(AF_INET, SOCK_STREAM, PRIVATE_NAME, 80, "deny-private-10", PRIVATE_ADDRESS);
	/* The private hosts file gives "localhost" ::1 too. */
	connect_denied(AF_INET6, SOCK_STREAM, "localhost", 80, "deny-loopback", "::1");
	r = sb_create_connection(client, PRIVATE_NAME, 80, 5.0, NULL, &h, NULL, NULL, NULL, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "deny-private-10");

	struct sb_addr addr;
	sb_handle u = new_socket(client, AF_INET, SOCK_DGRAM, 0);
	fds = fd_count();
	addr_ip(&addr, AF_INET, PRIVATE_NAME, 53);
	r = (int)sb_sendto(client, u, "x", 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES", "deny-private-10");
	addr_ip(&addr, AF_INET, "localhost", 53);
	r = (int)sb_sendto(client, u, "x", 1, 0, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.sendto", "EACCES", "deny-loopback");
	ck_assert_int_eq(sb_close(client, u, &err), 0);
}
END_TEST

/* ---- an allowed unix directory and what is planted in it ---------------- */

static void
scratch_path(char *out, size_t len, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", scratch, rel);
	ck_assert(n > 0 && (size_t)n < len);
}

START_TEST(a_symlink_planted_on_an_allowed_unix_path_is_denied)
{
	char allowed[320], outside[320], target[320], link[320], dirlink[320], real[320];
	char policy[2048];
	scratch_path(allowed, sizeof(allowed), "allowed");
	scratch_path(outside, sizeof(outside), "outside");
	ck_assert_int_eq(mkdir(allowed, 0700), 0);
	ck_assert_int_eq(mkdir(outside, 0700), 0);
	scratch_path(target, sizeof(target), "outside/srv.sock");
	scratch_path(link, sizeof(link), "allowed/link.sock");
	scratch_path(dirlink, sizeof(dirlink), "allowed/linkdir");
	scratch_path(real, sizeof(real), "allowed/real.sock");
	ck_assert_int_eq(symlink("../outside/srv.sock", link), 0);
	ck_assert_int_eq(symlink("../outside", dirlink), 0);
	snprintf(policy, sizeof(policy),
		 "{\"rules\": ["
		 "{\"name\": \"allowed-dir\", \"allow\": true, \"ops\": [\"connect\", \"bind\"], "
		 "\"unix_paths\": [\"%s/\"]}, "
		 "{\"name\": \"unix-sockets\", \"allow\": true, \"ops\": [\"create\", \"listen\"], "
		 "\"families\": [\"AF_UNIX\"]}, "
		 "{\"name\": \"inet\", \"allow\": true, "
		 "\"families\": [\"AF_INET\", \"AF_INET6\"]}]}",
		 allowed);
	start_daemon(policy);

	struct echo_server outside_server, inside_server;
	struct sb_addr addr, name;
	struct sb_error err;
	ck_assert_int_eq(echo_server_start_unix(&outside_server, target, 0), 0);
	ck_assert_int_eq(echo_server_start_unix(&inside_server, real, 0), 0);

	sb_handle h = new_socket(client, AF_UNIX, SOCK_STREAM, 0);
	int fds = fd_count();
	/* The link itself, and a linked directory on the way. */
	ck_assert_int_eq(sb_addr_unix(&addr, link), 0);
	int r = sb_connect(client, h, &addr, &err);
	cJSON *record = expect_denied(r, &err, fds, "socket.connect", "EACCES",
				      "unix-path-symlink");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(record, "args");
	ck_assert_str_eq(json_string(args, "path"), link);
	cJSON_Delete(record);
	char via_dir[400];
	snprintf(via_dir, sizeof(via_dir), "%s/srv.sock", dirlink);
	ck_assert_int_eq(sb_addr_unix(&addr, via_dir), 0);
	r = sb_connect(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "unix-path-symlink");

	/* ".." out of the allowed directory. */
	char dotdot[400];
	snprintf(dotdot, sizeof(dotdot), "%s/../outside/srv.sock", allowed);
	ck_assert_int_eq(sb_addr_unix(&addr, dotdot), 0);
	r = sb_connect(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "unix-path-canonical");
	/* A hard link in the allowed directory to the socket outside. */
	char hard[320];
	scratch_path(hard, sizeof(hard), "allowed/hard.sock");
	ck_assert_int_eq(linkat(AT_FDCWD, target, AT_FDCWD, hard, 0), 0);
	ck_assert_int_eq(sb_addr_unix(&addr, hard), 0);
	r = sb_connect(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "unix-path-hardlink");
	/* The real path outside is not allowed either. */
	ck_assert_int_eq(sb_addr_unix(&addr, target), 0);
	r = sb_connect(client, h, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.connect", "EACCES", "default-deny");

	/* A real socket inside works, on the same handle. */
	ck_assert_int_eq(sb_addr_unix(&addr, real), 0);
	r = sb_connect(client, h, &addr, &err);
	ck_assert_msg(r == 0, "connect %s: %s", real, err.message);
	fixture_echo(h, "inside the allowed directory");
	ck_assert_int_eq(sb_close(client, h, &err), 0);

	/* bind inside works and names the path bound; a listener there takes
	 * a brokered connection. */
	char bound[320];
	scratch_path(bound, sizeof(bound), "allowed/bound.sock");
	sb_handle l = new_socket(client, AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(sb_addr_unix(&addr, bound), 0);
	r = sb_bind(client, l, &addr, &err);
	ck_assert_msg(r == 0, "bind %s: %s", bound, err.message);
	ck_assert_int_eq(sb_getsockname(client, l, &name, &err), 0);
	ck_assert_int_eq(name.family, AF_UNIX);
	ck_assert_int_eq(name.abstract, 0);
	ck_assert_uint_eq(name.path_len, strlen(bound));
	ck_assert(memcmp(name.path, bound, name.path_len) == 0);
	struct stat st;
	ck_assert_int_eq(lstat(bound, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(sb_listen(client, l, 1, &err), 0);
	sb_handle c = new_socket(client, AF_UNIX, SOCK_STREAM, 0);
	r = sb_connect(client, c, &addr, &err);
	ck_assert_msg(r == 0, "connect %s: %s", bound, err.message);
	sb_handle conn;
	ck_assert_int_eq(sb_accept(client, l, &conn, NULL, &err), 0);
	char buf[8];
	ck_assert_int_eq(sb_send(client, c, "bound", 5, 0, &err), 5);
	ck_assert_int_eq(sb_recv(client, conn, buf, sizeof(buf), 0, &err), 5);
	ck_assert(memcmp(buf, "bound", 5) == 0);
	ck_assert_int_eq(sb_close(client, conn, &err), 0);
	ck_assert_int_eq(sb_close(client, c, &err), 0);
	ck_assert_int_eq(sb_close(client, l, &err), 0);

	/* bind through the linked directory, or outside, is denied. */
	sb_handle b = new_socket(client, AF_UNIX, SOCK_STREAM, 0);
	fds = fd_count();
	snprintf(via_dir, sizeof(via_dir), "%s/planted.sock", dirlink);
	ck_assert_int_eq(sb_addr_unix(&addr, via_dir), 0);
	r = sb_bind(client, b, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "unix-path-symlink");
	char planted[320];
	scratch_path(planted, sizeof(planted), "outside/planted.sock");
	ck_assert_int_eq(lstat(planted, &st), -1);
	ck_assert_int_eq(sb_addr_unix(&addr, planted), 0);
	r = sb_bind(client, b, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "default-deny");
	ck_assert_int_eq(lstat(planted, &st), -1);
	ck_assert_int_eq(sb_close(client, b, &err), 0);

	echo_server_stop(&outside_server);
	echo_server_stop(&inside_server);
}
END_TEST

/* ---- sessions ------------------------------------------------------------ */

START_TEST(a_handle_of_another_session_is_ebadf_and_the_daemon_goes_on)
{
	start_daemon(NULL);
	struct sb_client *other;
	struct sb_error err;
	struct sb_addr addr;
	struct echo_server server;
	int fds = fd_count();

	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "intruder", &err), 0);
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle mine = new_socket(client, AF_INET, SOCK_STREAM, 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_connect(client, mine, &addr, &err), 0);

	char buf[16];
	ck_assert_int_eq(sb_send(other, mine, "stolen", 6, 0, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_str_eq(err.errno_name, "EBADF");
	ck_assert_int_eq(sb_recv(other, mine, buf, sizeof(buf), 0, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_int_eq(sb_getpeername(other, mine, &addr, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_int_eq(sb_close(other, mine, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_str_eq(err.errno_name, "EBADF");
	/* The handle of the other session is no way around the policy either:
	 * its own handle asks the same questions. */
	sb_handle theirs = new_socket(other, AF_INET, SOCK_STREAM, 0);
	addr_ip(&addr, AF_INET, "169.254.169.254", 80);
	ck_assert_int_eq(sb_connect(other, theirs, &addr, &err), -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	/* And the owner cannot reach the other's handle. */
	ck_assert_int_eq(sb_connect(client, theirs, &addr, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	sb_client_free(other);

	/* Ours is untouched and still open; the daemon serves. */
	fixture_echo(mine, "still mine");
	ck_assert_int_eq(sb_close(client, mine, &err), 0);
	echo_server_stop(&server);
	still_serves();
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, fds, SETTLE_MS), fds);
}
END_TEST

/* The token and its SHA-256 (as `printf %s TOKEN | sha256sum` prints it),
 * the same as test-identity's, which covers tokens and TLS in depth. */
#define CI_TOKEN "ci-token-1f8a04c2"
#define CI_HASH "91b39df0b0457b3fd948384f9ef9ec161d624ca44c606458b2a88e4d447fccdd"
#define WRONG_TOKEN "wrong-token-5d0c3a"

static int
connect_with_token(struct sb_client **out, const char *token, struct sb_error *err)
{
	struct sb_client_options options = {
		.url = daemon_under_test.url,
		.client_name = "test-security",
		.token = token,
	};
	*out = NULL;
	return sb_client_new_with(out, &options, err);
}

START_TEST(a_wrong_token_is_denied_and_the_daemon_goes_on)
{
	start_daemon_only(NULL, "\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_HASH
			  "\"}], \"require_token\": [\"ipc\"]}");
	struct sb_client *intruder;
	struct sb_error err;
	int fds = fd_count();
	int r = connect_with_token(&intruder, WRONG_TOKEN, &err);
	ck_assert_int_eq(r, -EACCES);
	ck_assert_ptr_null(intruder);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_str_eq(err.errno_name, "EACCES");
	cJSON *record = expect_audit("sockbroker.hello", "deny", "auth.tokens", "EACCES", "denied");
	char *text = cJSON_PrintUnformatted(record);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(!strstr(text, WRONG_TOKEN), "the audit record holds the token: %s", text);
	cJSON_free(text);
	cJSON_Delete(record);
	/* No token where one is required. */
	r = connect_with_token(&intruder, "", &err);
	ck_assert_int_eq(r, -EACCES);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	cJSON_Delete(expect_audit("sockbroker.hello", "deny", "auth.require_token", "EACCES",
				  "denied"));
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, fds, SETTLE_MS), fds);

	/* The right token is served, under the default policy. */
	r = connect_with_token(&client, CI_TOKEN, &err);
	ck_assert_msg(r == 0, "%s", err.message);
	still_serves();
	sb_handle h = new_socket(client, AF_INET, SOCK_STREAM, 0);
	struct sb_addr addr;
	addr_ip(&addr, AF_INET, "169.254.169.254", 80);
	r = sb_connect(client, h, &addr, &err);
	ck_assert_int_eq(r, -EACCES);
	ck_assert_str_eq(err.rule, "deny-cloud-metadata");
}
END_TEST

/* A socket of this program's own on 127.0.0.1 with SO_REUSEPORT (the same
 * uid as the daemon under test), bound to a port the kernel picks; returns
 * the fd and sets *port. */
static int
own_reuseport_socket(int type, unsigned *port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(in);
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	if (type == SOCK_STREAM)
		ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
	*port = ntohs(in.sin_port);
	return fd;
}

#define TOKEN_OTHER "token-a-7c1e9b"
#define TOKEN_OTHER_HASH "6b78971d12a27d1b47ca79a67f2ba2fb49bcc3b2b72237c95e14da3480c47e77"

START_TEST(reuseport_joins_only_a_group_of_the_same_identity)
{
	start_daemon_only("{\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}]}",
			  "\"auth\": {\"tokens\": [{\"name\": \"other\", \"sha256\": \""
			  TOKEN_OTHER_HASH "\"}]}");
	fixture_connect("test-security");
	struct sb_client *other;
	struct sb_addr addr, local;
	struct sb_error err;
	sb_handle first, second, third;

	/* One identity may share a port among its own sockets. */
	addr_ip(&addr, AF_INET, "127.0.0.1", 0);
	ck_assert_int_eq(sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &first,
					  &err), 0);
	ck_assert_int_eq(sb_getsockname(client, first, &local, &err), 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", local.port);
	int r = sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &second, &err);
	ck_assert_msg(r == 0, "the same identity joins its own group: %s", err.message);

	/* Another identity (a token) may not join it. */
	int base = fd_count();
	ck_assert_int_eq(connect_with_token(&other, TOKEN_OTHER, &err), 0);
	int fds = fd_count();
	r = sb_create_server(other, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &third, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "reuseport-group");
	sb_client_free(other);
	/* Its session's end is seen by the daemon in its own time. */
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, base, SETTLE_MS), base);

	/* Nor a group of a program outside the daemon, TCP or UDP, by
	 * create_server or by setsockopt and bind. */
	unsigned port;
	int own = own_reuseport_socket(SOCK_STREAM, &port);
	fds = fd_count();
	addr_ip(&addr, AF_INET, "127.0.0.1", port);
	r = sb_create_server(client, &addr, 0, SB_BACKLOG_DEFAULT, true, false, &third, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "reuseport-group");
	close(own);
	own = own_reuseport_socket(SOCK_DGRAM, &port);
	sb_handle u = new_socket(client, AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(sb_setsockopt_int(client, u, SOL_SOCKET, SO_REUSEPORT, 1, &err), 0);
	fds = fd_count();
	addr_ip(&addr, AF_INET, "127.0.0.1", port);
	r = sb_bind(client, u, &addr, &err);
	expect_denied_and_free(r, &err, fds, "socket.bind", "EACCES", "reuseport-group");
	close(own);
	/* Once the program's socket is gone the port is free. */
	r = sb_bind(client, u, &addr, &err);
	ck_assert_msg(r == 0, "bind after the group is gone: %s", err.message);

	ck_assert_int_eq(sb_close(client, u, &err), 0);
	ck_assert_int_eq(sb_close(client, first, &err), 0);
	ck_assert_int_eq(sb_close(client, second, &err), 0);
}
END_TEST

/* ---- quotas ---------------------------------------------------------------- */

#define SMALL_QUOTA_POLICY                                                                  \
	"{\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}], "                   \
	"\"quotas\": [{\"name\": \"small\", \"max_handles\": 3, \"max_parked\": 2}]}"

START_TEST(the_handle_quota_answers_quota_naming_it)
{
	start_daemon(SMALL_QUOTA_POLICY);
	struct sb_error err;
	sb_handle h[4], pair[2];
	for (int i = 0; i < 3; i++)
		h[i] = new_socket(client, AF_INET, SOCK_STREAM, 0);
	int fds = fd_count();
	int r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &h[3], &err);
	ck_assert_int_eq(r, -EMFILE);
	expect_over_quota(r, &err, "socket.__new__", "EMFILE", "small");
	ck_assert_int_eq(fd_count(), fds);

	/* A pair would be two more; dup one more; create_connection one. */
	ck_assert_int_eq(sb_close(client, h[2], &err), 0);
	r = sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err);
	expect_over_quota(r, &err, "socket.__new__", "EMFILE", "small");
	h[2] = new_socket(client, AF_INET, SOCK_STREAM, 0);
	sb_handle d;
	r = sb_dup(client, h[0], &d, &err);
	ck_assert_int_eq(r, -EMFILE);
	ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
	ck_assert_msg(strstr(err.message, "small"), "%s", err.message);
	r = sb_create_connection(client, "127.0.0.1", closed_tcp_port(), 5.0, NULL, &d, NULL,
				 NULL, NULL, &err);
	expect_over_quota(r, &err, "socket.connect", "EMFILE", "small");
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, fds, SETTLE_MS), fds);

	/* After closing, new ones work again; the session never dropped. */
	ck_assert_int_eq(sb_close(client, h[0], &err), 0);
	ck_assert_int_eq(sb_close(client, h[1], &err), 0);
	ck_assert_int_eq(sb_close(client, h[2], &err), 0);
	still_serves();
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err), 0);
	h[0] = new_socket(client, AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(sb_socket(client, AF_INET, SOCK_STREAM, 0, &h[1], &err), -EMFILE);
}
END_TEST

START_TEST(the_handle_quota_is_shared_by_the_sessions_of_one_uid)
{
	start_daemon(SMALL_QUOTA_POLICY);
	struct sb_client *other;
	struct sb_error err;
	sb_handle a[2], b[2];
	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "test-security", &err), 0);
	a[0] = new_socket(client, AF_INET, SOCK_STREAM, 0);
	a[1] = new_socket(client, AF_INET, SOCK_STREAM, 0);
	b[0] = new_socket(other, AF_INET, SOCK_STREAM, 0);
	int r = sb_socket(other, AF_INET, SOCK_STREAM, 0, &b[1], &err);
	ck_assert_int_eq(r, -EMFILE);
	expect_over_quota(r, &err, "socket.__new__", "EMFILE", "small");
	ck_assert_msg(strstr(err.message, "sessions"), "%s", err.message);
	r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &a[1], &err);
	expect_over_quota(r, &err, "socket.__new__", "EMFILE", "small");

	/* One session's close makes room for the other. */
	ck_assert_int_eq(sb_close(client, a[1], &err), 0);
	b[1] = new_socket(other, AF_INET, SOCK_STREAM, 0);
	/* A session that ends gives its handles back (as the daemon notices
	 * the end: bounded). */
	sb_client_free(other);
	int64_t deadline = test_now_ms() + SETTLE_MS;
	while ((r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &a[1], &err)) < 0 &&
	       test_now_ms() < deadline) {
		ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
		test_sleep_ms(20);
	}
	ck_assert_msg(r == 0, "socket after the other session ended: %s", err.message);
	sb_handle c = new_socket(client, AF_INET, SOCK_STREAM, 0);
	(void)c;
	r = sb_socket(client, AF_INET, SOCK_STREAM, 0, &b[1], &err);
	expect_over_quota(r, &err, "socket.__new__", "EMFILE", "small");
}
END_TEST

struct parked_recv {
	sb_handle handle;
	ssize_t result;
	struct sb_error err;
	char buf[16];
	pthread_t thread;
};

/* A blocking recv, tried again while the quota refuses it: the test's own
 * probe may hold a parked slot for a moment (bounded). */
static void *
parked_recv_run(void *arg)
{
	struct parked_recv *p = arg;
	int64_t deadline = test_now_ms() + 10000;
	do {
		p->result = sb_recv(client, p->handle, p->buf, sizeof(p->buf), 0, &p->err);
		if (p->result < 0 && p->err.kind == SB_ERR_QUOTA)
			test_sleep_ms(10);
	} while (p->result < 0 && p->err.kind == SB_ERR_QUOTA && test_now_ms() < deadline);
	return NULL;
}

START_TEST(the_parked_quota_answers_quota_naming_it)
{
	start_daemon(SMALL_QUOTA_POLICY);
	struct sb_error err;
	sb_handle pair[2];
	struct parked_recv waiting[2];
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err), 0);
	sb_handle third = new_socket(client, AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < 2; i++) {
		memset(&waiting[i], 0, sizeof(waiting[i]));
		waiting[i].handle = pair[i];
		ck_assert_int_eq(pthread_create(&waiting[i].thread, NULL, parked_recv_run,
						&waiting[i]),
				 0);
	}
	/* The third wait is refused once both others are parked; until they
	 * are, it times out by itself and gives them a moment (bounded). */
	ck_assert_int_eq(sb_settimeout(client, third, 0.2, &err), 0);
	char buf[16];
	ssize_t r = -1;
	int64_t deadline = test_now_ms() + 10000;
	do {
		r = sb_recv(client, third, buf, sizeof(buf), 0, &err);
		ck_assert_msg(r < 0 && (err.kind == SB_ERR_TIMEOUT || err.kind == SB_ERR_QUOTA),
			      "recv: %zd %s", r, err.message);
		if (err.kind == SB_ERR_TIMEOUT)
			test_sleep_ms(50);
	} while (err.kind == SB_ERR_TIMEOUT && test_now_ms() < deadline);
	expect_over_quota((int)r, &err, "socket.recv", "ENOBUFS", "small");
	ck_assert_int_eq(r, -ENOBUFS);

	/* Release the two; the third can wait again. */
	ck_assert_int_eq(sb_send(client, pair[1], "one", 3, 0, &err), 3);
	ck_assert_int_eq(sb_send(client, pair[0], "two", 3, 0, &err), 3);
	for (int i = 0; i < 2; i++) {
		pthread_join(waiting[i].thread, NULL);
		ck_assert_int_eq(waiting[i].result, 3);
	}
	r = sb_recv(client, third, buf, sizeof(buf), 0, &err);
	ck_assert_int_lt(r, 0);
	ck_assert_int_eq(err.kind, SB_ERR_TIMEOUT);
	ck_assert_int_eq(sb_close(client, third, &err), 0);
	ck_assert_int_eq(sb_close(client, pair[0], &err), 0);
	ck_assert_int_eq(sb_close(client, pair[1], &err), 0);
	still_serves();
}
END_TEST

START_TEST(the_operation_rate_quota_answers_quota_naming_it)
{
	start_daemon("{\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}], "
		     "\"quotas\": [{\"name\": \"few-ops\", \"ops_per_second\": 5}]}");
	struct sb_error err;
	char name[256];
	int r = 0, ok = 0;
	/* One second's worth of burst, then a refusal. */
	for (int i = 0; i < 100 && r == 0; i++)
		if ((r = sb_gethostname(client, name, sizeof(name), &err)) == 0)
			ok++;
	ck_assert_int_ge(ok, 1);
	ck_assert_int_lt(ok, 100);
	expect_over_quota(r, &err, "socket.gethostname", "ENOBUFS", "few-ops");
	ck_assert_msg(strstr(err.message, "operations per second"), "%s", err.message);

	/* The session goes on, and is served again once the rate allows. */
	int64_t deadline = test_now_ms() + 10000;
	while ((r = sb_gethostname(client, name, sizeof(name), &err)) < 0 &&
	       test_now_ms() < deadline) {
		ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
		test_sleep_ms(100);
	}
	ck_assert_msg(r == 0, "gethostname: %s", err.message);
}
END_TEST

/*
 * sb_send() and then one more call on the handle: a send the client wrote
 * behind (as a sendall) returns at once, and its refusal is the next call's
 * to report. Returns the send's count or the first error; *event is the
 * audit event of the request that was refused.
 */
static ssize_t
send_checked(sb_handle h, const void *buf, size_t len, struct sb_error *err, const char **event)
{
	double timeout;
	ssize_t n = sb_send(client, h, buf, len, 0, err);
	*event = "socket.send";
	if (n < 0)
		return n;
	int r = sb_gettimeout(client, h, &timeout, err);
	if (r < 0)
		*event = "socket.sendall";
	return r < 0 ? r : n;
}

START_TEST(the_send_rate_quota_answers_quota_naming_it)
{
	start_daemon("{\"rules\": [{\"name\": \"tests-allow-all\", \"allow\": true}], "
		     "\"quotas\": [{\"name\": \"slow-send\", \"send_bytes_per_second\": 8192}]}");
	struct echo_server server;
	struct sb_addr addr;
	struct sb_error err;
	static char data[16384], back[16384];
	memset(data, 'q', sizeof(data));
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = new_socket(client, AF_INET, SOCK_STREAM, 0);
	addr_ip(&addr, AF_INET, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), 0);

	/* A send is let through while the bucket is not empty; this one takes
	 * two seconds' worth, so the next is refused. */
	ck_assert_int_eq(sb_sendall(client, h, data, sizeof(data), 0, &err), 0);
	const char *event;
	ssize_t r = send_checked(h, "more", 4, &err, &event);
	expect_over_quota((int)r, &err, event, "ENOBUFS", "slow-send");
	ck_assert_msg(strstr(err.message, "bytes sent per second"), "%s", err.message);

	/* Receiving is not limited: the echo comes back whole. */
	size_t got = 0;
	while (got < sizeof(back)) {
		ssize_t n = sb_recv(client, h, back + got, sizeof(back) - got, 0, &err);
		ck_assert_msg(n > 0, "recv: %zd %s", n, err.message);
		got += (size_t)n;
	}
	ck_assert(memcmp(back, data, sizeof(data)) == 0);

	/* Once the debt is paid, sending works again on the same session. */
	int64_t deadline = test_now_ms() + 10000;
	while ((r = send_checked(h, "more", 4, &err, &event)) < 0 && test_now_ms() < deadline) {
		ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
		test_sleep_ms(100);
	}
	ck_assert_int_eq(r, 4);
	ck_assert_int_eq(sb_recv(client, h, back, sizeof(back), 0, &err), 4);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	echo_server_stop(&server);
}
END_TEST

/* ---- the program --------------------------------------------------------- */

/*
 * Move this process into mount and UTS namespaces of its own and bind a
 * hosts file with the tests' names over /etc/hosts. Returns false (and
 * leaves everything as it was) when that is not possible.
 */
static bool
make_private_hosts(void)
{
	char hosts[320];
	snprintf(hosts_dir, sizeof(hosts_dir), "/tmp/sockbroker-security-hosts-XXXXXX");
	if (!mkdtemp(hosts_dir)) {
		hosts_dir[0] = '\0';
		return false;
	}
	snprintf(hosts, sizeof(hosts), "%s/hosts", hosts_dir);
	FILE *f = fopen(hosts, "w");
	if (!f)
		return false;
	fprintf(f, "127.0.0.1 localhost\n::1 localhost\n169.254.169.254 %s\n%s %s\n",
		METADATA_NAME, PRIVATE_ADDRESS, PRIVATE_NAME);
	fclose(f);
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS) < 0) {
		fprintf(stderr, "SKIP (names): unshare(CLONE_NEWNS | CLONE_NEWUTS): %s\n",
			strerror(errno));
		return false;
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(hosts, "/etc/hosts", "none", MS_BIND, NULL) < 0) {
		fprintf(stderr, "SKIP (names): cannot bind a hosts file over /etc/hosts: %s\n",
			strerror(errno));
		return false;
	}
	return true;
}

static Suite *
security_suite(void)
{
	Suite *s = suite_create("security");
	const struct fixture_case cases[] = {
		{ "unix-path", connect_to_a_unix_path_on_the_host_is_denied },
		{ "unix-abstract", connect_to_an_abstract_unix_name_is_denied },
		{ "netlink", netlink_sockets_are_denied_so_no_route_can_change },
		{ "raw-packet", raw_and_packet_sockets_are_denied },
		{ "sethostname", sethostname_is_denied },
		{ "sockopts", privileged_socket_options_are_denied },
		{ "device-route-options",
		  device_and_route_options_are_denied_as_options_and_as_ancillary_data },
		{ "embedded-ipv4", every_form_embedding_the_metadata_address_is_denied },
		{ "reuseport-group", reuseport_joins_only_a_group_of_the_same_identity },
		{ "bind-80", bind_to_a_privileged_port_is_denied_and_port_0_works },
		{ "metadata", connect_to_the_cloud_metadata_address_is_denied },
		{ "metadata-sendto", sending_to_the_cloud_metadata_address_is_denied },
		{ "metadata-create-connection",
		  create_connection_to_the_cloud_metadata_address_is_denied },
		{ "denied-range", a_denied_range_is_denied_by_name_by_address_and_mapped },
		{ "symlink", a_symlink_planted_on_an_allowed_unix_path_is_denied },
		{ "foreign-handle", a_handle_of_another_session_is_ebadf_and_the_daemon_goes_on },
		{ "wrong-token", a_wrong_token_is_denied_and_the_daemon_goes_on },
		{ "quota-handles", the_handle_quota_answers_quota_naming_it },
		{ "quota-shared", the_handle_quota_is_shared_by_the_sessions_of_one_uid },
		{ "quota-parked", the_parked_quota_answers_quota_naming_it },
		{ "quota-ops", the_operation_rate_quota_answers_quota_naming_it },
		{ "quota-send", the_send_rate_quota_answers_quota_naming_it },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 120);
	return s;
}

int
main(void)
{
	private_hosts = make_private_hosts();
	int status = fixture_run(security_suite());
	if (private_hosts)
		umount2("/etc/hosts", MNT_DETACH);
	if (hosts_dir[0])
		remove_tree(hosts_dir);
	return status;
}
