/*
 * Unit tests of server/audit.c. Each test opens a sink on a file in a fresh temporary
 * directory, writes records and reads the lines back with cJSON. Standard error is swapped for
 * a pipe where a test looks at what was logged.
 *
 * With $SOCKBROKER_AUDIT_SAMPLE set to a file name, the program instead writes one line of
 * every shape a record can take there and exits: tests/schema validates those lines against
 * schema/audit.schema.json.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "transport.h"

static char dir[256];
static char path[320];
static char err[512];
static struct audit *audit;

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/sb-audit-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	audit = NULL;
	err[0] = '\0';
}

static void
teardown(void)
{
	audit_close(audit);
	audit = NULL;
	unlink(path);
	rmdir(dir);
}

/* Open the sink on `path` with these events (NULL: the default set). */
static void
open_sink(const char *const *events, size_t n_events)
{
	struct audit_config cfg = { path, events, n_events };

	ck_assert_msg(audit_open(&audit, &cfg, err, sizeof(err)) == 0, "%s", err);
}

static const char *const every_event[] = { "*" };

static char *
read_all(const char *file)
{
	FILE *f = fopen(file, "r");
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int c;

	ck_assert_msg(f, "cannot open %s", file);
	out = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(out);
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(f);
	return text;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The index-th line of the file, parsed; every line must be one JSON object ending in '\n'. */
static cJSON *
line_at(size_t index)
{
	char *text = read_all(path);
	char *line = text;
	cJSON *json;

	for (size_t i = 0; i < index; i++) {
		line = strchr(line, '\n');
		ck_assert_msg(line, "fewer than %zu lines", index + 1);
		line++;
	}
	char *end = strchr(line, '\n');
	ck_assert_msg(end, "line %zu is missing or has no newline", index);
	*end = '\0';
	json = cJSON_Parse(line);
	ck_assert_msg(json && cJSON_IsObject(json), "line %zu is not a JSON object: %s", index,
		      line);
	free(text);
	return json;
}

static const cJSON *
get(const cJSON *object, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);

	ck_assert_msg(v, "no \"%s\"", key);
	return v;
}

static const char *
get_string(const cJSON *object, const char *key)
{
	const cJSON *v = get(object, key);

	ck_assert_msg(cJSON_IsString(v), "\"%s\" is not a string", key);
	return v->valuestring;
}

static double
get_number(const cJSON *object, const char *key)
{
	const cJSON *v = get(object, key);

	ck_assert_msg(cJSON_IsNumber(v), "\"%s\" is not a number", key);
	return v->valuedouble;
}

static struct peer_identity
ipc_peer(void)
{
	struct peer_identity id = { .has_credentials = true, .uid = 1000, .gid = 100, .pid = 4242 };

	snprintf(id.peer, sizeof(id.peer), "ipc");
	return id;
}

static struct sockaddr_in
inet4(const char *host, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	/* No ck_assert: the sample is written outside any test. */
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		abort();
	return sin;
}

/* ---- the sample for the schema test ------------------------------------------------------ */

/* One record of every shape: each argument kind and address family, hostile strings, each
 * decision, each result, each transport, no identity. */
