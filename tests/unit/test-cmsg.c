/*
 * Unit tests of server/cmsg.c: building control buffers from items (raw
 * bytes, decoded members, SCM_RIGHTS through a lookup) and parsing the
 * kernel's control buffers into items, with real ones from the kernel where
 * the kernel can make them (socketpairs, UDP on loopback) and hand-made ones
 * for what it never sends (truncated and lying headers).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmsg.h"

/* A control buffer aligned for struct cmsghdr. */
union control {
	struct cmsghdr align;
	uint8_t bytes[4096];
};

static char message[256];

/* ---- a fake handle table: ids 100.. map to the fds in `fds` -------------- */

static int lookup_fds[4];

static int
lookup(void *userdata, uint64_t id)
{
	(void)userdata;
	if (id >= 100 && id < 104)
		return lookup_fds[id - 100];
	return -EBADF;
}

static struct cmsg_item
raw_item(int level, int type, const void *data, size_t len)
{
	struct cmsg_item item;
	memset(&item, 0, sizeof(item));
	item.level = level;
	item.type = type;
	item.data = (uint8_t *)(uintptr_t)data;
	item.len = len;
	return item;
}

static int
build(const struct cmsg_item *items, size_t count, union control *buf, size_t *used)
{
	size_t size = cmsg_build_size(items, count);
	ck_assert_uint_le(size, sizeof(buf->bytes));
	message[0] = '\0';
	return cmsg_build(items, count, lookup, NULL, buf->bytes, size, used, message,
			  sizeof(message));
}

static bool
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* ---- building ------------------------------------------------------------- */

START_TEST(build_copies_raw_bytes_of_an_unknown_type_as_given)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(SOL_SOCKET, 9999, "abc", 3);

	ck_assert_uint_eq(cmsg_build_size(&item, 1), CMSG_SPACE(3));
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	ck_assert_uint_eq(used, CMSG_SPACE(3));
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	ck_assert_int_eq(h->cmsg_level, SOL_SOCKET);
	ck_assert_int_eq(h->cmsg_type, 9999);
	ck_assert_uint_eq(h->cmsg_len, CMSG_LEN(3));
	ck_assert(memcmp(CMSG_DATA(h), "abc", 3) == 0);
}
END_TEST

START_TEST(build_lays_out_several_items_one_after_another)
{
	union control buf;
	size_t used;
	int ttl = 9;
	struct cmsg_item items[2] = { raw_item(SOL_SOCKET, 9999, "x", 1),
				      raw_item(IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) };

	ck_assert_int_eq(build(items, 2, &buf, &used), 0);
	ck_assert_uint_eq(used, CMSG_SPACE(1) + CMSG_SPACE(sizeof(int)));
	struct msghdr msg = { .msg_control = buf.bytes, .msg_controllen = used };
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	ck_assert_int_eq(h->cmsg_type, 9999);
	h = CMSG_NXTHDR(&msg, h);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->cmsg_type, IP_TTL);
	int got;
	memcpy(&got, CMSG_DATA(h), sizeof(got));
	ck_assert_int_eq(got, 9);
}
END_TEST

START_TEST(build_rights_replaces_handle_ids_with_their_fds)
{
	union control buf;
	size_t used;
	uint64_t handles[] = { 100, 101 };
	struct cmsg_item item = raw_item(SOL_SOCKET, SCM_RIGHTS, NULL, 0);

	lookup_fds[0] = 33;
	lookup_fds[1] = 44;
	item.view = CMSG_VIEW_RIGHTS;
	item.rights.handles = handles;
	item.rights.count = 2;
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	ck_assert_uint_eq(h->cmsg_len, CMSG_LEN(2 * sizeof(int)));
	int fds[2];
	memcpy(fds, CMSG_DATA(h), sizeof(fds));
	ck_assert_int_eq(fds[0], 33);
	ck_assert_int_eq(fds[1], 44);
}
END_TEST

START_TEST(build_rights_naming_an_unknown_handle_is_ebadf_naming_item_and_handle)
{
	union control buf;
	size_t used;
	uint64_t handles[] = { 100, 77 };
	struct cmsg_item items[2] = { raw_item(SOL_SOCKET, 9999, "x", 1),
				      raw_item(SOL_SOCKET, SCM_RIGHTS, NULL, 0) };

	lookup_fds[0] = 33;
	items[1].view = CMSG_VIEW_RIGHTS;
	items[1].rights.handles = handles;
	items[1].rights.count = 2;
	ck_assert_int_eq(build(items, 2, &buf, &used), -EBADF);
	ck_assert_msg(strstr(message, "ancillary[1] (SOL_SOCKET, SCM_RIGHTS)"), "%s", message);
	ck_assert_msg(strstr(message, "handle 77"), "%s", message);
}
END_TEST

