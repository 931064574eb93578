#ifndef STK_VALIDATE_H
#define STK_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/result.h"

/* Input validation, pure: every check the contract names, each unit
 * tested. Field getters return FIELD_OK, FIELD_MISSING (absent; the caller
 * decides whether that is allowed) or FIELD_BAD. */
enum { FIELD_OK = 0, FIELD_MISSING = 3001, FIELD_BAD };
_Static_assert(RC_FIELD(FIELD_MISSING) && RC_FIELD(FIELD_BAD), "FIELD_* in their range (core/result.h)");

#define QUANTITY_MAX 1000

/* A JSON object from the body, or NULL if the body is not one (invalid
 * JSON, invalid UTF-8, trailing bytes, another type). Caller puts it. */
json_object *parse_json_object(const char *body, size_t len);

/* 32 lowercase hex characters, exactly. */
bool valid_cart_id(const char *s, size_t len);
/* A product id in a path: 1..2^63-1 in plain decimal, no sign or leading 0. */
bool parse_product_id(const char *s, size_t len, int64_t *out);
/* Idempotency-Key: 1..64 characters, each 0x21..0x7E. */
bool valid_idempotency_key(const char *s);
/* Count UTF-8 characters of valid UTF-8 text; -1 if invalid. */
long utf8_chars(const char *s, size_t len);

/* A JSON integer (not 1.0, not 1e3, not a string) in lo..hi. */
int field_int(json_object *obj, const char *name, int64_t lo, int64_t hi, int64_t *out);
int field_bool(json_object *obj, const char *name, bool *out);
/* A string of min..max characters. *s points into obj. */
int field_string(json_object *obj, const char *name, long min, long max, const char **s, size_t *len);
int field_cart_id(json_object *obj, const char *name, const char **s);

/* Query strings (QUERY_STRING, still percent-encoded). Parameters the
 * route does not know are ignored, as browsers and proxies add their own
 * (cache busters, tracking tags); a known one given twice, or without '=',
 * is malformed, since which value counts would be a guess. */

/* One parameter: 1 with its raw value in *val and *len, 0 if absent, -1 if given
 * twice or without '='. */
int query_param(const char *query, const char *name, const char **val, size_t *len);
/* A whole number lo..hi (lo >= 0) in plain decimal, %XX decoded: no sign, no
 * leading 0 except "0" itself, no spaces. FIELD_OK, FIELD_MISSING or FIELD_BAD. */
int query_int(const char *query, const char *name, int64_t lo, int64_t hi, int64_t *out);
/* ids=1,2,3 from a query string: 1..max ids, each a valid product id.
 * Returns the count, 0 if the parameter is absent, -1 if malformed or too many. */
int parse_id_list(const char *query, const char *name, int64_t *ids, size_t max);

#endif
