/* domain/hold_math.h: the arithmetic behind holds and checkout, on its own.
 * Boundaries are exact: one unit either way changes the answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain/domain.h"
#include "domain/hold_math.h"

static void can_take(void **state)
{
	(void)state;
	static const struct { int64_t held, quantity, available, max_hold; int want; } rows[] = {
		{ 0, 1, 1, 1000, DOM_OK },
		{ 0, 5, 5, 1000, DOM_OK },                    /* all that is available */
		{ 0, 6, 5, 1000, DOM_INSUFFICIENT_STOCK },    /* one more than available */
		{ 0, 1, 0, 1000, DOM_INSUFFICIENT_STOCK },
		{ 0, 1, -3, 1000, DOM_INSUFFICIENT_STOCK },   /* oversold: nothing to give */
		{ 990, 10, 50, 1000, DOM_OK },                /* reaches the cap exactly */
		{ 990, 11, 50, 1000, DOM_QUANTITY_LIMIT },    /* one past the cap */
		{ 0, 1000, 1000, 1000, DOM_OK },
		{ 0, 1001, 5000, 1000, DOM_QUANTITY_LIMIT },
		{ 3, 2, 2, 5, DOM_OK },                       /* the held units are not "available" */
		{ 3, 3, 100, 5, DOM_QUANTITY_LIMIT },
		/* Over the cap and short of stock: the cap is reported. */
		{ 990, 20, 5, 1000, DOM_QUANTITY_LIMIT },
		{ 0, 2, 1, 1, DOM_QUANTITY_LIMIT },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int got = hold_can_take(rows[i].held, rows[i].quantity, rows[i].available, rows[i].max_hold);
		if (got != rows[i].want)
			fail_msg("row %zu: got %d want %d", i, got, rows[i].want);
	}
}

static void release_amount(void **state)
{
	(void)state;
	static const struct { int64_t held, requested, want; } rows[] = {
		{ 10, 0, 10 },  /* 0 = all of it */
		{ 10, 3, 3 },
		{ 10, 10, 10 },
		{ 10, 11, 10 }, /* never more than held */
		{ 10, 1000, 10 },
		{ 0, 5, 0 },
		{ 0, 0, 0 },
		{ 1, 1, 1 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t got = hold_clamp_removal(rows[i].held, rows[i].requested);
		if (got != rows[i].want)
			fail_msg("row %zu: got %lld want %lld", i, (long long)got, (long long)rows[i].want);
	}
}

static void plan(void **state)
{
	(void)state;
	static const struct {
		const char *why;
		checkout_in in;
		checkout_out want;
	} rows[] = {
		{ "hold covers all", { 5, 5, 0 }, { 1, 5, -5, -5 } },
		{ "hold covers all, stock to spare", { 5, 5, 20 }, { 1, 25, -5, -5 } },
		{ "partial hold + available, exactly", { 5, 2, 3 }, { 1, 5, -5, -2 } },
		{ "no hold, from available", { 4, 0, 4 }, { 1, 4, -4, 0 } },
		{ "not enough", { 5, 2, 2 }, { 0, 4, -5, -2 } },
		{ "nothing at all", { 1, 0, 0 }, { 0, 0, -1, 0 } },
		{ "negative available is 0", { 3, 3, -2 }, { 1, 3, -3, -3 } },
		{ "negative available, short", { 4, 3, -2 }, { 0, 3, -4, -3 } },
		{ "surplus hold released", { 2, 5, 10 }, { 1, 15, -2, -5 } },
		{ "hold without a line", { 0, 4, 0 }, { 1, 4, 0, -4 } },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		checkout_out got = checkout_plan(rows[i].in);
		const checkout_out *w = &rows[i].want;
		if (!!got.ok != w->ok || got.sellable != w->sellable || got.stock_delta != w->stock_delta ||
		    got.reserved_delta != w->reserved_delta)
			fail_msg("%s: got ok %d sellable %lld stock %lld reserved %lld", rows[i].why, got.ok,
				 (long long)got.sellable, (long long)got.stock_delta, (long long)got.reserved_delta);
	}
}

/* The largest orders the limits allow: 10,000 lines x 1,000 units x 10^12
 * cents; the total must stop one step short of INT64_MAX, never wrap. */
static void total(void **state)
{
	(void)state;
	int64_t t = 0;
	assert_true(order_total_add(&t, 1000, 1000000000000LL));
	assert_int_equal(t, 1000000000000000LL);
	t = 0;
	int64_t lines = 0;
	while (order_total_add(&t, 1000, 1000000000000LL))
		lines++;
	assert_int_equal(lines, 9223);                /* INT64_MAX / 10^15 */
	assert_int_equal(t, 9223000000000000000LL);   /* unchanged by the refused line */
	t = INT64_MAX - 5;
	assert_true(order_total_add(&t, 5, 1));       /* exactly INT64_MAX */
	assert_int_equal(t, INT64_MAX);
	assert_false(order_total_add(&t, 1, 1));      /* one past */
	t = 0;
	assert_false(order_total_add(&t, INT64_MAX / 2 + 1, 2)); /* the product itself overflows */
	assert_int_equal(t, 0);
	assert_true(order_total_add(&t, 0, INT64_MAX));
	assert_int_equal(t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(can_take),
		cmocka_unit_test(release_amount),
		cmocka_unit_test(plan),
		cmocka_unit_test(total),
	};
	return cmocka_run_group_tests_name("hold_math", tests, NULL, NULL);
}
