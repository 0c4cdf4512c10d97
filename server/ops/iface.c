/*
 * Network interfaces of the daemon's network namespace: if_nameindex,
 * if_nametoindex and if_indextoname. The last two are one ioctl each and
 * run on the reactor thread; if_nameindex reads a whole netlink dump, so it
 * runs on the resolver pool like the name service, and its job holds the
 * list until the reply is sent.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

struct nameindex_job {
	struct op_job base;
	int errnum;                /* if_nameindex() failed with it */
	struct if_nameindex *list; /* what libc gave, until release */
	struct if_entry *entries;
	size_t count;
};

static void
nameindex_work(struct resolve_job *base)
{
	struct nameindex_job *job = (struct nameindex_job *)(void *)base;

	job->list = if_nameindex();
	if (!job->list) {
		job->errnum = errno;
		return;
	}
	size_t n = 0;
	while (job->list[n].if_index != 0 || job->list[n].if_name != NULL)
		n++;
	job->entries = calloc(n ? n : 1, sizeof(*job->entries));
	if (!job->entries) {
		job->errnum = ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		job->entries[i].index = job->list[i].if_index;
		job->entries[i].name = job->list[i].if_name;
	}
	job->count = n;
}

static int
nameindex_finish(struct op *op, struct op_job *base, struct reply *reply)
{
	struct nameindex_job *job = (struct nameindex_job *)(void *)base;

	if (job->errnum)
		return -job->errnum;
	reply->shape = REPLY_IF_NAMEINDEX;
	reply->if_nameindex.entries = job->entries;
	reply->if_nameindex.count = job->count;
	return OP_DONE;
}

static void
nameindex_release(struct op_job *base)
{
	struct nameindex_job *job = (struct nameindex_job *)(void *)base;

	if (job->list)
		if_freenameindex(job->list);
	free(job->entries);
	free(job);
}

int
op_if_nameindex(struct op *op, struct reply *reply)
{
	struct nameindex_job *job = calloc(1, sizeof(*job));

	if (!job)
		return -ENOMEM;
	job->base.job.work = nameindex_work;
	job->base.finish = nameindex_finish;
	job->base.release = nameindex_release;
	return op_wait_job(op, &job->base);
}

int
op_if_nametoindex(struct op *op, struct reply *reply)
{
	unsigned index;

	errno = 0;
	index = if_nametoindex(op->req->name.name);
	if (index == 0) {
		int errnum = errno ? errno : ENODEV;
		/* The reference's words for the usual case; other errors are the
		 * kernel's own. */
		if (errnum == ENODEV)
			return op_fail(reply, ERROR_OS, ENODEV, "no interface with this name");
		return -errnum;
	}
	reply->shape = REPLY_INTEGER;
	reply->integer = index;
	return OP_DONE;
}

int
op_if_indextoname(struct op *op, struct reply *reply)
{
	char name[IF_NAMESIZE];

	if (!if_indextoname(op->req->if_indextoname.index, name))
		return -errno;
	reply->shape = REPLY_STRING;
	snprintf(reply->text, sizeof(reply->text), "%s", name);
	return OP_DONE;
}
