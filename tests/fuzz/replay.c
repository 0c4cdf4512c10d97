/*
 * Deterministic mutation run of the wire fuzz target, for every test run
 * (with sanitizers and valgrind too): valid requests of every shape, packed,
 * then flipped, truncated, spliced and extended with a fixed-seed generator.
 * Any crash, sanitizer report or leak fails the test. Files named on the
 * command line (a libFuzzer corpus, crash reproducers) are replayed first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sockbroker.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef MUTATIONS_PER_SEED
#define MUTATIONS_PER_SEED 3000
#endif
#define FUZZ_INPUT_MAX 4096

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static size_t
pack(const Sockbroker__V1__Request *request, uint8_t *buf)
{
	size_t len = sockbroker__v1__request__get_packed_size(request);
	if (len > FUZZ_INPUT_MAX)
		abort();
	return sockbroker__v1__request__pack(request, buf);
}

/* Valid requests of the main shapes, as seeds. */
static size_t
make_seeds(uint8_t seeds[][FUZZ_INPUT_MAX], size_t *lens)
{
	size_t n = 0;
	Sockbroker__V1__Request req;
	Sockbroker__V1__HelloRequest hello = SOCKBROKER__V1__HELLO_REQUEST__INIT;
	Sockbroker__V1__SocketRequest sock = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	Sockbroker__V1__ConnectRequest conn = SOCKBROKER__V1__CONNECT_REQUEST__INIT;
	Sockbroker__V1__Address addr = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__Inet6Address in6 = SOCKBROKER__V1__INET6_ADDRESS__INIT;
	Sockbroker__V1__UnixAddress un;
	Sockbroker__V1__SendRequest send = SOCKBROKER__V1__SEND_REQUEST__INIT;
	Sockbroker__V1__RecvRequest recv = SOCKBROKER__V1__RECV_REQUEST__INIT;
	Sockbroker__V1__SetSockOptRequest opt = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__INIT;
	Sockbroker__V1__BindRequest bind = SOCKBROKER__V1__BIND_REQUEST__INIT;

	sockbroker__v1__request__init(&req);
	req.has_seq = 1;
	req.seq = 7;
	hello.client_name = "fuzz";
	req.op_case = SOCKBROKER__V1__REQUEST__OP_HELLO;
	req.hello = &hello;
	lens[n] = pack(&req, seeds[n]), n++;
	hello.token = "fuzz-token";
	lens[n] = pack(&req, seeds[n]), n++;

	sock.has_family = sock.has_type = sock.has_timeout = 1;
	sock.family = AF_INET6;
	sock.type = SOCK_DGRAM;
	sock.timeout = 1.5;
	req.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	req.socket = &sock;
	lens[n] = pack(&req, seeds[n]), n++;

	in6.host = "fe80::1%1";
	in6.has_port = in6.has_flowinfo = in6.has_scope_id = 1;
	in6.port = 443;
	in6.flowinfo = 5;
	in6.scope_id = 1;
	addr.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET6;
	addr.af_inet6 = &in6;
	conn.has_handle = conn.has_ex = 1;
	conn.handle = 3;
	conn.ex = 1;
	conn.address = &addr;
	req.op_case = SOCKBROKER__V1__REQUEST__OP_CONNECT;
	req.connect = &conn;
	lens[n] = pack(&req, seeds[n]), n++;

	sockbroker__v1__unix_address__init(&un);
	un.name_case = SOCKBROKER__V1__UNIX_ADDRESS__NAME_ABSTRACT;
	un.abstract.data = (uint8_t *)"name";
	un.abstract.len = 4;
	Sockbroker__V1__Address uaddr = SOCKBROKER__V1__ADDRESS__INIT;
	uaddr.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_UNIX;
	uaddr.af_unix = &un;
	bind.has_handle = 1;
	bind.handle = 2;
	bind.address = &uaddr;
	req.op_case = SOCKBROKER__V1__REQUEST__OP_BIND;
	req.bind = &bind;
	lens[n] = pack(&req, seeds[n]), n++;

	send.has_handle = send.has_data = send.has_flags = 1;
	send.handle = 4;
	send.data.data = (uint8_t *)"0123456789";
	send.data.len = 10;
	send.flags = 0x40;
	req.op_case = SOCKBROKER__V1__REQUEST__OP_SENDALL;
	req.sendall = &send;
	lens[n] = pack(&req, seeds[n]), n++;

	recv.has_handle = recv.has_bufsize = recv.has_flags = 1;
	recv.handle = 4;
	recv.bufsize = 65536;
	recv.flags = 2;
	req.op_case = SOCKBROKER__V1__REQUEST__OP_RECVFROM;
	req.recvfrom = &recv;
	lens[n] = pack(&req, seeds[n]), n++;

	opt.has_handle = opt.has_level = opt.has_optname = 1;
	opt.handle = 4;
	opt.level = SOL_SOCKET;
	opt.optname = SO_LINGER;
	opt.value_case = SOCKBROKER__V1__SET_SOCK_OPT_REQUEST__VALUE_BYTES_VALUE;
	opt.bytes_value.data = (uint8_t *)"\1\0\0\0\7\0\0\0";
	opt.bytes_value.len = 8;
	req.op_case = SOCKBROKER__V1__REQUEST__OP_SETSOCKOPT;
	req.setsockopt = &opt;
	lens[n] = pack(&req, seeds[n]), n++;
	return n;
}

