/* core/pace.h: a periodic whole-table job keeps to its share of the time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/pace.h"

static void short_jobs_keep_the_period(void **state)
{
	(void)state;
	/* 300 ms of a 30 s period at a 10% share: the period rules. */
	assert_int_equal(pace_next_start(1000, 1300, 30000, 10), 31000);
	/* exactly at the share: 3 s of 30 s */
	assert_int_equal(pace_next_start(1000, 4000, 30000, 10), 31000);
	/* an instant job */
	assert_int_equal(pace_next_start(5, 5, 100, 10), 105);
}

static void long_jobs_wait_in_proportion(void **state)
{
	(void)state;
	/* 165 s of audit (a million holds) at a 10% share: 1,485 s of rest, not
	 * the next run at once. */
	assert_int_equal(pace_next_start(0, 165000, 30000, 10), 165000 + 1485000);
	/* one millisecond past the share already moves the start */
	assert_int_equal(pace_next_start(0, 3001, 30000, 10), 3001 + 27009);
	/* a 5% share: 19 times the job's length */
	assert_int_equal(pace_next_start(0, 1000, 5000, 5), 1000 + 19000);
	/* a 100% share: only the period */
	assert_int_equal(pace_next_start(0, 9000, 5000, 100), 9000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(short_jobs_keep_the_period),
		cmocka_unit_test(long_jobs_wait_in_proportion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
