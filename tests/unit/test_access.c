/* http/access.h: who may call an operator route. Loopback only while
 * TRUST_LOOPBACK is on; the admin token opens every operator route, the
 * metrics token /metrics and /status only; unset tokens never match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/access.h"

#define ADMIN "admin-0123456789abcdef0123456789abcdef"
#define METRICS "metrics-fedcba9876543210fedcba98765432"

static const route_id operator_routes[] = { ROUTE_ADMIN_PRODUCT_CREATE, ROUTE_ADMIN_PRODUCT_STOCK, ROUTE_ADMIN_AUDIT,
					    ROUTE_METRICS, ROUTE_STATUS };

static int read_only(route_id r) { return r == ROUTE_METRICS || r == ROUTE_STATUS; }

static void config(stk_config *c, bool trust, const char *admin, const char *metrics)
{
	config_defaults(c);
	c->trust_loopback = trust;
	snprintf(c->admin_token, sizeof c->admin_token, "%s", admin);
	snprintf(c->metrics_token, sizeof c->metrics_token, "%s", metrics);
}

static void every_route_is_operator(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof operator_routes / sizeof operator_routes[0]; i++)
		assert_true(route_is_operator(operator_routes[i]));
}

static void loopback_addresses(void **state)
{
	(void)state;
	assert_true(access_is_loopback("127.0.0.1"));
	assert_true(access_is_loopback("127.1.2.3"));
	assert_true(access_is_loopback("::1"));
	assert_true(access_is_loopback("::ffff:127.0.0.1"));
	assert_false(access_is_loopback(""));
	assert_false(access_is_loopback("10.0.0.1"));
	assert_false(access_is_loopback("128.0.0.1"));
	assert_false(access_is_loopback("::2"));
	assert_false(access_is_loopback("::ffff:10.0.0.1"));
	assert_false(access_is_loopback("1127.0.0.1"));
}

static void loopback_trusted_only_when_configured(void **state)
{
	(void)state;
	stk_config c;
	for (size_t i = 0; i < sizeof operator_routes / sizeof operator_routes[0]; i++) {
		route_id r = operator_routes[i];
		config(&c, true, "", "");
		assert_true(access_operator_allowed(&c, r, "127.0.0.1", ""));
		assert_true(access_operator_allowed(&c, r, "::1", ""));
		assert_false(access_operator_allowed(&c, r, "192.0.2.1", ""));
		/* Off: loopback is nobody in particular, with or without tokens set. */
		config(&c, false, "", "");
		assert_false(access_operator_allowed(&c, r, "127.0.0.1", ""));
		assert_false(access_operator_allowed(&c, r, "::1", "Bearer "));
		config(&c, false, ADMIN, METRICS);
		assert_false(access_operator_allowed(&c, r, "127.0.0.1", ""));
		assert_false(access_operator_allowed(&c, r, "127.0.0.1", "Bearer wrong"));
		assert_true(access_operator_allowed(&c, r, "127.0.0.1", "Bearer " ADMIN));
	}
}

static void tokens_by_route(void **state)
{
	(void)state;
	stk_config c;
	for (int trust = 0; trust <= 1; trust++) {
		config(&c, trust, ADMIN, METRICS);
		for (size_t i = 0; i < sizeof operator_routes / sizeof operator_routes[0]; i++) {
			route_id r = operator_routes[i];
			assert_true(access_operator_allowed(&c, r, "192.0.2.1", "Bearer " ADMIN));
			assert_int_equal(access_operator_allowed(&c, r, "192.0.2.1", "Bearer " METRICS), read_only(r));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", ""));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", "Bearer "));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", "Bearer " ADMIN "x"));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", "Bearer admin"));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", "bearer " ADMIN));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", "Basic " ADMIN));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", ADMIN));
			assert_false(access_operator_allowed(&c, r, "192.0.2.1", "Bearer " METRICS METRICS));
		}
	}
}

static void unset_tokens_never_match(void **state)
{
	(void)state;
	stk_config c;
	config(&c, false, "", METRICS);
	assert_false(access_operator_allowed(&c, ROUTE_ADMIN_AUDIT, "192.0.2.1", "Bearer "));
	assert_false(access_operator_allowed(&c, ROUTE_ADMIN_AUDIT, "192.0.2.1", "Bearer " METRICS));
	assert_true(access_operator_allowed(&c, ROUTE_METRICS, "192.0.2.1", "Bearer " METRICS));
	config(&c, false, ADMIN, "");
	assert_false(access_operator_allowed(&c, ROUTE_METRICS, "192.0.2.1", "Bearer "));
	assert_true(access_operator_allowed(&c, ROUTE_METRICS, "192.0.2.1", "Bearer " ADMIN));
	/* The same value for both: it is the admin token, and opens everything. */
	config(&c, false, ADMIN, ADMIN);
	assert_true(access_operator_allowed(&c, ROUTE_ADMIN_PRODUCT_STOCK, "192.0.2.1", "Bearer " ADMIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_route_is_operator),
		cmocka_unit_test(loopback_addresses),
		cmocka_unit_test(loopback_trusted_only_when_configured),
		cmocka_unit_test(tokens_by_route),
		cmocka_unit_test(unset_tokens_never_match),
	};
	return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