START_TEST(build_refuses_raw_scm_rights_bytes)
{
	union control buf;
	size_t used;
	int fd = 0;
	struct cmsg_item item = raw_item(SOL_SOCKET, SCM_RIGHTS, &fd, sizeof(fd));

	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "ancillary[0] (SOL_SOCKET, SCM_RIGHTS)"), "%s", message);
	ck_assert_msg(strstr(message, "rights"), "%s", message);
}
END_TEST

START_TEST(build_refuses_a_truncated_pktinfo_naming_it)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(IPPROTO_IP, IP_PKTINFO, "12345", 5);

	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "ancillary[0] (IPPROTO_IP, IP_PKTINFO)"), "%s", message);
	ck_assert_msg(strstr(message, "5 bytes"), "%s", message);
}
END_TEST

START_TEST(build_takes_ip_tos_as_a_byte_or_an_int_only)
{
	union control buf;
	size_t used;
	int tos = 0x10;
	struct cmsg_item item = raw_item(IPPROTO_IP, IP_TOS, "\x10", 1);

	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	item = raw_item(IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	item = raw_item(IPPROTO_IP, IP_TOS, "abc", 3);
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "IP_TOS"), "%s", message);
	item = raw_item(IPPROTO_IPV6, IPV6_HOPLIMIT, "ab", 2);
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "IPV6_HOPLIMIT"), "%s", message);
}
END_TEST

START_TEST(build_encodes_a_pktinfo_member_as_in_pktinfo)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(IPPROTO_IP, IP_PKTINFO, NULL, 0);

	item.view = CMSG_VIEW_PKTINFO;
	item.pktinfo.ifindex = 1;
	snprintf(item.pktinfo.spec_dst, sizeof(item.pktinfo.spec_dst), "127.0.0.1");
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	ck_assert_uint_eq(h->cmsg_len, CMSG_LEN(sizeof(struct in_pktinfo)));
	struct in_pktinfo info;
	memcpy(&info, CMSG_DATA(h), sizeof(info));
	ck_assert_int_eq(info.ipi_ifindex, 1);
	ck_assert_uint_eq(info.ipi_spec_dst.s_addr, htonl(INADDR_LOOPBACK));
	ck_assert_uint_eq(info.ipi_addr.s_addr, 0);
}
END_TEST

START_TEST(build_encodes_an_ipv6_pktinfo_member_and_refuses_spec_dst_there)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(IPPROTO_IPV6, IPV6_PKTINFO, NULL, 0);

	item.view = CMSG_VIEW_PKTINFO;
	item.pktinfo.ifindex = 1;
	snprintf(item.pktinfo.addr, sizeof(item.pktinfo.addr), "::1");
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	struct in6_pktinfo info;
	memcpy(&info, CMSG_DATA((struct cmsghdr *)buf.bytes), sizeof(info));
	ck_assert_uint_eq(info.ipi6_ifindex, 1);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&info.ipi6_addr));

	snprintf(item.pktinfo.spec_dst, sizeof(item.pktinfo.spec_dst), "127.0.0.1");
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "spec_dst"), "%s", message);
}
END_TEST

START_TEST(build_refuses_a_pktinfo_address_that_does_not_parse)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(IPPROTO_IP, IP_PKTINFO, NULL, 0);

	item.view = CMSG_VIEW_PKTINFO;
	snprintf(item.pktinfo.addr, sizeof(item.pktinfo.addr), "not-an-address");
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "not-an-address"), "%s", message);
}
END_TEST

START_TEST(build_refuses_a_member_that_does_not_fit_the_level_and_type)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(IPPROTO_IP, IP_TTL, NULL, 0);

	item.view = CMSG_VIEW_PKTINFO;
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "ancillary[0] (IPPROTO_IP, IP_TTL)"), "%s", message);
	ck_assert_msg(strstr(message, "`pktinfo`"), "%s", message);

	item = raw_item(SOL_SOCKET, 9999, NULL, 0);
	item.view = CMSG_VIEW_RIGHTS;
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
}
END_TEST

