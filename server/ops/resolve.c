/*
 * The name service: getaddrinfo, getnameinfo, gethostbyname(_ex),
 * gethostbyaddr, getfqdn, getprotobyname, getservbyname and getservbyport,
 * with the reference's semantics and errors. Every one of them can block in
 * libc (DNS, NSS modules, files on slow storage), so each runs as a job on
 * the resolver pool: the handler copies its arguments into a struct
 * name_job, the job's `work` makes the libc calls on a worker thread, and
 * finish() turns the result into the reply on the reactor thread.
 *
 * Workers run side by side, so only the thread-safe variants are called
 * (gethostbyname_r, getservbyname_r, ...), and a worker never formats an
 * errno (strerror is the reactor's, in the dispatcher).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "erange.h"
#include "ops.h"

/* The buffers of the *_r functions start small and double on ERANGE up to
 * this; an entry larger than that is a broken name service. */
#define ENTRY_BUFFER_START 1024
#define ENTRY_BUFFER_MAX (1024 * 1024)

/* How a lookup failed, in the reference's terms. */
struct lookup_error {
	enum error_kind kind; /* ERROR_NONE: it did not */
	int errnum;           /* ERROR_OS */
	int code;             /* ERROR_GAI: the EAI_* value; ERROR_HERROR: h_errno */
	const char *message;  /* static; NULL: the code's own text */
};

/* A hostent, copied out of the *_r buffer it came in. */
struct host_entry {
	char *buffer; /* the *_r buffer: hostname and aliases point into it */
	const char *hostname;
	const char *const *aliases;
	size_t n_aliases;
	char (*address_text)[INET6_ADDRSTRLEN];
	const char **addresses; /* into address_text */
	size_t n_addresses;
};

struct name_job {
	struct op_job base;
	enum op_code op;

	/* Arguments, copied: the op may be gone while the worker runs. */
	char name[WIRE_NAME_MAX + 1]; /* the host or name */
	bool has_name;
	char service[WIRE_SERVICE_MAX + 1]; /* getaddrinfo's port, getserv*'s proto */
	bool has_service;
	int family, type, proto, flags, port;
	struct address address; /* getnameinfo */

	/* Results. */
	struct lookup_error error;
	struct addrinfo *addrinfo; /* getaddrinfo: what libc gave, until release */
	struct addrinfo_entry *entries;
	size_t n_entries;
	struct host_entry host;
	char text[REPLY_TEXT_MAX]; /* a string result; getnameinfo's host */
	char service_text[REPLY_SERVICE_MAX];
	int64_t integer;
};

static struct name_job *
job_of(struct op_job *base)
{
	return (struct name_job *)(void *)base;
}

/* ---- errors (worker thread) ---------------------------------------------- */

static void
fail_os(struct name_job *job, int errnum, const char *message)
{
	job->error.kind = ERROR_OS;
	job->error.errnum = errnum;
	job->error.message = message;
}

/* A getaddrinfo()/getnameinfo() failure: gaierror, or with EAI_SYSTEM the
 * OSError of `sys_errno`, as the reference raises them. */
static void
fail_gai(struct name_job *job, int code, int sys_errno)
{
	if (code == EAI_SYSTEM) {
		fail_os(job, sys_errno ? sys_errno : EIO, NULL);
		return;
	}
	job->error.kind = ERROR_GAI;
	job->error.code = code;
}

/* A gethostby*_r() failure: herror(h_errno, hstrerror(h_errno)). */
static void
fail_herror(struct name_job *job, int code)
{
	job->error.kind = ERROR_HERROR;
	job->error.code = code;
}

/* ---- the reference's helpers (worker thread) ---------------------------- */

/*
 * The reference's setipaddr(): a host string to one IP address of `family`
 * (AF_INET, or AF_UNSPEC for either). "" is the wildcard address,
 * "<broadcast>" and "255.255.255.255" the broadcast address, numeric forms
 * are taken as they are, and anything else is looked up with getaddrinfo().
 * Returns 0, or -1 with job->error set.
 */
