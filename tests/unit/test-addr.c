/*
 * Unit tests of server/addr.c: struct address <-> sockaddr for AF_INET, AF_INET6, AF_UNIX,
 * AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK, AF_CAN, AF_TIPC and raw families, applying a
 * resolver's answer, failure messages, and the log format. The conversions need no kernel
 * support for the families: they only build and read structs ("lo" stands in for any
 * interface).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <linux/can.h>
#include <linux/if_alg.h>
#include <linux/netlink.h>
#include <linux/tipc.h>
#include <linux/vm_sockets.h>
#include <netpacket/packet.h>

#include "addr.h"

static struct address
inet(const char *host, uint16_t port)
{
	struct address addr;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_INET;
	snprintf(addr.inet.host, sizeof(addr.inet.host), "%s", host);
	addr.inet.port = port;
	return addr;
}

static struct address
inet6(const char *host, uint16_t port, uint32_t flowinfo, uint32_t scope_id)
{
	struct address addr = inet(host, port);

	addr.family = AF_INET6;
	addr.inet.flowinfo = flowinfo;
	addr.inet.scope_id = scope_id;
	return addr;
}

static struct address
unix_name(const void *name, size_t len, bool abstract)
{
	struct address addr;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_UNIX;
	addr.un.abstract = abstract;
	addr.un.len = len;
	memcpy(addr.un.path, name, len < sizeof(addr.un.path) ? len : sizeof(addr.un.path));
	return addr;
}

static const struct sockaddr_in *
sin_of(const struct sockaddr_buf *buf)
{
	return (const struct sockaddr_in *)&buf->ss;
}

static const struct sockaddr_in6 *
sin6_of(const struct sockaddr_buf *buf)
{
	return (const struct sockaddr_in6 *)&buf->ss;
}

static const struct sockaddr_un *
sun_of(const struct sockaddr_buf *buf)
{
	return (const struct sockaddr_un *)&buf->ss;
}

static struct in6_addr
ip6(const char *text)
{
	struct in6_addr a;

	ck_assert_int_eq(inet_pton(AF_INET6, text, &a), 1);
	return a;
}

/* ---- addr_to_sockaddr: AF_INET ---------------------------------------------------------- */

START_TEST(addr_inet_empty_host_is_inaddr_any)
{
	struct address addr = inet("", 8080);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(sin_of(&out)->sin_family, AF_INET);
	ck_assert_uint_eq(sin_of(&out)->sin_addr.s_addr, htonl(INADDR_ANY));
	ck_assert_uint_eq(sin_of(&out)->sin_port, htons(8080));
}
END_TEST

START_TEST(addr_inet_broadcast_is_inaddr_broadcast)
{
	struct address addr = inet("<broadcast>", 9);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_uint_eq(sin_of(&out)->sin_addr.s_addr, htonl(INADDR_BROADCAST));
	ck_assert_uint_eq(sin_of(&out)->sin_port, htons(9));
}
END_TEST

START_TEST(addr_inet_dotted_quad_is_taken_as_is)
{
	struct address addr = inet("192.0.2.17", 65535);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(sin_of(&out)->sin_addr.s_addr, htonl(0xc0000211));
	ck_assert_uint_eq(sin_of(&out)->sin_port, htons(65535));
}
END_TEST

START_TEST(addr_inet_host_name_needs_resolve_with_the_port_in_place)
{
	struct address addr = inet("example.invalid", 443);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), ADDR_NEEDS_RESOLVE);
	ck_assert_int_eq(out.ss.ss_family, AF_INET);
	ck_assert_uint_eq(sin_of(&out)->sin_port, htons(443));
}
END_TEST

START_TEST(addr_inet_ipv6_literal_is_not_an_ipv4_address)
{
	struct address addr = inet("::1", 80);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), ADDR_NEEDS_RESOLVE);
}
END_TEST

/* ---- addr_to_sockaddr: AF_INET6 --------------------------------------------------------- */

START_TEST(addr_inet6_empty_host_is_the_unspecified_address)
{
	struct address addr = inet6("", 53, 0, 0);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(sin6_of(&out)->sin6_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6_of(&out)->sin6_addr));
	ck_assert_uint_eq(sin6_of(&out)->sin6_port, htons(53));
}
END_TEST

START_TEST(addr_inet6_numeric_host_carries_flowinfo_and_scope_id)
{
	struct address addr = inet6("2001:db8::1", 8443, 0xabcde, 3);
	struct sockaddr_buf out;
	struct in6_addr expected = ip6("2001:db8::1");

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_in6));
	ck_assert_mem_eq(&sin6_of(&out)->sin6_addr, &expected, sizeof(expected));
	ck_assert_uint_eq(sin6_of(&out)->sin6_port, htons(8443));
	ck_assert_uint_eq(sin6_of(&out)->sin6_flowinfo, htonl(0xabcde));
	ck_assert_uint_eq(sin6_of(&out)->sin6_scope_id, 3);
}
END_TEST

