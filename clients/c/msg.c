/*
 * Messages: sendmsg and recvmsg with ancillary data, send_fds and recv_fds
 * on top of them, and sendfile as sendall pieces of a local file.
 */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "sockbroker.pb-c.h"

/* sendfile reads and sends the file in pieces of this size: on an error,
 * *sent is short by at most the bytes of the piece that failed. */
#define SENDFILE_PIECE (256 * 1024)

/* protobuf-c's fields are not const; requests only read them. */
static ProtobufCBinaryData
bytes_of(const void *buf, size_t len)
{
	return (ProtobufCBinaryData){ .len = len, .data = (uint8_t *)(uintptr_t)buf };
}

/* ---- sendmsg ---------------------------------------------------------------- */

/* One Ancillary and the decoded member it may point to. */
struct wire_cmsg {
	Sockbroker__V1__Ancillary ancillary;
	Sockbroker__V1__Rights rights;
	Sockbroker__V1__Credentials credentials;
	Sockbroker__V1__PktInfo pktinfo;
};

static bool
has_nul(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

static int
ancillary_to_wire(const struct sb_cmsg *cmsg, size_t index, struct wire_cmsg *w,
		  struct sb_error *err)
{
	Sockbroker__V1__Ancillary *a = &w->ancillary;

	sockbroker__v1__ancillary__init(a);
	a->has_level = a->has_type = true;
	a->level = cmsg->level;
	a->type = cmsg->type;
	switch (cmsg->view) {
	case SB_CMSG_RAW:
		if (cmsg->data == NULL && cmsg->len > 0)
			return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
					     "ancillary[%zu].data must not be NULL", index);
		a->has_data = true;
		a->data = bytes_of(cmsg->data, cmsg->len);
		return 0;
	case SB_CMSG_RIGHTS:
		if (cmsg->rights.handles == NULL && cmsg->rights.count > 0)
			return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
					     "ancillary[%zu].rights.handles must not be NULL",
					     index);
		sockbroker__v1__rights__init(&w->rights);
		w->rights.n_handles = cmsg->rights.count;
		w->rights.handles = (uint64_t *)(uintptr_t)cmsg->rights.handles;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_RIGHTS;
		a->rights = &w->rights;
		return 0;
	case SB_CMSG_CREDENTIALS:
		sockbroker__v1__credentials__init(&w->credentials);
		w->credentials.has_pid = w->credentials.has_uid = w->credentials.has_gid = true;
		w->credentials.pid = cmsg->credentials.pid;
		w->credentials.uid = cmsg->credentials.uid;
		w->credentials.gid = cmsg->credentials.gid;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_CREDENTIALS;
		a->credentials = &w->credentials;
		return 0;
	case SB_CMSG_PKTINFO:
		if (!has_nul(cmsg->pktinfo.spec_dst, sizeof(cmsg->pktinfo.spec_dst)) ||
		    !has_nul(cmsg->pktinfo.addr, sizeof(cmsg->pktinfo.addr)))
			return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
					     "ancillary[%zu].pktinfo: an address without its NUL",
					     index);
		sockbroker__v1__pkt_info__init(&w->pktinfo);
		w->pktinfo.has_ifindex = true;
		w->pktinfo.ifindex = cmsg->pktinfo.ifindex;
		if (cmsg->pktinfo.spec_dst[0])
			w->pktinfo.spec_dst = (char *)(uintptr_t)cmsg->pktinfo.spec_dst;
		if (cmsg->pktinfo.addr[0])
			w->pktinfo.addr = (char *)(uintptr_t)cmsg->pktinfo.addr;
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_PKTINFO;
		a->pktinfo = &w->pktinfo;
		return 0;
	case SB_CMSG_INT:
		a->decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE;
		a->int_value = cmsg->int_value;
		return 0;
	default:
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
				     "ancillary[%zu]: timestamp and extended_error views are only "
				     "received, never sent; give raw data (SB_CMSG_RAW)",
				     index);
	}
}

