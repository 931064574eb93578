#include "api/api.h"
#include "api/validate.h"

static int check_get(api_ctx *c)
{
	/* A malformed id in a path is an unknown product, never a 400. */
	if (!parse_product_id(c->route.param, c->route.param_len, &c->cmd.product_id)) {
		api_fail(c, DOM_PRODUCT_NOT_FOUND, NULL);
		return API_ANSWERED;
	}
	return API_GO_ON;
}

static void run_get(api_ctx *c)
{
	product p;
	int rc = dom_product_get(c->dom, c->cmd.product_id, &p);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 200, view_product(&p));
	product_free(&p);
}

const api_handler api_product_get = { check_get, run_get };
