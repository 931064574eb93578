#include <stdio.h>

#include "api/api.h"
#include "core/log.h"

typedef struct {
	int status;
	const char *code, *message;
} outcome;

static const outcome outcomes[DOM_CODE_COUNT] = {
	[DOM_CART_NOT_FOUND] = { 404, "cart_not_found", "No cart has this id." },
	[DOM_PRODUCT_NOT_FOUND] = { 404, "product_not_found", "No product has this id." },
	[DOM_ITEM_NOT_IN_CART] = { 404, "item_not_in_cart", "The cart has no line for this product." },
	[DOM_CART_CLOSED] = { 409, "cart_closed", "The cart was checked out and can no longer change." },
	[DOM_CART_EMPTY] = { 409, "cart_empty", "The cart has no lines to check out." },
	[DOM_CART_FULL] = { 409, "cart_full", "The cart already holds the most distinct products allowed." },
	[DOM_QUANTITY_LIMIT] = { 409, "quantity_limit", "This would pass the most units a cart may hold of one product." },
	[DOM_INSUFFICIENT_STOCK] = { 409, "insufficient_stock", "Not enough stock is available." },
	[DOM_SKU_EXISTS] = { 409, "sku_exists", "A product with this sku already exists." },
	[DOM_BELOW_RESERVED] = { 409, "below_reserved", "Stock cannot go below the units reserved for carts." },
	[DOM_ORDER_TOO_LARGE] = { 409, "order_too_large",
				  "The order's total in cents would not fit in a signed 64-bit integer; nothing was sold." },
};

void api_fail(api_ctx *c, int rc, const dom_refusal *why)
{
	c->result = rc;
	if (rc > 0 && rc < DOM_CODE_COUNT && outcomes[rc].code != NULL) {
		const outcome *o = &outcomes[rc];
		json_object *err = resp_error(c->resp, o->status, o->code, o->message);
		if (rc == DOM_INSUFFICIENT_STOCK && why != NULL) {
			if (why->shorts == NULL) {
				json_object_object_add(err, "available", json_object_new_int64(why->available));
			} else {
				json_object *items = json_object_new_array();
				for (size_t i = 0; i < why->nshort; i++) {
					json_object *it = json_object_new_object();
					json_object_object_add(it, "product_id", json_object_new_int64(why->shorts[i].product_id));
					json_object_object_add(it, "requested", json_object_new_int64(why->shorts[i].requested));
					json_object_object_add(it, "available", json_object_new_int64(why->shorts[i].available));
					json_object_array_add(items, it);
				}
				json_object_object_add(err, "items", items);
			}
		}
		return;
	}
	switch (rc) {
	case DB_ERR_GONE:
		resp_error(c->resp, 503, "database_unavailable", "The database cannot be reached; nothing was changed.");
		return;
	case DB_ERR_UNKNOWN:
		/* The one answer that cannot say "nothing was changed" (contract,
		 * invariant 4): the COMMIT may have landed before the line went. */
		resp_error(c->resp, 503, "database_unavailable",
			   c->req != NULL && c->req->has_idempotency_key
				   ? "The connection to the database was lost while the change was committing: the "
				     "outcome is unknown. Retry with the same Idempotency-Key: it answers the first "
				     "answer if the change was made, and makes it if not."
				   : "The connection to the database was lost while the change was committing: the "
				     "outcome is unknown. Check before retrying; a request sent with an Idempotency-Key "
				     "can be retried safely.");
		return;
	case DB_ERR_RETRY:
		resp_error(c->resp, 503, "database_unavailable",
			   "The database stayed busy with conflicting changes; nothing was changed. Retry.");
		return;
	default:
		log_error("request failed: %d %s", rc, db_error(c->dom->db));
		resp_error(c->resp, 500, "internal_error", "The request failed; nothing was changed.");
		return;
	}
}

void api_bad_field(api_ctx *c, const char *field, const char *wanted)
{
	char msg[200];
	snprintf(msg, sizeof msg, "%s must be %s.", field, wanted);
	resp_error_field(c->resp, field, msg);
}

void api_stock_disabled(api_ctx *c)
{
	resp_error(c->resp, 503, "stock_management_disabled",
		   "Stock management is off for this request; keep the cart locally.");
}

int api_no_input(api_ctx *c)
{
	(void)c;
	return API_GO_ON;
}
