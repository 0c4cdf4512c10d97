/*
 * libsockbroker's SP framing (clients/c/transport.c): broker URLs, the
 * handshake check, frame headers in both directions. No daemon: these are
 * the pure parts of the connection.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "transport.h"

START_TEST(ipc_urls_are_paths_and_too_long_ones_are_enametoolong)
{
	struct sb__sp_address a;
	char url[300];

	ck_assert_int_eq(sb__sp_parse_url("ipc:///run/sb/sb.sock", &a), 0);
	ck_assert_int_eq(a.scheme, SB__SP_IPC);
	ck_assert_str_eq(a.unix_address.sun_path, "/run/sb/sb.sock");
	ck_assert_int_eq(a.unix_address.sun_family, AF_UNIX);

	memset(url, 'x', sizeof(url));
	memcpy(url, "ipc:///", 7);
	url[sizeof(url) - 1] = '\0';
	ck_assert_int_eq(sb__sp_parse_url(url, &a), -ENAMETOOLONG);
	ck_assert_int_eq(sb__sp_parse_url("ipc://", &a), -EINVAL);
}
END_TEST

START_TEST(abstract_names_are_url_decoded_and_exactly_as_long_as_the_name)
{
	struct sb__sp_address a;

	ck_assert_int_eq(sb__sp_parse_url("abstract://sb%00x%2f", &a), 0);
	ck_assert_int_eq(a.scheme, SB__SP_ABSTRACT);
	ck_assert_int_eq(a.unix_length, offsetof(struct sockaddr_un, sun_path) + 1 + 5);
	ck_assert_mem_eq(a.unix_address.sun_path, "\0sb\0x/", 6);
	ck_assert_int_eq(sb__sp_parse_url("abstract://bad%zz", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("abstract://bad%2", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("abstract://", &a), -EINVAL);
}
END_TEST

START_TEST(tcp_urls_take_a_host_and_a_port_up_to_65535)
{
	struct sb__sp_address a;

	ck_assert_int_eq(sb__sp_parse_url("tcp://127.0.0.1:7000", &a), 0);
	ck_assert_int_eq(a.scheme, SB__SP_TCP);
	ck_assert_int_eq(a.family, AF_UNSPEC);
	ck_assert_str_eq(a.host, "127.0.0.1");
	ck_assert_str_eq(a.port, "7000");
	ck_assert_int_eq(sb__sp_parse_url("tcp6://[::1]:1", &a), 0);
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_str_eq(a.host, "::1");
	ck_assert_int_eq(sb__sp_parse_url("tls+tcp://broker.example:443", &a), 0);
	ck_assert_int_eq(a.scheme, SB__SP_TLS);
	ck_assert_int_eq(sb__sp_parse_url("tcp://:9", &a), 0);
	ck_assert_str_eq(a.host, "");

	ck_assert_int_eq(sb__sp_parse_url("tcp://127.0.0.1:65536", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("tcp://127.0.0.1:", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("tcp://127.0.0.1", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("tcp://127.0.0.1:-1", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("udp://127.0.0.1:9", &a), -EINVAL);
	ck_assert_int_eq(sb__sp_parse_url("/run/sb.sock", &a), -EINVAL);
}
END_TEST

START_TEST(the_handshake_is_req0_and_the_peer_must_be_rep0)
{
	static const uint8_t rep0[8] = { 0, 'S', 'P', 0, 0, 0x31, 0, 0 };
	static const uint8_t req0[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	static const uint8_t junk[8] = { 'H', 'T', 'T', 'P', '/', '1', '.', '1' };
	uint8_t mine[8];
	unsigned protocol;

	sb__sp_handshake(mine);
	ck_assert_mem_eq(mine, req0, 8);
	ck_assert_int_eq(sb__sp_check_handshake(rep0, &protocol), 0);
	ck_assert_int_eq(sb__sp_check_handshake(req0, &protocol), -EPROTONOSUPPORT);
	ck_assert_uint_eq(protocol, 0x30);
	ck_assert_int_eq(sb__sp_check_handshake(junk, NULL), -EPROTO);
}
END_TEST

START_TEST(frame_headers_round_trip_over_ipc_and_tcp)
{
	uint8_t buf[SB__FRAME_HEADROOM + 3] = { 0 }, *body = buf + SB__FRAME_HEADROOM, *frame;
	uint64_t length = 0;

	memcpy(body, "abc", 3);
	frame = sb__sp_frame_header(body, 3, true, 0x80000007u);
	ck_assert_ptr_eq(frame, buf);
	ck_assert_int_eq(frame[0], 1);
	ck_assert_int_eq(sb__sp_parse_header(frame, 13, true, &length), 9);
	ck_assert_uint_eq(length, 7); /* the request id and the body */
	ck_assert_mem_eq(frame + 9, "\x80\x00\x00\x07", 4);

	frame = sb__sp_frame_header(body, 3, false, 0x80000001u);
	ck_assert_ptr_eq(frame, buf + 1);
	ck_assert_int_eq(sb__sp_parse_header(frame, 8, false, &length), 8);
	ck_assert_uint_eq(length, 7);
}
END_TEST

START_TEST(short_unknown_and_huge_frames_are_told_apart)
{
	uint8_t header[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 5 };
	uint64_t length;

	ck_assert_int_eq(sb__sp_parse_header(header, 0, true, &length), 0);
	ck_assert_int_eq(sb__sp_parse_header(header, 8, true, &length), 0);
	header[0] = 2;
	ck_assert_int_eq(sb__sp_parse_header(header, 1, true, &length), -EPROTO);
	header[0] = 1;
	header[3] = 1; /* 2^40 bytes */
	ck_assert_int_eq(sb__sp_parse_header(header, 9, true, &length), -EMSGSIZE);
	ck_assert_int_eq(sb__sp_parse_header(header + 1, 8, false, &length), -EMSGSIZE);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("client-sp");
	TCase *tc = tcase_create("sp");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, ipc_urls_are_paths_and_too_long_ones_are_enametoolong);
	tcase_add_test(tc, abstract_names_are_url_decoded_and_exactly_as_long_as_the_name);
	tcase_add_test(tc, tcp_urls_take_a_host_and_a_port_up_to_65535);
	tcase_add_test(tc, the_handshake_is_req0_and_the_peer_must_be_rep0);
	tcase_add_test(tc, frame_headers_round_trip_over_ipc_and_tcp);
	tcase_add_test(tc, short_unknown_and_huge_frames_are_told_apart);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