/* The buffers of a plain sendmsg as one write-behind sendall (see sb__send_behind()). */
static int
send_behind(struct sb_client *c, sb_handle h, const struct iovec *buffers, size_t n_buffers,
	    size_t total, struct sb_error *err)
{
	Sockbroker__V1__SendRequest args = SOCKBROKER__V1__SEND_REQUEST__INIT;
	uint8_t *joined = NULL;
	int r;

	args.has_handle = true;
	args.handle = h;
	args.has_data = true;
	args.has_flags = true;
	args.flags = 0;
	if (n_buffers == 1) {
		args.data = bytes_of(buffers[0].iov_base, total);
	} else {
		size_t offset = 0;

		/* Without memory for the copy it goes the usual way. */
		if (total > sb__client_max_data_size(c) || !(joined = malloc(total)))
			return 0;
		for (size_t i = 0; i < n_buffers; i++) {
			if (buffers[i].iov_len > 0)
				memcpy(joined + offset, buffers[i].iov_base, buffers[i].iov_len);
			offset += buffers[i].iov_len;
		}
		args.data = bytes_of(joined, total);
	}
	r = sb__send_behind(c, h, &args, total, err);
	free(joined);
	return r;
}

/* sb_sendmsg()'s arguments checked, and the total length of its data in *total. 0, or
 * -errno with `err` filled. */
static int
check_sendmsg_args(struct sb_client *c, const struct iovec *buffers, size_t n_buffers,
		   const struct sb_cmsg *ancillary, size_t n_ancillary, size_t *total,
		   struct sb_error *err)
{
	*total = 0;
	if (buffers == NULL && n_buffers > 0)
		return sb__missing_argument(err, "buffers");
	if (ancillary == NULL && n_ancillary > 0)
		return sb__missing_argument(err, "ancillary");
	for (size_t i = 0; i < n_buffers; i++) {
		if (buffers[i].iov_base == NULL && buffers[i].iov_len > 0)
			return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
					     "buffers[%zu].iov_base must not be NULL", i);
		*total += buffers[i].iov_len;
	}
	/* One message is one request: it cannot be split like sendall. */
	if (*total > sb__client_max_data_size(c))
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EMSGSIZE,
				     "sendmsg of %zu bytes is more than the broker's max_data_size "
				     "(%zu); one message cannot be split",
				     *total, sb__client_max_data_size(c));
	return 0;
}

/* Handles passed in SCM_RIGHTS go as every earlier write on them left them. 0 or -errno. */
static int
settle_passed_handles(struct sb_client *c, const struct sb_cmsg *ancillary, size_t n_ancillary,
		      struct sb_error *err)
{
	int r;

	for (size_t i = 0; i < n_ancillary; i++) {
		if (ancillary[i].view != SB_CMSG_RIGHTS)
			continue;
		for (size_t j = 0; j < ancillary[i].rights.count; j++) {
			if ((r = sb__settle(c, ancillary[i].rights.handles[j], err)) < 0)
				return r;
		}
	}
	return 0;
}

ssize_t
sb_sendmsg(struct sb_client *c, sb_handle h, const struct iovec *buffers, size_t n_buffers,
	   const struct sb_cmsg *ancillary, size_t n_ancillary, int flags, const struct sb_addr *to,
	   struct sb_error *err)
{
	Sockbroker__V1__SendMsgRequest args = SOCKBROKER__V1__SEND_MSG_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply = NULL;
	ProtobufCBinaryData *data = NULL;
	struct wire_cmsg *items = NULL;
	Sockbroker__V1__Ancillary **item_ptrs = NULL;
	size_t total;
	uint64_t count;
	int r;

	if ((r = check_sendmsg_args(c, buffers, n_buffers, ancillary, n_ancillary, &total,
				    err)) < 0)
		return r;

	/* Plain data on a handle with credit goes behind, as sb_send() does. */
	if (n_ancillary == 0 && to == NULL && flags == 0 && total > 0) {
		r = send_behind(c, h, buffers, n_buffers, total, err);
		if (r != 0)
			return r < 0 ? r : (ssize_t)total;
	}
	if ((r = settle_passed_handles(c, ancillary, n_ancillary, err)) < 0)
		return r;

	args.has_handle = true;
	args.handle = h;
	args.has_flags = true;
	args.flags = flags;
	if (n_buffers > 0 && !(data = calloc(n_buffers, sizeof(*data)))) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_buffers; i++)
		data[i] = bytes_of(buffers[i].iov_base, buffers[i].iov_len);
	args.n_buffers = n_buffers;
	args.buffers = data;
	if (n_ancillary > 0 && (!(items = calloc(n_ancillary, sizeof(*items))) ||
				!(item_ptrs = calloc(n_ancillary, sizeof(*item_ptrs))))) {
		r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_ancillary; i++) {
		if ((r = ancillary_to_wire(&ancillary[i], i, &items[i], err)) < 0)
			goto out;
		item_ptrs[i] = &items[i].ancillary;
	}
	args.n_ancillary = n_ancillary;
	args.ancillary = item_ptrs;
	if (to != NULL) {
		r = sb__addr_to_wire(to, &args.address);
		if (r == -ENOMEM) {
			r = sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");
			goto out;
		}
		if (r < 0) {
			r = sb__error_set(err, SB_ERR_BAD_REQUEST, -r,
					  "the address is malformed (a host without its NUL, or a "
					  "length beyond its array)");
			goto out;
		}
	}
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SENDMSG;
	request.sendmsg = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_SEND, &reply, err);
