/*
 * The real daemon, through the C library: sendmsg and recvmsg with ancillary
 * data (IP_PKTINFO, IPV6_PKTINFO, SO_TIMESTAMPNS, IP_TTL, IP_TOS,
 * SCM_CREDENTIALS, IP_RECVERR with MSG_ERRQUEUE), MSG_TRUNC and MSG_CTRUNC as
 * the kernel reports them, SCM_RIGHTS between brokered sockets and from
 * outside the broker, send_fds/recv_fds, sendfile, and the lifecycle extras
 * (socketpair, dup, the inheritable flag, has_ipv6, CMSG_LEN/CMSG_SPACE).
 * Every operation's success path, OS-error path and bad-input path; and
 * the daemon's fd count, which must come back to where it was.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "servers.h"
#include "sockbroker.h"


static void
start_with(const char *config_json)
{
	fixture_start(config_json, "test-msg");
}

static void
setup(void)
{
	start_with(NULL);
}

static void
teardown(void)
{
	fixture_stop();
}

static void
set_int_option(sb_handle h, int level, int name, int value)
{
	struct sb_error err;
	int r = sb_setsockopt_int(client, h, level, name, value, &err);
	ck_assert_msg(r == 0, "setsockopt(%d, %d): %s", level, name, err.message);
}

/* A direct kernel UDP socket connected to a loopback port; optionally with
 * IP_TOS set. */
static int
direct_udp_to(int family, uint16_t port, int tos)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (tos)
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
		sin6.sin6_addr = in6addr_loopback;
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	return fd;
}

static const struct sb_cmsg *
find_item(const struct sb_msg *msg, int level, int type)
{
	for (size_t i = 0; i < msg->n_ancillary; i++)
		if (msg->ancillary[i].level == level && msg->ancillary[i].type == type)
			return &msg->ancillary[i];
	return NULL;
}

static size_t
cmsg_space(size_t length)
{
	size_t space;
	struct sb_error err;
	ck_assert_int_eq(sb_cmsg_space(client, length, &space, &err), 0);
	return space;
}

/* ---- recvmsg: decoded ancillary data ---------------------------------------- */

START_TEST(udp_recvmsg_decodes_ip_pktinfo)
{
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	set_int_option(h, IPPROTO_IP, IP_PKTINFO, 1);
	int tx = direct_udp_to(AF_INET, port, 0);
	ck_assert_int_eq(send(tx, "pktinfo", 7, 0), 7);

	ssize_t n = sb_recvmsg(client, h, 64, cmsg_space(sizeof(struct in_pktinfo)), 0, &msg, &err);
	ck_assert_msg(n == 7, "recvmsg: %zd %s", n, err.message);
	ck_assert(memcmp(msg->data, "pktinfo", 7) == 0);
	ck_assert_int_eq(msg->msg_flags, 0);
	ck_assert(msg->has_address);
	ck_assert_str_eq(msg->address.host, "127.0.0.1");
	const struct sb_cmsg *info = find_item(msg, IPPROTO_IP, IP_PKTINFO);
	ck_assert_ptr_nonnull(info);
	ck_assert_int_eq(info->view, SB_CMSG_PKTINFO);
	ck_assert_str_eq(info->pktinfo.addr, "127.0.0.1");
	ck_assert_str_eq(info->pktinfo.spec_dst, "127.0.0.1");
	ck_assert_uint_eq(info->pktinfo.ifindex, if_nametoindex("lo"));
	/* The kernel's bytes travel too, exactly. */
	ck_assert_uint_eq(info->len, sizeof(struct in_pktinfo));
	struct in_pktinfo raw;
	memcpy(&raw, info->data, sizeof(raw));
	ck_assert_uint_eq(raw.ipi_addr.s_addr, htonl(INADDR_LOOPBACK));
	sb_msg_free(msg);
	close(tx);
}
END_TEST

/* Whether the daemon and this host have an IPv6 loopback; otherwise `test` is reported
 * skipped. */
static bool
has_ipv6_loopback(const char *test)
{
	bool has_ipv6;
	struct sb_error err;
	ck_assert_int_eq(sb_has_ipv6(client, &has_ipv6, &err), 0);
	int probe = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool usable = has_ipv6 && probe >= 0 &&
		      bind(probe, (struct sockaddr *)&lo6, sizeof(lo6)) == 0;
	if (probe >= 0)
		close(probe);
	if (!usable)
		test_skip(test, "no IPv6 loopback here");
	return usable;
}

