/* store/txn.h, the pure parts: when a transaction is retried, and how long
 * it waits first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "store/txn.h"

static void should_retry(void **state)
{
	(void)state;
	const txn_policy p = { .retry_attempts = 3, .budget_ms = 2000 };
	static const struct { int rc; long attempt; int64_t elapsed; bool want; } rows[] = {
		{ DB_ERR_RETRY, 0, 0, true },
		{ DB_ERR_RETRY, 2, 0, true },      /* the third retry */
		{ DB_ERR_RETRY, 3, 0, false },     /* three retries used up */
		{ DB_ERR_RETRY, 100, 0, false },
		{ DB_ERR_RETRY, 0, 1999, true },
		{ DB_ERR_RETRY, 0, 2000, false },  /* budget spent */
		{ DB_ERR_RETRY, 0, 60000, false },
		/* Only conflicts are retried. */
		{ DB_OK, 0, 0, false },
		{ DB_ERR_GONE, 0, 0, false },
		{ DB_ERR_DUP, 0, 0, false },
		{ DB_ERR_CHECK, 0, 0, false },
		{ DB_ERR_OTHER, 0, 0, false },
		{ 1, 0, 0, false },                /* a domain refusal */
		{ 8, 0, 0, false },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (txn_should_retry(rows[i].rc, rows[i].attempt, &p, rows[i].elapsed) != rows[i].want)
			fail_msg("row %zu: rc %d attempt %ld elapsed %lld", i, rows[i].rc, rows[i].attempt,
				 (long long)rows[i].elapsed);

	const txn_policy none = { .retry_attempts = 0, .budget_ms = 2000 };
	assert_false(txn_should_retry(DB_ERR_RETRY, 0, &none, 0));
}

/* 1 <= wait <= 2 << min(attempt, 5): never a zero sleep, never unbounded. */
static void backoff_bounds(void **state)
{
	(void)state;
	static const uint32_t randoms[] = { 0, 1, 2, 3, 63, 64, 65, 1000, 65535, 0x7fffffffu, 0xffffffffu };
	for (long attempt = 0; attempt <= 12; attempt++) {
		long window = 2L << (attempt < 5 ? attempt : 5);
		for (size_t i = 0; i < sizeof randoms / sizeof randoms[0]; i++) {
			long ms = txn_backoff_ms(attempt, randoms[i]);
			if (ms < 1 || ms > window)
				fail_msg("attempt %ld random %u: %ld ms outside 1..%ld", attempt, randoms[i], ms, window);
		}
	}
	assert_int_equal(txn_backoff_ms(0, 0), 1);
	assert_int_equal(txn_backoff_ms(0, 1), 2);
	assert_int_equal(txn_backoff_ms(9, 63), 64); /* capped window of 64 */
}

/* Jitter: the random input spreads the wait over the whole window. */
static void backoff_spread(void **state)
{
	(void)state;
	for (long attempt = 0; attempt <= 6; attempt++) {
		long window = 2L << (attempt < 5 ? attempt : 5);
		bool seen[65] = { false };
		for (uint32_t r = 0; r < 1000; r++) {
			long ms = txn_backoff_ms(attempt, r * 2654435761u);
			assert_in_range(ms, 1, window);
			seen[ms] = true;
		}
		long distinct = 0;
		for (long v = 1; v <= window; v++)
			distinct += seen[v];
		if (distinct != window)
			fail_msg("attempt %ld: %ld of %ld values seen", attempt, distinct, window);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(should_retry),
		cmocka_unit_test(backoff_bounds),
		cmocka_unit_test(backoff_spread),
	};
	return cmocka_run_group_tests_name("txn", tests, NULL, NULL);
}