START_TEST(addr_inet6_numeric_scope_suffix_sets_scope_id)
{
	struct address addr = inet6("fe80::1%1", 22, 0, 0);
	struct sockaddr_buf out;
	struct in6_addr expected = ip6("fe80::1");

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_mem_eq(&sin6_of(&out)->sin6_addr, &expected, sizeof(expected));
	ck_assert_uint_eq(sin6_of(&out)->sin6_scope_id, 1);
	ck_assert_uint_eq(sin6_of(&out)->sin6_port, htons(22));
}
END_TEST

START_TEST(addr_inet6_interface_scope_suffix_sets_scope_id)
{
	unsigned lo = if_nametoindex("lo");
	struct address addr = inet6("fe80::2%lo", 22, 7, 0);
	struct sockaddr_buf out;
	struct in6_addr expected = ip6("fe80::2");

	ck_assert_uint_ne(lo, 0);
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_mem_eq(&sin6_of(&out)->sin6_addr, &expected, sizeof(expected));
	ck_assert_uint_eq(sin6_of(&out)->sin6_scope_id, lo);
	ck_assert_uint_eq(sin6_of(&out)->sin6_flowinfo, htonl(7));
}
END_TEST

START_TEST(addr_inet6_unknown_scope_interface_is_left_to_the_resolver)
{
	struct address addr = inet6("fe80::1%no-such-if0", 22, 0, 0);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), ADDR_NEEDS_RESOLVE);
	ck_assert_int_eq(out.ss.ss_family, AF_INET6);
}
END_TEST

START_TEST(addr_inet6_host_name_needs_resolve_with_port_flowinfo_and_scope_in_place)
{
	struct address addr = inet6("localhost", 80, 5, 2);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), ADDR_NEEDS_RESOLVE);
	ck_assert_int_eq(out.ss.ss_family, AF_INET6);
	ck_assert_uint_eq(sin6_of(&out)->sin6_port, htons(80));
	ck_assert_uint_eq(sin6_of(&out)->sin6_flowinfo, htonl(5));
	ck_assert_uint_eq(sin6_of(&out)->sin6_scope_id, 2);
}
END_TEST

/* ---- addr_to_sockaddr: AF_UNIX and raw -------------------------------------------------- */

START_TEST(addr_unix_path_length_counts_the_terminating_nul)
{
	struct address addr = unix_name("/run/sb.sock", 12, false);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(sun_of(&out)->sun_family, AF_UNIX);
	ck_assert_int_eq(out.len, offsetof(struct sockaddr_un, sun_path) + 12 + 1);
	ck_assert_str_eq(sun_of(&out)->sun_path, "/run/sb.sock");
}
END_TEST

START_TEST(addr_unix_path_filling_sun_path_has_no_nul)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct address addr;
	struct sockaddr_buf out;

	memset(path, 'p', sizeof(path));
	addr = unix_name(path, sizeof(path), false);
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_un));
	ck_assert_mem_eq(sun_of(&out)->sun_path, path, sizeof(path));
}
END_TEST

START_TEST(addr_unix_abstract_name_has_a_leading_nul_and_exact_length)
{
	struct address addr = unix_name("sb\0x", 4, true);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, offsetof(struct sockaddr_un, sun_path) + 1 + 4);
	ck_assert_int_eq(sun_of(&out)->sun_path[0], '\0');
	ck_assert_mem_eq(sun_of(&out)->sun_path + 1, "sb\0x", 4);
}
END_TEST

START_TEST(addr_unix_unnamed_is_the_family_alone)
{
	struct address addr = unix_name("", 0, false);
	struct sockaddr_buf out;

	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, offsetof(struct sockaddr_un, sun_path));
	ck_assert_int_eq(sun_of(&out)->sun_family, AF_UNIX);
}
END_TEST

START_TEST(addr_unix_path_longer_than_sun_path_is_einval)
{
	size_t room = sizeof(((struct sockaddr_un *)0)->sun_path);
	struct address addr = unix_name("x", 1, false);
	struct sockaddr_buf out;

	addr.un.len = room + 1;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), -EINVAL);
	/* An abstract name has one byte less: the leading NUL. */
	addr.un.abstract = true;
	addr.un.len = room;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), -EINVAL);
	addr.un.len = room - 1;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_un));
}
END_TEST

START_TEST(addr_raw_family_copies_the_bytes_after_the_family)
{
	struct address addr;
	struct sockaddr_buf out;
	const uint8_t data[] = {0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0, 0};

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_APPLETALK;
	addr.raw.len = sizeof(data);
	memcpy(addr.raw.data, data, sizeof(data));
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.ss.ss_family, AF_APPLETALK);
	ck_assert_int_eq(out.len, sizeof(sa_family_t) + sizeof(data));
	ck_assert_mem_eq((const char *)&out.ss + sizeof(sa_family_t), data, sizeof(data));
}
END_TEST

START_TEST(addr_raw_family_out_of_range_is_einval)
{
	struct address addr;
	struct sockaddr_buf out;

	memset(&addr, 0, sizeof(addr));
	addr.family = -1;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), -EINVAL);
	addr.family = 0x10000;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), -EINVAL);
	addr.family = 0xffff;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(sa_family_t));
}
END_TEST

START_TEST(addr_raw_data_longer_than_a_sockaddr_is_einval)
{
	struct address addr;
	struct sockaddr_buf out;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_APPLETALK;
	addr.raw.len = sizeof(struct sockaddr_storage) - sizeof(sa_family_t) + 1;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), -EINVAL);
	addr.raw.len = ADDRESS_RAW_MAX;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(sa_family_t) + ADDRESS_RAW_MAX);
}
END_TEST

