/* core/origins.h and http/cors.h: which ALLOWED_ORIGINS lists are accepted,
 * and which requests get CORS answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/origins.h"
#include "http/cors.h"

static void good_lists_normalise(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } rows[] = {
		{ "", "" },
		{ "   ", "" },
		{ "https://shop.example", "https://shop.example" },
		{ "https://shop.example, http://127.0.0.1:8081", "https://shop.example,http://127.0.0.1:8081" },
		{ " http://localhost:3000 ,\thttps://a.b.c.example ", "http://localhost:3000,https://a.b.c.example" },
		{ "https://[::1]:8443", "https://[::1]:8443" },
		{ "http://[2001:db8::1]", "http://[2001:db8::1]" },
		{ "https://xn--bcher-kva.example", "https://xn--bcher-kva.example" },
		{ "https://shop.example:80", "https://shop.example:80" }, /* not https's default port */
		{ "http://shop.example:443", "http://shop.example:443" },
		{ "http://a-b.example:65535", "http://a-b.example:65535" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[256], err[200] = "";
		if (origins_normalize(rows[i].in, out, sizeof out, err, sizeof err) != 0)
			fail_msg("\"%s\" refused: %s", rows[i].in, err);
		assert_string_equal(out, rows[i].out);
	}
}

/* Every entry a browser could never send, or that would open more than the
 * operator meant, is a configuration error naming the entry. */
static void bad_lists_are_refused(void **state)
{
	(void)state;
	static const char *rows[] = {
		"*", "null", "https://*.shop.example", ",", "https://a.example,", ",https://a.example",
		"https://a.example,,https://b.example", "https://a.example, ,https://b.example",
		"shop.example", "//shop.example", "https:/shop.example", "HTTPS://shop.example", "https://Shop.example",
		"ftp://shop.example", "ws://shop.example", "https://", "http://",
		"https://shop.example/", "https://shop.example/path", "https://shop.example?x", "https://shop.example#x",
		"https://user@shop.example", "https://shop.example:", "https://shop.example:0", "https://shop.example:080",
		"https://shop.example:65536", "https://shop.example:99999999", "https://shop.example:8a",
		"https://shop.example:443", "http://shop.example:80", "https://shop..example", "https://.shop.example",
		"https://shop.example.", "https://-shop.example", "https://shop-.example", "https://sh_op.example",
		"https://sh op.example", "https://shop.example https://b.example", "https://[::1", "https://[]",
		"https://[::1]x", "https://[g::1]", "https://b\xc3\xbc" "cher.example",
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[256] = "unchanged?", err[200] = "";
		if (origins_normalize(rows[i], out, sizeof out, err, sizeof err) != -1)
			fail_msg("\"%s\" accepted as \"%s\"", rows[i], out);
		if (strstr(err, "ALLOWED_ORIGINS") == NULL)
			fail_msg("\"%s\": message \"%s\" does not name the setting", rows[i], err);
	}
	/* A label of 64 characters is not a DNS name. */
	char longlabel[100] = "https://";
	memset(longlabel + 8, 'a', 64);
	strcpy(longlabel + 72, ".example");
	char out[256], err[200];
	assert_int_equal(origins_normalize(longlabel, out, sizeof out, err, sizeof err), -1);
	strcpy(longlabel + 71, ".example"); /* 63 */
	assert_int_equal(origins_normalize(longlabel, out, sizeof out, err, sizeof err), 0);
	/* Longer than the buffer: refused, not cut. */
	assert_int_equal(origins_normalize("https://a.example,https://b.example", out, 20, err, sizeof err), -1);
	assert_non_null(strstr(err, "too long"));
}

static void match_is_exact(void **state)
{
	(void)state;
	const char *list = "https://shop.example,http://127.0.0.1:8081";
	static const struct { const char *origin; bool want; } rows[] = {
		{ "https://shop.example", true },
		{ "http://127.0.0.1:8081", true },
		{ "http://shop.example", false },          /* another scheme is another origin */
		{ "https://shop.example:443", false },     /* browsers never send the default port */
		{ "https://SHOP.example", false },
		{ "https://shop.example.", false },
		{ "https://shop.example/", false },
		{ "https://evil-shop.example", false },
		{ "https://shop.example.evil.example", false },
		{ "https://shop.exampl", false },
		{ "http://127.0.0.1", false },
		{ "http://127.0.0.1:80811", false },
		{ "https://shop.example,http://127.0.0.1:8081", false }, /* the whole list is no origin */
		{ "https://shop.example,", false },
		{ "", false },
		{ "null", false },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (origins_match(list, rows[i].origin, strlen(rows[i].origin)) != rows[i].want)
			fail_msg("\"%s\": want %d", rows[i].origin, rows[i].want);
	/* A NUL inside the header's bytes never matches a shorter entry. */
	assert_false(origins_match(list, "https://shop.example\0x", 22));
	assert_false(origins_match("", "https://shop.example", 20));
}

static http_request req(const char *method, const char *path, const char *origin, int acrm)
{
	http_request r;
	memset(&r, 0, sizeof r);
	r.method = method;
	r.path = path;
	r.origin = origin;
	r.has_cors_request_method = acrm;
	r.cors_request_method = acrm ? "POST" : "";
	return r;
}

static void which_requests_get_cors(void **state)
{
	(void)state;
	const char *list = "https://shop.example";
	static const struct { const char *path; bool open; } paths[] = {
		{ "/api/products", true }, { "/api/products/1", true }, { "/api/cart/add", true },
		{ "/api/stock", true }, { "/api/nope", true }, /* the 404 is readable too */
		{ "/api/admin", false }, { "/api/admin/audit", false }, { "/api/admin/products/1/stock", false },
		{ "/healthz", false }, { "/metrics", false }, { "/status", false }, { "/", false }, { "/api", false },
		{ "/apix/products", false },
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		http_request r = req("GET", paths[i].path, "https://shop.example", 0);
		if (cors_path(paths[i].path) != paths[i].open || cors_allowed(list, &r) != paths[i].open)
			fail_msg("%s: want %d", paths[i].path, paths[i].open);
	}
	http_request r = req("GET", "/api/products", "https://other.example", 0);
	assert_false(cors_allowed(list, &r));
	r = req("GET", "/api/products", "", 0);
	assert_false(cors_allowed(list, &r));
	r = req("GET", "/api/products", "https://shop.example", 0);
	assert_false(cors_allowed("", &r));

	/* A preflight needs OPTIONS, an Origin and Access-Control-Request-Method. */
	r = req("OPTIONS", "/api/cart/add", "https://shop.example", 1);
	assert_true(cors_is_preflight(&r));
	r = req("OPTIONS", "/api/cart/add", "", 1);
	assert_false(cors_is_preflight(&r));
	r = req("OPTIONS", "/api/cart/add", "https://shop.example", 0);
	assert_false(cors_is_preflight(&r));
	r = req("POST", "/api/cart/add", "https://shop.example", 1);
	assert_false(cors_is_preflight(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_lists_normalise),
		cmocka_unit_test(bad_lists_are_refused),
		cmocka_unit_test(match_is_exact),
		cmocka_unit_test(which_requests_get_cors),
	};
	return cmocka_run_group_tests_name("origins", tests, NULL, NULL);
}
