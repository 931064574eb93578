/* api/api.h: a handler's check answers API_GO_ON, or API_ANSWERED having
 * filled the response; nothing else (core/result.h keeps the families'
 * ranges apart, so a stray 1 or -1 would pass for another family's code). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/api.h"
#include "api/validate.h"

#define HEX32 "0123456789abcdef0123456789abcdef"

/* Run h's check on body in stock mode; returns its result, *status the
 * response's status if an answer was made, else 0. */
static int run_check(const api_handler *h, const char *body, int *status)
{
	api_ctx c;
	http_response resp;
	memset(&c, 0, sizeof c);
	http_response_init(&resp);
	c.resp = &resp;
	c.mode = MODE_STOCK;
	c.body = parse_json_object(body, strlen(body));
	assert_non_null(c.body);
	int rc = h->check(&c);
	*status = resp.json != NULL ? resp.status : 0;
	json_object_put(c.body);
	http_response_free(&resp);
	return rc;
}

static void bad_input_is_answered(void **state)
{
	(void)state;
	struct {
		const api_handler *h;
		const char *body;
	} rows[] = {
		{ &api_cart_add, "{\"product_id\":1,\"quantity\":1}" },
		{ &api_cart_add, "{\"cart_id\":\"" HEX32 "\",\"product_id\":0,\"quantity\":1}" },
		{ &api_cart_add, "{\"cart_id\":\"" HEX32 "\",\"product_id\":1,\"quantity\":1,\"decrease_stock\":1}" },
		{ &api_cart_remove, "{\"cart_id\":\"" HEX32 "\",\"product_id\":1,\"increase_stock\":\"yes\"}" },
		{ &api_cart_checkout, "{\"cart_id\":\"xyz\"}" },
		{ &api_stock_reserve, "{\"cart_id\":\"" HEX32 "\",\"product_id\":1}" },
		{ &api_stock_release, "{\"product_id\":1}" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int status;
		int rc = run_check(rows[i].h, rows[i].body, &status);
		if (rc != API_ANSWERED || status != 400)
			fail_msg("%s: check returned %d with status %d, not API_ANSWERED and 400", rows[i].body, rc, status);
	}
}

static void good_input_goes_on(void **state)
{
	(void)state;
	int status;
	assert_int_equal(run_check(&api_cart_add, "{\"cart_id\":\"" HEX32 "\",\"product_id\":1,\"quantity\":2,"
						  "\"decrease_stock\":true}", &status),
			 API_GO_ON);
	assert_int_equal(status, 0);
	assert_int_equal(run_check(&api_cart_remove, "{\"cart_id\":\"" HEX32 "\",\"product_id\":1}", &status),
			 API_GO_ON);
	assert_int_equal(run_check(&api_stock_reserve, "{\"cart_id\":\"" HEX32 "\",\"product_id\":1,\"quantity\":1}",
				   &status),
			 API_GO_ON);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_input_is_answered),
		cmocka_unit_test(good_input_goes_on),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
