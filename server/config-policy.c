/*
 * The "policy" section of the configuration file, read into a struct policy
 * (policy.h). Part of the config module: config.c hands it the section's JSON
 * node and prefixes its messages with the file's name. Every message names
 * the member as a JSON path ("policy.rules[2].ports[0]") and says what a
 * valid value looks like; any error leaves nothing allocated.
 */
#include "config-policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "errname.h"

struct parse {
	char *err;
	size_t errlen;
};

static int
fail(struct parse *p, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct parse *p, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s: %s", path, msg);
	return -EINVAL;
}

static const char *
kind_of(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "null";
}

/* A constant of the host by name, restricted to names starting with `prefix`. */
static bool
constant_by_name(const char *name, const char *prefix, int64_t *value)
{
	size_t n;
	const struct constant *table = constants_table(&n);
	if (strncmp(name, prefix, strlen(prefix)) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].name, name) == 0) {
			*value = table[i].value;
			return true;
		}
	return false;
}

/* An integer from a JSON number or a constant's name with one of `prefixes`
 * ("AF_INET" or 2). */
static int
number_or_name(struct parse *p, const char *path, const cJSON *v, const char *const *prefixes,
	       const char *what, int64_t min, int64_t max, int64_t *out)
{
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d != (double)(int64_t)d || d < (double)min || d > (double)max)
			return fail(p, path, "must be %s from %lld to %lld, got %g", what,
				    (long long)min, (long long)max, d);
		*out = (int64_t)d;
		return 0;
	}
	if (cJSON_IsString(v)) {
		for (const char *const *pre = prefixes; *pre; pre++)
			if (constant_by_name(v->valuestring, *pre, out) && *out >= min && *out <= max)
				return 0;
		return fail(p, path, "\"%.64s\" is not %s this daemon knows; use a name like %s... "
			    "or a number", v->valuestring, what, prefixes[0]);
	}
	return fail(p, path, "must be %s (a name or a number), got %s", what, kind_of(v));
}

static char *
xstrdup(const char *s)
{
	return strdup(s);
}

typedef int (*item_fn)(struct parse *p, const char *path, const cJSON *item, void *slot);

/* An array member `key` of `obj`, each item read by `fn` into a fresh array
 * of `size`-byte slots. A missing key leaves *out NULL and *n 0. */
static int
parse_list(struct parse *p, const char *parent, const cJSON *obj, const char *key, size_t size,
	   item_fn fn, void **out, size_t *n)
{
	char path[160];
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = NULL;
	*n = 0;
	if (!arr)
		return 0;
	snprintf(path, sizeof(path), "%s.%s", parent, key);
	if (!cJSON_IsArray(arr))
		return fail(p, path, "must be an array, got %s", kind_of(arr));
	int count = cJSON_GetArraySize(arr);
	if (count == 0)
		return fail(p, path, "is empty; leave the key out to match anything");
	uint8_t *items = calloc((size_t)count, size);
	if (!items)
		return fail(p, path, "out of memory");
	int i = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, arr) {
		char item_path[176];
		snprintf(item_path, sizeof(item_path), "%s[%d]", path, i);
		int r = fn(p, item_path, item, items + (size_t)i * size);
		if (r < 0) {
			/* Strings read so far (and a half-read one) are the caller's to
		 * free: hand them over; the slots past them are zeroed. */
			*out = items;
			*n = (size_t)i + 1;
			return r;
		}
		i++;
	}
	*out = items;
	*n = (size_t)count;
	return 0;
}

static int
item_uint32(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967294.0 ||
	    v->valuedouble != (double)(uint32_t)v->valuedouble)
		return fail(p, path, "must be a numeric id from 0 to 4294967294, got %s",
			    kind_of(v));
	*(uint32_t *)slot = (uint32_t)v->valuedouble;
	return 0;
}

static int
item_string(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 255)
		return fail(p, path, "must be a non-empty string of at most 255 bytes, got %s",
			    kind_of(v));
	if (!(*(char **)slot = xstrdup(v->valuestring)))
		return fail(p, path, "out of memory");
	return 0;
}

