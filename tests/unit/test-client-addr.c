/*
 * libsockbroker's pure parts: the sb_addr helpers and sb_addr_format(),
 * the conversion of addresses to the wire and back, the errno name table,
 * error kinds and the default URL. No daemon is involved.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static struct sb_addr
roundtrip(const struct sb_addr *addr)
{
	struct Sockbroker__V1__Address *wire;
	struct sb_addr back;

	ck_assert_int_eq(sb__addr_to_wire(addr, &wire), 0);
	sb__addr_from_wire(&back, wire);
	sb__addr_wire_free(wire);
	return back;
}

static const char *
format(const struct sb_addr *addr)
{
	static char buf[512];

	sb_addr_format(addr, buf, sizeof(buf));
	return buf;
}

START_TEST(addr_inet_fills_family_host_and_port)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", 8080), 0);
	ck_assert_int_eq(addr.family, AF_INET);
	ck_assert_str_eq(addr.host, "127.0.0.1");
	ck_assert_uint_eq(addr.port, 8080);
}
END_TEST

START_TEST(addr_inet_accepts_port_65535)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet(&addr, "", 65535), 0);
	ck_assert_uint_eq(addr.port, 65535);
}
END_TEST

START_TEST(addr_inet_rejects_port_above_65535)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet(&addr, "127.0.0.1", 65536), -EINVAL);
}
END_TEST

START_TEST(addr_inet_rejects_host_of_256_bytes)
{
	struct sb_addr addr;
	char host[257];

	memset(host, 'a', 256);
	host[256] = '\0';
	ck_assert_int_eq(sb_addr_inet(&addr, host, 80), -EINVAL);
	host[255] = '\0';
	ck_assert_int_eq(sb_addr_inet(&addr, host, 80), 0);
}
END_TEST

START_TEST(addr_inet_rejects_null_host)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet(&addr, NULL, 80), -EINVAL);
}
END_TEST

START_TEST(addr_inet6_keeps_flowinfo_and_scope_id)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet6(&addr, "fe80::1", 443, 0xfffff, 3), 0);
	ck_assert_int_eq(addr.family, AF_INET6);
	ck_assert_str_eq(addr.host, "fe80::1");
	ck_assert_uint_eq(addr.port, 443);
	ck_assert_uint_eq(addr.flowinfo, 0xfffff);
	ck_assert_uint_eq(addr.scope_id, 3);
}
END_TEST

START_TEST(addr_inet6_rejects_flowinfo_above_20_bits)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet6(&addr, "::1", 443, 0x100000, 0), -EINVAL);
}
END_TEST

START_TEST(addr_inet6_rejects_port_above_65535)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_inet6(&addr, "::1", 70000, 0, 0), -EINVAL);
}
END_TEST

START_TEST(addr_unix_takes_a_path_that_fills_sun_path)
{
	struct sb_addr addr;
	char path[109];

	memset(path, 'p', 108);
	path[108] = '\0';
	ck_assert_int_eq(sb_addr_unix(&addr, path), 0);
	ck_assert_int_eq(addr.family, AF_UNIX);
	ck_assert(!addr.abstract);
	ck_assert_uint_eq(addr.path_len, 108);
	ck_assert_int_eq(memcmp(addr.path, path, 108), 0);
}
END_TEST

START_TEST(addr_unix_rejects_path_longer_than_sun_path)
{
	struct sb_addr addr;
	char path[110];

	memset(path, 'p', 109);
	path[109] = '\0';
	ck_assert_int_eq(sb_addr_unix(&addr, path), -EINVAL);
}
END_TEST

START_TEST(addr_unix_with_empty_path_is_unnamed)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_unix(&addr, ""), 0);
	ck_assert_uint_eq(addr.path_len, 0);
	ck_assert(!addr.abstract);
}
END_TEST

START_TEST(addr_abstract_keeps_nul_bytes_inside_the_name)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_abstract(&addr, "a\0b", 3), 0);
	ck_assert(addr.abstract);
	ck_assert_uint_eq(addr.path_len, 3);
	ck_assert_int_eq(memcmp(addr.path, "a\0b", 3), 0);
}
END_TEST

START_TEST(addr_abstract_rejects_name_longer_than_107_bytes)
{
	struct sb_addr addr;
	char name[108];

	memset(name, 'n', sizeof(name));
	ck_assert_int_eq(sb_addr_abstract(&addr, name, 108), -EINVAL);
	ck_assert_int_eq(sb_addr_abstract(&addr, name, 107), 0);
}
END_TEST

START_TEST(addr_abstract_rejects_null_name_with_a_length)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_abstract(&addr, NULL, 1), -EINVAL);
	ck_assert_int_eq(sb_addr_abstract(&addr, NULL, 0), 0);
}
END_TEST

START_TEST(format_inet_is_host_colon_port)
{
	struct sb_addr addr;

	sb_addr_inet(&addr, "127.0.0.1", 80);
	ck_assert_str_eq(format(&addr), "127.0.0.1:80");
}
END_TEST

START_TEST(format_inet6_puts_the_host_in_brackets)
{
	struct sb_addr addr;

	sb_addr_inet6(&addr, "::1", 80, 0, 0);
	ck_assert_str_eq(format(&addr), "[::1]:80");
}
END_TEST

START_TEST(format_unix_path_is_the_path)
{
	struct sb_addr addr;

	sb_addr_unix(&addr, "/run/app.sock");
	ck_assert_str_eq(format(&addr), "/run/app.sock");
}
END_TEST

START_TEST(format_abstract_name_starts_with_at)
{
	struct sb_addr addr;

	sb_addr_abstract(&addr, "name", 4);
	ck_assert_str_eq(format(&addr), "@name");
}
END_TEST

START_TEST(format_unnamed_unix_says_unnamed)
{
	struct sb_addr addr;

	sb_addr_unix(&addr, "");
	ck_assert_str_eq(format(&addr), "(unnamed)");
}
END_TEST

START_TEST(format_escapes_unprintable_bytes)
{
	struct sb_addr addr;

	sb_addr_abstract(&addr, "a\0\n\\", 4);
	ck_assert_str_eq(format(&addr), "@a\\x00\\x0a\\x5c");
}
END_TEST

START_TEST(format_other_family_shows_its_raw_bytes)
{
	struct sb_addr addr = { .family = AF_APPLETALK, .raw_len = 3, .raw = { 0x00, 0xab, 0x10 } };

	ck_assert_str_eq(format(&addr), "(family 5) 00ab10");
}
END_TEST

START_TEST(format_truncates_to_the_buffer_length)
{
	struct sb_addr addr;
	char buf[8];

	sb_addr_inet(&addr, "127.0.0.1", 80);
	memset(buf, 'x', sizeof(buf));
	sb_addr_format(&addr, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0");
}
END_TEST

START_TEST(format_with_zero_length_writes_nothing)
{
	struct sb_addr addr;
	char buf[1] = { 'x' };

	sb_addr_inet(&addr, "127.0.0.1", 80);
	sb_addr_format(&addr, buf, 0);
	ck_assert_int_eq(buf[0], 'x');
}
END_TEST

START_TEST(wire_roundtrip_keeps_an_inet_address)
{
	struct sb_addr addr, back;

	sb_addr_inet(&addr, "example.org", 443);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_INET);
	ck_assert_str_eq(back.host, "example.org");
	ck_assert_uint_eq(back.port, 443);
}
END_TEST

START_TEST(wire_roundtrip_keeps_an_inet6_address)
{
	struct sb_addr addr, back;

	sb_addr_inet6(&addr, "fe80::1", 53, 7, 2);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_INET6);
	ck_assert_str_eq(back.host, "fe80::1");
	ck_assert_uint_eq(back.port, 53);
	ck_assert_uint_eq(back.flowinfo, 7);
	ck_assert_uint_eq(back.scope_id, 2);
}
END_TEST

START_TEST(wire_roundtrip_keeps_unix_path_abstract_and_unnamed)
{
	struct sb_addr addr, back;

	sb_addr_unix(&addr, "/tmp/s");
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_UNIX);
	ck_assert(!back.abstract);
	ck_assert_uint_eq(back.path_len, 6);
	ck_assert_int_eq(memcmp(back.path, "/tmp/s", 6), 0);

	sb_addr_abstract(&addr, "x\0y", 3);
	back = roundtrip(&addr);
	ck_assert(back.abstract);
	ck_assert_uint_eq(back.path_len, 3);
	ck_assert_int_eq(memcmp(back.path, "x\0y", 3), 0);

	sb_addr_unix(&addr, "");
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_UNIX);
	ck_assert(!back.abstract);
	ck_assert_uint_eq(back.path_len, 0);
}
END_TEST

START_TEST(wire_roundtrip_keeps_other_families_as_raw_bytes)
{
	struct sb_addr addr = { .family = AF_APPLETALK, .raw_len = 4, .raw = { 1, 2, 3, 4 } };
	struct sb_addr back = roundtrip(&addr);

	ck_assert_int_eq(back.family, AF_APPLETALK);
	ck_assert_uint_eq(back.raw_len, 4);
	ck_assert_int_eq(memcmp(back.raw, addr.raw, 4), 0);
}
END_TEST

START_TEST(wire_rejects_a_host_without_its_nul)
{
	struct Sockbroker__V1__Address *wire = NULL;
	struct sb_addr addr;

	sb_addr_inet(&addr, "", 80);
	memset(addr.host, 'h', sizeof(addr.host));
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	ck_assert_ptr_null(wire);
}
END_TEST

START_TEST(wire_rejects_lengths_beyond_the_arrays)
{
	struct Sockbroker__V1__Address *wire = NULL;
	struct sb_addr addr;

	sb_addr_unix(&addr, "/tmp/s");
	addr.path_len = sizeof(addr.path) + 1;
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	sb_addr_abstract(&addr, "n", 1);
	addr.path_len = sizeof(addr.path);
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	addr.family = AF_APPLETALK;
	addr.raw_len = sizeof(addr.raw) + 1;
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	ck_assert_ptr_null(wire);
}
END_TEST

START_TEST(wire_null_address_reads_as_unspecified)
{
	struct sb_addr addr;

	sb_addr_inet(&addr, "127.0.0.1", 1);
	sb__addr_from_wire(&addr, NULL);
	ck_assert_int_eq(addr.family, AF_UNSPEC);
	ck_assert_str_eq(addr.host, "");
}
END_TEST

/* ---- the families with tuples of their own ---------------------------------------------- */

