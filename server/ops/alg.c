/* AF_ALG: sendmsg_afalg, the reference's sendmsg() specialised for kernel
 * crypto sockets. The client says what to set (operation, IV, AEAD
 * associated-data length); the SOL_ALG control messages are built here, and
 * the kernel judges their values (an unknown operation or an IV of the wrong
 * size is its EINVAL). */
#include <errno.h>
#include <limits.h>
#include <linux/if_alg.h>
#include <string.h>
#include <sys/socket.h>

#include "../handle.h"
#include "ops.h"

/* Never let a peer's reset kill the daemon with SIGPIPE. */
#define SEND_FLAGS MSG_NOSIGNAL

/* The largest control buffer: the operation, the longest IV, the
 * associated-data length. */
#define AFALG_CONTROL_MAX                                                                     \
	(CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct af_alg_iv) + AFALG_IV_MAX) + \
	 CMSG_SPACE(sizeof(uint32_t)))

/* Append one SOL_ALG control message; returns the new length or 0 when it
 * does not fit. */
static size_t
append(void *buf, size_t size, size_t used, int type, const void *head, size_t head_len,
       const void *data, size_t data_len)
{
	size_t len = CMSG_LEN(head_len + data_len);
	if (CMSG_SPACE(head_len + data_len) > size - used)
		return 0;
	struct cmsghdr *cmsg = (struct cmsghdr *)(void *)((uint8_t *)buf + used);
	memset(cmsg, 0, CMSG_SPACE(head_len + data_len));
	cmsg->cmsg_level = SOL_ALG;
	cmsg->cmsg_type = type;
	cmsg->cmsg_len = len;
	memcpy(CMSG_DATA(cmsg), head, head_len);
	if (data_len)
		memcpy(CMSG_DATA(cmsg) + head_len, data, data_len);
	return used + CMSG_SPACE(head_len + data_len);
}

size_t
op_afalg_control(const struct request *req, void *buf, size_t size)
{
	uint32_t op = req->afalg.op;
	size_t used = append(buf, size, 0, ALG_SET_OP, &op, sizeof(op), NULL, 0);

	if (used && req->afalg.iv) {
		struct af_alg_iv head = {.ivlen = (uint32_t)req->afalg.iv_len};
		used = append(buf, size, used, ALG_SET_IV, &head, sizeof(head), req->afalg.iv,
			      req->afalg.iv_len);
	}
	if (used && req->afalg.has_assoclen) {
		uint32_t assoclen = req->afalg.assoclen;
		used = append(buf, size, used, ALG_SET_AEAD_ASSOCLEN, &assoclen, sizeof(assoclen),
			      NULL, 0);
	}
	return used;
}

int
op_sendmsg_afalg(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct handle *handle = op->handle;
	union {
		struct cmsghdr align;
		uint8_t bytes[AFALG_CONTROL_MAX];
	} control;

	/* More buffers than the kernel takes in one call: its own answer. */
	if (req->afalg.n_buffers > IOV_MAX)
		return -EMSGSIZE;
	struct msghdr msg = {
		.msg_iov = req->afalg.buffers,
		.msg_iovlen = req->afalg.n_buffers,
		.msg_control = control.bytes,
		.msg_controllen = op_afalg_control(req, control.bytes, sizeof(control.bytes)),
	};
	if (msg.msg_controllen == 0)
		return op_fail(reply, ERROR_BAD_REQUEST, EINVAL,
			       "sendmsg_afalg.iv: longer than the %d bytes any kernel cipher takes",
			       AFALG_IV_MAX);
	ssize_t n = sendmsg(handle->fd, &msg, req->afalg.flags | SEND_FLAGS);
	if (n < 0) {
		if (errno != EAGAIN)
			return -errno;
		/* MSG_DONTWAIT asks for an answer now, in every mode. */
		return (req->afalg.flags & MSG_DONTWAIT) ? -EAGAIN : OP_WAIT_WRITE;
	}
	handle->bytes_out += (uint64_t)n;
	reply->shape = REPLY_SEND;
	reply->count = (uint64_t)n;
	return OP_DONE;
}
