/*
 * The conformance scenarios (tests/conformance/scenarios) run by
 * libsockbroker, through its public header only, against the daemon at
 * $SOCKBROKER_URL. The format is described in tests/conformance/README.md.
 *
 * Values are cJSON trees: a scenario's arguments are resolved (variables,
 * constants, bytes) into a fresh tree, each result is built as a tree in the
 * common form, and expectations are compared tree to tree. Bytes are the
 * object {"$bytes": "<hex>"} inside the runner. Each scenario runs on a
 * client (a session) of its own, freed at its end, which closes whatever the
 * scenario left open.
 *
 * usage: conformance-c [SCENARIO-DIR]   (default: next to this source file)
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sockbroker.h"

#ifndef CONFORMANCE_DIR
#define CONFORMANCE_DIR "tests/conformance/scenarios"
#endif

#define MAX_DATA (1u << 20)

/* Operations this client cannot express, with the reason (none today). */
static const struct {
	const char *op;
	const char *reason;
} unsupported[] = {
	{NULL, NULL},
};

/* Scenarios this client cannot express, with the reason. */
static const struct {
	const char *name;
	const char *reason;
} unsupported_scenarios[] = {
	{"negative-timeout-is-bad-request",
	 "the C API's SB_TIMEOUT_NONE is -1.0: a negative timeout means None there, so it cannot "
	 "send one"},
	{NULL, NULL},
};

struct run {
	struct sb_client *client;
	cJSON *vars;
	char failure[1024];
};

