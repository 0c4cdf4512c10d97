/*
 * The gate every operation passes between "decoded" and "run", and the
 * record it leaves after: what each operation asks of the policy (its class,
 * its socket, its resolved address), the identity's quotas, AF_UNIX paths
 * pinned so that the file judged is the file used, and the audit records.
 * dispatch.c calls op_admit() before an op first runs and op_audit() as it
 * completes; handlers that make several kernel calls of their own
 * (create_connection) ask op_permit() for each.
 *
 * AF_UNIX paths: a rule judges the path the client named, which must be
 * absolute and without ".", ".." or "//" (no rule can be tricked by
 * "/allowed/../elsewhere"). Once allowed, the path is opened with
 * openat2(RESOLVE_NO_SYMLINKS): a symbolic link in any component is a denial
 * (a planted link cannot lead out of the allowed tree), a socket file with
 * more than one hard link is a denial (another name of it may lie outside
 * the tree), and the kernel call
 * then goes through /proc/self/fd/N of what was opened, so nothing can be
 * swapped between the check and the use. bind() opens the directory and
 * binds "/proc/self/fd/N/NAME"; getsockname reports the client's path.
 *
 * SO_REUSEPORT groups: the kernel lets a socket join a port's group when the
 * sockets in it have the same owner uid, and every brokered socket is the
 * daemon's. So where a rule allows SO_REUSEPORT, a bind with it set is refused
 * unless every socket of the daemon's uid already bound to that port is a
 * handle of the same identity (op_permit_port_group()).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "../audit.h"
#include "../cmsg.h"
#include "../error.h"
#include "../handle.h"
#include "../list.h"
#include "../log.h"
#include "../quota.h"
#include "../reactor.h"
#include "../session.h"
#include "ops.h"

void
op_identity(const struct session *session, struct policy_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->transport = session->identity.transport;
	id->has_credentials = session->identity.has_credentials;
	id->uid = session->identity.uid;
	id->gid = session->identity.gid;
	id->tls_verified = session->identity.tls_verified;
	id->token_name = session->token_name[0] ? session->token_name : NULL;
}

/* ---- audit ------------------------------------------------------------- */

/* The text of a string argument of the request (OP_ARG_STRING or OP_ARG_CHARS). */
static const char *
arg_string(const struct request *req, const struct op_arg *arg)
{
	const char *at = (const char *)req + arg->offset;

	if (arg->kind == OP_ARG_CHARS)
		return at;
	const char *value;
	memcpy(&value, at, sizeof(value));
	return value;
}

/* The reference's auditing event of an operation (its row's), or NULL for none. */
static const char *
event_of(const struct op *op)
{
	const struct op_desc *desc = op->desc;

	if (desc->address && !desc->address(op->req))
		return NULL;
	return desc->event;
}

/* A denied operation without an event of the reference is still recorded,
 * as "socket.<operation>". */
static const char *
denial_event_of(const struct op *op, char *buf, size_t len)
{
	const char *event = event_of(op);
	if (event)
		return event;
	snprintf(buf, len, "socket.%s", op->desc->name);
	return buf;
}

static const char *
error_kind_name(enum error_kind kind)
{
	switch (kind) {
	case ERROR_NONE: return NULL;
	case ERROR_OS: return "os";
	case ERROR_TIMEOUT: return "timeout";
	case ERROR_GAI: return "gai";
	case ERROR_HERROR: return "herror";
	case ERROR_DENIED: return "denied";
	case ERROR_BAD_REQUEST: return "bad_request";
	case ERROR_BAD_HANDLE: return "bad_handle";
	case ERROR_UNSUPPORTED: return "unsupported";
	case ERROR_QUOTA: return "quota";
	case ERROR_CANCELLED: return "cancelled";
	default: return "os";
	}
}