START_TEST(udp6_recvmsg_decodes_ipv6_pktinfo)
{
	struct sb_error err;
	if (!has_ipv6_loopback("udp6_recvmsg_decodes_ipv6_pktinfo"))
		return;

	uint16_t port;
	struct sb_msg *msg;
	sb_handle h = fixture_bound_udp(AF_INET6, &port);
	set_int_option(h, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	int tx = direct_udp_to(AF_INET6, port, 0);
	ck_assert_int_eq(send(tx, "six", 3, 0), 3);
	ssize_t n =
		sb_recvmsg(client, h, 64, cmsg_space(sizeof(struct in6_pktinfo)), 0, &msg, &err);
	ck_assert_msg(n == 3, "recvmsg: %zd %s", n, err.message);
	const struct sb_cmsg *info = find_item(msg, IPPROTO_IPV6, IPV6_PKTINFO);
	ck_assert_ptr_nonnull(info);
	ck_assert_int_eq(info->view, SB_CMSG_PKTINFO);
	ck_assert_str_eq(info->pktinfo.addr, "::1");
	ck_assert_str_eq(info->pktinfo.spec_dst, "");
	ck_assert_uint_eq(info->pktinfo.ifindex, if_nametoindex("lo"));
	ck_assert_int_eq(msg->address.family, AF_INET6);
	sb_msg_free(msg);
	close(tx);
}
END_TEST

START_TEST(udp6_recvmsg_decodes_ipv6_hoplimit_and_tclass)
{
	struct sb_error err;
	if (!has_ipv6_loopback("udp6_recvmsg_decodes_ipv6_hoplimit_and_tclass"))
		return;

	uint16_t port;
	struct sb_msg *msg;
	sb_handle h = fixture_bound_udp(AF_INET6, &port);
	set_int_option(h, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
	set_int_option(h, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
	int tx = direct_udp_to(AF_INET6, port, 0);
	int hops = 7, tclass = 0x20;
	ck_assert_int_eq(setsockopt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)), 0);
	ck_assert_int_eq(setsockopt(tx, IPPROTO_IPV6, IPV6_TCLASS, &tclass, sizeof(tclass)), 0);
	ck_assert_int_eq(send(tx, "hop", 3, 0), 3);
	ck_assert_int_eq(sb_recvmsg(client, h, 8, 2 * cmsg_space(sizeof(int)), 0, &msg, &err), 3);
	const struct sb_cmsg *got_hops = find_item(msg, IPPROTO_IPV6, IPV6_HOPLIMIT);
	const struct sb_cmsg *got_tclass = find_item(msg, IPPROTO_IPV6, IPV6_TCLASS);
	ck_assert_ptr_nonnull(got_hops);
	ck_assert_ptr_nonnull(got_tclass);
	ck_assert_int_eq(got_hops->view, SB_CMSG_INT);
	ck_assert_int_eq(got_hops->int_value, 7);
	ck_assert_int_eq(got_tclass->view, SB_CMSG_INT);
	ck_assert_int_eq(got_tclass->int_value, 0x20);
	sb_msg_free(msg);
	close(tx);
}
END_TEST

START_TEST(udp_recvmsg_decodes_so_timestampns)
{
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	struct timespec now;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	set_int_option(h, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	int tx = direct_udp_to(AF_INET, port, 0);
	ck_assert_int_eq(send(tx, "t", 1, 0), 1);
	ck_assert_int_eq(
		sb_recvmsg(client, h, 8, cmsg_space(sizeof(struct timespec)), 0, &msg, &err), 1);
	clock_gettime(CLOCK_REALTIME, &now);
	const struct sb_cmsg *ts = find_item(msg, SOL_SOCKET, SO_TIMESTAMPNS);
	ck_assert_ptr_nonnull(ts);
	ck_assert_int_eq(ts->view, SB_CMSG_TIMESTAMP);
	ck_assert_int_le(ts->timestamp.seconds, now.tv_sec);
	ck_assert_int_ge(ts->timestamp.seconds, now.tv_sec - 10);
	ck_assert_int_ge(ts->timestamp.nanoseconds, 0);
	ck_assert_int_lt(ts->timestamp.nanoseconds, 1000000000);
	sb_msg_free(msg);
	close(tx);
}
END_TEST

START_TEST(udp_recvmsg_decodes_so_timestamp_in_microseconds)
{
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	struct timespec now;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	set_int_option(h, SOL_SOCKET, SO_TIMESTAMP, 1);
	int tx = direct_udp_to(AF_INET, port, 0);
	ck_assert_int_eq(send(tx, "u", 1, 0), 1);
	ck_assert_int_eq(
		sb_recvmsg(client, h, 8, cmsg_space(sizeof(struct timeval)), 0, &msg, &err), 1);
	clock_gettime(CLOCK_REALTIME, &now);
	const struct sb_cmsg *ts = find_item(msg, SOL_SOCKET, SO_TIMESTAMP);
	ck_assert_ptr_nonnull(ts);
	ck_assert_int_eq(ts->view, SB_CMSG_TIMESTAMP);
	ck_assert_uint_eq(ts->len, sizeof(struct timeval));
	ck_assert_int_le(ts->timestamp.seconds, now.tv_sec);
	ck_assert_int_ge(ts->timestamp.seconds, now.tv_sec - 10);
	ck_assert_int_eq(ts->timestamp.nanoseconds % 1000, 0); /* whole microseconds */
	ck_assert_int_lt(ts->timestamp.nanoseconds, 1000000000);
	sb_msg_free(msg);
	close(tx);
}
END_TEST

START_TEST(udp_recvmsg_decodes_ip_ttl_and_ip_tos)
{
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	set_int_option(h, IPPROTO_IP, IP_RECVTTL, 1);
	set_int_option(h, IPPROTO_IP, IP_RECVTOS, 1);
	int tx = direct_udp_to(AF_INET, port, 0x10);
	int ttl = 0;
	socklen_t len = sizeof(ttl);
	ck_assert_int_eq(getsockopt(tx, IPPROTO_IP, IP_TTL, &ttl, &len), 0);
	ck_assert_int_eq(send(tx, "tt", 2, 0), 2);
	ck_assert_int_eq(sb_recvmsg(client, h, 8, 2 * cmsg_space(sizeof(int)), 0, &msg, &err), 2);
	const struct sb_cmsg *got_ttl = find_item(msg, IPPROTO_IP, IP_TTL);
	const struct sb_cmsg *got_tos = find_item(msg, IPPROTO_IP, IP_TOS);
	ck_assert_ptr_nonnull(got_ttl);
	ck_assert_ptr_nonnull(got_tos);
	ck_assert_int_eq(got_ttl->view, SB_CMSG_INT);
	ck_assert_int_eq(got_ttl->int_value, ttl);
	ck_assert_int_eq(got_tos->view, SB_CMSG_INT);
	ck_assert_int_eq(got_tos->int_value, 0x10);
	ck_assert_uint_eq(got_tos->len, 1); /* the kernel gives the TOS as one byte */
	sb_msg_free(msg);
	close(tx);
}
END_TEST

/* The same datagram received by a direct socket with the same options and
 * buffer sizes: what the kernel reports, to compare with the broker's. */
static void
direct_recvmsg(int fd, size_t bufsize, size_t ancbufsize, int *msg_flags, size_t *data_len,
	       size_t *controllen)
{
	char data[256];
	union {
		struct cmsghdr align;
		char bytes[512];
	} control;
	struct iovec iov = { data, bufsize };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.bytes,
			      .msg_controllen = ancbufsize };
	ssize_t n = recvmsg(fd, &msg, 0);
	ck_assert_int_ge(n, 0);
	*msg_flags = msg.msg_flags;
	*data_len = (size_t)n;
	*controllen = msg.msg_controllen;
}

START_TEST(msg_trunc_and_msg_ctrunc_are_reported_as_the_kernel_reports_them)
{
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	char big[100];
	sb_handle h = fixture_bound_udp(AF_INET, &port);
	set_int_option(h, IPPROTO_IP, IP_PKTINFO, 1);
	int tx = direct_udp_to(AF_INET, port, 0);

	/* The direct twin: a kernel socket with the same option. */
	int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(rx, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(rx, (struct sockaddr *)&sin, &slen), 0);
	ck_assert_int_eq(setsockopt(rx, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)), 0);
	int tx2 = direct_udp_to(AF_INET, ntohs(sin.sin_port), 0);

	memset(big, 'b', sizeof(big));
	/* A tiny control buffer: the pktinfo item is cut. */
	size_t tiny = 20;
	ck_assert_int_eq(send(tx, big, sizeof(big), 0), (ssize_t)sizeof(big));
	ck_assert_int_eq(send(tx2, big, sizeof(big), 0), (ssize_t)sizeof(big));
	ssize_t n = sb_recvmsg(client, h, 10, tiny, 0, &msg, &err);
	ck_assert_msg(n == 10, "recvmsg: %zd %s", n, err.message);
	int kernel_flags;
	size_t kernel_len, kernel_controllen;
	direct_recvmsg(rx, 10, tiny, &kernel_flags, &kernel_len, &kernel_controllen);
	ck_assert(kernel_flags & MSG_TRUNC);
	ck_assert(kernel_flags & MSG_CTRUNC);
	ck_assert_int_eq(msg->msg_flags, kernel_flags);
	ck_assert_uint_eq(msg->len, kernel_len);
	/* Whatever part of the item the kernel left comes back raw, undecoded. */
	size_t anc_bytes = 0;
	for (size_t i = 0; i < msg->n_ancillary; i++) {
		ck_assert_int_eq(msg->ancillary[i].view, SB_CMSG_RAW);
		anc_bytes += msg->ancillary[i].len;
	}
	size_t header_len;
	ck_assert_int_eq(sb_cmsg_len(client, 0, &header_len, &err), 0);
	ck_assert_uint_eq(anc_bytes,
			  kernel_controllen > header_len ? kernel_controllen - header_len : 0);
	sb_msg_free(msg);

	/* No control buffer at all: the kernel sets MSG_CTRUNC, and no item. */
	ck_assert_int_eq(send(tx, "x", 1, 0), 1);
	ck_assert_int_eq(send(tx2, "x", 1, 0), 1);
	ck_assert_int_eq(sb_recvmsg(client, h, 10, 0, 0, &msg, &err), 1);
	direct_recvmsg(rx, 10, 0, &kernel_flags, &kernel_len, &kernel_controllen);
	ck_assert_int_eq(msg->msg_flags, kernel_flags);
	ck_assert(msg->msg_flags & MSG_CTRUNC);
	ck_assert_uint_eq(msg->n_ancillary, 0);
	sb_msg_free(msg);

	/* MSG_TRUNC in flags: the data is what fits. */
	ck_assert_int_eq(send(tx, big, sizeof(big), 0), (ssize_t)sizeof(big));
	ck_assert_int_eq(sb_recvmsg(client, h, 10, 64, MSG_TRUNC, &msg, &err), 10);
	ck_assert(msg->msg_flags & MSG_TRUNC);
	sb_msg_free(msg);
	close(tx);
	close(tx2);
	close(rx);
}
END_TEST