START_TEST(build_encodes_an_int_member_as_a_c_int)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(IPPROTO_IPV6, IPV6_HOPLIMIT, NULL, 0);

	item.view = CMSG_VIEW_INT;
	item.int_value = 5;
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	int got;
	memcpy(&got, CMSG_DATA((struct cmsghdr *)buf.bytes), sizeof(got));
	ck_assert_int_eq(got, 5);
}
END_TEST

START_TEST(build_sends_the_daemons_own_credentials_and_refuses_others)
{
	union control buf;
	size_t used;
	struct cmsg_item item = raw_item(SOL_SOCKET, SCM_CREDENTIALS, NULL, 0);

	item.view = CMSG_VIEW_CREDENTIALS;
	item.credentials.pid = getpid();
	item.credentials.uid = geteuid();
	item.credentials.gid = getegid();
	ck_assert_int_eq(build(&item, 1, &buf, &used), 0);
	struct ucred cred;
	memcpy(&cred, CMSG_DATA((struct cmsghdr *)buf.bytes), sizeof(cred));
	ck_assert_int_eq(cred.pid, getpid());

	item.credentials.pid = getpid() == 1 ? 2 : 1;
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EPERM);
	ck_assert_msg(strstr(message, "SCM_CREDENTIALS"), "%s", message);

	/* The same through raw bytes. */
	cred.pid = getpid() == 1 ? 2 : 1;
	item = raw_item(SOL_SOCKET, SCM_CREDENTIALS, &cred, sizeof(cred));
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EPERM);
	item = raw_item(SOL_SOCKET, SCM_CREDENTIALS, &cred, 8);
	ck_assert_int_eq(build(&item, 1, &buf, &used), -EINVAL);
	ck_assert_msg(strstr(message, "struct ucred"), "%s", message);
}
END_TEST

START_TEST(build_size_beyond_the_limit_is_size_max)
{
	static uint8_t big[CMSG_SEND_MAX];
	struct cmsg_item item = raw_item(SOL_SOCKET, 9999, big, sizeof(big));

	ck_assert_uint_eq(cmsg_build_size(&item, 1), SIZE_MAX);
	item.len = 100;
	ck_assert_uint_eq(cmsg_build_size(&item, 1), CMSG_SPACE(100));
	ck_assert_uint_eq(cmsg_build_size(NULL, 0), 0);
}
END_TEST

/* ---- parsing: real control buffers from the kernel ---------------------------- */

static uint64_t next_id;
static int adopted_fds[8];
static size_t n_adopted;
static int fail_on_call; /* 1-based; 0: never */

static int
adopt(void *userdata, int fd, uint64_t *id)
{
	(void)userdata;
	if (fail_on_call && (int)n_adopted + 1 == fail_on_call) {
		close(fd);
		n_adopted++;
		return -EMFILE;
	}
	adopted_fds[n_adopted++] = fd;
	*id = next_id++;
	return 0;
}

static void
reset_adoption(void)
{
	next_id = 500;
	n_adopted = 0;
	fail_on_call = 0;
}

/* Send `count` fds over `sock` with SCM_RIGHTS and one byte of data. */
static void
send_fds(int sock, const int *fds, size_t count)
{
	union control buf;
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = buf.bytes,
			      .msg_controllen = CMSG_SPACE(count * sizeof(int)) };
	memset(buf.bytes, 0, sizeof(buf.bytes));
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(count * sizeof(int));
	memcpy(CMSG_DATA(h), fds, count * sizeof(int));
	ck_assert_int_eq(sendmsg(sock, &msg, 0), 1);
}

static size_t
receive(int sock, union control *buf, size_t controllen, int *msg_flags)
{
	char data[64];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = buf->bytes,
			      .msg_controllen = controllen };
	ck_assert_int_ge(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC), 0);
	if (msg_flags)
		*msg_flags = msg.msg_flags;
	return msg.msg_controllen;
}

