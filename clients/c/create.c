/*
 * The reference's module functions that make sockets in one step:
 * create_connection and create_server, and has_dualstack_ipv6, which tells
 * whether create_server's dualstack_ipv6 can work. The daemon does the
 * whole job; these only build the request and read the answer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

static int
address_argument(const struct sb_addr *addr, const char *name, Sockbroker__V1__Address **wire,
		 struct sb_error *err)
{
	int r = sb__addr_to_wire(addr, wire);

	if (r == -ENOMEM)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
	if (r < 0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, -r,
				     "%s is malformed (a host without its NUL, or a length "
				     "beyond its array)",
				     name);
	return 0;
}

/* The all_errors failure: every attempt's error, the last one in `err`. */
static int
attempts_failed(const Sockbroker__V1__CreateConnectionReply *created,
		struct sb_error *attempt_errors, size_t *n_attempt_errors, struct sb_error *err)
{
	size_t n = created->n_attempt_errors;
	size_t capacity = *n_attempt_errors;

	if (n == 0)
		return sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
				     "the broker answered create_connection with neither a "
				     "socket nor an error");
	for (size_t i = 0; i < n && i < capacity; i++)
		sb__error_from_wire(&attempt_errors[i], created->attempt_errors[i]);
	*n_attempt_errors = n;
	return sb__error_from_wire(err, created->attempt_errors[n - 1]);
}

static int
create_connection(struct sb_client *c, const char *host, unsigned port, double timeout,
		  const struct sb_addr *source, int *fd, sb_handle *out, struct sb_addr *peer,
		  struct sb_error *attempt_errors, size_t *n_attempt_errors, struct sb_error *err)
{
	Sockbroker__V1__CreateConnectionRequest args =
		SOCKBROKER__V1__CREATE_CONNECTION_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	const Sockbroker__V1__CreateConnectionReply *created;
	Sockbroker__V1__Reply *reply;
	int r;

	if (host == NULL || out == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "%s must not be NULL",
				     host == NULL ? "host" : "out");
	if (attempt_errors != NULL && n_attempt_errors == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
				     "n_attempt_errors must not be NULL with attempt_errors");
	if (source != NULL) {
		r = address_argument(source, "the source address", &args.source_address, err);
		if (r < 0)
			return r;
	}
	args.host = (char *)host;
	args.has_port = true;
	args.port = port;
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_timeout = true;
		args.timeout = timeout;
	}
	if (attempt_errors != NULL) {
		args.has_all_errors = true;
		args.all_errors = true;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CREATE_CONNECTION;
	request.create_connection = &args;

	if (fd != NULL) {
		args.has_handoff = true;
		args.handoff = true;
		r = sb__call_fd(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_CREATE_CONNECTION,
				&reply, fd, err);
	} else {
		r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_CREATE_CONNECTION,
			     &reply, err);
	}
	sb__addr_wire_free(args.source_address);
	if (r < 0)
		return r;
	created = reply->create_connection;
	if (created->socket == NULL) {
		if (attempt_errors != NULL)
			r = attempts_failed(created, attempt_errors, n_attempt_errors, err);
		else
			r = sb__error_set(err, SB_ERR_TRANSPORT, EPROTO,
					  "the broker answered create_connection without a "
					  "socket");
		sb__reply_free(reply);
		return r;
	}
	/* A handed-over socket has no handle any more. */
	*out = fd != NULL && *fd >= 0 ? 0 : created->socket->handle;
	if (peer != NULL)
		sb__addr_from_wire(peer, created->peer);
	if (n_attempt_errors != NULL)
		*n_attempt_errors = 0;
	sb__reply_free(reply);
	return 0;
}

int
sb_create_connection(struct sb_client *c, const char *host, unsigned port, double timeout,
		     const struct sb_addr *source, sb_handle *out, struct sb_addr *peer,
		     struct sb_error *attempt_errors, size_t *n_attempt_errors,
		     struct sb_error *err)
{
	return create_connection(c, host, port, timeout, source, NULL, out, peer, attempt_errors,
				 n_attempt_errors, err);
}

int
sb_create_connection_fd(struct sb_client *c, const char *host, unsigned port, double timeout,
			const struct sb_addr *source, int *fd, sb_handle *out,
			struct sb_addr *peer, struct sb_error *err)
{
	if (fd == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "fd must not be NULL");
	*fd = -1;
	return create_connection(c, host, port, timeout, source, fd, out, peer, NULL, NULL, err);
}

int
sb_create_server(struct sb_client *c, const struct sb_addr *addr, int family, int backlog,
		 bool reuse_port, bool dualstack_ipv6, sb_handle *out, struct sb_error *err)
{
	Sockbroker__V1__CreateServerRequest args = SOCKBROKER__V1__CREATE_SERVER_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	double timeout = sb_client_default_timeout(c);
	int r;

	if (addr == NULL || out == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "%s must not be NULL",
				     addr == NULL ? "the address" : "out");
	r = address_argument(addr, "the address", &args.address, err);
	if (r < 0)
		return r;
	if (family != 0) {
		args.has_family = true;
		args.family = family;
	}
	if (backlog != SB_BACKLOG_DEFAULT) {
		args.has_backlog = true;
		args.backlog = backlog;
	}
	args.has_reuse_port = true;
	args.reuse_port = reuse_port;
	args.has_dualstack_ipv6 = true;
	args.dualstack_ipv6 = dualstack_ipv6;
	if (timeout != SB_TIMEOUT_NONE) {
		args.has_timeout = true;
		args.timeout = timeout;
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_CREATE_SERVER;
	request.create_server = &args;

	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_SOCKET, &reply, err);
	sb__addr_wire_free(args.address);
	if (r < 0)
		return r;
	*out = reply->socket->handle;
	sb__reply_free(reply);
	return 0;
}

int
sb_has_dualstack_ipv6(struct sb_client *c, bool *result, struct sb_error *err)
{
	Sockbroker__V1__Empty args = SOCKBROKER__V1__EMPTY__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	int r;

	if (result == NULL)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL, "result must not be NULL");
	request.op_case = SOCKBROKER__V1__REQUEST__OP_HAS_DUALSTACK_IPV6;
	request.has_dualstack_ipv6 = &args;
	r = sb__call(c, &request, 0, SOCKBROKER__V1__REPLY__RESULT_FLAG, &reply, err);
	if (r < 0)
		return r;
	*result = reply->flag->has_value && reply->flag->value;
	sb__reply_free(reply);
	return 0;
}
