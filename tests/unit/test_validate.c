/* api/validate.h: the input checks of the contract, row by row. Each table
 * runs every row and reports all the rows that disagree, then fails once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"

#define HEX32 "0123456789abcdef0123456789abcdef"

/* A body with explicit length (0 means strlen), so rows may hold NUL bytes. */
typedef struct {
	const char *body;
	size_t len;
} raw;

static size_t raw_len(raw r) { return r.len ? r.len : strlen(r.body); }

/* "x" repeated n times, then a NUL; caller frees. */
static char *repeat(const char *unit, size_t n)
{
	size_t u = strlen(unit);
	char *s = malloc(u * n + 1);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * u, unit, u);
	s[u * n] = '\0';
	return s;
}

/* s with bytes outside printable ASCII as \xNN, for failure messages. */
static const char *show(const char *s, size_t len)
{
	static char buf[512];
	size_t n = 0;
	for (size_t i = 0; i < len && n + 5 < sizeof buf; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\\x%02x", c);
	}
	buf[n] = '\0';
	return buf;
}

static json_object *must_parse(const char *body)
{
	json_object *o = parse_json_object(body, strlen(body));
	if (o == NULL)
		fail_msg("test setup: %s did not parse", body);
	return o;
}

/* ---- parse_json_object ------------------------------------------------ */

static void parse_accepts_objects(void **state)
{
	(void)state;
	static const raw ok[] = {
		{ "{}", 0 },
		{ "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null},\"e\":\"x\"}", 0 },
		{ "{} ", 0 },           /* trailing whitespace is fine */
		{ "{}\r\n\t ", 0 },
		{ " \n{\"a\":1}", 0 },  /* leading whitespace too */
		{ "{\"a\":\"\xc3\xa9\xe2\x82\xac\"}", 0 },  /* valid UTF-8 */
		{ "{\"a\":\"\\ud83d\\ude00\"}", 0 },        /* escaped surrogate pair */
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		json_object *o = parse_json_object(ok[i].body, raw_len(ok[i]));
		if (o == NULL || !json_object_is_type(o, json_type_object)) {
			print_error("row %zu: %s should parse as an object\n", i, show(ok[i].body, raw_len(ok[i])));
			bad++;
		}
		json_object_put(o);
	}
	assert_int_equal(bad, 0);
}