out:
	sb__addr_wire_free(args.address);
	free(item_ptrs);
	free(items);
	free(data);
	if (r < 0)
		return r;
	count = reply->send->count;
	sb__reply_free(reply);
	return count > SSIZE_MAX ? SSIZE_MAX : (ssize_t)count;
}

/* ---- recvmsg ---------------------------------------------------------------- */

/* Carve pieces out of one allocation, each aligned for anything. */
struct carver {
	uint8_t *next;
};

static size_t
round_up(size_t n)
{
	return (n + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t);
}

static void *
carve(struct carver *carver, size_t size)
{
	void *piece = carver->next;
	carver->next += round_up(size);
	return piece;
}

static void
cmsg_from_wire(const Sockbroker__V1__Ancillary *a, struct sb_cmsg *cmsg, struct carver *carver)
{
	cmsg->level = a->level;
	cmsg->type = a->type;
	uint8_t *data = carve(carver, a->data.len);
	sb_handle *handles;

	if (a->data.len > 0)
		memcpy(data, a->data.data, a->data.len);
	cmsg->len = a->data.len;
	cmsg->data = data;

	switch (a->decoded_case) {
	case SOCKBROKER__V1__ANCILLARY__DECODED_RIGHTS:
		cmsg->view = SB_CMSG_RIGHTS;
		handles = carve(carver, a->rights->n_handles * sizeof(sb_handle));
		for (size_t i = 0; i < a->rights->n_handles; i++)
			handles[i] = a->rights->handles[i];
		cmsg->rights.count = a->rights->n_handles;
		cmsg->rights.handles = handles;
		break;
	case SOCKBROKER__V1__ANCILLARY__DECODED_CREDENTIALS:
		cmsg->view = SB_CMSG_CREDENTIALS;
		cmsg->credentials.pid = a->credentials->pid;
		cmsg->credentials.uid = a->credentials->uid;
		cmsg->credentials.gid = a->credentials->gid;
		break;
	case SOCKBROKER__V1__ANCILLARY__DECODED_PKTINFO:
		cmsg->view = SB_CMSG_PKTINFO;
		cmsg->pktinfo.ifindex = a->pktinfo->ifindex;
		snprintf(cmsg->pktinfo.spec_dst, sizeof(cmsg->pktinfo.spec_dst), "%s",
			 a->pktinfo->spec_dst ? a->pktinfo->spec_dst : "");
		snprintf(cmsg->pktinfo.addr, sizeof(cmsg->pktinfo.addr), "%s",
			 a->pktinfo->addr ? a->pktinfo->addr : "");
		break;
	case SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE:
		cmsg->view = SB_CMSG_INT;
		cmsg->int_value = a->int_value;
		break;
	case SOCKBROKER__V1__ANCILLARY__DECODED_TIMESTAMP:
		cmsg->view = SB_CMSG_TIMESTAMP;
		cmsg->timestamp.seconds = a->timestamp->seconds;
		cmsg->timestamp.nanoseconds = a->timestamp->nanoseconds;
		break;
	case SOCKBROKER__V1__ANCILLARY__DECODED_EXTENDED_ERROR: {
		const Sockbroker__V1__ExtendedError *e = a->extended_error;
		int errnum = sb__errno_from_name(e->errno_name);
		cmsg->view = SB_CMSG_EXTENDED_ERROR;
		cmsg->extended_error.errno_number = errnum ? errnum : (int)e->errno_number;
		snprintf(cmsg->extended_error.errno_name, sizeof(cmsg->extended_error.errno_name),
			 "%s", e->errno_name ? e->errno_name : "");
		cmsg->extended_error.origin = e->origin;
		cmsg->extended_error.type = e->type;
		cmsg->extended_error.code = e->code;
		cmsg->extended_error.info = e->info;
		cmsg->extended_error.data = e->data;
		cmsg->extended_error.has_offender = e->offender != NULL;
		if (e->offender != NULL)
			sb__addr_from_wire(&cmsg->extended_error.offender, e->offender);
		break;
	}
	default:
		cmsg->view = SB_CMSG_RAW;
		break;
	}
}

