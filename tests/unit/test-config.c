/*
 * Unit tests of server/config.c. Besides the parser's behaviour, these keep three things in
 * step that would otherwise drift: the parser's keys, the JSON Schema's properties (and its
 * defaults), and the shipped example. Those files are found through $SOCKBROKER_SOURCE_ROOT.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct config cfg;
static char err[1024];

static void
setup(void)
{
	config_init(&cfg);
	err[0] = '\0';
}

static void
teardown(void)
{
	config_fini(&cfg);
}

static int
load(const char *json)
{
	return config_load_string(&cfg, json, "test.json", err, sizeof(err));
}

/* Load json, expecting -EINVAL with exactly `message`. */
static void
assert_rejected(const char *json, const char *message)
{
	ck_assert_msg(load(json) == -EINVAL, "accepted: %s", json);
	ck_assert_str_eq(err, message);
}

/* Load json, expecting -EINVAL with a message that contains `part`. */
static void
assert_rejected_with(const char *json, const char *part)
{
	ck_assert_msg(load(json) == -EINVAL, "accepted: %s", json);
	ck_assert_msg(strstr(err, part), "message \"%s\" lacks \"%s\"", err, part);
}

static char *
source_file(const char *relative)
{
	const char *root = getenv("SOCKBROKER_SOURCE_ROOT");
	char *path;

	ck_assert_msg(root && root[0], "set SOCKBROKER_SOURCE_ROOT to the top of the source tree");
	ck_assert_int_ge(asprintf(&path, "%s/%s", root, relative), 0);
	return path;
}

static char *
read_source_file(const char *relative)
{
	char *path = source_file(relative);
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	ck_assert_msg(f, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	text = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	text[len] = '\0';
	fclose(f);
	free(path);
	return text;
}

static char *
print_config(const struct config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(out);
	config_print(c, out);
	fclose(out);
	return text;
}

/* The properties of the schema as JSON paths, each with its own schema. */
struct schema_key {
	char path[64];
	const cJSON *schema;
};

static size_t
collect_schema_keys(const cJSON *object_schema, const char *prefix, struct schema_key *keys,
		    size_t n, size_t cap)
{
	const cJSON *property;

	const cJSON *properties = cJSON_GetObjectItemCaseSensitive(object_schema, "properties");

	cJSON_ArrayForEach(property, properties) {
		ck_assert_uint_lt(n, cap);
		snprintf(keys[n].path, sizeof(keys[n].path), "%s%s%s", prefix, prefix[0] ? "." : "",
			 property->string);
		keys[n].schema = property;
		n++;
		if (cJSON_GetObjectItemCaseSensitive(property, "properties"))
			n = collect_schema_keys(property, keys[n - 1].path, keys, n, cap);
	}
	return n;
}

static cJSON *
load_schema(void)
{
	char *text = read_source_file("schema/config.schema.json");
	cJSON *schema = cJSON_Parse(text);

	ck_assert_msg(schema, "schema/config.schema.json is not valid JSON");
	free(text);
	return schema;
}

/* The value at a dotted path of a JSON document. */
static const cJSON *
json_at(const cJSON *doc, const char *path)
{
	char copy[64];
	char *saveptr = NULL;

	ck_assert_uint_lt(strlen(path), sizeof(copy));
	strcpy(copy, path);
	for (char *name = strtok_r(copy, ".", &saveptr); name && doc;
	     name = strtok_r(NULL, ".", &saveptr))
		doc = cJSON_GetObjectItemCaseSensitive(doc, name);
	return doc;
}

/* {"a": {"b": value}} for path "a.b"; takes ownership of value. */
static cJSON *
json_with(const char *path, cJSON *value)
{
	const char *dot = strrchr(path, '.');
	cJSON *object = cJSON_CreateObject();
	char parent[64];

	cJSON_AddItemToObject(object, dot ? dot + 1 : path, value);
	if (!dot)
		return object;
	ck_assert_uint_lt((size_t)(dot - path), sizeof(parent));
	memcpy(parent, path, (size_t)(dot - path));
	parent[dot - path] = '\0';
	return json_with(parent, object);
}

START_TEST(config_init_sets_the_documented_defaults)
{
	ck_assert_uint_eq(cfg.n_listen_urls, 0);
	ck_assert_ptr_null(cfg.listen_urls);
	ck_assert_uint_eq(cfg.max_message_size, 16 * 1024 * 1024);
	ck_assert_uint_eq(cfg.max_handles, 4096);
	ck_assert_uint_eq(cfg.max_parked, 4096);
	ck_assert_uint_eq(cfg.reply_timeout_ms, 10000);
	ck_assert_uint_eq(cfg.resolver_threads, 4);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(cfg.ipc_mode, 0660);
	ck_assert_ptr_null(cfg.ipc_group);
	ck_assert_ptr_null(cfg.ipc_owner);
	ck_assert_uint_eq(cfg.ipc_directory_mode, 0750);
	ck_assert_ptr_null(cfg.privileges_user);
	ck_assert_ptr_null(cfg.privileges_group);
	ck_assert_ptr_null(cfg.tls_cert_key_file);
	ck_assert_ptr_null(cfg.tls_ca_file);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(config_fini_twice_is_harmless)
{
	ck_assert_int_eq(config_add_listen(&cfg, "abstract://x", err, sizeof(err)), 0);
	config_fini(&cfg);
	config_fini(&cfg);
}
END_TEST

START_TEST(config_loads_the_full_example)
{
	char *path = source_file("examples/sockbrokerd.json");

	ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.n_listen_urls, 3);
	ck_assert_str_eq(cfg.listen_urls[0], "ipc:///run/sockbroker/sockbroker.sock");
	ck_assert_str_eq(cfg.ipc_group, "sockbroker");
	ck_assert_str_eq(cfg.tls_cert_key_file, "/etc/sockbroker/server.pem");
	ck_assert_str_eq(cfg.tls_ca_file, "/etc/sockbroker/clients-ca.pem");
	free(path);
}
END_TEST

START_TEST(config_example_sets_every_key_the_parser_knows)
{
	char *text = read_source_file("examples/sockbrokerd.json");
	cJSON *example = cJSON_Parse(text);
	const char *key;

	ck_assert_ptr_nonnull(example);
	for (size_t i = 0; (key = config_key_name(i)); i++)
		ck_assert_msg(json_at(example, key), "the example lacks %s", key);
	cJSON_Delete(example);
	free(text);
}
END_TEST

START_TEST(config_schema_and_parser_know_the_same_keys)
{
	struct schema_key keys[64];
	cJSON *schema = load_schema();
	size_t n = collect_schema_keys(schema, "", keys, 0, 64);
	const char *key;
	size_t parser_keys = 0;

	for (size_t i = 0; i < n; i++) {
		bool known = false;

		for (size_t j = 0; (key = config_key_name(j)); j++)
			known = known || strcmp(key, keys[i].path) == 0;
		ck_assert_msg(known, "the schema has %s but the parser does not", keys[i].path);
	}
	for (size_t j = 0; (key = config_key_name(j)); j++) {
		bool described = false;

		for (size_t i = 0; i < n; i++)
			described = described || strcmp(key, keys[i].path) == 0;
		ck_assert_msg(described, "the parser knows %s but the schema does not", key);
		parser_keys++;
	}
	ck_assert_uint_eq(parser_keys, n);
	cJSON_Delete(schema);
}
END_TEST

START_TEST(config_accepts_each_schema_default_and_example)
{
	struct schema_key keys[64];
	cJSON *schema = load_schema();
	size_t n = collect_schema_keys(schema, "", keys, 0, 64);

	for (size_t i = 0; i < n; i++) {
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(keys[i].schema, "default");
		cJSON *doc;
		char *text;

		if (cJSON_GetObjectItemCaseSensitive(keys[i].schema, "properties"))
			continue;
		if (!value)
			value = cJSON_GetArrayItem(
				cJSON_GetObjectItemCaseSensitive(keys[i].schema, "examples"), 0);
		ck_assert_msg(value, "schema property %s has neither default nor examples",
			      keys[i].path);
		doc = json_with(keys[i].path, cJSON_Duplicate(value, true));
		text = cJSON_PrintUnformatted(doc);
		ck_assert_msg(load(text) == 0, "%s: %s", text, err);
		free(text);
		cJSON_Delete(doc);
	}
	cJSON_Delete(schema);
}
END_TEST

START_TEST(config_schema_defaults_match_config_init)
{
	struct schema_key keys[64];
	cJSON *schema = load_schema();
	size_t n = collect_schema_keys(schema, "", keys, 0, 64);
	char *printed = print_config(&cfg);
	cJSON *effective = cJSON_Parse(printed);
	size_t defaults = 0;

	ck_assert_ptr_nonnull(effective);
	for (size_t i = 0; i < n; i++) {
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(keys[i].schema, "default");

		if (!value)
			continue;
		defaults++;
		ck_assert_msg(cJSON_Compare(value, json_at(effective, keys[i].path), true),
			      "the schema's default of %s differs from config_init()'s",
			      keys[i].path);
	}
	ck_assert_uint_ge(defaults, 7);
	cJSON_Delete(effective);
	free(printed);
	cJSON_Delete(schema);
}
END_TEST

static void
assert_closed_and_described(const cJSON *object_schema, const char *where)
{
	const cJSON *properties = cJSON_GetObjectItemCaseSensitive(object_schema, "properties");
	const cJSON *property;

	ck_assert_msg(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(object_schema,
								     "additionalProperties")),
		      "%s lacks \"additionalProperties\": false", where);
	cJSON_ArrayForEach(property, properties) {
		ck_assert_msg(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(property,
									      "description")),
			      "%s has no description", property->string);
		if (cJSON_GetObjectItemCaseSensitive(property, "properties"))
			assert_closed_and_described(property, property->string);
	}
}