/* ---- addr_from_sockaddr ----------------------------------------------------------------- */

/* struct address -> sockaddr -> struct address gives back the same fields. */
static struct address
round_trip(const struct address *addr)
{
	struct sockaddr_buf buf;
	struct address back;

	ck_assert_int_eq(addr_to_sockaddr(addr, &buf), 0);
	addr_from_sockaddr((const struct sockaddr *)&buf.ss, buf.len, &back);
	ck_assert_int_eq(back.family, addr->family);
	return back;
}

START_TEST(addr_from_sockaddr_round_trips_inet)
{
	struct address addr = inet("10.1.2.3", 4242);
	struct address back = round_trip(&addr);

	ck_assert_str_eq(back.inet.host, "10.1.2.3");
	ck_assert_uint_eq(back.inet.port, 4242);
}
END_TEST

START_TEST(addr_from_sockaddr_gives_numeric_hosts_for_any_and_broadcast)
{
	struct address any = inet("", 1), bcast = inet("<broadcast>", 2);

	ck_assert_str_eq(round_trip(&any).inet.host, "0.0.0.0");
	ck_assert_str_eq(round_trip(&bcast).inet.host, "255.255.255.255");
}
END_TEST

START_TEST(addr_from_sockaddr_round_trips_inet6_with_flowinfo_and_scope_id)
{
	struct address addr = inet6("fe80::1:2", 5353, 0xfffff, 9);
	struct address back = round_trip(&addr);

	ck_assert_str_eq(back.inet.host, "fe80::1:2");
	ck_assert_uint_eq(back.inet.port, 5353);
	ck_assert_uint_eq(back.inet.flowinfo, 0xfffff);
	ck_assert_uint_eq(back.inet.scope_id, 9);
}
END_TEST

START_TEST(addr_from_sockaddr_round_trips_a_unix_path)
{
	struct address addr = unix_name("/tmp/x.sock", 11, false);
	struct address back = round_trip(&addr);

	ck_assert(!back.un.abstract);
	ck_assert_uint_eq(back.un.len, 11);
	ck_assert_mem_eq(back.un.path, "/tmp/x.sock", 11);
}
END_TEST

START_TEST(addr_from_sockaddr_round_trips_an_abstract_name_with_inner_nuls)
{
	struct address addr = unix_name("a\0b\0", 4, true);
	struct address back = round_trip(&addr);

	ck_assert(back.un.abstract);
	ck_assert_uint_eq(back.un.len, 4);
	ck_assert_mem_eq(back.un.path, "a\0b\0", 4);
}
END_TEST

START_TEST(addr_from_sockaddr_round_trips_an_unnamed_unix_socket)
{
	struct address addr = unix_name("", 0, false);
	struct address back = round_trip(&addr);

	ck_assert(!back.un.abstract);
	ck_assert_uint_eq(back.un.len, 0);
}
END_TEST

START_TEST(addr_from_sockaddr_unix_path_stops_at_the_nul)
{
	struct sockaddr_un sun;
	struct address back;

	memset(&sun, 'z', sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "/a/b\0junk", 9);
	addr_from_sockaddr((const struct sockaddr *)&sun, sizeof(sun), &back);
	ck_assert_int_eq(back.family, AF_UNIX);
	ck_assert(!back.un.abstract);
	ck_assert_uint_eq(back.un.len, 4);
	ck_assert_mem_eq(back.un.path, "/a/b", 4);
}
END_TEST

START_TEST(addr_from_sockaddr_round_trips_a_raw_family)
{
	struct address addr, back;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_APPLETALK;
	addr.raw.len = 12;
	memcpy(addr.raw.data, "0123456789ab", 12);
	back = round_trip(&addr);
	ck_assert_uint_eq(back.raw.len, 12);
	ck_assert_mem_eq(back.raw.data, "0123456789ab", 12);
}
END_TEST

START_TEST(addr_from_sockaddr_of_no_address_is_af_unspec)
{
	struct sockaddr_storage ss;
	struct address back;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	addr_from_sockaddr((const struct sockaddr *)&ss, 0, &back);
	ck_assert_int_eq(back.family, AF_UNSPEC);
	addr_from_sockaddr((const struct sockaddr *)&ss, 1, &back);
	ck_assert_int_eq(back.family, AF_UNSPEC);
}
END_TEST

/* ---- addr_apply_resolved ---------------------------------------------------------------- */

START_TEST(addr_apply_resolved_keeps_the_inet_port)
{
	struct address addr = inet("example.invalid", 443);
	struct sockaddr_in resolved = {.sin_family = AF_INET, .sin_port = htons(1)};
	struct sockaddr_buf out;

	resolved.sin_addr.s_addr = htonl(0x7f000001);
	addr_apply_resolved(&addr, (const struct sockaddr *)&resolved, &out);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(sin_of(&out)->sin_family, AF_INET);
	ck_assert_uint_eq(sin_of(&out)->sin_addr.s_addr, htonl(0x7f000001));
	ck_assert_uint_eq(sin_of(&out)->sin_port, htons(443));
}
END_TEST

