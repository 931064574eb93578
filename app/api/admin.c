#include "api/api.h"
#include "api/validate.h"
#include "domain/audit.h"

/* Generous but finite: prices and stock stay far from overflow in any sum. */
#define AMOUNT_MAX 1000000000000LL
#define DELTA_MAX 1000000

static int check_create(api_ctx *c)
{
	api_cmd *m = &c->cmd;
	if (field_string(c->body, "sku", 1, 64, &m->sku, &m->sku_len) != FIELD_OK) {
		api_bad_field(c, "sku", "a string of 1 to 64 characters");
		return API_ANSWERED;
	}
	if (field_string(c->body, "name", 1, 200, &m->name, &m->name_len) != FIELD_OK) {
		api_bad_field(c, "name", "a string of 1 to 200 characters");
		return API_ANSWERED;
	}
	if (field_int(c->body, "price_cents", 0, AMOUNT_MAX, &m->price_cents) != FIELD_OK) {
		api_bad_field(c, "price_cents", "an integer from 0 to 1000000000000");
		return API_ANSWERED;
	}
	if (field_int(c->body, "stock", 0, AMOUNT_MAX, &m->stock) != FIELD_OK) {
		api_bad_field(c, "stock", "an integer from 0 to 1000000000000");
		return API_ANSWERED;
	}
	return API_GO_ON;
}

static void run_create(api_ctx *c)
{
	const api_cmd *m = &c->cmd;
	product p;
	int rc = dom_product_create(c->dom, m->sku, m->sku_len, m->name, m->name_len, m->price_cents, m->stock, &p);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 201, view_product(&p));
	product_free(&p);
}

const api_handler api_admin_product_create = { check_create, run_create };

static int check_stock(api_ctx *c)
{
	api_cmd *m = &c->cmd;
	int has_set = json_object_object_get_ex(c->body, "set", NULL);
	int has_delta = json_object_object_get_ex(c->body, "delta", NULL);
	if (has_set == has_delta) {
		api_bad_field(c, has_set ? "delta" : "set", "given alone: send exactly one of set or delta");
		return API_ANSWERED;
	}
	m->is_set = has_set;
	if (has_set && field_int(c->body, "set", 0, AMOUNT_MAX, &m->value) != FIELD_OK) {
		api_bad_field(c, "set", "an integer from 0 to 1000000000000");
		return API_ANSWERED;
	}
	if (has_delta && field_int(c->body, "delta", -DELTA_MAX, DELTA_MAX, &m->value) != FIELD_OK) {
		api_bad_field(c, "delta", "an integer from -1000000 to 1000000");
		return API_ANSWERED;
	}
	if (!parse_product_id(c->route.param, c->route.param_len, &m->product_id)) {
		api_fail(c, DOM_PRODUCT_NOT_FOUND, NULL);
		return API_ANSWERED;
	}
	return API_GO_ON;
}

static void run_stock(api_ctx *c)
{
	const api_cmd *m = &c->cmd;
	product p;
	int rc = dom_product_stock(c->dom, m->product_id, m->is_set, m->value, &p);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	resp_json(c->resp, 200, view_product(&p));
	product_free(&p);
}

const api_handler api_admin_product_stock = { check_stock, run_stock };

static void run_audit(api_ctx *c)
{
	audit_report r;
	int rc = dom_audit(c->dom, &r);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	json_object *problems = json_object_new_array();
	for (size_t i = 0; i < r.nproblems; i++) {
		const audit_problem *p = &r.problems[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "invariant", json_object_new_int(p->invariant));
		json_object_object_add(o, "code", json_object_new_string(p->code));
		json_object_object_add(o, "message", json_object_new_string(audit_message(p)));
		if (p->product_id)
			json_object_object_add(o, "product_id", json_object_new_int64(p->product_id));
		if (p->cart_id[0])
			json_object_object_add(o, "cart_id", json_object_new_string(p->cart_id));
		json_object_object_add(o, "expected", json_object_new_int64(p->expected));
		json_object_object_add(o, "actual", json_object_new_int64(p->actual));
		json_object_array_add(problems, o);
	}
	json_object *top = json_object_new_object();
	json_object_object_add(top, "ok", json_object_new_boolean(r.nproblems == 0));
	json_object_object_add(top, "products_checked", json_object_new_int64(r.products_checked));
	json_object_object_add(top, "problems", problems);
	resp_json(c->resp, 200, top);
	audit_report_free(&r);
}

const api_handler api_admin_audit = { api_no_input, run_audit };
