#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "api/validate.h"

static void answer_cart(api_ctx *c, int status, cart_view *v)
{
	resp_json(c->resp, status, view_cart(v));
	cart_view_free(v);
}

void api_cart_create(api_ctx *c)
{
	char id[33];
	int rc = dom_cart_create(c->dom, id);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	cart_view v = { .nitems = 0, .items = NULL };
	memcpy(v.id, id, sizeof id);
	snprintf(c->resp->set_cookie, sizeof c->resp->set_cookie, "cart_id=%s; Path=/; HttpOnly; SameSite=Lax", id);
	answer_cart(c, 201, &v);
}

void api_cart_get(api_ctx *c)
{
	char id[33];
	/* A malformed id in a path is an unknown cart, never a 400. */
	if (!valid_cart_id(c->route.param, c->route.param_len)) {
		api_fail(c, DOM_CART_NOT_FOUND, NULL);
		return;
	}
	memcpy(id, c->route.param, 32);
	id[32] = '\0';
	cart_view v;
	int rc = dom_cart_view(c->dom, id, &v);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	answer_cart(c, 200, &v);
}

void api_cart_add(api_ctx *c)
{
	const char *cart;
	int64_t product_id, quantity;
	bool decrease;
	if (need_cart_id(c, &cart) || need_product_id(c, &product_id) || need_quantity(c, true, &quantity) ||
	    opt_flag(c, "decrease_stock", &decrease))
		return;
	cart_view v;
	dom_refusal why;
	int rc = dom_cart_add(c->dom, c->mode, cart, product_id, quantity, decrease, &v, &why);
	if (rc != DB_OK) {
		api_fail(c, rc, &why);
		dom_refusal_free(&why);
		return;
	}
	answer_cart(c, 200, &v);
}

void api_cart_remove(api_ctx *c)
{
	const char *cart;
	int64_t product_id, quantity;
	bool increase;
	if (need_cart_id(c, &cart) || need_product_id(c, &product_id) || need_quantity(c, false, &quantity) ||
	    opt_flag(c, "increase_stock", &increase))
		return;
	cart_view v;
	int rc = dom_cart_remove(c->dom, c->mode, cart, product_id, quantity, increase, &v);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	answer_cart(c, 200, &v);
}

void api_cart_checkout(api_ctx *c)
{
	const char *cart;
	if (need_cart_id(c, &cart))
		return;
	order o;
	bool repeated = false;
	dom_refusal why;
	int rc = dom_checkout(c->dom, cart, &o, &repeated, &why);
	if (rc != DB_OK) {
		api_fail(c, rc, &why);
		dom_refusal_free(&why);
		return;
	}
	/* 201 for the order made now, 200 for the same order found again. */
	resp_json(c->resp, repeated ? 200 : 201, view_order(&o));
	order_free(&o);
}
