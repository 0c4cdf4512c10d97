/*
 * Hello: the first request of a session. It names the client, may carry an
 * access token, and answers the daemon's limits, constants and the identity
 * the daemon sees.
 *
 * A token is checked by its SHA-256 against every entry of auth.tokens (the
 * configuration holds hashes only); a match names the session after the
 * entry. A wrong token, or none on a transport listed in
 * auth.require_token, is refused with DENIED/EACCES: the session stays open
 * without having said Hello, so the client may try again. The first Hello
 * that succeeds fixes the session's identity; a later Hello is answered the
 * same and changes nothing. The token itself is never logged, audited or
 * echoed: only the entry's name is.
 *
 * A Hello that brings a resume secret takes a detached session over
 * (resume.c), after the same token check: the reply is that session's, with
 * the replies its client missed. The constants table is left out when the
 * client already holds it (HelloRequest.constants_digest).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../audit.h"
#include "../config.h"
#include "../constants.h"
#include "../log.h"
#include "../resume.h"
#include "../session.h"
#include "sha256.h"
#include "ops.h"

#define HELLO_EVENT "sockbroker.hello"

/* Refuse this Hello: reply DENIED/EACCES with the message, log it at warn
 * level and audit it (`rule` names the configuration that decided). */
static int
refuse(struct op *op, struct reply *reply, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
refuse(struct op *op, struct reply *reply, const char *rule, const char *fmt, ...)
{
	struct session *session = op->session;
	char who[160];
	va_list ap;

	memset(&reply->error, 0, sizeof(reply->error));
	reply->error.kind = ERROR_DENIED;
	reply->error.errnum = EACCES;
	reply->error.rule = rule;
	va_start(ap, fmt);
	vsnprintf(reply->error.message, sizeof(reply->error.message), fmt, ap);
	va_end(ap);

	session_describe(session, who, sizeof(who));
	log_warn("%s: Hello refused (%s): %s", who, rule, reply->error.message);

	struct audit_record record = {
		.event = HELLO_EVENT,
		.session = session->id,
		.peer = &session->identity,
		.client_name = session->client_name,
		.decision = AUDIT_DENY,
		.rule = rule,
		.errnum = EACCES,
		.error_kind = "denied",
		.message = reply->error.message,
	};
	audit_arg_bool(&record, "token_given", op->req->hello.token != NULL);
	audit_write(op->ctx->audit, &record);
	op->audited = true;
	return OP_FAILED;
}

/* The configured token whose hash is the hash of `token`, or NULL. */
static const struct config_token *
find_token(const struct config *config, const char *token)
{
	const struct config_token *match = NULL;
	uint8_t digest[SHA256_DIGEST_LEN];

	sha256_digest(token, strlen(token), digest);
	/* Every entry is compared, so the time taken does not tell which one
	 * matched, or whether one did. */
	for (size_t i = 0; i < config->n_tokens; i++) {
		bool equal = sha256_equal(digest, config->tokens[i].sha256);
		if (equal && !match)
			match = &config->tokens[i];
	}
	explicit_bzero(digest, sizeof(digest));
	return match;
}

/* Decide the first Hello of a session: 0 (session->token_name set when a
 * token matched) or OP_FAILED with the refusal in reply. */
static int
authenticate(struct op *op, struct reply *reply)
{
	const struct config *config = op->ctx->config;
	struct session *session = op->session;
	const char *token = op->req->hello.token;
	enum policy_transport transport = session->identity.transport;

	if (token) {
		const struct config_token *match = find_token(config, token);
		if (!match)
			return refuse(op, reply, "auth.tokens",
				      "the token given in Hello is not valid for this daemon; "
				      "check the token or ask the operator for one");
		snprintf(session->token_name, sizeof(session->token_name), "%s", match->name);
		return 0;
	}
	if (config->require_token & (1u << transport))
		return refuse(op, reply, "auth.require_token",
			      "this daemon requires a token on %s connections; pass one in Hello "
			      "(SOCKBROKER_TOKEN)",
			      policy_transport_name(transport));
	return 0;
}

/* The SHA-256 of the constants table, as HelloReply.constants_digest gives it: each entry
 * as "NAME=VALUE\n", in the table's order. Made once. */
static const uint8_t *
constants_digest(void)
{
	static uint8_t digest[SHA256_DIGEST_LEN];
	static bool made;

	if (!made) {
		size_t n;
		const struct constant *table = constants_table(&n);
		struct sha256_ctx ctx;
		char line[128];

		sha256_init(&ctx);
		for (size_t i = 0; i < n; i++) {
			int len = snprintf(line, sizeof(line), "%s=%lld\n", table[i].name,
					   (long long)table[i].value);
			sha256_update(&ctx, line, (size_t)len < sizeof(line) ? (size_t)len : 0);
		}
		sha256_final(&ctx, digest);
		made = true;
	}
	return digest;
}

int
op_hello(struct op *op, struct reply *reply)
{
	struct session *session = op->session;
	struct op_context *ctx = op->ctx;
	const struct request *req = op->req;

	/* Hello has no policy question; its one record is written here. */
	op->audited = true;
	if (req->hello.resume) {
		if (!session->said_hello) {
			memcpy(session->client_name, req->hello.client_name,
			       sizeof(session->client_name));
			int r = authenticate(op, reply);
			if (r != 0)
				return r;
		}
		int r = resume_take_over(op, reply, &session);
		if (r != 0)
			return r;
	} else if (!session->said_hello) {
		char who[160];
		memcpy(session->client_name, req->hello.client_name, sizeof(session->client_name));
		int r = authenticate(op, reply);
		if (r != 0)
			return r;
		session->said_hello = true;
		session_describe(session, who, sizeof(who));
		if (req->hello.protocol_version != 1)
			log_info("%s: speaks protocol version %u; this daemon speaks 1",
				 who, req->hello.protocol_version);
		else if (session->token_name[0])
			log_debug("%s: hello with the token \"%s\"", who, session->token_name);
		else
			log_debug("%s: hello", who);

		struct audit_record record = {
			.event = HELLO_EVENT,
			.session = session->id,
			.peer = &session->identity,
			.token_name = session->token_name[0] ? session->token_name : NULL,
			.client_name = session->client_name,
			.decision = AUDIT_ALLOW,
		};
		audit_arg_string(&record, "token",
				 session->token_name[0] ? session->token_name : NULL);
		audit_write(ctx->audit, &record);
	}

	reply->shape = REPLY_HELLO;
	struct reply_hello *hello = &reply->hello;
	hello->constants_digest = constants_digest();
	hello->resume_grace_ms = op_resume_grace_ms(op);
	hello->protocol_version = 1;
	hello->server_version = "sockbrokerd " SOCKBROKER_VERSION;
	hello->max_message_size = ctx->config->max_message_size;
	hello->max_data_size = ctx->limits->max_data_size;
	hello->max_handles = ctx->config->max_handles;
	hello->max_parked = ctx->config->max_parked;
	hello->session_id = session->id;
	hello->resume_secret = session->resume_secret;
	hello->resume_secret_len = sizeof(session->resume_secret);
	if (!req->hello.has_digest ||
	    memcmp(req->hello.digest, hello->constants_digest, SHA256_DIGEST_LEN) != 0)
		hello->constants = constants_table(&hello->n_constants);
	hello->has_credentials = session->identity.has_credentials;
	hello->uid = session->identity.uid;
	hello->gid = session->identity.gid;
	hello->pid = session->identity.pid;
	hello->tls_verified = session->identity.tls_verified;
	hello->peer = session->identity.peer;
	hello->token_name = session->token_name;
	hello->handoff = op_can_pass_fds(op);
	return OP_DONE;
}
