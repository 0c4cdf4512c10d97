/*
 * The host's name: gethostname and sethostname. Both are plain system calls
 * that do not block, so they run on the reactor thread. sethostname really
 * renames the host (the UTS namespace the daemon runs in): it needs
 * CAP_SYS_ADMIN there, and without it the kernel's EPERM goes back.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../monitor.h"
#include "ops.h"

int
op_gethostname(struct op *op, struct reply *reply)
{
	if (gethostname(reply->text, sizeof(reply->text) - 1) < 0)
		return -errno;
	reply->text[sizeof(reply->text) - 1] = '\0';
	reply->shape = REPLY_STRING;
	return OP_DONE;
}

int
op_sethostname(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	/* An empty name comes without data; libc's name must not be NULL even then. */
	const char *name = req->sethostname.name ? (const char *)req->sethostname.name : "";

	/* The length is the kernel's to judge: EINVAL above 64 bytes. */
	int r = monitor_sethostname(name, req->sethostname.len);
	if (r < 0)
		return r;
	reply->shape = REPLY_DONE;
	return OP_DONE;
}