START_TEST(config_schema_closes_every_object_and_describes_every_key)
{
	cJSON *schema = load_schema();

	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(schema, "$schema")->valuestring,
			 "https://json-schema.org/draft/2020-12/schema");
	assert_closed_and_described(schema, "the top level");
	cJSON_Delete(schema);
}
END_TEST

START_TEST(config_rejects_an_unknown_key_naming_it)
{
	assert_rejected("{\"listn\": []}",
			"test.json: unknown key \"listn\" (did you mean \"listen\"? known keys: "
			"listen, limits, log_level, resolver_threads, ipc, privileges, tls, auth, audit, "
			"admin, policy, remote)");
}
END_TEST

START_TEST(config_rejects_an_unknown_nested_key_with_its_path)
{
	assert_rejected("{\"limits\": {\"max_handles\": 5}}",
			"test.json: limits: unknown key \"max_handles\" (did you mean "
			"\"max_handles_per_session\"? known keys: max_message_size, "
			"max_handles_per_session, max_parked_per_session, max_sessions, reply_timeout_ms, "
			"frame_timeout_ms, memory_per_identity, memory_total, "
			"max_sessions_per_identity)");
	assert_rejected_with("{\"tls\": {\"cert\": \"/x\"}}",
			     "test.json: tls: unknown key \"cert\" (");
}
END_TEST

START_TEST(config_memory_and_identity_limits_are_read_and_checked)
{
	ck_assert_int_eq(load("{\"limits\": {\"memory_per_identity\": 33554432, "
			      "\"memory_total\": 67108864, \"max_sessions_per_identity\": 8}}"),
			 0);
	ck_assert_uint_eq(cfg.memory_per_identity, 33554432);
	ck_assert_uint_eq(cfg.memory_total, 67108864);
	ck_assert_uint_eq(cfg.max_sessions_per_identity, 8);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
	/* A request of the largest size must fit the budget of one identity... */
	cfg.memory_per_identity = 8388608;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "limits.memory_per_identity (8388608) must be at least "
				  "limits.max_message_size (16777216)"), "%s", err);
	/* ...and that budget the total. */
	cfg.memory_per_identity = 67108864;
	cfg.memory_total = 33554432;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "limits.memory_total (33554432) at least "
				  "limits.memory_per_identity"), "%s", err);
	assert_rejected_with("{\"limits\": {\"max_sessions_per_identity\": 0}}",
			     "limits.max_sessions_per_identity: must be an integer from 1");
	/* The default total is a quarter of the machine's memory, and fits. */
	config_fini(&cfg);
	config_init(&cfg);
	ck_assert_uint_ge(cfg.memory_total, cfg.memory_per_identity);
	ck_assert_uint_eq(cfg.memory_total, config_memory_total_default());
}
END_TEST

START_TEST(config_rejects_a_dotted_key_instead_of_a_section)
{
	assert_rejected_with("{\"limits.max_handles_per_session\": 5}",
			     "test.json: unknown key \"limits.max_handles_per_session\"");
}
END_TEST

START_TEST(config_rejects_a_key_given_twice)
{
	assert_rejected("{\"log_level\": \"info\", \"log_level\": \"debug\"}",
			"test.json: the key \"log_level\" appears twice; keep one");
	assert_rejected_with("{\"limits\": {\"max_handles_per_session\": 1, "
			     "\"max_handles_per_session\": 2}}",
			     "test.json: limits: the key \"max_handles_per_session\" appears "
			     "twice");
}
END_TEST