START_TEST(addr_apply_resolved_keeps_the_inet6_port_flowinfo_and_scope_id)
{
	struct address addr = inet6("host.invalid", 8080, 0x12345, 4);
	struct sockaddr_in6 resolved = {.sin6_family = AF_INET6, .sin6_scope_id = 1};
	struct sockaddr_buf out;

	resolved.sin6_addr = ip6("2001:db8::5");
	addr_apply_resolved(&addr, (const struct sockaddr *)&resolved, &out);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_in6));
	ck_assert_mem_eq(&sin6_of(&out)->sin6_addr, &resolved.sin6_addr,
			 sizeof(resolved.sin6_addr));
	ck_assert_uint_eq(sin6_of(&out)->sin6_port, htons(8080));
	ck_assert_uint_eq(sin6_of(&out)->sin6_flowinfo, htonl(0x12345));
	ck_assert_uint_eq(sin6_of(&out)->sin6_scope_id, 4);
}
END_TEST

START_TEST(addr_apply_resolved_keeps_the_resolvers_scope_when_the_address_has_none)
{
	struct address addr = inet6("host.invalid", 80, 0, 0);
	struct sockaddr_in6 resolved = {.sin6_family = AF_INET6, .sin6_scope_id = 6};
	struct sockaddr_buf out;

	resolved.sin6_addr = ip6("fe80::9");
	addr_apply_resolved(&addr, (const struct sockaddr *)&resolved, &out);
	ck_assert_uint_eq(sin6_of(&out)->sin6_scope_id, 6);
	ck_assert_uint_eq(sin6_of(&out)->sin6_port, htons(80));
}
END_TEST

/* ---- addr_format ------------------------------------------------------------------------ */

static const char *
format(const struct address *addr)
{
	static char buf[128];

	addr_format(addr, buf, sizeof(buf));
	return buf;
}

START_TEST(addr_format_writes_host_colon_port_for_inet)
{
	struct address a = inet("127.0.0.1", 80), any = inet("", 0);

	ck_assert_str_eq(format(&a), "127.0.0.1:80");
	ck_assert_str_eq(format(&any), "0.0.0.0:0");
}
END_TEST

START_TEST(addr_format_brackets_inet6_hosts)
{
	struct address a = inet6("::1", 443, 0, 0), any = inet6("", 9, 0, 0);

	ck_assert_str_eq(format(&a), "[::1]:443");
	ck_assert_str_eq(format(&any), "[::]:9");
}
END_TEST

START_TEST(addr_format_writes_unix_paths_abstract_names_and_unnamed)
{
	struct address path = unix_name("/run/s", 6, false);
	struct address abstract = unix_name("name", 4, true);
	struct address unnamed = unix_name("", 0, false);

	ck_assert_str_eq(format(&path), "/run/s");
	ck_assert_str_eq(format(&abstract), "@name");
	ck_assert_str_eq(format(&unnamed), "(unnamed)");
}
END_TEST

START_TEST(addr_format_names_the_family_of_raw_addresses)
{
	struct address addr;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_APPLETALK;
	addr.raw.len = 12;
	ck_assert_str_eq(format(&addr), "(family 5, 12 bytes)");
}
END_TEST

START_TEST(addr_format_truncates_to_the_buffer)
{
	struct address addr = inet("192.168.100.200", 65535);
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	addr_format(&addr, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.168");
}
END_TEST

START_TEST(addr_format_sockaddr_formats_what_the_kernel_gave)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(1234)};
	char buf[64];

	sin6.sin6_addr = ip6("2001:db8::7");
	addr_format_sockaddr((const struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
	ck_assert_str_eq(buf, "[2001:db8::7]:1234");
}
END_TEST

/* ---- the families with tuples of their own ---------------------------------------------- */

static struct address
family_only(int family)
{
	struct address addr;

	memset(&addr, 0, sizeof(addr));
	addr.family = family;
	return addr;
}

static unsigned
lo_index(void)
{
	unsigned index = if_nametoindex("lo");

	ck_assert_uint_ne(index, 0);
	return index;
}

START_TEST(addr_netlink_is_a_sockaddr_nl_with_pid_and_groups)
{
	struct address addr = family_only(AF_NETLINK);
	struct sockaddr_buf out;
	const struct sockaddr_nl *nl = (const struct sockaddr_nl *)&out.ss;

	addr.netlink.pid = 4242;
	addr.netlink.groups = 0x11;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_nl));
	ck_assert_int_eq(nl->nl_family, AF_NETLINK);
	ck_assert_uint_eq(nl->nl_pid, 4242);
	ck_assert_uint_eq(nl->nl_groups, 0x11);
}
END_TEST

