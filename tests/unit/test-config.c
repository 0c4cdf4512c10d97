/*
 * Unit tests of server/config.c. Besides the parser's behaviour, these keep three things in
 * step that would otherwise drift: the parser's keys, the JSON Schema's properties (and its
 * defaults), and the shipped example. Those files are found through $SOCKBROKER_SOURCE_ROOT.
 */
#include <check.h>
#include <cjson/cJSON.h>
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
			"listen, limits, log_level, resolver_threads, ipc, tls)");
}
END_TEST

START_TEST(config_rejects_an_unknown_nested_key_with_its_path)
{
	assert_rejected("{\"limits\": {\"max_handles\": 5}}",
			"test.json: limits: unknown key \"max_handles\" (did you mean "
			"\"max_handles_per_session\"? known keys: max_message_size, "
			"max_handles_per_session, max_parked_per_session, reply_timeout_ms)");
	assert_rejected_with("{\"tls\": {\"cert\": \"/x\"}}",
			     "test.json: tls: unknown key \"cert\" (");
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

START_TEST(config_rejects_the_policy_key_as_not_supported)
{
	assert_rejected("{\"policy\": {}}",
			"test.json: policy: policy rules are not supported by this version; remove "
			"the key to start without them");
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
			      "needs tls+tcp:// (or a token policy, not yet supported); refusing "
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
		ck_assert_msg(strcmp(key, "policy") != 0, "the reserved key is listed");
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
	ck_assert_uint_eq(n, 14);
	ck_assert_ptr_null(config_key_name(n));
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *files = tcase_create("shipped files");
	TCase *load_tc = tcase_create("load");
	TCase *listen = tcase_create("listen");
	TCase *validate = tcase_create("validate");
	TCase *print = tcase_create("print");

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
	tcase_add_test(load_tc, config_rejects_the_policy_key_as_not_supported);
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
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(config_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