START_TEST(recvmsg_waits_times_out_and_answers_eagain_by_mode)
{
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	sb_handle h = fixture_bound_udp(AF_INET, &port);

	ck_assert_int_eq(sb_settimeout(client, h, 0.2, &err), 0);
	ck_assert_int_eq(sb_recvmsg(client, h, 8, 0, 0, &msg, &err), -ETIMEDOUT);
	ck_assert_int_eq(err.kind, SB_ERR_TIMEOUT);
	ck_assert_ptr_null(msg);
	ck_assert_int_eq(sb_setblocking(client, h, false, &err), 0);
	ck_assert_int_eq(sb_recvmsg(client, h, 8, 0, 0, &msg, &err), -EAGAIN);
	ck_assert_str_eq(err.errno_name, "EAGAIN");
	/* The OS error path: an unconnected TCP socket's recvmsg is the kernel's
	 * ENOTCONN. */
	sb_handle tcp = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_recvmsg(client, tcp, 8, 0, 0, &msg, &err), -ENOTCONN);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "ENOTCONN");
}
END_TEST

/* ---- sendmsg -------------------------------------------------------------------- */

START_TEST(sendmsg_gathers_buffers_to_an_address_and_to_a_name)
{
	struct echo_server server;
	struct sb_addr to, from;
	struct sb_error err;
	char buf[64];
	ck_assert_int_eq(echo_server_start(&server, AF_INET, SOCK_DGRAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_DGRAM);
	struct iovec parts[3] = { { "ab", 2 }, { "cd", 2 }, { "ef", 2 } };

	sb_addr_inet(&to, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_sendmsg(client, h, parts, 3, NULL, 0, 0, &to, &err), 6);
	ck_assert_int_eq(sb_recvfrom(client, h, buf, sizeof(buf), 0, &from, &err), 6);
	ck_assert(memcmp(buf, "abcdef", 6) == 0);

	/* A host name is resolved by the daemon first, as for sendto. */
	sb_addr_inet(&to, "localhost", server.port);
	ck_assert_int_eq(sb_sendmsg(client, h, parts, 2, NULL, 0, 0, &to, &err), 4);
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), 0, &err), 4);
	ck_assert(memcmp(buf, "abcd", 4) == 0);

	/* Sent with a pktinfo item choosing the source address. */
	struct sb_cmsg info;
	memset(&info, 0, sizeof(info));
	info.level = IPPROTO_IP;
	info.type = IP_PKTINFO;
	info.view = SB_CMSG_PKTINFO;
	snprintf(info.pktinfo.spec_dst, sizeof(info.pktinfo.spec_dst), "127.0.0.1");
	sb_addr_inet(&to, "127.0.0.1", server.port);
	ck_assert_int_eq(sb_sendmsg(client, h, parts, 1, &info, 1, 0, &to, &err), 2);
	ck_assert_int_eq(sb_recv(client, h, buf, sizeof(buf), 0, &err), 2);
	sb_close(client, h, NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(sendmsg_errors_are_the_kernels_and_bad_items_are_named)
{
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_DGRAM);
	struct iovec part = { "x", 1 };

	/* No address on an unconnected datagram socket. */
	ck_assert_int_eq(sb_sendmsg(client, h, &part, 1, NULL, 0, 0, NULL, &err), -EDESTADDRREQ);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "EDESTADDRREQ");

	/* A truncated item: IP_PKTINFO of 5 bytes. */
	struct sb_addr to;
	struct sb_cmsg bad;
	memset(&bad, 0, sizeof(bad));
	bad.level = IPPROTO_IP;
	bad.type = IP_PKTINFO;
	bad.data = (const uint8_t *)"12345";
	bad.len = 5;
	sb_addr_inet(&to, "127.0.0.1", 9);
	ck_assert_int_eq(sb_sendmsg(client, h, &part, 1, &bad, 1, 0, &to, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_msg(strstr(err.message, "sendmsg.ancillary[0] (IPPROTO_IP, IP_PKTINFO)"), "%s",
		      err.message);

	/* Raw descriptor numbers in SCM_RIGHTS: never. */
	int fd = 0;
	bad.level = SOL_SOCKET;
	bad.type = SCM_RIGHTS;
	bad.data = (const uint8_t *)&fd;
	bad.len = sizeof(fd);
	ck_assert_int_eq(sb_sendmsg(client, h, &part, 1, &bad, 1, 0, &to, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "SCM_RIGHTS"), "%s", err.message);

	/* More data than one message may carry. */
	struct sb_server_info info;
	sb_client_info(client, &info);
	struct iovec huge = { "x", (size_t)info.max_data_size + 1 };
	ck_assert_int_eq(sb_sendmsg(client, h, &huge, 1, NULL, 0, 0, &to, &err), -EMSGSIZE);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
}
END_TEST

/* ---- SCM_RIGHTS ------------------------------------------------------------------ */

static void
socket_pair(sb_handle pair[2])
{
	struct sb_error err;
	int r = sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err);
	ck_assert_msg(r == 0, "socketpair: %s", err.message);
}

static sb_handle
connected_to_echo(struct echo_server *server)
{
	struct sb_addr addr;
	struct sb_error err;
	ck_assert_int_eq(echo_server_start(server, AF_INET, SOCK_STREAM), 0);
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	sb_addr_inet(&addr, "127.0.0.1", server->port);
	ck_assert_msg(sb_connect(client, h, &addr, &err) == 0, "connect: %s", err.message);
	return h;
}

