/*
 * The name service, the host's name and its interfaces: one function per
 * operation, as in ops.c. Results with lists (getaddrinfo, the host entries,
 * if_nameindex) are returned in one allocation each, which the caller frees
 * with the matching _free function; strings go into the caller's buffers,
 * and a string that does not fit is an error (-ERANGE), never cut short.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

/*
 * Returns the constant itself rather than sb__error_set()'s result: callers
 * read an output only when the call returned 0, and only a failure the
 * compiler can see is nonzero lets it prove that the output was set.
 */
static int
wrong_result(struct sb_error *err)
{
	sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
		      "the broker sent a result that does not match the request");
	return -EPROTO;
}

/* Copy a string result into the caller's buffer. */
static int
copy_out(const char *value, char *out, size_t len, const char *what, struct sb_error *err)
{
	size_t n;

	if (value == NULL)
		value = "";
	n = strlen(value);
	if (n >= len)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, ERANGE,
				     "the %s (%zu bytes) does not fit the buffer of %zu bytes",
				     what, n, len);
	memcpy(out, value, n + 1);
	return 0;
}

/* A request whose reply carries one string (StringReply). */
static int
string_call(struct sb_client *c, Sockbroker__V1__Request *request, char *out, size_t len,
	    const char *what, struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	r = sb__call(c, request, 0, SOCKBROKER__V1__REPLY__RESULT_STRING, &reply, err);
	if (r < 0)
		return r;
	r = copy_out(reply->string->value, out, len, what, err);
	sb__reply_free(reply);
	return r;
}

/* A request whose reply carries one integer (IntReply). */
static int
integer_call(struct sb_client *c, Sockbroker__V1__Request *request, int64_t *value,
	     struct sb_error *err)
{
	Sockbroker__V1__Reply *reply;
	int r;

	r = sb__call(c, request, 0, SOCKBROKER__V1__REPLY__RESULT_INTEGER, &reply, err);
	if (r < 0)
		return r;
	if (!reply->integer->has_value) {
		sb__reply_free(reply);
		return wrong_result(err);
	}
	*value = reply->integer->value;
	sb__reply_free(reply);
	return 0;
}

/* getaddrinfo */

int
sb_getaddrinfo(struct sb_client *c, const char *host, const char *port, int family, int type,
	       int proto, int flags, struct sb_addrinfo **results, size_t *count,
	       struct sb_error *err)
{
	Sockbroker__V1__GetAddrInfoRequest args = SOCKBROKER__V1__GET_ADDR_INFO_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__GetAddrInfoReply *found;
	Sockbroker__V1__Reply *reply;
	struct sb_addrinfo *list;
	size_t n, names = 0;
	char *text;
	int r;

	if (results == NULL)
		return sb__missing_argument(err, "results");
	if (count == NULL)
		return sb__missing_argument(err, "count");
	args.host = (char *)(uintptr_t)host;
	args.port = (char *)(uintptr_t)port;
	args.has_family = args.has_type = args.has_proto = args.has_flags = true;
	args.family = family;
	args.type = type;
	args.proto = proto;
	args.flags = flags;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETADDRINFO;
	request.getaddrinfo = &args;

	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_GETADDRINFO, &reply, err);
	if (r < 0)
		return r;
	found = reply->getaddrinfo;
	n = found->n_results;
	for (size_t i = 0; i < n; i++)
		names += (found->results[i]->canonname ? strlen(found->results[i]->canonname) : 0) +
			 1;
	/* The entries, then their canonical names: one block. */
	list = malloc((n ? n : 1) * sizeof(*list) + names);
	if (list == NULL) {
		sb__reply_free(reply);
		return sb__out_of_memory(err);
	}
	text = (char *)(list + (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		const Sockbroker__V1__AddrInfo *info = found->results[i];
		const char *canonname = info->canonname ? info->canonname : "";

		list[i].family = info->family;
		list[i].type = info->type;
		list[i].proto = info->proto;
		list[i].canonname = text;
		memcpy(text, canonname, strlen(canonname) + 1);
		text += strlen(canonname) + 1;
		sb__addr_from_wire(&list[i].addr, info->address);
	}
	sb__reply_free(reply);
	*results = list;
	*count = n;
	return 0;
}

