#include "raw.h"

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>

struct raw_client {
	nng_socket socket;
};

struct raw_client *
raw_connect(const char *url, int hello)
{
	struct raw_client *client = calloc(1, sizeof(*client));
	ck_assert(client);
	ck_assert_int_eq(nng_req0_open(&client->socket), 0);
	ck_assert_int_eq(nng_socket_set_ms(client->socket, NNG_OPT_REQ_RESENDTIME,
					   NNG_DURATION_INFINITE), 0);
	ck_assert_int_eq(nng_socket_set_ms(client->socket, NNG_OPT_RECVTIMEO, 10000), 0);
	int rv = nng_dial(client->socket, url, NULL, 0);
	ck_assert_msg(rv == 0, "dial %s: %s", url, nng_strerror(rv));
	if (hello) {
		Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
		Sockbroker__V1__HelloRequest hello_request = SOCKBROKER__V1__HELLO_REQUEST__INIT;
		request.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
		request.hello = &hello_request;
		Sockbroker__V1__Reply *reply = raw_call(client, &request);
		ck_assert(reply && !reply->error);
		sockbroker__v1__reply__free_unpacked(reply, NULL);
	}
	return client;
}

void
raw_close(struct raw_client *client)
{
	nng_close(client->socket);
	free(client);
}

Sockbroker__V1__Reply *
raw_call_bytes(struct raw_client *client, const void *buf, size_t len)
{
	int rv = nng_send(client->socket, (void *)buf, len, 0);
	ck_assert_msg(rv == 0, "send: %s", nng_strerror(rv));
	nng_msg *msg;
	rv = nng_recvmsg(client->socket, &msg, 0);
	ck_assert_msg(rv == 0, "no reply from the daemon: %s", nng_strerror(rv));
	Sockbroker__V1__Reply *reply =
		sockbroker__v1__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	return reply;
}

Sockbroker__V1__Reply *
raw_call(struct raw_client *client, const Sockbroker__V1__Request *request)
{
	size_t len = sockbroker__v1__request__get_packed_size(request);
	uint8_t *buf = malloc(len ? len : 1);
	ck_assert(buf);
	sockbroker__v1__request__pack(request, buf);
	Sockbroker__V1__Reply *reply = raw_call_bytes(client, buf, len);
	free(buf);
	return reply;
}