START_TEST(addr_packet_looks_up_the_interface_and_puts_proto_in_network_order)
{
	struct address addr = family_only(AF_PACKET);
	struct sockaddr_buf out;
	const struct sockaddr_ll *ll = (const struct sockaddr_ll *)&out.ss;

	strcpy(addr.packet.ifname, "lo");
	addr.packet.proto = 0x0800;
	addr.packet.pkttype = 4;
	addr.packet.hatype = 772;
	addr.packet.halen = 6;
	memcpy(addr.packet.addr, "\x02\x00\x00\x00\x00\x01", 6);
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_ll));
	ck_assert_int_eq(ll->sll_family, AF_PACKET);
	ck_assert_int_eq(ll->sll_ifindex, (int)lo_index());
	ck_assert_uint_eq(ll->sll_protocol, htons(0x0800));
	ck_assert_uint_eq(ll->sll_pkttype, 4);
	ck_assert_uint_eq(ll->sll_hatype, 772);
	ck_assert_uint_eq(ll->sll_halen, 6);
	ck_assert_mem_eq(ll->sll_addr, "\x02\x00\x00\x00\x00\x01", 6);
}
END_TEST

START_TEST(addr_packet_empty_interface_name_is_index_0)
{
	struct address addr = family_only(AF_PACKET);
	struct sockaddr_buf out;

	addr.packet.proto = 3;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(((const struct sockaddr_ll *)&out.ss)->sll_ifindex, 0);
}
END_TEST

START_TEST(addr_unknown_interface_is_enodev_and_the_message_names_it)
{
	struct address packet = family_only(AF_PACKET), can = family_only(AF_CAN);
	struct sockaddr_buf out;
	char why[256];

	strcpy(packet.packet.ifname, "nosuch-if0");
	ck_assert_int_eq(addr_to_sockaddr(&packet, &out), -ENODEV);
	addr_describe_failure(&packet, -ENODEV, why, sizeof(why));
	ck_assert_ptr_nonnull(strstr(why, "\"nosuch-if0\""));
	ck_assert_ptr_nonnull(strstr(why, strerror(ENODEV)));

	strcpy(can.can.ifname, "nosuch-can0");
	ck_assert_int_eq(addr_to_sockaddr(&can, &out), -ENODEV);
	addr_describe_failure(&can, -ENODEV, why, sizeof(why));
	ck_assert_ptr_nonnull(strstr(why, "\"nosuch-can0\""));
}
END_TEST

START_TEST(addr_malformed_addresses_are_einval_naming_their_family)
{
	struct address packet = family_only(AF_PACKET), alg = family_only(AF_ALG);
	struct address tipc = family_only(AF_TIPC);
	struct sockaddr_buf out;
	char why[256];

	packet.packet.halen = ADDRESS_HWADDR_MAX + 1;
	ck_assert_int_eq(addr_to_sockaddr(&packet, &out), -EINVAL);
	addr_describe_failure(&packet, -EINVAL, why, sizeof(why));
	ck_assert_ptr_nonnull(strstr(why, "AF_PACKET"));

	memset(packet.packet.ifname, 'i', sizeof(packet.packet.ifname));
	packet.packet.halen = 0;
	ck_assert_int_eq(addr_to_sockaddr(&packet, &out), -EINVAL);

	/* Names that fill their arrays leave no room for the NUL. */
	memset(alg.alg.type, 't', sizeof(alg.alg.type));
	ck_assert_int_eq(addr_to_sockaddr(&alg, &out), -EINVAL);
	memset(alg.alg.type, 0, sizeof(alg.alg.type));
	memset(alg.alg.name, 'n', sizeof(alg.alg.name));
	ck_assert_int_eq(addr_to_sockaddr(&alg, &out), -EINVAL);
	addr_describe_failure(&alg, -EINVAL, why, sizeof(why));
	ck_assert_ptr_nonnull(strstr(why, "AF_ALG"));

	tipc.tipc.addr_type = 9;
	ck_assert_int_eq(addr_to_sockaddr(&tipc, &out), -EINVAL);
}
END_TEST

START_TEST(addr_alg_copies_type_and_name_with_their_nuls)
{
	struct address addr = family_only(AF_ALG);
	struct sockaddr_buf out;
	const struct sockaddr_alg *alg = (const struct sockaddr_alg *)&out.ss;
	char longest[ADDRESS_ALG_NAME_MAX];

	strcpy(addr.alg.type, "skcipher");
	strcpy(addr.alg.name, "cbc(aes)");
	addr.alg.feat = 1;
	addr.alg.mask = 2;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_alg));
	ck_assert_int_eq(alg->salg_family, AF_ALG);
	ck_assert_str_eq((const char *)alg->salg_type, "skcipher");
	ck_assert_str_eq((const char *)alg->salg_name, "cbc(aes)");
	ck_assert_uint_eq(alg->salg_feat, 1);
	ck_assert_uint_eq(alg->salg_mask, 2);

	memset(longest, 'n', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memcpy(addr.alg.name, longest, sizeof(longest));
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_str_eq((const char *)alg->salg_name, longest);
}
END_TEST

START_TEST(addr_vsock_carries_cid_and_port)
{
	struct address addr = family_only(AF_VSOCK);
	struct sockaddr_buf out;
	const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&out.ss;

	addr.vsock.cid = VMADDR_CID_LOCAL;
	addr.vsock.port = 5000;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_vm));
	ck_assert_int_eq(vm->svm_family, AF_VSOCK);
	ck_assert_uint_eq(vm->svm_cid, VMADDR_CID_LOCAL);
	ck_assert_uint_eq(vm->svm_port, 5000);
}
END_TEST

