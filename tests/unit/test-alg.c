/*
 * Unit tests of server/ops/alg.c: the SOL_ALG control messages sendmsg_afalg builds
 * (ALG_SET_OP, ALG_SET_IV, ALG_SET_AEAD_ASSOCLEN), read back with the CMSG_* macros as the
 * kernel walks them. No AF_ALG socket is needed: these are the bytes handed to sendmsg().
 */
#include <check.h>
#include <linux/if_alg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ops/ops.h"
#include "wire.h"

/* Room for the largest control buffer, aligned for cmsghdr. */
union control {
	struct cmsghdr align;
	uint8_t bytes[4096];
};

static struct request
afalg_request(uint32_t op)
{
	struct request req;

	memset(&req, 0, sizeof(req));
	req.op = OP_SENDMSG_AFALG;
	req.afalg.op = op;
	return req;
}

/* The control messages in `control` as a msghdr would carry them. */
static struct msghdr
control_msg(union control *control, size_t len)
{
	struct msghdr msg;

	memset(&msg, 0, sizeof(msg));
	msg.msg_control = control->bytes;
	msg.msg_controllen = len;
	return msg;
}

static uint32_t
u32_data(const struct cmsghdr *cmsg)
{
	uint32_t value;

	memcpy(&value, CMSG_DATA(cmsg), sizeof(value));
	return value;
}

START_TEST(afalg_control_with_only_an_operation_is_one_alg_set_op)
{
	union control control;
	struct request req = afalg_request(ALG_OP_ENCRYPT);
	size_t len = op_afalg_control(&req, control.bytes, sizeof(control.bytes));
	struct msghdr msg = control_msg(&control, len);
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	ck_assert_uint_eq(len, CMSG_SPACE(sizeof(uint32_t)));
	ck_assert_ptr_nonnull(cmsg);
	ck_assert_int_eq(cmsg->cmsg_level, SOL_ALG);
	ck_assert_int_eq(cmsg->cmsg_type, ALG_SET_OP);
	ck_assert_uint_eq(cmsg->cmsg_len, CMSG_LEN(sizeof(uint32_t)));
	ck_assert_uint_eq(u32_data(cmsg), ALG_OP_ENCRYPT);
	ck_assert_ptr_null(CMSG_NXTHDR(&msg, cmsg));
}
END_TEST

START_TEST(afalg_control_carries_the_iv_and_the_assoclen_in_order)
{
	union control control;
	struct request req = afalg_request(ALG_OP_DECRYPT);
	const uint8_t iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

	req.afalg.iv = iv;
	req.afalg.iv_len = sizeof(iv);
	req.afalg.has_assoclen = true;
	req.afalg.assoclen = 20;
	size_t len = op_afalg_control(&req, control.bytes, sizeof(control.bytes));
	struct msghdr msg = control_msg(&control, len);

	ck_assert_uint_eq(len, 2 * CMSG_SPACE(sizeof(uint32_t)) +
				       CMSG_SPACE(sizeof(struct af_alg_iv) + sizeof(iv)));
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	ck_assert_int_eq(cmsg->cmsg_type, ALG_SET_OP);
	ck_assert_uint_eq(u32_data(cmsg), ALG_OP_DECRYPT);

	cmsg = CMSG_NXTHDR(&msg, cmsg);
	ck_assert_ptr_nonnull(cmsg);
	ck_assert_int_eq(cmsg->cmsg_level, SOL_ALG);
	ck_assert_int_eq(cmsg->cmsg_type, ALG_SET_IV);
	/* The kernel checks cmsg_len against ivlen: it must be exact. */
	ck_assert_uint_eq(cmsg->cmsg_len, CMSG_LEN(sizeof(struct af_alg_iv) + sizeof(iv)));
	const struct af_alg_iv *alg_iv = (const struct af_alg_iv *)(void *)CMSG_DATA(cmsg);
	ck_assert_uint_eq(alg_iv->ivlen, sizeof(iv));
	ck_assert_mem_eq(alg_iv->iv, iv, sizeof(iv));

	cmsg = CMSG_NXTHDR(&msg, cmsg);
	ck_assert_ptr_nonnull(cmsg);
	ck_assert_int_eq(cmsg->cmsg_type, ALG_SET_AEAD_ASSOCLEN);
	ck_assert_uint_eq(cmsg->cmsg_len, CMSG_LEN(sizeof(uint32_t)));
	ck_assert_uint_eq(u32_data(cmsg), 20);
	ck_assert_ptr_null(CMSG_NXTHDR(&msg, cmsg));
}
END_TEST

START_TEST(afalg_control_keeps_an_empty_iv)
{
	union control control;
	struct request req = afalg_request(ALG_OP_ENCRYPT);

	req.afalg.iv = (const uint8_t *)"";
	size_t len = op_afalg_control(&req, control.bytes, sizeof(control.bytes));
	struct msghdr msg = control_msg(&control, len);
	struct cmsghdr *cmsg = CMSG_NXTHDR(&msg, CMSG_FIRSTHDR(&msg));

	ck_assert_ptr_nonnull(cmsg);
	ck_assert_int_eq(cmsg->cmsg_type, ALG_SET_IV);
	ck_assert_uint_eq(cmsg->cmsg_len, CMSG_LEN(sizeof(struct af_alg_iv)));
	ck_assert_uint_eq(((const struct af_alg_iv *)(void *)CMSG_DATA(cmsg))->ivlen, 0);
}
END_TEST

START_TEST(afalg_control_that_does_not_fit_is_0)
{
	union control control;
	struct request req = afalg_request(ALG_OP_ENCRYPT);
	uint8_t iv[AFALG_IV_MAX] = {0};

	req.afalg.iv = iv;
	req.afalg.iv_len = sizeof(iv);
	ck_assert_uint_eq(op_afalg_control(&req, control.bytes, CMSG_SPACE(sizeof(uint32_t))), 0);
	ck_assert_uint_eq(op_afalg_control(&req, control.bytes, 2), 0);
	ck_assert_uint_ne(op_afalg_control(&req, control.bytes, sizeof(control.bytes)), 0);
}
END_TEST

static Suite *
alg_suite(void)
{
	Suite *s = suite_create("alg");
	TCase *control = tcase_create("afalg control");

	tcase_add_test(control, afalg_control_with_only_an_operation_is_one_alg_set_op);
	tcase_add_test(control, afalg_control_carries_the_iv_and_the_assoclen_in_order);
	tcase_add_test(control, afalg_control_keeps_an_empty_iv);
	tcase_add_test(control, afalg_control_that_does_not_fit_is_0);
	suite_add_tcase(s, control);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(alg_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
