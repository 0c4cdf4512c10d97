/* SHA-256 after FIPS 180-4, sections 4.1.2, 4.2.2, 5.1.1, 5.3.3 and 6.2. */
#include "sha256.h"

#include <errno.h>
#include <string.h>

#include "hex.h"

static const uint32_t round_constants[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t
rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
compress(uint32_t state[8], const uint8_t block[SHA256_BLOCK_LEN])
{
	uint32_t schedule[64];
	uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
	uint32_t e = state[4], f = state[5], g = state[6], h = state[7];

	for (unsigned t = 0; t < 16; t++)
		schedule[t] = load_be32(block + 4 * t);
	for (unsigned t = 16; t < 64; t++) {
		uint32_t s0 = rotr(schedule[t - 15], 7) ^ rotr(schedule[t - 15], 18) ^
			      (schedule[t - 15] >> 3);
		uint32_t s1 = rotr(schedule[t - 2], 17) ^ rotr(schedule[t - 2], 19) ^
			      (schedule[t - 2] >> 10);
		schedule[t] = schedule[t - 16] + s0 + schedule[t - 7] + s1;
	}
	for (unsigned t = 0; t < 64; t++) {
		uint32_t sum1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t choose = (e & f) ^ (~e & g);
		uint32_t t1 = h + sum1 + choose + round_constants[t] + schedule[t];
		uint32_t sum0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = sum0 + majority;

		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
	/* The schedule is derived from the message, which may be a token. */
	explicit_bzero(schedule, sizeof(schedule));
}

void
sha256_init(struct sha256_ctx *ctx)
{
	static const uint32_t initial[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(ctx->state, initial, sizeof(initial));
	ctx->total_len = 0;
	ctx->block_used = 0;
}

void
sha256_update(struct sha256_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *in = data;

	ctx->total_len += len;
	if (ctx->block_used > 0) {
		size_t take = SHA256_BLOCK_LEN - ctx->block_used;

		if (take > len)
			take = len;
		memcpy(ctx->block + ctx->block_used, in, take);
		ctx->block_used += take;
		in += take;
		len -= take;
		if (ctx->block_used < SHA256_BLOCK_LEN)
			return;
		compress(ctx->state, ctx->block);
		ctx->block_used = 0;
	}
	for (; len >= SHA256_BLOCK_LEN; in += SHA256_BLOCK_LEN, len -= SHA256_BLOCK_LEN)
		compress(ctx->state, in);
	if (len > 0) {
		memcpy(ctx->block, in, len);
		ctx->block_used = len;
	}
}

void
sha256_final(struct sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_LEN])
{
	uint64_t bits = ctx->total_len * 8;

	/* Padding: a 1 bit, zeros up to 56 bytes into a block, the length in bits. */
	ctx->block[ctx->block_used++] = 0x80;
	if (ctx->block_used > SHA256_BLOCK_LEN - 8) {
		memset(ctx->block + ctx->block_used, 0, SHA256_BLOCK_LEN - ctx->block_used);
		compress(ctx->state, ctx->block);
		ctx->block_used = 0;
	}
	memset(ctx->block + ctx->block_used, 0, SHA256_BLOCK_LEN - 8 - ctx->block_used);
	store_be32(ctx->block + 56, (uint32_t)(bits >> 32));
	store_be32(ctx->block + 60, (uint32_t)bits);
	compress(ctx->state, ctx->block);
	for (unsigned i = 0; i < 8; i++)
		store_be32(digest + 4 * i, ctx->state[i]);
	explicit_bzero(ctx, sizeof(*ctx));
}

void
sha256_digest(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, digest);
}

void
sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < SHA256_DIGEST_LEN; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 0xf];
	}
	hex[SHA256_HEX_LEN] = '\0';
}

int
sha256_from_hex(const char *hex, uint8_t digest[SHA256_DIGEST_LEN])
{
	if (!hex)
		return -EINVAL;
	for (size_t i = 0; i < SHA256_DIGEST_LEN; i++) {
		int high, low;

		/* hex_value('\0') is -1, so a short string stops here before reading past it. */
		if ((high = hex_value(hex[2 * i])) < 0 || (low = hex_value(hex[2 * i + 1])) < 0)
			return -EINVAL;
		digest[i] = (uint8_t)(high << 4 | low);
	}
	return hex[SHA256_HEX_LEN] == '\0' ? 0 : -EINVAL;
}

bool
sha256_equal(const uint8_t a[SHA256_DIGEST_LEN], const uint8_t b[SHA256_DIGEST_LEN])
{
	/* Every byte is looked at whatever the earlier ones were; volatile keeps the compiler
	 * from turning the loop into an early-exit comparison. */
	volatile uint8_t difference = 0;

	for (size_t i = 0; i < SHA256_DIGEST_LEN; i++)
		difference |= a[i] ^ b[i];
	return difference == 0;
}