static int
set_ip_address(struct name_job *job, const char *name, int family, struct sockaddr_storage *out)
{
	struct addrinfo hints = {0}, *res = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (name[0] == '\0') {
		hints.ai_family = family;
		hints.ai_socktype = SOCK_DGRAM;
		hints.ai_flags = AI_PASSIVE;
		r = getaddrinfo(NULL, "0", &hints, &res);
		if (r != 0) {
			fail_gai(job, r, errno);
			return -1;
		}
		if (res->ai_family != AF_INET && res->ai_family != AF_INET6) {
			freeaddrinfo(res);
			fail_os(job, EAFNOSUPPORT, "unsupported address family");
			return -1;
		}
		if (res->ai_next) {
			/* AF_UNSPEC gives both 0.0.0.0 and ::. */
			freeaddrinfo(res);
			fail_os(job, EINVAL, "wildcard resolved to multiple address");
			return -1;
		}
		memcpy(out, res->ai_addr,
		       res->ai_addrlen < sizeof(*out) ? res->ai_addrlen : sizeof(*out));
		freeaddrinfo(res);
		return 0;
	}
	if (strcmp(name, "255.255.255.255") == 0 || strcmp(name, "<broadcast>") == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		if (family != AF_INET && family != AF_UNSPEC) {
			fail_os(job, EAFNOSUPPORT, "address family mismatched");
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
		return 0;
	}
	if (family == AF_INET || family == AF_UNSPEC) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		if (inet_pton(AF_INET, name, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			return 0;
		}
	}
	/* A "%scope" suffix is left to getaddrinfo(), which knows interface names. */
	if ((family == AF_INET6 || family == AF_UNSPEC) && !strchr(name, '%')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, name, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			return 0;
		}
	}
	hints.ai_family = family;
	r = getaddrinfo(name, NULL, &hints, &res);
	if (r != 0) {
		fail_gai(job, r, errno);
		return -1;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen < sizeof(*out) ? res->ai_addrlen : sizeof(*out));
	freeaddrinfo(res);
	if (out->ss_family != AF_INET && out->ss_family != AF_INET6) {
		fail_os(job, EAFNOSUPPORT, "unknown address family");
		return -1;
	}
	return 0;
}

/* Copy what `h` (an entry of the *_r buffer `buffer`, which the job takes)
 * says into job->host, as the reference's gethost_common() does. Returns 0,
 * or -1 with job->error set. */
static int
keep_host_entry(struct name_job *job, const struct hostent *h, char *buffer, int family)
{
	struct host_entry *host = &job->host;

	host->buffer = buffer;
	if (h->h_addrtype != family) {
		fail_os(job, EAFNOSUPPORT, NULL);
		return -1;
	}
	host->hostname = h->h_name;
	host->aliases = (const char *const *)h->h_aliases;
	while (h->h_aliases && h->h_aliases[host->n_aliases])
		host->n_aliases++;
	size_t n = 0;
	while (h->h_addr_list && h->h_addr_list[n])
		n++;
	host->address_text = calloc(n ? n : 1, sizeof(*host->address_text));
	host->addresses = calloc(n ? n : 1, sizeof(*host->addresses));
	if (!host->address_text || !host->addresses) {
		fail_os(job, ENOMEM, NULL);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		inet_ntop(family, h->h_addr_list[i], host->address_text[i],
			  sizeof(host->address_text[i]));
		host->addresses[i] = host->address_text[i];
	}
	host->n_addresses = n;
	return 0;
}

/* gethostbyaddr(name) as the reference: the name to an address (a name is
 * looked up first), then the address's host entry. Returns 0, or -1 with
 * job->error set. */
static int
host_by_address(struct name_job *job, const char *name)
{
	struct sockaddr_storage ss;
	struct hostent entry, *h = NULL;
	const void *address;
	socklen_t address_len;
	size_t len = 0;
	char *buffer = NULL;
	int r = ERANGE, g, herr = 0;

	if (set_ip_address(job, name, AF_UNSPEC, &ss) < 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		address = &((const struct sockaddr_in *)&ss)->sin_addr;
		address_len = sizeof(struct in_addr);
	} else {
		address = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
		address_len = sizeof(struct in6_addr);
	}
	while ((g = erange_grow(&buffer, &len, r, ENTRY_BUFFER_START, ENTRY_BUFFER_MAX)) > 0) {
		r = gethostbyaddr_r(address, address_len, ss.ss_family, &entry, buffer, len, &h,
				    &herr);
	}
	if (g < 0) {
		free(buffer);
		fail_os(job, ENOMEM, NULL);
		return -1;
	}
	if (!h) {
		free(buffer);
		fail_herror(job, herr);
		return -1;
	}
	return keep_host_entry(job, h, buffer, ss.ss_family);
}

/* ---- the work of each operation (worker thread) ------------------------- */