void
sb_addrinfo_free(struct sb_addrinfo *results)
{
	free(results);
}

/* getnameinfo */

int
sb_getnameinfo(struct sb_client *c, const struct sb_addr *addr, int flags, char *host,
	       size_t hostlen, char *serv, size_t servlen, struct sb_error *err)
{
	Sockbroker__V1__GetNameInfoRequest args = SOCKBROKER__V1__GET_NAME_INFO_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	int r;

	if (addr == NULL)
		return sb__missing_argument(err, "addr");
	if (host == NULL)
		return sb__missing_argument(err, "host");
	if (serv == NULL)
		return sb__missing_argument(err, "serv");
	r = sb__addr_to_wire(addr, &args.address);
	if (r == -ENOMEM)
		return sb__out_of_memory(err);
	if (r < 0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, -r,
				     "the address is malformed (a host without its NUL, or a "
				     "length beyond its array)");
	args.has_flags = true;
	args.flags = flags;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETNAMEINFO;
	request.getnameinfo = &args;

	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_GETNAMEINFO, &reply, err);
	sb__addr_wire_free(args.address);
	if (r < 0)
		return r;
	r = copy_out(reply->getnameinfo->host, host, hostlen, "host name", err);
	if (r == 0)
		r = copy_out(reply->getnameinfo->service, serv, servlen, "service name", err);
	sb__reply_free(reply);
	return r;
}

/* host entries */

/* The size of `s` with its NUL, "" for NULL. */
static size_t
string_size(const char *s)
{
	return (s ? strlen(s) : 0) + 1;
}

/* Copy `s` to *text and advance it; returns the copy. */
static char *
take_string(char **text, const char *s)
{
	char *copy = *text;
	size_t n = string_size(s);

	memcpy(copy, s ? s : "", n);
	*text += n;
	return copy;
}

static int
hostent_call(struct sb_client *c, Sockbroker__V1__Request *request, struct sb_hostent **out,
	     struct sb_error *err)
{
	const Sockbroker__V1__HostEntReply *found;
	Sockbroker__V1__Reply *reply;
	struct sb_hostent *entry;
	size_t size;
	char *text;
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	r = sb__call(c, request, 0, SOCKBROKER__V1__REPLY__RESULT_HOSTENT, &reply, err);
	if (r < 0)
		return r;
	found = reply->hostent;

	/* The entry, its two NULL-terminated pointer arrays, then the strings. */
	size = sizeof(*entry) + (found->n_aliases + found->n_addresses + 2) * sizeof(char *);
	size += string_size(found->hostname);
	for (size_t i = 0; i < found->n_aliases; i++)
		size += string_size(found->aliases[i]);
	for (size_t i = 0; i < found->n_addresses; i++)
		size += string_size(found->addresses[i]);
	entry = malloc(size);
	if (entry == NULL) {
		sb__reply_free(reply);
		return sb__out_of_memory(err);
	}
	entry->aliases = (char **)(entry + 1);
	entry->addresses = entry->aliases + found->n_aliases + 1;
	text = (char *)(entry->addresses + found->n_addresses + 1);
	entry->name = take_string(&text, found->hostname);
	for (size_t i = 0; i < found->n_aliases; i++)
		entry->aliases[i] = take_string(&text, found->aliases[i]);
	entry->aliases[found->n_aliases] = NULL;
	entry->n_aliases = found->n_aliases;
	for (size_t i = 0; i < found->n_addresses; i++)
		entry->addresses[i] = take_string(&text, found->addresses[i]);
	entry->addresses[found->n_addresses] = NULL;
	entry->n_addresses = found->n_addresses;
	sb__reply_free(reply);
	*out = entry;
	return 0;
}

