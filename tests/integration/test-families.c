/*
 * The address families beyond inet and unix, through the real daemon and the C library:
 * AF_NETLINK (a route dump), AF_PACKET (a frame captured on lo, and frames across a veth pair
 * in a network namespace of the test's own), AF_ALG (a hash and a cipher round trip with
 * sendmsg_afalg), SOCK_RAW ICMP, UDP-Lite with checksum coverage, AF_VSOCK, AF_CAN on a vcan
 * interface in a namespace of the test's own, and AF_TIPC. Each family's success path, its
 * OS-error path and its bad-input path. A daemon that needs a namespace runs under
 * `unshare -n`, and the test configures the namespace through the daemon's pid.
 *
 * A family or feature this kernel lacks is reported as "SKIP <test>: <reason> (<errno>)" on
 * stderr, never passed in silence: the meson file runs each case as a test of its own, and a
 * case that skipped is reported by meson as SKIP. Every daemon started here is stopped by
 * pid, every loop is bounded in count and time, and traffic stays on loopback or in the
 * test's namespace.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h> /* before the linux/ headers, which then leave its names alone */
#include <linux/can.h>
#include <linux/can/raw.h>
#include <linux/if_alg.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/tipc.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "fixture.h"
#include "raw.h"
#include "sockbroker.h"

/* Not in every libc's headers. */
#ifndef UDPLITE_SEND_CSCOV
#define UDPLITE_SEND_CSCOV 10
#endif
#ifndef UDPLITE_RECV_CSCOV
#define UDPLITE_RECV_CSCOV 11
#endif

/* Bounds of every receive loop. */
#define MAX_READS 500
/* Frames read off a packet socket on lo before giving up on one datagram. */
#define PACKET_MAX_READS 4000
#define IO_TIMEOUT 5.0

static int baseline_fds;

static void
setup(void)
{
	fixture_start(NULL, "test-families");
	baseline_fds = test_daemon_fd_count(&daemon_under_test);
}

static void
teardown(void)
{
	fixture_stop();
}

/* The handles a test opened are closed: the daemon holds no more fds than when it started. */
static void
assert_no_fd_left(void)
{
	int now = test_daemon_wait_fd_count(&daemon_under_test, baseline_fds, 2000);
	ck_assert_msg(now == baseline_fds, "the daemon holds %d fds, %d before the test", now,
		      baseline_fds);
}

static sb_handle
open_socket(int family, int type, int proto)
{
	sb_handle h;
	struct sb_error err;
	int r = sb_socket(client, family, type, proto, &h, &err);

	ck_assert_msg(r == 0, "socket(%d, %d, %d): %s (%s)", family, type, proto, err.message,
		      err.errno_name);
	return h;
}

/* socket() for a family the kernel may lack: 0, or the error (with `err` filled). */
static int
try_socket(int family, int type, int proto, sb_handle *h, struct sb_error *err)
{
	int r = sb_socket(client, family, type, proto, h, err);

	if (r < 0)
		ck_assert_msg(err->kind == SB_ERR_OS, "socket(%d, %d, %d) failed with kind %s: %s",
			      family, type, proto, sb_error_kind_name(err->kind), err->message);
	return r;
}

static void
assert_os_error(int r, const struct sb_error *err, int errnum, const char *errno_name)
{
	ck_assert_msg(r == -errnum, "expected -%s, got %d (%s: %s)", errno_name, r, err->errno_name,
		      err->message);
	ck_assert_int_eq(err->kind, SB_ERR_OS);
	ck_assert_str_eq(err->errno_name, errno_name);
}

static void
assert_bad_request(int r, const struct sb_error *err, const char *field)
{
	ck_assert_msg(r == -EINVAL, "expected -EINVAL, got %d (%s)", r, err->message);
	ck_assert_int_eq(err->kind, SB_ERR_BAD_REQUEST);
	ck_assert_msg(strstr(err->message, field), "\"%s\" does not name %s", err->message, field);
}

static const char *
read_proc(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf;
}

/* ---- AF_NETLINK -------------------------------------------------------------------------- */

/* Whether one recv's worth of netlink messages holds RTM_NEWLINK for `name`; *done is set at
 * NLMSG_DONE. Every message must be addressed to `portid`. */
static bool
scan_links(const uint8_t *buf, size_t len, uint32_t portid, const char *name, bool *done)
{
	bool found = false;
	int remaining = (int)len;

	for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, remaining);
	     nh = NLMSG_NEXT(nh, remaining)) {
		ck_assert_uint_eq(nh->nlmsg_pid, portid);
		if (nh->nlmsg_type == NLMSG_DONE) {
			*done = true;
			break;
		}
		ck_assert_msg(nh->nlmsg_type != NLMSG_ERROR, "the kernel answered NLMSG_ERROR");
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		const struct ifinfomsg *ifi = NLMSG_DATA(nh);
		int attr_len = (int)IFLA_PAYLOAD(nh);
		for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, attr_len);
		     rta = RTA_NEXT(rta, attr_len)) {
			if (rta->rta_type == IFLA_IFNAME &&
			    strncmp(RTA_DATA(rta), name, RTA_PAYLOAD(rta)) == 0)
				found = true;
		}
	}
	return found;
}