START_TEST(addr_family_helpers_fill_their_members)
{
	struct sb_addr addr;

	ck_assert_int_eq(sb_addr_netlink(&addr, 77, 1), 0);
	ck_assert_int_eq(addr.family, AF_NETLINK);
	ck_assert_uint_eq(addr.netlink.pid, 77);
	ck_assert_uint_eq(addr.netlink.groups, 1);

	ck_assert_int_eq(sb_addr_packet(&addr, "lo", 0x0800, 4, 772, "\0\0\0\0\0\0", 6), 0);
	ck_assert_int_eq(addr.family, AF_PACKET);
	ck_assert_str_eq(addr.packet.ifname, "lo");
	ck_assert_uint_eq(addr.packet.proto, 0x0800);
	ck_assert_uint_eq(addr.packet.pkttype, 4);
	ck_assert_uint_eq(addr.packet.hatype, 772);
	ck_assert_uint_eq(addr.packet.addr_len, 6);

	ck_assert_int_eq(sb_addr_alg(&addr, "skcipher", "cbc(aes)", 0, 0), 0);
	ck_assert_int_eq(addr.family, AF_ALG);
	ck_assert_str_eq(addr.alg.type, "skcipher");
	ck_assert_str_eq(addr.alg.name, "cbc(aes)");

	ck_assert_int_eq(sb_addr_vsock(&addr, 1, 1234), 0);
	ck_assert_int_eq(addr.family, AF_VSOCK);
	ck_assert_uint_eq(addr.vsock.cid, 1);
	ck_assert_uint_eq(addr.vsock.port, 1234);

	ck_assert_int_eq(sb_addr_can(&addr, ""), 0);
	ck_assert_int_eq(addr.family, AF_CAN);
	ck_assert_int_eq(addr.can.form, SB_CAN_PLAIN);
	ck_assert_int_eq(sb_addr_can_isotp(&addr, "vcan0", 0x123, 0x321), 0);
	ck_assert_int_eq(addr.can.form, SB_CAN_ISOTP);
	ck_assert_str_eq(addr.can.ifname, "vcan0");
	ck_assert_uint_eq(addr.can.tx_addr, 0x321);
	ck_assert_int_eq(sb_addr_can_j1939(&addr, "vcan0", 42, 0x40000, 0xff), 0);
	ck_assert_int_eq(addr.can.form, SB_CAN_J1939);
	ck_assert_uint_eq(addr.can.j1939_name, 42);
	ck_assert_uint_eq(addr.can.j1939_addr, 0xff);

	ck_assert_int_eq(sb_addr_tipc(&addr, 2, 1000, 1, 0, 3), 0);
	ck_assert_int_eq(addr.family, AF_TIPC);
	ck_assert_uint_eq(addr.tipc.addr_type, 2);
	ck_assert_uint_eq(addr.tipc.scope, 3);
}
END_TEST

