#include "api/validate.h"
#include "core/random.h"
#include "core/utf8.h"

#include "api/json_strict.h"

#include <ctype.h>
#include <string.h>

json_object *parse_json_object(const char *body, size_t len)
{
	if (len == 0 || len > (size_t)INT32_MAX || !json_is_strict(body, len))
		return NULL;
	json_tokener *tok = json_tokener_new_ex(64);
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
	size_t end = json_tokener_get_parse_end(tok);
	enum json_tokener_error err = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (obj == NULL || err != json_tokener_success)
		goto bad;
	/* Nothing but whitespace may follow the value. */
	for (size_t i = end; i < len; i++)
		if (!isspace((unsigned char)body[i]))
			goto bad;
	if (!json_object_is_type(obj, json_type_object))
		goto bad;
	return obj;
bad:
	if (obj != NULL)
		json_object_put(obj);
	return NULL;
}

bool valid_cart_id(const char *s, size_t len)
{
	if (len != CART_ID_LEN)
		return false;
	for (size_t i = 0; i < CART_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool parse_product_id(const char *s, size_t len, int64_t *out)
{
	if (len == 0 || len > 19 || s[0] == '0')
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in uint64 */
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}

bool valid_idempotency_key(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return false;
	return n >= 1 && n <= 64;
}

long utf8_chars(const char *s, size_t len)
{
	long chars = 0;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0)
			return -1;
		i += n;
		chars++;
	}
	return chars;
}

int field_int(json_object *obj, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, name, &v))
		return FIELD_MISSING;
	if (v == NULL || !json_object_is_type(v, json_type_int))
		return FIELD_BAD;
	int64_t n = json_object_get_int64(v);
	/* json-c saturates: INT64_MAX may stand for a larger number. */
	if (n == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		return FIELD_BAD;
	if (n == INT64_MIN || n < lo || n > hi)
		return FIELD_BAD;
	*out = n;
	return FIELD_OK;
}

int field_bool(json_object *obj, const char *name, bool *out)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, name, &v))
		return FIELD_MISSING;
	if (v == NULL || !json_object_is_type(v, json_type_boolean))
		return FIELD_BAD;
	*out = json_object_get_boolean(v);
	return FIELD_OK;
}

int field_string(json_object *obj, const char *name, long min, long max, const char **s, size_t *len)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, name, &v))
		return FIELD_MISSING;
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return FIELD_BAD;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	long chars = utf8_chars(*s, *len);
	if (chars < min || chars > max)
		return FIELD_BAD;
	return FIELD_OK;
}

int field_cart_id(json_object *obj, const char *name, const char **s)
{
	size_t len;
	int rc = field_string(obj, name, 32, 32, s, &len);
	if (rc != FIELD_OK)
		return rc;
	return valid_cart_id(*s, len) ? FIELD_OK : FIELD_BAD;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int query_param(const char *query, const char *name, const char **val, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = query;
	int found = 0;
	*val = NULL;
	*len = 0;
	while (*p) {
		size_t seg = strcspn(p, "&");
		if (seg > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			if (found)
				return -1; /* given twice: ambiguous */
			found = 1;
			*val = p + nlen + 1;
			*len = seg - nlen - 1;
		} else if (seg == nlen && strncmp(p, name, nlen) == 0) {
			return -1; /* the name with no value */
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	return found;
}

/* Decode %XX (a client may encode what it sends) into buf; only bytes that
 * `allowed` accepts may come out, so a decoded NUL or anything else is
 * malformed. The decoded length, or -1. */
static long query_decode(const char *val, size_t vlen, char *buf, size_t cap, int (*allowed)(char))
{
	size_t n = 0;
	for (size_t i = 0; i < vlen; i++) {
		char ch = val[i];
		if (ch == '%' && i + 2 < vlen && hexval(val[i + 1]) >= 0 && hexval(val[i + 2]) >= 0) {
			ch = (char)(hexval(val[i + 1]) * 16 + hexval(val[i + 2]));
			i += 2;
		}
		if (n + 1 >= cap || !allowed(ch))
			return -1;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return (long)n;
}

static int digit_or_comma(char ch)
{
	return (ch >= '0' && ch <= '9') || ch == ',';
}

static int digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

int query_int(const char *query, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
	const char *val;
	size_t vlen;
	int rc = query_param(query, name, &val, &vlen);
	if (rc == 0)
		return FIELD_MISSING;
	if (rc < 0)
		return FIELD_BAD;
	char buf[24];
	long n = query_decode(val, vlen, buf, sizeof buf, digit);
	int64_t v;
	if (n < 0)
		return FIELD_BAD;
	/* "0" is a number; "00", "007" and "" are not (as for ids in a path). */
	if (n == 1 && buf[0] == '0')
		v = 0;
	else if (!parse_product_id(buf, (size_t)n, &v))
		return FIELD_BAD;
	if (v < lo || v > hi)
		return FIELD_BAD;
	*out = v;
	return FIELD_OK;
}

int parse_id_list(const char *query, const char *name, int64_t *ids, size_t max)
{
	const char *val;
	size_t vlen;
	int rc = query_param(query, name, &val, &vlen);
	if (rc <= 0)
		return rc;
	char buf[4096];
	if (query_decode(val, vlen, buf, sizeof buf, digit_or_comma) < 0)
		return -1;
	size_t count = 0;
	const char *s = buf;
	for (;;) {
		size_t len = strcspn(s, ",");
		if (count == max || !parse_product_id(s, len, &ids[count]))
			return -1;
		count++;
		s += len;
		if (*s == '\0')
			break;
		s++;
	}
	return (int)count;
}