START_TEST(scm_rights_passes_a_brokered_socket_as_a_new_handle)
{
	struct echo_server server;
	struct sb_error err;
	struct sb_msg *msg;
	sb_handle pair[2];
	sb_handle conn = connected_to_echo(&server);
	socket_pair(pair);

	ck_assert_int_eq(sb_send_fds(client, pair[0], "fd", 2, &conn, 1, &err), 2);
	ssize_t n = sb_recvmsg(client, pair[1], 16, cmsg_space(sizeof(int)), 0, &msg, &err);
	ck_assert_msg(n == 2, "recvmsg: %zd %s", n, err.message);
	const struct sb_cmsg *rights = find_item(msg, SOL_SOCKET, SCM_RIGHTS);
	ck_assert_ptr_nonnull(rights);
	ck_assert_int_eq(rights->view, SB_CMSG_RIGHTS);
	ck_assert_uint_eq(rights->rights.count, 1);
	sb_handle passed = rights->rights.handles[0];
	ck_assert_uint_ne(passed, 0);
	ck_assert_uint_ne(passed, conn);
	/* The bytes are the new ids as a native int array, as the reference's. */
	ck_assert_uint_eq(rights->len, sizeof(int));
	int native;
	memcpy(&native, rights->data, sizeof(native));
	ck_assert_int_eq(native, (int)passed);
	ck_assert_int_eq(msg->msg_flags, 0);
	sb_msg_free(msg);

	/* The new handle is the same connection: data really goes through it,
	 * also once the original handle is closed. */
	ck_assert_int_eq(sb_close(client, conn, &err), 0);
	fixture_echo(passed, "through the passed socket");
	int type;
	ck_assert_int_eq(sb_getsockopt_int(client, passed, SOL_SOCKET, SO_TYPE, &type, &err), 0);
	ck_assert_int_eq(type, SOCK_STREAM);

	/* And back again with the convenience pair. */
	sb_handle got[4];
	size_t n_got;
	char buf[8];
	int flags;
	ck_assert_int_eq(sb_send_fds(client, pair[1], "ab", 2, &passed, 1, &err), 2);
	ck_assert_int_eq(
		sb_recv_fds(client, pair[0], buf, sizeof(buf), got, 4, &n_got, 0, &flags, &err), 2);
	ck_assert_uint_eq(n_got, 1);
	ck_assert_int_eq(flags, 0);
	ck_assert(memcmp(buf, "ab", 2) == 0);
	ck_assert_int_eq(sb_close(client, passed, &err), 0);
	fixture_echo(got[0], "and back");
	sb_close(client, got[0], NULL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(scm_rights_naming_another_sessions_handle_is_ebadf_and_sends_nothing)
{
	struct sb_client *other;
	struct sb_error err;
	sb_handle theirs[2], mine = fixture_socket(AF_INET, SOCK_DGRAM);
	char buf[8];
	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "other", &err), 0);
	ck_assert_int_eq(sb_socketpair(other, AF_UNIX, SOCK_STREAM, 0, theirs, &err), 0);

	ck_assert_int_eq(sb_send_fds(other, theirs[0], "x", 1, &mine, 1, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_str_eq(err.errno_name, "EBADF");
	ck_assert_msg(strstr(err.message, "nothing was sent"), "%s", err.message);
	sb_handle unknown = 987654321;
	ck_assert_int_eq(sb_send_fds(other, theirs[0], "x", 1, &unknown, 1, &err), -EBADF);
	ck_assert_int_eq(sb_recv(other, theirs[1], buf, sizeof(buf), MSG_DONTWAIT, &err), -EAGAIN);
	sb_client_free(other);
	/* Still ours and open. */
	struct sb_addr addr;
	ck_assert_int_eq(sb_getsockname(client, mine, &addr, &err), 0);
}
END_TEST

/* A direct AF_UNIX listener at `path` that accepts one connection and
 * sends, with one byte, the fds given (from another thread). */
struct fd_sender {
	char path[300];
	int listener;
	int fds[2];
	size_t n_fds;
	pthread_t thread;
};

static void *
fd_sender_run(void *arg)
{
	struct fd_sender *sender = arg;
	int conn = accept(sender->listener, NULL, NULL);
	if (conn < 0)
		return NULL;
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(2 * sizeof(int))];
	} control;
	char byte = 'z';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.bytes,
			      .msg_controllen = CMSG_SPACE(sender->n_fds * sizeof(int)) };
	memset(control.bytes, 0, sizeof(control.bytes));
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sender->n_fds * sizeof(int));
	memcpy(CMSG_DATA(h), sender->fds, sender->n_fds * sizeof(int));
	sendmsg(conn, &msg, 0);
	/* Wait for the broker's side to close. */
	char sink;
	while (read(conn, &sink, 1) > 0)
		;
	close(conn);
	return NULL;
}

static void
fd_sender_start(struct fd_sender *sender, const int *fds, size_t n)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sender->path, sizeof(sender->path), "%s/fds.sock", daemon_under_test.dir);
	ck_assert_uint_lt(strlen(sender->path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, sender->path, strlen(sender->path) + 1);
	sender->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sender->listener, 0);
	ck_assert_int_eq(bind(sender->listener, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(sender->listener, 1), 0);
	memcpy(sender->fds, fds, n * sizeof(int));
	sender->n_fds = n;
	ck_assert_int_eq(pthread_create(&sender->thread, NULL, fd_sender_run, sender), 0);
}

static void
fd_sender_stop(struct fd_sender *sender)
{
	pthread_join(sender->thread, NULL);
	close(sender->listener);
	unlink(sender->path);
}

START_TEST(scm_rights_from_outside_adopts_sockets_and_closes_other_descriptors)
{
	struct fd_sender sender;
	struct sb_error err;
	struct sb_addr addr;
	struct sb_msg *msg;
	int pipe_fds[2], direct[2];
	char buf[64];
	ck_assert_int_eq(pipe(pipe_fds), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, direct), 0);
	/* direct[0] is blocking: the daemon takes it non-blocking. */
	fd_sender_start(&sender, (int[]){ pipe_fds[0], direct[0] }, 2);

	sb_handle h = fixture_socket(AF_UNIX, SOCK_STREAM);
	int baseline = test_daemon_fd_count(&daemon_under_test);
	ck_assert_int_eq(sb_addr_unix(&addr, sender.path), 0);
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), 0);
	ssize_t n = sb_recvmsg(client, h, 8, cmsg_space(2 * sizeof(int)), 0, &msg, &err);
	ck_assert_msg(n == 1, "recvmsg: %zd %s", n, err.message);
	const struct sb_cmsg *rights = find_item(msg, SOL_SOCKET, SCM_RIGHTS);
	ck_assert_ptr_nonnull(rights);
	ck_assert_uint_eq(rights->rights.count, 2);
	ck_assert_uint_eq(rights->rights.handles[0], 0); /* the pipe: not a socket, closed */
	sb_handle passed = rights->rights.handles[1];
	ck_assert_uint_ne(passed, 0);
	sb_msg_free(msg);

	ck_assert_int_eq(sb_send(client, passed, "to the outside", 14, 0, &err), 14);
	ck_assert_int_eq(read(direct[1], buf, sizeof(buf)), 14);
	ck_assert(memcmp(buf, "to the outside", 14) == 0);
	ck_assert_int_eq(sb_close(client, passed, &err), 0);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	fd_sender_stop(&sender);
	/* The pipe the daemon was given is closed there: nothing holds it
	 * but us. */
	close(pipe_fds[0]);
	ck_assert_int_eq(write(pipe_fds[1], "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(pipe_fds[1]);
	close(direct[0]);
	close(direct[1]);
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline - 1, 5000),
			 baseline - 1);
}
END_TEST

START_TEST(scm_rights_over_the_handle_quota_closes_what_arrived)
{
	sb_client_free(client);
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	start_with("{\"limits\": {\"max_handles_per_session\": 3}}");
	struct sb_error err;
	struct sb_msg *msg;
	sb_handle pair[2];
	socket_pair(pair);
	sb_handle h = fixture_socket(AF_INET, SOCK_DGRAM);
	int baseline = test_daemon_fd_count(&daemon_under_test);

	ck_assert_int_eq(sb_send_fds(client, pair[0], "q", 1, &h, 1, &err), 1);
	ck_assert_int_eq(sb_recvmsg(client, pair[1], 8, cmsg_space(sizeof(int)), 0, &msg, &err),
			 -EMFILE);
	ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
	ck_assert_msg(strstr(err.message, "max_handles_per_session"), "%s", err.message);
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline, 5000), baseline);
	/* The session goes on. */
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	h = fixture_socket(AF_INET, SOCK_DGRAM);
}
END_TEST

START_TEST(scm_rights_cut_by_a_small_buffer_leaves_no_fd_behind)
{
	struct sb_error err;
	struct sb_msg *msg;
	sb_handle pair[2], socks[2];
	socket_pair(pair);
	socks[0] = fixture_socket(AF_INET, SOCK_DGRAM);
	socks[1] = fixture_socket(AF_INET, SOCK_DGRAM);
	int baseline = test_daemon_fd_count(&daemon_under_test);

	ck_assert_int_eq(sb_send_fds(client, pair[0], "c", 1, socks, 2, &err), 1);
	size_t one;
	ck_assert_int_eq(sb_cmsg_len(client, sizeof(int), &one, &err), 0);
	ck_assert_int_eq(sb_recvmsg(client, pair[1], 8, one, 0, &msg, &err), 1);
	ck_assert(msg->msg_flags & MSG_CTRUNC);
	const struct sb_cmsg *rights = find_item(msg, SOL_SOCKET, SCM_RIGHTS);
	ck_assert_ptr_nonnull(rights);
	ck_assert_uint_eq(rights->rights.count, 1);
	sb_handle passed = rights->rights.handles[0];
	sb_msg_free(msg);
	ck_assert_int_eq(test_daemon_fd_count(&daemon_under_test), baseline + 1);
	ck_assert_int_eq(sb_close(client, passed, &err), 0);
	ck_assert_int_eq(test_daemon_wait_fd_count(&daemon_under_test, baseline, 5000), baseline);
}
END_TEST