static void
write_sample(struct audit *sink)
{
	struct peer_identity ipc = ipc_peer();
	struct peer_identity tcp = { .tls_verified = false, .transport = POLICY_TRANSPORT_TCP };
	struct peer_identity tls = { .tls_verified = true, .transport = POLICY_TRANSPORT_TLS };
	struct peer_identity abstract = { .has_credentials = true, .uid = 0, .gid = 0, .pid = 1,
					  .transport = POLICY_TRANSPORT_ABSTRACT };
	struct peer_identity odd = { .transport = POLICY_TRANSPORT__COUNT };
	struct sockaddr_in sin = inet4("192.0.2.1", 443);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(53),
				     .sin6_scope_id = 2 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sockaddr_un abstract_un = { .sun_family = AF_UNIX };
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = 7, .nl_groups = 1 };
	struct sockaddr_vm vm = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 1234 };
	struct sockaddr_storage other = { .ss_family = AF_BLUETOOTH };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	struct sockaddr_storage unnamed_family = { .ss_family = 250 };
	struct audit_record r;

	snprintf(tcp.peer, sizeof(tcp.peer), "tcp 127.0.0.1:40112");
	snprintf(tls.peer, sizeof(tls.peer), "tcp [::1]:40112");
	snprintf(abstract.peer, sizeof(abstract.peer), "abstract");
	snprintf(odd.peer, sizeof(odd.peer), "unknown");
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/run/\"x\"\n\xff.sock");
	memcpy(abstract_un.sun_path, "\0name\0with nul", 15);
	memset((char *)&other + 2, 0xab, 6);

	r = (struct audit_record){ .event = "sockbroker.session.start", .session = 1, .peer = &ipc };
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "sockbroker.hello", .session = 1, .peer = &ipc,
				   .token_name = "ci", .client_name = "py\x01\xc3(" };
	audit_arg_string(&r, "version", "1.0");
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.__new__", .session = 1, .peer = &ipc,
				   .handle = 3, .decision = AUDIT_ALLOW, .rule = "default" };
	audit_arg_int(&r, "family", AF_INET);
	audit_arg_int(&r, "type", INT64_MIN);
	audit_arg_bool(&r, "cloexec", true);
	audit_arg_bool(&r, "nonblocking", false);
	audit_arg_string(&r, "nothing", NULL);
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.connect", .session = 2, .peer = &tcp,
				   .handle = 9, .decision = AUDIT_DENY, .rule = "no-metadata",
				   .errnum = EACCES, .error_kind = "denied",
				   .message = "denied by rule \"no-metadata\"" };
	audit_arg_address(&r, "address", (struct sockaddr *)&sin, sizeof(sin));
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.bind", .session = 3, .peer = &tls,
				   .handle = 1, .errnum = EADDRINUSE, .message = "in use" };
	audit_arg_address(&r, "address", (struct sockaddr *)&sin6, sizeof(sin6));
	audit_arg_address(&r, "unix", (struct sockaddr *)&sun, sizeof(sun));
	audit_arg_address(&r, "abstract", (struct sockaddr *)&abstract_un,
			  offsetof(struct sockaddr_un, sun_path) + 15);
	audit_arg_address(&r, "netlink", (struct sockaddr *)&nl, sizeof(nl));
	audit_arg_address(&r, "vsock", (struct sockaddr *)&vm, sizeof(vm));
	audit_arg_address(&r, "bluetooth", (struct sockaddr *)&other, 8);
	audit_arg_address(&r, "unspec", &unspec, sizeof(unspec));
	audit_arg_address(&r, "numbered", (struct sockaddr *)&unnamed_family, 4);
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.sendto", .session = 4, .peer = &abstract,
				   .handle = 2, .decision = AUDIT_QUOTA, .rule = "bytes_per_second",
				   .errnum = EAGAIN, .error_kind = "quota", .message = NULL };
	audit_arg_int(&r, "bytes", 65536);
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.getaddrinfo", .session = 4, .peer = &odd,
				   .errnum = -1, .error_kind = "gai",
				   .message = "Name or service not known" };
	audit_arg_string(&r, "host", "\xed\xa0\x80.invalid\x7f");
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.setsockopt", .session = 4, .peer = &odd,
				   .handle = 5, .decision = AUDIT_DENY, .rule = "sockopts",
				   .errnum = EPERM, .error_kind = "denied", .message = "no" };
	audit_arg_int(&r, "level", 1);
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "sockbroker.session.end", .session = 1, .peer = &ipc };
	audit_arg_int(&r, "handles_closed", 2);
	audit_arg_int(&r, "ops_cancelled", 0);
	audit_arg_string(&r, "reason", "disconnected");
	audit_write(sink, &r);

	r = (struct audit_record){ .event = "socket.gethostname" };
	audit_write(sink, &r);
}