static void
work_getaddrinfo(struct name_job *job)
{
	struct addrinfo hints = {0};
	hints.ai_family = job->family;
	hints.ai_socktype = job->type;
	hints.ai_protocol = job->proto;
	hints.ai_flags = job->flags;

	int r = getaddrinfo(job->has_name ? job->name : NULL,
			    job->has_service ? job->service : NULL, &hints, &job->addrinfo);
	if (r != 0) {
		fail_gai(job, r, errno);
		job->addrinfo = NULL;
		return;
	}
	size_t n = 0;
	for (const struct addrinfo *ai = job->addrinfo; ai; ai = ai->ai_next)
		n++;
	job->entries = calloc(n ? n : 1, sizeof(*job->entries));
	if (!job->entries) {
		fail_os(job, ENOMEM, NULL);
		return;
	}
	for (const struct addrinfo *ai = job->addrinfo; ai; ai = ai->ai_next) {
		struct addrinfo_entry *e = &job->entries[job->n_entries];
		if (ai->ai_addrlen > sizeof(e->address.ss))
			continue;
		e->family = ai->ai_family;
		e->type = ai->ai_socktype;
		e->proto = ai->ai_protocol;
		e->canonname = ai->ai_canonname;
		memcpy(&e->address.ss, ai->ai_addr, ai->ai_addrlen);
		e->address.len = ai->ai_addrlen;
		job->n_entries++;
	}
}

static void
work_getnameinfo(struct name_job *job)
{
	const struct address *address = &job->address;
	struct addrinfo hints = {0}, *res = NULL;
	char port[8];

	/* As the reference: the host must be numeric (a "%scope" suffix is
	 * understood), and SOCK_DGRAM only keeps a numeric port happy. */
	snprintf(port, sizeof(port), "%u", address->inet.port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST;
	int r = getaddrinfo(address->inet.host, port, &hints, &res);
	if (r != 0) {
		fail_gai(job, r, errno);
		return;
	}
	if (res->ai_next) {
		fail_os(job, EINVAL, "sockaddr resolved to multiple addresses");
		goto out;
	}
	if (res->ai_family == AF_INET && address->family == AF_INET6) {
		fail_os(job, EINVAL, "IPv4 sockaddr must be 2 tuple");
		goto out;
	}
	if (res->ai_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)res->ai_addr;
		sin6->sin6_flowinfo = htonl(address->inet.flowinfo);
		/* The scope_id field wins over a "%scope" suffix of the host. */
		if (address->inet.scope_id)
			sin6->sin6_scope_id = address->inet.scope_id;
	}
	r = getnameinfo(res->ai_addr, res->ai_addrlen, job->text, sizeof(job->text),
			job->service_text, sizeof(job->service_text), job->flags);
	if (r != 0)
		fail_gai(job, r, errno);
out:
	freeaddrinfo(res);
}

static void
work_gethostbyname(struct name_job *job)
{
	struct sockaddr_storage ss;
	if (set_ip_address(job, job->name, AF_INET, &ss) < 0)
		return;
	inet_ntop(AF_INET, &((const struct sockaddr_in *)&ss)->sin_addr, job->text,
		  sizeof(job->text));
}

static void
work_gethostbyname_ex(struct name_job *job)
{
	struct sockaddr_storage ss;
	struct hostent entry, *h = NULL;
	size_t len = 0;
	char *buffer = NULL;
	int r = ERANGE, g, herr = 0;

	/* The reference resolves the name first: a name that does not resolve
	 * is a gaierror, not an herror. */
	if (set_ip_address(job, job->name, AF_INET, &ss) < 0)
		return;
	while ((g = erange_grow(&buffer, &len, r, ENTRY_BUFFER_START, ENTRY_BUFFER_MAX)) > 0)
		r = gethostbyname_r(job->name, &entry, buffer, len, &h, &herr);
	if (g < 0) {
		free(buffer);
		fail_os(job, ENOMEM, NULL);
		return;
	}
	if (!h) {
		free(buffer);
		fail_herror(job, herr);
		return;
	}
	keep_host_entry(job, h, buffer, ss.ss_family);
}

static bool
has_dot(const char *name)
{
	return name && strchr(name, '.');
}

/* The reference's getfqdn(): the host name of gethostbyaddr(name), or the
 * first of its aliases that has a dot in it; the name itself when the
 * lookup fails; the local host for "", "0.0.0.0" and "::". */