/* Bodies that are not a JSON object: NULL, every one. */
static void parse_rejects_non_objects(void **state)
{
	(void)state;
	static const raw no[] = {
		{ "", 0 }, { "   ", 0 }, { "[]", 0 }, { "[{}]", 0 }, { "1", 0 }, { "\"s\"", 0 },
		{ "null", 0 }, { "true", 0 },
		{ "{", 0 }, { "{\"a\":}", 0 }, { "{\"a\":1,}", 0 }, { "{a:1}", 0 },
		{ "{} x", 0 }, { "{}x", 0 }, { "{}{}", 0 }, { "{} \n x", 0 },
		{ "{}\0", 3 },                      /* a NUL after the object is not whitespace */
		{ "{\"a\":\"\xff\"}", 0 },          /* invalid UTF-8 byte in a string */
		{ "{\"a\":\"\xc3\"}", 0 },          /* truncated 2-byte sequence */
		{ "{\"\xfe\":1}", 0 },              /* ... or in a key */
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		json_object *o = parse_json_object(no[i].body, raw_len(no[i]));
		if (o != NULL) {
			print_error("row %zu: %s should be refused\n", i, show(no[i].body, raw_len(no[i])));
			json_object_put(o);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* RFC 8259 JSON that json-c's strict mode still lets through. The contract
 * (and tests/integration NOT_OBJECT, which lists {'a':1}) wants all refused. */
static void parse_accepts_surrogate_pairs(void **state)
{
	(void)state;
	const char *ok = "{\"a\":\"\\ud83d\\ude00\",\"b\":\"\\u0000\"}"; /* an emoji as a pair; an escaped NUL */
	json_object *o = parse_json_object(ok, strlen(ok));
	assert_non_null(o);
	json_object_put(o);
}

static void parse_rejects_lax_json(void **state)
{
	(void)state;
	static const char *no[] = {
		"{'a':1}",                       /* single-quoted strings */
		"{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":-Infinity}",
		"{\"a\":5.}",                    /* a fraction needs digits */
		"{\"a\":\"\x01\"}",              /* raw control character in a string */
		"{\"a\":\"\\ud800x\"}",           /* lone high surrogate escape */
		"{\"a\":\"\\udc00\"}",            /* lone low surrogate escape */
		"{\"a\":\"\\ud800\\u0041\"}",     /* high surrogate, then not a low one */
		"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", /* 34 deep */
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		json_object *o = parse_json_object(no[i], strlen(no[i]));
		if (o != NULL) {
			print_error("row %zu: %s is not JSON but was accepted\n", i, show(no[i], strlen(no[i])));
			json_object_put(o);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Byte sequences that are well-formed lead/continuation patterns but not
 * UTF-8 (RFC 3629): the header promises NULL for invalid UTF-8. */
static void parse_rejects_invalid_utf8_forms(void **state)
{
	(void)state;
	static const char *no[] = {
		"{\"a\":\"\xed\xa0\x80\"}",      /* UTF-16 surrogate U+D800 */
		"{\"a\":\"\xc0\xaf\"}",          /* overlong '/' */
		"{\"a\":\"\xe0\x80\xaf\"}",      /* overlong, 3 bytes */
		"{\"a\":\"\xf4\x90\x80\x80\"}",  /* U+110000 */
		"{\"\xed\xbf\xbf\":1}",          /* surrogate in a key */
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		json_object *o = parse_json_object(no[i], strlen(no[i]));
		if (o != NULL) {
			print_error("row %zu: %s: invalid UTF-8 accepted\n", i, show(no[i], strlen(no[i])));
			json_object_put(o);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- valid_cart_id, parse_product_id, valid_idempotency_key ------------ */

static void cart_ids(void **state)
{
	(void)state;
	static const struct { raw s; bool ok; } rows[] = {
		{ { HEX32, 0 }, true },
		{ { "ffffffffffffffffffffffffffffffff", 0 }, true },
		{ { "0123456789ABCDEF0123456789abcdef", 0 }, false }, /* uppercase */
		{ { "0123456789abcdef0123456789abcdeF", 0 }, false },
		{ { "0123456789abcdef0123456789abcde", 0 }, false },  /* 31 */
		{ { HEX32 "0", 0 }, false },                          /* 33 */
		{ { "g123456789abcdef0123456789abcdef", 0 }, false },
		{ { "0123456789abcdef 123456789abcdef", 0 }, false },
		{ { "0123456789abcdef\0" "123456789abcdef", 32 }, false },
		{ { "", 0 }, false },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (valid_cart_id(rows[i].s.body, raw_len(rows[i].s)) != rows[i].ok)
			fail_msg("row %zu: %s", i, show(rows[i].s.body, raw_len(rows[i].s)));
}

static void product_ids(void **state)
{
	(void)state;
	static const struct { const char *s; bool ok; int64_t v; } rows[] = {
		{ "1", true, 1 },
		{ "42", true, 42 },
		{ "1000000000000000000", true, 1000000000000000000 },
		{ "9223372036854775807", true, INT64_MAX },
		{ "0", false, 0 }, { "01", false, 0 }, { "-1", false, 0 }, { "+1", false, 0 },
		{ "9223372036854775808", false, 0 },  /* 2^63 */
		{ "9999999999999999999", false, 0 },  /* 19 digits, still too big */
		{ "18446744073709551616", false, 0 }, /* 2^64 */
		{ "99999999999999999999", false, 0 },
		{ "", false, 0 }, { "1a", false, 0 }, { "a1", false, 0 }, { " 1", false, 0 },
		{ "1 ", false, 0 }, { "1.0", false, 0 }, { "1e3", false, 0 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t v = -7;
		bool ok = parse_product_id(rows[i].s, strlen(rows[i].s), &v);
		if (ok != rows[i].ok || (ok && v != rows[i].v))
			fail_msg("row %zu: \"%s\" -> %d, %lld", i, rows[i].s, ok, (long long)v);
	}
	/* Only len bytes count: a path segment is not NUL-terminated. */
	int64_t v = 0;
	assert_true(parse_product_id("5/stock", 1, &v));
	assert_int_equal(v, 5);
	assert_false(parse_product_id("5/stock", 2, &v));
}

static void idempotency_keys(void **state)
{
	(void)state;
	char *k64 = repeat("k", 64), *k65 = repeat("k", 65);
	const struct { const char *s; bool ok; } rows[] = {
		{ "a", true }, { "!", true }, { "~", true }, { k64, true },
		{ "3f2c8a1e-8c1b-4b7a-9d4e-0a1b2c3d4e5f", true }, { "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", true },
		{ "", false }, { k65, false }, { "a b", false }, { " a", false }, { "a\tb", false },
		{ "a\x7f", false }, { "caf\xc3\xa9", false }, { "\x01", false }, { "a\n", false },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (valid_idempotency_key(rows[i].s) != rows[i].ok)
			fail_msg("row %zu: \"%s\"", i, show(rows[i].s, strlen(rows[i].s)));
	free(k64);
	free(k65);
}

/* ---- utf8_chars ---------------------------------------------------------- */

static void utf8_counts(void **state)
{
	(void)state;
	static const struct { raw s; long want; } rows[] = {
		{ { "", 0 }, 0 },
		{ { "abc", 0 }, 3 },
		{ { "\0", 1 }, 1 },                          /* NUL is a character */
		{ { "\xc3\xa9", 0 }, 1 },                    /* U+00E9, 2 bytes */
		{ { "\xc2\x80", 0 }, 1 },                    /* U+0080, smallest 2-byte */
		{ { "\xe2\x82\xac", 0 }, 1 },                /* U+20AC, 3 bytes */
		{ { "\xe0\xa0\x80", 0 }, 1 },                /* U+0800, smallest 3-byte */
		{ { "\xed\x9f\xbf", 0 }, 1 },                /* U+D7FF, just below surrogates */
		{ { "\xee\x80\x80", 0 }, 1 },                /* U+E000, just above */
		{ { "\xf0\x9f\x98\x80", 0 }, 1 },            /* U+1F600, 4 bytes */
		{ { "\xf0\x90\x80\x80", 0 }, 1 },            /* U+10000, smallest 4-byte */
		{ { "\xf4\x8f\xbf\xbf", 0 }, 1 },            /* U+10FFFF, the last */
		{ { "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0 }, 4 },
		/* overlong forms */
		{ { "\xc0\x80", 0 }, -1 }, { { "\xc1\xbf", 0 }, -1 },
		{ { "\xe0\x80\xaf", 0 }, -1 }, { { "\xe0\x9f\xbf", 0 }, -1 },
		{ { "\xf0\x80\x80\xaf", 0 }, -1 }, { { "\xf0\x8f\xbf\xbf", 0 }, -1 },
		/* surrogates */
		{ { "\xed\xa0\x80", 0 }, -1 }, { { "\xed\xbf\xbf", 0 }, -1 },
		/* beyond U+10FFFF, and bytes that never start anything */
		{ { "\xf4\x90\x80\x80", 0 }, -1 }, { { "\xf5\x80\x80\x80", 0 }, -1 },
		{ { "\xf8\x88\x80\x80\x80", 0 }, -1 }, { { "\xfe", 0 }, -1 }, { { "\xff", 0 }, -1 },
		/* truncated, stray and broken continuations */
		{ { "\xc3", 0 }, -1 }, { { "\xe2\x82", 0 }, -1 }, { { "\xf0\x9f\x98", 0 }, -1 },
		{ { "a\xe2\x82", 0 }, -1 }, { { "\xc3\xa9", 1 }, -1 },
		{ { "\x80", 0 }, -1 }, { { "\xbf", 0 }, -1 },
		{ { "\xc3\x28", 0 }, -1 }, { { "\xe2\x28\xa1", 0 }, -1 }, { { "\xf0\x9f\x98\x28", 0 }, -1 },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		long got = utf8_chars(rows[i].s.body, raw_len(rows[i].s));
		if (got != rows[i].want) {
			print_error("row %zu: %s: got %ld want %ld\n", i, show(rows[i].s.body, raw_len(rows[i].s)), got,
				    rows[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- field getters --------------------------------------------------------- */

static void field_ints(void **state)
{
	(void)state;
	static const struct { const char *body; int64_t lo, hi; int rc; int64_t v; } rows[] = {
		{ "{\"q\":1}", 1, 1000, FIELD_OK, 1 },
		{ "{\"q\":1000}", 1, 1000, FIELD_OK, 1000 },
		{ "{\"q\":-5}", -10, 10, FIELD_OK, -5 },
		{ "{\"q\":-0}", 0, 10, FIELD_OK, 0 },
		{ "{\"q\":9223372036854775807}", 1, INT64_MAX, FIELD_OK, INT64_MAX },
		{ "{\"q\":1001}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":0}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":-1}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":1.0}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":1.5}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":1e3}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":1E0}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":\"2\"}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":true}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":null}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":[1]}", 1, 1000, FIELD_BAD, 0 },
		{ "{\"q\":{}}", 1, 1000, FIELD_BAD, 0 },
		/* json-c saturates big numbers to INT64_MAX: must not pass as it */
		{ "{\"q\":9223372036854775808}", 1, INT64_MAX, FIELD_BAD, 0 },
		{ "{\"q\":18446744073709551615}", 1, INT64_MAX, FIELD_BAD, 0 },
		{ "{\"q\":100000000000000000000}", 1, INT64_MAX, FIELD_BAD, 0 },
		{ "{\"q\":-9223372036854775809}", INT64_MIN + 1, INT64_MAX, FIELD_BAD, 0 },
		{ "{}", 1, 1000, FIELD_MISSING, 0 },
		{ "{\"Q\":1}", 1, 1000, FIELD_MISSING, 0 }, /* names are case-sensitive */
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		json_object *o = must_parse(rows[i].body);
		int64_t v = -7;
		int rc = field_int(o, "q", rows[i].lo, rows[i].hi, &v);
		if (rc != rows[i].rc || (rc == FIELD_OK && v != rows[i].v)) {
			print_error("row %zu: %s -> rc %d v %lld\n", i, rows[i].body, rc, (long long)v);
			bad++;
		}
		json_object_put(o);
	}
	assert_int_equal(bad, 0);
}

static void field_bools(void **state)
{
	(void)state;
	static const struct { const char *body; int rc; bool v; } rows[] = {
		{ "{\"b\":true}", FIELD_OK, true }, { "{\"b\":false}", FIELD_OK, false },
		{ "{\"b\":1}", FIELD_BAD, false }, { "{\"b\":0}", FIELD_BAD, false },
		{ "{\"b\":\"true\"}", FIELD_BAD, false }, { "{\"b\":null}", FIELD_BAD, false },
		{ "{\"b\":[]}", FIELD_BAD, false }, { "{}", FIELD_MISSING, false },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		json_object *o = must_parse(rows[i].body);
		bool v = !rows[i].v;
		int rc = field_bool(o, "b", &v);
		json_object_put(o);
		if (rc != rows[i].rc || (rc == FIELD_OK && v != rows[i].v))
			fail_msg("row %zu: %s -> rc %d", i, rows[i].body);
	}
}

/* {"s":"<unit x n>"} parsed; caller puts it. */
static json_object *string_object(const char *unit, size_t n)
{
	char *val = repeat(unit, n);
	size_t blen = strlen(val) + 16;
	char *body = malloc(blen);
	assert_non_null(body);
	snprintf(body, blen, "{\"s\":\"%s\"}", val);
	json_object *o = must_parse(body);
	free(body);
	free(val);
	return o;
}

static void field_strings_count_characters(void **state)
{
	(void)state;
	static const struct { const char *unit; size_t n; long min, max; int rc; size_t bytes; } rows[] = {
		{ "a", 64, 1, 64, FIELD_OK, 64 },
		{ "a", 65, 1, 64, FIELD_BAD, 0 },
		{ "\xc3\xa9", 64, 1, 64, FIELD_OK, 128 },      /* 64 characters, 128 bytes */
		{ "\xc3\xa9", 65, 1, 64, FIELD_BAD, 0 },
		{ "\xe2\x82\xac", 64, 1, 64, FIELD_OK, 192 },
		{ "\xf0\x9f\x98\x80", 64, 1, 64, FIELD_OK, 256 },
		{ "\\u00e9", 64, 1, 64, FIELD_OK, 128 },       /* escapes count once decoded */
		{ "a", 0, 1, 64, FIELD_BAD, 0 },               /* "" under min */
		{ "a", 0, 0, 64, FIELD_OK, 0 },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		json_object *o = string_object(rows[i].unit, rows[i].n);
		const char *s = NULL;
		size_t len = 0;
		int rc = field_string(o, "s", rows[i].min, rows[i].max, &s, &len);
		if (rc != rows[i].rc || (rc == FIELD_OK && len != rows[i].bytes)) {
			print_error("row %zu: rc %d len %zu\n", i, rc, len);
			bad++;
		}
		json_object_put(o);
	}
	assert_int_equal(bad, 0);

	static const struct { const char *body; int rc; } kinds[] = {
		{ "{\"s\":1}", FIELD_BAD }, { "{\"s\":null}", FIELD_BAD }, { "{\"s\":[\"a\"]}", FIELD_BAD },
		{ "{\"s\":true}", FIELD_BAD }, { "{}", FIELD_MISSING },
		{ "{\"s\":\"abc\"}", FIELD_OK },
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		json_object *o = must_parse(kinds[i].body);
		const char *s = NULL;
		size_t len = 0;
		int rc = field_string(o, "s", 1, 64, &s, &len);
		if (rc != kinds[i].rc)
			fail_msg("kind %zu: %s -> rc %d", i, kinds[i].body, rc);
		if (rc == FIELD_OK) {
			assert_int_equal(len, 3);
			assert_string_equal(s, "abc");
		}
		json_object_put(o);
	}
}

static void field_cart_ids(void **state)
{
	(void)state;
	static const struct { const char *body; int rc; } rows[] = {
		{ "{\"c\":\"" HEX32 "\"}", FIELD_OK },
		{ "{\"c\":\"0123456789ABCDEF0123456789abcdef\"}", FIELD_BAD },
		{ "{\"c\":\"0123456789abcdef0123456789abcde\"}", FIELD_BAD },
		{ "{\"c\":\"" HEX32 "0\"}", FIELD_BAD },
		{ "{\"c\":\"" HEX32 " \"}", FIELD_BAD },
		{ "{\"c\":\"gggggggggggggggggggggggggggggggg\"}", FIELD_BAD },
		{ "{\"c\":123}", FIELD_BAD }, { "{\"c\":null}", FIELD_BAD }, { "{\"c\":\"\"}", FIELD_BAD },
		{ "{}", FIELD_MISSING },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		json_object *o = must_parse(rows[i].body);
		const char *s = NULL;
		int rc = field_cart_id(o, "c", &s);
		if (rc != rows[i].rc)
			fail_msg("row %zu: %s -> rc %d", i, rows[i].body, rc);
		if (rc == FIELD_OK)
			assert_string_equal(s, HEX32);
		json_object_put(o);
	}
}

/* ---- parse_id_list ----------------------------------------------------------- */

static void id_lists(void **state)
{
	(void)state;
	static const struct { const char *q; int rc; int64_t ids[3]; } rows[] = {
		{ "ids=1,2,3", 3, { 1, 2, 3 } },
		{ "ids=1%2C2", 2, { 1, 2 } },
		{ "ids=1%2c2", 2, { 1, 2 } },
		{ "ids=9223372036854775807", 1, { INT64_MAX } },
		{ "a=b&ids=7,8&c=d", 2, { 7, 8 } },
		{ "ids=5&x", 1, { 5 } },
		{ "", 0, { 0 } }, { "x=1", 0, { 0 } }, { "idsx=1", 0, { 0 } }, { "xids=1", 0, { 0 } },
		{ "ids=", -1, { 0 } }, { "ids", -1, { 0 } }, { "a=1&ids&b=2", -1, { 0 } },
		{ "ids=1,,2", -1, { 0 } }, { "ids=1,", -1, { 0 } }, { "ids=,1", -1, { 0 } },
		{ "ids=1&ids=2", -1, { 0 } }, { "ids=1&x=2&ids=1", -1, { 0 } },
		{ "ids=0", -1, { 0 } }, { "ids=-1", -1, { 0 } }, { "ids=01", -1, { 0 } },
		{ "ids=1,a", -1, { 0 } }, { "ids=1, 2", -1, { 0 } }, { "ids=1%2", -1, { 0 } },
		{ "ids=9223372036854775808", -1, { 0 } },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t ids[100] = { 0 };
		int rc = parse_id_list(rows[i].q, "ids", ids, 100);
		int same = rc == rows[i].rc;
		for (int k = 0; same && k < rc; k++)
			same = ids[k] == rows[i].ids[k];
		if (!same) {
			print_error("row %zu: \"%s\" -> %d\n", i, rows[i].q, rc);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* %00 decodes to a NUL byte: the list must be refused, not cut short there
 * with the ids after it silently dropped. */
static void id_list_encoded_nul(void **state)
{
	(void)state;
	static const char *rows[] = { "ids=1%002", "ids=1%00", "ids=1%00,2", "ids=%00" };
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t ids[100] = { 0 };
		int rc = parse_id_list(rows[i], "ids", ids, 100);
		if (rc != -1) {
			print_error("\"%s\" -> %d (ids[0] = %lld), want -1\n", rows[i], rc, (long long)ids[0]);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* "ids=1,2,...,n" */
static char *id_query(size_t n)
{
	char *q = malloc(8 + n * 8);
	assert_non_null(q);
	size_t off = (size_t)sprintf(q, "ids=");
	for (size_t i = 1; i <= n; i++)
		off += (size_t)sprintf(q + off, i > 1 ? ",%zu" : "%zu", i);
	return q;
}

static void id_list_limits(void **state)
{
	(void)state;
	int64_t ids[101];
	char *q100 = id_query(100), *q101 = id_query(101);
	assert_int_equal(parse_id_list(q100, "ids", ids, 100), 100);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[99], 100);
	assert_int_equal(parse_id_list(q101, "ids", ids, 100), -1);
	assert_int_equal(parse_id_list(q101, "ids", ids, 101), 101);
	free(q100);
	free(q101);

	/* A value longer than any valid list is refused, not overrun. */
	char *huge = repeat("1", 10000);
	char *q = malloc(strlen(huge) + 5);
	assert_non_null(q);
	sprintf(q, "ids=%s", huge);
	assert_int_equal(parse_id_list(q, "ids", ids, 100), -1);
	free(q);
	free(huge);
}

/* ---- query_param, query_int ------------------------------------------------ */

static void query_params(void **state)
{
	(void)state;
	static const struct { const char *q, *name; int rc; const char *val; } rows[] = {
		{ "after=5", "after", 1, "5" },
		{ "limit=5&after=7", "after", 1, "7" },
		{ "a=b&after=&c", "after", 1, "" },
		{ "", "after", 0, NULL },
		{ "afterx=1", "after", 0, NULL },
		{ "xafter=1", "after", 0, NULL },
		{ "after", "after", -1, NULL },
		{ "x=1&after", "after", -1, NULL },
		{ "after=1&after=1", "after", -1, NULL },
		{ "after=1&x=&after=2", "after", -1, NULL },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *v;
		size_t n;
		int rc = query_param(rows[i].q, rows[i].name, &v, &n);
		if (rc != rows[i].rc)
			fail_msg("row %zu: \"%s\" -> %d, want %d", i, rows[i].q, rc, rows[i].rc);
		if (rc == 1 && (n != strlen(rows[i].val) || memcmp(v, rows[i].val, n) != 0))
			fail_msg("row %zu: \"%s\" -> value \"%.*s\"", i, rows[i].q, (int)n, v);
	}
}

/* The product list's after (0..2^63-1) and limit (1..100): every other
 * spelling is refused, and an absent one is left to the caller's default. */
static void query_ints(void **state)
{
	(void)state;
	static const struct { const char *q; int64_t lo, hi; int rc; int64_t v; } rows[] = {
		{ "n=0", 0, INT64_MAX, FIELD_OK, 0 },
		{ "n=1", 0, INT64_MAX, FIELD_OK, 1 },
		{ "n=42&other=x", 0, INT64_MAX, FIELD_OK, 42 },
		{ "utm_source=mail&n=9223372036854775807", 0, INT64_MAX, FIELD_OK, INT64_MAX },
		{ "n=%31%30", 0, INT64_MAX, FIELD_OK, 10 },
		{ "n=100", 1, 100, FIELD_OK, 100 },
		{ "n=1", 1, 100, FIELD_OK, 1 },
		{ "", 0, INT64_MAX, FIELD_MISSING, -7 },
		{ "m=1&nn=2&xn=3", 0, INT64_MAX, FIELD_MISSING, -7 },
		{ "n=9223372036854775808", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=99999999999999999999999", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=0", 1, 100, FIELD_BAD, -7 },
		{ "n=101", 1, 100, FIELD_BAD, -7 },
		{ "n=", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1&n=1", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=-1", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=+1", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=01", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=00", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1.0", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1e3", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=0x10", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n= 1", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1+", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=%201", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1%00", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=%00", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1%2", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=abc", 0, INT64_MAX, FIELD_BAD, -7 },
		{ "n=1,2", 0, INT64_MAX, FIELD_BAD, -7 },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t v = -7; /* untouched unless FIELD_OK */
		int rc = query_int(rows[i].q, "n", rows[i].lo, rows[i].hi, &v);
		if (rc != rows[i].rc || v != rows[i].v) {
			print_error("row %zu: \"%s\" -> rc %d v %lld, want rc %d v %lld\n", i, rows[i].q, rc,
				    (long long)v, rows[i].rc, (long long)rows[i].v);
			bad++;
		}
	}
	/* A value far longer than any number is refused, not overrun. */
	char *huge = repeat("1", 10000);
	char *q = malloc(strlen(huge) + 3);
	assert_non_null(q);
	sprintf(q, "n=%s", huge);
	int64_t v = -7;
	assert_int_equal(query_int(q, "n", 0, INT64_MAX, &v), FIELD_BAD);
	assert_int_equal(v, -7);
	free(q);
	free(huge);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_accepts_objects),
		cmocka_unit_test(parse_rejects_non_objects),
		cmocka_unit_test(parse_rejects_lax_json),
		cmocka_unit_test(parse_accepts_surrogate_pairs),
		cmocka_unit_test(parse_rejects_invalid_utf8_forms),
		cmocka_unit_test(cart_ids),
		cmocka_unit_test(product_ids),
		cmocka_unit_test(idempotency_keys),
		cmocka_unit_test(utf8_counts),
		cmocka_unit_test(field_ints),
		cmocka_unit_test(field_bools),
		cmocka_unit_test(field_strings_count_characters),
		cmocka_unit_test(field_cart_ids),
		cmocka_unit_test(id_lists),
		cmocka_unit_test(id_list_encoded_nul),
		cmocka_unit_test(id_list_limits),
		cmocka_unit_test(query_params),
		cmocka_unit_test(query_ints),
	};
	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