START_TEST(addr_can_fills_the_tuple_of_its_form)
{
	struct address addr = family_only(AF_CAN);
	struct sockaddr_buf out;
	const struct sockaddr_can *can = (const struct sockaddr_can *)&out.ss;

	strcpy(addr.can.ifname, "lo");
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_can));
	ck_assert_int_eq(can->can_family, AF_CAN);
	ck_assert_int_eq(can->can_ifindex, (int)lo_index());
	ck_assert_uint_eq(can->can_addr.j1939.name, 0);

	addr.can.form = ADDRESS_CAN_ISOTP;
	addr.can.rx_id = 0x123;
	addr.can.tx_id = 0x80000321;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_uint_eq(can->can_addr.tp.rx_id, 0x123);
	ck_assert_uint_eq(can->can_addr.tp.tx_id, 0x80000321);

	addr.can.form = ADDRESS_CAN_J1939;
	addr.can.j1939_name = 0x1122334455667788ULL;
	addr.can.j1939_pgn = 0x12300;
	addr.can.j1939_addr = 0x80;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_uint_eq(can->can_addr.j1939.name, 0x1122334455667788ULL);
	ck_assert_uint_eq(can->can_addr.j1939.pgn, 0x12300);
	ck_assert_uint_eq(can->can_addr.j1939.addr, 0x80);

	addr.can.ifname[0] = '\0';
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(can->can_ifindex, 0);
}
END_TEST

START_TEST(addr_tipc_maps_v1_v2_v3_by_address_type)
{
	struct address addr = family_only(AF_TIPC);
	struct sockaddr_buf out;
	const struct sockaddr_tipc *tipc = (const struct sockaddr_tipc *)&out.ss;

	addr.tipc.addr_type = TIPC_ADDR_NAMESEQ;
	addr.tipc.scope = TIPC_NODE_SCOPE;
	addr.tipc.v1 = 1000;
	addr.tipc.v2 = 1;
	addr.tipc.v3 = 9;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_int_eq(out.len, sizeof(struct sockaddr_tipc));
	ck_assert_int_eq(tipc->family, AF_TIPC);
	ck_assert_int_eq(tipc->addrtype, TIPC_ADDR_NAMESEQ);
	ck_assert_int_eq(tipc->scope, TIPC_NODE_SCOPE);
	ck_assert_uint_eq(tipc->addr.nameseq.type, 1000);
	ck_assert_uint_eq(tipc->addr.nameseq.lower, 1);
	ck_assert_uint_eq(tipc->addr.nameseq.upper, 9);

	addr.tipc.addr_type = TIPC_ADDR_NAME;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_uint_eq(tipc->addr.name.name.type, 1000);
	ck_assert_uint_eq(tipc->addr.name.name.instance, 1);
	ck_assert_uint_eq(tipc->addr.name.domain, 9);

	addr.tipc.addr_type = TIPC_ADDR_ID;
	ck_assert_int_eq(addr_to_sockaddr(&addr, &out), 0);
	ck_assert_uint_eq(tipc->addr.id.node, 1000);
	ck_assert_uint_eq(tipc->addr.id.ref, 1);
}
END_TEST

START_TEST(addr_from_sockaddr_round_trips_the_tuple_families)
{
	struct address nl = family_only(AF_NETLINK), alg = family_only(AF_ALG);
	struct address vm = family_only(AF_VSOCK), tipc = family_only(AF_TIPC), back;

	nl.netlink.pid = 7;
	nl.netlink.groups = 3;
	back = round_trip(&nl);
	ck_assert_uint_eq(back.netlink.pid, 7);
	ck_assert_uint_eq(back.netlink.groups, 3);

	strcpy(alg.alg.type, "hash");
	strcpy(alg.alg.name, "sha256");
	alg.alg.feat = 5;
	back = round_trip(&alg);
	ck_assert_str_eq(back.alg.type, "hash");
	ck_assert_str_eq(back.alg.name, "sha256");
	ck_assert_uint_eq(back.alg.feat, 5);

	vm.vsock.cid = VMADDR_CID_ANY;
	vm.vsock.port = VMADDR_PORT_ANY;
	back = round_trip(&vm);
	ck_assert_uint_eq(back.vsock.cid, VMADDR_CID_ANY);
	ck_assert_uint_eq(back.vsock.port, VMADDR_PORT_ANY);

	tipc.tipc.addr_type = TIPC_ADDR_NAME;
	tipc.tipc.scope = TIPC_CLUSTER_SCOPE;
	tipc.tipc.v1 = 18888;
	tipc.tipc.v2 = 17;
	back = round_trip(&tipc);
	ck_assert_uint_eq(back.tipc.addr_type, TIPC_ADDR_NAME);
	ck_assert_int_eq(back.tipc.scope, TIPC_CLUSTER_SCOPE);
	ck_assert_uint_eq(back.tipc.v1, 18888);
	ck_assert_uint_eq(back.tipc.v2, 17);
	ck_assert_uint_eq(back.tipc.v3, 0);
}
END_TEST

