/*
 * Real servers for tests, on loopback, each on its own thread: they echo
 * what they receive until the peer closes or 10 s pass without traffic. They
 * use direct kernel sockets: the broker's clients talk to them as to any
 * server on the host.
 */
#ifndef SOCKBROKER_TEST_SERVERS_H
#define SOCKBROKER_TEST_SERVERS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

struct echo_server {
	int fd;
	int family;
	int type;
	uint16_t port;
	char path[108]; /* AF_UNIX */
	pthread_t thread;
	int upper;      /* reply in upper case (to tell the reply from the request) */
};

/* Start an echo server on 127.0.0.1 (AF_INET) or ::1 (AF_INET6), TCP or UDP,
 * on a free port; or on an AF_UNIX path. It serves one TCP connection at a
 * time, up to 4 in sequence. Returns 0, or -errno (e.g. no IPv6). */
int echo_server_start(struct echo_server *server, int family, int type);
int echo_server_start_unix(struct echo_server *server, const char *path, int abstract);

/* Stop it and join its thread. */
void echo_server_stop(struct echo_server *server);

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
uint16_t closed_tcp_port(void);

#endif
