#include <stdlib.h>

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

static int check_list(api_ctx *c)
{
	api_cmd *m = &c->cmd;
	m->after = 0;
	m->limit = PRODUCT_PAGE_DEFAULT;
	if (query_int(c->req->query, "after", 0, INT64_MAX, &m->after) == FIELD_BAD) {
		api_bad_field(c, "after", "a product id, or 0 for the first page");
		return -1;
	}
	if (query_int(c->req->query, "limit", 1, PRODUCT_PAGE_MAX, &m->limit) == FIELD_BAD) {
		api_bad_field(c, "limit", "a whole number from 1 to 100");
		return -1;
	}
	return 0;
}

static void run_list(api_ctx *c)
{
	product *list;
	size_t n;
	bool more;
	int rc = dom_products_page(c->dom, c->cmd.after, (size_t)c->cmd.limit, &list, &n, &more);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 200, view_product_page(list, n, more));
	for (size_t i = 0; i < n; i++)
		product_free(&list[i]);
	free(list);
}

const api_handler api_product_list = { check_list, run_list };
