/*
 * Unit tests of server/monitor.c: the monitor's checks (a table of requests under a policy
 * that allows raw ICMP sockets, binds to port 80 on loopback and SO_MARK, and one that
 * allows nothing privileged), and, as root, a real monitor forked by this program: what the
 * policy allows it does, answering a descriptor; what is outside the table or the policy's
 * reach it refuses, sent to it directly, and goes on serving; it keeps exactly the
 * capabilities the policy needs, and ends when its socketpair closes.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fixture.h"
#include "monitor.h"
#include "policy.h"
#include "privileges.h"

#define POLICY_JSON                                                                              \
	"{\"policy\": {\"rules\": ["                                                             \
	"{\"name\": \"ping\", \"allow\": true, \"ops\": [\"create\"], \"families\": [\"AF_INET\"], " \
	"\"types\": [\"SOCK_RAW\"], \"protocols\": [\"IPPROTO_ICMP\"]},"                         \
	"{\"name\": \"tcp\", \"allow\": true, \"ops\": [\"create\"], \"types\": [\"SOCK_STREAM\"]}," \
	"{\"name\": \"web\", \"allow\": true, \"ops\": [\"bind\"], \"ports\": [80], "            \
	"\"addresses\": [\"127.0.0.1\"]},"                                                       \
	"{\"name\": \"mark\", \"allow\": true, \"ops\": [\"sockopt\"], "                         \
	"\"sockopts\": [[\"SOL_SOCKET\", \"SO_MARK\"]]}"                                         \
	"]}}"

static struct config cfg;

static const struct policy *
load(const char *json)
{
	char err[512];
	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_msg(config_load_string(&cfg, json, "test.json", err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_ptr_nonnull(cfg.policy);
	return cfg.policy;
}

static void
setup(void)
{
	config_init(&cfg);
}

static void
teardown(void)
{
	monitor_stop();
	config_fini(&cfg);
}

static struct monitor_request
bind_request(const char *ip, unsigned port)
{
	struct monitor_request m = { .op = MONITOR_BIND };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	ck_assert_int_eq(inet_pton(AF_INET, ip, &in.sin_addr), 1);
	memcpy(m.data, &in, sizeof(in));
	m.len = sizeof(in);
	return m;
}

START_TEST(the_monitor_allows_only_what_the_policy_could_and_needs_a_capability)
{
	const struct policy *policy = load(POLICY_JSON);
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(tcp, 0);
	ck_assert_int_ge(udp, 0);

	struct monitor_request ping = { .op = MONITOR_SOCKET, .family = AF_INET,
					.type = SOCK_RAW | SOCK_NONBLOCK, .proto = IPPROTO_ICMP };
	ck_assert_int_eq(monitor_check(policy, &ping, -1), 0);
	struct monitor_request raw6 = ping;
	raw6.family = AF_INET6;
	raw6.proto = IPPROTO_ICMPV6;
	ck_assert_int_eq(monitor_check(policy, &raw6, -1), -EPERM);
	struct monitor_request packet = { .op = MONITOR_SOCKET, .family = AF_PACKET,
					  .type = SOCK_RAW };
	ck_assert_int_eq(monitor_check(policy, &packet, -1), -EPERM);
	/* Allowed, but needs no capability: the serving process makes it itself. */
	struct monitor_request stream = { .op = MONITOR_SOCKET, .family = AF_INET,
					  .type = SOCK_STREAM };
	ck_assert_int_eq(monitor_check(policy, &stream, -1), -EPERM);
	/* A socket request carries no descriptor. */
	ck_assert_int_eq(monitor_check(policy, &ping, tcp), -EINVAL);

	struct monitor_request web = bind_request("127.0.0.1", 80);
	ck_assert_int_eq(monitor_check(policy, &web, tcp), 0);
	struct monitor_request other_port = bind_request("127.0.0.1", 81);
	ck_assert_int_eq(monitor_check(policy, &other_port, tcp), -EPERM);
	struct monitor_request any_address = bind_request("0.0.0.0", 80);
	ck_assert_int_eq(monitor_check(policy, &any_address, tcp), -EPERM);
	struct monitor_request high = bind_request("127.0.0.1", 8080);
	ck_assert_int_eq(monitor_check(policy, &high, tcp), -EPERM);
	ck_assert_int_eq(monitor_check(policy, &web, -1), -EINVAL);
	struct monitor_request short_address = web;
	short_address.len = 1;
	ck_assert_int_eq(monitor_check(policy, &short_address, tcp), -EINVAL);

	int one = 1;
	struct monitor_request mark = { .op = MONITOR_SETSOCKOPT, .level = SOL_SOCKET,
					.optname = SO_MARK, .len = sizeof(one) };
	memcpy(mark.data, &one, sizeof(one));
	ck_assert_int_eq(monitor_check(policy, &mark, udp), 0);
	struct monitor_request transparent = mark;
	transparent.level = SOL_IP;
	transparent.optname = IP_TRANSPARENT;
	ck_assert_int_eq(monitor_check(policy, &transparent, udp), -EPERM);
	/* Not a privileged option: never the monitor's. */
	struct monitor_request reuse = mark;
	reuse.optname = SO_REUSEADDR;
	ck_assert_int_eq(monitor_check(policy, &reuse, udp), -EPERM);
	ck_assert_int_eq(monitor_check(policy, &mark, STDIN_FILENO), -EINVAL);

	struct monitor_request name = { .op = MONITOR_SETHOSTNAME, .len = 4 };
	memcpy(name.data, "host", 4);
	ck_assert_int_eq(monitor_check(policy, &name, -1), -EPERM);
	struct monitor_request unknown = { .op = 99 };
	ck_assert_int_eq(monitor_check(policy, &unknown, -1), -EINVAL);
	struct monitor_request too_long = name;
	too_long.len = MONITOR_DATA_MAX + 1;
	ck_assert_int_eq(monitor_check(policy, &too_long, -1), -EINVAL);

	/* Under the built-in default nothing privileged is within reach. */
	struct policy builtin;
	ck_assert_int_eq(policy_init_default(&builtin), 0);
	ck_assert_int_eq(monitor_check(&builtin, &ping, -1), -EPERM);
	ck_assert_int_eq(monitor_check(&builtin, &web, tcp), -EPERM);
	ck_assert_int_eq(monitor_check(&builtin, &mark, udp), -EPERM);
	policy_fini(&builtin);
	close(tcp);
	close(udp);
}
END_TEST

