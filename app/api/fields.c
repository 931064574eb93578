#include "api/fields.h"

#include "api/validate.h"

int need_cart_id(api_ctx *c)
{
	if (field_cart_id(c->body, "cart_id", &c->cmd.cart_id) == FIELD_OK)
		return API_GO_ON;
	api_bad_field(c, "cart_id", "a cart id of 32 lowercase hex characters");
	return API_ANSWERED;
}

int need_product_id(api_ctx *c)
{
	if (field_int(c->body, "product_id", 1, INT64_MAX, &c->cmd.product_id) == FIELD_OK)
		return API_GO_ON;
	api_bad_field(c, "product_id", "an integer from 1 to 9223372036854775807");
	return API_ANSWERED;
}

int need_quantity(api_ctx *c, bool required)
{
	c->cmd.quantity = 0;
	int rc = field_int(c->body, "quantity", 1, QUANTITY_MAX, &c->cmd.quantity);
	if (rc == FIELD_OK || (rc == FIELD_MISSING && !required))
		return API_GO_ON;
	api_bad_field(c, "quantity", "an integer from 1 to 1000");
	return API_ANSWERED;
}

int opt_moves_stock(api_ctx *c, const char *name)
{
	c->cmd.moves_stock = false;
	if (field_bool(c->body, name, &c->cmd.moves_stock) != FIELD_BAD)
		return API_GO_ON;
	api_bad_field(c, name, "true or false");
	return API_ANSWERED;
}
