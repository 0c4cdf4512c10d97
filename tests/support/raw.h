/*
 * A raw wire client for tests: it sends requests the C library would never
 * send (garbage, missing fields, out-of-range values) and hands back the
 * unpacked Reply. One raw client is one session.
 */
#ifndef SOCKBROKER_TEST_RAW_H
#define SOCKBROKER_TEST_RAW_H

#include <stddef.h>

#include "sockbroker.pb-c.h"

struct raw_client;

/* Dial `url`; with `hello`, say Hello first. Aborts the test on failure. */
struct raw_client *raw_connect(const char *url, int hello);

void raw_close(struct raw_client *client);

/* Send `len` bytes as one request and wait (at most 10 s) for the reply.
 * Returns the unpacked reply (free with sockbroker__v1__reply__free_unpacked),
 * or NULL if the reply was not a Reply message. Aborts on timeout. */
Sockbroker__V1__Reply *raw_call_bytes(struct raw_client *client, const void *buf, size_t len);

/* Pack `request` and call. */
Sockbroker__V1__Reply *raw_call(struct raw_client *client, const Sockbroker__V1__Request *request);

#endif