START_TEST(config_rejects_an_out_of_range_integer_naming_path_and_value)
{
	ck_assert_int_eq(config_load_string(&cfg, "{\"limits\": {\"max_handles_per_session\": -3}}",
					    "sockbrokerd.json", err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "sockbrokerd.json: limits.max_handles_per_session: must be an "
			      "integer from 1 to 1000000, got -3");
	assert_rejected("{\"resolver_threads\": 65}",
			"test.json: resolver_threads: must be an integer from 1 to 64, got 65");
	assert_rejected("{\"limits\": {\"max_message_size\": 1024}}",
			"test.json: limits.max_message_size: must be an integer from 65536 to "
			"1073741824 (bytes: 64 KiB to 1 GiB), got 1024");
	assert_rejected_with("{\"limits\": {\"reply_timeout_ms\": 3600001}}",
			     "from 100 to 3600000 (milliseconds), got 3600001");
	assert_rejected_with("{\"limits\": {\"max_parked_per_session\": 0}}", "got 0");
	assert_rejected_with("{\"limits\": {\"max_parked_per_session\": 1e300}}", "got 1e+300");
}
END_TEST

START_TEST(config_rejects_values_of_the_wrong_type_saying_what_it_got)
{
	assert_rejected_with("{\"resolver_threads\": 4.5}", "got 4.5");
	assert_rejected_with("{\"resolver_threads\": \"4\"}", "got the string \"4\"");
	assert_rejected_with("{\"resolver_threads\": true}", "got true");
	assert_rejected_with("{\"resolver_threads\": null}", "got null");
	assert_rejected("{\"limits\": []}", "test.json: limits: must be an object ({ ... }), got "
					     "an array");
	assert_rejected_with("{\"listen\": \"ipc:///x\"}",
			     "test.json: listen: must be an array of URL strings");
	assert_rejected_with("{\"listen\": [\"ipc:///x\", 7]}",
			     "test.json: listen[1]: must be a URL string");
}
END_TEST

START_TEST(config_accepts_integers_with_a_zero_fraction_or_an_exponent)
{
	ck_assert_msg(load("{\"limits\": {\"max_handles_per_session\": 1e3, "
			   "\"max_parked_per_session\": 7.0}}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.max_handles, 1000);
	ck_assert_uint_eq(cfg.max_parked, 7);
}
END_TEST

START_TEST(config_reports_a_json_syntax_error_with_line_and_column)
{
	assert_rejected("{\n\t\"log_level\": \"info\"\n\t\"listen\": []\n}",
			"test.json: line 3, column 2: JSON syntax error near "
			"\"\\t\\\"listen\\\"\"");
	assert_rejected("{\n\t\"limits\": {\"max_handles_per_session\": 5,}\n}",
			"test.json: line 2, column 43: JSON syntax error near "
			"\"er_session\\\": 5,}\"");
	assert_rejected("{\"log_level\": info}",
			"test.json: line 1, column 15: JSON syntax error near "
			"\"{\\\"log_level\\\": info}\"");
}
END_TEST

START_TEST(config_reports_json_that_ends_too_early)
{
	assert_rejected_with("{\"listen\": [\"ipc:///x\"",
			     "test.json: line 1, column 23: the JSON text ends too early");
	assert_rejected_with("{\"listen\": [\"ipc:///x", "the JSON text ends too early");
}
END_TEST

START_TEST(config_rejects_text_after_the_json_document)
{
	assert_rejected("{}\n{}", "test.json: line 2, column 1: unexpected text after the JSON "
				  "document near \"{}\"");
}
END_TEST

START_TEST(config_rejects_an_empty_file_saying_how_to_write_none)
{
	assert_rejected(" \n", "test.json: is empty; a file that changes no setting is written {}");
	ck_assert_msg(load("{}") == 0, "%s", err);
}
END_TEST

START_TEST(config_rejects_a_top_level_that_is_not_an_object)
{
	assert_rejected("[\"ipc:///x\"]",
			"test.json: the top level must be a JSON object ({ ... }), got an array");
}
END_TEST

START_TEST(config_rejects_a_policy_without_rules)
{
	assert_rejected("{\"policy\": {}}",
			"test.json: policy.rules: must be an array of rules (an empty one denies "
			"everything), got nothing");
}
END_TEST

START_TEST(config_listen_in_a_file_replaces_earlier_urls)
{
	ck_assert_int_eq(config_add_listen(&cfg, "ipc:///old.sock", err, sizeof(err)), 0);
	ck_assert_msg(load("{\"listen\": [\"abstract://a\", \"tcp://127.0.0.1:1\"]}") == 0, "%s",
		      err);
	ck_assert_uint_eq(cfg.n_listen_urls, 2);
	ck_assert_str_eq(cfg.listen_urls[0], "abstract://a");
	ck_assert_str_eq(cfg.listen_urls[1], "tcp://127.0.0.1:1");
	ck_assert_msg(load("{\"log_level\": \"debug\"}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.n_listen_urls, 2);
}
END_TEST

START_TEST(config_rejects_a_bad_listen_url_naming_its_index)
{
	assert_rejected("{\"listen\": [\"ipc:///x\", \"ftp://host\"]}",
			"test.json: listen[1]: ftp://host: unsupported listen URL; use ipc://PATH, "
			"abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT");
	assert_rejected("{\"listen\": [\"ipc:///x\", \"ipc:///x\"]}",
			"test.json: listen[1]: ipc:///x: this listen URL is given twice; remove "
			"one");
}
END_TEST

START_TEST(config_add_listen_accepts_the_four_schemes)
{
	static const char *const good[] = {
		"ipc:///run/sockbroker/sockbroker.sock", "ipc://relative.sock", "abstract://broker",
		"tcp://127.0.0.1:9000", "tcp://[::1]:0", "tcp://:65535", "tcp://*:9000",
		"tls+tcp://0.0.0.0:9443", "tls+tcp://broker.example:9443",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(config_add_listen(&cfg, good[i], err, sizeof(err)) == 0, "%s: %s",
			      good[i], err);
	ck_assert_uint_eq(cfg.n_listen_urls, sizeof(good) / sizeof(good[0]));
}
END_TEST

START_TEST(config_add_listen_rejects_malformed_urls_saying_why)
{
	static const struct {
		const char *url;
		const char *reason;
	} bad[] = {
		{ "", "unsupported listen URL" },
		{ "/run/sockbroker.sock", "unsupported listen URL" },
		{ "TCP://127.0.0.1:1", "unsupported listen URL" },
		{ "ws://127.0.0.1:1", "unsupported listen URL" },
		{ "ipc://", "needs a socket path" },
		{ "abstract://", "needs a name" },
		{ "tcp://127.0.0.1", "needs HOST:PORT" },
		{ "tcp://127.0.0.1:", "the port must be a number from 0 to 65535" },
		{ "tcp://127.0.0.1:65536", "the port must be a number from 0 to 65535" },
		{ "tcp://127.0.0.1:http", "the port must be a number from 0 to 65535" },
		{ "tcp://127.0.0.1:-1", "the port must be a number from 0 to 65535" },
		{ "tcp://::1:9000", "an IPv6 address must be in brackets" },
		{ "tcp://[::1:9000", "is not closed by ']'" },
		{ "tcp://[::1]", "needs HOST:PORT" },
		{ "ipc:///a b", "cannot contain spaces or control characters" },
		{ "ipc:///a\n", "\"ipc:///a\\n\": a listen URL cannot contain spaces" },
		{ "ipc:///aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "the socket path is 111 bytes long" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(config_add_listen(&cfg, bad[i].url, err, sizeof(err)) == -EINVAL,
			      "accepted %s", bad[i].url);
		ck_assert_msg(strstr(err, bad[i].reason), "%s: \"%s\" lacks \"%s\"", bad[i].url,
			      err, bad[i].reason);
	}
	ck_assert_uint_eq(cfg.n_listen_urls, 0);
	ck_assert_int_eq(config_add_listen(&cfg, NULL, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(config_add_listen_rejects_a_url_given_twice)
{
	ck_assert_int_eq(config_add_listen(&cfg, "abstract://a", err, sizeof(err)), 0);
	ck_assert_int_eq(config_add_listen(&cfg, "abstract://a", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "abstract://a: this listen URL is given twice; remove one");
	ck_assert_uint_eq(cfg.n_listen_urls, 1);
}
END_TEST

START_TEST(config_a_failed_load_leaves_the_config_unchanged)
{
	char *before;
	char *after;

	ck_assert_msg(load("{\"listen\": [\"abstract://a\"], \"ipc\": {\"group\": \"g\"}}") == 0,
		      "%s", err);
	before = print_config(&cfg);
	ck_assert_int_eq(load("{\"listen\": [\"abstract://b\"], \"log_level\": \"debug\", "
			      "\"ipc\": {\"group\": \"h\"}, \"resolver_threads\": 0}"),
			 -EINVAL);
	after = print_config(&cfg);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

START_TEST(config_reads_ipc_mode_as_an_octal_string)
{
	ck_assert_msg(load("{\"ipc\": {\"mode\": \"0600\"}}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.ipc_mode, 0600);
	ck_assert_msg(load("{\"ipc\": {\"mode\": \"750\"}}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.ipc_mode, 0750);
	assert_rejected_with("{\"ipc\": {\"mode\": \"0680\"}}", "test.json: ipc.mode: must be a "
								"permission mode");
	assert_rejected_with("{\"ipc\": {\"mode\": \"4755\"}}", "got the string \"4755\"");
	assert_rejected_with("{\"ipc\": {\"mode\": \"\"}}", "got the string \"\"");
}
END_TEST

START_TEST(config_rejects_a_numeric_ipc_mode_explaining_the_quotes)
{
	assert_rejected("{\"ipc\": {\"mode\": 660}}",
			"test.json: ipc.mode: must be an octal string such as \"0660\" (JSON "
			"numbers are decimal, so write the mode in quotes), got 660");
}
END_TEST

START_TEST(config_rejects_an_unknown_log_level_listing_the_levels)
{
	assert_rejected("{\"log_level\": \"verbose\"}",
			"test.json: log_level: must be one of \"error\", \"warn\", \"info\", "
			"\"debug\", got the string \"verbose\"");
	ck_assert_msg(load("{\"log_level\": \"error\"}") == 0, "%s", err);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_ERROR);
}
END_TEST

START_TEST(config_rejects_relative_tls_file_names_and_empty_group)
{
	assert_rejected_with("{\"tls\": {\"ca_file\": \"ca.pem\"}}",
			     "test.json: tls.ca_file: must be an absolute file name");
	assert_rejected_with("{\"tls\": {\"cert_key_file\": \"\"}}",
			     "test.json: tls.cert_key_file: must be an absolute file name");
	assert_rejected_with("{\"ipc\": {\"group\": \"\"}}",
			     "test.json: ipc.group: must be a non-empty name");
}
END_TEST

START_TEST(config_load_string_without_origin_says_configuration)
{
	ck_assert_int_eq(config_load_string(&cfg, "{\"x\": 1}", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, "configuration: unknown key \"x\"", 30) == 0, "%s", err);
}
END_TEST

START_TEST(config_errors_need_no_message_buffer)
{
	ck_assert_int_eq(config_load_string(&cfg, "{\"x\": 1}", NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(config_add_listen(&cfg, "bad", NULL, 0), -EINVAL);
	cfg.max_handles = 0;
	ck_assert_int_eq(config_validate(&cfg, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(config_cuts_a_message_to_the_buffer)
{
	char small[12];

	ck_assert_int_eq(config_load_string(&cfg, "{\"x\": 1}", NULL, small, sizeof(small)),
			 -EINVAL);
	ck_assert_str_eq(small, "configurati");
}
END_TEST

START_TEST(config_load_file_reports_a_missing_file_with_its_errno)
{
	ck_assert_int_eq(config_load_file(&cfg, "/nonexistent/sockbrokerd.json", err, sizeof(err)),
			 -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/sockbrokerd.json: cannot open the configuration file: "
			      "No such file or directory");
}
END_TEST

START_TEST(config_load_file_rejects_a_directory)
{
	ck_assert_int_eq(config_load_file(&cfg, "/", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "/: is not a regular file; give the path of a JSON file");
}
END_TEST

START_TEST(config_load_file_names_the_file_in_errors)
{
	char path[] = "/tmp/test-config-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "{\"log_level\": \"loud\"}";
	char expected[256];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(config_load_file(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(expected, sizeof(expected), "%s: log_level: must be one of", path);
	ck_assert_msg(strncmp(err, expected, strlen(expected)) == 0, "%s", err);
	unlink(path);
}
END_TEST

START_TEST(config_validate_refuses_plain_tcp_on_a_non_loopback_address)
{
	static const char *const exposed[] = {
		"tcp://:9000", "tcp://*:9000", "tcp://[::]:9000", "tcp://192.168.1.10:9000",
		"tcp://broker.example:9000", "tcp://[::ffff:10.0.0.1]:9000",
	};

	ck_assert_int_eq(config_add_listen(&cfg, "tcp://0.0.0.0:9000", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "tcp://0.0.0.0:9000: a tcp listener on a non-loopback address "
			      "needs tls+tcp:// or list \"tcp\" in auth.require_token; refusing "
			      "to expose the broker unauthenticated");
	for (size_t i = 0; i < sizeof(exposed) / sizeof(exposed[0]); i++) {
		config_fini(&cfg);
		config_init(&cfg);
		ck_assert_int_eq(config_add_listen(&cfg, exposed[i], err, sizeof(err)), 0);
		ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == -EINVAL, "accepted %s",
			      exposed[i]);
		ck_assert_ptr_nonnull(strstr(err, "refusing to expose the broker"));
	}
}
END_TEST

START_TEST(config_validate_accepts_plain_tcp_on_loopback)
{
	static const char *const loopback[] = {
		"tcp://127.0.0.1:9000", "tcp://127.1.2.3:9000", "tcp://[::1]:9000",
		"tcp://localhost:9000", "tcp://[::ffff:127.0.0.1]:9000",
	};

	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		ck_assert_int_eq(config_add_listen(&cfg, loopback[i], err, sizeof(err)), 0);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(config_validate_requires_both_tls_files_for_a_tls_listener)
{
	ck_assert_int_eq(config_add_listen(&cfg, "tls+tcp://0.0.0.0:9443", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "tls+tcp://0.0.0.0:9443: a tls+tcp listener needs tls.cert_key_file "
			      "(the server's certificate and private key) and tls.ca_file (the CA "
			      "that client certificates must chain to); neither is set");
	ck_assert_msg(load("{\"tls\": {\"cert_key_file\": \"/etc/server.pem\"}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "; tls.ca_file is not set"));
	ck_assert_msg(load("{\"tls\": {\"ca_file\": \"/etc/ca.pem\"}}") == 0, "%s", err);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(config_validate_accepts_no_listen_url)
{
	ck_assert_uint_eq(cfg.n_listen_urls, 0);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(config_validate_checks_fields_set_without_the_parser)
{
	cfg.max_handles = 0;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "limits.max_handles_per_session: must be an integer from 1 to "
			      "1000000, got 0");
	cfg.max_handles = 1;
	cfg.ipc_mode = 01777;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "ipc.mode: must be a permission mode from 0000 to 0777, got 01777");
	cfg.ipc_mode = 0600;
	cfg.log_level = (enum log_level)9;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "log_level: must be one of"));
}
END_TEST

START_TEST(config_print_output_loads_back_to_the_same_configuration)
{
	struct config copy;
	char *first;
	char *second;

	ck_assert_msg(load("{\"listen\": [\"ipc:///run/a\\\"b\\\\c.sock\", \"abstract://x\"], "
			   "\"limits\": {\"max_message_size\": 65536, \"reply_timeout_ms\": 100}, "
			   "\"log_level\": \"debug\", \"resolver_threads\": 64, "
			   "\"ipc\": {\"mode\": \"0600\", \"group\": \"wheel\"}, "
			   "\"tls\": {\"ca_file\": \"/ca.pem\"}}") == 0, "%s", err);
	first = print_config(&cfg);

	config_init(&copy);
	ck_assert_msg(config_load_string(&copy, first, "printed", err, sizeof(err)) == 0, "%s\n%s",
		      err, first);
	second = print_config(&copy);
	ck_assert_str_eq(first, second);
	ck_assert_str_eq(copy.listen_urls[0], "ipc:///run/a\"b\\c.sock");
	ck_assert_uint_eq(copy.ipc_mode, 0600);
	ck_assert_int_eq(copy.log_level, LOG_LEVEL_DEBUG);
	config_fini(&copy);
	free(first);
	free(second);
}
END_TEST

START_TEST(config_print_of_the_defaults_loads_back)
{
	char *printed = print_config(&cfg);
	struct config copy;

	config_init(&copy);
	ck_assert_msg(config_load_string(&copy, printed, "printed", err, sizeof(err)) == 0,
		      "%s\n%s", err, printed);
	config_fini(&copy);
	free(printed);
}
END_TEST

START_TEST(config_key_name_lists_sections_before_their_members)
{
	const char *key;
	size_t n = 0;

	ck_assert_str_eq(config_key_name(0), "listen");
	for (size_t i = 0; (key = config_key_name(i)); i++) {
		const char *dot = strchr(key, '.');

		n++;
		if (dot) {
			size_t parent_len = (size_t)(dot - key);
			bool parent_seen = false;

			for (size_t j = 0; j < i; j++) {
				const char *earlier = config_key_name(j);

				if (strlen(earlier) == parent_len &&
				    strncmp(earlier, key, parent_len) == 0)
					parent_seen = true;
			}
			ck_assert_msg(parent_seen, "%s comes before its section", key);
		}
	}
	ck_assert_uint_ge(n, 18); /* every key of this version, "policy" included */
	ck_assert_ptr_null(config_key_name(n));
}
END_TEST

START_TEST(config_reads_the_audit_section)
{
	ck_assert_ptr_null(cfg.audit_file);
	ck_assert_ptr_null(cfg.audit_events);
	ck_assert_msg(load("{\"audit\": {\"file\": \"/var/log/a.jsonl\", "
			   "\"events\": [\"socket.connect\", \"sockbroker.hello\"]}}") == 0,
		      "%s", err);
	ck_assert_str_eq(cfg.audit_file, "/var/log/a.jsonl");
	ck_assert_uint_eq(cfg.n_audit_events, 2);
	ck_assert_str_eq(cfg.audit_events[0], "socket.connect");
	ck_assert_str_eq(cfg.audit_events[1], "sockbroker.hello");
	ck_assert_ptr_null(cfg.audit_events[2]);

	/* A later layer without "audit" keeps it; a failed one leaves it alone. */
	ck_assert_msg(load("{\"log_level\": \"debug\"}") == 0, "%s", err);
	ck_assert_str_eq(cfg.audit_events[1], "sockbroker.hello");
	ck_assert_int_eq(load("{\"audit\": {\"events\": [\"nope\"]}}"), -EINVAL);
	ck_assert_uint_eq(cfg.n_audit_events, 2);
	ck_assert_str_eq(cfg.audit_file, "/var/log/a.jsonl");
}
END_TEST

START_TEST(config_audit_events_take_a_star_alone_or_an_empty_list)
{
	ck_assert_msg(load("{\"audit\": {\"events\": \"*\"}}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.n_audit_events, 1);
	ck_assert_str_eq(cfg.audit_events[0], "*");
	ck_assert_msg(load("{\"audit\": {\"events\": [\"*\", \"socket.bind\"]}}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.n_audit_events, 2);
	/* Empty: denials only, which is not the default (NULL). */
	ck_assert_msg(load("{\"audit\": {\"events\": []}}") == 0, "%s", err);
	ck_assert_ptr_nonnull(cfg.audit_events);
	ck_assert_uint_eq(cfg.n_audit_events, 0);
}
END_TEST

START_TEST(config_rejects_an_unknown_audit_event_listing_the_events)
{
	assert_rejected_with("{\"audit\": {\"events\": [\"socket.bind\", \"socket.conect\"]}}",
			     "test.json: audit.events[1]: unknown audit event \"socket.conect\" "
			     "(did you mean \"socket.connect\"?); the events are socket.__new__, "
			     "socket.bind, ");
	/* The whole list fits in the message. */
	assert_rejected_with("{\"audit\": {\"events\": [\"bogus\"]}}",
			     "socket.sethostname, sockbroker.session.start, sockbroker.session.end, "
			     "sockbroker.hello, sockbroker.handoff, sockbroker.tls.refused, "
			     "sockbroker.session.detach, sockbroker.session.resume, or \"*\" for "
			     "every event");
	assert_rejected("{\"audit\": {\"events\": [7]}}",
			"test.json: audit.events[0]: must be an audit event name (a string), got 7");
	assert_rejected_with("{\"audit\": {\"events\": \"socket.bind\"}}",
			     "test.json: audit.events: must be an array of audit event names");
	assert_rejected("{\"audit\": {\"events\": [\"socket.bind\", \"socket.bind\"]}}",
			"test.json: audit.events[1]: the event \"socket.bind\" is listed twice; "
			"keep one");
	assert_rejected_with("{\"audit\": {\"file\": \"audit.log\"}}",
			     "test.json: audit.file: must be an absolute file name");
	assert_rejected_with("{\"audit\": {\"event\": []}}",
			     "test.json: audit: unknown key \"event\" (did you mean \"events\"?");
}
END_TEST

START_TEST(config_print_shows_the_audit_settings_and_loads_back)
{
	struct config copy;
	char *printed = print_config(&cfg);

	/* The default set is printed as the list it is. */
	ck_assert_msg(strstr(printed, "\"audit\": {\n\t\t\"events\": [\"sockbroker.session.start\", "
				      "\"sockbroker.session.end\", \"sockbroker.hello\", "
				      "\"socket.bind\", \"socket.connect\", "
				      "\"socket.sethostname\", \"sockbroker.handoff\", "
				      "\"sockbroker.tls.refused\", \"sockbroker.session.detach\", "
				      "\"sockbroker.session.resume\"]\n\t}"),
		      "%s", printed);
	free(printed);

	ck_assert_msg(load("{\"audit\": {\"file\": \"/var/log/a\\\"b.jsonl\", \"events\": []}}") == 0,
		      "%s", err);
	printed = print_config(&cfg);
	config_init(&copy);
	ck_assert_msg(config_load_string(&copy, printed, "printed", err, sizeof(err)) == 0,
		      "%s\n%s", err, printed);
	ck_assert_str_eq(copy.audit_file, "/var/log/a\"b.jsonl");
	ck_assert_ptr_nonnull(copy.audit_events);
	ck_assert_uint_eq(copy.n_audit_events, 0);
	config_fini(&copy);
	free(printed);
}
END_TEST

/* SHA-256 of "alpha" and of "beta", as sha256sum prints them. */
#define ALPHA_HASH "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8"
#define BETA_HASH "f44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753"

START_TEST(config_reads_the_auth_section)
{
	uint8_t alpha[SHA256_DIGEST_LEN];

	ck_assert_uint_eq(cfg.n_tokens, 0);
	ck_assert_uint_eq(cfg.require_token, 0);
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			   "\"}, {\"sha256\": \"" BETA_HASH "\", \"name\": \"Side-car_2.x\"}], "
			   "\"require_token\": [\"tcp\", \"abstract\"]}}") == 0,
		      "%s", err);
	ck_assert_uint_eq(cfg.n_tokens, 2);
	ck_assert_str_eq(cfg.tokens[0].name, "ci");
	sha256_digest("alpha", 5, alpha);
	ck_assert_mem_eq(cfg.tokens[0].sha256, alpha, SHA256_DIGEST_LEN);
	ck_assert_str_eq(cfg.tokens[1].name, "Side-car_2.x");
	ck_assert_uint_eq(cfg.require_token,
			  (1u << POLICY_TRANSPORT_TCP) | (1u << POLICY_TRANSPORT_ABSTRACT));
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);

	/* A later layer without "auth" keeps it; a failed one leaves it alone; each list of a
	 * later layer replaces the one before. */
	ck_assert_msg(load("{\"log_level\": \"debug\"}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.n_tokens, 2);
	ck_assert_int_eq(load("{\"auth\": {\"tokens\": [{\"name\": \"x\", \"sha256\": \"00\"}]}}"),
			 -EINVAL);
	ck_assert_uint_eq(cfg.n_tokens, 2);
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"only\", \"sha256\": \""
			   BETA_HASH "\"}], \"require_token\": []}}") == 0, "%s", err);
	ck_assert_uint_eq(cfg.n_tokens, 1);
	ck_assert_str_eq(cfg.tokens[0].name, "only");
	ck_assert_uint_eq(cfg.require_token, 0);
}
END_TEST

START_TEST(config_accepts_an_upper_case_hash)
{
	char upper[SHA256_HEX_LEN + 1];
	char json[256];
	uint8_t alpha[SHA256_DIGEST_LEN];

	for (size_t i = 0; i <= SHA256_HEX_LEN; i++)
		upper[i] = (char)toupper((unsigned char)ALPHA_HASH[i]);
	snprintf(json, sizeof(json),
		 "{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"%s\"}]}}", upper);
	ck_assert_msg(load(json) == 0, "%s", err);
	sha256_digest("alpha", 5, alpha);
	ck_assert_mem_eq(cfg.tokens[0].sha256, alpha, SHA256_DIGEST_LEN);
}
END_TEST

START_TEST(config_rejects_a_bad_hash_without_quoting_it)
{
	/* The value may be the token itself: the message gives its length, never the text. */
	assert_rejected("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": "
			"\"s3cret-token\"}]}}",
			"test.json: auth.tokens[0].sha256: must be the SHA-256 of the token as 64 "
			"hexadecimal digits, never the token itself (make it with: printf %s "
			"\"$TOKEN\" | sha256sum), got a string of 12 characters");
	ck_assert_ptr_null(strstr(err, "s3cret"));
	assert_rejected_with("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \""
			     ALPHA_HASH "0\"}]}}", "got a string of 65 characters");
	assert_rejected_with("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \""
			     "g" ALPHA_HASH "\"}]}}", "auth.tokens[0].sha256: must be the SHA-256");
	assert_rejected_with("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": 5}]}}",
			     "auth.tokens[0].sha256: must be the SHA-256 of the token as 64 "
			     "hexadecimal digits, never the token itself (make it with: printf "
			     "%s \"$TOKEN\" | sha256sum), got 5");
}
END_TEST

START_TEST(config_rejects_token_names_that_are_empty_long_or_odd)
{
	static const char *const bad[] = {
		"\"\"",
		"\"a b\"",
		"\"ci/prod\"",
		"\"caf\\u00e9\"",
		"\"0123456789012345678901234567890123456789012345678901234567890123\"",
		"7",
		"null",
	};
	char json[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"auth\": {\"tokens\": [{\"name\": %s, "
			 "\"sha256\": \"" ALPHA_HASH "\"}]}}", bad[i]);
		assert_rejected_with(json, "test.json: auth.tokens[0].name: must be 1 to 63 "
				     "characters among letters, digits, '.', '_' and '-', got ");
	}
	/* 63 characters is the longest name. */
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": "
			   "\"012345678901234567890123456789012345678901234567890123456789012\", "
			   "\"sha256\": \"" ALPHA_HASH "\"}]}}") == 0, "%s", err);
	ck_assert_uint_eq(strlen(cfg.tokens[0].name), 63);
}
END_TEST

START_TEST(config_rejects_duplicate_token_names_and_hashes)
{
	assert_rejected("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			"\"}, {\"name\": \"ci\", \"sha256\": \"" BETA_HASH "\"}]}}",
			"test.json: auth.tokens[1]: the name \"ci\" is taken by auth.tokens[0]; "
			"token names must be unique");
	assert_rejected("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			"\"}, {\"name\": \"cd\", \"sha256\": \"" ALPHA_HASH "\"}]}}",
			"test.json: auth.tokens[1]: has the same sha256 as auth.tokens[0] "
			"(\"ci\"): one token would have two names; give each name its own token");
}
END_TEST

START_TEST(config_rejects_malformed_token_entries)
{
	assert_rejected("{\"auth\": {\"tokens\": {\"ci\": \"" ALPHA_HASH "\"}}}",
			"test.json: auth.tokens: must be an array of tokens such as [{\"name\": "
			"\"ci\", \"sha256\": \"<64 hexadecimal digits>\"}], got an object");
	assert_rejected("{\"auth\": {\"tokens\": [\"" ALPHA_HASH "\"]}}",
			"test.json: auth.tokens[0]: must be an object {\"name\": ..., \"sha256\": "
			"...}, got a string of 64 characters");
	assert_rejected("{\"auth\": {\"tokens\": [{\"name\": \"ci\"}]}}",
			"test.json: auth.tokens[0]: needs both \"name\" and \"sha256\"; \"sha256\" "
			"is missing");
	assert_rejected("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"token\": \"x\", "
			"\"sha256\": \"" ALPHA_HASH "\"}]}}",
			"test.json: auth.tokens[0]: unknown key \"token\" (known keys: name, "
			"sha256)");
	assert_rejected("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"name\": \"cd\", "
			"\"sha256\": \"" ALPHA_HASH "\"}]}}",
			"test.json: auth.tokens[0]: the key \"name\" appears twice; keep one");
	assert_rejected_with("{\"auth\": {\"token\": []}}",
			     "test.json: auth: unknown key \"token\" (did you mean \"tokens\"?");
}
END_TEST

START_TEST(config_rejects_unknown_or_repeated_transports_in_require_token)
{
	assert_rejected("{\"auth\": {\"require_token\": [\"tls\"]}}",
			"test.json: auth.require_token[0]: must be one of the transports \"ipc\", "
			"\"abstract\", \"tcp\" and \"tls+tcp\", got the string \"tls\"");
	assert_rejected("{\"auth\": {\"require_token\": [\"tcp\", \"tcp\"]}}",
			"test.json: auth.require_token[1]: the transport \"tcp\" is listed twice; "
			"keep one");
	assert_rejected_with("{\"auth\": {\"require_token\": \"tcp\"}}",
			     "test.json: auth.require_token: must be an array of transports "
			     "among \"ipc\", \"abstract\", \"tcp\" and \"tls+tcp\", such as "
			     "[\"tcp\"], got the string \"tcp\"");
}
END_TEST

START_TEST(config_validate_needs_a_token_for_require_token)
{
	ck_assert_msg(load("{\"auth\": {\"require_token\": [\"ipc\"]}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "auth.require_token: lists \"ipc\" but auth.tokens has no token, "
			      "so no client could say Hello there; add a token (its name and "
			      "SHA-256) to auth.tokens, or empty auth.require_token");
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			   "\"}]}}") == 0, "%s", err);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(config_validate_accepts_non_loopback_tcp_only_when_tokens_required)
{
	ck_assert_int_eq(config_add_listen(&cfg, "tcp://0.0.0.0:9000", err, sizeof(err)), 0);
	ck_assert_int_eq(config_add_listen(&cfg, "tcp://[::]:9001", err, sizeof(err)), 0);
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			   "\"}]}}") == 0, "%s", err);
	/* Tokens alone are not enough: a client could still come without one. */
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "or list \"tcp\" in auth.require_token"));
	/* Requiring a token elsewhere does not cover tcp. */
	ck_assert_msg(load("{\"auth\": {\"require_token\": [\"ipc\", \"tls+tcp\"]}}") == 0, "%s",
		      err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(load("{\"auth\": {\"require_token\": [\"tcp\"]}}") == 0, "%s", err);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(config_validate_refuses_a_policy_naming_a_token_auth_lacks)
{
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			   "\"}]}, \"policy\": {\"rules\": [{\"name\": \"ci-anything\", "
			   "\"allow\": true, \"tokens\": [\"ci\"]}, {\"name\": \"any-token\", "
			   "\"allow\": true, \"tokens\": [\"*\"]}]}}") == 0, "%s", err);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);

	ck_assert_msg(load("{\"policy\": {\"rules\": [{\"name\": \"ci-anything\", "
			   "\"allow\": true, \"tokens\": [\"ci\", \"cd\"]}]}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "policy: rule \"ci-anything\" names the token \"cd\", which "
			      "auth.tokens does not have, so it could never apply; add the token to "
			      "auth.tokens or correct the name");

	ck_assert_msg(load("{\"policy\": {\"rules\": [{\"name\": \"all\", \"allow\": true}], "
			   "\"quotas\": [{\"name\": \"ops\", \"tokens\": [\"ops\"], "
			   "\"max_handles\": 5}]}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "policy: quota \"ops\" names the token \"ops\""), "%s", err);
}
END_TEST

START_TEST(config_reads_the_admin_section)
{
	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" ALPHA_HASH
			   "\"}]}, \"admin\": {\"uids\": [1000, 1001], \"gids\": [4], "
			   "\"tokens\": [\"ops\"]}}") == 0, "%s", err);
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.admin_uids.n, 2);
	ck_assert_uint_eq(cfg.admin_uids.ids[1], 1001);
	ck_assert_uint_eq(cfg.admin_gids.n, 1);
	ck_assert_uint_eq(cfg.admin_gids.ids[0], 4);
	ck_assert_uint_eq(cfg.admin_tokens.n, 1);
	ck_assert_str_eq(cfg.admin_tokens.names[0], "ops");

	char *printed = print_config(&cfg);
	ck_assert_msg(strstr(printed, "\"admin\": {\n\t\t\"uids\": [1000, 1001],\n"
				      "\t\t\"gids\": [4],\n\t\t\"tokens\": [\"ops\"]\n\t}"),
		      "%s", printed);
	struct config copy;
	config_init(&copy);
	ck_assert_msg(config_load_string(&copy, printed, "printed", err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(copy.admin_uids.n, 2);
	ck_assert_str_eq(copy.admin_tokens.names[0], "ops");
	config_fini(&copy);
	free(printed);
}
END_TEST

START_TEST(config_rejects_admin_ids_that_are_not_numbers_and_unknown_tokens)
{
	assert_rejected("{\"admin\": {\"uids\": [\"root\"]}}",
			"test.json: admin.uids[0]: must be a numeric id from 0 to 4294967294 "
			"(names are not looked up here), got the string \"root\"");
	assert_rejected_with("{\"admin\": {\"gids\": [-1]}}", "admin.gids[0]: must be a numeric id");
	assert_rejected_with("{\"admin\": {\"tokens\": \"ops\"}}",
			     "admin.tokens: must be an array of token names");
	ck_assert_msg(load("{\"admin\": {\"tokens\": [\"ops\"]}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "admin.tokens[0]: names the token \"ops\", which auth.tokens does "
			      "not have; add the token to auth.tokens or correct the name");
}
END_TEST

START_TEST(config_print_shows_the_auth_section_and_loads_back)
{
	struct config copy;
	char *printed = print_config(&cfg);

	ck_assert_msg(strstr(printed, "\"auth\": {\n\t\t\"tokens\": [],\n"
				      "\t\t\"require_token\": []\n\t}"), "%s", printed);
	free(printed);

	ck_assert_msg(load("{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH
			   "\"}, {\"name\": \"cd\", \"sha256\": \"" BETA_HASH "\"}], "
			   "\"require_token\": [\"tls+tcp\", \"ipc\"]}}") == 0, "%s", err);
	printed = print_config(&cfg);
	ck_assert_msg(strstr(printed, "\"auth\": {\n\t\t\"tokens\": [\n"
				      "\t\t\t{\"name\": \"ci\", \"sha256\": \"" ALPHA_HASH "\"},\n"
				      "\t\t\t{\"name\": \"cd\", \"sha256\": \"" BETA_HASH "\"}\n"
				      "\t\t],\n\t\t\"require_token\": [\"ipc\", \"tls+tcp\"]\n\t}"),
		      "%s", printed);
	config_init(&copy);
	ck_assert_msg(config_load_string(&copy, printed, "printed", err, sizeof(err)) == 0,
		      "%s\n%s", err, printed);
	ck_assert_uint_eq(copy.n_tokens, 2);
	ck_assert_mem_eq(copy.tokens[1].sha256, cfg.tokens[1].sha256, SHA256_DIGEST_LEN);
	ck_assert_uint_eq(copy.require_token, cfg.require_token);
	config_fini(&copy);
	free(printed);
}
END_TEST

/* ---- "privileges", "ipc.owner" and "ipc.directory_mode" ---------------------------------- */

START_TEST(config_reads_the_privileges_section_and_the_ipc_ownership)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"nobody\", \"group\": \"nogroup\"}, "
			   "\"ipc\": {\"owner\": \"app\", \"group\": \"sockbroker\", "
			   "\"directory_mode\": \"0710\", \"mode\": \"0600\"}}") == 0, "%s", err);
	ck_assert_str_eq(cfg.privileges_user, "nobody");
	ck_assert_str_eq(cfg.privileges_group, "nogroup");
	ck_assert_str_eq(cfg.ipc_owner, "app");
	ck_assert_str_eq(cfg.ipc_group, "sockbroker");
	ck_assert_uint_eq(cfg.ipc_directory_mode, 0710);
	ck_assert_uint_eq(cfg.ipc_mode, 0600);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(config_privileges_in_a_later_file_replace_only_what_it_sets)
{
	ck_assert_msg(load("{\"privileges\": {\"user\": \"nobody\"}, "
			   "\"ipc\": {\"directory_mode\": \"700\"}}") == 0, "%s", err);
	ck_assert_msg(load("{\"privileges\": {\"group\": \"65534\"}}") == 0, "%s", err);
	ck_assert_str_eq(cfg.privileges_user, "nobody");
	ck_assert_str_eq(cfg.privileges_group, "65534");
	ck_assert_uint_eq(cfg.ipc_directory_mode, 0700);
	/* The mode fields are separate: one does not write the other. */
	ck_assert_uint_eq(cfg.ipc_mode, 0660);
}
END_TEST

START_TEST(config_rejects_bad_privileges_values_naming_the_field)
{
	assert_rejected("{\"privileges\": {\"user\": \"\"}}",
			"test.json: privileges.user: must be a non-empty name without control "
			"characters, got the string \"\"");
	assert_rejected("{\"privileges\": {\"group\": 65534}}",
			"test.json: privileges.group: must be a non-empty name without control "
			"characters, got 65534");
	assert_rejected_with("{\"ipc\": {\"owner\": \"a\\nb\"}}",
			     "test.json: ipc.owner: must be a non-empty name");
	assert_rejected("{\"privileges\": \"nobody\"}",
			"test.json: privileges: must be an object ({ ... }), got the string "
			"\"nobody\"");
	assert_rejected_with("{\"privileges\": {\"usr\": \"nobody\"}}",
			     "test.json: privileges: unknown key \"usr\" (did you mean \"user\"? "
			     "known keys: user, group)");
	ck_assert_ptr_null(cfg.privileges_user);
}
END_TEST

START_TEST(config_reads_ipc_directory_mode_as_an_octal_string)
{
	assert_rejected("{\"ipc\": {\"directory_mode\": 750}}",
			"test.json: ipc.directory_mode: must be an octal string such as \"0660\" "
			"(JSON numbers are decimal, so write the mode in quotes), got 750");
	assert_rejected_with("{\"ipc\": {\"directory_mode\": \"0780\"}}",
			     "test.json: ipc.directory_mode: must be a permission mode");
	assert_rejected_with("{\"ipc\": {\"directory_mode\": \"2750\"}}",
			     "got the string \"2750\"");
	ck_assert_uint_eq(cfg.ipc_directory_mode, 0750);
}
END_TEST

START_TEST(config_validate_checks_the_privileges_fields)
{
	ck_assert_msg(load("{\"privileges\": {\"group\": \"nogroup\"}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "privileges.group: needs privileges.user (the user the daemon "
			      "switches to); set it too, or remove privileges.group");
	ck_assert_msg(load("{\"privileges\": {\"user\": \"nobody\"}}") == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
	cfg.ipc_directory_mode = 01750;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "ipc.directory_mode: must be a permission mode from 0000 to 0777, "
			      "got 01750");
}
END_TEST

START_TEST(config_print_shows_the_privileges_and_loads_back)
{
	struct config copy;
	char *first;
	char *second;

	ck_assert_msg(load("{\"privileges\": {\"user\": \"nobody\", \"group\": \"nogroup\"}, "
			   "\"ipc\": {\"owner\": \"app\", \"directory_mode\": \"0711\"}}") == 0,
		      "%s", err);
	first = print_config(&cfg);
	ck_assert_msg(strstr(first, "\t\"privileges\": {\n\t\t\"user\": \"nobody\",\n"
				    "\t\t\"group\": \"nogroup\"\n\t},\n"), "%s", first);
	ck_assert_msg(strstr(first, "\"owner\": \"app\",\n\t\t\"directory_mode\": \"0711\""),
		      "%s", first);

	config_init(&copy);
	ck_assert_msg(config_load_string(&copy, first, "printed", err, sizeof(err)) == 0, "%s\n%s",
		      err, first);
	second = print_config(&copy);
	ck_assert_str_eq(first, second);
	ck_assert_str_eq(copy.privileges_group, "nogroup");
	ck_assert_uint_eq(copy.ipc_directory_mode, 0711);
	config_fini(&copy);
	free(first);
	free(second);
}
END_TEST

START_TEST(config_print_shows_an_empty_privileges_section_by_default)
{
	char *printed = print_config(&cfg);

	ck_assert_msg(strstr(printed, "\t\"privileges\": {},\n"), "%s", printed);
	ck_assert_msg(strstr(printed, "\"directory_mode\": \"0750\""), "%s", printed);
	free(printed);
}
END_TEST

static Suite *
config_privileges_suite(void)
{
	Suite *s = suite_create("config-privileges");
	TCase *tc = tcase_create("privileges");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, config_reads_the_privileges_section_and_the_ipc_ownership);
	tcase_add_test(tc, config_privileges_in_a_later_file_replace_only_what_it_sets);
	tcase_add_test(tc, config_rejects_bad_privileges_values_naming_the_field);
	tcase_add_test(tc, config_reads_ipc_directory_mode_as_an_octal_string);
	tcase_add_test(tc, config_validate_checks_the_privileges_fields);
	tcase_add_test(tc, config_print_shows_the_privileges_and_loads_back);
	tcase_add_test(tc, config_print_shows_an_empty_privileges_section_by_default);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *files = tcase_create("shipped files");
	TCase *load_tc = tcase_create("load");
	TCase *listen = tcase_create("listen");
	TCase *validate = tcase_create("validate");
	TCase *print = tcase_create("print");
	TCase *audit = tcase_create("audit");
	TCase *auth = tcase_create("auth");

	tcase_add_checked_fixture(files, setup, teardown);
	tcase_add_test(files, config_loads_the_full_example);
	tcase_add_test(files, config_example_sets_every_key_the_parser_knows);
	tcase_add_test(files, config_schema_and_parser_know_the_same_keys);
	tcase_add_test(files, config_accepts_each_schema_default_and_example);
	tcase_add_test(files, config_schema_defaults_match_config_init);
	tcase_add_test(files, config_schema_closes_every_object_and_describes_every_key);
	suite_add_tcase(s, files);

	tcase_add_checked_fixture(load_tc, setup, teardown);
	tcase_add_test(load_tc, config_init_sets_the_documented_defaults);
	tcase_add_test(load_tc, config_fini_twice_is_harmless);
	tcase_add_test(load_tc, config_rejects_an_unknown_key_naming_it);
	tcase_add_test(load_tc, config_rejects_an_unknown_nested_key_with_its_path);
	tcase_add_test(load_tc, config_memory_and_identity_limits_are_read_and_checked);
	tcase_add_test(load_tc, config_rejects_a_dotted_key_instead_of_a_section);
	tcase_add_test(load_tc, config_rejects_a_key_given_twice);
	tcase_add_test(load_tc, config_rejects_an_out_of_range_integer_naming_path_and_value);
	tcase_add_test(load_tc, config_rejects_values_of_the_wrong_type_saying_what_it_got);
	tcase_add_test(load_tc, config_accepts_integers_with_a_zero_fraction_or_an_exponent);
	tcase_add_test(load_tc, config_reports_a_json_syntax_error_with_line_and_column);
	tcase_add_test(load_tc, config_reports_json_that_ends_too_early);
	tcase_add_test(load_tc, config_rejects_text_after_the_json_document);
	tcase_add_test(load_tc, config_rejects_an_empty_file_saying_how_to_write_none);
	tcase_add_test(load_tc, config_rejects_a_top_level_that_is_not_an_object);
	tcase_add_test(load_tc, config_rejects_a_policy_without_rules);
	tcase_add_test(load_tc, config_a_failed_load_leaves_the_config_unchanged);
	tcase_add_test(load_tc, config_reads_ipc_mode_as_an_octal_string);
	tcase_add_test(load_tc, config_rejects_a_numeric_ipc_mode_explaining_the_quotes);
	tcase_add_test(load_tc, config_rejects_an_unknown_log_level_listing_the_levels);
	tcase_add_test(load_tc, config_rejects_relative_tls_file_names_and_empty_group);
	tcase_add_test(load_tc, config_load_string_without_origin_says_configuration);
	tcase_add_test(load_tc, config_errors_need_no_message_buffer);
	tcase_add_test(load_tc, config_cuts_a_message_to_the_buffer);
	tcase_add_test(load_tc, config_load_file_reports_a_missing_file_with_its_errno);
	tcase_add_test(load_tc, config_load_file_rejects_a_directory);
	tcase_add_test(load_tc, config_load_file_names_the_file_in_errors);
	suite_add_tcase(s, load_tc);

	tcase_add_checked_fixture(listen, setup, teardown);
	tcase_add_test(listen, config_listen_in_a_file_replaces_earlier_urls);
	tcase_add_test(listen, config_rejects_a_bad_listen_url_naming_its_index);
	tcase_add_test(listen, config_add_listen_accepts_the_four_schemes);
	tcase_add_test(listen, config_add_listen_rejects_malformed_urls_saying_why);
	tcase_add_test(listen, config_add_listen_rejects_a_url_given_twice);
	suite_add_tcase(s, listen);

	tcase_add_checked_fixture(validate, setup, teardown);
	tcase_add_test(validate, config_validate_refuses_plain_tcp_on_a_non_loopback_address);
	tcase_add_test(validate, config_validate_accepts_plain_tcp_on_loopback);
	tcase_add_test(validate, config_validate_requires_both_tls_files_for_a_tls_listener);
	tcase_add_test(validate, config_validate_accepts_no_listen_url);
	tcase_add_test(validate, config_validate_checks_fields_set_without_the_parser);
	suite_add_tcase(s, validate);

	tcase_add_checked_fixture(print, setup, teardown);
	tcase_add_test(print, config_print_output_loads_back_to_the_same_configuration);
	tcase_add_test(print, config_print_of_the_defaults_loads_back);
	tcase_add_test(print, config_key_name_lists_sections_before_their_members);
	suite_add_tcase(s, print);

	tcase_add_checked_fixture(audit, setup, teardown);
	tcase_add_test(audit, config_reads_the_audit_section);
	tcase_add_test(audit, config_audit_events_take_a_star_alone_or_an_empty_list);
	tcase_add_test(audit, config_rejects_an_unknown_audit_event_listing_the_events);
	tcase_add_test(audit, config_print_shows_the_audit_settings_and_loads_back);
	suite_add_tcase(s, audit);

	tcase_add_checked_fixture(auth, setup, teardown);
	tcase_add_test(auth, config_reads_the_auth_section);
	tcase_add_test(auth, config_accepts_an_upper_case_hash);
	tcase_add_test(auth, config_rejects_a_bad_hash_without_quoting_it);
	tcase_add_test(auth, config_rejects_token_names_that_are_empty_long_or_odd);
	tcase_add_test(auth, config_rejects_duplicate_token_names_and_hashes);
	tcase_add_test(auth, config_rejects_malformed_token_entries);
	tcase_add_test(auth, config_rejects_unknown_or_repeated_transports_in_require_token);
	tcase_add_test(auth, config_validate_needs_a_token_for_require_token);
	tcase_add_test(auth, config_validate_accepts_non_loopback_tcp_only_when_tokens_required);
	tcase_add_test(auth, config_validate_refuses_a_policy_naming_a_token_auth_lacks);
	tcase_add_test(auth, config_print_shows_the_auth_section_and_loads_back);
	tcase_add_test(auth, config_reads_the_admin_section);
	tcase_add_test(auth, config_rejects_admin_ids_that_are_not_numbers_and_unknown_tokens);
	suite_add_tcase(s, auth);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(config_suite());

	srunner_add_suite(runner, config_privileges_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
