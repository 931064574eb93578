#include <stdlib.h>

#include "api/api.h"
#include "api/fields.h"
#include "api/validate.h"

#define STOCK_LIST_MAX 100

void api_stock_list(api_ctx *c)
{
	int64_t ids[STOCK_LIST_MAX];
	int n = parse_id_list(c->req->query, "ids", ids, STOCK_LIST_MAX);
	if (n <= 0) {
		api_bad_field(c, "ids", "a comma-separated list of 1 to 100 product ids");
		return;
	}
	product *list;
	size_t count;
	int rc = dom_products_list(c->dom, ids, (size_t)n, &list, &count);
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

/* Reserve and release share their input; the mode check comes after the
 * shape checks (contract order: shape, mode, existence, state). */
static int hold_input(api_ctx *c, bool quantity_required, const char **cart, int64_t *product_id, int64_t *quantity)
{
	if (need_cart_id(c, cart) || need_product_id(c, product_id) || need_quantity(c, quantity_required, quantity))
		return -1;
	if (c->mode != MODE_STOCK) {
		api_stock_disabled(c);
		return -1;
	}
	return 0;
}

void api_stock_reserve(api_ctx *c)
{
	const char *cart;
	int64_t product_id, quantity;
	if (hold_input(c, true, &cart, &product_id, &quantity))
		return;
	hold_state h;
	dom_refusal why;
	int rc = dom_reserve(c->dom, cart, product_id, quantity, &h, &why);
	if (rc != DB_OK) {
		api_fail(c, rc, &why);
		dom_refusal_free(&why);
		return;
	}
	resp_json(c->resp, 200, view_hold(cart, product_id, &h));
}

void api_stock_release(api_ctx *c)
{
	const char *cart;
	int64_t product_id, quantity;
	if (hold_input(c, false, &cart, &product_id, &quantity))
		return;
	hold_state h;
	int rc = dom_release(c->dom, cart, product_id, quantity, &h);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 200, view_hold(cart, product_id, &h));
}