static int
write_sample_file(const char *file)
{
	struct audit_config cfg = { file, every_event, 1 };
	struct audit *sink;

	unlink(file);
	if (audit_open(&sink, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_FAILURE;
	}
	write_sample(sink);
	audit_close(sink);
	return EXIT_SUCCESS;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(audit_writes_one_object_per_line_with_every_field)
{
	struct peer_identity id = ipc_peer();
	struct audit_record r = { .event = "socket.connect", .session = 7, .peer = &id,
				  .token_name = "ci", .client_name = "sbcat", .handle = 12,
				  .decision = AUDIT_ALLOW, .rule = "loopback",
				  .errnum = ECONNREFUSED, .error_kind = "os",
				  .message = "Connection refused" };
	struct sockaddr_in sin = inet4("127.0.0.1", 80);
	const cJSON *identity, *result;
	cJSON *line;

	open_sink(NULL, 0);
	audit_arg_address(&r, "address", (struct sockaddr *)&sin, sizeof(sin));
	audit_write(audit, &r);

	line = line_at(0);
	ck_assert_int_eq(cJSON_GetArraySize(line), 9);
	/* "2026-11-22T10:11:12.345Z" */
	const char *stamp = get_string(line, "time");
	ck_assert_uint_eq(strlen(stamp), 24);
	ck_assert_msg(stamp[4] == '-' && stamp[10] == 'T' && stamp[19] == '.' && stamp[23] == 'Z',
		      "time \"%s\"", stamp);
	ck_assert_str_eq(get_string(line, "event"), "socket.connect");
	ck_assert_int_eq(get_number(line, "session"), 7);
	ck_assert_int_eq(get_number(line, "handle"), 12);
	ck_assert_str_eq(get_string(line, "decision"), "allow");
	ck_assert_str_eq(get_string(line, "rule"), "loopback");

	identity = get(line, "identity");
	ck_assert_str_eq(get_string(identity, "transport"), "ipc");
	ck_assert_int_eq(get_number(identity, "uid"), 1000);
	ck_assert_int_eq(get_number(identity, "gid"), 100);
	ck_assert_int_eq(get_number(identity, "pid"), 4242);
	ck_assert(cJSON_IsFalse(get(identity, "tls_verified")));
	ck_assert_str_eq(get_string(identity, "token"), "ci");
	ck_assert_str_eq(get_string(identity, "client"), "sbcat");
	ck_assert_str_eq(get_string(identity, "peer"), "ipc");

	result = get(line, "result");
	ck_assert(cJSON_IsFalse(get(result, "ok")));
	ck_assert_str_eq(get_string(result, "errno"), "ECONNREFUSED");
	ck_assert_int_eq(get_number(result, "errno_number"), ECONNREFUSED);
	ck_assert_str_eq(get_string(result, "kind"), "os");
	ck_assert_str_eq(get_string(result, "message"), "Connection refused");

	const cJSON *address = get(get(line, "args"), "address");
	ck_assert_str_eq(get_string(address, "family"), "AF_INET");
	ck_assert_str_eq(get_string(address, "host"), "127.0.0.1");
	ck_assert_int_eq(get_number(address, "port"), 80);
	cJSON_Delete(line);
}
END_TEST

START_TEST(audit_writes_each_argument_kind)
{
	struct audit_record r = { .event = "socket.__new__" };
	cJSON *line;
	const cJSON *args;

	open_sink(every_event, 1);
	audit_arg_string(&r, "string", "text");
	audit_arg_string(&r, "null", NULL);
	audit_arg_int(&r, "int", -42);
	audit_arg_int(&r, "big", INT64_MAX);
	audit_arg_bool(&r, "yes", true);
	audit_arg_bool(&r, "no", false);
	audit_write(audit, &r);

	line = line_at(0);
	args = get(line, "args");
	ck_assert_int_eq(cJSON_GetArraySize(args), 6);
	ck_assert_str_eq(get_string(args, "string"), "text");
	ck_assert(cJSON_IsNull(get(args, "null")));
	ck_assert_int_eq(get_number(args, "int"), -42);
	ck_assert(cJSON_IsTrue(get(args, "yes")));
	ck_assert(cJSON_IsFalse(get(args, "no")));
	/* Beyond a double's precision: compare the text. */
	char *text = read_all(path);
	ck_assert_msg(strstr(text, "\"big\": 9223372036854775807"), "%s", text);
	free(text);
	cJSON_Delete(line);
}
END_TEST

START_TEST(audit_writes_addresses_with_their_family_fields)
{
	struct audit_record r = { .event = "socket.bind" };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(8080),
				     .sin6_flowinfo = htonl(5), .sin6_scope_id = 3 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/run/app.sock" };
	struct sockaddr_un abstract = { .sun_family = AF_UNIX };
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = 99, .nl_groups = 4 };
	struct sockaddr_vm vm = { .svm_family = AF_VSOCK, .svm_cid = 3, .svm_port = 1024 };
	struct sockaddr_storage bt = { .ss_family = AF_BLUETOOTH };
	const cJSON *args, *a;
	cJSON *line;

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	memcpy(abstract.sun_path, "\0sb", 3);
	memcpy((char *)&bt + 2, "\x01\x02\xff", 3);
	open_sink(every_event, 1);
	audit_arg_address(&r, "inet6", (struct sockaddr *)&sin6, sizeof(sin6));
	audit_arg_address(&r, "path", (struct sockaddr *)&sun, sizeof(sun));
	audit_arg_address(&r, "abstract", (struct sockaddr *)&abstract,
			  offsetof(struct sockaddr_un, sun_path) + 3);
	audit_arg_address(&r, "netlink", (struct sockaddr *)&nl, sizeof(nl));
	audit_arg_address(&r, "vsock", (struct sockaddr *)&vm, sizeof(vm));
	audit_arg_address(&r, "other", (struct sockaddr *)&bt, 5);
	audit_arg_address(&r, "none", NULL, 0); /* skipped by the helper */
	audit_write(audit, &r);

	line = line_at(0);
	args = get(line, "args");
	ck_assert_int_eq(cJSON_GetArraySize(args), 6);
	a = get(args, "inet6");
	ck_assert_str_eq(get_string(a, "family"), "AF_INET6");
	ck_assert_str_eq(get_string(a, "host"), "2001:db8::1");
	ck_assert_int_eq(get_number(a, "port"), 8080);
	ck_assert_int_eq(get_number(a, "flowinfo"), 5);
	ck_assert_int_eq(get_number(a, "scope_id"), 3);
	a = get(args, "path");
	ck_assert_str_eq(get_string(a, "family"), "AF_UNIX");
	ck_assert_str_eq(get_string(a, "path"), "/run/app.sock");
	ck_assert_str_eq(get_string(get(args, "abstract"), "path"), "@sb");
	a = get(args, "netlink");
	ck_assert_str_eq(get_string(a, "family"), "AF_NETLINK");
	ck_assert_int_eq(get_number(a, "pid"), 99);
	ck_assert_int_eq(get_number(a, "groups"), 4);
	a = get(args, "vsock");
	ck_assert_int_eq(get_number(a, "cid"), 3);
	ck_assert_int_eq(get_number(a, "port"), 1024);
	a = get(args, "other");
	ck_assert_str_eq(get_string(a, "family"), "AF_BLUETOOTH");
	ck_assert_str_eq(get_string(a, "bytes"), "0102ff");
	cJSON_Delete(line);
}
END_TEST

/* Whether s is well-formed UTF-8 with no control character but the final newline. */
static bool
clean_utf8_line(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if (u[i] == '\n')
			return i == n - 1;
		if (u[i] < 0x20 || u[i] == 0x7f)
			return false;
		if (u[i] < 0x80)
			continue;
		size_t len = u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : 2;
		if (u[i] < 0xc2 || u[i] > 0xf4 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return false;
		}
		if ((u[i] == 0xe0 && u[i + 1] < 0xa0) || (u[i] == 0xed && u[i + 1] > 0x9f) ||
		    (u[i] == 0xf0 && u[i + 1] < 0x90) || (u[i] == 0xf4 && u[i + 1] > 0x8f))
			return false;
		i += len - 1;
	}
	return false;
}