static int
item_unix_path(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	int r = item_string(p, path, v, slot);
	if (r < 0)
		return r;
	const char *s = *(char **)slot;
	if (s[0] == '@')
		return 0;
	if (s[0] != '/' || strstr(s, "//") || strstr(s, "/./") || strstr(s, "/../") ||
	    (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0) ||
	    (strlen(s) >= 2 && strcmp(s + strlen(s) - 2, "/.") == 0))
		return fail(p, path, "\"%.100s\" must be an absolute path without \".\", \"..\" or "
			    "\"//\" (\"/run/app/\" for a directory and everything below it, "
			    "\"/run/app.sock\" for one socket), or \"@name\" for an abstract name "
			    "(wildcards allowed)", s);
	return 0;
}

static int
item_cidr(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	struct policy_cidr *cidr = slot;
	char text[INET6_ADDRSTRLEN + 8];
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(text))
		return fail(p, path, "must be an address or CIDR string like \"10.0.0.0/8\" or "
			    "\"fd00::/8\", got %s", kind_of(v));
	snprintf(text, sizeof(text), "%s", v->valuestring);
	char *slash = strchr(text, '/');
	long prefix = -1;
	if (slash) {
		char *end;
		*slash = '\0';
		prefix = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end)
			prefix = -2;
	}
	if (inet_pton(AF_INET, text, cidr->addr) == 1) {
		cidr->family = AF_INET;
		if (prefix == -1)
			prefix = 32;
		if (prefix < 0 || prefix > 32)
			return fail(p, path, "\"%s\": an IPv4 prefix length is 0 to 32",
				    v->valuestring);
	} else if (inet_pton(AF_INET6, text, cidr->addr) == 1) {
		cidr->family = AF_INET6;
		if (prefix == -1)
			prefix = 128;
		if (prefix < 0 || prefix > 128)
			return fail(p, path, "\"%s\": an IPv6 prefix length is 0 to 128",
				    v->valuestring);
	} else {
		return fail(p, path, "\"%s\" is not an IPv4 or IPv6 address (host names are not "
			    "allowed: rules judge resolved addresses)", v->valuestring);
	}
	cidr->prefix = (unsigned)prefix;
	/* Host bits set are a typo more often than not ("10.0.0.1/8"). */
	unsigned len = cidr->family == AF_INET ? 4 : 16;
	for (unsigned bit = cidr->prefix; bit < len * 8; bit++)
		if (cidr->addr[bit / 8] & (0x80 >> (bit % 8)))
			return fail(p, path, "\"%s\" has bits set beyond its /%u prefix; write the "
				    "network address", v->valuestring, cidr->prefix);
	return 0;
}

static int
item_port_range(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	struct policy_port_range *range = slot;
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 0 || v->valuedouble > 65535 ||
		    v->valuedouble != (double)(int)v->valuedouble)
			return fail(p, path, "a port is 0 to 65535, got %g", v->valuedouble);
		range->lo = range->hi = (uint16_t)v->valuedouble;
		return 0;
	}
	unsigned lo, hi;
	char extra;
	if (cJSON_IsString(v) && sscanf(v->valuestring, "%u-%u%c", &lo, &hi, &extra) == 2 &&
	    lo <= hi && hi <= 65535) {
		range->lo = (uint16_t)lo;
		range->hi = (uint16_t)hi;
		return 0;
	}
	return fail(p, path, "must be a port number or a range \"LOW-HIGH\" within 0-65535, got %s",
		    cJSON_IsString(v) ? v->valuestring : kind_of(v));
}

static int
item_protocol(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	static const char *const prefixes[] = { "IPPROTO_", "ETH_P_", "NETLINK_", "CAN_", NULL };
	int64_t value = 0;
	int r = number_or_name(p, path, v, prefixes, "a protocol", 0, 65535, &value);
	*(int *)slot = (int)value;
	return r;
}

static int
item_sockopt(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	static const char *const level_prefixes[] = { "SOL_", "IPPROTO_", NULL };
	static const char *const option_prefixes[] = { "SO_",   "IP_",	     "IPV6_", "TCP_",
						       "UDP_",  "UDPLITE_", "PACKET_", "NETLINK_",
						       "ALG_",  "CAN_",	     "TIPC_",  NULL };
	struct policy_sockopt *opt = slot;
	const cJSON *level = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : NULL;
	const cJSON *option = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 1) : NULL;
	int64_t value = 0;
	int r;

	if (!level || !option || cJSON_GetArraySize(v) != 2)
		return fail(p, path, "must be a pair [LEVEL, OPTION] like [\"SOL_SOCKET\", "
			    "\"SO_REUSEADDR\"] or [\"SOL_IP\", \"*\"] for every option of a level");
	if ((r = number_or_name(p, path, level, level_prefixes, "a socket option level", 0,
				INT_MAX, &value)) < 0)
		return r;
	opt->level = (int)value;
	if (cJSON_IsString(option) && strcmp(option->valuestring, "*") == 0) {
		opt->optname = -1;
		return 0;
	}
	if ((r = number_or_name(p, path, option, option_prefixes, "a socket option", 0, INT_MAX,
				&value)) < 0)
		return r;
	opt->optname = (int)value;
	return 0;
}