static void
fail(struct run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail(struct run *run, const char *fmt, ...)
{
	va_list ap;

	if (run->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(run->failure, sizeof(run->failure), fmt, ap);
	va_end(ap);
}

/* ---- values ------------------------------------------------------------ */

static cJSON *
bytes_value(const uint8_t *data, size_t len)
{
	char *hex = malloc(len * 2 + 1);
	cJSON *obj = cJSON_CreateObject();

	if (!hex || !obj)
		abort();
	for (size_t i = 0; i < len; i++)
		snprintf(hex + i * 2, 3, "%02x", data[i]);
	hex[len * 2] = '\0';
	cJSON_AddStringToObject(obj, "$bytes", hex);
	free(hex);
	return obj;
}

/* The bytes of a resolved {"$bytes"} value; *len is set. Caller frees. */
static uint8_t *
bytes_of(const cJSON *value, size_t *len)
{
	const cJSON *hex = cJSON_GetObjectItemCaseSensitive(value, "$bytes");
	size_t n = cJSON_IsString(hex) ? strlen(hex->valuestring) / 2 : 0;
	uint8_t *out = malloc(n + 1);

	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned byte;
		sscanf(hex->valuestring + i * 2, "%2x", &byte);
		out[i] = (uint8_t)byte;
	}
	*len = n;
	return out;
}

static bool
is_constant_names(const char *s)
{
	if (!isupper((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++) {
		if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' &&
		    *p != '|')
			return false;
		if (*p == '|' && !isupper((unsigned char)p[1]))
			return false;
	}
	return true;
}

static cJSON *resolve(struct run *run, const cJSON *value);

static cJSON *
resolve_string(struct run *run, const char *s)
{
	if (s[0] == '$') {
		char path[256];
		char *save = NULL;
		const cJSON *v;

		snprintf(path, sizeof(path), "%s", s + 1);
		char *name = strtok_r(path, ".", &save);
		v = cJSON_GetObjectItemCaseSensitive(run->vars, name);
		if (!v) {
			fail(run, "no variable %s", name);
			return cJSON_CreateNull();
		}
		for (char *key = strtok_r(NULL, ".", &save); key && v;
		     key = strtok_r(NULL, ".", &save))
			v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(key))
					     : cJSON_GetObjectItemCaseSensitive(v, key);
		if (!v) {
			fail(run, "variable %s has no such member", s);
			return cJSON_CreateNull();
		}
		return cJSON_Duplicate(v, true);
	}
	if (strcmp(s, "*") != 0 && is_constant_names(s)) {
		char names[256];
		char *save = NULL;
		int64_t total = 0;

		snprintf(names, sizeof(names), "%s", s);
		for (char *name = strtok_r(names, "|", &save); name;
		     name = strtok_r(NULL, "|", &save)) {
			int64_t value;
			if (sb_constant(run->client, name, &value) < 0) {
				fail(run, "the daemon has no constant %s", name);
				return cJSON_CreateNull();
			}
			total |= value;
		}
		return cJSON_CreateNumber((double)total);
	}
	return cJSON_CreateString(s);
}

static cJSON *
resolve(struct run *run, const cJSON *value)
{
	if (!value)
		return cJSON_CreateNull();
	if (cJSON_IsString(value))
		return resolve_string(run, value->valuestring);
	if (cJSON_IsArray(value)) {
		cJSON *out = cJSON_CreateArray();
		const cJSON *item;
		cJSON_ArrayForEach(item, value) cJSON_AddItemToArray(out, resolve(run, item));
		return out;
	}
	if (cJSON_IsObject(value)) {
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(value, "text");
		const cJSON *hex = cJSON_GetObjectItemCaseSensitive(value, "hex");
		const cJSON *repeat = cJSON_GetObjectItemCaseSensitive(value, "repeat");
		if (cJSON_IsString(text))
			return bytes_value((const uint8_t *)text->valuestring,
					   strlen(text->valuestring));
		if (cJSON_IsString(hex)) {
			cJSON *out = cJSON_CreateObject();
			cJSON_AddStringToObject(out, "$bytes", hex->valuestring);
			return out;
		}
		if (cJSON_IsString(repeat)) {
			int times = cJSON_GetObjectItemCaseSensitive(value, "times")->valueint;
			size_t unit = strlen(repeat->valuestring);
			uint8_t *buf = malloc(unit * (size_t)times + 1);
			if (!buf)
				abort();
			for (int i = 0; i < times; i++)
				memcpy(buf + unit * (size_t)i, repeat->valuestring, unit);
			cJSON *out = bytes_value(buf, unit * (size_t)times);
			free(buf);
			return out;
		}
		cJSON *out = cJSON_CreateObject();
		const cJSON *item;
		cJSON_ArrayForEach(item, value)
			cJSON_AddItemToObject(out, item->string, resolve(run, item));
		return out;
	}
	return cJSON_Duplicate(value, true);
}

static bool
matches(const cJSON *expected, const cJSON *actual)
{
	if (cJSON_IsString(expected) && strcmp(expected->valuestring, "*") == 0)
		return true;
	if (!actual)
		return cJSON_IsNull(expected);
	if (cJSON_IsNumber(expected))
		return cJSON_IsNumber(actual) &&
		       fabs(expected->valuedouble - actual->valuedouble) < 1e-9;
	if (cJSON_IsString(expected))
		return cJSON_IsString(actual) &&
		       strcmp(expected->valuestring, actual->valuestring) == 0;
	if (cJSON_IsArray(expected)) {
		if (!cJSON_IsArray(actual) ||
		    cJSON_GetArraySize(expected) != cJSON_GetArraySize(actual))
			return false;
		for (int i = 0; i < cJSON_GetArraySize(expected); i++)
			if (!matches(cJSON_GetArrayItem(expected, i),
				     cJSON_GetArrayItem(actual, i)))
				return false;
		return true;
	}
	if (cJSON_IsObject(expected)) {
		const cJSON *item;
		if (!cJSON_IsObject(actual))
			return false;
		cJSON_ArrayForEach(
			item, expected) if (!matches(item,
						     cJSON_GetObjectItemCaseSensitive(
							     actual, item->string))) return false;
		return true;
	}
	if (cJSON_IsBool(expected))
		return cJSON_IsBool(actual) && cJSON_IsTrue(expected) == cJSON_IsTrue(actual);
	return cJSON_IsNull(expected) && cJSON_IsNull(actual);
}

/* ---- addresses --------------------------------------------------------- */

static bool
address_of(struct run *run, const cJSON *value, struct sb_addr *addr)
{
	if (cJSON_IsString(value))
		return sb_addr_unix(addr, value->valuestring) == 0;
	if (cJSON_IsArray(value) && cJSON_GetArraySize(value) >= 2) {
		const cJSON *host = cJSON_GetArrayItem(value, 0);
		const cJSON *port = cJSON_GetArrayItem(value, 1);
		if (!cJSON_IsString(host) || !cJSON_IsNumber(port)) {
			fail(run, "an address is [host, port]");
			return false;
		}
		if (cJSON_GetArraySize(value) == 4 || strchr(host->valuestring, ':'))
			return sb_addr_inet6(addr, host->valuestring, (unsigned)port->valueint, 0,
					     0) == 0;
		return sb_addr_inet(addr, host->valuestring, (unsigned)port->valueint) == 0;
	}
	fail(run, "an address is [host, port] or a unix path");
	return false;
}

static cJSON *
address_value(const struct sb_addr *addr)
{
	cJSON *out;

	switch (addr->family) {
	case AF_INET:
		out = cJSON_CreateArray();
		cJSON_AddItemToArray(out, cJSON_CreateString(addr->host));
		cJSON_AddItemToArray(out, cJSON_CreateNumber(addr->port));
		return out;
	case AF_INET6:
		out = cJSON_CreateArray();
		cJSON_AddItemToArray(out, cJSON_CreateString(addr->host));
		cJSON_AddItemToArray(out, cJSON_CreateNumber(addr->port));
		cJSON_AddItemToArray(out, cJSON_CreateNumber(addr->flowinfo));
		cJSON_AddItemToArray(out, cJSON_CreateNumber(addr->scope_id));
		return out;
	case AF_UNIX: {
		char path[sizeof(addr->path) + 1];
		memcpy(path, addr->path, addr->path_len);
		path[addr->path_len] = '\0';
		return cJSON_CreateString(addr->abstract ? "" : path);
	}
	default:
		return cJSON_CreateNull();
	}
}

/* ---- operations ---------------------------------------------------------- */

static const cJSON *
arg(const cJSON *args, int i)
{
	return cJSON_GetArrayItem(args, i);
}

static int
int_arg(const cJSON *args, int i, int otherwise)
{
	const cJSON *v = arg(args, i);
	return cJSON_IsNumber(v) ? v->valueint : otherwise;
}

static double
timeout_arg(const cJSON *args, int i)
{
	const cJSON *v = arg(args, i);
	return cJSON_IsNumber(v) ? v->valuedouble : SB_TIMEOUT_NONE;
}

static const char *
string_arg(const cJSON *args, int i)
{
	const cJSON *v = arg(args, i);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *
handle_value(sb_handle h)
{
	return cJSON_CreateNumber((double)h);
}

static cJSON *
hostent_value(struct sb_hostent *entry)
{
	cJSON *out = cJSON_CreateArray();
	cJSON *aliases = cJSON_CreateArray();
	cJSON *addresses = cJSON_CreateArray();

	cJSON_AddItemToArray(out, cJSON_CreateString(entry->name));
	for (size_t i = 0; i < entry->n_aliases; i++)
		cJSON_AddItemToArray(aliases, cJSON_CreateString(entry->aliases[i]));
	for (size_t i = 0; i < entry->n_addresses; i++)
		cJSON_AddItemToArray(addresses, cJSON_CreateString(entry->addresses[i]));
	cJSON_AddItemToArray(out, aliases);
	cJSON_AddItemToArray(out, addresses);
	sb_hostent_free(entry);
	return out;
}

static int
op_sendmsg(struct run *run, sb_handle h, const cJSON *args, struct sb_error *err, cJSON **result)
{
	const cJSON *buffers = arg(args, 0);
	const cJSON *ancillary = arg(args, 1);
	const cJSON *to = arg(args, 3);
	int n_buffers = cJSON_GetArraySize(buffers);
	int n_items = cJSON_GetArraySize(ancillary);
	struct iovec iov[16];
	struct sb_cmsg items[8];
	sb_handle rights[8][16];
	uint8_t *owned[24] = {0};
	struct sb_addr addr;
	int n_owned = 0;
	ssize_t r;

	if (n_buffers > 16 || n_items > 8) {
		fail(run, "sendmsg: at most 16 buffers and 8 ancillary items here");
		return -EINVAL;
	}
	for (int i = 0; i < n_buffers; i++) {
		size_t len;
		owned[n_owned] = bytes_of(cJSON_GetArrayItem(buffers, i), &len);
		iov[i].iov_base = owned[n_owned++];
		iov[i].iov_len = len;
	}
	memset(items, 0, sizeof(items));
	for (int i = 0; i < n_items; i++) {
		const cJSON *item = cJSON_GetArrayItem(ancillary, i);
		const cJSON *handles = cJSON_GetObjectItemCaseSensitive(item, "rights");
		items[i].level = cJSON_GetObjectItemCaseSensitive(item, "level")->valueint;
		items[i].type = cJSON_GetObjectItemCaseSensitive(item, "type")->valueint;
		if (handles) {
			int count = cJSON_GetArraySize(handles);
			for (int j = 0; j < count && j < 16; j++)
				rights[i][j] =
					(sb_handle)cJSON_GetArrayItem(handles, j)->valuedouble;
			items[i].view = SB_CMSG_RIGHTS;
			items[i].rights.handles = rights[i];
			items[i].rights.count = (size_t)(count < 16 ? count : 16);
		} else {
			size_t len;
			owned[n_owned] =
				bytes_of(cJSON_GetObjectItemCaseSensitive(item, "data"), &len);
			items[i].view = SB_CMSG_RAW;
			items[i].data = owned[n_owned++];
			items[i].len = len;
		}
	}
	bool has_to = to && !cJSON_IsNull(to);
	if (has_to && !address_of(run, to, &addr)) {
		r = -EINVAL;
		goto out;
	}
	r = sb_sendmsg(run->client, h, iov, (size_t)n_buffers, items, (size_t)n_items,
		       int_arg(args, 2, 0), has_to ? &addr : NULL, err);
	if (r >= 0)
		*result = cJSON_CreateNumber((double)r);
out:
	for (int i = 0; i < n_owned; i++)
		free(owned[i]);
	return r < 0 ? (int)r : 0;
}

static int
op_recvmsg(struct run *run, sb_handle h, const cJSON *args, struct sb_error *err, cJSON **result)
{
	struct sb_msg *msg = NULL;
	ssize_t r = sb_recvmsg(run->client, h, (size_t)int_arg(args, 0, 0),
			       (size_t)int_arg(args, 1, 0), int_arg(args, 2, 0), &msg, err);
	if (r < 0)
		return (int)r;
	cJSON *out = cJSON_CreateObject();
	cJSON *rights = cJSON_CreateArray();
	cJSON *ancillary = cJSON_CreateArray();
	cJSON_AddItemToObject(out, "data", bytes_value(msg->data, msg->len));
	for (size_t i = 0; i < msg->n_ancillary; i++) {
		const struct sb_cmsg *item = &msg->ancillary[i];
		cJSON *pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, cJSON_CreateNumber(item->level));
		cJSON_AddItemToArray(pair, cJSON_CreateNumber(item->type));
		cJSON_AddItemToArray(ancillary, pair);
		if (item->view == SB_CMSG_RIGHTS)
			for (size_t j = 0; j < item->rights.count; j++)
				cJSON_AddItemToArray(rights, handle_value(item->rights.handles[j]));
	}
	cJSON_AddItemToObject(out, "rights", rights);
	cJSON_AddNumberToObject(out, "flags", msg->msg_flags);
	cJSON_AddItemToObject(out, "ancillary", ancillary);
	cJSON_AddItemToObject(out, "address",
			      msg->has_address ? address_value(&msg->address) : cJSON_CreateNull());
	sb_msg_free(msg);
	*result = out;
	return 0;
}

static int
op_poll(struct run *run, const cJSON *args, struct sb_error *err, cJSON **result)
{
	const cJSON *list = arg(args, 0);
	int n = cJSON_GetArraySize(list);
	struct sb_pollitem items[16];
	size_t ready;

	if (n > 16) {
		fail(run, "poll: at most 16 items here");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const cJSON *item = cJSON_GetArrayItem(list, i);
		items[i].handle = (sb_handle)cJSON_GetArrayItem(item, 0)->valuedouble;
		items[i].events = (unsigned)cJSON_GetArrayItem(item, 1)->valueint;
		items[i].revents = 0;
	}
	int r = sb_poll(run->client, items, (size_t)n, timeout_arg(args, 1), &ready, err);
	if (r < 0)
		return r;
	cJSON *out = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		if (!items[i].revents)
			continue;
		cJSON *pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, handle_value(items[i].handle));
		cJSON_AddItemToArray(pair, cJSON_CreateNumber(items[i].revents));
		cJSON_AddItemToArray(out, pair);
	}
	*result = out;
	return 0;
}

