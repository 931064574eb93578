/* api/api.h view_*: the JSON shapes of the contract, and core/clock.h's
 * timestamp format they use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/api.h"
#include "core/clock.h"

#define HEX32 "0123456789abcdef0123456789abcdef"
#define T_MS 1795624800000LL /* date -u -d @1795624800: 2026-11-25 16:40:00 */
#define T_TEXT "2026-11-25T16:40:00.000Z"

/* o has exactly these keys (comma-separated), no more. */
static void assert_keys(json_object *o, const char *csv)
{
	assert_true(json_object_is_type(o, json_type_object));
	int n = 0;
	for (const char *p = csv; *p; n++) {
		size_t len = strcspn(p, ",");
		char key[64];
		assert_true(len < sizeof key);
		memcpy(key, p, len);
		key[len] = '\0';
		if (!json_object_object_get_ex(o, key, NULL))
			fail_msg("missing key %s in %s", key, json_object_to_json_string(o));
		p += len + (p[len] == ',');
	}
	assert_int_equal(json_object_object_length(o), n);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("missing key %s", key);
	return v;
}

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	if (!json_object_is_type(v, json_type_string))
		fail_msg("%s is not a string", key);
	return json_object_get_string(v);
}

static void clock_format(void **state)
{
	(void)state;
	static const struct { int64_t ms; const char *text; } rows[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 1, "1970-01-01T00:00:00.001Z" },
		{ 999, "1970-01-01T00:00:00.999Z" },
		{ T_MS, T_TEXT },
		{ T_MS + 123, "2026-11-25T16:40:00.123Z" },
		{ T_MS + 59999, "2026-11-25T16:40:59.999Z" },
		{ 951782400000LL, "2000-02-29T00:00:00.000Z" },      /* leap day */
		{ 1700000000000LL, "2023-11-14T22:13:20.000Z" },
		{ 253402300799999LL, "9999-12-31T23:59:59.999Z" },   /* the last that fits */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[25];
		memset(out, 'x', sizeof out);
		clock_format_ms(rows[i].ms, out);
		assert_string_equal(out, rows[i].text);
	}
	/* Out of range values still give 24 characters, never overrun out. */
	static const int64_t odd[] = { -1, -1000, 253402300800000LL, INT64_MAX, INT64_MIN };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		char out[25];
		clock_format_ms(odd[i], out);
		assert_int_equal(strlen(out), 24);
	}
}

static void time_or_null(void **state)
{
	(void)state;
	assert_null(json_time_or_null(0));
	assert_null(json_time_or_null(-5));
	json_object *t = json_time_or_null(T_MS);
	assert_string_equal(json_object_get_string(t), T_TEXT);
	json_object_put(t);
}

static void product_view(void **state)
{
	(void)state;
	product p = { .id = 42, .sku = "SKU-\xc3\xa9", .sku_len = 6, .name = "Widget", .name_len = 6,
		      .price_cents = 1999, .stock = 10, .reserved = 3 };
	json_object *o = view_product(&p);
	assert_keys(o, "id,sku,name,price_cents,stock,reserved,available");
	assert_int_equal(get_int(o, "id"), 42);
	assert_string_equal(get_str(o, "sku"), "SKU-\xc3\xa9");
	assert_string_equal(get_str(o, "name"), "Widget");
	assert_int_equal(get_int(o, "price_cents"), 1999);
	assert_int_equal(get_int(o, "stock"), 10);
	assert_int_equal(get_int(o, "reserved"), 3);
	assert_int_equal(get_int(o, "available"), 7); /* stock - reserved */
	json_object_put(o);

	p.reserved = 10;
	o = view_product(&p);
	assert_int_equal(get_int(o, "available"), 0);
	json_object_put(o);
}

/* next_after: the last id when more may follow, JSON null on the last page
 * (also an empty one), never missing. */
static void product_page_view(void **state)
{
	(void)state;
	product list[2] = {
		{ .id = 7, .sku = "A", .sku_len = 1, .name = "a", .name_len = 1, .price_cents = 1, .stock = 2 },
		{ .id = 9, .sku = "B", .sku_len = 1, .name = "b", .name_len = 1, .price_cents = 1, .stock = 2 },
	};
	json_object *o = view_product_page(list, 2, true);
	assert_keys(o, "items,next_after");
	json_object *items = json_object_object_get(o, "items");
	assert_int_equal(json_object_array_length(items), 2);
	assert_int_equal(get_int(json_object_array_get_idx(items, 1), "id"), 9);
	assert_int_equal(get_int(o, "next_after"), 9);
	json_object_put(o);

	o = view_product_page(list, 2, false);
	assert_keys(o, "items,next_after");
	json_object *next = (json_object *)1;
	assert_true(json_object_object_get_ex(o, "next_after", &next));
	assert_null(next); /* json-c's NULL is JSON null */
	json_object_put(o);

	o = view_product_page(NULL, 0, false);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"items\":[],\"next_after\":null}");
	json_object_put(o);
}

/* Lines: fully held, partly held, not held, and a hold with no line. */
static cart_item items[] = {
	{ .product_id = 1, .quantity = 2, .reserved = 2, .reserved_until = T_MS },
	{ .product_id = 2, .quantity = 5, .reserved = 3, .reserved_until = T_MS + 500 },
	{ .product_id = 3, .quantity = 4, .reserved = 0, .reserved_until = 0 },
	{ .product_id = 4, .quantity = 0, .reserved = 6, .reserved_until = T_MS },
};