void
sb_hostent_free(struct sb_hostent *entry)
{
	free(entry);
}

/* Build the HostNameRequest of `op` for `name` in `request`. */
static void
host_name_request(Sockbroker__V1__Request *request, Sockbroker__V1__HostNameRequest *args,
		  Sockbroker__V1__Request__OpCase op, const char *name)
{
	args->name = (char *)(uintptr_t)name;
	request->op_case = op;
	switch (op) {
	case SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME:
		request->gethostbyname = args;
		break;
	case SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME_EX:
		request->gethostbyname_ex = args;
		break;
	case SOCKBROKER__V1__REQUEST__OP_GETHOSTBYADDR:
		request->gethostbyaddr = args;
		break;
	default:
		request->getfqdn = args;
		break;
	}
}

int
sb_gethostbyname(struct sb_client *c, const char *name, char *out, size_t len, struct sb_error *err)
{
	Sockbroker__V1__HostNameRequest args = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (name == NULL)
		return sb__missing_argument(err, "name");
	host_name_request(&request, &args, SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME, name);
	return string_call(c, &request, out, len, "address", err);
}

int
sb_gethostbyname_ex(struct sb_client *c, const char *name, struct sb_hostent **out,
		    struct sb_error *err)
{
	Sockbroker__V1__HostNameRequest args = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (name == NULL)
		return sb__missing_argument(err, "name");
	host_name_request(&request, &args, SOCKBROKER__V1__REQUEST__OP_GETHOSTBYNAME_EX, name);
	return hostent_call(c, &request, out, err);
}

int
sb_gethostbyaddr(struct sb_client *c, const char *address, struct sb_hostent **out,
		 struct sb_error *err)
{
	Sockbroker__V1__HostNameRequest args = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (address == NULL)
		return sb__missing_argument(err, "address");
	host_name_request(&request, &args, SOCKBROKER__V1__REQUEST__OP_GETHOSTBYADDR, address);
	return hostent_call(c, &request, out, err);
}

int
sb_getfqdn(struct sb_client *c, const char *name, char *out, size_t len, struct sb_error *err)
{
	Sockbroker__V1__HostNameRequest args = SOCKBROKER__V1__HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	host_name_request(&request, &args, SOCKBROKER__V1__REQUEST__OP_GETFQDN, name);
	return string_call(c, &request, out, len, "name", err);
}

/* the host's name */

int
sb_gethostname(struct sb_client *c, char *out, size_t len, struct sb_error *err)
{
	Sockbroker__V1__Empty args = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETHOSTNAME;
	request.gethostname = &args;
	return string_call(c, &request, out, len, "host name", err);
}

int
sb_sethostname(struct sb_client *c, const void *name, size_t len, struct sb_error *err)
{
	Sockbroker__V1__SetHostNameRequest args = SOCKBROKER__V1__SET_HOST_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	if (name == NULL && len > 0)
		return sb__missing_argument(err, "name");
	args.has_name = true;
	args.name.len = len;
	args.name.data = (uint8_t *)(uintptr_t)name;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SETHOSTNAME;
	request.sethostname = &args;
	return sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_DONE, NULL, err);
}

/* protocols and services */

int
sb_getprotobyname(struct sb_client *c, const char *name, int *proto, struct sb_error *err)
{
	Sockbroker__V1__GetProtoByNameRequest args =
		SOCKBROKER__V1__GET_PROTO_BY_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	int64_t value;
	int r;

	if (name == NULL)
		return sb__missing_argument(err, "name");
	if (proto == NULL)
		return sb__missing_argument(err, "proto");
	args.name = (char *)(uintptr_t)name;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETPROTOBYNAME;
	request.getprotobyname = &args;
	r = integer_call(c, &request, &value, err);
	if (r == 0)
		*proto = (int)value;
	return r;
}