static int
op_getaddrinfo(struct run *run, const cJSON *args, struct sb_error *err, cJSON **result)
{
	struct sb_addrinfo *infos;
	size_t count;
	int r = sb_getaddrinfo(run->client, string_arg(args, 0), string_arg(args, 1),
			       int_arg(args, 2, 0), int_arg(args, 3, 0), int_arg(args, 4, 0),
			       int_arg(args, 5, 0), &infos, &count, err);
	if (r < 0)
		return r;
	cJSON *out = cJSON_CreateArray();
	for (size_t i = 0; i < count; i++) {
		cJSON *entry = cJSON_CreateArray();
		cJSON_AddItemToArray(entry, cJSON_CreateNumber(infos[i].family));
		cJSON_AddItemToArray(entry, cJSON_CreateNumber(infos[i].type));
		cJSON_AddItemToArray(entry, cJSON_CreateNumber(infos[i].proto));
		cJSON_AddItemToArray(entry, cJSON_CreateString(infos[i].canonname));
		cJSON_AddItemToArray(entry, address_value(&infos[i].addr));
		cJSON_AddItemToArray(out, entry);
	}
	sb_addrinfo_free(infos);
	*result = out;
	return 0;
}

/* Run one operation; 0 with *result set (NULL for none), or a negative
 * errno with err filled (or run->failure set for a bad scenario). */
