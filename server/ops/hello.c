#include <string.h>

#include "../constants.h"
#include "../daemon.h"
#include "../log.h"
#include "../session.h"
#include "ops.h"

int
op_hello(struct op *op, struct reply *reply)
{
	struct session *session = op->session;
	struct daemon *daemon = op->daemon;
	const struct request *req = op->req;

	if (!session->said_hello) {
		char who[160];
		session->said_hello = true;
		memcpy(session->client_name, req->hello.client_name, sizeof(session->client_name));
		session_describe(session, who, sizeof(who));
		if (req->hello.protocol_version != 1)
			log_info("%s: speaks protocol version %u; this daemon speaks 1",
				 who, req->hello.protocol_version);
		else
			log_debug("%s: hello", who);
	}

	reply->shape = REPLY_HELLO;
	struct reply_hello *hello = &reply->hello;
	hello->protocol_version = 1;
	hello->server_version = "sockbrokerd " SOCKBROKER_VERSION;
	hello->max_message_size = daemon->config->max_message_size;
	hello->max_data_size = daemon->limits.max_data_size;
	hello->max_handles = daemon->config->max_handles;
	hello->max_parked = daemon->config->max_parked;
	hello->session_id = session->id;
	hello->resume_secret = session->resume_secret;
	hello->resume_secret_len = sizeof(session->resume_secret);
	hello->constants = constants_table(&hello->n_constants);
	hello->has_credentials = session->identity.has_credentials;
	hello->uid = session->identity.uid;
	hello->gid = session->identity.gid;
	hello->pid = session->identity.pid;
	hello->tls_verified = session->identity.tls_verified;
	hello->peer = session->identity.peer;
	return OP_DONE;
}
