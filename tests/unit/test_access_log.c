/* core/access_log.c: the access log's line is one JSON object per line,
 * whatever the request brought in its method or request id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/access_log.h"

static access_entry entry(void)
{
	return (access_entry){ .time = "2026-12-04T20:00:00.000Z",
			       .request_id = "0123456789abcdef0123456789abcdef",
			       .method = "POST",
			       .route = "cart_add",
			       .mode = "stock",
			       .cart = "00112233aabbccdd",
			       .status = 200,
			       .duration_ms = 1.5,
			       .db_retries = 2 };
}

static void plain_line(void **state)
{
	(void)state;
	assert_int_equal(access_log_open(NULL), 0); /* off, but the pid is known */
	char out[512], want[512];
	access_entry e = entry();
	size_t n = access_log_format(&e, out, sizeof out);
	snprintf(want, sizeof want,
		 "{\"time\":\"2026-12-04T20:00:00.000Z\",\"request_id\":\"0123456789abcdef0123456789abcdef\","
		 "\"method\":\"POST\",\"route\":\"cart_add\",\"status\":200,\"duration_ms\":1.500,\"mode\":\"stock\","
		 "\"cart\":\"00112233aabbccdd\",\"pid\":%d,\"db_retries\":2}\n",
		 (int)getpid());
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	assert_false(access_log_on());
}

static void escapes_and_null(void **state)
{
	(void)state;
	assert_int_equal(access_log_open(""), 0);
	char out[512];
	access_entry e = entry();
	e.method = "P\"O\\S\nT\x01";
	e.request_id = "";
	e.cart = NULL;
	size_t n = access_log_format(&e, out, sizeof out);
	assert_true(n > 0);
	assert_non_null(strstr(out, "\"method\":\"P\\\"O\\\\S\\u000aT\\u0001\","));
	assert_non_null(strstr(out, "\"request_id\":\"\","));
	assert_non_null(strstr(out, "\"cart\":null,"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1); /* one line, the escaped newline included */
}

static void too_long_is_not_written(void **state)
{
	(void)state;
	char out[64];
	access_entry e = entry();
	assert_int_equal(access_log_format(&e, out, sizeof out), 0);
	/* Exactly the line's length plus its NUL fits; one byte less does not. */
	char big[512];
	size_t n = access_log_format(&e, big, sizeof big);
	assert_true(n > 0);
	char *exact = test_malloc(n + 1);
	assert_int_equal(access_log_format(&e, exact, n + 1), n);
	assert_int_equal(access_log_format(&e, exact, n), 0);
	test_free(exact);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_line),
		cmocka_unit_test(escapes_and_null),
		cmocka_unit_test(too_long_is_not_written),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
