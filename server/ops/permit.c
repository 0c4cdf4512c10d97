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
 * (a planted link cannot lead out of the allowed tree), and the kernel call
 * then goes through /proc/self/fd/N of what was opened, so nothing can be
 * swapped between the check and the use. bind() opens the directory and
 * binds "/proc/self/fd/N/NAME"; getsockname reports the client's path.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "../audit.h"
#include "../daemon.h"
#include "../handle.h"
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

/* The reference's auditing event of an operation, or NULL for none. */
static const char *
event_of(const struct op *op)
{
	switch (op->req->op) {
	case OP_SOCKET:
	case OP_SOCKETPAIR:
		return "socket.__new__";
	case OP_BIND:
	case OP_CREATE_SERVER:
		return "socket.bind";
	case OP_CONNECT:
	case OP_CREATE_CONNECTION:
		return "socket.connect";
	case OP_SENDTO:
		return op->req->send.has_address ? "socket.sendto" : NULL;
	case OP_SENDMSG:
		return op->req->sendmsg.has_address ? "socket.sendmsg" : NULL;
	case OP_GETADDRINFO:
		return "socket.getaddrinfo";
	case OP_GETHOSTBYNAME:
	case OP_GETHOSTBYNAME_EX:
		return "socket.gethostbyname";
	case OP_GETHOSTBYADDR:
		return "socket.gethostbyaddr";
	case OP_GETNAMEINFO:
		return "socket.getnameinfo";
	case OP_GETHOSTNAME:
		return "socket.gethostname";
	case OP_GETSERVBYNAME:
		return "socket.getservbyname";
	case OP_GETSERVBYPORT:
		return "socket.getservbyport";
	case OP_SETHOSTNAME:
		return "socket.sethostname";
	default:
		return NULL;
	}
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

/* The arguments of the request, as the reference's event passes them. */
static void
record_args(struct audit_record *r, const struct op *op)
{
	const struct request *req = op->req;
	switch (req->op) {
	case OP_SOCKET:
	case OP_SOCKETPAIR:
		audit_arg_int(r, "family", req->socket.family);
		audit_arg_int(r, "type", req->socket.type);
		audit_arg_int(r, "proto", req->socket.proto);
		break;
	case OP_BIND:
	case OP_CONNECT:
	case OP_SENDTO:
	case OP_SENDMSG:
	case OP_CREATE_SERVER:
		if (op->unix_path)
			audit_arg_string(r, "path", op->unix_path);
		else if (op->target.len)
			audit_arg_address(r, "address", (const struct sockaddr *)&op->target.ss,
					  op->target.len);
		if (req->op == OP_SENDTO)
			audit_arg_int(r, "bytes", (int64_t)req->send.len);
		break;
	case OP_CREATE_CONNECTION:
		audit_arg_string(r, "host", req->create_connection.host);
		audit_arg_int(r, "port", req->create_connection.port);
		break;
	case OP_GETADDRINFO:
		audit_arg_string(r, "host", req->getaddrinfo.host);
		audit_arg_string(r, "port", req->getaddrinfo.port);
		audit_arg_int(r, "family", req->getaddrinfo.family);
		audit_arg_int(r, "type", req->getaddrinfo.type);
		audit_arg_int(r, "proto", req->getaddrinfo.proto);
		audit_arg_int(r, "flags", req->getaddrinfo.flags);
		break;
	case OP_GETHOSTBYNAME:
	case OP_GETHOSTBYNAME_EX:
	case OP_GETHOSTBYADDR:
	case OP_GETFQDN:
	case OP_IF_NAMETOINDEX:
		audit_arg_string(r, "name", req->name.name);
		break;
	case OP_GETNAMEINFO:
		audit_arg_string(r, "host", req->getnameinfo.address.inet.host);
		audit_arg_int(r, "port", req->getnameinfo.address.inet.port);
		audit_arg_int(r, "flags", req->getnameinfo.flags);
		break;
	case OP_GETSERVBYNAME:
		audit_arg_string(r, "name", req->getservbyname.name);
		audit_arg_string(r, "proto", req->getservbyname.proto);
		break;
	case OP_GETSERVBYPORT:
		audit_arg_int(r, "port", req->getservbyport.port);
		audit_arg_string(r, "proto", req->getservbyport.proto);
		break;
	case OP_SETSOCKOPT:
		audit_arg_int(r, "level", req->setsockopt.level);
		audit_arg_int(r, "option", req->setsockopt.optname);
		break;
	case OP_IF_INDEXTONAME:
		audit_arg_int(r, "index", req->if_indextoname.index);
		break;
	default:
		break;
	}
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
	struct audit *audit = op->daemon->audit;
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
	struct audit *audit = op->daemon->audit;
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
	audit_write(op->daemon->audit, &r);
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
	reply->error.kind = kind;
	reply->error.errnum = errnum;
	reply->error.rule = kind == ERROR_DENIED ? rule : NULL;
	reply->error.operation = op->desc->name;
	va_start(ap, fmt);
	vsnprintf(reply->error.message, sizeof(reply->error.message), fmt, ap);
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
	policy_check(op->daemon->policy, &id, preq, &decision);
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

static bool
is_send(enum op_code op)
{
	return op == OP_SEND || op == OP_SENDTO || op == OP_SENDALL || op == OP_SENDMSG ||
	       op == OP_SENDMSG_AFALG;
}

static bool
is_recv(enum op_code op)
{
	return op == OP_RECV || op == OP_RECVFROM || op == OP_RECVMSG;
}

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

/* What `op` asks of the policy, if anything: false for operations the
 * policy does not judge (those on an admitted socket that name no new peer,
 * and local lookups). */
static bool
request_of(struct op *op, struct policy_request *p)
{
	const struct request *req = op->req;
	memset(p, 0, sizeof(*p));
	switch (req->op) {
	case OP_SOCKET:
	case OP_SOCKETPAIR:
		p->op = POLICY_OP_CREATE;
		p->has_socket = true;
		p->family = req->socket.family;
		p->type = req->socket.type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
		p->proto = req->socket.proto;
		return true;
	case OP_BIND:
		p->op = POLICY_OP_BIND;
		break;
	case OP_CONNECT:
		p->op = POLICY_OP_CONNECT;
		break;
	case OP_SENDTO:
		if (!req->send.has_address)
			return false;
		p->op = POLICY_OP_SEND_TO;
		break;
	case OP_SENDMSG:
		if (!req->sendmsg.has_address)
			return false;
		p->op = POLICY_OP_SEND_TO;
		break;
	case OP_LISTEN:
		p->op = POLICY_OP_LISTEN;
		socket_of(op, p);
		return true;
	case OP_SETSOCKOPT:
		p->op = POLICY_OP_SOCKOPT;
		socket_of(op, p);
		p->level = req->setsockopt.level;
		p->optname = req->setsockopt.optname;
		return true;
	case OP_GETADDRINFO:
		p->op = POLICY_OP_RESOLVE;
		p->host = req->getaddrinfo.host;
		return true;
	case OP_GETHOSTBYNAME:
	case OP_GETHOSTBYNAME_EX:
	case OP_GETHOSTBYADDR:
	case OP_GETFQDN:
		p->op = POLICY_OP_RESOLVE;
		p->host = req->name.name;
		return true;
	case OP_GETNAMEINFO:
		p->op = POLICY_OP_RESOLVE;
		p->host = req->getnameinfo.address.inet.host;
		return true;
	case OP_CREATE_CONNECTION:
		/* Each attempt is judged in ops/create.c; the name first. */
		p->op = POLICY_OP_RESOLVE;
		p->host = req->create_connection.host;
		return true;
	case OP_SETHOSTNAME:
		p->op = POLICY_OP_SETHOSTNAME;
		return true;
	case OP_IF_NAMEINDEX:
	case OP_IF_NAMETOINDEX:
	case OP_IF_INDEXTONAME:
		p->op = POLICY_OP_INTERFACES;
		return true;
	default:
		return false;
	}
	/* bind, connect, send-to: the socket and the resolved address. */
	socket_of(op, p);
	p->addr = (const struct sockaddr *)&op->target.ss;
	p->addrlen = op->target.len;
	return true;
}

/* create_server is three questions: the socket, the bind, the listen. */
static int
admit_create_server(struct op *op, struct reply *reply)
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
	return op_permit(op, &p, reply);
}

int
op_admit(struct op *op, struct reply *reply)
{
	struct quota_account *account = op->session->quota;
	uint64_t now = 0;
	int r;

	if (account) {
		now = reactor_now_ns();
		if (!quota_take_op(account, now)) {
			char what[64];
			snprintf(what, sizeof(what), "%u operations per second",
				 account->limits->ops_per_second);
			return over_quota(op, reply, what);
		}
		if (is_send(op->req->op) && !quota_bytes_available(account, QUOTA_SEND, now)) {
			char what[64];
			snprintf(what, sizeof(what), "%llu bytes sent per second",
				 (unsigned long long)account->limits->send_bytes_per_second);
			return over_quota(op, reply, what);
		}
		if (is_recv(op->req->op) && !quota_bytes_available(account, QUOTA_RECV, now)) {
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

	if (op->req->op == OP_CREATE_SERVER)
		return admit_create_server(op, reply);

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