static void
work_getfqdn(struct name_job *job)
{
	char *name = job->name;
	size_t n = strlen(name);

	while (n > 0 && isspace((unsigned char)name[n - 1]))
		name[--n] = '\0';
	while (isspace((unsigned char)*name))
		name++;
	if (!*name || strcmp(name, "0.0.0.0") == 0 || strcmp(name, "::") == 0) {
		if (gethostname(job->text, sizeof(job->text) - 1) < 0) {
			fail_os(job, errno, NULL);
			return;
		}
		job->text[sizeof(job->text) - 1] = '\0';
	} else {
		memmove(job->text, name, strlen(name) + 1);
	}

	if (host_by_address(job, job->text) < 0) {
		/* The reference gives the name back as it is. */
		memset(&job->error, 0, sizeof(job->error));
		return;
	}
	const char *fqdn = job->host.hostname;
	if (!has_dot(fqdn)) {
		for (size_t i = 0; i < job->host.n_aliases; i++) {
			if (has_dot(job->host.aliases[i])) {
				fqdn = job->host.aliases[i];
				break;
			}
		}
	}
	snprintf(job->text, sizeof(job->text), "%s", fqdn ? fqdn : "");
}

static void
work_getprotobyname(struct name_job *job)
{
	struct protoent entry, *p = NULL;
	size_t len = 0;
	char *buffer = NULL;
	int r = ERANGE, g;

	while ((g = erange_grow(&buffer, &len, r, ENTRY_BUFFER_START, ENTRY_BUFFER_MAX)) > 0)
		r = getprotobyname_r(job->name, &entry, buffer, len, &p);
	if (g < 0) {
		free(buffer);
		fail_os(job, ENOMEM, NULL);
		return;
	}
	if (p)
		job->integer = p->p_proto;
	else
		fail_os(job, ENOENT, "protocol not found");
	free(buffer);
}

/* getservbyname_r() or getservbyport_r(): the entry is copied out into the
 * job before the buffer goes. */
static void
work_servent(struct name_job *job)
{
	const char *proto = job->has_service ? job->service : NULL;
	struct servent entry, *s = NULL;
	size_t len = 0;
	char *buffer = NULL;
	int r = ERANGE, g;

	while ((g = erange_grow(&buffer, &len, r, ENTRY_BUFFER_START, ENTRY_BUFFER_MAX)) > 0) {
		if (job->op == OP_GETSERVBYNAME)
			r = getservbyname_r(job->name, proto, &entry, buffer, len, &s);
		else
			r = getservbyport_r(htons((uint16_t)job->port), proto, &entry, buffer, len,
					    &s);
	}
	if (g < 0) {
		free(buffer);
		fail_os(job, ENOMEM, NULL);
		return;
	}
	if (!s)
		fail_os(job, ENOENT,
			job->op == OP_GETSERVBYNAME ? "service/proto not found"
						    : "port/proto not found");
	else if (job->op == OP_GETSERVBYNAME)
		job->integer = ntohs((uint16_t)s->s_port);
	else
		snprintf(job->text, sizeof(job->text), "%s", s->s_name);
	free(buffer);
}

static void
work(struct resolve_job *base)
{
	struct name_job *job = job_of((struct op_job *)(void *)base);

	switch (job->op) {
	case OP_GETADDRINFO:
		work_getaddrinfo(job);
		break;
	case OP_GETNAMEINFO:
		work_getnameinfo(job);
		break;
	case OP_GETHOSTBYNAME:
		work_gethostbyname(job);
		break;
	case OP_GETHOSTBYNAME_EX:
		work_gethostbyname_ex(job);
		break;
	case OP_GETHOSTBYADDR:
		host_by_address(job, job->name);
		break;
	case OP_GETFQDN:
		work_getfqdn(job);
		break;
	case OP_GETPROTOBYNAME:
		work_getprotobyname(job);
		break;
	case OP_GETSERVBYNAME:
	case OP_GETSERVBYPORT:
		work_servent(job);
		break;
	default:
		fail_os(job, ENOSYS, "not a name-service operation");
		break;
	}
}

/* ---- back on the reactor thread ----------------------------------------- */