static int
item_op(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	if (cJSON_IsString(v))
		for (unsigned op = 0; op < POLICY_OP__COUNT; op++)
			if (strcmp(v->valuestring, policy_op_name(op)) == 0) {
				*(unsigned *)slot = op;
				return 0;
			}
	return fail(p, path, "must be one of \"create\", \"connect\", \"bind\", \"listen\", "
		    "\"send-to\", \"resolve\", \"sethostname\", \"interfaces\", \"sockopt\"");
}

static int
item_transport(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	if (cJSON_IsString(v))
		for (unsigned t = 0; t < POLICY_TRANSPORT__COUNT; t++)
			if (strcmp(v->valuestring, policy_transport_name(t)) == 0) {
				*(unsigned *)slot = t;
				return 0;
			}
	return fail(p, path, "must be one of \"ipc\", \"abstract\", \"tcp\", \"tls+tcp\"");
}

static int
item_family(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	static const char *const prefixes[] = { "AF_", NULL };
	int64_t value = 0;
	int r = number_or_name(p, path, v, prefixes, "an address family", 0, 63, &value);
	*(unsigned *)slot = (unsigned)value;
	return r;
}

static int
item_type(struct parse *p, const char *path, const cJSON *v, void *slot)
{
	static const char *const prefixes[] = { "SOCK_", NULL };
	int64_t value = 0;
	int r = number_or_name(p, path, v, prefixes, "a socket type", 0, 31, &value);
	*(unsigned *)slot = (unsigned)value;
	return r;
}

/* A list of small numbers folded into a bit mask. */
static int
parse_mask(struct parse *p, const char *parent, const cJSON *obj, const char *key, item_fn fn,
	   uint64_t *mask)
{
	unsigned *values;
	size_t n;
	int r = parse_list(p, parent, obj, key, sizeof(unsigned), fn, (void **)&values, &n);
	*mask = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		*mask |= 1ull << values[i];
	free(values);
	return r;
}

static int
parse_identity(struct parse *p, const char *path, const cJSON *obj,
	       struct policy_identity_match *who)
{
	uint64_t transports;
	int r;

	who->tls = -1;
	if ((r = parse_list(p, path, obj, "uids", sizeof(uid_t), item_uint32, (void **)&who->uids,
			    &who->n_uids)) < 0 ||
	    (r = parse_list(p, path, obj, "gids", sizeof(gid_t), item_uint32, (void **)&who->gids,
			    &who->n_gids)) < 0 ||
	    (r = parse_list(p, path, obj, "tokens", sizeof(char *), item_string,
			    (void **)&who->tokens, &who->n_tokens)) < 0 ||
	    (r = parse_mask(p, path, obj, "transports", item_transport, &transports)) < 0)
		return r;
	who->transports = (unsigned)transports;
	const cJSON *tls = cJSON_GetObjectItemCaseSensitive(obj, "tls");
	if (tls) {
		if (!cJSON_IsBool(tls))
			return fail(p, path, "tls must be true (a verified client certificate) or "
				    "false (none), got %s", kind_of(tls));
		who->tls = cJSON_IsTrue(tls);
	}
	return 0;
}

static int
check_keys(struct parse *p, const char *path, const cJSON *obj, const char *const *known,
	   const char *list)
{
	const cJSON *member;
	cJSON_ArrayForEach(member, obj) {
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(*k, member->string) == 0;
		if (!ok)
			return fail(p, path, "unknown key \"%.64s\"; the keys are %s", member->string,
				    list);
	}
	return 0;
}

