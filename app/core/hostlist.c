#include "core/hostlist.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int parse_port(const char *s, size_t len, unsigned *out)
{
	if (len == 0 || len > 5)
		return -1;
	unsigned n = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		n = n * 10 + (unsigned)(s[i] - '0');
	}
	if (n == 0 || n > 65535)
		return -1;
	*out = n;
	return 0;
}

/* One entry, s[0..len) with no blanks around it. */
static int parse_entry(const char *s, size_t len, unsigned default_port, host_entry *e)
{
	const char *host = s, *port = NULL;
	size_t hlen = len, plen = 0;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL)
			return -1;
		host = s + 1;
		hlen = (size_t)(close - host);
		size_t rest = len - (size_t)(close + 1 - s);
		if (rest > 0) {
			if (close[1] != ':')
				return -1;
			port = close + 2;
			plen = rest - 1;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		/* A bare IPv6 address has several colons and no port. */
		if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
			plen = len - hlen - 1;
		}
	}
	if (hlen == 0 || hlen >= sizeof e->host)
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if (isspace((unsigned char)host[i]) || host[i] == ',')
			return -1;
	e->port = default_port;
	if (port != NULL && parse_port(port, plen, &e->port) != 0)
		return -1;
	memcpy(e->host, host, hlen);
	e->host[hlen] = '\0';
	return 0;
}

int hostlist_parse(const char *list, unsigned default_port, host_entry *out, size_t max, char *err, size_t errlen)
{
	assert(list != NULL && out != NULL && max > 0);
	size_t n = 0;
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *a = p, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (n == max) {
			snprintf(err, errlen, "at most %zu hosts", max);
			return -1;
		}
		if (parse_entry(a, (size_t)(b - a), default_port, &out[n]) != 0) {
			snprintf(err, errlen, "bad host entry '%.*s' (host, host:port or [v6]:port)", (int)(b - a), a);
			return -1;
		}
		n++;
		if (comma == NULL)
			return (int)n;
		p = comma + 1;
	}
}
