#include <criterion/criterion.h>

#include "perf/harness/record.h"

Test(perf_record, carries_the_send_time)
{
	uint8_t v[100];
	uint64_t t = 0;
	perf_record_fill(v, sizeof(v), 123456789012345ull, 7);
	cr_assert(perf_record_parse(v, sizeof(v), &t));
	cr_assert_eq(t, 123456789012345ull);
	perf_record_stamp(v, 42, 7);
	cr_assert(perf_record_parse(v, sizeof(v), &t));
	cr_assert_eq(t, 42);
	cr_assert_not(perf_record_parse(v, 15, &t));
	v[12] ^= 1;
	cr_assert_not(perf_record_parse(v, sizeof(v), &t));
}