/* The whole message in one allocation, so that sb_msg_free() is one free. */
static struct sb_msg *
msg_from_wire(const Sockbroker__V1__RecvMsgReply *received)
{
	size_t n = received->n_ancillary;
	size_t size = round_up(sizeof(struct sb_msg)) + round_up(received->data.len) +
		      round_up(n * sizeof(struct sb_cmsg));
	struct carver carver;
	struct sb_msg *msg;

	for (size_t i = 0; i < n; i++) {
		const Sockbroker__V1__Ancillary *a = received->ancillary[i];
		size += round_up(a->data.len);
		if (a->decoded_case == SOCKBROKER__V1__ANCILLARY__DECODED_RIGHTS)
			size += round_up(a->rights->n_handles * sizeof(sb_handle));
	}
	uint8_t *block = calloc(1, size);
	if (block == NULL)
		return NULL;
	carver.next = block;
	msg = carve(&carver, sizeof(*msg));
	msg->len = received->data.len;
	msg->data = carve(&carver, received->data.len);
	if (received->data.len > 0)
		memcpy(msg->data, received->data.data, received->data.len);
	msg->n_ancillary = n;
	msg->ancillary = carve(&carver, n * sizeof(struct sb_cmsg));
	for (size_t i = 0; i < n; i++)
		cmsg_from_wire(received->ancillary[i], &msg->ancillary[i], &carver);
	msg->msg_flags = received->msg_flags;
	msg->has_address = received->address != NULL;
	if (received->address != NULL)
		sb__addr_from_wire(&msg->address, received->address);
	return msg;
}

ssize_t
sb_recvmsg(struct sb_client *c, sb_handle h, size_t bufsize, size_t ancbufsize, int flags,
	   struct sb_msg **out, struct sb_error *err)
{
	Sockbroker__V1__RecvMsgRequest args = SOCKBROKER__V1__RECV_MSG_REQUEST__INIT;
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__Reply *reply;
	struct sb_msg *msg;
	size_t len;
	int r;

	if (out == NULL)
		return sb__missing_argument(err, "out");
	*out = NULL;
	/* Sizes beyond the daemon's limits are its to clamp or refuse. */
	args.has_handle = args.has_bufsize = args.has_ancbufsize = args.has_flags = true;
	args.handle = h;
	args.bufsize = bufsize > INT64_MAX ? INT64_MAX : (int64_t)bufsize;
	args.ancbufsize = ancbufsize > INT64_MAX ? INT64_MAX : (int64_t)ancbufsize;
	args.flags = flags;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_RECVMSG;
	request.recvmsg = &args;

	r = sb__call(c, &request, h, SOCKBROKER__V1__REPLY__RESULT_RECVMSG, &reply, err);
	if (r < 0)
		return r;
	msg = msg_from_wire(reply->recvmsg);
	sb__reply_free(reply);
	if (msg == NULL)
		/* The handles it carried are the session's still: they close
		 * with it, or with sb_close() of ids the caller never saw. */
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM,
				     "out of memory for a received message");
	len = msg->len;
	*out = msg;
	return len > SSIZE_MAX ? SSIZE_MAX : (ssize_t)len;
}

void
sb_msg_free(struct sb_msg *msg)
{
	free(msg);
}

/* ---- send_fds, recv_fds ------------------------------------------------------ */

ssize_t
sb_send_fds(struct sb_client *c, sb_handle h, const void *buf, size_t len, const sb_handle *handles,
	    size_t n, struct sb_error *err)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct sb_cmsg rights;

	memset(&rights, 0, sizeof(rights));
	rights.level = (int)sb__constant_or(c, "SOL_SOCKET", SOL_SOCKET);
	rights.type = (int)sb__constant_or(c, "SCM_RIGHTS", SCM_RIGHTS);
	rights.view = SB_CMSG_RIGHTS;
	rights.rights.handles = handles;
	rights.rights.count = n;
	return sb_sendmsg(c, h, &iov, 1, &rights, 1, 0, NULL, err);
}