START_TEST(parse_turns_received_fds_into_ids_in_rights_and_in_the_bytes)
{
	int pair[2], pipe1[2], pipe2[2];
	union control buf;
	struct cmsg_item items[16];
	uint64_t ids[16];
	size_t count;

	reset_adoption();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	ck_assert_int_eq(pipe(pipe1), 0);
	ck_assert_int_eq(pipe(pipe2), 0);
	send_fds(pair[0], (int[]){ pipe1[0], pipe2[0] }, 2);
	size_t len = receive(pair[1], &buf, sizeof(buf.bytes), NULL);

	ck_assert_uint_eq(cmsg_count_fds(buf.bytes, len), 2);
	ck_assert_uint_ge(cmsg_max_items(len), 1);
	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(items[0].level, SOL_SOCKET);
	ck_assert_int_eq(items[0].type, SCM_RIGHTS);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_RIGHTS);
	ck_assert_uint_eq(items[0].rights.count, 2);
	ck_assert_uint_eq(items[0].rights.handles[0], 500);
	ck_assert_uint_eq(items[0].rights.handles[1], 501);
	ck_assert_uint_eq(items[0].len, 2 * sizeof(int));
	int native[2];
	memcpy(native, items[0].data, sizeof(native));
	ck_assert_int_eq(native[0], 500);
	ck_assert_int_eq(native[1], 501);
	/* The adopted fds are real and close-on-exec. */
	ck_assert_uint_eq(n_adopted, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert(fcntl(adopted_fds[i], F_GETFD) & FD_CLOEXEC);
		close(adopted_fds[i]);
	}
	close(pipe1[0]);
	close(pipe1[1]);
	close(pipe2[0]);
	close(pipe2[1]);
	close(pair[0]);
	close(pair[1]);
}
END_TEST

START_TEST(parse_after_a_failed_adoption_closes_every_fd_left)
{
	int pair[2], pipes[3][2];
	union control buf;
	struct cmsg_item items[16];
	uint64_t ids[16];
	size_t count;

	reset_adoption();
	fail_on_call = 2;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pipe(pipes[i]), 0);
	send_fds(pair[0], (int[]){ pipes[0][0], pipes[1][0], pipes[2][0] }, 3);
	size_t len = receive(pair[1], &buf, sizeof(buf.bytes), NULL);
	int received[3];
	memcpy(received, CMSG_DATA((struct cmsghdr *)buf.bytes), sizeof(received));

	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), -EMFILE);
	/* The first was adopted (the caller undoes it), the others closed. */
	ck_assert(fd_is_open(received[0]));
	ck_assert(!fd_is_open(received[1]));
	ck_assert(!fd_is_open(received[2]));
	ck_assert_uint_eq(n_adopted, 2); /* the third was never offered */
	close(received[0]);
	for (int i = 0; i < 3; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	close(pair[0]);
	close(pair[1]);
}
END_TEST

START_TEST(close_fds_closes_every_received_fd)
{
	int pair[2], pipes[2][2];
	union control buf;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pipe(pipes[i]), 0);
	send_fds(pair[0], (int[]){ pipes[0][1], pipes[1][1] }, 2);
	size_t len = receive(pair[1], &buf, sizeof(buf.bytes), NULL);
	int received[2];
	memcpy(received, CMSG_DATA((struct cmsghdr *)buf.bytes), sizeof(received));
	ck_assert(fd_is_open(received[0]) && fd_is_open(received[1]));
	cmsg_close_fds(buf.bytes, len);
	ck_assert(!fd_is_open(received[0]));
	ck_assert(!fd_is_open(received[1]));
	for (int i = 0; i < 2; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	close(pair[0]);
	close(pair[1]);
}
END_TEST

