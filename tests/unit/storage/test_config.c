/* Unit tests for storage/config.c: Kafka's defaults and key parsing, the error mapping. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "storage/storage.h"

Test(stor_config, defaults_are_kafkas)
{
	struct stor_config c;
	stor_config_default(&c);
	cr_expect_eq(c.segment_bytes, 1073741824);
	cr_expect_eq(c.index_interval_bytes, 4096);
	cr_expect_eq(c.segment_index_bytes, 10485760);
	cr_expect_eq(c.retention_ms, 604800000);
	cr_expect_eq(c.retention_bytes, -1);
	cr_expect_eq(c.cleanup_policy, STOR_CLEANUP_DELETE);
	cr_expect_eq(c.timestamp_type, STOR_TS_CREATE_TIME);
}

Test(stor_config, sets_keys_and_rejects_bad_values)
{
	struct stor_config c;
	const char *why = NULL;
	stor_config_default(&c);
	cr_expect_eq(stor_config_set(&c, "segment.bytes", "1048576", &why), 0);
	cr_expect_eq(c.segment_bytes, 1048576);
	cr_expect_eq(stor_config_set(&c, "segment.bytes", "13", &why), -EINVAL);
	cr_expect(strstr(why, "segment.bytes") != NULL);
	cr_expect_eq(stor_config_set(&c, "segment.bytes", "12x", &why), -EINVAL);
	cr_expect_eq(stor_config_set(&c, "retention.ms", "-1", &why), 0);
	cr_expect_eq(c.retention_ms, -1);
	cr_expect_eq(stor_config_set(&c, "retention.ms", "-2", &why), -EINVAL);
	cr_expect_eq(stor_config_set(&c, "cleanup.policy", "compact, delete", &why), 0);
	cr_expect_eq(c.cleanup_policy, STOR_CLEANUP_DELETE | STOR_CLEANUP_COMPACT);
	cr_expect_eq(stor_config_set(&c, "cleanup.policy", "compact,shred", &why), -EINVAL);
	cr_expect_eq(stor_config_set(&c, "message.timestamp.type", "LogAppendTime", &why), 0);
	cr_expect_eq(c.timestamp_type, STOR_TS_LOG_APPEND_TIME);
	cr_expect_eq(stor_config_set(&c, "message.timestamp.type", "Now", &why), -EINVAL);
	cr_expect_eq(stor_config_set(&c, "no.such.key", "1", &why), -ENOENT);
}

Test(stor_config, errors_map_to_kafka_codes)
{
	cr_expect_eq(stor_err_to_kafka(0), 0);
	cr_expect_eq(stor_err_to_kafka(-ENOSPC), 56);
	cr_expect_eq(stor_err_to_kafka(-EIO), 56);
	cr_expect_eq(stor_err_to_kafka(-EROFS), 56);
	cr_expect_eq(stor_err_to_kafka(-ERANGE), 1);
	cr_expect_eq(stor_err_to_kafka(-EMSGSIZE), 18);
}