START_TEST(addr_family_helpers_reject_what_does_not_fit)
{
	struct sb_addr addr;
	char name64[65];

	memset(name64, 'n', 64);
	name64[64] = '\0';
	ck_assert_int_eq(sb_addr_packet(&addr, "0123456789abcdef", 3, 0, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(sb_addr_packet(&addr, "lo", 0x10000, 0, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(sb_addr_packet(&addr, "lo", 3, 256, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(sb_addr_packet(&addr, "lo", 3, 0, 0, "123456789", 9), -EINVAL);
	ck_assert_int_eq(sb_addr_packet(&addr, "lo", 3, 0, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(sb_addr_packet(&addr, NULL, 3, 0, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(sb_addr_alg(&addr, "0123456789abcd", "x", 0, 0), -EINVAL);
	ck_assert_int_eq(sb_addr_alg(&addr, "hash", name64, 0, 0), -EINVAL);
	name64[63] = '\0';
	ck_assert_int_eq(sb_addr_alg(&addr, "hash", name64, 0, 0), 0);
	ck_assert_int_eq(sb_addr_can(&addr, "0123456789abcdef"), -EINVAL);
	ck_assert_int_eq(sb_addr_tipc(&addr, 0, 0, 0, 0, 2), -EINVAL);
	ck_assert_int_eq(sb_addr_tipc(&addr, 4, 0, 0, 0, 2), -EINVAL);
	ck_assert_int_eq(sb_addr_tipc(&addr, 1, 0, 0, 0, 128), -EINVAL);
	ck_assert_int_eq(sb_addr_netlink(NULL, 0, 0), -EINVAL);
}
END_TEST

START_TEST(wire_roundtrip_keeps_every_tuple_family)
{
	struct sb_addr addr, back;

	sb_addr_netlink(&addr, 5, 6);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_NETLINK);
	ck_assert_uint_eq(back.netlink.pid, 5);
	ck_assert_uint_eq(back.netlink.groups, 6);

	sb_addr_packet(&addr, "eth0", 0x86dd, 2, 1, "\x01\x02\x03", 3);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_PACKET);
	ck_assert_str_eq(back.packet.ifname, "eth0");
	ck_assert_uint_eq(back.packet.proto, 0x86dd);
	ck_assert_uint_eq(back.packet.pkttype, 2);
	ck_assert_uint_eq(back.packet.hatype, 1);
	ck_assert_uint_eq(back.packet.addr_len, 3);
	ck_assert_int_eq(memcmp(back.packet.addr, "\x01\x02\x03", 3), 0);

	sb_addr_alg(&addr, "hash", "hmac(sha256)", 1, 2);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_ALG);
	ck_assert_str_eq(back.alg.type, "hash");
	ck_assert_str_eq(back.alg.name, "hmac(sha256)");
	ck_assert_uint_eq(back.alg.feat, 1);
	ck_assert_uint_eq(back.alg.mask, 2);

	sb_addr_vsock(&addr, 0xffffffffu, 9);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_VSOCK);
	ck_assert_uint_eq(back.vsock.cid, 0xffffffffu);
	ck_assert_uint_eq(back.vsock.port, 9);

	sb_addr_can(&addr, "can0");
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_CAN);
	ck_assert_str_eq(back.can.ifname, "can0");
	ck_assert_int_eq(back.can.form, SB_CAN_PLAIN);
	sb_addr_can_isotp(&addr, "can0", 1, 2);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.can.form, SB_CAN_ISOTP);
	ck_assert_uint_eq(back.can.rx_addr, 1);
	ck_assert_uint_eq(back.can.tx_addr, 2);
	sb_addr_can_j1939(&addr, "can0", 0x1122334455667788ULL, 0x12345, 0x80);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.can.form, SB_CAN_J1939);
	ck_assert_uint_eq(back.can.j1939_name, 0x1122334455667788ULL);
	ck_assert_uint_eq(back.can.j1939_pgn, 0x12345);
	ck_assert_uint_eq(back.can.j1939_addr, 0x80);

	sb_addr_tipc(&addr, 1, 18888, 10, 20, 1);
	back = roundtrip(&addr);
	ck_assert_int_eq(back.family, AF_TIPC);
	ck_assert_uint_eq(back.tipc.addr_type, 1);
	ck_assert_uint_eq(back.tipc.v1, 18888);
	ck_assert_uint_eq(back.tipc.v2, 10);
	ck_assert_uint_eq(back.tipc.v3, 20);
	ck_assert_uint_eq(back.tipc.scope, 1);
}
END_TEST

START_TEST(wire_rejects_tuple_family_names_without_their_nul)
{
	struct Sockbroker__V1__Address *wire = NULL;
	struct sb_addr addr;

	sb_addr_packet(&addr, "lo", 3, 0, 0, NULL, 0);
	memset(addr.packet.ifname, 'i', sizeof(addr.packet.ifname));
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	sb_addr_packet(&addr, "lo", 3, 0, 0, NULL, 0);
	addr.packet.addr_len = 9;
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	sb_addr_alg(&addr, "hash", "sha1", 0, 0);
	memset(addr.alg.name, 'n', sizeof(addr.alg.name));
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	sb_addr_can(&addr, "can0");
	addr.can.form = (enum sb_can_form)7;
	ck_assert_int_eq(sb__addr_to_wire(&addr, &wire), -EINVAL);
	ck_assert_ptr_null(wire);
}
END_TEST

START_TEST(format_writes_the_tuple_families)
{
	struct sb_addr addr;

	sb_addr_netlink(&addr, 12, 0);
	ck_assert_str_eq(format(&addr), "netlink pid=12 groups=0");
	sb_addr_packet(&addr, "lo", 0x0800, 0, 772, "\0\0\0\0\0\x01", 6);
	ck_assert_str_eq(format(&addr),
			 "packet lo proto=0x0800 pkttype=0 hatype=772 addr=00:00:00:00:00:01");
	sb_addr_alg(&addr, "hash", "sha256", 0, 0);
	ck_assert_str_eq(format(&addr), "alg hash sha256");
	sb_addr_vsock(&addr, 1, 5000);
	ck_assert_str_eq(format(&addr), "vsock 1:5000");
	sb_addr_can(&addr, "");
	ck_assert_str_eq(format(&addr), "can (any)");
	sb_addr_can_isotp(&addr, "vcan0", 0x123, 0x321);
	ck_assert_str_eq(format(&addr), "can vcan0 rx=0x123 tx=0x321");
	sb_addr_tipc(&addr, 2, 1000, 1, 0, 2);
	ck_assert_str_eq(format(&addr), "tipc type=2 1000/1/0 scope=2");
	sb__addr_from_wire(&addr, NULL);
	ck_assert_str_eq(format(&addr), "(no address)");
}
END_TEST

START_TEST(errno_names_map_to_this_hosts_numbers)
{
	ck_assert_int_eq(sb__errno_from_name("EPERM"), EPERM);
	ck_assert_int_eq(sb__errno_from_name("E2BIG"), E2BIG);
	ck_assert_int_eq(sb__errno_from_name("ECONNREFUSED"), ECONNREFUSED);
	ck_assert_int_eq(sb__errno_from_name("EXDEV"), EXDEV);
	ck_assert_int_eq(sb__errno_from_name("EHWPOISON"), EHWPOISON);
}
END_TEST

START_TEST(errno_aliases_map_to_the_same_numbers)
{
	ck_assert_int_eq(sb__errno_from_name("EWOULDBLOCK"), EAGAIN);
	ck_assert_int_eq(sb__errno_from_name("EDEADLOCK"), EDEADLK);
	ck_assert_int_eq(sb__errno_from_name("ENOTSUP"), EOPNOTSUPP);
}
END_TEST

START_TEST(errno_numbers_give_their_canonical_names)
{
	ck_assert_str_eq(sb__errno_name(EAGAIN), "EAGAIN");
	ck_assert_str_eq(sb__errno_name(EDEADLK), "EDEADLK");
	ck_assert_str_eq(sb__errno_name(EOPNOTSUPP), "EOPNOTSUPP");
	ck_assert_str_eq(sb__errno_name(ETIMEDOUT), "ETIMEDOUT");
}
END_TEST

START_TEST(errno_unknown_names_and_numbers_give_nothing)
{
	ck_assert_int_eq(sb__errno_from_name(NULL), 0);
	ck_assert_int_eq(sb__errno_from_name(""), 0);
	ck_assert_int_eq(sb__errno_from_name("EBOGUS"), 0);
	ck_assert_int_eq(sb__errno_from_name("econnrefused"), 0);
	ck_assert_ptr_null(sb__errno_name(0));
	ck_assert_ptr_null(sb__errno_name(-1));
	ck_assert_ptr_null(sb__errno_name(100000));
}
END_TEST

START_TEST(errno_table_names_every_linux_number_up_to_ehwpoison)
{
	unsigned named = 0;

	for (int errnum = 1; errnum <= EHWPOISON; errnum++) {
		const char *name = sb__errno_name(errnum);

		if (name == NULL)
			continue;
		named++;
		ck_assert_msg(sb__errno_from_name(name) == errnum, "%s is not %d", name, errnum);
	}
	/* Linux leaves two numbers below EHWPOISON unused (41 and 58). */
	ck_assert_uint_eq(named, EHWPOISON - 2);
}
END_TEST

START_TEST(error_kinds_have_their_wire_names)
{
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_OS), "os");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_TIMEOUT), "timeout");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_GAI), "gai");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_HERROR), "herror");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_DENIED), "denied");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_BAD_REQUEST), "bad_request");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_BAD_HANDLE), "bad_handle");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_UNSUPPORTED), "unsupported");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_QUOTA), "quota");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_CANCELLED), "cancelled");
	ck_assert_str_eq(sb_error_kind_name(SB_ERR_TRANSPORT), "transport");
}
END_TEST