START_TEST(netlink_route_dump_lists_lo_and_getsockname_gives_the_pid)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} request;
	static uint8_t buf[65536];
	struct sb_addr local, kernel, from;
	struct sb_error err;
	bool found = false, done = false;

	sb_handle h = open_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	ck_assert_int_eq(sb_settimeout(client, h, IO_TIMEOUT, &err), 0);
	/* pid 0: the kernel picks the port id. */
	ck_assert_int_eq(sb_addr_netlink(&local, 0, 0), 0);
	ck_assert_int_eq(sb_bind(client, h, &local, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	ck_assert_int_eq(local.family, AF_NETLINK);
	ck_assert_uint_ne(local.netlink.pid, 0);
	ck_assert_uint_eq(local.netlink.groups, 0);

	memset(&request, 0, sizeof(request));
	request.nh.nlmsg_len = sizeof(request);
	request.nh.nlmsg_type = RTM_GETLINK;
	request.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	request.nh.nlmsg_seq = 1;
	request.ifi.ifi_family = AF_UNSPEC;
	sb_addr_netlink(&kernel, 0, 0);
	ck_assert_int_eq(sb_sendto(client, h, &request, sizeof(request), 0, &kernel, &err),
			 (ssize_t)sizeof(request));

	for (int reads = 0; !done && reads < MAX_READS; reads++) {
		ssize_t n = sb_recvfrom(client, h, buf, sizeof(buf), 0, &from, &err);
		ck_assert_msg(n > 0, "recvfrom: %zd %s", n, err.message);
		ck_assert_int_eq(from.family, AF_NETLINK);
		ck_assert_uint_eq(from.netlink.pid, 0); /* the kernel */
		found |= scan_links(buf, (size_t)n, local.netlink.pid, "lo", &done);
	}
	ck_assert_msg(done, "no NLMSG_DONE within %d reads", MAX_READS);
	ck_assert_msg(found, "the dump did not list \"lo\"");

	/* Plain send goes to the kernel as well. */
	request.nh.nlmsg_seq = 2;
	ck_assert_int_eq(sb_send(client, h, &request, sizeof(request), 0, &err),
			 (ssize_t)sizeof(request));
	done = found = false;
	for (int reads = 0; !done && reads < MAX_READS; reads++) {
		ssize_t n = sb_recv(client, h, buf, sizeof(buf), 0, &err);
		ck_assert_msg(n > 0, "recv: %zd %s", n, err.message);
		found |= scan_links(buf, (size_t)n, local.netlink.pid, "lo", &done);
	}
	ck_assert(done && found);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	assert_no_fd_left();
}
END_TEST

START_TEST(netlink_bind_to_a_taken_port_id_is_eaddrinuse)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle first = open_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	sb_handle second = open_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);

	sb_addr_netlink(&addr, 0, 0);
	ck_assert_int_eq(sb_bind(client, first, &addr, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, first, &addr, &err), 0);
	assert_os_error(sb_bind(client, second, &addr, &err), &err, EADDRINUSE, "EADDRINUSE");
	sb_close(client, first, NULL);
	sb_close(client, second, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- AF_PACKET --------------------------------------------------------------------------- */

/* Whether `frame` (an IPv4 packet, as a SOCK_DGRAM packet socket gives it) is a UDP datagram
 * to `port` carrying `marker`. */
static bool
is_our_datagram(const uint8_t *frame, size_t len, uint16_t port, const char *marker)
{
	size_t marker_len = strlen(marker);

	if (len < 20 || frame[0] >> 4 != 4 || frame[9] != IPPROTO_UDP)
		return false;
	size_t ihl = (size_t)(frame[0] & 0xf) * 4;
	if (len < ihl + 8 + marker_len)
		return false;
	uint16_t dport = (uint16_t)(frame[ihl + 2] << 8 | frame[ihl + 3]);
	return dport == port && memcmp(frame + ihl + 8, marker, marker_len) == 0;
}

START_TEST(packet_socket_on_lo_captures_a_udp_datagram_with_the_references_address)
{
	static const uint8_t zeros[8];
	struct sb_addr addr, from;
	struct sb_error err;
	uint8_t frame[2048];
	char marker[64];
	sb_handle h;

	if (try_socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL), &h, &err) < 0) {
		test_skip("packet", "socket(AF_PACKET) is refused: %s (%s)", err.message,
		     err.errno_name);
		return;
	}
	ck_assert_int_eq(sb_addr_packet(&addr, "lo", ETH_P_ALL, 0, 0, NULL, 0), 0);
	ck_assert_int_eq(sb_bind(client, h, &addr, &err), 0);
	ck_assert_int_eq(sb_settimeout(client, h, IO_TIMEOUT, &err), 0);

	/* The reference's getsockname: ('lo', ETH_P_ALL, 0, ARPHRD_LOOPBACK, 6 zero bytes). */
	ck_assert_int_eq(sb_getsockname(client, h, &addr, &err), 0);
	ck_assert_int_eq(addr.family, AF_PACKET);
	ck_assert_str_eq(addr.packet.ifname, "lo");
	ck_assert_uint_eq(addr.packet.proto, ETH_P_ALL);
	ck_assert_uint_eq(addr.packet.hatype, ARPHRD_LOOPBACK);
	ck_assert_uint_eq(addr.packet.addr_len, ETH_ALEN);

	/* A datagram between two kernel sockets on 127.0.0.1. */
	int receiver = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sender = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sin_len = sizeof(sin);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(receiver >= 0 && sender >= 0);
	ck_assert_int_eq(bind(receiver, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(receiver, (struct sockaddr *)&sin, &sin_len), 0);
	snprintf(marker, sizeof(marker), "sockbroker packet test %d", (int)getpid());
	ck_assert_int_eq(
		sendto(sender, marker, strlen(marker), 0, (struct sockaddr *)&sin, sizeof(sin)),
		(ssize_t)strlen(marker));

	/* Other traffic on lo is passed over. Under heavy traffic from other programs the
	 * packet socket's buffer may overflow before the datagram is read, and the kernel
	 * drops it there: it is sent again every few frames read. */
	bool found = false;
	for (int reads = 0; !found && reads < PACKET_MAX_READS; reads++) {
		if (reads > 0 && reads % 32 == 0)
			ck_assert_int_eq(sendto(sender, marker, strlen(marker), 0,
						(struct sockaddr *)&sin, sizeof(sin)),
					 (ssize_t)strlen(marker));
		ssize_t n = sb_recvfrom(client, h, frame, sizeof(frame), 0, &from, &err);
		ck_assert_msg(n > 0, "recvfrom: %zd %s", n, err.message);
		found = is_our_datagram(frame, (size_t)n, ntohs(sin.sin_port), marker);
	}
	ck_assert_msg(found, "the datagram was not captured within %d frames", PACKET_MAX_READS);
	/* ('lo', ETH_P_IP, PACKET_HOST or PACKET_OUTGOING, ARPHRD_LOOPBACK, 6 zero bytes) */
	ck_assert_int_eq(from.family, AF_PACKET);
	ck_assert_str_eq(from.packet.ifname, "lo");
	ck_assert_uint_eq(from.packet.proto, ETH_P_IP);
	ck_assert_msg(from.packet.pkttype == PACKET_HOST || from.packet.pkttype == PACKET_OUTGOING,
		      "pkttype %u", from.packet.pkttype);
	ck_assert_uint_eq(from.packet.hatype, ARPHRD_LOOPBACK);
	ck_assert_uint_eq(from.packet.addr_len, ETH_ALEN);
	ck_assert_mem_eq(from.packet.addr, zeros, ETH_ALEN);

	close(sender);
	close(receiver);
	ck_assert_int_eq(sb_close(client, h, &err), 0);
	assert_no_fd_left();
}
END_TEST