/* ---- SCM_CREDENTIALS, IP_RECVERR -------------------------------------------------- */

START_TEST(scm_credentials_with_so_passcred_are_decoded_and_only_the_daemons_own_are_sent)
{
	struct sb_error err;
	struct sb_msg *msg;
	sb_handle pair[2];
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_DGRAM, 0, pair, &err), 0);
	set_int_option(pair[1], SOL_SOCKET, SO_PASSCRED, 1);
	ck_assert_int_eq(sb_send(client, pair[0], "who", 3, 0, &err), 3);
	ck_assert_int_eq(
		sb_recvmsg(client, pair[1], 8, cmsg_space(sizeof(struct ucred)), 0, &msg, &err), 3);
	const struct sb_cmsg *cred = find_item(msg, SOL_SOCKET, SCM_CREDENTIALS);
	ck_assert_ptr_nonnull(cred);
	ck_assert_int_eq(cred->view, SB_CMSG_CREDENTIALS);
	/* The sender is the daemon: its pid and its user. */
	ck_assert_int_eq(cred->credentials.pid, daemon_under_test.pid);
	ck_assert_int_eq(cred->credentials.uid, geteuid());
	ck_assert_int_eq(cred->credentials.gid, getegid());
	ck_assert_uint_eq(cred->len, sizeof(struct ucred));
	sb_msg_free(msg);

	/* Sent explicitly: the daemon's own pass... */
	struct sb_cmsg mine;
	struct iovec part = { "me", 2 };
	memset(&mine, 0, sizeof(mine));
	mine.level = SOL_SOCKET;
	mine.type = SCM_CREDENTIALS;
	mine.view = SB_CMSG_CREDENTIALS;
	mine.credentials.pid = daemon_under_test.pid;
	mine.credentials.uid = geteuid();
	mine.credentials.gid = getegid();
	ck_assert_int_eq(sb_sendmsg(client, pair[0], &part, 1, &mine, 1, 0, NULL, &err), 2);
	ck_assert_int_eq(
		sb_recvmsg(client, pair[1], 8, cmsg_space(sizeof(struct ucred)), 0, &msg, &err), 2);
	sb_msg_free(msg);
	/* ...anyone else's is refused, even to a privileged daemon. */
	mine.credentials.pid = 1;
	ck_assert_int_eq(sb_sendmsg(client, pair[0], &part, 1, &mine, 1, 0, NULL, &err), -EPERM);
	ck_assert_int_eq(err.kind, SB_ERR_DENIED);
	ck_assert_msg(strstr(err.message, "SCM_CREDENTIALS"), "%s", err.message);
	char buf[8];
	ck_assert_int_eq(sb_recv(client, pair[1], buf, sizeof(buf), MSG_DONTWAIT, &err), -EAGAIN);
}
END_TEST

/* A UDP port on 127.0.0.1 where nothing listens (bound, then closed). */
static uint16_t
closed_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

START_TEST(ip_recverr_with_msg_errqueue_reports_the_icmp_error_and_its_offender)
{
	struct sb_error err;
	struct sb_msg *msg = NULL;
	struct sb_addr to;
	sb_handle h = fixture_socket(AF_INET, SOCK_DGRAM);
	set_int_option(h, IPPROTO_IP, IP_RECVERR, 1);

	/* An empty error queue never waits, even in blocking mode. */
	ck_assert_int_eq(sb_recvmsg(client, h, 64, 512, MSG_ERRQUEUE, &msg, &err), -EAGAIN);

	sb_addr_inet(&to, "127.0.0.1", closed_udp_port());
	ck_assert_int_eq(sb_sendto(client, h, "lost", 4, 0, &to, &err), 4);
	/* The ICMP error arrives on its own time: ask until it is there. */
	ssize_t n = -EAGAIN;
	int64_t deadline = test_now_ms() + 5000;
	while (n == -EAGAIN && test_now_ms() < deadline) {
		n = sb_recvmsg(client, h, 64, 512, MSG_ERRQUEUE, &msg, &err);
		if (n == -EAGAIN)
			test_sleep_ms(10);
	}
	ck_assert_msg(n == 4, "recvmsg(MSG_ERRQUEUE): %zd %s", n, err.message);
	ck_assert(memcmp(msg->data, "lost", 4) == 0); /* the datagram that failed */
	ck_assert(msg->msg_flags & MSG_ERRQUEUE);
	const struct sb_cmsg *e = find_item(msg, IPPROTO_IP, IP_RECVERR);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->view, SB_CMSG_EXTENDED_ERROR);
	ck_assert_str_eq(e->extended_error.errno_name, "ECONNREFUSED");
	ck_assert_int_eq(e->extended_error.errno_number, ECONNREFUSED);
	ck_assert_uint_eq(e->extended_error.origin, SO_EE_ORIGIN_ICMP);
	ck_assert_uint_eq(e->extended_error.type, 3); /* destination unreachable */
	ck_assert_uint_eq(e->extended_error.code, 3); /* port unreachable */
	ck_assert(e->extended_error.has_offender);
	ck_assert_int_eq(e->extended_error.offender.family, AF_INET);
	ck_assert_str_eq(e->extended_error.offender.host, "127.0.0.1");
	sb_msg_free(msg);
}
END_TEST

START_TEST(ipv6_recverr_with_msg_errqueue_reports_the_icmpv6_error_and_its_offender)
{
	struct sb_error err;
	struct sb_msg *msg = NULL;
	struct sb_addr to;
	if (!has_ipv6_loopback("ipv6_recverr"))
		return;
	int probe = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(lo6);
	ck_assert_int_eq(bind(probe, (struct sockaddr *)&lo6, sizeof(lo6)), 0);
	ck_assert_int_eq(getsockname(probe, (struct sockaddr *)&lo6, &len), 0);
	close(probe); /* its port is closed now */

	sb_handle h = fixture_socket(AF_INET6, SOCK_DGRAM);
	set_int_option(h, IPPROTO_IPV6, IPV6_RECVERR, 1);
	sb_addr_inet6(&to, "::1", ntohs(lo6.sin6_port), 0, 0);
	ck_assert_int_eq(sb_sendto(client, h, "gone", 4, 0, &to, &err), 4);
	ssize_t n = -EAGAIN;
	int64_t deadline = test_now_ms() + 5000;
	while (n == -EAGAIN && test_now_ms() < deadline) {
		n = sb_recvmsg(client, h, 64, 512, MSG_ERRQUEUE, &msg, &err);
		if (n == -EAGAIN)
			test_sleep_ms(10);
	}
	ck_assert_msg(n == 4, "recvmsg(MSG_ERRQUEUE): %zd %s", n, err.message);
	ck_assert(memcmp(msg->data, "gone", 4) == 0);
	const struct sb_cmsg *e = find_item(msg, IPPROTO_IPV6, IPV6_RECVERR);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->view, SB_CMSG_EXTENDED_ERROR);
	ck_assert_str_eq(e->extended_error.errno_name, "ECONNREFUSED");
	ck_assert_uint_eq(e->extended_error.origin, SO_EE_ORIGIN_ICMP6);
	ck_assert_uint_eq(e->extended_error.type, 1); /* destination unreachable */
	ck_assert_uint_eq(e->extended_error.code, 4); /* port unreachable */
	ck_assert(e->extended_error.has_offender);
	ck_assert_int_eq(e->extended_error.offender.family, AF_INET6);
	ck_assert_str_eq(e->extended_error.offender.host, "::1");
	sb_msg_free(msg);
}
END_TEST

