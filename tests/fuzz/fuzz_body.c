/* libFuzzer target: a request body, through the same decoding and
 * validation the handlers do (app/api/fields.c, cart.c, stock.c, admin.c):
 * parse_json_object, then every field getter on every field a route reads.
 * Properties checked beyond "no crash, no leak, no UB": what a getter says
 * is OK really is in its range, and a string it returns has the length and
 * character count it promised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/validate.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* json-c's default string hash is seeded at random: the perl-like one
	 * keeps every run of an input the same. */
	json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE);
	return 0;
}

static void int_field(json_object *o, const char *name, int64_t lo, int64_t hi)
{
	int64_t v = 0;
	int rc = field_int(o, name, lo, hi, &v);
	CHECK(rc == FIELD_OK || rc == FIELD_MISSING || rc == FIELD_BAD);
	if (rc == FIELD_OK)
		CHECK(v >= lo && v <= hi);
}

static void string_field(json_object *o, const char *name, long min, long max)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = field_string(o, name, min, max, &s, &len);
	CHECK(rc == FIELD_OK || rc == FIELD_MISSING || rc == FIELD_BAD);
	if (rc == FIELD_OK) {
		CHECK(s != NULL);
		long chars = utf8_chars(s, len);
		CHECK(chars >= min && chars <= max);
		CHECK((size_t)chars <= len && len <= (size_t)max * 4);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *o = parse_json_object((const char *)data, size);
	if (o == NULL)
		return 0;
	CHECK(json_object_is_type(o, json_type_object));

	/* cart routes, stock reserve/release (fields.c) */
	const char *cart = NULL;
	int rc = field_cart_id(o, "cart_id", &cart);
	CHECK(rc == FIELD_OK || rc == FIELD_MISSING || rc == FIELD_BAD);
	if (rc == FIELD_OK)
		CHECK(valid_cart_id(cart, strlen(cart)));
	int_field(o, "product_id", 1, INT64_MAX);
	int_field(o, "quantity", 1, QUANTITY_MAX);
	const char *flags[] = { "decrease_stock", "increase_stock" };
	for (size_t i = 0; i < 2; i++) {
		bool b = false;
		rc = field_bool(o, flags[i], &b);
		CHECK(rc == FIELD_OK || rc == FIELD_MISSING || rc == FIELD_BAD);
	}

	/* admin product create (admin.c) */
	string_field(o, "sku", 1, 64);
	string_field(o, "name", 1, 200);
	int_field(o, "price_cents", 0, 1000000000000LL);
	int_field(o, "stock", 0, 1000000000000LL);

	/* admin product stock: exactly one of set or delta (admin.c) */
	int has_set = json_object_object_get_ex(o, "set", NULL);
	int has_delta = json_object_object_get_ex(o, "delta", NULL);
	if (has_set != has_delta) {
		int_field(o, "set", 0, 1000000000000LL);
		int_field(o, "delta", -1000000, 1000000);
	}
	int_field(o, "set", INT64_MIN, INT64_MAX);
	int_field(o, "delta", INT64_MIN, INT64_MAX);

	json_object_put(o);
	return 0;
}
