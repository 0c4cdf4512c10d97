/*
 * family: the socket address families the broker serves, by number and by name, for the
 * daemon's messages, logs and audit lines and for the clients' tools. One table, so that a
 * family the broker learns is named the same everywhere. Pure and thread-safe; the strings
 * are static.
 */
#ifndef SOCKBROKER_FAMILY_H
#define SOCKBROKER_FAMILY_H

#include <sys/socket.h>

/* Every family the broker serves, X(AF_ constant, short name), in <sys/socket.h> order. */
#define FAMILY_SERVED(X) \
	X(AF_UNIX, "unix") X(AF_INET, "inet") X(AF_INET6, "inet6") X(AF_NETLINK, "netlink") \
	X(AF_PACKET, "packet") X(AF_ALG, "alg") X(AF_VSOCK, "vsock") X(AF_CAN, "can") \
	X(AF_TIPC, "tipc")

/* The constant's name of a family the broker serves ("AF_INET6"), or NULL for any other. */
const char *family_name(int family);

/* The short name of a family the broker serves ("inet6"), or NULL for any other. */
const char *family_short_name(int family);

#endif