START_TEST(packet_bind_to_an_unknown_interface_is_enodev_naming_it)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h;

	if (try_socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL), &h, &err) < 0) {
		test_skip("packet-enodev", "socket(AF_PACKET) is refused: %s (%s)", err.message,
		     err.errno_name);
		return;
	}
	ck_assert_int_eq(sb_addr_packet(&addr, "nosuch-if0", ETH_P_ALL, 0, 0, NULL, 0), 0);
	assert_os_error(sb_bind(client, h, &addr, &err), &err, ENODEV, "ENODEV");
	ck_assert_msg(strstr(err.message, "\"nosuch-if0\""), "message: %s", err.message);
	/* The handle goes on. */
	ck_assert_int_eq(sb_addr_packet(&addr, "lo", ETH_P_ALL, 0, 0, NULL, 0), 0);
	ck_assert_int_eq(sb_bind(client, h, &addr, &err), 0);
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- AF_ALG ------------------------------------------------------------------------------ */

static void
unhex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned byte;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &byte), 1);
		out[i] = (uint8_t)byte;
	}
}

/* An AF_ALG socket bound to (type, name), or SKIP when the kernel lacks AF_ALG. */
static bool
alg_socket(const char *test, const char *type, const char *name, sb_handle *h)
{
	struct sb_addr addr;
	struct sb_error err;

	if (try_socket(AF_ALG, SOCK_SEQPACKET, 0, h, &err) < 0) {
		ck_assert_str_eq(err.errno_name, "EAFNOSUPPORT");
		test_skip(test, "this kernel has no AF_ALG: socket(AF_ALG) is %s", err.errno_name);
		return false;
	}
	ck_assert_int_eq(sb_addr_alg(&addr, type, name, 0, 0), 0);
	int r = sb_bind(client, *h, &addr, &err);
	if (r == -ENOENT) {
		test_skip(test, "this kernel has no %s \"%s\" (bind: ENOENT)", type, name);
		sb_close(client, *h, NULL);
		return false;
	}
	ck_assert_msg(r == 0, "bind (%s, %s): %s", type, name, err.message);
	return true;
}

/* accept() on an AF_ALG socket: an operation socket, with no address at all. */
static sb_handle
alg_accept(sb_handle h)
{
	struct sb_addr peer;
	struct sb_error err;
	sb_handle op;

	ck_assert_int_eq(sb_accept(client, h, &op, &peer, &err), 0);
	ck_assert_int_eq(peer.family, AF_UNSPEC);
	return op;
}

