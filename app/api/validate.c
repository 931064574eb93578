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

int parse_id_list(const char *query, const char *name, int64_t *ids, size_t max)
{
	size_t nlen = strlen(name);
	const char *p = query;
	const char *val = NULL;
	size_t vlen = 0;
	while (*p) {
		size_t seg = strcspn(p, "&");
		if (seg > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			if (val != NULL)
				return -1; /* given twice: ambiguous */
			val = p + nlen + 1;
			vlen = seg - nlen - 1;
		} else if (seg == nlen && strncmp(p, name, nlen) == 0) {
			return -1; /* "ids" with no value */
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	if (val == NULL)
		return 0;
	/* Decode %XX (a client may encode the commas), then split. Only
	 * digits and commas may come out: a decoded NUL or anything else is
	 * malformed. */
	char buf[4096];
	size_t n = 0;
	for (size_t i = 0; i < vlen; i++) {
		char ch = val[i];
		if (ch == '%' && i + 2 < vlen && hexval(val[i + 1]) >= 0 && hexval(val[i + 2]) >= 0) {
			ch = (char)(hexval(val[i + 1]) * 16 + hexval(val[i + 2]));
			i += 2;
		}
		if (n + 1 >= sizeof buf || !((ch >= '0' && ch <= '9') || ch == ','))
			return -1;
		buf[n++] = ch;
	}
	buf[n] = '\0';
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