static int
run_op(struct run *run, const char *op, sb_handle h, const cJSON *args, struct sb_error *err,
       cJSON **result)
{
	struct sb_client *c = run->client;
	struct sb_addr addr;
	sb_handle out;
	char text[1024];
	int r;

	*result = NULL;
	if (strcmp(op, "socket") == 0) {
		r = sb_socket(c, int_arg(args, 0, AF_INET), int_arg(args, 1, SOCK_STREAM),
			      int_arg(args, 2, 0), &out, err);
		if (r == 0)
			*result = handle_value(out);
		return r;
	}
	if (strcmp(op, "socketpair") == 0) {
		sb_handle pair[2];
		r = sb_socketpair(c, int_arg(args, 0, AF_UNIX), int_arg(args, 1, SOCK_STREAM), 0,
				  pair, err);
		if (r == 0) {
			*result = cJSON_CreateArray();
			cJSON_AddItemToArray(*result, handle_value(pair[0]));
			cJSON_AddItemToArray(*result, handle_value(pair[1]));
		}
		return r;
	}
	if (strcmp(op, "dup") == 0) {
		r = sb_dup(c, h, &out, err);
		if (r == 0)
			*result = handle_value(out);
		return r;
	}
	if (strcmp(op, "close") == 0)
		return sb_close(c, h, err);
	if (strcmp(op, "bind") == 0 || strcmp(op, "connect") == 0 ||
	    strcmp(op, "connect_ex") == 0) {
		if (!address_of(run, arg(args, 0), &addr))
			return -EINVAL;
		if (op[0] == 'b')
			return sb_bind(c, h, &addr, err);
		if (strcmp(op, "connect") == 0)
			return sb_connect(c, h, &addr, err);
		int code;
		r = sb_connect_ex(c, h, &addr, &code, err);
		if (r == 0)
			*result = cJSON_CreateNumber(code);
		return r;
	}
	if (strcmp(op, "listen") == 0)
		return sb_listen(c, h, int_arg(args, 0, SB_BACKLOG_DEFAULT), err);
	if (strcmp(op, "accept") == 0) {
		r = sb_accept(c, h, &out, &addr, err);
		if (r == 0) {
			*result = cJSON_CreateArray();
			cJSON_AddItemToArray(*result, handle_value(out));
			cJSON_AddItemToArray(*result, address_value(&addr));
		}
		return r;
	}
	if (strcmp(op, "shutdown") == 0)
		return sb_shutdown(c, h, int_arg(args, 0, 0), err);
	if (strcmp(op, "getsockname") == 0 || strcmp(op, "getpeername") == 0) {
		r = op[3] == 's' ? sb_getsockname(c, h, &addr, err)
				 : sb_getpeername(c, h, &addr, err);
		if (r == 0)
			*result = address_value(&addr);
		return r;
	}
	if (strcmp(op, "getsockopt") == 0) {
		int value;
		r = sb_getsockopt_int(c, h, int_arg(args, 0, 0), int_arg(args, 1, 0), &value, err);
		if (r == 0)
			*result = cJSON_CreateNumber(value);
		return r;
	}
	if (strcmp(op, "setsockopt") == 0)
		return sb_setsockopt_int(c, h, int_arg(args, 0, 0), int_arg(args, 1, 0),
					 int_arg(args, 2, 0), err);
	if (strcmp(op, "settimeout") == 0)
		return sb_settimeout(c, h, timeout_arg(args, 0), err);
	if (strcmp(op, "setblocking") == 0)
		return sb_setblocking(c, h, cJSON_IsTrue(arg(args, 0)), err);
	if (strcmp(op, "gettimeout") == 0) {
		double timeout;
		r = sb_gettimeout(c, h, &timeout, err);
		if (r == 0)
			*result = timeout < 0 ? cJSON_CreateNull() : cJSON_CreateNumber(timeout);
		return r;
	}
	if (strcmp(op, "send") == 0 || strcmp(op, "sendall") == 0 || strcmp(op, "sendto") == 0) {
		size_t len;
		uint8_t *data = bytes_of(arg(args, 0), &len);
		ssize_t n;
		if (strcmp(op, "sendall") == 0) {
			n = sb_sendall(c, h, data, len, int_arg(args, 1, 0), err);
			*result = n < 0 ? NULL : cJSON_CreateNull();
		} else {
			if (strcmp(op, "sendto") == 0) {
				n = address_of(run, arg(args, 2), &addr)
					    ? sb_sendto(c, h, data, len, int_arg(args, 1, 0), &addr,
							err)
					    : -EINVAL;
			} else {
				n = sb_send(c, h, data, len, int_arg(args, 1, 0), err);
			}
			if (n >= 0)
				*result = cJSON_CreateNumber((double)n);
		}
		free(data);
		return n < 0 ? (int)n : 0;
	}
	if (strcmp(op, "recv") == 0 || strcmp(op, "recvfrom") == 0) {
		size_t size = (size_t)int_arg(args, 0, 0);
		uint8_t *buf = malloc(size > MAX_DATA ? MAX_DATA : size + 1);
		ssize_t n;
		if (!buf)
			abort();
		if (op[4] == 'f') {
			n = sb_recvfrom(c, h, buf, size, int_arg(args, 1, 0), &addr, err);
			if (n >= 0) {
				*result = cJSON_CreateArray();
				cJSON_AddItemToArray(*result, bytes_value(buf, (size_t)n));
				cJSON_AddItemToArray(*result, address_value(&addr));
			}
		} else {
			n = sb_recv(c, h, buf, size, int_arg(args, 1, 0), err);
			if (n >= 0)
				*result = bytes_value(buf, (size_t)n);
		}
		free(buf);
		return n < 0 ? (int)n : 0;
	}
	if (strcmp(op, "sendmsg") == 0)
		return op_sendmsg(run, h, args, err, result);
	if (strcmp(op, "recvmsg") == 0)
		return op_recvmsg(run, h, args, err, result);
	if (strcmp(op, "poll") == 0)
		return op_poll(run, args, err, result);
	if (strcmp(op, "create_connection") == 0) {
		const cJSON *where = arg(args, 0);
		r = sb_create_connection(c, cJSON_GetArrayItem(where, 0)->valuestring,
					 (unsigned)cJSON_GetArrayItem(where, 1)->valueint,
					 timeout_arg(args, 1), NULL, &out, NULL, NULL, NULL, err);
		if (r == 0)
			*result = handle_value(out);
		return r;
	}
	if (strcmp(op, "create_server") == 0) {
		if (!address_of(run, arg(args, 0), &addr))
			return -EINVAL;
		r = sb_create_server(c, &addr, 0, SB_BACKLOG_DEFAULT, false, false, &out, err);
		if (r == 0)
			*result = handle_value(out);
		return r;
	}
	if (strcmp(op, "getaddrinfo") == 0)
		return op_getaddrinfo(run, args, err, result);
	if (strcmp(op, "getnameinfo") == 0) {
		char serv[64];
		if (!address_of(run, arg(args, 0), &addr))
			return -EINVAL;
		r = sb_getnameinfo(c, &addr, int_arg(args, 1, 0), text, sizeof(text), serv,
				   sizeof(serv), err);
		if (r == 0) {
			*result = cJSON_CreateArray();
			cJSON_AddItemToArray(*result, cJSON_CreateString(text));
			cJSON_AddItemToArray(*result, cJSON_CreateString(serv));
		}
		return r;
	}
	if (strcmp(op, "gethostbyname_ex") == 0 || strcmp(op, "gethostbyaddr") == 0) {
		struct sb_hostent *entry;
		r = op[9] == '_' ? sb_gethostbyname_ex(c, string_arg(args, 0), &entry, err)
				 : sb_gethostbyaddr(c, string_arg(args, 0), &entry, err);
		if (r == 0)
			*result = hostent_value(entry);
		return r;
	}
	if (strcmp(op, "gethostbyname") == 0 || strcmp(op, "gethostname") == 0 ||
	    strcmp(op, "getservbyport") == 0 || strcmp(op, "if_indextoname") == 0) {
		if (strcmp(op, "gethostbyname") == 0)
			r = sb_gethostbyname(c, string_arg(args, 0), text, sizeof(text), err);
		else if (strcmp(op, "gethostname") == 0)
			r = sb_gethostname(c, text, sizeof(text), err);
		else if (strcmp(op, "getservbyport") == 0)
			r = sb_getservbyport(c, int_arg(args, 0, 0), string_arg(args, 1), text,
					     sizeof(text), err);
		else
			r = sb_if_indextoname(c, int_arg(args, 0, 0), text, sizeof(text), err);
		if (r == 0)
			*result = cJSON_CreateString(text);
		return r;
	}
	if (strcmp(op, "getservbyname") == 0 || strcmp(op, "getprotobyname") == 0 ||
	    strcmp(op, "if_nametoindex") == 0) {
		int value = 0;
		unsigned index = 0;
		if (strcmp(op, "getservbyname") == 0)
			r = sb_getservbyname(c, string_arg(args, 0), string_arg(args, 1), &value,
					     err);
		else if (strcmp(op, "getprotobyname") == 0)
			r = sb_getprotobyname(c, string_arg(args, 0), &value, err);
		else {
			r = sb_if_nametoindex(c, string_arg(args, 0), &index, err);
			value = (int)index;
		}
		if (r == 0)
			*result = cJSON_CreateNumber(value);
		return r;
	}
	if (strcmp(op, "CMSG_LEN") == 0 || strcmp(op, "CMSG_SPACE") == 0) {
		size_t size;
		r = op[5] == 'L' ? sb_cmsg_len(c, (size_t)int_arg(args, 0, 0), &size, err)
				 : sb_cmsg_space(c, (size_t)int_arg(args, 0, 0), &size, err);
		if (r == 0)
			*result = cJSON_CreateNumber((double)size);
		return r;
	}
	if (strcmp(op, "has_ipv6") == 0) {
		bool flag;
		r = sb_has_ipv6(c, &flag, err);
		if (r == 0)
			*result = cJSON_CreateBool(flag);
		return r;
	}
	fail(run, "unknown operation %s", op);
	return -ENOSYS;
}