/* Every line of text (which ends in a newline) is clean UTF-8. */
static void
assert_clean_lines(char *text)
{
	for (char *line = text, *next; *line; line = next) {
		next = strchr(line, '\n') + 1;
		char saved = *next;
		*next = '\0';
		ck_assert_msg(clean_utf8_line(line), "not one clean UTF-8 line: %s", line);
		*next = saved;
	}
}

START_TEST(audit_escapes_hostile_strings_into_valid_json)
{
	static const struct {
		const char *in;
		const char *decoded; /* what a JSON parser reads back */
	} cases[] = {
		{ "say \"hi\" \\ there", "say \"hi\" \\ there" },
		{ "two\nlines\r\tand a bell\a", "two\nlines\r\tand a bell\a" },
		{ "del\x7f esc\x1b[31m", "del\x7f esc\x1b[31m" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "raw \xff byte", "raw \\xff byte" },
		{ "overlong \xc0\xaf slash", "overlong \\xc0\\xaf slash" },
		{ "surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80" },
		{ "cut \xe2\x82", "cut \\xe2\\x82" },
		{ "too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80" },
		{ "c1 \xc2\x85 next line", "c1 \xc2\x85 next line" },
		{ "}\n{\"event\": \"forged\"}", "}\n{\"event\": \"forged\"}" },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	char *text;

	open_sink(every_event, 1);
	for (size_t i = 0; i < n; i++) {
		struct peer_identity id = ipc_peer();
		struct audit_record r = { .event = "socket.getaddrinfo", .peer = &id,
					  .client_name = cases[i].in, .message = cases[i].in,
					  .error_kind = "gai" };
		audit_arg_string(&r, cases[i].in, cases[i].in);
		audit_write(audit, &r);
	}
	text = read_all(path);
	ck_assert_uint_eq(count_lines(text), n);
	assert_clean_lines(text);
	free(text);

	for (size_t i = 0; i < n; i++) {
		cJSON *line = line_at(i);
		const cJSON *args = get(line, "args");

		ck_assert_str_eq(get_string(line, "event"), "socket.getaddrinfo");
		ck_assert_str_eq(get_string(args, cases[i].decoded), cases[i].decoded);
		ck_assert_str_eq(get_string(get(line, "identity"), "client"), cases[i].decoded);
		ck_assert_str_eq(get_string(get(line, "result"), "message"), cases[i].decoded);
		cJSON_Delete(line);
	}
}
END_TEST

START_TEST(audit_cuts_a_very_long_string)
{
	struct audit_record r = { .event = "socket.gethostbyname" };
	char *long_name = malloc(100000);
	cJSON *line;

	ck_assert_ptr_nonnull(long_name);
	memset(long_name, 'a', 99999);
	long_name[99999] = '\0';
	open_sink(every_event, 1);
	audit_arg_string(&r, "name", long_name);
	audit_write(audit, &r);
	line = line_at(0);
	const char *name = get_string(get(line, "args"), "name");
	ck_assert_uint_eq(strlen(name), 4096 + 3);
	ck_assert_str_eq(name + 4096, "...");
	cJSON_Delete(line);
	free(long_name);
}
END_TEST

START_TEST(audit_writes_denials_and_quota_refusals_of_unwanted_events)
{
	static const char *const none[] = { NULL };
	struct audit_record r = { .event = "socket.sendto", .errnum = EACCES,
				  .error_kind = "denied", .message = "denied" };
	cJSON *line;
	char *text;

	open_sink(none, 0);
	ck_assert(!audit_wants(audit, "socket.sendto"));
	ck_assert(!audit_wants(audit, "sockbroker.session.start"));
	r.decision = AUDIT_DENY;
	r.rule = "no-udp";
	audit_write(audit, &r);
	r.decision = AUDIT_QUOTA;
	r.rule = "bytes_per_second";
	audit_write(audit, &r);
	r.decision = AUDIT_ALLOW;
	audit_write(audit, &r);
	r.decision = AUDIT_NO_DECISION;
	audit_write(audit, &r);

	text = read_all(path);
	ck_assert_uint_eq(count_lines(text), 2);
	free(text);
	line = line_at(0);
	ck_assert_str_eq(get_string(line, "decision"), "deny");
	ck_assert_str_eq(get_string(line, "rule"), "no-udp");
	ck_assert_str_eq(get_string(get(line, "result"), "errno"), "EACCES");
	cJSON_Delete(line);
	line = line_at(1);
	ck_assert_str_eq(get_string(line, "decision"), "quota");
	cJSON_Delete(line);
}
END_TEST

START_TEST(audit_skips_unwanted_events)
{
	struct audit_record r = { .event = "socket.sendto" };
	char *text;

	open_sink(NULL, 0); /* the default set */
	for (size_t i = 0; audit_default_events[i]; i++)
		ck_assert_msg(audit_wants(audit, audit_default_events[i]), "%s",
			      audit_default_events[i]);
	ck_assert(!audit_wants(audit, "socket.sendto"));
	ck_assert(!audit_wants(audit, "socket.getaddrinfo"));
	ck_assert(!audit_wants(audit, "socket.nonsense"));
	ck_assert(!audit_wants(audit, NULL));
	audit_write(audit, &r);
	r.event = "socket.connect";
	audit_write(audit, &r);
	r.event = NULL; /* no event: nothing to write */
	audit_write(audit, &r);

	text = read_all(path);
	ck_assert_uint_eq(count_lines(text), 1);
	ck_assert_ptr_nonnull(strstr(text, "\"event\": \"socket.connect\""));
	free(text);
}
END_TEST

START_TEST(audit_wants_every_event_with_a_star)
{
	static const char *const events[] = { "socket.bind", "*" };

	open_sink(events, 2);
	for (size_t i = 0; audit_event_names[i]; i++)
		ck_assert(audit_wants(audit, audit_event_names[i]));
	ck_assert(audit_wants(audit, "socket.setsockopt"));
}
END_TEST

START_TEST(audit_without_a_sink_does_nothing)
{
	struct audit_record r = { .event = "socket.connect", .decision = AUDIT_DENY };

	ck_assert(!audit_wants(NULL, "socket.connect"));
	audit_write(NULL, &r);
	audit_close(NULL);
}
END_TEST

START_TEST(audit_writes_no_identity_session_or_handle_as_null_and_success_as_ok)
{
	struct audit_record r = { .event = "socket.gethostname" };
	cJSON *line;

	open_sink(every_event, 1);
	audit_write(audit, &r);
	line = line_at(0);
	ck_assert(cJSON_IsNull(get(line, "session")));
	ck_assert(cJSON_IsNull(get(line, "identity")));
	ck_assert(cJSON_IsNull(get(line, "handle")));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(line, "decision"));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(line, "rule"));
	ck_assert_int_eq(cJSON_GetArraySize(get(line, "args")), 0);
	const cJSON *result = get(line, "result");
	ck_assert_int_eq(cJSON_GetArraySize(result), 1);
	ck_assert(cJSON_IsTrue(get(result, "ok")));
	cJSON_Delete(line);
}
END_TEST

