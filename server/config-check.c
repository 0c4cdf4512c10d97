#include "config-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "transport.h"

/* The audit file exists and opens for appending, or its directory lets the daemon create it.
 * A directory that does not exist yet is only a warning on `out`: the service manager makes
 * it (LogsDirectory=) when it starts the daemon. Nothing is created or changed. */
static int
check_audit_file(const char *file, FILE *out, char *err, size_t errlen)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	int r = -errno;
	if (r == -ENOENT) {
		char dir[4096];
		const char *slash = strrchr(file, '/');
		size_t n = slash && slash != file ? (size_t)(slash - file) : 1;
		if (n >= sizeof(dir))
			n = sizeof(dir) - 1;
		memcpy(dir, file, n);
		dir[n] = '\0';
		if (access(dir, W_OK | X_OK) == 0)
			return 0;
		r = -errno;
		if (r == -ENOENT) {
			fprintf(out, "warning: audit.file: the directory %.200s does not exist; the "
				"daemon cannot start unless it is made first (the systemd unit's "
				"LogsDirectory= makes /var/log/sockbroker)\n", dir);
			return 0;
		}
		snprintf(err, errlen, "audit.file: cannot create %.200s: its directory %.200s: %s; "
			 "create the directory and let the daemon's user write there, or remove "
			 "audit.file to audit to standard error", file, dir, strerror(-r));
		return r;
	}
	snprintf(err, errlen, "audit.file: cannot open %.200s for appending: %s; let the "
		 "daemon's user write it, or remove audit.file to audit to standard error",
		 file, strerror(-r));
	return r;
}

int
config_check_files(const struct config *cfg, FILE *out, char *err, size_t errlen)
{
	int r;

	if (cfg->tls_cert_key_file && cfg->tls_ca_file &&
	    (r = transport_check_tls_files(cfg->tls_cert_key_file, cfg->tls_ca_file, err,
					   errlen)) < 0)
		return r;
	if (cfg->audit_file && (r = check_audit_file(cfg->audit_file, out, err, errlen)) < 0)
		return r;
	return 0;
}

/* ---- rules that cannot decide ------------------------------------------------ */

/* Each `covers_*`: whether every value the later condition `b` accepts, `a` accepts too.
 * Conservative: "no" when unsure, so a warning is never wrong. */

static bool
covers_mask(uint64_t a, uint64_t b)
{
	return a == 0 || (b != 0 && (a & b) == b);
}

/* A list condition: empty accepts anything; else every element of `b` must be one that
 * an element of `a` accepts (`one(x, y)`: x accepts all that y does). */
static bool
covers_list(const void *a, size_t na, const void *b, size_t nb, size_t size,
	    bool (*one)(const void *x, const void *y))
{
	if (na == 0)
		return true;
	if (nb == 0)
		return false;
	for (size_t i = 0; i < nb; i++) {
		bool found = false;
		for (size_t j = 0; j < na && !found; j++)
			found = one((const char *)a + j * size, (const char *)b + i * size);
		if (!found)
			return false;
	}
	return true;
}

static bool
one_int(const void *x, const void *y)
{
	return *(const int *)x == *(const int *)y;
}

static bool
one_id(const void *x, const void *y)
{
	return *(const uint32_t *)x == *(const uint32_t *)y;
}

static bool
one_string(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y) == 0;
}

static bool
one_cidr(const void *xv, const void *yv)
{
	const struct policy_cidr *x = xv, *y = yv;
	if (x->family != y->family || x->prefix > y->prefix)
		return false;
	/* y lies inside x: their first x->prefix bits agree. */
	unsigned full = x->prefix / 8, rest = x->prefix % 8;
	return memcmp(x->addr, y->addr, full) == 0 &&
	       (rest == 0 || ((x->addr[full] ^ y->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0);
}

static bool
one_port_range(const void *xv, const void *yv)
{
	const struct policy_port_range *x = xv, *y = yv;
	return x->lo <= y->lo && y->hi <= x->hi;
}

static bool
one_sockopt(const void *xv, const void *yv)
{
	const struct policy_sockopt *x = xv, *y = yv;
	return x->level == y->level && (x->optname == -1 || x->optname == y->optname);
}

#define COVERS(a, na, b, nb, one) covers_list(a, na, b, nb, sizeof(*(a)), one)

static bool
covers_who(const struct policy_identity_match *a, const struct policy_identity_match *b)
{
	return COVERS(a->uids, a->n_uids, b->uids, b->n_uids, one_id) &&
	       COVERS(a->gids, a->n_gids, b->gids, b->n_gids, one_id) &&
	       COVERS(a->tokens, a->n_tokens, b->tokens, b->n_tokens, one_string) &&
	       (a->tls == -1 || a->tls == b->tls) && covers_mask(a->transports, b->transports);
}

/* Whether rule `a` matches every request rule `b` matches. */
static bool
covers(const struct policy_rule *a, const struct policy_rule *b)
{
	return covers_who(&a->who, &b->who) && covers_mask(a->ops, b->ops) &&
	       covers_mask(a->families, b->families) && covers_mask(a->types, b->types) &&
	       COVERS(a->protos, a->n_protos, b->protos, b->n_protos, one_int) &&
	       COVERS(a->addresses, a->n_addresses, b->addresses, b->n_addresses, one_cidr) &&
	       COVERS(a->ports, a->n_ports, b->ports, b->n_ports, one_port_range) &&
	       COVERS(a->unix_paths, a->n_unix_paths, b->unix_paths, b->n_unix_paths,
		      one_string) &&
	       COVERS(a->sockopts, a->n_sockopts, b->sockopts, b->n_sockopts, one_sockopt) &&
	       COVERS(a->hosts, a->n_hosts, b->hosts, b->n_hosts, one_string);
}

size_t
config_check_policy(const struct policy *policy, FILE *out)
{
	size_t n = 0;

	if (!policy)
		return 0;
	for (size_t j = 0; j < policy->n_rules; j++) {
		const struct policy_rule *b = &policy->rules[j];
		bool shadowed = false;

		for (size_t i = 0; i < j && !shadowed; i++) {
			if (!covers(&policy->rules[i], b))
				continue;
			fprintf(out, "warning: policy: rule %zu \"%s\" never decides anything: the "
				"earlier rule %zu \"%s\" matches every request it matches; remove "
				"it or move it up\n", j + 1, b->name, i + 1, policy->rules[i].name);
			shadowed = true;
			n++;
		}
		if (shadowed || !b->allow)
			continue;
		/* An allow rule followed, with only allow rules between, by an allow rule that
		 * matches everything it does: without it every decision stays the same, so its
		 * narrower conditions (a protocol list, say) limit nothing. */
		for (size_t k = j + 1; k < policy->n_rules; k++) {
			const struct policy_rule *a = &policy->rules[k];
			if (!a->allow)
				break;
			if (!covers(a, b))
				continue;
			fprintf(out, "warning: policy: rule %zu \"%s\" changes no decision: the "
				"later rule %zu \"%s\" allows every request it matches, so its "
				"conditions limit nothing; narrow rule %zu, or put a denying rule "
				"between them\n",
				j + 1, b->name, k + 1, a->name, k + 1);
			n++;
			break;
		}
	}
	return n;
}
