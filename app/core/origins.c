#include "core/origins.h"

#include <stdio.h>
#include <string.h>

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_hex_or_colon(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || ch == ':' || ch == '.';
}

/* host: a lowercase DNS name or IPv4 address (labels of [a-z0-9-], 1..63
 * long, not starting or ending with '-'), or an IPv6 address in brackets. */
static bool valid_host(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	if (s[0] == '[') {
		if (n < 4 || s[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!is_hex_or_colon(s[i]))
				return false;
		return memchr(s, ':', n) != NULL;
	}
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_lower_alnum(ch) && ch != '-')
			return false;
		if (label == 0 && ch == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

/* One entry, s[0..n): 0, or -1 with the reason in why. */
static int check_origin(const char *s, size_t n, const char **why)
{
	size_t skip;
	bool https;
	if (n == 1 && s[0] == '*') {
		*why = "a wildcard is not allowed: list each origin";
		return -1;
	}
	if (n == 4 && memcmp(s, "null", 4) == 0) {
		*why = "the null origin (sandboxed frames, files) can never be trusted";
		return -1;
	}
	if (n > 8 && memcmp(s, "https://", 8) == 0) {
		skip = 8, https = true;
	} else if (n > 7 && memcmp(s, "http://", 7) == 0) {
		skip = 7, https = false;
	} else {
		*why = "it must start with http:// or https:// (lowercase)";
		return -1;
	}
	const char *host = s + skip, *end = s + n;
	if (memchr(host, '/', (size_t)(end - host)) != NULL || memchr(host, '?', (size_t)(end - host)) != NULL ||
	    memchr(host, '#', (size_t)(end - host)) != NULL) {
		*why = "an origin has no path, not even a trailing /";
		return -1;
	}
	if (memchr(host, '@', (size_t)(end - host)) != NULL) {
		*why = "an origin has no user name";
		return -1;
	}
	/* The port follows the last ':' outside an IPv6 address's brackets. */
	const char *port = NULL;
	const char *close = host[0] == '[' ? memchr(host, ']', (size_t)(end - host)) : host;
	if (close == NULL) {
		*why = "unbalanced [ in the host";
		return -1;
	}
	const char *colon = memchr(close, ':', (size_t)(end - close));
	size_t host_len = (size_t)((colon ? colon : end) - host);
	if (colon != NULL)
		port = colon + 1;
	if (!valid_host(host, host_len)) {
		*why = "the host must be a lowercase name or address (browsers send it lowercase)";
		return -1;
	}
	if (port != NULL) {
		size_t plen = (size_t)(end - port);
		long v = 0;
		if (plen == 0 || plen > 5 || port[0] == '0') {
			*why = "the port must be 1..65535 without leading zeros";
			return -1;
		}
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9') {
				*why = "the port must be 1..65535 without leading zeros";
				return -1;
			}
			v = v * 10 + (port[i] - '0');
		}
		if (v > 65535) {
			*why = "the port must be 1..65535 without leading zeros";
			return -1;
		}
		if ((https && v == 443) || (!https && v == 80)) {
			*why = "leave out the scheme's default port: browsers never send it";
			return -1;
		}
	}
	return 0;
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

int origins_normalize(const char *list, char *out, size_t outlen, char *err, size_t errlen)
{
	size_t used = 0;
	const char *p = list;
	bool only_blanks = true;
	for (const char *q = list; *q; q++)
		if (!blank(*q))
			only_blanks = false;
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (only_blanks)
		return 0;
	for (;;) {
		size_t seg = strcspn(p, ",");
		const char *a = p, *b = p + seg;
		while (a < b && blank(*a))
			a++;
		while (b > a && blank(b[-1]))
			b--;
		const char *why = NULL;
		if (a == b)
			why = "an empty entry (two commas, or one at an end)";
		else
			check_origin(a, (size_t)(b - a), &why);
		if (why != NULL) {
			snprintf(err, errlen, "ALLOWED_ORIGINS: '%.*s' is not an origin: %s", (int)(b - a > 80 ? 80 : b - a),
				 a, why);
			return -1;
		}
		size_t n = (size_t)(b - a);
		if (used + (used ? 1 : 0) + n + 1 > outlen) {
			snprintf(err, errlen, "ALLOWED_ORIGINS is too long (at most %zu bytes)", outlen - 1);
			return -1;
		}
		if (used)
			out[used++] = ',';
		memcpy(out + used, a, n);
		used += n;
		out[used] = '\0';
		if (p[seg] == '\0')
			break;
		p += seg + 1;
	}
	return 0;
}

bool origins_match(const char *list, const char *origin, size_t len)
{
	if (len == 0)
		return false;
	const char *p = list;
	while (*p) {
		size_t seg = strcspn(p, ",");
		if (seg == len && memcmp(p, origin, len) == 0)
			return true;
		p += seg;
		if (*p == ',')
			p++;
	}
	return false;
}
