/* http/router.h: every route of the contract, the 404/405 split, and the
 * per-route flags that decide authentication and idempotency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/router.h"

#define HEX32 "0123456789abcdef0123456789abcdef"

static void every_route_matches(void **state)
{
	(void)state;
	static const struct { const char *method, *path; route_id id; const char *param; } rows[] = {
		{ "GET", "/api/products/5", ROUTE_PRODUCT_GET, "5" },
		{ "GET", "/api/products/abc", ROUTE_PRODUCT_GET, "abc" }, /* the handler validates it */
		{ "GET", "/api/products", ROUTE_PRODUCT_LIST, NULL },
		{ "GET", "/api/stock", ROUTE_STOCK_LIST, NULL },
		{ "POST", "/api/cart", ROUTE_CART_CREATE, NULL },
		{ "GET", "/api/cart/" HEX32, ROUTE_CART_GET, HEX32 },
		{ "POST", "/api/cart/add", ROUTE_CART_ADD, NULL },
		{ "DELETE", "/api/cart/remove", ROUTE_CART_REMOVE, NULL },
		{ "POST", "/api/cart/checkout", ROUTE_CART_CHECKOUT, NULL },
		{ "POST", "/api/stock/reserve", ROUTE_STOCK_RESERVE, NULL },
		{ "POST", "/api/stock/release", ROUTE_STOCK_RELEASE, NULL },
		{ "POST", "/api/admin/products", ROUTE_ADMIN_PRODUCT_CREATE, NULL },
		{ "POST", "/api/admin/products/5/stock", ROUTE_ADMIN_PRODUCT_STOCK, "5" },
		{ "POST", "/api/admin/products/123456/stock", ROUTE_ADMIN_PRODUCT_STOCK, "123456" },
		{ "GET", "/api/admin/audit", ROUTE_ADMIN_AUDIT, NULL },
		{ "GET", "/metrics", ROUTE_METRICS, NULL },
		{ "GET", "/healthz", ROUTE_HEALTHZ, NULL },
		{ "GET", "/readyz", ROUTE_READYZ, NULL },
		{ "GET", "/status", ROUTE_STATUS, NULL },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		route_match m = router_match(rows[i].method, rows[i].path);
		if (m.status != 0 || m.id != rows[i].id)
			fail_msg("%s %s -> status %d id %d", rows[i].method, rows[i].path, m.status, (int)m.id);
		if (rows[i].param == NULL) {
			assert_null(m.param);
		} else {
			assert_non_null(m.param);
			assert_int_equal(m.param_len, strlen(rows[i].param));
			assert_memory_equal(m.param, rows[i].param, m.param_len);
		}
	}
}

/* A known path with the wrong method is 405 naming the methods it takes;
 * literal paths are never read as a {} parameter of another route. */
