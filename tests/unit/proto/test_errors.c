/*
 * tests/unit/proto/test_errors.c: the generated error table and the -errno mapping.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "kp_errors.h"

Test(kp_errors, codes_names_and_retriable_flags)
{
	cr_assert_eq(KP_ERR_NONE, 0);
	cr_assert_eq(KP_ERR_UNKNOWN_SERVER_ERROR, -1);
	cr_assert_eq(KP_ERR_OFFSET_OUT_OF_RANGE, 1);
	cr_assert_eq(KP_ERR_CORRUPT_MESSAGE, 2);
	cr_assert_eq(KP_ERR_NOT_LEADER_OR_FOLLOWER, 6);
	cr_assert_eq(KP_ERR_MESSAGE_TOO_LARGE, 10);
	cr_assert_eq(KP_ERR_UNSUPPORTED_VERSION, 35);
	cr_assert_eq(KP_ERR_KAFKA_STORAGE_ERROR, 56);
	cr_assert_eq(KP_ERR_PRODUCER_FENCED, 90);
	cr_assert_eq(KP_ERR_TRANSACTION_ABORTABLE, 120);
	cr_assert_str_eq(kp_error_name(KP_ERR_NOT_COORDINATOR), "NOT_COORDINATOR");
	cr_assert_str_eq(kp_error_name(-1), "UNKNOWN_SERVER_ERROR");
	cr_assert_str_eq(kp_error_name(30000), "UNKNOWN");
	cr_assert_str_eq(kp_error_name(-2), "UNKNOWN");
	cr_assert(!kp_error_known(30000));
	cr_assert(kp_error_known(0));
	cr_assert(kp_error_retriable(KP_ERR_NOT_LEADER_OR_FOLLOWER));
	cr_assert(kp_error_retriable(KP_ERR_COORDINATOR_LOAD_IN_PROGRESS));
	cr_assert(kp_error_retriable(KP_ERR_KAFKA_STORAGE_ERROR));
	cr_assert(kp_error_retriable(KP_ERR_CORRUPT_MESSAGE));
	cr_assert(!kp_error_retriable(KP_ERR_NONE));
	cr_assert(!kp_error_retriable(KP_ERR_MESSAGE_TOO_LARGE));
	cr_assert(!kp_error_retriable(KP_ERR_UNSUPPORTED_VERSION));
	cr_assert(!kp_error_retriable(KP_ERR_INVALID_PRODUCER_EPOCH));
	cr_assert(!kp_error_retriable(30000));
	cr_assert_str_neq(kp_error_message(KP_ERR_OFFSET_OUT_OF_RANGE), "");
}

Test(kp_errors, every_code_from_minus_one_is_named)
{
	for (int c = -1; c <= 129; c++) {
		cr_assert(kp_error_known((int16_t)c), "code %d", c);
		cr_assert_str_neq(kp_error_name((int16_t)c), "UNKNOWN", "code %d", c);
	}
}

Test(kp_errors, errno_mapping)
{
	cr_assert_eq(kp_error_from_errno(0), KP_ERR_NONE);
	cr_assert_eq(kp_error_from_errno(-EBADMSG), KP_ERR_CORRUPT_MESSAGE);
	cr_assert_eq(kp_error_from_errno(-E2BIG), KP_ERR_MESSAGE_TOO_LARGE);
	cr_assert_eq(kp_error_from_errno(-ENOSPC), KP_ERR_KAFKA_STORAGE_ERROR);
	cr_assert_eq(kp_error_from_errno(-EIO), KP_ERR_KAFKA_STORAGE_ERROR);
	cr_assert_eq(kp_error_from_errno(-EINVAL), KP_ERR_INVALID_RECORD);
	cr_assert_eq(kp_error_from_errno(-ETIMEDOUT), KP_ERR_REQUEST_TIMED_OUT);
	cr_assert_eq(kp_error_from_errno(-ERANGE), KP_ERR_OFFSET_OUT_OF_RANGE);
	cr_assert_eq(kp_error_from_errno(-ENOMEM), KP_ERR_UNKNOWN_SERVER_ERROR);
	cr_assert_eq(kp_error_from_errno(-EXDEV), KP_ERR_UNKNOWN_SERVER_ERROR);
}