static int
parse_rule(struct parse *p, const char *path, const cJSON *obj, struct policy_rule *rule)
{
	static const char *const keys[] = { "name",	 "allow",     "errno",	   "uids",
					    "gids",	 "tokens",    "tls",	   "transports",
					    "ops",	 "families",  "types",	   "protocols",
					    "addresses", "ports",     "unix_paths", "sockopts",
					    "hosts",	 "comment",   NULL };
	uint64_t mask;
	int r;

	rule->who.tls = -1;
	if (!cJSON_IsObject(obj))
		return fail(p, path, "a rule is an object with \"name\" and \"allow\", got %s",
			    kind_of(obj));
	if ((r = check_keys(p, path, obj, keys,
			    "name, allow, errno, uids, gids, tokens, tls, transports, ops, "
			    "families, types, protocols, addresses, ports, unix_paths, sockopts, "
			    "hosts, comment")) < 0)
		return r;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
	if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 63)
		return fail(p, path, "needs a \"name\" of 1 to 63 characters: denials quote it");
	if (!(rule->name = xstrdup(name->valuestring)))
		return fail(p, path, "out of memory");
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(obj, "allow");
	if (!cJSON_IsBool(allow))
		return fail(p, path, "rule \"%s\" needs \"allow\": true or false", rule->name);
	rule->allow = cJSON_IsTrue(allow);
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(obj, "errno");
	if (err) {
		int e = cJSON_IsString(err) ? errname_to_errno(err->valuestring) : 0;
		if (e != EACCES && e != EPERM)
			return fail(p, path, "rule \"%s\": errno must be \"EACCES\" or \"EPERM\"",
				    rule->name);
		if (rule->allow)
			return fail(p, path, "rule \"%s\" allows, so an errno means nothing; remove "
				    "it", rule->name);
		rule->errnum = e;
	}
	if ((r = parse_identity(p, path, obj, &rule->who)) < 0)
		return r;
	if ((r = parse_mask(p, path, obj, "ops", item_op, &mask)) < 0)
		return r;
	rule->ops = (unsigned)mask;
	if ((r = parse_mask(p, path, obj, "families", item_family, &rule->families)) < 0)
		return r;
	if ((r = parse_mask(p, path, obj, "types", item_type, &mask)) < 0)
		return r;
	rule->types = (uint32_t)mask;
	if ((r = parse_list(p, path, obj, "protocols", sizeof(int), item_protocol,
			    (void **)&rule->protos, &rule->n_protos)) < 0 ||
	    (r = parse_list(p, path, obj, "addresses", sizeof(struct policy_cidr), item_cidr,
			    (void **)&rule->addresses, &rule->n_addresses)) < 0 ||
	    (r = parse_list(p, path, obj, "ports", sizeof(struct policy_port_range),
			    item_port_range, (void **)&rule->ports, &rule->n_ports)) < 0 ||
	    (r = parse_list(p, path, obj, "unix_paths", sizeof(char *), item_unix_path,
			    (void **)&rule->unix_paths, &rule->n_unix_paths)) < 0 ||
	    (r = parse_list(p, path, obj, "sockopts", sizeof(struct policy_sockopt), item_sockopt,
			    (void **)&rule->sockopts, &rule->n_sockopts)) < 0 ||
	    (r = parse_list(p, path, obj, "hosts", sizeof(char *), item_string,
			    (void **)&rule->hosts, &rule->n_hosts)) < 0)
		return r;
	return 0;
}

static int
parse_limit(struct parse *p, const char *path, const cJSON *obj, const char *key, uint64_t max,
	    uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	*out = 0;
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return fail(p, path, "%s must be an integer from 1 to %llu (leave it out for no "
			    "limit)", key, (unsigned long long)max);
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static int
parse_quota(struct parse *p, const char *path, const cJSON *obj, struct policy_quota *quota)
{
	static const char *const keys[] = { "name",
					    "uids",
					    "gids",
					    "tokens",
					    "tls",
					    "transports",
					    "max_handles",
					    "max_parked",
					    "send_bytes_per_second",
					    "recv_bytes_per_second",
					    "ops_per_second",
					    "comment",
					    NULL };
	uint64_t handles, parked, ops;
	int r;

	quota->who.tls = -1;
	if (!cJSON_IsObject(obj))
		return fail(p, path, "a quota is an object with a \"name\", got %s", kind_of(obj));
	if ((r = check_keys(p, path, obj, keys,
			    "name, uids, gids, tokens, tls, transports, max_handles, max_parked, "
			    "send_bytes_per_second, recv_bytes_per_second, ops_per_second, "
			    "comment")) < 0)
		return r;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
	if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 63)
		return fail(p, path, "needs a \"name\" of 1 to 63 characters: errors quote it");
	if (!(quota->name = xstrdup(name->valuestring)))
		return fail(p, path, "out of memory");
	if ((r = parse_identity(p, path, obj, &quota->who)) < 0 ||
	    (r = parse_limit(p, path, obj, "max_handles", 1000000, &handles)) < 0 ||
	    (r = parse_limit(p, path, obj, "max_parked", 1000000, &parked)) < 0 ||
	    (r = parse_limit(p, path, obj, "send_bytes_per_second", 1ull << 40,
			     &quota->send_bytes_per_second)) < 0 ||
	    (r = parse_limit(p, path, obj, "recv_bytes_per_second", 1ull << 40,
			     &quota->recv_bytes_per_second)) < 0 ||
	    (r = parse_limit(p, path, obj, "ops_per_second", 10000000, &ops)) < 0)
		return r;
	quota->max_handles = (uint32_t)handles;
	quota->max_parked = (uint32_t)parked;
	quota->ops_per_second = (uint32_t)ops;
	return 0;
}