/* ---- bad input through the raw wire ------------------------------------------------- */

static uint64_t
raw_udp_socket(struct raw_client *raw)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SocketRequest args = SOCKBROKER__V1__SOCKET_REQUEST__INIT;
	args.has_family = args.has_type = true;
	args.family = AF_INET;
	args.type = SOCK_DGRAM;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SOCKET;
	request.socket = &args;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert(reply && !reply->error && reply->socket);
	uint64_t handle = reply->socket->handle;
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	return handle;
}

static void
expect_bad_request(Sockbroker__V1__Reply *reply, int errnum, const char *words)
{
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_int_eq(reply->error->errno_number, errnum);
	ck_assert_msg(strstr(reply->error->message, words), "message: %s", reply->error->message);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

static Sockbroker__V1__Reply *
raw_recvmsg(struct raw_client *raw, uint64_t handle, int64_t bufsize, bool has_anc,
	    int64_t ancbufsize)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__RecvMsgRequest args = SOCKBROKER__V1__RECV_MSG_REQUEST__INIT;
	args.has_handle = args.has_bufsize = args.has_flags = true;
	args.handle = handle;
	args.bufsize = bufsize;
	args.has_ancbufsize = has_anc;
	args.ancbufsize = ancbufsize;
	args.flags = MSG_DONTWAIT;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_RECVMSG;
	request.recvmsg = &args;
	return raw_call(raw, &request);
}

START_TEST(recvmsg_bad_sizes_are_bad_requests_and_large_ancbufsize_is_clamped)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	uint64_t h = raw_udp_socket(raw);

	expect_bad_request(raw_recvmsg(raw, h, -1, false, 0), EINVAL,
			   "negative buffer size in recvmsg()");
	expect_bad_request(raw_recvmsg(raw, h, 8, true, -1), EINVAL,
			   "negative ancillary buffer size in recvmsg()");
	expect_bad_request(raw_recvmsg(raw, h, 8, true, (int64_t)INT_MAX + 1), EOVERFLOW,
			   "invalid ancillary data buffer length");
	/* Large but valid: clamped, and the call runs (nothing to read). */
	Sockbroker__V1__Reply *reply = raw_recvmsg(raw, h, 8, true, 1 << 20);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__OS);
	ck_assert_str_eq(reply->error->errno_name, "EAGAIN");
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);

	/* And with data to read, a huge ancbufsize receives as a fitting one. */
	uint16_t port;
	struct sb_msg *msg;
	struct sb_error err;
	sb_handle u = fixture_bound_udp(AF_INET, &port);
	set_int_option(u, IPPROTO_IP, IP_PKTINFO, 1);
	int tx = direct_udp_to(AF_INET, port, 0);
	ck_assert_int_eq(send(tx, "big", 3, 0), 3);
	ck_assert_int_eq(sb_recvmsg(client, u, 8, (size_t)1 << 30, 0, &msg, &err), 3);
	ck_assert_ptr_nonnull(find_item(msg, IPPROTO_IP, IP_PKTINFO));
	sb_msg_free(msg);
	close(tx);
}
END_TEST

static Sockbroker__V1__Reply *
raw_sendmsg(struct raw_client *raw, uint64_t handle, Sockbroker__V1__Ancillary *item)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SendMsgRequest args = SOCKBROKER__V1__SEND_MSG_REQUEST__INIT;
	Sockbroker__V1__InetAddress inet = SOCKBROKER__V1__INET_ADDRESS__INIT;
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	ProtobufCBinaryData data = { 1, (uint8_t *)"x" };
	inet.host = "127.0.0.1";
	inet.has_port = true;
	inet.port = 9;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_INET;
	address.af_inet = &inet;
	args.has_handle = true;
	args.handle = handle;
	args.n_buffers = 1;
	args.buffers = &data;
	args.n_ancillary = 1;
	args.ancillary = &item;
	args.address = &address;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SENDMSG;
	request.sendmsg = &args;
	return raw_call(raw, &request);
}

START_TEST(sendmsg_malformed_items_are_bad_requests_naming_them)
{
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	uint64_t h = raw_udp_socket(raw);
	Sockbroker__V1__Ancillary item = SOCKBROKER__V1__ANCILLARY__INIT;
	Sockbroker__V1__Timestamp ts = SOCKBROKER__V1__TIMESTAMP__INIT;

	/* Truncated: IP_PKTINFO of 5 bytes. */
	item.has_level = item.has_type = item.has_data = true;
	item.level = IPPROTO_IP;
	item.type = IP_PKTINFO;
	item.data.data = (uint8_t *)"12345";
	item.data.len = 5;
	expect_bad_request(raw_sendmsg(raw, h, &item), EINVAL,
			   "sendmsg.ancillary[0] (IPPROTO_IP, IP_PKTINFO): data is 5 bytes");
	/* Both raw data and a decoded member. */
	item.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE;
	item.int_value = 1;
	expect_bad_request(raw_sendmsg(raw, h, &item), EINVAL, "not both");
	/* A received-only view. */
	item.has_data = false;
	item.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_TIMESTAMP;
	item.timestamp = &ts;
	expect_bad_request(raw_sendmsg(raw, h, &item), EINVAL, "only received");
	/* No level. */
	item.has_level = false;
	item.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED__NOT_SET;
	expect_bad_request(raw_sendmsg(raw, h, &item), EINVAL, "level and type are required");
	/* A decoded member on a type it does not fit. */
	item.has_level = true;
	item.level = SOL_SOCKET;
	item.type = SO_TIMESTAMP;
	item.decoded_case = SOCKBROKER__V1__ANCILLARY__DECODED_INT_VALUE;
	expect_bad_request(raw_sendmsg(raw, h, &item), EINVAL, "`int_value` member does not fit");

	/* The session and the daemon go on. */
	Sockbroker__V1__Reply *reply = raw_recvmsg(raw, h, 8, false, 0);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__OS);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
	raw_close(raw);
}
END_TEST

/* ---- lifecycle extras ------------------------------------------------------------ */

START_TEST(socketpair_success_and_kernel_errors)
{
	struct sb_error err;
	sb_handle pair[2];
	char buf[8];
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_STREAM, 0, pair, &err), 0);
	ck_assert_uint_ne(pair[0], pair[1]);
	ck_assert_int_eq(sb_send(client, pair[0], "ping", 4, 0, &err), 4);
	ck_assert_int_eq(sb_recv(client, pair[1], buf, sizeof(buf), 0, &err), 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	bool inheritable = true;
	ck_assert_int_eq(sb_get_inheritable(client, pair[0], &inheritable, &err), 0);
	ck_assert(!inheritable);

	ck_assert_int_eq(sb_socketpair(client, AF_INET, SOCK_STREAM, 0, pair, &err), -EOPNOTSUPP);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_str_eq(err.errno_name, "EOPNOTSUPP");
	ck_assert_int_eq(sb_socketpair(client, 12345, SOCK_STREAM, 0, pair, &err), -EAFNOSUPPORT);

	/* The pair starts in the client's default timeout mode. */
	double timeout;
	sb_client_set_default_timeout(client, 0.0);
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_DGRAM, 0, pair, &err), 0);
	ck_assert_int_eq(sb_gettimeout(client, pair[1], &timeout, &err), 0);
	ck_assert(timeout == 0.0);
	ck_assert_int_eq(sb_recv(client, pair[1], buf, sizeof(buf), 0, &err), -EAGAIN);
	/* A negative default timeout is the daemon's to refuse. */
	sb_client_set_default_timeout(client, -3.0);
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_DGRAM, 0, pair, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_msg(strstr(err.message, "socketpair.timeout"), "%s", err.message);
	sb_client_set_default_timeout(client, SB_TIMEOUT_NONE);
	ck_assert_int_eq(sb_socketpair(client, AF_UNIX, SOCK_DGRAM, 0, NULL, &err), -EINVAL);
}
END_TEST