START_TEST(error_set_names_the_errno_and_returns_it_negated)
{
	struct sb_error err;

	ck_assert_int_eq(sb__error_set(&err, SB_ERR_TRANSPORT, ECONNRESET, "lost %d", 1),
			 -ECONNRESET);
	ck_assert_int_eq(err.kind, SB_ERR_TRANSPORT);
	ck_assert_int_eq(err.errno_number, ECONNRESET);
	ck_assert_str_eq(err.errno_name, "ECONNRESET");
	ck_assert_str_eq(err.message, "lost 1");
	ck_assert_int_eq(sb__error_set(NULL, SB_ERR_OS, EIO, "ignored"), -EIO);
}
END_TEST

START_TEST(default_url_is_the_environment_variable_when_set)
{
	char buf[256];

	setenv(SB_URL_ENV, "tcp://127.0.0.1:7000", 1);
	ck_assert_str_eq(sb_default_url(buf, sizeof(buf)), "tcp://127.0.0.1:7000");
}
END_TEST

START_TEST(default_url_ignores_an_empty_environment_variable)
{
	char buf[256], expected[256];

	setenv(SB_URL_ENV, "", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	if (geteuid() == 0)
		strcpy(expected, "ipc:///run/sockbroker/sockbroker.sock");
	else
		strcpy(expected, "ipc:///run/user/1000/sockbroker/sockbroker.sock");
	ck_assert_str_eq(sb_default_url(buf, sizeof(buf)), expected);
}
END_TEST

START_TEST(default_url_without_runtime_dir_is_per_uid_in_tmp)
{
	char buf[256], expected[256];

	if (geteuid() == 0)
		return;
	unsetenv(SB_URL_ENV);
	unsetenv("XDG_RUNTIME_DIR");
	snprintf(expected, sizeof(expected), "ipc:///tmp/sockbroker-%u/sockbroker.sock",
		 (unsigned)getuid());
	ck_assert_str_eq(sb_default_url(buf, sizeof(buf)), expected);
}
END_TEST

/*
 * The rule for a user other than root, as the daemon's: the effective uid, and a relative
 * $XDG_RUNTIME_DIR ignored. Run as root, the test takes an unprivileged effective uid for its
 * duration, so that the rule it checks is the one a user meets.
 */
static void
default_url_as_a_user(const char *runtime_dir, char *buf, size_t len, char *expected,
		      size_t expected_len)
{
	bool was_root = geteuid() == 0;

	unsetenv(SB_URL_ENV);
	if (runtime_dir)
		setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	if (was_root)
		ck_assert_int_eq(seteuid(65534), 0);
	snprintf(expected, expected_len, "ipc:///tmp/sockbroker-%lu/sockbroker.sock",
		 (unsigned long)geteuid());
	sb_default_url(buf, len);
	if (was_root)
		ck_assert_int_eq(seteuid(0), 0);
}

START_TEST(default_url_of_a_user_is_per_effective_uid_in_tmp)
{
	char buf[256], expected[256];

	default_url_as_a_user(NULL, buf, sizeof(buf), expected, sizeof(expected));
	ck_assert_str_eq(buf, expected);
}
END_TEST

START_TEST(default_url_ignores_a_relative_runtime_dir)
{
	char buf[256], expected[256];

	default_url_as_a_user("run/user/1000", buf, sizeof(buf), expected, sizeof(expected));
	ck_assert_str_eq(buf, expected);
	default_url_as_a_user("", buf, sizeof(buf), expected, sizeof(expected));
	ck_assert_str_eq(buf, expected);
}
END_TEST

START_TEST(default_url_truncates_to_the_buffer)
{
	char buf[6];

	setenv(SB_URL_ENV, "ipc:///long/path", 1);
	ck_assert_str_eq(sb_default_url(buf, sizeof(buf)), "ipc:/");
}
END_TEST

static Suite *
client_addr_suite(void)
{
	Suite *suite = suite_create("client-addr");
	TCase *addr = tcase_create("addr");
	TCase *format_case = tcase_create("format");
	TCase *wire = tcase_create("wire");
	TCase *errors = tcase_create("errors");
	TCase *url = tcase_create("url");

	tcase_add_test(addr, addr_inet_fills_family_host_and_port);
	tcase_add_test(addr, addr_inet_accepts_port_65535);
	tcase_add_test(addr, addr_inet_rejects_port_above_65535);
	tcase_add_test(addr, addr_inet_rejects_host_of_256_bytes);
	tcase_add_test(addr, addr_inet_rejects_null_host);
	tcase_add_test(addr, addr_inet6_keeps_flowinfo_and_scope_id);
	tcase_add_test(addr, addr_inet6_rejects_flowinfo_above_20_bits);
	tcase_add_test(addr, addr_inet6_rejects_port_above_65535);
	tcase_add_test(addr, addr_unix_takes_a_path_that_fills_sun_path);
	tcase_add_test(addr, addr_unix_rejects_path_longer_than_sun_path);
	tcase_add_test(addr, addr_unix_with_empty_path_is_unnamed);
	tcase_add_test(addr, addr_abstract_keeps_nul_bytes_inside_the_name);
	tcase_add_test(addr, addr_abstract_rejects_name_longer_than_107_bytes);
	tcase_add_test(addr, addr_abstract_rejects_null_name_with_a_length);
	tcase_add_test(addr, addr_family_helpers_fill_their_members);
	tcase_add_test(addr, addr_family_helpers_reject_what_does_not_fit);
	tcase_add_test(wire, wire_roundtrip_keeps_every_tuple_family);
	tcase_add_test(wire, wire_rejects_tuple_family_names_without_their_nul);
	tcase_add_test(format_case, format_writes_the_tuple_families);
	suite_add_tcase(suite, addr);

	tcase_add_test(format_case, format_inet_is_host_colon_port);
	tcase_add_test(format_case, format_inet6_puts_the_host_in_brackets);
	tcase_add_test(format_case, format_unix_path_is_the_path);
	tcase_add_test(format_case, format_abstract_name_starts_with_at);
	tcase_add_test(format_case, format_unnamed_unix_says_unnamed);
	tcase_add_test(format_case, format_escapes_unprintable_bytes);
	tcase_add_test(format_case, format_other_family_shows_its_raw_bytes);
	tcase_add_test(format_case, format_truncates_to_the_buffer_length);
	tcase_add_test(format_case, format_with_zero_length_writes_nothing);
	suite_add_tcase(suite, format_case);

	tcase_add_test(wire, wire_roundtrip_keeps_an_inet_address);
	tcase_add_test(wire, wire_roundtrip_keeps_an_inet6_address);
	tcase_add_test(wire, wire_roundtrip_keeps_unix_path_abstract_and_unnamed);
	tcase_add_test(wire, wire_roundtrip_keeps_other_families_as_raw_bytes);
	tcase_add_test(wire, wire_rejects_a_host_without_its_nul);
	tcase_add_test(wire, wire_rejects_lengths_beyond_the_arrays);
	tcase_add_test(wire, wire_null_address_reads_as_unspecified);
	suite_add_tcase(suite, wire);

	tcase_add_test(errors, errno_names_map_to_this_hosts_numbers);
	tcase_add_test(errors, errno_aliases_map_to_the_same_numbers);
	tcase_add_test(errors, errno_numbers_give_their_canonical_names);
	tcase_add_test(errors, errno_unknown_names_and_numbers_give_nothing);
	tcase_add_test(errors, errno_table_names_every_linux_number_up_to_ehwpoison);
	tcase_add_test(errors, error_kinds_have_their_wire_names);
	tcase_add_test(errors, error_set_names_the_errno_and_returns_it_negated);
	suite_add_tcase(suite, errors);

	tcase_add_test(url, default_url_is_the_environment_variable_when_set);
	tcase_add_test(url, default_url_ignores_an_empty_environment_variable);
	tcase_add_test(url, default_url_without_runtime_dir_is_per_uid_in_tmp);
	tcase_add_test(url, default_url_truncates_to_the_buffer);
	tcase_add_test(url, default_url_of_a_user_is_per_effective_uid_in_tmp);
	tcase_add_test(url, default_url_ignores_a_relative_runtime_dir);
	suite_add_tcase(suite, url);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(client_addr_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