START_TEST(addr_from_sockaddr_names_the_packet_interface_as_the_reference)
{
	struct sockaddr_ll ll;
	struct address back;

	memset(&ll, 0, sizeof(ll));
	ll.sll_family = AF_PACKET;
	ll.sll_protocol = htons(0x0800);
	ll.sll_ifindex = (int)lo_index();
	ll.sll_pkttype = PACKET_OUTGOING;
	ll.sll_hatype = 772;
	ll.sll_halen = 6;
	addr_from_sockaddr((const struct sockaddr *)&ll, sizeof(ll), &back);
	ck_assert_int_eq(back.family, AF_PACKET);
	ck_assert_str_eq(back.packet.ifname, "lo");
	ck_assert_uint_eq(back.packet.proto, 0x0800);
	ck_assert_uint_eq(back.packet.pkttype, PACKET_OUTGOING);
	ck_assert_uint_eq(back.packet.hatype, 772);
	ck_assert_uint_eq(back.packet.halen, 6);

	/* Index 0, or an interface that is gone: "", as the reference. */
	ll.sll_ifindex = 0;
	addr_from_sockaddr((const struct sockaddr *)&ll, sizeof(ll), &back);
	ck_assert_str_eq(back.packet.ifname, "");
	ll.sll_ifindex = 0x7ffffff0;
	addr_from_sockaddr((const struct sockaddr *)&ll, sizeof(ll), &back);
	ck_assert_str_eq(back.packet.ifname, "");

	/* A halen beyond sll_addr is cut to it. */
	ll.sll_halen = 200;
	addr_from_sockaddr((const struct sockaddr *)&ll, sizeof(ll), &back);
	ck_assert_uint_eq(back.packet.halen, ADDRESS_HWADDR_MAX);
}
END_TEST

START_TEST(addr_from_sockaddr_reads_the_can_form_from_the_kernels_length)
{
	struct sockaddr_can can;
	struct address back;

	memset(&can, 0, sizeof(can));
	can.can_family = AF_CAN;
	can.can_ifindex = (int)lo_index();
	can.can_addr.tp.rx_id = 0x11;
	can.can_addr.tp.tx_id = 0x22;
	/* CAN_RAW and CAN_BCM stop after the index. */
	addr_from_sockaddr((const struct sockaddr *)&can, 8, &back);
	ck_assert_int_eq(back.family, AF_CAN);
	ck_assert_str_eq(back.can.ifname, "lo");
	ck_assert_int_eq(back.can.form, ADDRESS_CAN_PLAIN);
	/* CAN_ISOTP after the ids. */
	addr_from_sockaddr((const struct sockaddr *)&can, 16, &back);
	ck_assert_int_eq(back.can.form, ADDRESS_CAN_ISOTP);
	ck_assert_uint_eq(back.can.rx_id, 0x11);
	ck_assert_uint_eq(back.can.tx_id, 0x22);
	/* CAN_J1939 gives the whole struct. */
	can.can_addr.j1939.name = 0xabcdef;
	can.can_addr.j1939.pgn = 0x3ffff;
	can.can_addr.j1939.addr = 0xfe;
	addr_from_sockaddr((const struct sockaddr *)&can, sizeof(can), &back);
	ck_assert_int_eq(back.can.form, ADDRESS_CAN_J1939);
	ck_assert_uint_eq(back.can.j1939_name, 0xabcdef);
	ck_assert_uint_eq(back.can.j1939_pgn, 0x3ffff);
	ck_assert_uint_eq(back.can.j1939_addr, 0xfe);
}
END_TEST

START_TEST(addr_from_sockaddr_reads_alg_names_without_their_nul)
{
	struct sockaddr_alg alg;
	struct address back;

	memset(&alg, 'x', sizeof(alg));
	alg.salg_family = AF_ALG;
	alg.salg_feat = alg.salg_mask = 0;
	addr_from_sockaddr((const struct sockaddr *)&alg, sizeof(alg), &back);
	ck_assert_uint_eq(strlen(back.alg.type), ADDRESS_ALG_TYPE_MAX - 1);
	ck_assert_uint_eq(strlen(back.alg.name), ADDRESS_ALG_NAME_MAX - 1);
}
END_TEST

