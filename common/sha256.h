/*
 * sha256: SHA-256 as FIPS 180-4 defines it, for the daemon's access tokens.
 *
 * The configuration holds the SHA-256 of each token, never the token, so that a leaked
 * configuration file does not leak the tokens; an operator makes the hash with
 * `printf %s "$TOKEN" | sha256sum` (or `sockbrokerd --hash-token`). The daemon hashes the
 * token a client gives in Hello and compares digests with sha256_equal(), whose running time
 * does not depend on where two digests differ.
 *
 * Small and dependency-free on purpose: hashing a token per Hello needs no crypto library.
 * Every function is pure and thread-safe; a context is used by one thread at a time.
 */
#ifndef SOCKBROKER_SHA256_H
#define SOCKBROKER_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64
/* Hexadecimal digits of a digest, without the NUL. */
#define SHA256_HEX_LEN (2 * SHA256_DIGEST_LEN)

/* A hash in progress. */
struct sha256_ctx {
	uint32_t state[8];
	uint64_t total_len; /* bytes hashed so far */
	uint8_t block[SHA256_BLOCK_LEN];
	size_t block_used;  /* bytes of `block` filled */
};

/* Start a hash. */
void sha256_init(struct sha256_ctx *ctx);

/* Hash `len` more bytes of `data` (which may be NULL when len is 0). */
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len);

/* Finish: write the digest and wipe the context (it may hold bytes of a secret). */
void sha256_final(struct sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_LEN]);

/* The digest of `len` bytes at `data`, in one call. */
void sha256_digest(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN]);

/* `digest` as 64 lower-case hexadecimal digits and a NUL, as sha256sum prints it. */
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1]);

/*
 * Read exactly 64 hexadecimal digits (either case, nothing before or after) into `digest`.
 * Returns 0, or -EINVAL (digest then unspecified) for anything else.
 */
int sha256_from_hex(const char *hex, uint8_t digest[SHA256_DIGEST_LEN]);

/* Whether two digests are equal, in time that does not depend on their contents. */
bool sha256_equal(const uint8_t a[SHA256_DIGEST_LEN], const uint8_t b[SHA256_DIGEST_LEN]);

#endif