START_TEST(audit_names_the_transport_and_leaves_out_missing_credentials)
{
	static const struct {
		const char *peer;
		enum policy_transport kind;
		bool tls_verified;
		const char *transport;
	} cases[] = {
		{ "ipc", POLICY_TRANSPORT_IPC, false, "ipc" },
		{ "abstract", POLICY_TRANSPORT_ABSTRACT, false, "abstract" },
		{ "tcp 127.0.0.1:40112", POLICY_TRANSPORT_TCP, false, "tcp" },
		{ "tcp [::1]:40112", POLICY_TRANSPORT_TLS, true, "tls+tcp" },
		/* The peer text is not read: the field says which listener it was. */
		{ "tcp 192.0.2.7:5000", POLICY_TRANSPORT_TLS, true, "tls+tcp" },
		{ "unknown", POLICY_TRANSPORT__COUNT, false, "unknown" },
		{ "ipc", POLICY_TRANSPORT_TCP, false, "tcp" },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	open_sink(every_event, 1);
	for (size_t i = 0; i < n; i++) {
		struct peer_identity id = { .tls_verified = cases[i].tls_verified,
					    .transport = cases[i].kind };
		struct audit_record r = { .event = "sockbroker.hello", .session = i + 1, .peer = &id,
					  .client_name = "" };

		snprintf(id.peer, sizeof(id.peer), "%s", cases[i].peer);
		audit_write(audit, &r);
	}
	for (size_t i = 0; i < n; i++) {
		cJSON *line = line_at(i);
		const cJSON *identity = get(line, "identity");

		ck_assert_str_eq(get_string(identity, "transport"), cases[i].transport);
		ck_assert_str_eq(get_string(identity, "peer"), cases[i].peer);
		ck_assert(cJSON_IsBool(get(identity, "tls_verified")));
		ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(identity, "uid"));
		ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(identity, "pid"));
		ck_assert(cJSON_IsNull(get(identity, "token")));
		ck_assert(cJSON_IsNull(get(identity, "client")));
		cJSON_Delete(line);
	}
}
END_TEST

