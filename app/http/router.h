#ifndef STK_ROUTER_H
#define STK_ROUTER_H
#include <stddef.h>

typedef enum {
	ROUTE_PRODUCT_GET,
	ROUTE_PRODUCT_LIST,
	ROUTE_STOCK_LIST,
	ROUTE_CART_CREATE,
	ROUTE_CART_GET,
	ROUTE_CART_ADD,
	ROUTE_CART_REMOVE,
	ROUTE_CART_CHECKOUT,
	ROUTE_STOCK_RESERVE,
	ROUTE_STOCK_RELEASE,
	ROUTE_ADMIN_PRODUCT_CREATE,
	ROUTE_ADMIN_PRODUCT_STOCK,
	ROUTE_ADMIN_AUDIT,
	ROUTE_METRICS,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_STATUS,
	ROUTE_COUNT,
	ROUTE_NOT_FOUND = ROUTE_COUNT, /* for counting: no route matched */
	ROUTE_PREFLIGHT,               /* for counting: a CORS preflight (OPTIONS) */
	ROUTE_SLOTS
} route_id;

typedef struct {
	route_id id;        /* valid when status == 0 */
	int status;         /* 0 matched, 404 no such path, 405 wrong method */
	const char *param;  /* the {} segment of the path, if the route has one */
	size_t param_len;
	char allow[48];     /* 405: the methods this path takes */
} route_match;

route_match router_match(const char *method, const char *path);
/* Stable name of a route for metrics and logs ("cart_add"). */
const char *route_name(route_id id);
/* The route's method ("GET"...); "" for ROUTE_NOT_FOUND. */
const char *route_method(route_id id);
/* Operator routes: loopback or admin token only. */
int route_is_operator(route_id id);
/* Routes whose requests may carry an Idempotency-Key (POST and DELETE). */
int route_is_write(route_id id);

#endif
