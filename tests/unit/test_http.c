/* http/request.h and http/response.h, the parts that need no FastCGI
 * connection: CONTENT_LENGTH, Content-Type, the error body and status text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/request.h"
#include "http/response.h"

static void content_length(void **state)
{
	(void)state;
	static const struct { const char *s; int rc; size_t n; } rows[] = {
		{ "", 0, 0 },
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "65536", 0, 65536 },
		{ "65537", 1, 0 },
		{ "100000", 1, 0 },
		{ "1234567890123456789012345678901234567890", 1, 0 }, /* no overflow wrap to small */
		{ "18446744073709551616", 1, 0 },                     /* 2^64 would wrap to 0 */
		{ "-1", -1, 0 }, { "+1", -1, 0 }, { "1e3", -1, 0 }, { " 5", -1, 0 }, { "5 ", -1, 0 },
		{ "5\n", -1, 0 }, { "0x10", -1, 0 }, { "1.0", -1, 0 }, { "abc", -1, 0 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t n = 12345;
		int rc = http_parse_content_length(rows[i].s, HTTP_MAX_BODY, &n);
		if (rc != rows[i].rc || (rc == 0 && n != rows[i].n))
			fail_msg("\"%s\" -> rc %d n %zu", rows[i].s, rc, n);
	}
	size_t n = 1;
	assert_int_equal(http_parse_content_length(NULL, HTTP_MAX_BODY, &n), 0); /* absent */
	assert_int_equal(n, 0);
}

static void json_content_type(void **state)
{
	(void)state;
	static const struct { const char *ct; int rc; } rows[] = {
		{ NULL, 0 }, { "", 0 },
		{ "application/json", 0 },
		{ "Application/JSON", 0 },
		{ "application/json; charset=utf-8", 0 },
		{ "application/json;charset=UTF-8", 0 },
		{ "application/json; charset=\"utf-8\"", 0 },
		{ "application/json ;charset=utf-8", 0 },    /* OWS before the ";" */
		{ "text/plain", -1 },
		{ "application/json; charset=latin1", -1 },
		{ "application/json; charset=iso-8859-1", -1 },
		{ "application/json; charset=utf-16", -1 },
		{ "application/jsonx", -1 },
		{ "application/json-patch+json", -1 },
		{ "application/x-www-form-urlencoded", -1 },
		{ "multipart/form-data; boundary=x", -1 },
		{ "application/xml", -1 },
		{ "json", -1 },
		{ "application/json; charset=utf-8; charset=latin1", -1 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (http_check_json_type(rows[i].ct) != rows[i].rc)
			fail_msg("\"%s\" should give %d", rows[i].ct ? rows[i].ct : "(null)", rows[i].rc);
}

static void error_shape(void **state)
{
	(void)state;
	http_response r;
	http_response_init(&r);
	json_object *err = resp_error(&r, 404, "not_found", "No such cart.");
	assert_non_null(err);
	assert_int_equal(r.status, 404);
	/* The returned object is the inner one: details added to it appear there. */
	json_object_object_add(err, "available", json_object_new_int64(3));
	size_t len;
	const char *body = resp_body_text(&r, &len);
	assert_string_equal(body, "{\"error\":{\"code\":\"not_found\",\"message\":\"No such cart.\",\"available\":3}}");
	assert_int_equal(len, strlen(body));
	http_response_free(&r);

	http_response_init(&r);
	resp_error_field(&r, "quantity", "An integer in 1..1000.");
	assert_int_equal(r.status, 400);
	body = resp_body_text(&r, &len);
	assert_string_equal(body, "{\"error\":{\"code\":\"invalid_request\",\"message\":\"An integer in 1..1000.\","
				  "\"field\":\"quantity\"}}");
	http_response_free(&r);
}

/* The text is made once and kept: what is sent is what the idempotency
 * store saves, even if the object changed in between. */
static void body_text_serialised_once(void **state)
{
	(void)state;
	http_response r;
	http_response_init(&r);
	size_t len = 99;
	assert_string_equal(resp_body_text(&r, &len), ""); /* no body at all */
	assert_int_equal(len, 0);

	json_object *o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string("a/b"));
	resp_json(&r, 201, o);
	const char *t1 = resp_body_text(&r, &len);
	assert_string_equal(t1, "{\"path\":\"a/b\"}"); /* plain, and no "\/" */
	json_object_object_add(o, "later", json_object_new_int(1));
	const char *t2 = resp_body_text(&r, &len);
	assert_ptr_equal(t1, t2);
	assert_string_equal(t2, "{\"path\":\"a/b\"}");
	assert_int_equal(len, strlen(t2));

	/* A new body drops the old text. */
	resp_error(&r, 409, "cart_closed", "Closed.");
	assert_string_equal(resp_body_text(&r, &len), "{\"error\":{\"code\":\"cart_closed\",\"message\":\"Closed.\"}}");
	assert_int_equal(r.status, 409);
	http_response_free(&r);
}

static void status_text(void **state)
{
	(void)state;
	static const struct { int status; const char *text; } rows[] = {
		{ 200, "OK" }, { 201, "Created" }, { 400, "Bad Request" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 409, "Conflict" },
		{ 413, "Payload Too Large" }, { 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Entity" }, { 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 503, "Service Unavailable" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		assert_string_equal(http_status_text(rows[i].status), rows[i].text);
	/* A code the table lacks still gets a reason phrase (a Status line
	 * needs one), and a fixed one: never another code's text. */
	assert_string_equal(http_status_text(299), "Unknown");
	assert_string_equal(http_status_text(0), "Unknown");
	assert_string_equal(http_status_text(-1), "Unknown");
}

/* Every cookie the app sets carries the same attributes; Secure exactly
 * when the request came over HTTPS. */
static void cookie_attributes(void **state)
{
	(void)state;
	http_response r;
	http_response_init(&r);
	const char *id = "0123456789abcdef0123456789abcdef";
	assert_int_equal(resp_set_cookie(&r, "cart_id", id, 0), 0);
	assert_string_equal(r.set_cookie, "cart_id=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; SameSite=Lax");
	assert_int_equal(resp_set_cookie(&r, "cart_id", id, 1), 0);
	assert_string_equal(r.set_cookie,
			    "cart_id=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; SameSite=Lax; Secure");
	/* Too long: refused whole, never a cookie cut before its attributes. */
	char big[sizeof r.set_cookie];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(resp_set_cookie(&r, "x", big, 1), -1);
	assert_string_equal(r.set_cookie, "");
	http_response_free(&r);
}

static void https_param(void **state)
{
	(void)state;
	assert_int_equal(http_https_param("on"), 1);
	assert_int_equal(http_https_param("ON"), 1);
	assert_int_equal(http_https_param("1"), 1);
	assert_int_equal(http_https_param(""), 0);
	assert_int_equal(http_https_param("off"), 0);
	assert_int_equal(http_https_param("0"), 0);
	assert_int_equal(http_https_param("onx"), 0);
	assert_int_equal(http_https_param("https"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(content_length),
		cmocka_unit_test(json_content_type),
		cmocka_unit_test(error_shape),
		cmocka_unit_test(body_text_serialised_once),
		cmocka_unit_test(status_text),
		cmocka_unit_test(cookie_attributes),
		cmocka_unit_test(https_param),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