START_TEST(audit_writes_a_failure_without_an_errno)
{
	struct audit_record r = { .event = "socket.getaddrinfo", .error_kind = "gai",
				  .message = "Name or service not known" };
	cJSON *line;

	open_sink(every_event, 1);
	audit_write(audit, &r);
	line = line_at(0);
	const cJSON *result = get(line, "result");
	ck_assert(cJSON_IsFalse(get(result, "ok")));
	ck_assert(cJSON_IsNull(get(result, "errno")));
	ck_assert_int_eq(get_number(result, "errno_number"), 0);
	ck_assert_str_eq(get_string(result, "kind"), "gai");
	cJSON_Delete(line);
}
END_TEST

START_TEST(audit_file_is_created_0600_close_on_exec_and_appended_to)
{
	struct audit_record r = { .event = "socket.connect" };
	struct stat st;
	mode_t old_umask = umask(0);
	bool found = false;
	DIR *fds;
	struct dirent *entry;
	char *text;
	FILE *f;

	open_sink(NULL, 0);
	umask(old_umask);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert(S_ISREG(st.st_mode));

	fds = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(fds);
	while ((entry = readdir(fds))) {
		char target[400];
		ssize_t n = readlinkat(dirfd(fds), entry->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) != 0)
			continue;
		int fd = atoi(entry->d_name);
		ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		ck_assert(fcntl(fd, F_GETFL) & O_APPEND);
		found = true;
	}
	closedir(fds);
	ck_assert(found);

	audit_write(audit, &r);
	audit_close(audit);
	audit = NULL;
	/* An existing file is appended to, its mode left alone. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("{\"kept\": true}\n", f);
	fclose(f);
	open_sink(NULL, 0);
	audit_write(audit, &r);
	text = read_all(path);
	ck_assert_uint_eq(count_lines(text), 3);
	ck_assert_ptr_nonnull(strstr(text, "\n{\"kept\": true}\n{\"time\""));
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

START_TEST(audit_open_refuses_what_it_cannot_use_saying_what_to_do)
{
	char missing[400];
	struct audit_config cfg = { missing, NULL, 0 };
	static const char *const unknown[] = { "socket.connect", "socket.conect" };

	snprintf(missing, sizeof(missing), "%s/no/such/dir/audit.jsonl", dir);
	ck_assert_int_eq(audit_open(&audit, &cfg, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(audit);
	ck_assert_msg(strstr(err, "audit.file: cannot open ") && strstr(err, missing) &&
			      strstr(err, "No such file or directory") &&
			      strstr(err, "remove audit.file to audit to standard error"),
		      "%s", err);

	cfg.file = "relative.jsonl";
	ck_assert_int_eq(audit_open(&audit, &cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "audit.file: must be an absolute file name"), "%s", err);

	cfg.file = NULL;
	cfg.events = unknown;
	cfg.n_events = 2;
	ck_assert_int_eq(audit_open(&audit, &cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "audit.events: unknown event \"socket.conect\""), "%s", err);
	ck_assert_ptr_null(audit);
}
END_TEST

START_TEST(audit_to_standard_error_when_no_file_is_given)
{
	struct audit_config cfg = { NULL, NULL, 0 };
	struct audit_record r = { .event = "socket.bind" };
	int fds[2], saved;
	char buf[4096];
	ssize_t n;

	ck_assert_int_eq(audit_open(&audit, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	close(fds[1]);
	audit_write(audit, &r);
	audit_close(audit);
	audit = NULL;
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "{\"time\": \"", 10) == 0 && strstr(buf, "socket.bind") &&
			      buf[n - 1] == '\n',
		      "%s", buf);
	/* Standard error stays open after the sink is closed. */
	ck_assert_int_ge(fcntl(STDERR_FILENO, F_GETFD), 0);
}
END_TEST

