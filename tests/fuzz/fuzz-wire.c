/*
 * Fuzz target for the daemon's one parse point of untrusted bytes:
 * wire_decode_request() on arbitrary input, and for what decodes, the reply
 * encoder on an error reply naming it. Built as a libFuzzer program with
 * -Dfuzz=true under clang; replay.c drives the same function in every test
 * run with deterministic mutations of valid requests.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *
alloc_reply(void *userdata, size_t len)
{
	void **buf = userdata;
	void *grown = realloc(*buf, len ? len : 1);
	if (grown)
		*buf = grown;
	return grown;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_limits limits = { .max_data_size = 1 << 20 };
	struct request *request;
	struct wire_error error;
	struct reply reply = { 0 };
	void *buf = NULL;

	if (wire_decode_request(data, size, &limits, &request, &error) == 0) {
		reply.seq = request->seq;
		reply.op = request->op;
		reply.shape = REPLY_DONE;
		wire_request_free(request);
	} else {
		reply.seq = error.seq;
		reply.error.kind = (enum error_kind)error.kind;
		reply.error.errnum = error.errnum;
	}
	wire_encode_reply(&reply, alloc_reply, &buf);
	free(buf);
	return 0;
}