static void
record_init(struct audit_record *r, const struct op *op, const char *event)
{
	const struct session *session = op->session;
	memset(r, 0, sizeof(*r));
	r->event = event;
	r->session = session->id;
	r->peer = &session->identity;
	r->token_name = session->token_name[0] ? session->token_name : NULL;
	r->client_name = session->client_name;
	r->handle = op->handle ? op->handle->id : 0;
}

/* One argument of the request, read as its row says. */
static void
record_arg(struct audit_record *r, const struct op *op, const struct op_arg *arg)
{
	const char *at = (const char *)op->req + arg->offset;
	int i;
	unsigned u;
	uint16_t u16;
	size_t size;

	switch (arg->kind) {
	case OP_ARG_INT:
		memcpy(&i, at, sizeof(i));
		audit_arg_int(r, arg->name, i);
		break;
	case OP_ARG_UNSIGNED:
		memcpy(&u, at, sizeof(u));
		audit_arg_int(r, arg->name, u);
		break;
	case OP_ARG_UINT16:
		memcpy(&u16, at, sizeof(u16));
		audit_arg_int(r, arg->name, u16);
		break;
	case OP_ARG_SIZE:
		memcpy(&size, at, sizeof(size));
		audit_arg_int(r, arg->name, (int64_t)size);
		break;
	case OP_ARG_STRING:
	case OP_ARG_CHARS:
		audit_arg_string(r, arg->name, arg_string(op->req, arg));
		break;
	case OP_ARG_TARGET:
		if (op->unix_path)
			audit_arg_string(r, "path", op->unix_path);
		else if (op->target.len)
			audit_arg_address(r, "address", (const struct sockaddr *)&op->target.ss,
					  op->target.len);
		break;
	case OP_ARG_NONE:
		break;
	}
}

/* The arguments of the request, as the reference's event passes them (its row's). */
static void
record_args(struct audit_record *r, const struct op *op)
{
	const struct op_arg *args = op->desc->args;

	for (size_t i = 0; i < OP_ARGS_MAX && args[i].kind != OP_ARG_NONE; i++)
		record_arg(r, op, &args[i]);
}

static void
record_error(struct audit_record *r, const struct reply_error *error)
{
	r->errnum = error->errnum;
	r->error_kind = error_kind_name(error->kind);
	r->message = error->message;
}

void
op_audit(struct op *op, const struct reply *reply)
{
	struct audit *audit = op->ctx->audit;
	const char *event = event_of(op);
	if (!audit || !event || !audit_wants(audit, event))
		return;
	struct audit_record r;
	record_init(&r, op, event);
	record_args(&r, op);
	if (op->rule) {
		r.decision = AUDIT_ALLOW;
		r.rule = op->rule;
	}
	if (reply->error.kind != ERROR_NONE)
		record_error(&r, &reply->error);
	audit_write(audit, &r);
}

void
op_audit_event(struct op *op, const char *event, uint64_t handle, const char *rule)
{
	struct audit *audit = op->ctx->audit;
	if (!audit || !audit_wants(audit, event))
		return;
	struct audit_record r;
	record_init(&r, op, event);
	r.handle = handle;
	if (rule) {
		r.decision = AUDIT_ALLOW;
		r.rule = rule;
	}
	audit_write(audit, &r);
}

/* ---- refusals ------------------------------------------------------------ */

int
op_refused(struct op *op, const struct reply *reply, enum audit_decision decision,
	   const char *rule)
{
	char who[160], buf[64];
	session_describe(op->session, who, sizeof(who));
	log_info("%s: %s", who, reply->error.message);

	struct audit_record r;
	record_init(&r, op, denial_event_of(op, buf, sizeof(buf)));
	record_args(&r, op);
	r.decision = decision;
	r.rule = rule;
	record_error(&r, &reply->error);
	audit_write(op->ctx->audit, &r);
	op->audited = true;
	return OP_FAILED;
}

