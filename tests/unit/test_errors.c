/* api/errors.c: what a failure answers. A COMMIT lost in flight is the one
 * failure that cannot say "nothing was changed" (contract, invariant 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/api.h"

typedef struct {
	http_request req;
	http_response resp;
	dom_ctx dom;
	api_ctx c;
} fixture;

static void setup(fixture *f, bool with_key)
{
	memset(f, 0, sizeof *f);
	f->req.has_idempotency_key = with_key;
	http_response_init(&f->resp);
	f->c = (api_ctx){ .req = &f->req, .resp = &f->resp, .dom = &f->dom };
}

static const char *message(fixture *f, const char *want_code)
{
	json_object *err, *v;
	assert_true(json_object_object_get_ex(f->resp.json, "error", &err));
	assert_true(json_object_object_get_ex(err, "code", &v));
	assert_string_equal(json_object_get_string(v), want_code);
	assert_true(json_object_object_get_ex(err, "message", &v));
	return json_object_get_string(v);
}

static void commit_lost_says_outcome_unknown(void **state)
{
	(void)state;
	for (int with_key = 0; with_key <= 1; with_key++) {
		fixture f;
		setup(&f, with_key);
		api_fail(&f.c, DB_ERR_UNKNOWN, NULL);
		assert_int_equal(f.resp.status, 503);
		const char *msg = message(&f, "database_unavailable");
		assert_non_null(strstr(msg, "outcome is unknown"));
		assert_null(strstr(msg, "nothing was changed"));
		/* what resolves it: the key, named either way */
		assert_non_null(strstr(msg, with_key ? "Retry with the same Idempotency-Key" : "Idempotency-Key"));
		http_response_free(&f.resp);
	}
}

static void lost_before_commit_changed_nothing(void **state)
{
	(void)state;
	fixture f;
	setup(&f, true);
	api_fail(&f.c, DB_ERR_GONE, NULL);
	assert_int_equal(f.resp.status, 503);
	assert_non_null(strstr(message(&f, "database_unavailable"), "nothing was changed"));
	http_response_free(&f.resp);
}

/* A handler that named a new cart in a cookie, then failed to commit it. */
static void error_answer_drops_the_cookie(void **state)
{
	(void)state;
	fixture f;
	setup(&f, true);
	strcpy(f.resp.set_cookie, "cart_id=0123456789abcdef0123456789abcdef; Path=/");
	api_fail(&f.c, DB_ERR_UNKNOWN, NULL);
	assert_string_equal(f.resp.set_cookie, "");
	http_response_free(&f.resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_lost_says_outcome_unknown),
		cmocka_unit_test(lost_before_commit_changed_nothing),
		cmocka_unit_test(error_answer_drops_the_cookie),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
