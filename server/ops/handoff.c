/*
 * Handoff: the socket itself goes to a local client, which then uses it
 * natively, once the policy has judged it. The descriptor travels with the
 * reply's frame (SCM_RIGHTS on an ipc:// or abstract:// connection); the
 * daemon closes its copy and forgets the handle, so a handed-off socket
 * counts against nothing here afterwards.
 *
 * What may go: a socket whose peer is fixed (connected or accepted), of a
 * kind a "handoff" rule allows, with no operation waiting on it, on a
 * connection that can carry descriptors, for a session whose quota does not
 * meter bytes (those are counted here, on the RPC path, and nowhere else).
 * Listening, unconnected and connectionless sockets never go: they could
 * reach what the policy would judge per peer (a connected UDP socket still
 * sends wherever sendto() names). A TCP socket goes held to its peer by a
 * locked socket filter (monitor_pin()): reconnected elsewhere by the client,
 * it never completes a connection. A TCP socket whose connect_ex (asked with
 * handoff) is still in progress goes too: its peer is the address that
 * connect just judged, fixed from SYN_SENT on, so that a non-blocking
 * connect of a client (sbrun) stays non-blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../audit.h"
#include "../handle.h"
#include "../log.h"
#include "../monitor.h"
#include "ops.h"
#include "../policy.h"
#include "../quota.h"
#include "../session.h"

static bool
refuse(struct reply_error *why, enum error_kind kind, int errnum, const char *rule,
       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bool
refuse(struct reply_error *why, enum error_kind kind, int errnum, const char *rule,
       const char *fmt, ...)
{
	va_list ap;
	memset(why, 0, sizeof(*why));
	why->kind = kind;
	why->errnum = errnum;
	why->rule = rule;
	why->operation = "handoff";
	va_start(ap, fmt);
	vsnprintf(why->message, sizeof(why->message), fmt, ap);
	va_end(ap);
	return false;
}

/* The handoff asked with this connect_ex, whose TCP handshake is under way: its
 * peer, unreadable with getpeername() until the handshake ends, is the target
 * connect judged (the kernel connects a SYN_SENT socket nowhere else). */
static bool
connect_in_progress(const struct op *op, const struct handle *handle,
		    struct sockaddr_storage *peer, socklen_t *peer_len)
{
	if (op->req->op != OP_CONNECT || handle != op->handle || handle->type != SOCK_STREAM ||
	    (handle->family != AF_INET && handle->family != AF_INET6))
		return false;
	struct tcp_info info;
	socklen_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (getsockopt(handle->fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 ||
	    info.tcpi_state != TCP_SYN_SENT)
		return false;
	memcpy(peer, &op->target.ss, sizeof(*peer));
	*peer_len = op->target.len;
	return true;
}

bool
op_handoff_allowed(const struct op *op, struct handle *handle, const char **rule,
		   struct reply_error *why)
{
	const struct quota_account *account = op->session->quota;