/* ---- scenarios ----------------------------------------------------------- */

static void
run_scenario(struct run *run, const char *url, const cJSON *steps)
{
	struct sb_error err;
	int index = 0;
	const cJSON *step;

	if (sb_client_new(&run->client, url, "conformance-c", &err) < 0) {
		fail(run, "cannot connect to %s: %s", url, err.message);
		return;
	}
	run->vars = cJSON_CreateObject();
	cJSON_ArrayForEach(step, steps)
	{
		const char *op = cJSON_GetObjectItemCaseSensitive(step, "op")->valuestring;
		const cJSON *handle_spec = cJSON_GetObjectItemCaseSensitive(step, "handle");
		const cJSON *want_error = cJSON_GetObjectItemCaseSensitive(step, "error");
		const cJSON *as = cJSON_GetObjectItemCaseSensitive(step, "as");
		cJSON *args = resolve(run, cJSON_GetObjectItemCaseSensitive(step, "args"));
		cJSON *result = NULL;
		sb_handle h = 0;

		index++;
		if (cJSON_IsString(handle_spec)) {
			char name[128];
			snprintf(name, sizeof(name), "%s%s",
				 handle_spec->valuestring[0] == '$' ? "" : "$",
				 handle_spec->valuestring);
			cJSON *v = resolve_string(run, name);
			h = (sb_handle)v->valuedouble;
			cJSON_Delete(v);
		} else if (cJSON_IsNumber(handle_spec)) {
			h = (sb_handle)handle_spec->valuedouble;
		}
		memset(&err, 0, sizeof(err));
		int r = run->failure[0] ? -EINVAL : run_op(run, op, h, args, &err, &result);
		cJSON_Delete(args);
		if (run->failure[0]) {
			char why[sizeof(run->failure)];
			snprintf(why, sizeof(why), "%s", run->failure);
			run->failure[0] = '\0';
			fail(run, "step %d (%s): %s", index, op, why);
		} else if (r < 0) {
			const char *kind = sb_error_kind_name(err.kind);
			const cJSON *want_kind =
				cJSON_GetObjectItemCaseSensitive(want_error, "kind");
			const cJSON *want_errno =
				cJSON_GetObjectItemCaseSensitive(want_error, "errno");
			if (!want_error)
				fail(run, "step %d (%s): failed: %s %s (%s)", index, op, kind,
				     err.errno_name, err.message);
			else if (strcmp(kind, want_kind->valuestring) != 0 ||
				 (want_errno &&
				  strcmp(err.errno_name, want_errno->valuestring) != 0))
				fail(run, "step %d (%s): expected error %s %s, got %s %s (%s)",
				     index, op, want_kind->valuestring,
				     want_errno ? want_errno->valuestring : "", kind,
				     err.errno_name, err.message);
		} else if (want_error) {
			fail(run, "step %d (%s): expected an error, the call succeeded", index, op);
		} else {
			const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
			const cJSON *contains =
				cJSON_GetObjectItemCaseSensitive(step, "expect_contains");
			if (expect || contains) {
				cJSON *want = resolve(run, expect ? expect : contains);
				bool ok = false;
				if (expect) {
					ok = matches(want, result);
				} else if (cJSON_IsArray(result)) {
					const cJSON *item;
					cJSON_ArrayForEach(item, result) ok =
						ok || matches(want, item);
				}
				if (!ok) {
					char *w = cJSON_PrintUnformatted(want);
					char *g = result ? cJSON_PrintUnformatted(result)
							 : strdup("nothing");
					fail(run, "step %d (%s): expected %s%s, got %s", index, op,
					     expect ? "" : "an element ", w, g);
					free(w);
					free(g);
				}
				cJSON_Delete(want);
			}
			if (cJSON_IsString(as) && result) {
				cJSON_AddItemToObject(run->vars, as->valuestring, result);
				result = NULL;
			} else if (cJSON_IsArray(as) && cJSON_IsArray(result)) {
				for (int i = 0; i < cJSON_GetArraySize(as); i++)
					cJSON_AddItemToObject(
						run->vars, cJSON_GetArrayItem(as, i)->valuestring,
						cJSON_Duplicate(cJSON_GetArrayItem(result, i),
								true));
			}
		}
		cJSON_Delete(result);
		if (run->failure[0])
			break;
	}
	cJSON_Delete(run->vars);
	run->vars = NULL;
	sb_client_free(run->client);
	run->client = NULL;
}