static int
refuse(struct op *op, struct reply *reply, enum audit_decision decision, const char *rule,
       enum error_kind kind, int errnum, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int
refuse(struct op *op, struct reply *reply, enum audit_decision decision, const char *rule,
       enum error_kind kind, int errnum, const char *fmt, ...)
{
	va_list ap;
	memset(&reply->error, 0, sizeof(reply->error));
	reply->error.rule = kind == ERROR_DENIED ? rule : NULL;
	reply->error.operation = op->desc->name;
	va_start(ap, fmt);
	error_vfill(&reply->error, kind, errnum, fmt, ap);
	va_end(ap);
	return op_refused(op, reply, decision, rule);
}

/* "connect to 169.254.169.254:80", "create of an AF_PACKET socket", ...
 * for a denial's message. */
static void
describe_request(const struct policy_request *p, char *buf, size_t len)
{
	char where[ADDRESS_HOST_MAX + 64] = "";
	if (p->unix_path)
		snprintf(where, sizeof(where), " %s", p->unix_path);
	else if (p->addr)
		addr_format_sockaddr(p->addr, p->addrlen, where + 1, sizeof(where) - 1),
			where[0] = ' ';

	switch (p->op) {
	case POLICY_OP_CREATE:
		snprintf(buf, len, "creating a socket of family %d, type %d, protocol %d", p->family,
			 p->type, p->proto);
		break;
	case POLICY_OP_CONNECT:
		snprintf(buf, len, "connect to%s", where);
		break;
	case POLICY_OP_BIND:
		snprintf(buf, len, "bind to%s", where);
		break;
	case POLICY_OP_LISTEN:
		snprintf(buf, len, "listen on a socket of family %d, type %d", p->family, p->type);
		break;
	case POLICY_OP_SEND_TO:
		snprintf(buf, len, "sending to%s", where);
		break;
	case POLICY_OP_RESOLVE:
		snprintf(buf, len, "looking up \"%.200s\"", p->host ? p->host : "");
		break;
	case POLICY_OP_SETHOSTNAME:
		snprintf(buf, len, "sethostname");
		break;
	case POLICY_OP_INTERFACES:
		snprintf(buf, len, "listing network interfaces");
		break;
	case POLICY_OP_SOCKOPT:
		snprintf(buf, len, "setsockopt level %d option %d", p->level, p->optname);
		break;
	default:
		snprintf(buf, len, "this operation");
		break;
	}
}

int
op_permit(struct op *op, const struct policy_request *preq, struct reply *reply)
{
	struct policy_identity id;
	struct policy_decision decision;

	op_identity(op->session, &id);
	policy_check(op->ctx->policy, &id, preq, &decision);
	op_count_decision(op->ctx, &decision);
	if (decision.allow) {
		op->rule = decision.rule;
		return 0;
	}
	char what[ADDRESS_HOST_MAX + 128];
	describe_request(preq, what, sizeof(what));
	return refuse(op, reply, AUDIT_DENY, decision.rule, ERROR_DENIED, decision.errnum,
		      "%s is not allowed by the daemon's policy (rule \"%s\"); ask its operator "
		      "to allow it if it should be",
		      what, decision.rule);
}

/* ---- AF_UNIX paths ------------------------------------------------------- */

/* The name a sockaddr_un carries, as rules see it: "/path" or "@abstract"
 * (NUL bytes inside an abstract name written as "\0"); NULL if unnamed. */
static char *
unix_name(const struct sockaddr_buf *target)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)&target->ss;
	size_t n = target->len > offsetof(struct sockaddr_un, sun_path)
			   ? target->len - offsetof(struct sockaddr_un, sun_path)
			   : 0;
	if (n == 0)
		return NULL;
	char *name = malloc(2 * n + 2);
	if (!name)
		return NULL;
	size_t out = 0;
	if (un->sun_path[0] == '\0') {
		name[out++] = '@';
		for (size_t i = 1; i < n; i++) {
			if (un->sun_path[i] == '\0') {
				name[out++] = '\\';
				name[out++] = '0';
			} else {
				name[out++] = un->sun_path[i];
			}
		}
	} else {
		for (size_t i = 0; i < n && un->sun_path[i]; i++)
			name[out++] = un->sun_path[i];
	}
	name[out] = '\0';
	return name;
}

