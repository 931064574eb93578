#include <stdlib.h>

#include "api/api.h"
#include "api/fields.h"
#include "api/validate.h"

static int check_list(api_ctx *c)
{
	int n = parse_id_list(c->req->query, "ids", c->cmd.ids, STOCK_LIST_MAX);
	if (n <= 0) {
		api_bad_field(c, "ids", "a comma-separated list of 1 to 100 product ids");
		return API_ANSWERED;
	}
	c->cmd.nids = (size_t)n;
	return API_GO_ON;
}

static void run_list(api_ctx *c)
{
	product *list;
	size_t count;
	int rc = dom_products_list(c->dom, c->cmd.ids, c->cmd.nids, &list, &count);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < count; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "product_id", json_object_new_int64(list[i].id));
		json_object_object_add(o, "stock", json_object_new_int64(list[i].stock));
		json_object_object_add(o, "reserved", json_object_new_int64(list[i].reserved));
		json_object_object_add(o, "available", json_object_new_int64(list[i].stock - list[i].reserved));
		json_object_array_add(items, o);
		product_free(&list[i]);
	}
	free(list);
	json_object *top = json_object_new_object();
	json_object_object_add(top, "items", items);
	resp_json(c->resp, 200, top);
}

const api_handler api_stock_list = { check_list, run_list };

/* Reserve and release share their input; the mode check comes after the
 * shape checks (contract order: shape, mode, existence, state). */
static int check_hold(api_ctx *c, bool quantity_required)
{
	if (need_cart_id(c) || need_product_id(c) || need_quantity(c, quantity_required))
		return API_ANSWERED;
	if (c->mode != MODE_STOCK) {
		api_stock_disabled(c);
		return API_ANSWERED;
	}
	return API_GO_ON;
}

static int check_reserve(api_ctx *c)
{
	return check_hold(c, true);
}

static void run_reserve(api_ctx *c)
{
	const api_cmd *m = &c->cmd;
	hold_state h;
	dom_refusal why;
	int rc = dom_reserve(c->dom, m->cart_id, m->product_id, m->quantity, &h, &why);
	if (rc != DB_OK) {
		api_fail(c, rc, &why);
		dom_refusal_free(&why);
		return;
	}
	resp_json(c->resp, 200, view_hold(m->cart_id, m->product_id, &h));
}

const api_handler api_stock_reserve = { check_reserve, run_reserve };

static int check_release(api_ctx *c)
{
	return check_hold(c, false);
}

static void run_release(api_ctx *c)
{
	const api_cmd *m = &c->cmd;
	hold_state h;
	int rc = dom_release(c->dom, m->cart_id, m->product_id, m->quantity, &h);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 200, view_hold(m->cart_id, m->product_id, &h));
}

const api_handler api_stock_release = { check_release, run_release };