static void open_cart_view(void **state)
{
	(void)state;
	cart_view v = { .id = HEX32, .checked_out = false, .nitems = 4, .items = items };
	json_object *o = view_cart(&v);
	assert_keys(o, "cart_id,status,items,warnings");
	assert_string_equal(get_str(o, "cart_id"), HEX32);
	assert_string_equal(get_str(o, "status"), "open");

	json_object *arr = get(o, "items");
	assert_int_equal(json_object_array_length(arr), 4);
	for (size_t i = 0; i < 4; i++) {
		json_object *it = json_object_array_get_idx(arr, i);
		assert_keys(it, "product_id,quantity,reserved,reserved_until");
		assert_int_equal(get_int(it, "product_id"), items[i].product_id);
		assert_int_equal(get_int(it, "quantity"), items[i].quantity);
		assert_int_equal(get_int(it, "reserved"), items[i].reserved);
	}
	assert_string_equal(get_str(json_object_array_get_idx(arr, 0), "reserved_until"), T_TEXT);
	assert_string_equal(get_str(json_object_array_get_idx(arr, 1), "reserved_until"), "2026-11-25T16:40:00.500Z");
	assert_null(get(json_object_array_get_idx(arr, 2), "reserved_until")); /* JSON null */

	/* Warnings: only where quantity > reserved (products 2 and 3). */
	json_object *w = get(o, "warnings");
	assert_int_equal(json_object_array_length(w), 2);
	json_object *w2 = json_object_array_get_idx(w, 0), *w3 = json_object_array_get_idx(w, 1);
	assert_keys(w2, "product_id,code,message,quantity,reserved");
	assert_int_equal(get_int(w2, "product_id"), 2);
	assert_string_equal(get_str(w2, "code"), "not_reserved");
	assert_int_equal(get_int(w2, "quantity"), 5);
	assert_int_equal(get_int(w2, "reserved"), 3);
	assert_true(get_str(w2, "message")[0] != '\0');
	assert_int_equal(get_int(w3, "product_id"), 3);
	assert_int_equal(get_int(w3, "quantity"), 4);
	assert_int_equal(get_int(w3, "reserved"), 0);
	assert_string_not_equal(get_str(w2, "message"), get_str(w3, "message")); /* part vs none */
	json_object_put(o);
}

/* A checked-out cart sold everything: no warnings, whatever the numbers. */
static void checked_out_cart_view(void **state)
{
	(void)state;
	cart_item sold[] = { { .product_id = 9, .quantity = 3, .reserved = 0, .reserved_until = 0 } };
	cart_view v = { .id = HEX32, .checked_out = true, .nitems = 1, .items = sold };
	json_object *o = view_cart(&v);
	assert_string_equal(get_str(o, "status"), "checked_out");
	assert_int_equal(json_object_array_length(get(o, "items")), 1);
	assert_int_equal(json_object_array_length(get(o, "warnings")), 0);
	json_object_put(o);

	cart_view empty = { .id = HEX32, .checked_out = false, .nitems = 0, .items = NULL };
	o = view_cart(&empty);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"cart_id\":\"" HEX32 "\",\"status\":\"open\",\"items\":[],\"warnings\":[]}");
	json_object_put(o);
}

static void order_view(void **state)
{
	(void)state;
	order_line lines[] = { { 1, 2, 500 }, { 7, 1, 1999 } };
	order ord = { .order_id = 77, .total_cents = 2999, .cart_id = HEX32, .nlines = 2, .lines = lines };
	json_object *o = view_order(&ord);
	assert_keys(o, "order_id,cart_id,items,total_cents");
	assert_int_equal(get_int(o, "order_id"), 77);
	assert_string_equal(get_str(o, "cart_id"), HEX32);
	assert_int_equal(get_int(o, "total_cents"), 2999);
	json_object *arr = get(o, "items");
	assert_int_equal(json_object_array_length(arr), 2);
	for (size_t i = 0; i < 2; i++) {
		json_object *it = json_object_array_get_idx(arr, i);
		assert_keys(it, "product_id,quantity,price_cents");
		assert_int_equal(get_int(it, "product_id"), lines[i].product_id);
		assert_int_equal(get_int(it, "quantity"), lines[i].quantity);
		assert_int_equal(get_int(it, "price_cents"), lines[i].price_cents);
	}
	json_object_put(o);
}

static void hold_view(void **state)
{
	(void)state;
	hold_state h = { .reserved = 4, .reserved_until = T_MS, .available = 11 };
	json_object *o = view_hold(HEX32, 5, &h);
	assert_keys(o, "cart_id,product_id,reserved,reserved_until,available");
	assert_string_equal(get_str(o, "cart_id"), HEX32);
	assert_int_equal(get_int(o, "product_id"), 5);
	assert_int_equal(get_int(o, "reserved"), 4);
	assert_string_equal(get_str(o, "reserved_until"), T_TEXT);
	assert_int_equal(get_int(o, "available"), 11);
	json_object_put(o);

	hold_state gone = { .reserved = 0, .reserved_until = 0, .available = 15 };
	o = view_hold(HEX32, 5, &gone);
	assert_null(get(o, "reserved_until"));
	assert_int_equal(get_int(o, "reserved"), 0);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clock_format),
		cmocka_unit_test(time_or_null),
		cmocka_unit_test(product_view),
		cmocka_unit_test(product_page_view),
		cmocka_unit_test(open_cart_view),
		cmocka_unit_test(checked_out_cart_view),
		cmocka_unit_test(order_view),
		cmocka_unit_test(hold_view),
	};
	return cmocka_run_group_tests_name("views", tests, NULL, NULL);
}
