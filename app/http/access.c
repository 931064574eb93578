#include "http/access.h"

#include <string.h>

bool access_is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0;
}

/* Constant time in the length of the expected token: the comparison must
 * not tell an attacker how many leading bytes they got right. */
static bool token_matches(const char *given, const char *expected)
{
	size_t n = strlen(expected), g = strlen(given);
	unsigned char diff = (unsigned char)(g != n);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(expected[i] ^ (i < g ? given[i] : 0));
	return diff == 0;
}

static bool read_only_route(route_id route)
{
	return route == ROUTE_METRICS || route == ROUTE_STATUS;
}

bool access_operator_allowed(const stk_config *cfg, route_id route, const char *remote_addr,
			     const char *authorization)
{
	if (cfg->trust_loopback && access_is_loopback(remote_addr))
		return true;
	if (strncmp(authorization, "Bearer ", 7) != 0)
		return false;
	const char *given = authorization + 7;
	/* Both comparisons always run: which token a caller holds does not
	 * show in the time either. */
	bool admin = cfg->admin_token[0] != '\0' && token_matches(given, cfg->admin_token);
	bool metrics = cfg->metrics_token[0] != '\0' && token_matches(given, cfg->metrics_token);
	return admin || (metrics && read_only_route(route));
}