	*rule = NULL;
	if (!op_can_pass_fds(op))
		return refuse(why, ERROR_UNSUPPORTED, EOPNOTSUPP, NULL,
			      "handoff needs an ipc:// or abstract:// connection (descriptors "
			      "cannot travel on %s); the socket stays brokered",
			      op->session->identity.peer);
	if (!list_empty(&handle->parked_reads) || !list_empty(&handle->parked_writes) ||
	    !list_empty(&handle->poll_waiters))
		return refuse(why, ERROR_OS, EBUSY, NULL,
			      "handle %llu has operations waiting; hand it off once they are done",
			      (unsigned long long)handle->id);
	if (account && (account->limits->send_bytes_per_second ||
			account->limits->recv_bytes_per_second))
		return refuse(why, ERROR_DENIED, EACCES, account->limits->name,
			      "quota \"%s\" meters this session's bytes, which only the daemon "
			      "can do: its sockets are not handed off",
			      account->limits->name);
	int listening = 0;
	socklen_t optlen = sizeof(listening);
	if (getsockopt(handle->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 &&
	    listening)
		return refuse(why, ERROR_DENIED, EACCES, NULL,
			      "a listening socket is not handed off (its connections are judged "
			      "one by one); accept them with handoff instead");

	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	memset(&peer, 0, sizeof(peer));
	if (getpeername(handle->fd, (struct sockaddr *)&peer, &peer_len) < 0 &&
	    !connect_in_progress(op, handle, &peer, &peer_len))
		return refuse(why, ERROR_DENIED, EACCES, NULL,
			      "handle %llu is not connected: only a socket whose peer is fixed "
			      "is handed off",
			      (unsigned long long)handle->id);

	struct policy_request request = {
		.op = POLICY_OP_HANDOFF,
		.has_socket = true,
		.family = handle->family,
		.type = handle->type,
		.proto = handle->proto,
	};
	if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
		request.addr = (const struct sockaddr *)&peer;
		request.addrlen = peer_len;
	}
	struct policy_identity id;
	struct policy_decision decision;
	op_identity(op->session, &id);
	policy_check(op->ctx->policy, &id, &request, &decision);
	if (!decision.allow)
		return refuse(why, ERROR_DENIED, decision.errnum ? decision.errnum : EACCES,
			      decision.rule,
			      "handing this socket to the client is not allowed by the daemon's "
			      "policy (rule \"%s\"); it stays brokered",
			      decision.rule);
	/* A connected datagram (or raw) socket still sends wherever sendto()
	 * names, which the policy judges destination by destination: only a
	 * connection's socket goes, of a kind whose peer can be held fixed. */
	if (handle->type != SOCK_STREAM && handle->type != SOCK_SEQPACKET)
		return refuse(why, ERROR_DENIED, EACCES, NULL,
			      "handle %llu is a connectionless socket: even connected it can send "
			      "to any address, so it is not handed off and stays brokered",
			      (unsigned long long)handle->id);
	if (handle->family == AF_INET || handle->family == AF_INET6) {
		/* TCP only: an SCTP association takes peers the policy never saw. */
		if (handle->type != SOCK_STREAM ||
		    (handle->proto != 0 && handle->proto != IPPROTO_TCP))
			return refuse(why, ERROR_DENIED, EACCES, NULL,
				      "handle %llu is not a TCP socket (protocol %d): only TCP "
				      "connections are handed off; it stays brokered",
				      (unsigned long long)handle->id, handle->proto);
		int r = monitor_pin(handle->fd, (const struct sockaddr *)&peer, peer_len);
		if (r < 0)
			return refuse(why, ERROR_OS, -r, NULL,
				      "handle %llu: cannot hold it to its peer (%s), so it is not "
				      "handed off and stays brokered",
				      (unsigned long long)handle->id, strerror(-r));
	} else if (handle->family != AF_UNIX) {
		/* A local stream connection cannot be made again once made; of other
		 * families nothing is known here. */
		return refuse(why, ERROR_DENIED, EACCES, NULL,
			      "handle %llu: sockets of family %d are not handed off (only TCP and "
			      "AF_UNIX connections are); it stays brokered",
			      (unsigned long long)handle->id, handle->family);
	}
	*rule = decision.rule;
	return true;
}

int
op_hand_over(struct op *op, struct handle *handle, const char *rule, struct reply *reply)
{
	int fd = fcntl(handle->fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	uint64_t id = handle->id;
	op_attach_fd(op, fd);
	reply->handed_off = true;
	op_audit_event(op, "sockbroker.handoff", id, rule);
	char who[160];
	session_describe(op->session, who, sizeof(who));
	log_debug("%s: handle %llu handed off (rule \"%s\")", who, (unsigned long long)id, rule);
	/* The client holds it now: nothing waits on it here (checked). */
	dispatch_close_handle(handle);
	return 0;
}

int
op_handoff(struct op *op, struct reply *reply)
{
	const char *rule;
	if (!op_handoff_allowed(op, op->handle, &rule, &reply->error)) {
		if (reply->error.kind == ERROR_DENIED)
			return op_refused(op, reply, AUDIT_DENY, reply->error.rule);
		return OP_FAILED;
	}
	int r = op_hand_over(op, op->handle, rule, reply);
	if (r < 0)
		return r;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}

void
op_handoff_if_asked(struct op *op, struct reply *reply)
{
	uint64_t id = 0;

	if (!op->req->handoff || reply->error.kind != ERROR_NONE)
		return;
	if (reply->shape == REPLY_ACCEPT)
		id = reply->accept.socket.handle;
	else if (reply->shape == REPLY_CREATE_CONNECTION && reply->create_connection.connected)
		id = reply->create_connection.socket.handle;
	else if (op->req->op == OP_CONNECT && op->handle && !op->req->addr.ex)
		id = op->handle->id;
	else if (op->req->op == OP_CONNECT && op->handle &&
		 (reply->connect.errnum == 0 || reply->connect.errnum == EINPROGRESS))
		id = op->handle->id;
	struct handle *handle = id ? handle_find(op->ctx->handles, op->session, id) : NULL;
	if (!handle)
		return;
	const char *rule;
	struct reply_error why;
	if (!op_handoff_allowed(op, handle, &rule, &why)) {
		log_debug("handle %llu stays brokered: %s", (unsigned long long)id, why.message);
		return;
	}
	if (op_hand_over(op, handle, rule, reply) < 0)
		log_warn("handle %llu stays brokered: cannot duplicate its descriptor: %s",
			 (unsigned long long)id, strerror(errno));
}