int
config_parse_policy(const cJSON *section, struct policy **out, char *err, size_t errlen)
{
	struct parse p = { err, errlen };
	static const char *const keys[] = { "rules", "quotas", "comment", NULL };
	struct policy *policy;
	char path[64];
	int r;

	*out = NULL;
	if (!cJSON_IsObject(section))
		return fail(&p, "policy", "must be an object with \"rules\" (and \"quotas\"), got %s",
			    kind_of(section));
	if ((r = check_keys(&p, "policy", section, keys, "rules, quotas, comment")) < 0)
		return r;
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(section, "rules");
	const cJSON *quotas = cJSON_GetObjectItemCaseSensitive(section, "quotas");
	if (!cJSON_IsArray(rules))
		return fail(&p, "policy.rules", "must be an array of rules (an empty one denies "
			    "everything), got %s", rules ? kind_of(rules) : "nothing");
	if (quotas && !cJSON_IsArray(quotas))
		return fail(&p, "policy.quotas", "must be an array, got %s", kind_of(quotas));

	if (!(policy = calloc(1, sizeof(*policy))))
		return fail(&p, "policy", "out of memory");
	size_t n_rules = (size_t)cJSON_GetArraySize(rules);
	size_t n_quotas = quotas ? (size_t)cJSON_GetArraySize(quotas) : 0;
	policy->rules = calloc(n_rules ? n_rules : 1, sizeof(*policy->rules));
	policy->quotas = calloc(n_quotas ? n_quotas : 1, sizeof(*policy->quotas));
	if (!policy->rules || !policy->quotas) {
		r = fail(&p, "policy", "out of memory");
		goto err_policy;
	}

	const cJSON *item;
	cJSON_ArrayForEach(item, rules) {
		snprintf(path, sizeof(path), "policy.rules[%zu]", policy->n_rules);
		struct policy_rule *rule = &policy->rules[policy->n_rules++];
		if ((r = parse_rule(&p, path, item, rule)) < 0)
			goto err_policy;
		for (size_t i = 0; i + 1 < policy->n_rules; i++)
			if (strcmp(policy->rules[i].name, rule->name) == 0) {
				r = fail(&p, path, "the name \"%s\" is used by rule %zu too; names "
					 "identify rules in denials and the audit log",
					 rule->name, i);
				goto err_policy;
			}
	}
	if (quotas) {
		cJSON_ArrayForEach(item, quotas) {
			snprintf(path, sizeof(path), "policy.quotas[%zu]", policy->n_quotas);
			if ((r = parse_quota(&p, path, item, &policy->quotas[policy->n_quotas++])) <
			    0)
				goto err_policy;
		}
	}
	*out = policy;
	return 0;

err_policy:
	policy_fini(policy);
	free(policy);
	return r;
}

/* ---- writing a policy back ---------------------------------------------- */