START_TEST(dup_makes_a_second_handle_on_the_same_socket)
{
	struct echo_server server;
	struct sb_error err;
	sb_handle conn = connected_to_echo(&server), copy;
	ck_assert_int_eq(sb_settimeout(client, conn, 7.5, &err), 0);
	ck_assert_int_eq(sb_dup(client, conn, &copy, &err), 0);
	ck_assert_uint_ne(copy, conn);
	double timeout;
	ck_assert_int_eq(sb_gettimeout(client, copy, &timeout, &err), 0);
	ck_assert(timeout == 7.5);
	ck_assert_int_eq(sb_close(client, conn, &err), 0);
	fixture_echo(copy, "through the copy");

	ck_assert_int_eq(sb_dup(client, conn, &copy, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_int_eq(sb_dup(client, 424242, &copy, &err), -EBADF);
	ck_assert_int_eq(sb_dup(client, conn, NULL, &err), -EINVAL);
	echo_server_stop(&server);
}
END_TEST

START_TEST(dup_over_the_handle_quota_is_emfile)
{
	sb_client_free(client);
	ck_assert_int_eq(test_daemon_stop(&daemon_under_test), 0);
	start_with("{\"limits\": {\"max_handles_per_session\": 1}}");
	struct sb_error err;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM), copy;
	ck_assert_int_eq(sb_dup(client, h, &copy, &err), -EMFILE);
	ck_assert_int_eq(err.kind, SB_ERR_QUOTA);
}
END_TEST

START_TEST(inheritable_flag_is_set_and_read_back)
{
	struct sb_error err;
	struct sb_client *other;
	bool inheritable = true;
	sb_handle h = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_get_inheritable(client, h, &inheritable, &err), 0);
	ck_assert(!inheritable);
	ck_assert_int_eq(sb_set_inheritable(client, h, true, &err), 0);
	ck_assert_int_eq(sb_get_inheritable(client, h, &inheritable, &err), 0);
	ck_assert(inheritable);
	ck_assert_int_eq(sb_set_inheritable(client, h, false, &err), 0);
	ck_assert_int_eq(sb_get_inheritable(client, h, &inheritable, &err), 0);
	ck_assert(!inheritable);

	ck_assert_int_eq(sb_client_new(&other, daemon_under_test.url, "other", &err), 0);
	ck_assert_int_eq(sb_set_inheritable(other, h, true, &err), -EBADF);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_HANDLE);
	ck_assert_int_eq(sb_get_inheritable(other, h, &inheritable, &err), -EBADF);
	sb_client_free(other);
	ck_assert_int_eq(sb_get_inheritable(client, h, NULL, &err), -EINVAL);

	/* The flag is required on the wire. */
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__SetInheritableRequest args = SOCKBROKER__V1__SET_INHERITABLE_REQUEST__INIT;
	args.has_handle = true;
	args.handle = raw_udp_socket(raw);
	request.op_case = SOCKBROKER__V1__REQUEST__OP_SET_INHERITABLE;
	request.set_inheritable = &args;
	expect_bad_request(raw_call(raw, &request), EINVAL, "set_inheritable.inheritable");
	raw_close(raw);
}
END_TEST

START_TEST(has_ipv6_and_cmsg_sizes_are_the_daemons)
{
	struct sb_error err;
	bool has_ipv6;
	size_t len, space;
	ck_assert_int_eq(sb_has_ipv6(client, &has_ipv6, &err), 0);
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	ck_assert(has_ipv6 == (fd >= 0));
	if (fd >= 0)
		close(fd);
	ck_assert_int_eq(sb_has_ipv6(client, NULL, &err), -EINVAL);

	for (size_t n = 0; n < 20; n++) {
		ck_assert_int_eq(sb_cmsg_len(client, n, &len, &err), 0);
		ck_assert_int_eq(sb_cmsg_space(client, n, &space, &err), 0);
		ck_assert_uint_eq(len, CMSG_LEN(n));
		ck_assert_uint_eq(space, CMSG_SPACE(n));
	}
	ck_assert_int_eq(sb_cmsg_len(client, SIZE_MAX, &len, &err), -EOVERFLOW);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_int_eq(sb_cmsg_space(client, 1, NULL, &err), -EINVAL);
}
END_TEST

/* ---- sendfile ------------------------------------------------------------------ */

/* A direct AF_UNIX listener reading everything one connection sends, up to
 * `limit` bytes (then it closes early). */
struct sink {
	char path[300];
	int listener;
	uint8_t *data;
	size_t len, limit;
	pthread_t thread;
	bool joined;
};

static void *
sink_run(void *arg)
{
	struct sink *sink = arg;
	int conn = accept(sink->listener, NULL, NULL);
	if (conn < 0)
		return NULL;
	while (sink->len < sink->limit) {
		ssize_t n = read(conn, sink->data + sink->len, sink->limit - sink->len);
		if (n <= 0)
			break;
		sink->len += (size_t)n;
	}
	close(conn);
	return NULL;
}

static sb_handle
sink_start(struct sink *sink, size_t limit)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sb_addr addr;
	struct sb_error err;
	snprintf(sink->path, sizeof(sink->path), "%s/sink.sock", daemon_under_test.dir);
	ck_assert_uint_lt(strlen(sink->path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, sink->path, strlen(sink->path) + 1);
	sink->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(sink->listener, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(sink->listener, 1), 0);
	sink->limit = limit;
	sink->len = 0;
	sink->joined = false;
	sink->data = malloc(limit);
	ck_assert_int_eq(pthread_create(&sink->thread, NULL, sink_run, sink), 0);
	sb_handle h = fixture_socket(AF_UNIX, SOCK_STREAM);
	ck_assert_int_eq(sb_addr_unix(&addr, sink->path), 0);
	ck_assert_int_eq(sb_connect(client, h, &addr, &err), 0);
	return h;
}

static void
sink_stop(struct sink *sink)
{
	if (!sink->joined)
		pthread_join(sink->thread, NULL);
	close(sink->listener);
	unlink(sink->path);
	free(sink->data);
}

static uint8_t
pattern_byte(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

static int
file_of(size_t size)
{
	char path[320];
	snprintf(path, sizeof(path), "%s/file.XXXXXX", daemon_under_test.dir);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	uint8_t chunk[4096];
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(chunk) ? size - done : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern_byte(done + i);
		ck_assert_int_eq(write(fd, chunk, n), (ssize_t)n);
		done += n;
	}
	return fd;
}

START_TEST(sendfile_streams_a_range_of_a_local_file_and_moves_its_position)
{
	struct sink sink;
	struct sb_error err;
	size_t size = 700 * 1000, offset = 1234, count = 600 * 1000, sent;
	int fd = file_of(size);
	sb_handle h = sink_start(&sink, size);

	ck_assert_int_eq(sb_sendfile(client, h, fd, (off_t)offset, count, &sent, &err), 0);
	ck_assert_uint_eq(sent, count);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)(offset + count));
	/* Up to the end of the file with count 0. */
	ck_assert_int_eq(sb_sendfile(client, h, fd, (off_t)(offset + count), 0, &sent, &err), 0);
	ck_assert_uint_eq(sent, size - offset - count);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	pthread_join(sink.thread, NULL);
	ck_assert_uint_eq(sink.len, size - offset);
	for (size_t i = 0; i < sink.len; i++)
		if (sink.data[i] != pattern_byte(offset + i))
			ck_abort_msg("byte %zu of the stream differs from the file's", i);
	sink.joined = true;
	sink_stop(&sink);
	close(fd);
}
END_TEST

