#ifndef STK_API_H
#define STK_API_H
#include <json-c/json.h>

#include "core/config.h"
#include "core/scoreboard.h"
#include "domain/domain.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

/* Everything a handler sees of one request. Handlers validate input, call
 * one domain operation and render the result; they hold no SQL. */
typedef struct {
	const http_request *req;
	http_response *resp;
	dom_ctx *dom;
	const stk_config *cfg;
	scoreboard *sb;
	stock_mode mode;
	route_match route;
	json_object *body; /* the parsed body of a write route; owned here */
} api_ctx;

/* Route, check the request's shape, then run the handler. Fills c->resp. */
void api_dispatch(api_ctx *c);

/* Handlers, one per route (api/<resource>.c). */
void api_product_get(api_ctx *c);
void api_stock_list(api_ctx *c);
void api_cart_create(api_ctx *c);
void api_cart_get(api_ctx *c);
void api_cart_add(api_ctx *c);
void api_cart_remove(api_ctx *c);
void api_cart_checkout(api_ctx *c);
void api_stock_reserve(api_ctx *c);
void api_stock_release(api_ctx *c);
void api_admin_product_create(api_ctx *c);
void api_admin_product_stock(api_ctx *c);
void api_admin_audit(api_ctx *c);
void api_metrics(api_ctx *c);
void api_healthz(api_ctx *c);
void api_readyz(api_ctx *c);

/* errors.c: answer a domain outcome or a database failure. */
void api_fail(api_ctx *c, int rc, const dom_refusal *why);
/* 400 invalid_request naming the field, with a sentence on what is wanted. */
void api_bad_field(api_ctx *c, const char *field, const char *wanted);
/* 503 stock_management_disabled: reserve and release in legacy mode. */
void api_stock_disabled(api_ctx *c);

/* views.c: the JSON shapes of the contract. */
json_object *view_product(const product *p);
json_object *view_cart(const cart_view *v);
json_object *view_order(const order *o);
json_object *view_hold(const char *cart_id, int64_t product_id, const hold_state *h);
json_object *json_time_or_null(int64_t epoch_ms);

#endif