static bool
add_identity(cJSON *obj, const struct policy_identity_match *who)
{
	bool ok = true;
	if (who->n_uids) {
		cJSON *a = cJSON_AddArrayToObject(obj, "uids");
		for (size_t i = 0; a && i < who->n_uids; i++)
			ok &= cJSON_AddItemToArray(a, cJSON_CreateNumber(who->uids[i]));
		ok &= a != NULL;
	}
	if (who->n_gids) {
		cJSON *a = cJSON_AddArrayToObject(obj, "gids");
		for (size_t i = 0; a && i < who->n_gids; i++)
			ok &= cJSON_AddItemToArray(a, cJSON_CreateNumber(who->gids[i]));
		ok &= a != NULL;
	}
	if (who->n_tokens)
		ok &= cJSON_AddItemToObject(obj, "tokens",
					    cJSON_CreateStringArray((const char *const *)who->tokens,
								    (int)who->n_tokens));
	if (who->tls >= 0)
		ok &= cJSON_AddBoolToObject(obj, "tls", who->tls) != NULL;
	if (who->transports) {
		cJSON *a = cJSON_AddArrayToObject(obj, "transports");
		for (unsigned t = 0; a && t < POLICY_TRANSPORT__COUNT; t++)
			if (who->transports & (1u << t))
				ok &= cJSON_AddItemToArray(
					a, cJSON_CreateString(policy_transport_name(t)));
		ok &= a != NULL;
	}
	return ok;
}

/* A constant's name for `value` among names with `prefix`, for readable
 * output; the number when the name is not unique or unknown. */
static cJSON *
name_or_number(const char *prefix, int64_t value)
{
	size_t n;
	const struct constant *table = constants_table(&n);
	const char *found = NULL;
	for (size_t i = 0; i < n; i++) {
		if (table[i].value != value || strncmp(table[i].name, prefix, strlen(prefix)) != 0)
			continue;
		if (found)
			return cJSON_CreateNumber((double)value);
		found = table[i].name;
	}
	return found ? cJSON_CreateString(found) : cJSON_CreateNumber((double)value);
}

/* A rule's conditions on the socket: "ops", "families", "types", "protocols". */
static bool
add_socket_conditions(cJSON *obj, const struct policy_rule *r)
{
	bool ok = true;

	if (ok && r->ops) {
		cJSON *a = cJSON_AddArrayToObject(obj, "ops");
		for (unsigned op = 0; a && op < POLICY_OP__COUNT; op++)
			if (r->ops & (1u << op))
				ok &= cJSON_AddItemToArray(a, cJSON_CreateString(policy_op_name(op)));
		ok &= a != NULL;
	}
	if (ok && r->families) {
		cJSON *a = cJSON_AddArrayToObject(obj, "families");
		for (int f = 0; a && f < 64; f++)
			if (r->families & (1ull << f))
				ok &= cJSON_AddItemToArray(a, name_or_number("AF_", f));
		ok &= a != NULL;
	}
	if (ok && r->types) {
		cJSON *a = cJSON_AddArrayToObject(obj, "types");
		for (int t = 0; a && t < 32; t++)
			if (r->types & (1u << t))
				ok &= cJSON_AddItemToArray(a, name_or_number("SOCK_", t));
		ok &= a != NULL;
	}
	if (ok && r->n_protos) {
		cJSON *a = cJSON_AddArrayToObject(obj, "protocols");
		for (size_t i = 0; a && i < r->n_protos; i++) {
			const char *name = policy_protocol_name(r->families, r->protos[i]);
			ok &= cJSON_AddItemToArray(a, name ? cJSON_CreateString(name)
							   : cJSON_CreateNumber(r->protos[i]));
		}
		ok &= a != NULL;
	}
	return ok;
}

/* A rule's conditions on the peer and the options: "addresses", "ports", "unix_paths",
 * "sockopts", "hosts". */