static cJSON *
read_json(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;
	long size;
	char *text;
	cJSON *json;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "conformance-c: cannot open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = malloc((size_t)size + 1);
	if (!text || fread(text, 1, (size_t)size, f) != (size_t)size)
		abort();
	text[size] = '\0';
	fclose(f);
	json = cJSON_Parse(text);
	free(text);
	if (!json) {
		fprintf(stderr, "conformance-c: %s is not valid JSON\n", path);
		exit(2);
	}
	return json;
}

static int
compare_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static const char *
unsupported_reason(const char *name, const cJSON *steps, const char **op_out)
{
	const cJSON *step;

	for (size_t i = 0; unsupported_scenarios[i].name; i++) {
		if (strcmp(name, unsupported_scenarios[i].name) == 0) {
			*op_out = "scenario";
			return unsupported_scenarios[i].reason;
		}
	}
	cJSON_ArrayForEach(step, steps)
	{
		const char *op = cJSON_GetObjectItemCaseSensitive(step, "op")->valuestring;
		for (size_t i = 0; unsupported[i].op; i++) {
			if (strcmp(op, unsupported[i].op) == 0) {
				*op_out = op;
				return unsupported[i].reason;
			}
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : CONFORMANCE_DIR;
	const char *url = getenv("SOCKBROKER_URL");
	struct dirent **names;
	int passed = 0, failed = 0, total = 0;
	char skipped[8192] = "";
	int n_skipped = 0;

	if (!url) {
		fprintf(stderr, "conformance-c: set SOCKBROKER_URL to the daemon (run.py does)\n");
		return 2;
	}
	cJSON *fixtures_file = read_json(dir, "fixtures.json");
	const cJSON *fixtures = cJSON_GetObjectItemCaseSensitive(fixtures_file, "fixtures");
	int n = scandir(dir, &names, NULL, compare_names);
	if (n < 0) {
		fprintf(stderr, "conformance-c: cannot list %s: %s\n", dir, strerror(errno));
		return 2;
	}
	for (int i = 0; i < n; i++) {
		const char *file = names[i]->d_name;
		size_t len = strlen(file);
		if (len < 5 || strcmp(file + len - 5, ".json") != 0 ||
		    strcmp(file, "fixtures.json") == 0)
			continue;
		cJSON *doc = read_json(dir, file);
		const cJSON *scenario;
		cJSON_ArrayForEach(scenario, cJSON_GetObjectItemCaseSensitive(doc, "scenarios"))
		{
			const char *name =
				cJSON_GetObjectItemCaseSensitive(scenario, "name")->valuestring;
			const cJSON *setup = cJSON_GetObjectItemCaseSensitive(scenario, "setup");
			cJSON *steps = cJSON_CreateArray();
			const cJSON *step;
			const char *op = NULL;
			const char *reason;
			struct run run = {0};

			total++;
			if (cJSON_IsString(setup))
				cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(
								 fixtures, setup->valuestring))
					cJSON_AddItemToArray(steps, cJSON_Duplicate(step, true));
			cJSON_ArrayForEach(step,
					   cJSON_GetObjectItemCaseSensitive(scenario, "steps"))
				cJSON_AddItemToArray(steps, cJSON_Duplicate(step, true));
			reason = unsupported_reason(name, steps, &op);
			if (reason) {
				n_skipped++;
				size_t used = strlen(skipped);
				snprintf(skipped + used, sizeof(skipped) - used,
					 "  skip %s: %s: %s\n", name, op, reason);
			} else {
				run_scenario(&run, url, steps);
				if (run.failure[0]) {
					failed++;
					printf("FAIL %s (%s): %s\n", name, file, run.failure);
				} else {
					passed++;
					printf("ok %s\n", name);
				}
				fflush(stdout);
			}
			cJSON_Delete(steps);
		}
		cJSON_Delete(doc);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	cJSON_Delete(fixtures_file);
	printf("\nC runner: %d scenarios; skipped:%s\n%s", total, n_skipped ? "" : " none",
	       skipped);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, n_skipped);
	return failed ? 1 : passed ? 0 : 77;
}