START_TEST(parse_decodes_credentials_with_so_passcred)
{
	int pair[2], on = 1;
	union control buf;
	struct cmsg_item items[16];
	uint64_t ids[16];
	size_t count;

	reset_adoption();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
	ck_assert_int_eq(setsockopt(pair[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	ck_assert_int_eq(send(pair[0], "hi", 2, 0), 2);
	size_t len = receive(pair[1], &buf, sizeof(buf.bytes), NULL);
	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_CREDENTIALS);
	ck_assert_int_eq(items[0].credentials.pid, getpid());
	ck_assert_int_eq(items[0].credentials.uid, geteuid());
	ck_assert_int_eq(items[0].credentials.gid, getegid());
	ck_assert_uint_eq(items[0].len, sizeof(struct ucred));
	close(pair[0]);
	close(pair[1]);
}
END_TEST

/* A UDP pair on 127.0.0.1: `rx` bound, `tx` connected to it. */
static void
udp_pair(int *rx, int *tx)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*rx = socket(AF_INET, SOCK_DGRAM, 0);
	*tx = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(*rx, 0);
	ck_assert_int_ge(*tx, 0);
	ck_assert_int_eq(bind(*rx, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(*rx, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(connect(*tx, (struct sockaddr *)&sin, sizeof(sin)), 0);
}

static const struct cmsg_item *
find(const struct cmsg_item *items, size_t count, int level, int type)
{
	for (size_t i = 0; i < count; i++)
		if (items[i].level == level && items[i].type == type)
			return &items[i];
	return NULL;
}

START_TEST(parse_decodes_pktinfo_ttl_and_tos_of_a_udp_datagram)
{
	int rx, tx, on = 1, tos = 0x10;
	union control buf;
	struct cmsg_item items[16];
	uint64_t ids[16];
	size_t count;

	reset_adoption();
	udp_pair(&rx, &tx);
	ck_assert_int_eq(setsockopt(rx, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)), 0);
	ck_assert_int_eq(setsockopt(rx, IPPROTO_IP, IP_RECVTTL, &on, sizeof(on)), 0);
	ck_assert_int_eq(setsockopt(rx, IPPROTO_IP, IP_RECVTOS, &on, sizeof(on)), 0);
	ck_assert_int_eq(setsockopt(tx, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
	ck_assert_int_eq(send(tx, "dgram", 5, 0), 5);
	size_t len = receive(rx, &buf, sizeof(buf.bytes), NULL);
	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), 0);

	const struct cmsg_item *info = find(items, count, IPPROTO_IP, IP_PKTINFO);
	ck_assert_ptr_nonnull(info);
	ck_assert_int_eq(info->view, CMSG_VIEW_PKTINFO);
	ck_assert_str_eq(info->pktinfo.addr, "127.0.0.1");
	ck_assert_str_eq(info->pktinfo.spec_dst, "127.0.0.1");
	ck_assert_uint_eq(info->pktinfo.ifindex, if_nametoindex("lo"));
	const struct cmsg_item *ttl = find(items, count, IPPROTO_IP, IP_TTL);
	ck_assert_ptr_nonnull(ttl);
	ck_assert_int_eq(ttl->view, CMSG_VIEW_INT);
	ck_assert_int_gt(ttl->int_value, 0);
	const struct cmsg_item *got_tos = find(items, count, IPPROTO_IP, IP_TOS);
	ck_assert_ptr_nonnull(got_tos);
	ck_assert_int_eq(got_tos->view, CMSG_VIEW_INT);
	ck_assert_int_eq(got_tos->int_value, 0x10);
	ck_assert_uint_eq(got_tos->len, 1); /* the kernel's byte, as it gave it */
	close(rx);
	close(tx);
}
END_TEST

START_TEST(parse_decodes_so_timestampns)
{
	int rx, tx, on = 1;
	union control buf;
	struct cmsg_item items[16];
	uint64_t ids[16];
	size_t count;
	struct timespec now;

	reset_adoption();
	udp_pair(&rx, &tx);
	ck_assert_int_eq(setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)), 0);
	ck_assert_int_eq(send(tx, "t", 1, 0), 1);
	size_t len = receive(rx, &buf, sizeof(buf.bytes), NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(items[0].level, SOL_SOCKET);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_TIMESTAMP);
	ck_assert_int_le(items[0].timestamp.seconds, now.tv_sec);
	ck_assert_int_ge(items[0].timestamp.seconds, now.tv_sec - 5);
	ck_assert_int_lt(items[0].timestamp.nanoseconds, 1000000000);
	close(rx);
	close(tx);
}
END_TEST

START_TEST(parse_decodes_so_timestamp_in_microseconds_as_nanoseconds)
{
	int rx, tx, on = 1;
	union control buf;
	struct cmsg_item items[16];
	uint64_t ids[16];
	size_t count;

	reset_adoption();
	udp_pair(&rx, &tx);
	ck_assert_int_eq(setsockopt(rx, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof(on)), 0);
	ck_assert_int_eq(send(tx, "t", 1, 0), 1);
	size_t len = receive(rx, &buf, sizeof(buf.bytes), NULL);
	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_TIMESTAMP);
	ck_assert_int_gt(items[0].timestamp.seconds, 0);
	ck_assert_int_eq(items[0].timestamp.nanoseconds % 1000, 0);
	close(rx);
	close(tx);
}
END_TEST

