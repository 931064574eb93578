#ifndef STK_API_H
#define STK_API_H
#include <json-c/json.h>

#include "core/config.h"
#include "core/random.h"
#include "core/result.h"
#include "core/scoreboard.h"
#include "domain/domain.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

#define STOCK_LIST_MAX 100
/* Product list pages (contract: 1..100, 50 when not given). */
#define PRODUCT_PAGE_MAX 100
#define PRODUCT_PAGE_DEFAULT 50

/* A request's input once checked: plain values, no JSON. Which fields are
 * set depends on the route. Strings point into the parsed body. */
typedef struct {
	const char *cart_id;
	char path_cart_id[CART_ID_LEN + 1];
	int64_t product_id, quantity;
	bool moves_stock;          /* decrease_stock (add) / increase_stock (remove) */
	const char *sku, *name;
	size_t sku_len, name_len;
	int64_t price_cents, stock;
	bool is_set;               /* stock change: set (true) or delta */
	int64_t value;
	int64_t ids[STOCK_LIST_MAX];
	size_t nids;
	int64_t after, limit;      /* product list: the page after this id, at most limit */
} api_cmd;

/* Everything a handler sees of one request. */
typedef struct {
	const http_request *req;
	http_response *resp;
	dom_ctx *dom;
	const stk_config *cfg;
	scoreboard *sb;
	stock_mode mode;
	route_match route;
	json_object *body; /* the parsed body of a write route; owned here */
	api_cmd cmd;
	bool replayed;     /* answered from a stored Idempotency-Key answer */
	/* The domain's answer to this request: DOM_OK, the DOM_* refusal or
	 * the DB_ERR_* that api_fail() answered. The accounting reads it. */
	int result;
} api_ctx;

/* What a check did: API_GO_ON, or API_ANSWERED (it filled c->resp). */
enum { API_GO_ON = 0, API_ANSWERED = 4001 };
_Static_assert(RC_API(API_ANSWERED), "API_* in their range (core/result.h)");

/* A route's handler in two halves, so that every check of the request's
 * shape (400) and mode (503) answers before anything touches the database
 * or an idempotency key:
 *   check: validate input into c->cmd; API_GO_ON, or API_ANSWERED;
 *   run:   existence (404), state (409) and the change, one transaction. */
typedef struct {
	int (*check)(api_ctx *c);
	void (*run)(api_ctx *c);
} api_handler;

extern const api_handler api_product_get, api_product_list, api_stock_list, api_cart_create, api_cart_get, api_cart_add,
	api_cart_remove, api_cart_checkout, api_stock_reserve, api_stock_release, api_admin_product_create,
	api_admin_product_stock, api_admin_audit, api_metrics, api_healthz, api_readyz, api_status;

/* Route, check the request's shape, then run the handler. Fills c->resp. */
void api_dispatch(api_ctx *c);

/* errors.c: answer a domain outcome or a database failure. */
void api_fail(api_ctx *c, int rc, const dom_refusal *why);
/* 400 invalid_request naming the field, with a sentence on what is wanted. */
void api_bad_field(api_ctx *c, const char *field, const char *wanted);
/* 503 stock_management_disabled: reserve and release in legacy mode. */
void api_stock_disabled(api_ctx *c);
/* A check that takes nothing. */
int api_no_input(api_ctx *c);

/* views.c: the JSON shapes of the contract. */
json_object *view_product(const product *p);
/* {"items":[product...],"next_after":id|null}: next_after is the last id
 * when more may follow. */
json_object *view_product_page(const product *list, size_t n, bool more);
json_object *view_cart(const cart_view *v);
json_object *view_order(const order *o);
json_object *view_hold(const char *cart_id, int64_t product_id, const hold_state *h);
json_object *json_time_or_null(int64_t epoch_ms);

#endif
