#include "api/json_strict.h"
#include "core/utf8.h"

#include <stdint.h>
#include <string.h>

typedef struct {
	const unsigned char *p, *end;
	int depth;
} scan;

static bool value(scan *s);

static void skip_ws(scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool literal(scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool digits(scan *s)
{
	const unsigned char *start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool number(scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Four hex digits after "\\u": their value, or -1. */
static long hex4(scan *s)
{
	if (s->end - s->p < 4)
		return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = s->p[i];
		if (!is_hex(c))
			return -1;
		v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	s->p += 4;
	return v;
}

/* One UTF-8 sequence starting at s->p (lead byte >= 0x80): shortest form,
 * no surrogates, at most U+10FFFF. */
static bool utf8_seq(scan *s)
{
	uint32_t cp;
	size_t n = utf8_decode((const unsigned char *)s->p, (size_t)(s->end - s->p), &cp);
	if (n == 0)
		return false;
	s->p += n;
	return true;
}

static bool string(scan *s)
{
	s->p++; /* the opening quote */
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c == '"') {
			s->p++;
			return true;
		}
		if (c < 0x20)
			return false; /* control characters must be escaped */
		if (c == '\\') {
			s->p++;
			if (s->p >= s->end)
				return false;
			c = *s->p++;
			if (c == 'u') {
				long u = hex4(s);
				if (u < 0)
					return false;
				/* I-JSON (RFC 7493): a surrogate escape must be a high one
				 * followed by a low one; a lone half can't be stored as
				 * UTF-8, so it could never be returned exactly. */
				if (u >= 0xdc00 && u <= 0xdfff)
					return false;
				if (u >= 0xd800 && u <= 0xdbff) {
					if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
						return false;
					s->p += 2;
					long lo = hex4(s);
					if (lo < 0xdc00 || lo > 0xdfff)
						return false;
				}
			} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
				return false;
			}
		} else if (c >= 0x80) {
			if (!utf8_seq(s))
				return false;
		} else {
			s->p++;
		}
	}
	return false;
}

static bool container(scan *s, unsigned char close, bool is_object)
{
	if (++s->depth > JSON_MAX_DEPTH)
		return false;
	s->p++; /* '{' or '[' */
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return true;
	}
	for (;;) {
		if (is_object) {
			if (s->p >= s->end || *s->p != '"' || !string(s))
				return false;
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return false;
			s->p++;
		}
		if (!value(s))
			return false;
		skip_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return true;
		}
		if (*s->p != ',')
			return false;
		s->p++;
		skip_ws(s);
	}
}

static bool value(scan *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{':
		return container(s, '}', true);
	case '[':
		return container(s, ']', false);
	case '"':
		return string(s);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		return number(s);
	}
}

bool json_is_strict(const char *text, size_t len)
{
	scan s = { (const unsigned char *)text, (const unsigned char *)text + len, 0 };
	if (!value(&s))
		return false;
	skip_ws(&s);
	return s.p == s.end;
}
