/*
 * fdpass: a brokered socket handed from one handle to another over a
 * brokered AF_UNIX socketpair (SCM_RIGHTS), then used: a UDP datagram is
 * received through the passed socket with recvmsg, and the IP_PKTINFO
 * ancillary data the kernel attached to it is printed.
 *
 *   fdpass [BROKER-URL]        (default: $SOCKBROKER_URL, else the daemon's default)
 *
 * The constants used here (AF_*, SOL_SOCKET, IP_PKTINFO, ...) are this
 * host's; a client on another platform would ask the daemon for its values
 * with sb_constant().
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sockbroker.h"

static struct sb_client *client;

static void
check(int r, const char *what, const struct sb_error *err)
{
	if (r >= 0)
		return;
	fprintf(stderr, "fdpass: %s: %s (%s)\n", what, err->message, err->errno_name);
	sb_client_free(client);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct sb_error err;
	struct sb_addr addr;
	sb_handle udp, pair[2], passed, sender;
	size_t n_passed, space;
	char buf[16];

	check(sb_client_new(&client, argc > 1 ? argv[1] : NULL, "fdpass", &err), "connect", &err);

	/* A UDP socket on loopback that asks the kernel for IP_PKTINFO. */
	check(sb_socket(client, AF_INET, SOCK_DGRAM, 0, &udp, &err), "socket", &err);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	check(sb_bind(client, udp, &addr, &err), "bind", &err);
	check(sb_setsockopt_int(client, udp, IPPROTO_IP, IP_PKTINFO, 1, &err), "setsockopt", &err);

	/* Pass it through a socketpair: it arrives as a new handle. */
	check(sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err), "socketpair", &err);
	check((int)sb_send_fds(client, pair[0], "udp", 3, &udp, 1, &err), "send_fds", &err);
	check((int)sb_recv_fds(client, pair[1], buf, sizeof(buf), &passed, 1, &n_passed, 0, NULL,
			       &err),
	      "recv_fds", &err);
	if (n_passed != 1) {
		fprintf(stderr, "fdpass: no socket arrived\n");
		return 1;
	}
	printf("handle %llu was passed and arrived as handle %llu\n", (unsigned long long)udp,
	       (unsigned long long)passed);
	/* The original can go: the passed handle holds the same socket. */
	check(sb_close(client, udp, &err), "close", &err);

	/* Send it a datagram from another brokered socket... */
	check(sb_getsockname(client, passed, &addr, &err), "getsockname", &err);
	check(sb_socket(client, AF_INET, SOCK_DGRAM, 0, &sender, &err), "socket", &err);
	check((int)sb_sendto(client, sender, "hello", 5, 0, &addr, &err), "sendto", &err);

	/* ...and receive it through the passed one, with its ancillary data. */
	struct sb_msg *msg;
	check(sb_cmsg_space(client, sizeof(struct in_pktinfo), &space, &err), "CMSG_SPACE", &err);
	check((int)sb_recvmsg(client, passed, 64, space, 0, &msg, &err), "recvmsg", &err);
	char from[300];
	sb_addr_format(&msg->address, from, sizeof(from));
	printf("received \"%.*s\" from %s\n", (int)msg->len, (const char *)msg->data, from);
	for (size_t i = 0; i < msg->n_ancillary; i++) {
		const struct sb_cmsg *cmsg = &msg->ancillary[i];
		if (cmsg->view == SB_CMSG_PKTINFO)
			printf("IP_PKTINFO: ifindex %u, spec_dst %s, addr %s\n",
			       cmsg->pktinfo.ifindex, cmsg->pktinfo.spec_dst, cmsg->pktinfo.addr);
		else
			printf("ancillary item: level %d, type %d, %zu bytes\n", cmsg->level,
			       cmsg->type, cmsg->len);
	}
	sb_msg_free(msg);

	sb_client_free(client); /* closes every handle of the session */
	return 0;
}
