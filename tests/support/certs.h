/*
 * Throwaway TLS certificates for tests, made with the openssl tool in a fresh
 * temporary directory: a CA ("ca"), a server certificate signed by it
 * ("server", subject 127.0.0.1, the subjectAltName the caller gives), a
 * client certificate signed by it ("client"), and a client certificate
 * signed by another CA ("stranger"). Each NAME.pem holds NAME.crt followed by
 * NAME.key; ca.crt is the CA. Every openssl run is bounded in time.
 */
#ifndef SOCKBROKER_TEST_CERTS_H
#define SOCKBROKER_TEST_CERTS_H

#include <stdbool.h>

/* The server name the clients check by default: the address as an IP and as DNS names. */
#define TEST_CERTS_SERVER_SAN "IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost"

/* The directory of the certificates, "" when none were made (clear it in a case's setup). */
extern char cert_dir[64];

/* Make the certificates, the server's with subjectAltName `server_san` ("IP:127.0.0.1").
 * False, having said SKIP for `test`, when the openssl tool is missing; aborts the test when
 * openssl fails. */
bool make_certificates(const char *test, const char *server_san);

/* Remove them and their directory. */
void remove_certificates(void);

#endif