static bool
path_is_canonical(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *c = path; *c; c++) {
		if (c[0] != '/')
			continue;
		if (c[1] == '/' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0')) ||
		    (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0')))
			return false;
	}
	return true;
}

/*
 * What openat2(RESOLVE_NO_SYMLINKS) does, for kernels before 5.6 and for
 * system call emulators that lack openat2() (ENOSYS): each component of the
 * canonical absolute `path` is opened O_PATH | O_NOFOLLOW below the one
 * before, so a link opens as itself and is refused by its type, and the fd
 * returned is what was judged. Returns the fd, or -1 with errno (ELOOP for
 * a link on the way).
 */
static int
open_without_links(const char *path, bool directory)
{
	char copy[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	struct stat st;
	char *save = NULL;
	int e = 0;

	if (strlen(path) >= sizeof(copy)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	int fd = open("/", O_PATH | O_CLOEXEC | O_DIRECTORY);
	if (fd < 0)
		return -1;
	for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
		e = errno;
		close(fd);
		if ((fd = next) < 0)
			goto err;
		if (fstat(fd, &st) < 0) {
			e = errno;
			goto err_fd;
		}
		if (S_ISLNK(st.st_mode)) {
			e = ELOOP;
			goto err_fd;
		}
	}
	if (directory) {
		if (fstat(fd, &st) < 0) {
			e = errno;
			goto err_fd;
		}
		if (!S_ISDIR(st.st_mode)) {
			e = ENOTDIR;
			goto err_fd;
		}
	}
	return fd;

err_fd:
	close(fd);
err:
	errno = e;
	return -1;
}

/*
 * Open an allowed filesystem path (or, for bind, its directory) without
 * following any symbolic link, and point op->target at what was opened.
 * Returns 0, OP_FAILED (a denial) or -errno (what connect/bind would say).
 */
static int
pin_unix_path(struct op *op, bool for_bind, struct reply *reply)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	const char *path = op->unix_path;
	const char *base = NULL;

	if (for_bind) {
		const char *slash = strrchr(path, '/');
		base = slash + 1;
		if (!*base)
			return -EINVAL;
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
		path = dir;
	}
	struct open_how how = {
		/* No O_NOFOLLOW: with O_PATH it opens a trailing link itself
		 * instead of failing, and a link must be a denial. */
		.flags = O_PATH | O_CLOEXEC | (for_bind ? O_DIRECTORY : 0),
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = open_without_links(path, for_bind);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return refuse(op, reply, AUDIT_DENY, "unix-path-symlink", ERROR_DENIED,
				      EACCES,
				      "%s: a symbolic link is on the way to this path, and the "
				      "daemon never follows links in AF_UNIX paths (rule "
				      "\"unix-path-symlink\"); name the real path",
				      op->unix_path);
		return -e;
	}
	/* A hard link is another name of a socket file that may live outside the
	 * allowed tree, and nothing in the name tells: a socket with more than one
	 * link is refused. */
	struct stat st;
	if (!for_bind && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_nlink > 1) {
		close(fd);
		return refuse(op, reply, AUDIT_DENY, "unix-path-hardlink", ERROR_DENIED, EACCES,
			      "%s: this socket file has %lu names (hard links), and the daemon "
			      "cannot tell whether the others lie outside what its policy allows "
			      "(rule \"unix-path-hardlink\"); connect through a socket file with "
			      "one name",
			      op->unix_path, (unsigned long)st.st_nlink);
	}
	struct sockaddr_un *un = (struct sockaddr_un *)(void *)&op->target.ss;
	int n = for_bind ? snprintf(un->sun_path, sizeof(un->sun_path), "/proc/self/fd/%d/%s", fd,
				    base)
			 : snprintf(un->sun_path, sizeof(un->sun_path), "/proc/self/fd/%d", fd);
	if (n < 0 || (size_t)n >= sizeof(un->sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	un->sun_family = AF_UNIX;
	op->target.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	op->path_fd = fd;
	return 0;
}

/* ---- the gate ------------------------------------------------------------ */

static int
over_quota(struct op *op, struct reply *reply, const char *what)
{
	const struct quota_account *account = op->session->quota;
	return refuse(op, reply, AUDIT_QUOTA, account->limits->name, ERROR_QUOTA, ENOBUFS,
		      "%s is over quota \"%s\" (%s); slow down and retry", op->desc->name,
		      account->limits->name, what);
}

static void
socket_of(const struct op *op, struct policy_request *p)
{
	p->has_socket = true;
	if (op->handle) {
		p->family = op->handle->family;
		p->type = op->handle->type;
		p->proto = op->handle->proto;
	}
}

/* What `op` asks of the policy, if anything (its row's question): false for operations the
 * policy does not judge (those on an admitted socket that name no new peer, and local
 * lookups). */
static bool
request_of(struct op *op, struct policy_request *p)
{
	const struct op_desc *desc = op->desc;
	const struct request *req = op->req;

	memset(p, 0, sizeof(*p));
	p->op = desc->policy_op;
	switch (desc->policy) {
	case OPP_NONE:
		return false;
	case OPP_CREATE:
		p->has_socket = true;
		p->family = req->socket.family;
		p->type = req->socket.type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
		p->proto = req->socket.proto;
		return true;
	case OPP_ADDRESS:
		/* bind, connect, send-to: the socket and the resolved address. */
		if (!desc->address || !desc->address(req))
			return false;
		socket_of(op, p);
		p->addr = (const struct sockaddr *)&op->target.ss;
		p->addrlen = op->target.len;
		return true;
	case OPP_SOCKOPT:
		p->level = req->setsockopt.level;
		p->optname = req->setsockopt.optname;
		socket_of(op, p);
		return true;
	case OPP_SOCKET:
		socket_of(op, p);
		return true;
	case OPP_HOST: {
		/* A name, as a lookup (create_connection: each attempt is then
		 * judged in ops/create.c). */
		struct in6_addr numeric;
		p->host = arg_string(req, &desc->host);
		if ((desc->flags & OPF_NUMERIC_HOST) && p->host &&
		    (inet_pton(AF_INET, p->host, &numeric) == 1 ||
		     inet_pton(AF_INET6, p->host, &numeric) == 1))
			return false;
		return true;
	}
	case OPP_PLAIN:
		return true;
	}
	return false;
}

/* create_server is three questions: the socket, the bind, the listen. */
int
op_admit_create_server(struct op *op, struct reply *reply)
{
	struct policy_request p = {
		.op = POLICY_OP_CREATE,
		.has_socket = true,
		.family = op->req->create_server.address.family,
		.type = SOCK_STREAM,
	};
	int r = op_permit(op, &p, reply);
	if (r)
		return r;
	p.op = POLICY_OP_BIND;
	p.addr = (const struct sockaddr *)&op->target.ss;
	p.addrlen = op->target.len;
	if ((r = op_permit(op, &p, reply)))
		return r;
	p.op = POLICY_OP_LISTEN;
	p.addr = NULL;
	p.addrlen = 0;
	if ((r = op_permit(op, &p, reply)))
		return r;
	if (!op->req->create_server.reuse_port)
		return 0;
	/* reuse_port is a setsockopt the daemon makes for the client. */
	p.op = POLICY_OP_SOCKOPT;
	p.level = SOL_SOCKET;
	p.optname = SO_REUSEPORT;
	return op_permit(op, &p, reply);
}

/*
 * Ancillary data of sendmsg that does for one packet what an option does for
 * the socket: each such item is asked of the policy as that setsockopt, so a
 * rule denying the option (the default's "deny-privileged-sockopts") denies
 * the item too. IP_RETOPTS is the name the kernel reads IP options under in
 * a control message. An IP_PKTINFO or IPV6_PKTINFO item that chooses the
 * source address is asked as a bind of that address (port 0), so the
 * default's "deny-cloud-metadata" holds for it.
 */
static const struct {
	int level, type;
} option_cmsgs[] = {
	{ SOL_IP, IP_OPTIONS },
	{ SOL_IP, IP_RETOPTS },
	{ SOL_IPV6, IPV6_RTHDR },
	{ SOL_IPV6, IPV6_2292RTHDR },
};

/*
 * The source address an IP_PKTINFO (ipi_spec_dst) or IPV6_PKTINFO (ipi6_addr) item of
 * sendmsg chooses for its datagram, as a sockaddr with port 0; false when the item names
 * none (the any address), is another item, or is malformed (cmsg.c refuses it then).
 */
static bool
pktinfo_source(const struct cmsg_item *item, struct sockaddr_buf *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)&out->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&out->ss;
	memset(out, 0, sizeof(*out));
	if (item->level == IPPROTO_IP && item->type == IP_PKTINFO) {
		in->sin_family = AF_INET;
		out->len = sizeof(*in);
		if (item->view == CMSG_VIEW_PKTINFO) {
			if (!item->pktinfo.spec_dst[0] ||
			    inet_pton(AF_INET, item->pktinfo.spec_dst, &in->sin_addr) != 1)
				return false;
		} else if (item->len >= sizeof(struct in_pktinfo)) {
			struct in_pktinfo info;
			memcpy(&info, item->data, sizeof(info));
			in->sin_addr = info.ipi_spec_dst;
		} else {
			return false;
		}
		return in->sin_addr.s_addr != htonl(INADDR_ANY);
	}
	if (item->level == IPPROTO_IPV6 && item->type == IPV6_PKTINFO) {
		in6->sin6_family = AF_INET6;
		out->len = sizeof(*in6);
		if (item->view == CMSG_VIEW_PKTINFO) {
			if (!item->pktinfo.addr[0] ||
			    inet_pton(AF_INET6, item->pktinfo.addr, &in6->sin6_addr) != 1)
				return false;
		} else if (item->len >= sizeof(struct in6_pktinfo)) {
			struct in6_pktinfo info;
			memcpy(&info, item->data, sizeof(info));
			in6->sin6_addr = info.ipi6_addr;
		} else {
			return false;
		}
		return !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
	}
	return false;
}

int
op_admit_ancillary(struct op *op, struct reply *reply)
{
	const struct request *req = op->req;
	for (size_t i = 0; i < req->sendmsg.n_ancillary; i++) {
		const struct cmsg_item *item = &req->sendmsg.ancillary[i];
		struct sockaddr_buf source;
		/* A source address chosen for one datagram is a bind of it. */
		if (pktinfo_source(item, &source)) {
			struct policy_request p = {
				.op = POLICY_OP_BIND,
				.addr = (const struct sockaddr *)&source.ss,
				.addrlen = source.len,
			};
			socket_of(op, &p);
			int r = op_permit(op, &p, reply);
			if (r)
				return r;
		}
		for (size_t j = 0; j < sizeof(option_cmsgs) / sizeof(option_cmsgs[0]); j++) {
			if (item->level != option_cmsgs[j].level ||
			    item->type != option_cmsgs[j].type)
				continue;
			struct policy_request p = {
				.op = POLICY_OP_SOCKOPT,
				.level = item->level,
				.optname = item->type,
			};
			socket_of(op, &p);
			int r = op_permit(op, &p, reply);
			if (r)
				return r;
		}
	}
	return 0;
}

int
op_admit(struct op *op, struct reply *reply)
{
	struct quota_account *account = op->session->quota;
	uint64_t now = 0;
	int r;

	if ((op->desc->flags & OPF_ADMIN) && !op_admin_allows(op))
		return refuse(op, reply, AUDIT_DENY, "admin", ERROR_DENIED, EACCES,
			      "%s is for admins of the daemon only: root, or a uid, group or "
			      "token listed in the configuration's \"admin\" section (rule "
			      "\"admin\")",
			      op->desc->name);
	if (account) {
		now = reactor_now_ns();
		if (!quota_take_op(account, now)) {
			char what[64];
			snprintf(what, sizeof(what), "%u operations per second",
				 account->limits->ops_per_second);
			return over_quota(op, reply, what);
		}
		if ((op->desc->flags & OPF_SENDS) &&
		    !quota_bytes_available(account, QUOTA_SEND, now)) {
			char what[64];
			snprintf(what, sizeof(what), "%llu bytes sent per second",
				 (unsigned long long)account->limits->send_bytes_per_second);
			return over_quota(op, reply, what);
		}
		if ((op->desc->flags & OPF_RECEIVES) &&
		    !quota_bytes_available(account, QUOTA_RECV, now)) {
			char what[64];
			snprintf(what, sizeof(what), "%llu bytes received per second",
				 (unsigned long long)account->limits->recv_bytes_per_second);
			return over_quota(op, reply, what);
		}
	}
	if (op->handle) {
		op->bytes_out_before = op->handle->bytes_out;
		op->bytes_in_before = op->handle->bytes_in;
	}

	if (op->desc->admit && (r = op->desc->admit(op, reply)))
		return r;

	struct policy_request p;
	if (!request_of(op, &p))
		return 0;

	bool unix_address = p.addr && p.addr->sa_family == AF_UNIX;
	if (unix_address) {
		op->unix_path = unix_name(&op->target);
		p.unix_path = op->unix_path;
		if (op->unix_path && op->unix_path[0] != '@' && !path_is_canonical(op->unix_path))
			return refuse(op, reply, AUDIT_DENY, "unix-path-canonical", ERROR_DENIED,
				      EACCES,
				      "%.200s: AF_UNIX paths must be absolute, without \".\", "
				      "\"..\" or \"//\", for the daemon's policy to judge them "
				      "(rule \"unix-path-canonical\")",
				      op->unix_path);
	}
	if ((r = op_permit(op, &p, reply)))
		return r;
	if (unix_address && op->unix_path && op->unix_path[0] == '/')
		return pin_unix_path(op, p.op == POLICY_OP_BIND, reply);
	return 0;
}

int
op_admit_host(struct op *op, const char *host, struct reply *reply)
{
	struct policy_request p = { .op = POLICY_OP_RESOLVE, .host = host };
	return op_permit(op, &p, reply);
}

void
op_account(struct op *op)
{
	struct quota_account *account = op->session->quota;
	/* An op that never passed op_admit() moved nothing, and its "before"
	 * counters were never taken: charging it would bill the handle's
	 * whole history again. */
	if (!account || !op->handle || !op->admitted)
		return;
	quota_charge_bytes(account, QUOTA_SEND, op->handle->bytes_out - op->bytes_out_before);
	quota_charge_bytes(account, QUOTA_RECV, op->handle->bytes_in - op->bytes_in_before);
}

/* ---- SO_REUSEPORT groups --------------------------------------------------- */

/* Whether two sessions are one identity, as quotas count them: the same token,
 * else the same peer uid; a session without either is only itself. */
static bool
same_identity(const struct session *a, const struct session *b)
{
	struct policy_identity x, y;
	if (a == b)
		return true;
	op_identity(a, &x);
	op_identity(b, &y);
	if (x.token_name || y.token_name)
		return x.token_name && y.token_name && strcmp(x.token_name, y.token_name) == 0;
	return x.has_credentials && y.has_credentials && x.uid == y.uid;
}

/* The handle whose socket has inode `ino`, in any session, or NULL. */
static struct handle *
handle_of_inode(struct op_context *ctx, unsigned long ino)
{
	struct list *s_it, *s_next, *h_it, *h_next;
	list_for_each_safe(s_it, s_next, &ctx->sessions->all) {
		struct session *session = list_entry(s_it, struct session, link);
		list_for_each_safe(h_it, h_next, &session->handles) {
			struct handle *handle = list_entry(h_it, struct handle, session_link);
			struct stat st;
			if (handle->fd >= 0 && fstat(handle->fd, &st) == 0 &&
			    (unsigned long)st.st_ino == ino)
				return handle;
		}
	}
	return NULL;
}

/*
 * Look through one /proc/net table for sockets of the daemon's uid bound to
 * `port` (TCP: listening or bound, not connections) other than `self_ino`.
 * Returns 0 when all are handles of `op`'s identity, 1 with `*foreign` set to
 * what was found otherwise, or -errno (a table the kernel lacks is empty).
 */
static int
scan_port_table(struct op *op, const char *table, bool tcp, unsigned port, unsigned long self_ino,
		const char **foreign)
{
	FILE *f = fopen(table, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char line[512];
	uid_t me = geteuid();
	int r = 0;
	if (!fgets(line, sizeof(line), f)) /* the header */
		goto out;
	while (fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned state, uid;
		unsigned long ino;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %u %*s %lu", local, &state, &uid,
			   &ino) != 4)
			continue;
		const char *colon = strrchr(local, ':');
		if (!colon || strtoul(colon + 1, NULL, 16) != port || ino == self_ino || uid != me)
			continue;
		if (tcp && state != 0x0a /* LISTEN */ && state != 0x07 /* CLOSE: bound */)
			continue;
		struct handle *holder = handle_of_inode(op->ctx, ino);
		if (!holder) {
			*foreign = "a socket the daemon does not broker (another program on this "
				   "host)";
			r = 1;
			break;
		}
		if (!same_identity(holder->session, op->session)) {
			*foreign = "a socket of another client identity";
			r = 1;
			break;
		}
	}
out:
	fclose(f);
	return r;
}

int
op_permit_port_group(struct op *op, int fd, const struct sockaddr *addr, socklen_t addrlen,
		     struct reply *reply)
{
	int reuseport = 0, type = 0;
	socklen_t len = sizeof(reuseport);
	unsigned port;

	if (addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in))
		port = ntohs(((const struct sockaddr_in *)(const void *)addr)->sin_port);
	else if (addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6))
		port = ntohs(((const struct sockaddr_in6 *)(const void *)addr)->sin6_port);
	else
		return 0;
	/* Port 0 takes a port no socket holds. */
	if (port == 0 || getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &len) < 0 ||
	    !reuseport)
		return 0;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;

	bool tcp = type == SOCK_STREAM;
	const char *tables[2] = { tcp ? "/proc/net/tcp" : "/proc/net/udp",
				  tcp ? "/proc/net/tcp6" : "/proc/net/udp6" };
	const char *foreign = NULL;
	for (size_t i = 0; i < 2; i++) {
		int r = scan_port_table(op, tables[i], tcp, port, (unsigned long)st.st_ino,
					&foreign);
		if (r < 0) {
			log_error("SO_REUSEPORT check: reading %s: %s", tables[i], strerror(-r));
			return r;
		}
		if (r > 0) {
			char where[ADDRESS_HOST_MAX + 16];
			addr_format_sockaddr(addr, addrlen, where, sizeof(where));
			return refuse(op, reply, AUDIT_DENY, "reuseport-group", ERROR_DENIED, EACCES,
				      "bind to %s with SO_REUSEPORT would join a port group that "
				      "holds %s, and share its connections (rule "
				      "\"reuseport-group\"); bind another port, or without "
				      "SO_REUSEPORT",
				      where, foreign);
		}
	}
	return 0;
}