static size_t
mutate(uint8_t *buf, size_t len, const uint8_t seeds[][FUZZ_INPUT_MAX], const size_t *lens,
       size_t n_seeds)
{
	switch (rng() % 6) {
	case 0: /* flip bits */
		for (int i = 0, k = 1 + (int)(rng() % 4); i < k && len; i++)
			buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
		return len;
	case 1: /* truncate */
		return len ? rng() % len : 0;
	case 2: /* a random byte */
		if (len)
			buf[rng() % len] = (uint8_t)rng();
		return len;
	case 3: { /* splice another seed's tail */
		size_t other = rng() % n_seeds;
		size_t at = len ? rng() % len : 0;
		size_t from = lens[other] ? rng() % lens[other] : 0;
		size_t take = lens[other] - from;
		if (at + take > FUZZ_INPUT_MAX)
			take = FUZZ_INPUT_MAX - at;
		memcpy(buf + at, seeds[other] + from, take);
		return at + take;
	}
	case 4: /* extend with random bytes */
		for (int i = 0, k = 1 + (int)(rng() % 16); i < k && len < FUZZ_INPUT_MAX; i++)
			buf[len++] = (uint8_t)rng();
		return len;
	default: /* large varints where lengths go */
		if (len > 2) {
			size_t at = rng() % (len - 1);
			buf[at] = 0xff;
			buf[at + 1] = 0xff;
		}
		return len;
	}
}

static int
replay_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	return 0;
}

int
main(int argc, char **argv)
{
	static uint8_t seeds[16][FUZZ_INPUT_MAX];
	size_t lens[16];
	uint8_t buf[FUZZ_INPUT_MAX];
	size_t runs = 0;

	for (int i = 1; i < argc; i++)
		if (replay_file(argv[i]) < 0)
			return 1;

	size_t n_seeds = make_seeds(seeds, lens);
	for (size_t s = 0; s < n_seeds; s++) {
		LLVMFuzzerTestOneInput(seeds[s], lens[s]);
		for (int m = 0; m < MUTATIONS_PER_SEED; m++) {
			size_t len = lens[s];
			memcpy(buf, seeds[s], len);
			for (int k = 0, steps = 1 + (int)(rng() % 3); k < steps; k++)
				len = mutate(buf, len, (const uint8_t(*)[FUZZ_INPUT_MAX])seeds, lens,
					     n_seeds);
			LLVMFuzzerTestOneInput(buf, len);
			runs++;
		}
	}
	printf("wire fuzz replay: %zu seeds, %zu mutated inputs, %d files\n", n_seeds, runs,
	       argc - 1);
	return 0;
}