static int
finish(struct op *op, struct op_job *base, struct reply *reply)
{
	struct name_job *job = job_of(base);
	const struct lookup_error *e = &job->error;

	switch (e->kind) {
	case ERROR_NONE:
		break;
	case ERROR_GAI:
		reply->error.gai_code = e->code;
		return op_fail(reply, ERROR_GAI, 0, "%s", gai_strerror(e->code));
	case ERROR_HERROR:
		reply->error.herror_code = e->code;
		return op_fail(reply, ERROR_HERROR, 0, "%s", hstrerror(e->code));
	default:
		if (!e->message)
			return -e->errnum;
		return op_fail(reply, ERROR_OS, e->errnum, "%s", e->message);
	}

	switch (op->req->op) {
	case OP_GETADDRINFO:
		reply->shape = REPLY_GETADDRINFO;
		reply->getaddrinfo.entries = job->entries;
		reply->getaddrinfo.count = job->n_entries;
		break;
	case OP_GETNAMEINFO:
		reply->shape = REPLY_GETNAMEINFO;
		memcpy(reply->getnameinfo.host, job->text, sizeof(reply->getnameinfo.host));
		memcpy(reply->getnameinfo.service, job->service_text,
		       sizeof(reply->getnameinfo.service));
		break;
	case OP_GETHOSTBYNAME_EX:
	case OP_GETHOSTBYADDR:
		reply->shape = REPLY_HOSTENT;
		reply->hostent.hostname = job->host.hostname;
		reply->hostent.aliases = job->host.aliases;
		reply->hostent.n_aliases = job->host.n_aliases;
		reply->hostent.addresses = job->host.addresses;
		reply->hostent.n_addresses = job->host.n_addresses;
		break;
	case OP_GETPROTOBYNAME:
	case OP_GETSERVBYNAME:
		reply->shape = REPLY_INTEGER;
		reply->integer = job->integer;
		break;
	default: /* gethostbyname, getfqdn, getservbyport */
		reply->shape = REPLY_STRING;
		memcpy(reply->text, job->text, sizeof(reply->text));
		break;
	}
	return OP_DONE;
}

static void
release(struct op_job *base)
{
	struct name_job *job = job_of(base);

	if (job->addrinfo)
		freeaddrinfo(job->addrinfo);
	free(job->entries);
	free(job->host.buffer);
	free(job->host.address_text);
	free(job->host.addresses);
	free(job);
}

/* A job for `op`, with the common parts filled. NULL when out of memory. */
static struct name_job *
new_job(struct op *op)
{
	struct name_job *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->op = op->req->op;
	job->base.job.work = work;
	job->base.finish = finish;
	job->base.release = release;
	return job;
}

/* Copy a string argument; NULL is the reference's None. The wire checked
 * the length. */
static void
copy_argument(char *dst, size_t size, bool *has, const char *src)
{
	*has = src != NULL;
	snprintf(dst, size, "%s", src ? src : "");
}

/* ---- handlers (reactor thread) ------------------------------------------ */

int
op_getaddrinfo(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct name_job *job = new_job(op);
	if (!job)
		return -ENOMEM;
	copy_argument(job->name, sizeof(job->name), &job->has_name, req->getaddrinfo.host);
	copy_argument(job->service, sizeof(job->service), &job->has_service, req->getaddrinfo.port);
	job->family = req->getaddrinfo.family;
	job->type = req->getaddrinfo.type;
	job->proto = req->getaddrinfo.proto;
	job->flags = req->getaddrinfo.flags;
	return op_wait_job(op, &job->base);
}

int
op_getnameinfo(struct op *op, struct reply *reply)
{
	struct name_job *job = new_job(op);
	if (!job)
		return -ENOMEM;
	job->address = op->req->getnameinfo.address;
	job->flags = op->req->getnameinfo.flags;
	return op_wait_job(op, &job->base);
}

/* The operations that take one name (gethostbyname, gethostbyname_ex, gethostbyaddr,
 * getfqdn, getprotobyname): their rows share this handler. */
int
op_name_lookup(struct op *op, struct reply *reply)
{
	struct name_job *job = new_job(op);
	if (!job)
		return -ENOMEM;
	copy_argument(job->name, sizeof(job->name), &job->has_name, op->req->name.name);
	return op_wait_job(op, &job->base);
}

int
op_getservbyname(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct name_job *job = new_job(op);
	if (!job)
		return -ENOMEM;
	copy_argument(job->name, sizeof(job->name), &job->has_name, req->getservbyname.name);
	copy_argument(job->service, sizeof(job->service), &job->has_service,
		      req->getservbyname.proto);
	return op_wait_job(op, &job->base);
}

int
op_getservbyport(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	struct name_job *job = new_job(op);
	if (!job)
		return -ENOMEM;
	job->port = req->getservbyport.port;
	copy_argument(job->service, sizeof(job->service), &job->has_service,
		      req->getservbyport.proto);
	return op_wait_job(op, &job->base);
}
