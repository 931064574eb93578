#ifndef STK_JSON_STRICT_H
#define STK_JSON_STRICT_H
#include <stdbool.h>
#include <stddef.h>

/* Is text exactly one JSON value by RFC 8259, in valid UTF-8, with only
 * whitespace around it? json-c's strict mode still takes single quotes,
 * NaN, "1." and raw control characters in strings, and turns a lone
 * surrogate escape into U+FFFD; the contract says a body
 * that is not JSON is a 400, so we check first. Nesting deeper than
 * JSON_MAX_DEPTH is refused too: no recursion bomb. */
#define JSON_MAX_DEPTH 32

bool json_is_strict(const char *text, size_t len);

#endif