/* Standard error swapped for a pipe while `fn` runs; what was logged is returned. */
static char captured[65536];

static const char *
capture(void (*fn)(void))
{
	int fds[2], saved;
	size_t len = 0;
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	close(fds[1]);
	fn();
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	while ((n = read(fds[0], captured + len, sizeof(captured) - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	captured[len] = '\0';
	return captured;
}

static size_t
occurrences(const char *haystack, const char *needle)
{
	size_t n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void
write_three_to_a_full_device(void)
{
	struct audit_config cfg = { "/dev/full", every_event, 1 };
	struct audit_record r = { .event = "socket.connect" };

	ck_assert_msg(audit_open(&audit, &cfg, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 3; i++)
		audit_write(audit, &r);
	audit_close(audit);
	audit = NULL;
}

START_TEST(audit_write_errors_are_logged_once_and_the_daemon_goes_on)
{
	const char *logged;

	if (access("/dev/full", W_OK) != 0) {
		fprintf(stderr, "SKIP: no writable /dev/full to make writes fail\n");
		return;
	}
	logged = capture(write_three_to_a_full_device);
	ck_assert_uint_eq(occurrences(logged, "audit: cannot write a record to /dev/full: No "
					      "space left on device"),
			  1);
	ck_assert_uint_eq(count_lines(logged), 1);
}
END_TEST

/* A FIFO whose reader goes away makes writes fail (EPIPE); a new reader makes them work. */
static size_t recovered_lines;

static void
fail_then_recover(void)
{
	struct audit_record r = { .event = "socket.connect" };
	void (*old_handler)(int) = signal(SIGPIPE, SIG_IGN);
	char buf[4096];
	ssize_t n;
	int reader;

	ck_assert_int_eq(mkfifo(path, 0600), 0);
	reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(reader, 0);
	open_sink(every_event, 1);
	audit_write(audit, &r);
	n = read(reader, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_uint_eq(count_lines(buf), 1);
	close(reader);
	audit_write(audit, &r);
	audit_write(audit, &r);
	reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(reader, 0);
	audit_write(audit, &r);
	n = read(reader, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	recovered_lines = count_lines(buf);
	/* A later failure is logged again. */
	close(reader);
	audit_write(audit, &r);
	signal(SIGPIPE, old_handler);
}

START_TEST(audit_logs_when_writing_works_again)
{
	const char *logged = capture(fail_then_recover);

	ck_assert_uint_eq(occurrences(logged, "audit: cannot write a record to "), 2);
	ck_assert_uint_eq(occurrences(logged, "Broken pipe"), 2);
	ck_assert_uint_eq(occurrences(logged, "again; 2 records were lost"), 1);
	ck_assert_uint_eq(count_lines(logged), 3);
	ck_assert_uint_eq(recovered_lines, 1);
}
END_TEST

START_TEST(audit_sample_has_a_line_per_record)
{
	char *text;

	ck_assert_int_eq(write_sample_file(path), EXIT_SUCCESS);
	text = read_all(path);
	ck_assert_uint_eq(count_lines(text), 10);
	assert_clean_lines(text);
	free(text);
	for (size_t i = 0; i < 10; i++)
		cJSON_Delete(line_at(i));
}
END_TEST

/* The configuration schema lists exactly the events audit_open() knows, and "*". */
START_TEST(audit_event_names_match_the_configuration_schema)
{
	const char *root = getenv("SOCKBROKER_SOURCE_ROOT");
	char schema_path[600];
	char *text;
	cJSON *schema;
	const cJSON *names, *name;
	size_t n_schema = 0, n_known = 0;

	ck_assert_msg(root && root[0], "set SOCKBROKER_SOURCE_ROOT to the top of the source tree");
	snprintf(schema_path, sizeof(schema_path), "%s/schema/config.schema.json", root);
	text = read_all(schema_path);
	schema = cJSON_Parse(text);
	ck_assert_ptr_nonnull(schema);
	names = get(get(cJSON_GetArrayItem(get(get(get(get(get(schema, "properties"), "audit"),
								 "properties"),
							 "events"),
						     "anyOf"),
					   1),
			    "items"),
		    "enum");
	cJSON_ArrayForEach(name, names) {
		bool known = strcmp(name->valuestring, "*") == 0;

		for (size_t i = 0; !known && audit_event_names[i]; i++)
			known = strcmp(name->valuestring, audit_event_names[i]) == 0;
		ck_assert_msg(known, "the schema lists %s, audit.c does not", name->valuestring);
		n_schema++;
	}
	while (audit_event_names[n_known])
		n_known++;
	ck_assert_uint_eq(n_schema, n_known + 1);
	cJSON_Delete(schema);
	free(text);
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *lines = tcase_create("lines");
	TCase *events = tcase_create("events");
	TCase *sink = tcase_create("sink");

	tcase_add_checked_fixture(lines, setup, teardown);
	tcase_add_test(lines, audit_writes_one_object_per_line_with_every_field);
	tcase_add_test(lines, audit_writes_each_argument_kind);
	tcase_add_test(lines, audit_writes_addresses_with_their_family_fields);
	tcase_add_test(lines, audit_escapes_hostile_strings_into_valid_json);
	tcase_add_test(lines, audit_cuts_a_very_long_string);
	tcase_add_test(lines, audit_writes_no_identity_session_or_handle_as_null_and_success_as_ok);
	tcase_add_test(lines, audit_names_the_transport_and_leaves_out_missing_credentials);
	tcase_add_test(lines, audit_writes_a_failure_without_an_errno);
	tcase_add_test(lines, audit_sample_has_a_line_per_record);
	suite_add_tcase(s, lines);

	tcase_add_checked_fixture(events, setup, teardown);
	tcase_add_test(events, audit_writes_denials_and_quota_refusals_of_unwanted_events);
	tcase_add_test(events, audit_skips_unwanted_events);
	tcase_add_test(events, audit_wants_every_event_with_a_star);
	tcase_add_test(events, audit_without_a_sink_does_nothing);
	tcase_add_test(events, audit_event_names_match_the_configuration_schema);
	suite_add_tcase(s, events);

	tcase_add_checked_fixture(sink, setup, teardown);
	tcase_add_test(sink, audit_file_is_created_0600_close_on_exec_and_appended_to);
	tcase_add_test(sink, audit_open_refuses_what_it_cannot_use_saying_what_to_do);
	tcase_add_test(sink, audit_to_standard_error_when_no_file_is_given);
	tcase_add_test(sink, audit_write_errors_are_logged_once_and_the_daemon_goes_on);
	tcase_add_test(sink, audit_logs_when_writing_works_again);
	suite_add_tcase(s, sink);
	return s;
}

int
main(void)
{
	const char *sample = getenv("SOCKBROKER_AUDIT_SAMPLE");
	SRunner *runner;
	int failed;

	if (sample && sample[0])
		return write_sample_file(sample);
	runner = srunner_create(audit_suite());
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
