#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/idempotency.h"

static const api_handler *const handlers[ROUTE_COUNT] = {
	[ROUTE_PRODUCT_GET] = &api_product_get,
	[ROUTE_STOCK_LIST] = &api_stock_list,
	[ROUTE_CART_CREATE] = &api_cart_create,
	[ROUTE_CART_GET] = &api_cart_get,
	[ROUTE_CART_ADD] = &api_cart_add,
	[ROUTE_CART_REMOVE] = &api_cart_remove,
	[ROUTE_CART_CHECKOUT] = &api_cart_checkout,
	[ROUTE_STOCK_RESERVE] = &api_stock_reserve,
	[ROUTE_STOCK_RELEASE] = &api_stock_release,
	[ROUTE_ADMIN_PRODUCT_CREATE] = &api_admin_product_create,
	[ROUTE_ADMIN_PRODUCT_STOCK] = &api_admin_product_stock,
	[ROUTE_ADMIN_AUDIT] = &api_admin_audit,
	[ROUTE_METRICS] = &api_metrics,
	[ROUTE_HEALTHZ] = &api_healthz,
	[ROUTE_READYZ] = &api_readyz,
	[ROUTE_STATUS] = &api_status,
};

static int is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0;
}

/* Constant time in the length of the expected token: the comparison must
 * not tell an attacker how many leading bytes they got right. */
static int token_matches(const char *given, const char *expected)
{
	size_t n = strlen(expected), g = strlen(given);
	unsigned char diff = (unsigned char)(g != n);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(expected[i] ^ (i < g ? given[i] : 0));
	return diff == 0;
}

static int operator_allowed(const api_ctx *c)
{
	if (is_loopback(c->req->remote_addr))
		return 1;
	const char *auth = c->req->authorization;
	if (c->cfg->admin_token[0] == '\0' || strncmp(auth, "Bearer ", 7) != 0)
		return 0;
	return token_matches(auth + 7, c->cfg->admin_token);
}

/* The checks of the request's shape that come before any handler:
 * 413, 415, 400 (body, Idempotency-Key). API_GO_ON or API_ANSWERED. */
static int check_shape(api_ctx *c)
{
	const http_request *r = c->req;
	if (r->body_status == BODY_TOO_LARGE) {
		resp_error(c->resp, 413, "payload_too_large", "The body is larger than 65536 bytes.");
		return API_ANSWERED;
	}
	if (r->body_status == BODY_BAD) {
		resp_error_field(c->resp, "body", "The body is shorter than its Content-Length, or the length is malformed.");
		return API_ANSWERED;
	}
	if (!route_is_write(c->route.id))
		return API_GO_ON;
	if (r->body_len > 0 && http_check_json_type(r->content_type) != 0) {
		resp_error(c->resp, 415, "unsupported_media_type", "Send the body as application/json in UTF-8.");
		return API_ANSWERED;
	}
	if (r->has_idempotency_key && !valid_idempotency_key(r->idempotency_key)) {
		resp_error_field(c->resp, "Idempotency-Key", "Idempotency-Key must be 1 to 64 characters from 0x21 to 0x7E.");
		return API_ANSWERED;
	}
	/* Creating a cart takes no input: an empty body is fine. */
	if (c->route.id == ROUTE_CART_CREATE && r->body_len == 0)
		return API_GO_ON;
	c->body = parse_json_object(r->body, r->body_len);
	if (c->body == NULL) {
		resp_error_field(c->resp, "body", "The body must be a JSON object.");
		return API_ANSWERED;
	}
	return API_GO_ON;
}

/* Idempotency-Key around the handler: replay, refuse, or run and keep. */
static void run_idempotent(api_ctx *c)
{
	const http_request *r = c->req;
	db *d = c->dom->db;
	idem_stored stored;
	int rc = idem_begin(d, r->idempotency_key, r->method, r->path, r->body ? r->body : "", r->body_len,
			    clock_now_ms(), c->cfg->request_timeout_ms, &stored);
	switch (rc) {
	case IDEM_NEW:
		break;
	case IDEM_REPLAY:
		c->resp->status = stored.status;
		c->resp->text = stored.body; /* ownership moves to the response */
		c->resp->text_len = stored.body_len;
		memcpy(c->resp->set_cookie, stored.set_cookie, sizeof stored.set_cookie);
		return;
	case IDEM_MISMATCH:
		resp_error(c->resp, 422, "idempotency_key_reused",
			   "This Idempotency-Key was used with a different body.");
		return;
	case IDEM_BUSY:
		resp_error(c->resp, 409, "idempotency_key_in_progress",
			   "A request with this Idempotency-Key is still running.");
		return;
	default:
		api_fail(c, rc, NULL);
		return;
	}
	/* The change's transaction stays open so that the answer is stored in
	 * it: the change and its answer commit together or not at all, and a
	 * retry after any crash either replays the answer or runs afresh. */
	c->dom->defer_commit = true;
	handlers[c->route.id]->run(c);
	c->dom->defer_commit = false;
	if (c->resp->status >= 500) {
		if (db_in_txn(d))
			db_rollback(d);
		if (idem_abandon(d, r->idempotency_key, r->method, r->path) != DB_OK)
			log_warn("idempotency key not released: %s", db_error(d));
		return;
	}
	size_t len;
	const char *text = resp_body_text(c->resp, &len);
	rc = idem_finish(d, r->idempotency_key, r->method, r->path, c->resp->status, text, len, c->resp->set_cookie);
	if (rc != DB_OK) {
		if (db_in_txn(d))
			db_rollback(d);
		/* Nothing committed: say so, and free the key for the retry. */
		api_fail(c, rc, NULL);
		if (idem_abandon(d, r->idempotency_key, r->method, r->path) != DB_OK)
			log_warn("idempotency key not released: %s", db_error(d));
		return;
	}
	if (db_in_txn(d) && (rc = db_commit(d)) != DB_OK) {
		/* The commit's fate is unknown: keep the claim. If it committed, the
		 * stored answer replays; if not, the claim goes stale after
		 * REQUEST_TIMEOUT and a retry runs afresh. */
		api_fail(c, rc, NULL);
	}
}

void api_dispatch(api_ctx *c)
{
	c->route = router_match(c->req->method, c->req->path);
	c->mode = c->cfg->enable_stock && strcmp(c->req->stock_mode, "legacy") != 0 ? MODE_STOCK : MODE_LEGACY;
	if (c->route.status == 404) {
		resp_error(c->resp, 404, "not_found", "No such route.");
		return;
	}
	if (c->route.status == 405) {
		resp_error(c->resp, 405, "method_not_allowed", "This route does not take this method.");
		snprintf(c->resp->allow, sizeof c->resp->allow, "%s", c->route.allow);
		return;
	}
	if (route_is_operator(c->route.id) && !operator_allowed(c)) {
		resp_error(c->resp, 403, "forbidden", "Operator routes need loopback or the admin token.");
		return;
	}
	if (check_shape(c) != API_GO_ON || handlers[c->route.id]->check(c) != API_GO_ON)
		return;
	if (route_is_write(c->route.id) && c->req->has_idempotency_key)
		run_idempotent(c);
	else
		handlers[c->route.id]->run(c);
}