START_TEST(parse_decodes_an_ipv6_extended_error_with_its_offender)
{
	union control buf;
	struct cmsg_item items[4];
	uint64_t ids[4];
	size_t count;
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in6 offender;
	} err;

	reset_adoption();
	memset(&err, 0, sizeof(err));
	err.ee.ee_errno = EHOSTUNREACH;
	err.ee.ee_origin = SO_EE_ORIGIN_ICMP6;
	err.ee.ee_type = 1;
	err.offender.sin6_family = AF_INET6;
	err.offender.sin6_addr = in6addr_loopback;
	memset(buf.bytes, 0, sizeof(buf.bytes));
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	h->cmsg_level = IPPROTO_IPV6;
	h->cmsg_type = IPV6_RECVERR;
	h->cmsg_len = CMSG_LEN(sizeof(err));
	memcpy(CMSG_DATA(h), &err, sizeof(err));

	ck_assert_int_eq(
		cmsg_parse(buf.bytes, CMSG_SPACE(sizeof(err)), items, &count, ids, adopt, NULL), 0);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_EXTENDED_ERROR);
	ck_assert_uint_eq(items[0].extended_error.errnum, EHOSTUNREACH);
	ck_assert_uint_eq(items[0].extended_error.offender.len, sizeof(struct sockaddr_in6));

	/* Cut before the offender's end: the error without an offender. */
	h->cmsg_len = CMSG_LEN(sizeof(err.ee) + 8);
	ck_assert_int_eq(cmsg_parse(buf.bytes, CMSG_LEN(sizeof(err.ee) + 8), items, &count, ids,
				    adopt, NULL),
			 0);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_EXTENDED_ERROR);
	ck_assert_uint_eq(items[0].extended_error.offender.len, 0);
}
END_TEST

/* ---- parsing: what the kernel does not make ----------------------------------- */

