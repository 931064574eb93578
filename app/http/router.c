#include "http/router.h"

#include <stdio.h>
#include <string.h>

/* The routing table. "{}" matches one non-empty path segment. Literal
 * routes come before the parameter route that would also match them
 * ("/api/cart/add" before "/api/cart/{}"). */
typedef struct {
	route_id id;
	const char *method;
	const char *pattern;
	const char *name;
	int operator;
} route_def;

static const route_def routes[] = {
	{ ROUTE_PRODUCT_GET, "GET", "/api/products/{}", "product_get", 0 },
	{ ROUTE_PRODUCT_LIST, "GET", "/api/products", "product_list", 0 },
	{ ROUTE_STOCK_LIST, "GET", "/api/stock", "stock_list", 0 },
	{ ROUTE_CART_CREATE, "POST", "/api/cart", "cart_create", 0 },
	{ ROUTE_CART_ADD, "POST", "/api/cart/add", "cart_add", 0 },
	{ ROUTE_CART_REMOVE, "DELETE", "/api/cart/remove", "cart_remove", 0 },
	{ ROUTE_CART_CHECKOUT, "POST", "/api/cart/checkout", "cart_checkout", 0 },
	{ ROUTE_CART_GET, "GET", "/api/cart/{}", "cart_get", 0 },
	{ ROUTE_STOCK_RESERVE, "POST", "/api/stock/reserve", "stock_reserve", 0 },
	{ ROUTE_STOCK_RELEASE, "POST", "/api/stock/release", "stock_release", 0 },
	{ ROUTE_ADMIN_PRODUCT_CREATE, "POST", "/api/admin/products", "admin_product_create", 1 },
	{ ROUTE_ADMIN_PRODUCT_STOCK, "POST", "/api/admin/products/{}/stock", "admin_product_stock", 1 },
	{ ROUTE_ADMIN_AUDIT, "GET", "/api/admin/audit", "admin_audit", 1 },
	{ ROUTE_METRICS, "GET", "/metrics", "metrics", 1 },
	{ ROUTE_HEALTHZ, "GET", "/healthz", "healthz", 0 },
	{ ROUTE_READYZ, "GET", "/readyz", "readyz", 0 },
	{ ROUTE_STATUS, "GET", "/status", "status", 1 },
};

#define NROUTES (sizeof routes / sizeof routes[0])

/* Match path against pattern; on success the {} segment is returned. */
static int match(const char *pattern, const char *path, const char **param, size_t *param_len)
{
	*param = NULL;
	*param_len = 0;
	while (*pattern) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t n = strcspn(path, "/");
			if (n == 0)
				return 0;
			*param = path;
			*param_len = n;
			path += n;
			pattern += 2;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *path == '\0';
}

route_match router_match(const char *method, const char *path)
{
	route_match m;
	memset(&m, 0, sizeof m);
	m.id = ROUTE_NOT_FOUND;
	m.status = 404;
	int path_known = 0;
	for (size_t i = 0; i < NROUTES; i++) {
		const char *param;
		size_t plen;
		if (!match(routes[i].pattern, path, &param, &plen))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			/* A literal route owns its path for every method: GET
			 * /api/cart/add is 405, not a cart called "add". */
			if (path_known && param != NULL)
				break;
			m.id = routes[i].id;
			m.status = 0;
			m.param = param;
			m.param_len = plen;
			return m;
		}
		if (path_known && param != NULL)
			continue;
		if (!path_known || strstr(m.allow, routes[i].method) == NULL) {
			size_t used = strlen(m.allow);
			snprintf(m.allow + used, sizeof m.allow - used, "%s%s", used ? ", " : "", routes[i].method);
		}
		path_known = 1;
	}
	if (path_known)
		m.status = 405;
	return m;
}

const char *route_name(route_id id)
{
	if (id == ROUTE_PREFLIGHT)
		return "cors_preflight";
	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].id == id)
			return routes[i].name;
	return "not_found";
}

const char *route_method(route_id id)
{
	if (id == ROUTE_PREFLIGHT)
		return "OPTIONS";
	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].id == id)
			return routes[i].method;
	return "";
}

int route_is_operator(route_id id)
{
	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].id == id)
			return routes[i].operator;
	return 0;
}

int route_is_write(route_id id)
{
	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].id == id)
			return strcmp(routes[i].method, "GET") != 0;
	return 0;
}