START_TEST(sendfile_refuses_what_the_reference_refuses_and_counts_what_went_out)
{
	struct sink sink;
	struct sb_error err;
	size_t sent = 99;
	int fd = file_of(4096);

	sb_handle udp = fixture_socket(AF_INET, SOCK_DGRAM);
	ck_assert_int_eq(sb_sendfile(client, udp, fd, 0, 0, &sent, &err), -EINVAL);
	ck_assert_int_eq(err.kind, SB_ERR_BAD_REQUEST);
	ck_assert_str_eq(err.message, "only SOCK_STREAM type sockets are supported");
	ck_assert_uint_eq(sent, 0);
	sb_handle tcp = fixture_socket(AF_INET, SOCK_STREAM);
	ck_assert_int_eq(sb_setblocking(client, tcp, false, &err), 0);
	ck_assert_int_eq(sb_sendfile(client, tcp, fd, 0, 0, &sent, &err), -EINVAL);
	ck_assert_str_eq(err.message, "non-blocking sockets are not supported");
	ck_assert_int_eq(sb_sendfile(client, 99999, fd, 0, 0, &sent, &err), -EBADF);
	ck_assert_int_eq(sb_sendfile(client, tcp, fd, -1, 0, &sent, &err), -EINVAL);
	close(fd);

	/* A peer that stops reading early: the kernel's error, and the count
	 * of what the daemon confirmed, with the file position after it. */
	size_t size = 8 * 1024 * 1024;
	fd = file_of(size);
	sb_handle h = sink_start(&sink, 100 * 1000);
	int r = sb_sendfile(client, h, fd, 0, 0, &sent, &err);
	ck_assert_msg(r == -EPIPE || r == -ECONNRESET, "sendfile: %d %s", r, err.message);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_uint_lt(sent, size);
	ck_assert_uint_eq(sent % (256 * 1024), 0);
	if (sent > 0)
		ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)sent);
	sink_stop(&sink);
	close(fd);
}
END_TEST

/* ---- leaks ---------------------------------------------------------------------- */

START_TEST(no_fd_is_left_behind_after_all_of_it)
{
	struct echo_server server;
	struct sb_error err;
	struct sb_msg *msg;
	sb_handle pair[2], handles[4];
	size_t n;
	char buf[8];
	int baseline = test_daemon_fd_count(&daemon_under_test);

	sb_handle conn = connected_to_echo(&server);
	socket_pair(pair);
	for (int round = 0; round < 5; round++) {
		ck_assert_int_eq(sb_send_fds(client, pair[0], "r", 1, &conn, 1, &err), 1);
		ck_assert_int_eq(sb_recv_fds(client, pair[1], buf, sizeof(buf), handles, 4, &n, 0,
					     NULL, &err),
				 1);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(sb_close(client, handles[0], &err), 0);
	}
	/* Passed twice, received with room for none: the kernel drops them. */
	sb_handle two[2] = { conn, conn };
	ck_assert_int_eq(sb_send_fds(client, pair[0], "d", 1, two, 2, &err), 1);
	ck_assert_int_eq(sb_recvmsg(client, pair[1], 8, 0, 0, &msg, &err), 1);
	ck_assert(msg->msg_flags & MSG_CTRUNC);
	sb_msg_free(msg);
	/* Peeked: each peek is new handles. */
	ck_assert_int_eq(sb_send_fds(client, pair[0], "p", 1, &conn, 1, &err), 1);
	ck_assert_int_eq(sb_recv_fds(client, pair[1], buf, sizeof(buf), handles, 4, &n, MSG_PEEK,
				     NULL, &err),
			 1);
	sb_handle peeked = handles[0];
	ck_assert_int_eq(
		sb_recv_fds(client, pair[1], buf, sizeof(buf), handles, 4, &n, 0, NULL, &err), 1);
	ck_assert_uint_ne(handles[0], peeked);
	sb_close(client, peeked, NULL);
	sb_close(client, handles[0], NULL);
	/* Refused sends leave nothing either. */
	sb_handle bogus = 31337;
	ck_assert_int_eq(sb_send_fds(client, pair[0], "b", 1, &bogus, 1, &err), -EBADF);

	/* Received handles left open go with the session. */
	ck_assert_int_eq(sb_send_fds(client, pair[0], "l", 1, &conn, 1, &err), 1);
	ck_assert_int_eq(
		sb_recv_fds(client, pair[1], buf, sizeof(buf), handles, 4, &n, 0, NULL, &err), 1);
	sb_client_free(client);
	ck_assert_int_eq(sb_client_new(&client, daemon_under_test.url, "test-msg", &err), 0);
	/* A fresh session of one connection, as at the start. */
	int after = test_daemon_wait_fd_count(&daemon_under_test, baseline, 5000);
	ck_assert_msg(after == baseline, "daemon fds: %d before, %d after", baseline, after);
	echo_server_stop(&server);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite *s = suite_create("msg");
	const struct fixture_case cases[] = {
		{ "pktinfo", udp_recvmsg_decodes_ip_pktinfo },
		{ "pktinfo6", udp6_recvmsg_decodes_ipv6_pktinfo },
		{ "hoplimit6", udp6_recvmsg_decodes_ipv6_hoplimit_and_tclass },
		{ "timestamp", udp_recvmsg_decodes_so_timestamp_in_microseconds },
		{ "timestampns", udp_recvmsg_decodes_so_timestampns },
		{ "ttl-tos", udp_recvmsg_decodes_ip_ttl_and_ip_tos },
		{ "trunc", msg_trunc_and_msg_ctrunc_are_reported_as_the_kernel_reports_them },
		{ "recvmsg-modes", recvmsg_waits_times_out_and_answers_eagain_by_mode },
		{ "sendmsg", sendmsg_gathers_buffers_to_an_address_and_to_a_name },
		{ "sendmsg-errors", sendmsg_errors_are_the_kernels_and_bad_items_are_named },
		{ "rights", scm_rights_passes_a_brokered_socket_as_a_new_handle },
		{ "rights-foreign",
		  scm_rights_naming_another_sessions_handle_is_ebadf_and_sends_nothing },
		{ "rights-outside",
		  scm_rights_from_outside_adopts_sockets_and_closes_other_descriptors },
		{ "rights-quota", scm_rights_over_the_handle_quota_closes_what_arrived },
		{ "rights-ctrunc", scm_rights_cut_by_a_small_buffer_leaves_no_fd_behind },
		{ "credentials",
		  scm_credentials_with_so_passcred_are_decoded_and_only_the_daemons_own_are_sent },
		{ "recverr", ip_recverr_with_msg_errqueue_reports_the_icmp_error_and_its_offender },
		{ "recverr6",
		  ipv6_recverr_with_msg_errqueue_reports_the_icmpv6_error_and_its_offender },
		{ "recvmsg-bad",
		  recvmsg_bad_sizes_are_bad_requests_and_large_ancbufsize_is_clamped },
		{ "sendmsg-bad", sendmsg_malformed_items_are_bad_requests_naming_them },
		{ "socketpair", socketpair_success_and_kernel_errors },
		{ "dup", dup_makes_a_second_handle_on_the_same_socket },
		{ "dup-quota", dup_over_the_handle_quota_is_emfile },
		{ "inheritable", inheritable_flag_is_set_and_read_back },
		{ "has-ipv6-cmsg", has_ipv6_and_cmsg_sizes_are_the_daemons },
		{ "sendfile", sendfile_streams_a_range_of_a_local_file_and_moves_its_position },
		{ "sendfile-errors",
		  sendfile_refuses_what_the_reference_refuses_and_counts_what_went_out },
		{ "leaks", no_fd_is_left_behind_after_all_of_it },
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 60);
	return s;
}

int
main(void)
{
	return fixture_run(msg_suite());
}