/* CapEff of process `pid`, as /proc prints it. */
static unsigned long long
effective_caps(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps = ~0ull;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "CapEff:", 7) == 0)
			ck_assert_int_eq(sscanf(line + 7, "%llx", &caps), 1);
	fclose(f);
	return caps;
}

START_TEST(a_forked_monitor_refuses_requests_outside_the_policy_and_goes_on)
{
	if (geteuid() != 0) {
		test_skip("monitor-process", "forking a monitor with capabilities needs root");
		return;
	}
	const struct policy *policy = load(POLICY_JSON);
	struct privileges_config privileges = { .uid = 0, .gid = 0 };
	char err[512];
	ck_assert_msg(monitor_start(NULL, policy, &privileges, err, sizeof(err)) == 0, "%s", err);
	ck_assert(monitor_running());
	pid_t pid = monitor_pid();
	ck_assert_int_gt(pid, 0);
	ck_assert_uint_eq(monitor_caps(),
			  POLICY_CAP_NET_BIND_SERVICE | POLICY_CAP_NET_RAW | POLICY_CAP_NET_ADMIN);
	/* Exactly those: CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13). */
	int64_t deadline = test_now_ms() + 5000;
	while (effective_caps(pid) != 0x3400 && test_now_ms() < deadline)
		test_sleep_ms(5); /* the monitor narrows its sets right after the fork */
	ck_assert_uint_eq(effective_caps(pid), 0x3400);

	int fd = -1;
	struct monitor_request ping = { .op = MONITOR_SOCKET, .family = AF_INET, .type = SOCK_RAW,
					.proto = IPPROTO_ICMP };
	ck_assert_int_eq(monitor_call(&ping, -1, &fd), 0);
	ck_assert_int_ge(fd, 0);
	int type = 0;
	socklen_t len = sizeof(type);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	ck_assert_int_eq(type, SOCK_RAW);
	close(fd);

	/* Sent directly, as a compromised serving process could: refused, no descriptor. */
	struct monitor_request packet = { .op = MONITOR_SOCKET, .family = AF_PACKET,
					  .type = SOCK_RAW };
	ck_assert_int_eq(monitor_call(&packet, -1, &fd), -EPERM);
	ck_assert_int_eq(fd, -1);
	struct monitor_request name = { .op = MONITOR_SETHOSTNAME, .len = 5 };
	memcpy(name.data, "owned", 5);
	ck_assert_int_eq(monitor_call(&name, -1, &fd), -EPERM);
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct monitor_request any = bind_request("0.0.0.0", 80);
	ck_assert_int_eq(monitor_call(&any, tcp, &fd), -EPERM);
	struct monitor_request unknown = { .op = 42 };
	ck_assert_int_eq(monitor_call(&unknown, -1, &fd), -EINVAL);

	/* Still serving: the allowed bind takes, on our descriptor. */
	struct monitor_request web = bind_request("127.0.0.1", 80);
	int r = monitor_call(&web, tcp, &fd);
	ck_assert_msg(r == 0 || r == -EADDRINUSE, "bind 127.0.0.1:80: %s", strerror(-r));
	if (r == 0) {
		struct sockaddr_in in;
		len = sizeof(in);
		ck_assert_int_eq(getsockname(tcp, (struct sockaddr *)&in, &len), 0);
		ck_assert_uint_eq(ntohs(in.sin_port), 80);
	}
	close(tcp);

	/* It ends with its socketpair. */
	monitor_stop();
	ck_assert(!monitor_running());
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

START_TEST(no_monitor_for_a_policy_that_needs_no_capability)
{
	/* No rule at all: nothing can need a capability (the built-in default's handoff rule
	 * may, on kernels where attaching a socket filter needs CAP_NET_ADMIN). */
	struct policy builtin = { 0 };
	struct privileges_config privileges = { .uid = 0, .gid = 0 };
	char err[512];
	ck_assert_int_eq(monitor_start(NULL, &builtin, &privileges, err, sizeof(err)), 0);
	ck_assert(!monitor_running());
	ck_assert_int_eq(monitor_pid(), 0);
	/* Without a monitor a request is answered at once, by no one. */
	int fd;
	struct monitor_request ping = { .op = MONITOR_SOCKET, .family = AF_INET, .type = SOCK_RAW,
					.proto = IPPROTO_ICMP };
	ck_assert_int_eq(monitor_call(&ping, -1, &fd), -EPERM);
	ck_assert_int_eq(fd, -1);
	policy_fini(&builtin);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("monitor");
	const struct fixture_case cases[] = {
		{ "monitor-checks", the_monitor_allows_only_what_the_policy_could_and_needs_a_capability },
		{ "monitor-process", a_forked_monitor_refuses_requests_outside_the_policy_and_goes_on },
		{ "no-monitor", no_monitor_for_a_policy_that_needs_no_capability },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 30);
	return fixture_run(s);
}
