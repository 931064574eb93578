#include "api/api.h"
#include "api/validate.h"

void api_product_get(api_ctx *c)
{
	int64_t id;
	if (!parse_product_id(c->route.param, c->route.param_len, &id)) {
		api_fail(c, DOM_PRODUCT_NOT_FOUND, NULL);
		return;
	}
	product p;
	int rc = dom_product_get(c->dom, id, &p);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 200, view_product(&p));
	product_free(&p);
}
