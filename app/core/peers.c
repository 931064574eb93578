#include "core/peers.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int peers_parse(const char *list, peers *out, char *err, size_t errlen)
{
	assert(list != NULL && out != NULL);
	memset(out, 0, sizeof *out);
	const char *p = list;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *a = p, *b = comma ? comma : p + strlen(p);
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		char one[INET_ADDRSTRLEN];
		size_t len = (size_t)(b - a);
		if (out->n == PEERS_MAX) {
			snprintf(err, errlen, "at most %d addresses", PEERS_MAX);
			return -1;
		}
		if (len == 0 || len >= sizeof one || (memcpy(one, a, len), one[len] = '\0',
						      inet_pton(AF_INET, one, &out->addr[out->n]) != 1)) {
			snprintf(err, errlen, "bad address '%.*s' (IPv4, e.g. 10.0.0.1)", (int)(len > 64 ? 64 : len), a);
			return -1;
		}
		out->n++;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

bool peers_allow(const peers *p, const struct sockaddr *sa)
{
	if (p->n == 0)
		return true;
	if (sa == NULL || sa->sa_family != AF_INET)
		return false;
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	for (size_t i = 0; i < p->n; i++)
		if (p->addr[i].s_addr == in->sin_addr.s_addr)
			return true;
	return false;
}