static bool
add_peer_conditions(cJSON *obj, const struct policy_rule *r)
{
	bool ok = true;

	if (ok && r->n_addresses) {
		cJSON *a = cJSON_AddArrayToObject(obj, "addresses");
		for (size_t i = 0; a && i < r->n_addresses; i++) {
			char text[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 8];
			inet_ntop(r->addresses[i].family, r->addresses[i].addr, text, sizeof(text));
			snprintf(cidr, sizeof(cidr), "%s/%u", text, r->addresses[i].prefix);
			ok &= cJSON_AddItemToArray(a, cJSON_CreateString(cidr));
		}
		ok &= a != NULL;
	}
	if (ok && r->n_ports) {
		cJSON *a = cJSON_AddArrayToObject(obj, "ports");
		for (size_t i = 0; a && i < r->n_ports; i++) {
			char range[16];
			if (r->ports[i].lo == r->ports[i].hi) {
				ok &= cJSON_AddItemToArray(a, cJSON_CreateNumber(r->ports[i].lo));
				continue;
			}
			snprintf(range, sizeof(range), "%u-%u", r->ports[i].lo, r->ports[i].hi);
			ok &= cJSON_AddItemToArray(a, cJSON_CreateString(range));
		}
		ok &= a != NULL;
	}
	if (ok && r->n_unix_paths)
		ok = cJSON_AddItemToObject(obj, "unix_paths",
					   cJSON_CreateStringArray((const char *const *)r->unix_paths,
								   (int)r->n_unix_paths));
	if (ok && r->n_sockopts) {
		cJSON *a = cJSON_AddArrayToObject(obj, "sockopts");
		for (size_t i = 0; a && i < r->n_sockopts; i++) {
			cJSON *pair = cJSON_CreateArray();
			ok &= pair && cJSON_AddItemToArray(pair, cJSON_CreateNumber(r->sockopts[i].level));
			ok &= pair && cJSON_AddItemToArray(
					      pair, r->sockopts[i].optname < 0
							    ? cJSON_CreateString("*")
							    : cJSON_CreateNumber(r->sockopts[i].optname));
			ok &= cJSON_AddItemToArray(a, pair);
		}
		ok &= a != NULL;
	}
	if (ok && r->n_hosts)
		ok = cJSON_AddItemToObject(obj, "hosts",
					   cJSON_CreateStringArray((const char *const *)r->hosts,
								   (int)r->n_hosts));
	return ok;
}

static cJSON *
rule_to_json(const struct policy_rule *r)
{
	cJSON *obj = cJSON_CreateObject();
	bool ok = obj && cJSON_AddStringToObject(obj, "name", r->name) &&
		  cJSON_AddBoolToObject(obj, "allow", r->allow);
	if (ok && r->errnum)
		ok = cJSON_AddStringToObject(obj, "errno", errname_from_errno(r->errnum)) != NULL;
	ok = ok && add_identity(obj, &r->who);
	ok = ok && add_socket_conditions(obj, r) && add_peer_conditions(obj, r);
	if (!ok) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

static cJSON *
quota_to_json(const struct policy_quota *q)
{
	cJSON *obj = cJSON_CreateObject();
	bool ok = obj && cJSON_AddStringToObject(obj, "name", q->name) &&
		  add_identity(obj, &q->who);
	if (ok && q->max_handles)
		ok = cJSON_AddNumberToObject(obj, "max_handles", q->max_handles) != NULL;
	if (ok && q->max_parked)
		ok = cJSON_AddNumberToObject(obj, "max_parked", q->max_parked) != NULL;
	if (ok && q->send_bytes_per_second)
		ok = cJSON_AddNumberToObject(obj, "send_bytes_per_second",
					     (double)q->send_bytes_per_second) != NULL;
	if (ok && q->recv_bytes_per_second)
		ok = cJSON_AddNumberToObject(obj, "recv_bytes_per_second",
					     (double)q->recv_bytes_per_second) != NULL;
	if (ok && q->ops_per_second)
		ok = cJSON_AddNumberToObject(obj, "ops_per_second", q->ops_per_second) != NULL;
	if (!ok) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

void
config_print_policy(const struct policy *policy, FILE *out)
{
	struct policy builtin;
	bool own = false;
	if (!policy) {
		if (policy_init_default(&builtin) < 0)
			return;
		policy = &builtin;
		own = true;
	}
	cJSON *root = cJSON_CreateObject();
	cJSON *rules = root ? cJSON_AddArrayToObject(root, "rules") : NULL;
	cJSON *quotas = rules && policy->n_quotas ? cJSON_AddArrayToObject(root, "quotas") : NULL;
	bool ok = rules && (quotas || !policy->n_quotas);
	for (size_t i = 0; ok && i < policy->n_rules; i++)
		ok = cJSON_AddItemToArray(rules, rule_to_json(&policy->rules[i]));
	for (size_t i = 0; ok && i < policy->n_quotas; i++)
		ok = cJSON_AddItemToArray(quotas, quota_to_json(&policy->quotas[i]));
	char *text = ok ? cJSON_Print(root) : NULL;
	if (text) {
		/* Indent the object one level, as the member of the top object it is. */
		fputs("\t\"policy\": ", out);
		for (const char *c = text; *c; c++) {
			fputc(*c, out);
			if (*c == '\n')
				fputc('\t', out);
		}
		fputs(",\n", out);
		cJSON_free(text);
	}
	cJSON_Delete(root);
	if (own)
		policy_fini(&builtin);
}