ssize_t
sb_recv_fds(struct sb_client *c, sb_handle h, void *buf, size_t len, sb_handle *handles,
	    size_t max_handles, size_t *n_handles, int flags, int *msg_flags, struct sb_error *err)
{
	int level = (int)sb__constant_or(c, "SOL_SOCKET", SOL_SOCKET);
	int type = (int)sb__constant_or(c, "SCM_RIGHTS", SCM_RIGHTS);
	size_t ancbufsize = 0, n = 0;
	struct sb_msg *msg;
	ssize_t r;

	if (buf == NULL && len > 0)
		return sb__missing_argument(err, "buf");
	if (handles == NULL && max_handles > 0)
		return sb__missing_argument(err, "handles");
	if (n_handles == NULL)
		return sb__missing_argument(err, "n_handles");
	*n_handles = 0;
	/* As the reference: room for exactly max_handles ints, by the
	 * daemon's CMSG_LEN (its platform sizes the buffer). */
	if (max_handles > 0 &&
	    (r = sb_cmsg_len(c, max_handles * sizeof(int), &ancbufsize, err)) < 0)
		return r;
	r = sb_recvmsg(c, h, len, ancbufsize, flags, &msg, err);
	if (r < 0)
		return r;
	if (msg->len > 0)
		memcpy(buf, msg->data, msg->len < len ? msg->len : len);
	for (size_t i = 0; i < msg->n_ancillary; i++) {
		const struct sb_cmsg *cmsg = &msg->ancillary[i];
		if (cmsg->level != level || cmsg->type != type || cmsg->view != SB_CMSG_RIGHTS)
			continue;
		for (size_t j = 0; j < cmsg->rights.count; j++) {
			if (n < max_handles)
				handles[n++] = cmsg->rights.handles[j];
			else if (cmsg->rights.handles[j] != 0)
				/* More than asked for (a daemon whose CMSG_LEN
				 * leaves room to spare): not leaked. */
				sb_close(c, cmsg->rights.handles[j], NULL);
		}
	}
	*n_handles = n;
	if (msg_flags != NULL)
		*msg_flags = msg->msg_flags;
	sb_msg_free(msg);
	return r;
}

/* ---- sendfile ------------------------------------------------------------------ */

int
sb_sendfile(struct sb_client *c, sb_handle h, int local_fd, off_t offset, size_t count,
	    size_t *sent, struct sb_error *err)
{
	size_t total = 0;
	bool positioned = true;
	uint8_t *piece;
	double timeout;
	int type, r;

	if (sent != NULL)
		*sent = 0;
	if (offset < 0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
				     "offset must be a non-negative integer (got %lld)",
				     (long long)offset);
	/* The reference's checks, in its order and words. */
	r = sb_getsockopt_int(c, h, (int)sb__constant_or(c, "SOL_SOCKET", SOL_SOCKET),
			      (int)sb__constant_or(c, "SO_TYPE", SO_TYPE), &type, err);
	if (r < 0)
		return r;
	if (type != (int)sb__constant_or(c, "SOCK_STREAM", SOCK_STREAM))
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
				     "only SOCK_STREAM type sockets are supported");
	if ((r = sb_gettimeout(c, h, &timeout, err)) < 0)
		return r;
	if (timeout == 0.0)
		return sb__error_set(err, SB_ERR_BAD_REQUEST, EINVAL,
				     "non-blocking sockets are not supported");
	if ((piece = malloc(SENDFILE_PIECE)) == NULL)
		return sb__error_set(err, SB_ERR_TRANSPORT, ENOMEM, "out of memory");

	r = 0;
	while (count == 0 || total < count) {
		size_t want = SENDFILE_PIECE;
		ssize_t n;

		if (count != 0 && count - total < want)
			want = count - total;
		if (positioned)
			n = pread(local_fd, piece, want, offset + (off_t)total);
		else
			n = read(local_fd, piece, want);
		if (n < 0 && errno == ESPIPE && positioned && offset == 0 && total == 0) {
			/* A pipe or a socket: read it from where it is. */
			positioned = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errnum = errno;
			r = sb__error_set(err, SB_ERR_OS, errnum,
					  "sendfile: reading the local file: %s", strerror(errnum));
			break;
		}
		if (n == 0)
			break;
		if ((r = sb_sendall(c, h, piece, (size_t)n, 0, err)) < 0)
			break;
		total += (size_t)n;
	}
	free(piece);
	/* As the reference: the file position ends after what was sent. */
	if (positioned && total > 0)
		lseek(local_fd, offset + (off_t)total, SEEK_SET);
	if (sent != NULL)
		*sent = total;
	return r;
}