START_TEST(alg_sha256_of_abc)
{
	uint8_t digest[32], expected[32];
	struct sb_error err;
	sb_handle h;

	if (!alg_socket("alg-hash", "hash", "sha256", &h))
		return;
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", expected, 32);
	sb_handle op = alg_accept(h);
	ck_assert_int_eq(sb_send(client, op, "abc", 3, 0, &err), 3);
	ck_assert_int_eq(sb_recv(client, op, digest, sizeof(digest), 0, &err), 32);
	ck_assert_mem_eq(digest, expected, 32);
	sb_close(client, op, NULL);
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

START_TEST(alg_cbc_aes_round_trip_with_sendmsg_afalg)
{
	uint8_t key[16], iv[16], plain[16], cipher[16], out[16];
	struct sb_error err;
	sb_handle h;

	if (!alg_socket("alg-skcipher", "skcipher", "cbc(aes)", &h))
		return;
	/* NIST SP 800-38A, F.2.1 CBC-AES128.Encrypt, first block. */
	unhex("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
	unhex("000102030405060708090a0b0c0d0e0f", iv, 16);
	unhex("6bc1bee22e409f96e93d7e117393172a", plain, 16);
	unhex("7649abac8119b246cee98e9b12e9197d", cipher, 16);
	ck_assert_int_eq(sb_setsockopt(client, h, SOL_ALG, ALG_SET_KEY, key, sizeof(key), &err), 0);
	sb_handle op = alg_accept(h);

	/* Two buffers make the one block. */
	struct iovec halves[2] = {{plain, 7}, {plain + 7, 9}};
	ck_assert_int_eq(sb_sendmsg_afalg(client, op, halves, 2, ALG_OP_ENCRYPT, iv, sizeof(iv), -1,
					  0, &err),
			 16);
	ck_assert_int_eq(sb_recv(client, op, out, sizeof(out), 0, &err), 16);
	ck_assert_mem_eq(out, cipher, 16);

	struct iovec whole = {cipher, sizeof(cipher)};
	ck_assert_int_eq(sb_sendmsg_afalg(client, op, &whole, 1, ALG_OP_DECRYPT, iv, sizeof(iv), -1,
					  0, &err),
			 16);
	ck_assert_int_eq(sb_recv(client, op, out, sizeof(out), 0, &err), 16);
	ck_assert_mem_eq(out, plain, 16);

	/* The kernel judges the operation and the IV's size. */
	assert_os_error(
		(int)sb_sendmsg_afalg(client, op, &whole, 1, 7, iv, sizeof(iv), -1, 0, &err), &err,
		EINVAL, "EINVAL");
	assert_os_error(
		(int)sb_sendmsg_afalg(client, op, &whole, 1, ALG_OP_ENCRYPT, iv, 8, -1, 0, &err),
		&err, EINVAL, "EINVAL");
	sb_close(client, op, NULL);
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

START_TEST(alg_bind_to_an_unknown_algorithm_is_the_kernels_error)
{
	struct sb_addr addr;
	struct sb_error err;
	sb_handle h;

	if (try_socket(AF_ALG, SOCK_SEQPACKET, 0, &h, &err) < 0) {
		test_skip("alg-unknown", "this kernel has no AF_ALG: socket(AF_ALG) is %s",
		     err.errno_name);
		return;
	}
	ck_assert_int_eq(sb_addr_alg(&addr, "hash", "no-such-algorithm", 0, 0), 0);
	assert_os_error(sb_bind(client, h, &addr, &err), &err, ENOENT, "ENOENT");
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

START_TEST(sendmsg_afalg_gathers_buffers_and_well_formed_control_messages)
{
	/* A unix datagram socket takes SOL_ALG control messages and ignores them, after
	 * checking that each is well formed: the buffers and the control layout reach the
	 * kernel whatever its AF_ALG support. */
	struct sb_error err;
	struct sb_addr first, second;
	sb_handle pair[2];
	char got[32], path[320];
	uint8_t iv[16] = {0};

	/* Two bound unix datagram sockets, the first connected to the second, carry the
	 * messages (a pair from sb_socketpair(AF_UNIX, SOCK_DGRAM) would serve as well). */
	snprintf(path, sizeof(path), "%s/afalg-a", daemon_under_test.dir);
	sb_addr_unix(&first, path);
	snprintf(path, sizeof(path), "%s/afalg-b", daemon_under_test.dir);
	sb_addr_unix(&second, path);
	pair[0] = open_socket(AF_UNIX, SOCK_DGRAM, 0);
	pair[1] = open_socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(sb_bind(client, pair[0], &first, &err), 0);
	ck_assert_int_eq(sb_bind(client, pair[1], &second, &err), 0);
	ck_assert_int_eq(sb_connect(client, pair[0], &second, &err), 0);

	struct iovec parts[3] = {{"one ", 4}, {"", 0}, {"two", 3}};
	ck_assert_int_eq(sb_sendmsg_afalg(client, pair[0], parts, 3, ALG_OP_ENCRYPT, iv, sizeof(iv),
					  16, 0, &err),
			 7);
	ck_assert_int_eq(sb_recv(client, pair[1], got, sizeof(got), 0, &err), 7);
	ck_assert_mem_eq(got, "one two", 7);
	sb_close(client, pair[0], NULL);
	sb_close(client, pair[1], NULL);
	assert_no_fd_left();
}
END_TEST

START_TEST(sendmsg_afalg_errors_are_the_kernels_and_bad_arguments_are_bad_requests)
{
	struct sb_error err;
	uint8_t iv[2000] = {0};
	struct iovec data = {"x", 1};
	sb_handle h = open_socket(AF_INET, SOCK_DGRAM, 0);

	/* An unconnected datagram socket has nowhere to send. */
	assert_os_error(
		(int)sb_sendmsg_afalg(client, h, &data, 1, ALG_OP_ENCRYPT, NULL, 0, -1, 0, &err),
		&err, EDESTADDRREQ, "EDESTADDRREQ");
	assert_bad_request((int)sb_sendmsg_afalg(client, h, &data, 1, ALG_OP_ENCRYPT, iv,
						 sizeof(iv), -1, 0, &err),
			   &err, "sendmsg_afalg.iv");
	assert_bad_request(
		(int)sb_sendmsg_afalg(client, h, &data, 1, ALG_OP_ENCRYPT, NULL, 0, -5, 0, &err),
		&err, "sendmsg_afalg.assoclen");
	/* The session and the handle go on. */
	struct sb_addr local;
	ck_assert_int_eq(sb_getsockname(client, h, &local, &err), 0);
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- SOCK_RAW ICMP ----------------------------------------------------------------------- */

static uint16_t
internet_checksum(const uint8_t *data, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(data[i] << 8 | data[i + 1]);
	if (len & 1)
		sum += (uint32_t)(data[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

START_TEST(raw_icmp_echo_to_loopback_gets_its_reply)
{
	char ignore[16];
	struct sb_addr to, from;
	struct sb_error err;
	uint8_t packet[64], reply[1500];
	const char payload[] = "sockbroker echo";
	sb_handle h;

	if (strcmp(read_proc("/proc/sys/net/ipv4/icmp_echo_ignore_all", ignore, sizeof(ignore)),
		   "1\n") == 0) {
		test_skip("raw-icmp", "this host ignores ICMP echo requests (icmp_echo_ignore_all)");
		return;
	}
	if (try_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP, &h, &err) < 0) {
		test_skip("raw-icmp", "socket(SOCK_RAW, IPPROTO_ICMP) is refused: %s (%s)", err.message,
		     err.errno_name);
		return;
	}
	ck_assert_int_eq(sb_settimeout(client, h, IO_TIMEOUT, &err), 0);

	uint16_t id = (uint16_t)(getpid() ^ 0x5b5b);
	size_t len = 8 + sizeof(payload);
	memset(packet, 0, sizeof(packet));
	packet[0] = ICMP_ECHO;
	packet[4] = (uint8_t)(id >> 8);
	packet[5] = (uint8_t)id;
	packet[7] = 1; /* sequence */
	memcpy(packet + 8, payload, sizeof(payload));
	uint16_t sum = internet_checksum(packet, len);
	packet[2] = (uint8_t)(sum >> 8);
	packet[3] = (uint8_t)sum;
	sb_addr_inet(&to, "127.0.0.1", 0);
	ck_assert_int_eq(sb_sendto(client, h, packet, len, 0, &to, &err), (ssize_t)len);

	/* A raw ICMP socket also sees the request itself, and other hosts' pings. */
	bool found = false;
	for (int reads = 0; !found && reads < MAX_READS; reads++) {
		ssize_t n = sb_recvfrom(client, h, reply, sizeof(reply), 0, &from, &err);
		ck_assert_msg(n > 0, "recvfrom: %zd %s", n, err.message);
		size_t ihl = (size_t)(reply[0] & 0xf) * 4;
		if ((size_t)n < ihl + len)
			continue;
		const uint8_t *icmp = reply + ihl;
		found = icmp[0] == ICMP_ECHOREPLY && (icmp[4] << 8 | icmp[5]) == id &&
			memcmp(icmp + 8, payload, sizeof(payload)) == 0;
	}
	ck_assert_msg(found, "no echo reply with id %u within %d reads", id, MAX_READS);
	ck_assert_int_eq(from.family, AF_INET);
	ck_assert_str_eq(from.host, "127.0.0.1");
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- UDP-Lite ---------------------------------------------------------------------------- */

START_TEST(udplite_round_trip_with_checksum_coverage)
{
	struct sb_addr addr, from;
	struct sb_error err;
	char buf[64];
	int coverage = 0;
	sb_handle receiver, sender;

	if (try_socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE, &receiver, &err) < 0) {
		test_skip("udplite", "this kernel has no UDP-Lite: %s (%s)", err.message,
		     err.errno_name);
		return;
	}
	sender = open_socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	ck_assert_int_eq(
		sb_setsockopt_int(client, receiver, IPPROTO_UDPLITE, UDPLITE_RECV_CSCOV, 20, &err),
		0);
	ck_assert_int_eq(
		sb_setsockopt_int(client, sender, IPPROTO_UDPLITE, UDPLITE_SEND_CSCOV, 20, &err),
		0);
	ck_assert_int_eq(sb_getsockopt_int(client, sender, IPPROTO_UDPLITE, UDPLITE_SEND_CSCOV,
					   &coverage, &err),
			 0);
	ck_assert_int_eq(coverage, 20);
	ck_assert_int_eq(sb_settimeout(client, receiver, IO_TIMEOUT, &err), 0);
	sb_addr_inet(&addr, "127.0.0.1", 0);
	ck_assert_int_eq(sb_bind(client, receiver, &addr, &err), 0);
	ck_assert_int_eq(sb_getsockname(client, receiver, &addr, &err), 0);

	ck_assert_int_eq(sb_sendto(client, sender, "udp-lite datagram", 17, 0, &addr, &err), 17);
	ck_assert_int_eq(sb_recvfrom(client, receiver, buf, sizeof(buf), 0, &from, &err), 17);
	ck_assert_mem_eq(buf, "udp-lite datagram", 17);
	ck_assert_str_eq(from.host, "127.0.0.1");

	/* Coverage is a UDP-Lite option: plain UDP does not know it. */
	sb_handle udp = open_socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	assert_os_error(
		sb_setsockopt_int(client, udp, IPPROTO_UDPLITE, UDPLITE_SEND_CSCOV, 20, &err), &err,
		ENOPROTOOPT, "ENOPROTOOPT");
	sb_close(client, udp, NULL);
	sb_close(client, sender, NULL);
	sb_close(client, receiver, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- AF_VSOCK ---------------------------------------------------------------------------- */

START_TEST(vsock_over_the_loopback_transport)
{
	struct sb_addr addr, peer;
	struct sb_error err;
	char buf[32];
	sb_handle listener;

	if (try_socket(AF_VSOCK, SOCK_STREAM, 0, &listener, &err) < 0) {
		test_skip("vsock", "this kernel has no AF_VSOCK: socket(AF_VSOCK) is %s",
		     err.errno_name);
		return;
	}
	/* Unbound: the reference's (VMADDR_CID_ANY, VMADDR_PORT_ANY). */
	ck_assert_int_eq(sb_getsockname(client, listener, &addr, &err), 0);
	ck_assert_int_eq(addr.family, AF_VSOCK);
	ck_assert_uint_eq(addr.vsock.cid, VMADDR_CID_ANY);
	ck_assert_uint_eq(addr.vsock.port, VMADDR_PORT_ANY);

	uint32_t port = 20000 + (uint32_t)(getpid() % 20000);
	sb_addr_vsock(&addr, VMADDR_CID_LOCAL, port);
	int r = sb_bind(client, listener, &addr, &err);
	if (r < 0) {
		/* Without vsock_loopback the kernel has no local CID to bind. */
		ck_assert_int_eq(err.kind, SB_ERR_OS);
		test_skip("vsock", "no vsock loopback transport: bind to (VMADDR_CID_LOCAL, %u) is %s",
		     port, err.errno_name);
		sb_close(client, listener, NULL);
		assert_no_fd_left();
		return;
	}
	ck_assert_int_eq(sb_listen(client, listener, 1, &err), 0);
	sb_handle conn = open_socket(AF_VSOCK, SOCK_STREAM, 0);
	ck_assert_int_eq(sb_settimeout(client, conn, IO_TIMEOUT, &err), 0);
	ck_assert_int_eq(sb_connect(client, conn, &addr, &err), 0);
	sb_handle accepted;
	ck_assert_int_eq(sb_accept(client, listener, &accepted, &peer, &err), 0);
	ck_assert_int_eq(peer.family, AF_VSOCK);
	ck_assert_uint_eq(peer.vsock.cid, VMADDR_CID_LOCAL);
	ck_assert_int_eq(sb_getpeername(client, conn, &peer, &err), 0);
	ck_assert_uint_eq(peer.vsock.port, port);
	ck_assert_int_eq(sb_sendall(client, conn, "over vsock", 10, 0, &err), 0);
	ck_assert_int_eq(sb_recv(client, accepted, buf, 10, MSG_WAITALL, &err), 10);
	ck_assert_mem_eq(buf, "over vsock", 10);

	/* Nothing listens on the next port: the transport resets the connection. */
	sb_handle refused = open_socket(AF_VSOCK, SOCK_STREAM, 0);
	ck_assert_int_eq(sb_settimeout(client, refused, IO_TIMEOUT, &err), 0);
	sb_addr_vsock(&addr, VMADDR_CID_LOCAL, port + 1);
	ck_assert_int_lt(sb_connect(client, refused, &addr, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	ck_assert_msg(strcmp(err.errno_name, "ECONNRESET") == 0 ||
			      strcmp(err.errno_name, "ECONNREFUSED") == 0,
		      "connect to a closed vsock port: %s", err.errno_name);
	sb_close(client, refused, NULL);
	sb_close(client, accepted, NULL);
	sb_close(client, conn, NULL);
	sb_close(client, listener, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- AF_CAN in a namespace of the test's own --------------------------------------------- */

/* Run argv (bounded: 10 s), with its output in `out`. Returns its exit status, or -1. */
static int
run(char *const argv[], char *out, size_t out_len)
{
	int pipefd[2];

	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	size_t got = 0;
	int status = -1;
	int64_t deadline = test_now_ms() + 10000;
	for (;;) {
		ssize_t n = read(pipefd[0], out + got, out_len - 1 - got);
		if (n > 0 && got + (size_t)n < out_len - 1)
			got += (size_t)n;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (test_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			status = -1;
			break;
		}
		usleep(10000);
	}
	ssize_t n;
	while (got < out_len - 1 && (n = read(pipefd[0], out + got, out_len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A second daemon in a network namespace of its own: its wrapper runs it under
 * `unshare -n` (before any valgrind wrapper), so its pid is the daemon's. */
static void
start_daemon_in_new_netns(struct test_daemon *daemon)
{
	const char *outer = getenv("SOCKBROKERD_WRAPPER");
	char *saved = outer ? strdup(outer) : NULL;
	char wrapper[1024];

	snprintf(wrapper, sizeof(wrapper), "unshare -n %s", saved ? saved : "");
	setenv("SOCKBROKERD_WRAPPER", wrapper, 1);
	test_daemon_start(daemon, NULL);
	if (saved)
		setenv("SOCKBROKERD_WRAPPER", saved, 1);
	else
		unsetenv("SOCKBROKERD_WRAPPER");
	free(saved);
}

/* Run `ip ARGS...` (NULL-terminated) in the daemon's namespace; its exit status. */
static int
ip_in(const struct test_daemon *daemon, char *out, size_t out_len, ...)
{
	char pid[32];
	char *argv[16] = {"nsenter", "-t", pid, "-n", "ip"};
	size_t argc = 5;
	va_list ap;

	snprintf(pid, sizeof(pid), "%d", (int)daemon->pid);
	va_start(ap, out_len);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return run(argv, out, out_len);
}

START_TEST(can_raw_frames_on_a_vcan_interface_in_the_tests_namespace)
{
	struct test_daemon netns_daemon;
	struct sb_client *c;
	struct sb_error err;
	struct sb_addr addr, from;
	char out[512];
	sb_handle tx, rx;

	start_daemon_in_new_netns(&netns_daemon);
	int r = sb_client_new(&c, netns_daemon.url, "test-families-netns", &err);
	ck_assert_msg(r == 0, "sb_client_new: %s", err.message);

	r = sb_socket(c, AF_CAN, SOCK_RAW, CAN_RAW, &tx, &err);
	if (r < 0) {
		ck_assert_int_eq(err.kind, SB_ERR_OS);
		test_skip("can", "this kernel has no AF_CAN: socket(AF_CAN, SOCK_RAW, CAN_RAW) is %s",
		     err.errno_name);
		goto out;
	}
	if (ip_in(&netns_daemon, out, sizeof(out), "link", "add", "vcan0", "type", "vcan", NULL) !=
	    0) {
		test_skip("can", "cannot create a vcan interface (is the vcan module there?): %s", out);
		sb_close(c, tx, NULL);
		goto out;
	}
	ck_assert_msg(ip_in(&netns_daemon, out, sizeof(out), "link", "set", "vcan0", "up", NULL) ==
			      0,
		      "ip link set vcan0 up: %s", out);

	ck_assert_int_eq(sb_socket(c, AF_CAN, SOCK_RAW, CAN_RAW, &rx, &err), 0);
	ck_assert_int_eq(sb_settimeout(c, rx, IO_TIMEOUT, &err), 0);
	sb_addr_can(&addr, "vcan0");
	ck_assert_int_eq(sb_bind(c, tx, &addr, &err), 0);
	ck_assert_int_eq(sb_bind(c, rx, &addr, &err), 0);
	ck_assert_int_eq(sb_getsockname(c, rx, &addr, &err), 0);
	ck_assert_int_eq(addr.family, AF_CAN);
	ck_assert_str_eq(addr.can.ifname, "vcan0");

	struct can_frame frame = {.can_id = 0x123, .len = 4, .data = {0xde, 0xad, 0xbe, 0xef}};
	struct can_frame got;
	ck_assert_int_eq(sb_send(c, tx, &frame, sizeof(frame), 0, &err), (ssize_t)sizeof(frame));
	ck_assert_int_eq(sb_recvfrom(c, rx, &got, sizeof(got), 0, &from, &err),
			 (ssize_t)sizeof(got));
	ck_assert_uint_eq(got.can_id, 0x123);
	ck_assert_mem_eq(got.data, frame.data, 4);
	ck_assert_int_eq(from.family, AF_CAN);
	ck_assert_str_eq(from.can.ifname, "vcan0");
	ck_assert_int_eq(from.can.form, SB_CAN_PLAIN);

	/* An interface the namespace lacks. */
	sb_addr_can(&addr, "vcan9");
	assert_os_error(sb_bind(c, rx, &addr, &err), &err, ENODEV, "ENODEV");
	ck_assert_msg(strstr(err.message, "\"vcan9\""), "message: %s", err.message);
	sb_close(c, rx, NULL);
	sb_close(c, tx, NULL);
out:
	sb_client_free(c);
	ck_assert_int_eq(test_daemon_stop(&netns_daemon), 0);
}
END_TEST

START_TEST(packet_frames_cross_a_veth_pair_in_the_tests_namespace)
{
	static const uint8_t broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	/* IEEE 802 local experimental ethertype: nothing else sends it. */
	const unsigned proto = 0x88b5;
	struct test_daemon netns_daemon;
	struct sb_client *c;
	struct sb_error err;
	struct sb_addr addr, from;
	char out[512];
	uint8_t frame[256];
	sb_handle tx, rx;

	start_daemon_in_new_netns(&netns_daemon);
	int r = sb_client_new(&c, netns_daemon.url, "test-families-netns", &err);
	ck_assert_msg(r == 0, "sb_client_new: %s", err.message);
	if (ip_in(&netns_daemon, out, sizeof(out), "link", "add", "sbve0", "type", "veth", "peer",
		  "name", "sbve1", NULL) != 0) {
		test_skip("packet-netns", "cannot create a veth pair: %s", out);
		goto out;
	}
	ck_assert_msg(ip_in(&netns_daemon, out, sizeof(out), "link", "set", "sbve0", "up", NULL) ==
			      0,
		      "ip link set sbve0 up: %s", out);
	ck_assert_msg(ip_in(&netns_daemon, out, sizeof(out), "link", "set", "sbve1", "up", NULL) ==
			      0,
		      "ip link set sbve1 up: %s", out);

	ck_assert_int_eq(sb_socket(c, AF_PACKET, SOCK_DGRAM, htons(proto), &rx, &err), 0);
	ck_assert_int_eq(sb_settimeout(c, rx, IO_TIMEOUT, &err), 0);
	ck_assert_int_eq(sb_addr_packet(&addr, "sbve1", proto, 0, 0, NULL, 0), 0);
	ck_assert_int_eq(sb_bind(c, rx, &addr, &err), 0);
	ck_assert_int_eq(sb_socket(c, AF_PACKET, SOCK_DGRAM, 0, &tx, &err), 0);
	ck_assert_int_eq(sb_addr_packet(&addr, "sbve0", proto, 0, 0, broadcast, ETH_ALEN), 0);
	ck_assert_int_eq(sb_sendto(c, tx, "through a veth pair", 19, 0, &addr, &err), 19);

	ssize_t n = sb_recvfrom(c, rx, frame, sizeof(frame), 0, &from, &err);
	ck_assert_msg(n >= 19, "recvfrom: %zd %s", n, err.message);
	ck_assert_mem_eq(frame, "through a veth pair", 19);
	/* ('sbve1', proto, PACKET_BROADCAST, ARPHRD_ETHER, the sender's MAC) */
	ck_assert_int_eq(from.family, AF_PACKET);
	ck_assert_str_eq(from.packet.ifname, "sbve1");
	ck_assert_uint_eq(from.packet.proto, proto);
	ck_assert_uint_eq(from.packet.pkttype, PACKET_BROADCAST);
	ck_assert_uint_eq(from.packet.hatype, ARPHRD_ETHER);
	ck_assert_uint_eq(from.packet.addr_len, ETH_ALEN);

	/* The pair exists in the daemon's namespace only. */
	ck_assert_uint_eq(if_nametoindex("sbve0"), 0);
	ck_assert_int_eq(sb_addr_packet(&addr, "sbve2", proto, 0, 0, NULL, 0), 0);
	assert_os_error(sb_bind(c, rx, &addr, &err), &err, ENODEV, "ENODEV");
	sb_close(c, rx, NULL);
	sb_close(c, tx, NULL);
out:
	sb_client_free(c);
	ck_assert_int_eq(test_daemon_stop(&netns_daemon), 0);
}
END_TEST

/* ---- AF_TIPC ----------------------------------------------------------------------------- */

START_TEST(tipc_rdm_datagram_by_service_name)
{
	struct sb_addr addr, from;
	struct sb_error err;
	char buf[64];
	sb_handle server, sender;

	if (try_socket(AF_TIPC, SOCK_RDM, 0, &server, &err) < 0) {
		test_skip("tipc", "this kernel has no AF_TIPC: socket(AF_TIPC, SOCK_RDM) is %s",
		     err.errno_name);
		return;
	}
	uint32_t type = 18888, instance = 17 + (uint32_t)(getpid() % 1000);
	ck_assert_int_eq(sb_addr_tipc(&addr, TIPC_ADDR_NAMESEQ, type, instance, instance,
				      TIPC_CLUSTER_SCOPE),
			 0);
	ck_assert_int_eq(sb_bind(client, server, &addr, &err), 0);
	ck_assert_int_eq(sb_settimeout(client, server, IO_TIMEOUT, &err), 0);
	sender = open_socket(AF_TIPC, SOCK_RDM, 0);
	ck_assert_int_eq(sb_addr_tipc(&addr, TIPC_ADDR_NAME, type, instance, 0, TIPC_CLUSTER_SCOPE),
			 0);
	ck_assert_int_eq(sb_sendto(client, sender, "over tipc", 9, 0, &addr, &err), 9);
	ck_assert_int_eq(sb_recvfrom(client, server, buf, sizeof(buf), 0, &from, &err), 9);
	ck_assert_mem_eq(buf, "over tipc", 9);
	ck_assert_int_eq(from.family, AF_TIPC);
	ck_assert_uint_eq(from.tipc.addr_type, TIPC_ADDR_ID);

	/* No one is bound to the next instance. */
	ck_assert_int_eq(
		sb_addr_tipc(&addr, TIPC_ADDR_NAME, type, instance + 1, 0, TIPC_CLUSTER_SCOPE), 0);
	ck_assert_int_lt(sb_sendto(client, sender, "x", 1, 0, &addr, &err), 0);
	ck_assert_int_eq(err.kind, SB_ERR_OS);
	sb_close(client, sender, NULL);
	sb_close(client, server, NULL);
	assert_no_fd_left();
}
END_TEST

/* ---- bad input --------------------------------------------------------------------------- */

START_TEST(an_unknown_family_number_is_eafnosupport)
{
	struct sb_error err;
	sb_handle h;

	assert_os_error(sb_socket(client, 12345, SOCK_STREAM, 0, &h, &err), &err, EAFNOSUPPORT,
			"EAFNOSUPPORT");
	assert_no_fd_left();
}
END_TEST

/* A bind with `address` through the raw wire; the reply must be BAD_REQUEST naming `field`. */
static void
raw_bind_is_bad_request(struct raw_client *raw, Sockbroker__V1__Address *address, const char *field)
{
	Sockbroker__V1__Request request = SOCKBROKER__V1__REQUEST__INIT;
	Sockbroker__V1__BindRequest bind_args = SOCKBROKER__V1__BIND_REQUEST__INIT;

	bind_args.has_handle = true;
	bind_args.handle = 1;
	bind_args.address = address;
	request.op_case = SOCKBROKER__V1__REQUEST__OP_BIND;
	request.bind = &bind_args;
	Sockbroker__V1__Reply *reply = raw_call(raw, &request);
	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_nonnull(reply->error);
	ck_assert_int_eq(reply->error->kind, SOCKBROKER__V1__ERROR_KIND__BAD_REQUEST);
	ck_assert_str_eq(reply->error->errno_name, "EINVAL");
	ck_assert_msg(strstr(reply->error->message, field), "\"%s\" does not name %s",
		      reply->error->message, field);
	sockbroker__v1__reply__free_unpacked(reply, NULL);
}

START_TEST(malformed_family_addresses_are_bad_requests_naming_the_field)
{
	Sockbroker__V1__Address address = SOCKBROKER__V1__ADDRESS__INIT;
	Sockbroker__V1__AlgAddress alg = SOCKBROKER__V1__ALG_ADDRESS__INIT;
	Sockbroker__V1__PacketAddress packet = SOCKBROKER__V1__PACKET_ADDRESS__INIT;
	struct raw_client *raw = raw_connect(daemon_under_test.url, 1);
	char name[101], ifname[41];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(ifname, 'e', sizeof(ifname) - 1);
	ifname[sizeof(ifname) - 1] = '\0';

	alg.type = "hash";
	alg.name = name;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_ALG;
	address.af_alg = &alg;
	raw_bind_is_bad_request(raw, &address, "bind.address.af_alg.name");

	packet.ifname = ifname;
	packet.has_proto = true;
	packet.proto = ETH_P_ALL;
	address.family_case = SOCKBROKER__V1__ADDRESS__FAMILY_AF_PACKET;
	address.af_packet = &packet;
	raw_bind_is_bad_request(raw, &address, "bind.address.af_packet.ifname");
	raw_close(raw);

	/* The daemon goes on serving. */
	sb_handle h = open_socket(AF_INET, SOCK_DGRAM, 0);
	sb_close(client, h, NULL);
	assert_no_fd_left();
}
END_TEST

static Suite *
families_suite(void)
{
	Suite *s = suite_create("families");
	const struct fixture_case cases[] = {
		{"netlink", netlink_route_dump_lists_lo_and_getsockname_gives_the_pid},
		{"netlink-eaddrinuse", netlink_bind_to_a_taken_port_id_is_eaddrinuse},
		{"packet", packet_socket_on_lo_captures_a_udp_datagram_with_the_references_address},
		{"packet-enodev", packet_bind_to_an_unknown_interface_is_enodev_naming_it},
		{"alg-hash", alg_sha256_of_abc},
		{"alg-skcipher", alg_cbc_aes_round_trip_with_sendmsg_afalg},
		{"alg-unknown", alg_bind_to_an_unknown_algorithm_is_the_kernels_error},
		{"afalg-gather", sendmsg_afalg_gathers_buffers_and_well_formed_control_messages},
		{"afalg-errors",
		 sendmsg_afalg_errors_are_the_kernels_and_bad_arguments_are_bad_requests},
		{"raw-icmp", raw_icmp_echo_to_loopback_gets_its_reply},
		{"udplite", udplite_round_trip_with_checksum_coverage},
		{"vsock", vsock_over_the_loopback_transport},
		{"packet-netns", packet_frames_cross_a_veth_pair_in_the_tests_namespace},
		{"can", can_raw_frames_on_a_vcan_interface_in_the_tests_namespace},
		{"tipc", tipc_rdm_datagram_by_service_name},
		{"unknown-family", an_unknown_family_number_is_eafnosupport},
		{"bad-addresses", malformed_family_addresses_are_bad_requests_naming_the_field},
	};
	fixture_add_cases(s, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown, 60);
	return s;
}

int
main(void)
{
	return fixture_run(families_suite());
}