static void wrong_method_is_405(void **state)
{
	(void)state;
	static const struct { const char *method, *path, *allow; } rows[] = {
		{ "GET", "/api/cart/add", "POST" },
		{ "PUT", "/api/cart/add", "POST" },
		{ "DELETE", "/api/cart/add", "POST" },
		{ "GET", "/api/cart/checkout", "POST" },
		{ "POST", "/api/cart/remove", "DELETE" },
		{ "GET", "/api/cart/remove", "DELETE" },
		{ "POST", "/api/cart/" HEX32, "GET" },
		{ "DELETE", "/api/cart/" HEX32, "GET" },
		{ "GET", "/api/cart", "POST" },
		{ "PUT", "/api/cart", "POST" },
		{ "POST", "/api/products/5", "GET" },
		{ "POST", "/api/products", "GET" },
		{ "OPTIONS", "/api/products", "GET" },
		{ "OPTIONS", "/api/cart/remove", "DELETE" },
		{ "POST", "/api/stock", "GET" },
		{ "GET", "/api/stock/reserve", "POST" },
		{ "GET", "/api/stock/release", "POST" },
		{ "GET", "/api/admin/products", "POST" },
		{ "GET", "/api/admin/products/5/stock", "POST" },
		{ "POST", "/api/admin/audit", "GET" },
		{ "POST", "/metrics", "GET" },
		{ "POST", "/healthz", "GET" },
		{ "HEAD", "/readyz", "GET" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		route_match m = router_match(rows[i].method, rows[i].path);
		if (m.status != 405 || strcmp(m.allow, rows[i].allow) != 0)
			fail_msg("%s %s -> status %d allow \"%s\", want 405 \"%s\"", rows[i].method, rows[i].path,
				 m.status, m.allow, rows[i].allow);
	}
}

static void unknown_paths_are_404(void **state)
{
	(void)state;
	static const struct { const char *method, *path; } rows[] = {
		{ "GET", "/api/stock/" }, { "GET", "/api/stock/x" }, { "GET", "/api/nope" },
		{ "GET", "/api" }, { "GET", "/api/" }, { "GET", "/" }, { "GET", "" },
		{ "GET", "/api/products/" }, { "GET", "/api/productsx" }, { "GET", "/api/products/1/x" },
		{ "POST", "/api/products/5/stock" }, /* admin stock lives under /api/admin */
		{ "GET", "/api/cart/" }, { "GET", "/api/cart/abc/def" }, { "POST", "/api/cart/add/x" },
		{ "POST", "/api/cart/add/" }, { "POST", "/api/stock/reserve/1" },
		{ "GET", "/api/admin/products/1/stockx" }, { "POST", "/api/admin/products//stock" },
		{ "POST", "/api/admin/nope" }, { "GET", "/nope" }, { "GET", "/API/products/1" },
		{ "GET", "/metrics/" }, { "GET", "/healthzz" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		route_match m = router_match(rows[i].method, rows[i].path);
		if (m.status != 404 || m.id != ROUTE_NOT_FOUND || m.allow[0] != '\0')
			fail_msg("%s \"%s\" -> status %d id %d allow \"%s\"", rows[i].method, rows[i].path, m.status,
				 (int)m.id, m.allow);
	}
}

/* Names are metric labels (stockd_requests_total{route=...}): stable. */
static void route_names(void **state)
{
	(void)state;
	static const struct { route_id id; const char *name; } rows[] = {
		{ ROUTE_PRODUCT_GET, "product_get" },
		{ ROUTE_PRODUCT_LIST, "product_list" },
		{ ROUTE_STOCK_LIST, "stock_list" },
		{ ROUTE_CART_CREATE, "cart_create" },
		{ ROUTE_CART_GET, "cart_get" },
		{ ROUTE_CART_ADD, "cart_add" },
		{ ROUTE_CART_REMOVE, "cart_remove" },
		{ ROUTE_CART_CHECKOUT, "cart_checkout" },
		{ ROUTE_STOCK_RESERVE, "stock_reserve" },
		{ ROUTE_STOCK_RELEASE, "stock_release" },
		{ ROUTE_ADMIN_PRODUCT_CREATE, "admin_product_create" },
		{ ROUTE_ADMIN_PRODUCT_STOCK, "admin_product_stock" },
		{ ROUTE_ADMIN_AUDIT, "admin_audit" },
		{ ROUTE_METRICS, "metrics" },
		{ ROUTE_HEALTHZ, "healthz" },
		{ ROUTE_READYZ, "readyz" },
		{ ROUTE_STATUS, "status" },
		{ ROUTE_NOT_FOUND, "not_found" },
		{ ROUTE_PREFLIGHT, "cors_preflight" },
	};
	assert_int_equal(sizeof rows / sizeof rows[0], ROUTE_SLOTS);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		assert_string_equal(route_name(rows[i].id), rows[i].name);
}

/* Operator routes need loopback or the admin token; write routes take an
 * Idempotency-Key. Checked for every id, so a new route must be classified. */
static void route_flags(void **state)
{
	(void)state;
	for (int id = 0; id < ROUTE_SLOTS; id++) {
		int op = id == ROUTE_ADMIN_PRODUCT_CREATE || id == ROUTE_ADMIN_PRODUCT_STOCK ||
			 id == ROUTE_ADMIN_AUDIT || id == ROUTE_METRICS || id == ROUTE_STATUS;
		int write = id == ROUTE_CART_CREATE || id == ROUTE_CART_ADD || id == ROUTE_CART_REMOVE ||
			    id == ROUTE_CART_CHECKOUT || id == ROUTE_STOCK_RESERVE || id == ROUTE_STOCK_RELEASE ||
			    id == ROUTE_ADMIN_PRODUCT_CREATE || id == ROUTE_ADMIN_PRODUCT_STOCK;
		if (!!route_is_operator((route_id)id) != op)
			fail_msg("route_is_operator(%s) != %d", route_name((route_id)id), op);
		if (!!route_is_write((route_id)id) != write)
			fail_msg("route_is_write(%s) != %d", route_name((route_id)id), write);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_route_matches),
		cmocka_unit_test(wrong_method_is_405),
		cmocka_unit_test(unknown_paths_are_404),
		cmocka_unit_test(route_names),
		cmocka_unit_test(route_flags),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