START_TEST(parse_keeps_an_item_cut_by_the_buffer_end_raw)
{
	union control buf;
	struct cmsg_item items[4];
	uint64_t ids[4];
	size_t count;

	reset_adoption();
	memset(buf.bytes, 0, sizeof(buf.bytes));
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	h->cmsg_level = IPPROTO_IP;
	h->cmsg_type = IP_PKTINFO;
	h->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
	/* The buffer ends 4 bytes into the data: a pktinfo it cannot hold. */
	size_t len = CMSG_LEN(4);
	ck_assert_int_eq(cmsg_parse(buf.bytes, len, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(items[0].len, 4);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_NONE);
}
END_TEST

START_TEST(parse_stops_at_a_header_that_lies_about_its_length)
{
	union control buf;
	struct cmsg_item items[8];
	uint64_t ids[8];
	size_t count;

	reset_adoption();
	memset(buf.bytes, 0, sizeof(buf.bytes));
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = 9999;
	h->cmsg_len = SIZE_MAX; /* would wrap an offset around */
	ck_assert_int_eq(cmsg_parse(buf.bytes, 64, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(items[0].len, 64 - CMSG_LEN(0));

	h->cmsg_len = 3; /* shorter than a header: nothing to read */
	ck_assert_int_eq(cmsg_parse(buf.bytes, 64, items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_uint_eq(cmsg_count_fds(buf.bytes, 64), 0);
	ck_assert_uint_eq(cmsg_count_fds(buf.bytes, 0), 0);
}
END_TEST

START_TEST(parse_decodes_an_extended_error_with_its_offender)
{
	union control buf;
	struct cmsg_item items[4];
	uint64_t ids[4];
	size_t count;
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in offender;
	} err;

	reset_adoption();
	memset(&err, 0, sizeof(err));
	err.ee.ee_errno = ECONNREFUSED;
	err.ee.ee_origin = SO_EE_ORIGIN_ICMP;
	err.ee.ee_type = 3;
	err.ee.ee_code = 3;
	err.offender.sin_family = AF_INET;
	err.offender.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(buf.bytes, 0, sizeof(buf.bytes));
	struct cmsghdr *h = (struct cmsghdr *)buf.bytes;
	h->cmsg_level = IPPROTO_IP;
	h->cmsg_type = IP_RECVERR;
	h->cmsg_len = CMSG_LEN(sizeof(err));
	memcpy(CMSG_DATA(h), &err, sizeof(err));

	ck_assert_int_eq(
		cmsg_parse(buf.bytes, CMSG_SPACE(sizeof(err)), items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(items[0].view, CMSG_VIEW_EXTENDED_ERROR);
	ck_assert_uint_eq(items[0].extended_error.errnum, ECONNREFUSED);
	ck_assert_uint_eq(items[0].extended_error.origin, SO_EE_ORIGIN_ICMP);
	ck_assert_uint_eq(items[0].extended_error.type, 3);
	ck_assert_uint_eq(items[0].extended_error.code, 3);
	ck_assert_uint_eq(items[0].extended_error.offender.len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *sin =
		(const struct sockaddr_in *)&items[0].extended_error.offender.ss;
	ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

	/* No offender (a local error): none is reported. */
	err.offender.sin_family = AF_UNSPEC;
	memcpy(CMSG_DATA(h), &err, sizeof(err));
	ck_assert_int_eq(
		cmsg_parse(buf.bytes, CMSG_SPACE(sizeof(err)), items, &count, ids, adopt, NULL), 0);
	ck_assert_uint_eq(items[0].extended_error.offender.len, 0);
}
END_TEST

START_TEST(describe_names_known_items_and_numbers_the_rest)
{
	char buf[64];

	cmsg_describe(SOL_SOCKET, SCM_RIGHTS, buf, sizeof(buf));
	ck_assert_str_eq(buf, "SOL_SOCKET, SCM_RIGHTS");
	cmsg_describe(IPPROTO_IPV6, IPV6_TCLASS, buf, sizeof(buf));
	ck_assert_str_eq(buf, "IPPROTO_IPV6, IPV6_TCLASS");
	cmsg_describe(SOL_SOCKET, SO_TIMESTAMPNS, buf, sizeof(buf));
	ck_assert_str_eq(buf, "SOL_SOCKET, SO_TIMESTAMPNS");
	cmsg_describe(IPPROTO_IP, 250, buf, sizeof(buf));
	ck_assert_str_eq(buf, "IPPROTO_IP, type 250");
	cmsg_describe(1234, 5, buf, sizeof(buf));
	ck_assert_str_eq(buf, "level 1234, type 5");
}
END_TEST

static Suite *
cmsg_suite(void)
{
	Suite *s = suite_create("cmsg");
	TCase *tc = tcase_create("cmsg");

	tcase_add_test(tc, build_copies_raw_bytes_of_an_unknown_type_as_given);
	tcase_add_test(tc, build_lays_out_several_items_one_after_another);
	tcase_add_test(tc, build_rights_replaces_handle_ids_with_their_fds);
	tcase_add_test(tc, build_rights_naming_an_unknown_handle_is_ebadf_naming_item_and_handle);
	tcase_add_test(tc, build_refuses_raw_scm_rights_bytes);
	tcase_add_test(tc, build_refuses_a_truncated_pktinfo_naming_it);
	tcase_add_test(tc, build_takes_ip_tos_as_a_byte_or_an_int_only);
	tcase_add_test(tc, build_encodes_a_pktinfo_member_as_in_pktinfo);
	tcase_add_test(tc, build_encodes_an_ipv6_pktinfo_member_and_refuses_spec_dst_there);
	tcase_add_test(tc, build_refuses_a_pktinfo_address_that_does_not_parse);
	tcase_add_test(tc, build_refuses_a_member_that_does_not_fit_the_level_and_type);
	tcase_add_test(tc, build_encodes_an_int_member_as_a_c_int);
	tcase_add_test(tc, build_sends_the_daemons_own_credentials_and_refuses_others);
	tcase_add_test(tc, build_size_beyond_the_limit_is_size_max);
	tcase_add_test(tc, parse_turns_received_fds_into_ids_in_rights_and_in_the_bytes);
	tcase_add_test(tc, parse_after_a_failed_adoption_closes_every_fd_left);
	tcase_add_test(tc, close_fds_closes_every_received_fd);
	tcase_add_test(tc, parse_decodes_credentials_with_so_passcred);
	tcase_add_test(tc, parse_decodes_pktinfo_ttl_and_tos_of_a_udp_datagram);
	tcase_add_test(tc, parse_decodes_so_timestampns);
	tcase_add_test(tc, parse_decodes_so_timestamp_in_microseconds_as_nanoseconds);
	tcase_add_test(tc, parse_decodes_an_ipv6_extended_error_with_its_offender);
	tcase_add_test(tc, parse_keeps_an_item_cut_by_the_buffer_end_raw);
	tcase_add_test(tc, parse_stops_at_a_header_that_lies_about_its_length);
	tcase_add_test(tc, parse_decodes_an_extended_error_with_its_offender);
	tcase_add_test(tc, describe_names_known_items_and_numbers_the_rest);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(cmsg_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