START_TEST(addr_format_writes_the_tuple_families)
{
	struct address nl = family_only(AF_NETLINK), packet = family_only(AF_PACKET);
	struct address alg = family_only(AF_ALG), vm = family_only(AF_VSOCK);
	struct address can = family_only(AF_CAN), tipc = family_only(AF_TIPC);

	nl.netlink.pid = 12;
	ck_assert_str_eq(format(&nl), "netlink 12/0");
	strcpy(packet.packet.ifname, "lo");
	packet.packet.proto = 0x800;
	ck_assert_str_eq(format(&packet), "packet lo 0x0800");
	strcpy(alg.alg.type, "hash");
	strcpy(alg.alg.name, "sha256");
	ck_assert_str_eq(format(&alg), "alg hash sha256");
	vm.vsock.cid = 1;
	vm.vsock.port = 1234;
	ck_assert_str_eq(format(&vm), "vsock 1:1234");
	ck_assert_str_eq(format(&can), "can (any)");
	tipc.tipc.addr_type = 2;
	tipc.tipc.v1 = 1000;
	tipc.tipc.v2 = 1;
	ck_assert_str_eq(format(&tipc), "tipc 2 1000/1/0");
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *to = tcase_create("addr_to_sockaddr");
	TCase *from = tcase_create("addr_from_sockaddr");
	TCase *resolved = tcase_create("addr_apply_resolved");
	TCase *fmt = tcase_create("addr_format");
	TCase *families = tcase_create("tuple families");

	tcase_add_test(to, addr_inet_empty_host_is_inaddr_any);
	tcase_add_test(to, addr_inet_broadcast_is_inaddr_broadcast);
	tcase_add_test(to, addr_inet_dotted_quad_is_taken_as_is);
	tcase_add_test(to, addr_inet_host_name_needs_resolve_with_the_port_in_place);
	tcase_add_test(to, addr_inet_ipv6_literal_is_not_an_ipv4_address);
	tcase_add_test(to, addr_inet6_empty_host_is_the_unspecified_address);
	tcase_add_test(to, addr_inet6_numeric_host_carries_flowinfo_and_scope_id);
	tcase_add_test(to, addr_inet6_numeric_scope_suffix_sets_scope_id);
	tcase_add_test(to, addr_inet6_interface_scope_suffix_sets_scope_id);
	tcase_add_test(to, addr_inet6_unknown_scope_interface_is_left_to_the_resolver);
	tcase_add_test(to,
		       addr_inet6_host_name_needs_resolve_with_port_flowinfo_and_scope_in_place);
	tcase_add_test(to, addr_unix_path_length_counts_the_terminating_nul);
	tcase_add_test(to, addr_unix_path_filling_sun_path_has_no_nul);
	tcase_add_test(to, addr_unix_abstract_name_has_a_leading_nul_and_exact_length);
	tcase_add_test(to, addr_unix_unnamed_is_the_family_alone);
	tcase_add_test(to, addr_unix_path_longer_than_sun_path_is_einval);
	tcase_add_test(to, addr_raw_family_copies_the_bytes_after_the_family);
	tcase_add_test(to, addr_raw_family_out_of_range_is_einval);
	tcase_add_test(to, addr_raw_data_longer_than_a_sockaddr_is_einval);
	suite_add_tcase(s, to);

	tcase_add_test(from, addr_from_sockaddr_round_trips_inet);
	tcase_add_test(from, addr_from_sockaddr_gives_numeric_hosts_for_any_and_broadcast);
	tcase_add_test(from, addr_from_sockaddr_round_trips_inet6_with_flowinfo_and_scope_id);
	tcase_add_test(from, addr_from_sockaddr_round_trips_a_unix_path);
	tcase_add_test(from, addr_from_sockaddr_round_trips_an_abstract_name_with_inner_nuls);
	tcase_add_test(from, addr_from_sockaddr_round_trips_an_unnamed_unix_socket);
	tcase_add_test(from, addr_from_sockaddr_unix_path_stops_at_the_nul);
	tcase_add_test(from, addr_from_sockaddr_round_trips_a_raw_family);
	tcase_add_test(from, addr_from_sockaddr_of_no_address_is_af_unspec);
	suite_add_tcase(s, from);

	tcase_add_test(resolved, addr_apply_resolved_keeps_the_inet_port);
	tcase_add_test(resolved, addr_apply_resolved_keeps_the_inet6_port_flowinfo_and_scope_id);
	tcase_add_test(resolved,
		       addr_apply_resolved_keeps_the_resolvers_scope_when_the_address_has_none);
	suite_add_tcase(s, resolved);

	tcase_add_test(fmt, addr_format_writes_host_colon_port_for_inet);
	tcase_add_test(fmt, addr_format_brackets_inet6_hosts);
	tcase_add_test(fmt, addr_format_writes_unix_paths_abstract_names_and_unnamed);
	tcase_add_test(fmt, addr_format_names_the_family_of_raw_addresses);
	tcase_add_test(fmt, addr_format_truncates_to_the_buffer);
	tcase_add_test(fmt, addr_format_sockaddr_formats_what_the_kernel_gave);
	suite_add_tcase(s, fmt);

	tcase_add_test(families, addr_netlink_is_a_sockaddr_nl_with_pid_and_groups);
	tcase_add_test(families, addr_packet_looks_up_the_interface_and_puts_proto_in_network_order);
	tcase_add_test(families, addr_packet_empty_interface_name_is_index_0);
	tcase_add_test(families, addr_unknown_interface_is_enodev_and_the_message_names_it);
	tcase_add_test(families, addr_malformed_addresses_are_einval_naming_their_family);
	tcase_add_test(families, addr_alg_copies_type_and_name_with_their_nuls);
	tcase_add_test(families, addr_vsock_carries_cid_and_port);
	tcase_add_test(families, addr_can_fills_the_tuple_of_its_form);
	tcase_add_test(families, addr_tipc_maps_v1_v2_v3_by_address_type);
	tcase_add_test(families, addr_from_sockaddr_round_trips_the_tuple_families);
	tcase_add_test(families, addr_from_sockaddr_names_the_packet_interface_as_the_reference);
	tcase_add_test(families, addr_from_sockaddr_reads_the_can_form_from_the_kernels_length);
	tcase_add_test(families, addr_from_sockaddr_reads_alg_names_without_their_nul);
	tcase_add_test(families, addr_format_writes_the_tuple_families);
	suite_add_tcase(s, families);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(addr_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
