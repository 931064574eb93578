#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/fields.h"
#include "api/validate.h"
#include "core/log.h"

static void answer_cart(api_ctx *c, int status, cart_view *v)
{
	resp_json(c->resp, status, view_cart(v));
	cart_view_free(v);
}

static void run_create(api_ctx *c)
{
	char id[CART_ID_LEN + 1];
	int rc = dom_cart_create(c->dom, id);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	cart_view v = { .nitems = 0, .items = NULL };
	memcpy(v.id, id, sizeof id);
	/* 32 hex digits always fit; were that ever broken, the id is still in
	 * the body, which is what the contract's clients read. */
	if (resp_set_cookie(c->resp, "cart_id", id, c->req->https) != 0)
		log_error("the cart_id cookie does not fit the response");
	answer_cart(c, 201, &v);
}

const api_handler api_cart_create = { api_no_input, run_create };

static int check_get(api_ctx *c)
{
	/* A malformed id in a path is an unknown cart, never a 400. */
	if (!valid_cart_id(c->route.param, c->route.param_len)) {
		api_fail(c, DOM_CART_NOT_FOUND, NULL);
		return API_ANSWERED;
	}
	memcpy(c->cmd.path_cart_id, c->route.param, CART_ID_LEN);
	c->cmd.path_cart_id[CART_ID_LEN] = '\0';
	return API_GO_ON;
}

static void run_get(api_ctx *c)
{
	cart_view v;
	int rc = dom_cart_view(c->dom, c->cmd.path_cart_id, &v);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	answer_cart(c, 200, &v);
}

const api_handler api_cart_get = { check_get, run_get };

static int check_add(api_ctx *c)
{
	if (need_cart_id(c) || need_product_id(c) || need_quantity(c, true) || opt_moves_stock(c, "decrease_stock"))
		return API_ANSWERED;
	return API_GO_ON;
}

static void run_add(api_ctx *c)
{
	const api_cmd *m = &c->cmd;
	cart_view v;
	dom_refusal why;
	int rc = dom_cart_add(c->dom, c->mode, m->cart_id, m->product_id, m->quantity, m->moves_stock, &v, &why);
	if (rc != DB_OK) {
		api_fail(c, rc, &why);
		dom_refusal_free(&why);
		return;
	}
	answer_cart(c, 200, &v);
}

const api_handler api_cart_add = { check_add, run_add };

static int check_remove(api_ctx *c)
{
	if (need_cart_id(c) || need_product_id(c) || need_quantity(c, false) || opt_moves_stock(c, "increase_stock"))
		return API_ANSWERED;
	return API_GO_ON;
}

static void run_remove(api_ctx *c)
{
	const api_cmd *m = &c->cmd;
	cart_view v;
	int rc = dom_cart_remove(c->dom, c->mode, m->cart_id, m->product_id, m->quantity, m->moves_stock, &v);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	answer_cart(c, 200, &v);
}

const api_handler api_cart_remove = { check_remove, run_remove };

static int check_checkout(api_ctx *c)
{
	return need_cart_id(c);
}

static void run_checkout(api_ctx *c)
{
	order o;
	bool repeated = false;
	dom_refusal why;
	int rc = dom_checkout(c->dom, c->cmd.cart_id, &o, &repeated, &why);
	if (rc != DB_OK) {
		api_fail(c, rc, &why);
		dom_refusal_free(&why);
		return;
	}
	/* 201 for the order made now, 200 for the same order found again. */
	resp_json(c->resp, repeated ? 200 : 201, view_order(&o));
	order_free(&o);
}

const api_handler api_cart_checkout = { check_checkout, run_checkout };