int
sb_getservbyname(struct sb_client *c, const char *name, const char *proto, int *port,
		 struct sb_error *err)
{
	Sockbroker__V1__GetServByNameRequest args = SOCKBROKER__V1__GET_SERV_BY_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	int64_t value;
	int r;

	if (name == NULL)
		return sb__missing_argument(err, "name");
	if (port == NULL)
		return sb__missing_argument(err, "port");
	args.name = (char *)(uintptr_t)name;
	args.proto = (char *)(uintptr_t)proto;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSERVBYNAME;
	request.getservbyname = &args;
	r = integer_call(c, &request, &value, err);
	if (r == 0)
		*port = (int)value;
	return r;
}

int
sb_getservbyport(struct sb_client *c, int port, const char *proto, char *out, size_t len,
		 struct sb_error *err)
{
	Sockbroker__V1__GetServByPortRequest args = SOCKBROKER__V1__GET_SERV_BY_PORT_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	/* Out-of-range ports go to the daemon, which says what is allowed. */
	args.has_port = true;
	args.port = port;
	args.proto = (char *)(uintptr_t)proto;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_GETSERVBYPORT;
	request.getservbyport = &args;
	return string_call(c, &request, out, len, "service name", err);
}

/* interfaces */

int
sb_if_nameindex(struct sb_client *c, struct sb_interface **interfaces, size_t *count,
		struct sb_error *err)
{
	Sockbroker__V1__Empty args = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__IfNameIndexReply *found;
	Sockbroker__V1__Reply *reply;
	struct sb_interface *list;
	size_t n, names = 0;
	char *text;
	int r;

	if (interfaces == NULL)
		return sb__missing_argument(err, "interfaces");
	if (count == NULL)
		return sb__missing_argument(err, "count");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_IF_NAMEINDEX;
	request.if_nameindex = &args;
	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_IF_NAMEINDEX, &reply, err);
	if (r < 0)
		return r;
	found = reply->if_nameindex;
	n = found->n_interfaces;
	for (size_t i = 0; i < n; i++)
		names += string_size(found->interfaces[i]->name);
	list = malloc((n ? n : 1) * sizeof(*list) + names);
	if (list == NULL) {
		sb__reply_free(reply);
		return sb__out_of_memory(err);
	}
	text = (char *)(list + (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		list[i].index = found->interfaces[i]->index;
		list[i].name = take_string(&text, found->interfaces[i]->name);
	}
	sb__reply_free(reply);
	*interfaces = list;
	*count = n;
	return 0;
}

void
sb_if_nameindex_free(struct sb_interface *interfaces)
{
	free(interfaces);
}

int
sb_if_nametoindex(struct sb_client *c, const char *name, unsigned *index, struct sb_error *err)
{
	Sockbroker__V1__IfNameToIndexRequest args = SOCKBROKER__V1__IF_NAME_TO_INDEX_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	int64_t value;
	int r;

	if (name == NULL)
		return sb__missing_argument(err, "name");
	if (index == NULL)
		return sb__missing_argument(err, "index");
	args.name = (char *)(uintptr_t)name;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_IF_NAMETOINDEX;
	request.if_nametoindex = &args;
	r = integer_call(c, &request, &value, err);
	if (r == 0)
		*index = (unsigned)value;
	return r;
}

int
sb_if_indextoname(struct sb_client *c, int64_t index, char *out, size_t len, struct sb_error *err)
{
	Sockbroker__V1__IfIndexToNameRequest args = SOCKBROKER__V1__IF_INDEX_TO_NAME_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;

	/* Out-of-range indexes go to the daemon, which says what is allowed. */
	args.has_index = true;
	args.index = index;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_IF_INDEXTONAME;
	request.if_indextoname = &args;
	return string_call(c, &request, out, len, "interface name", err);
}
