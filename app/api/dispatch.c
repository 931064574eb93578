#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "http/access.h"
#include "http/cors.h"

static const api_handler *const handlers[ROUTE_COUNT] = {
	[ROUTE_PRODUCT_GET] = &api_product_get,
	[ROUTE_PRODUCT_LIST] = &api_product_list,
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

/* One run of the handler for dom_idempotent(), from a fresh response each
 * time: the domain reruns it when storing the answer or the COMMIT meets a
 * conflict. */
static void run_for_key(void *arg, dom_answer *out)
{
	api_ctx *c = arg;
	http_response_reset(c->resp);
	handlers[c->route.id]->run(c);
	size_t len;
	const char *text = resp_body_text(c->resp, &len);
	/* A 5xx changed nothing: it is not stored, a retry runs afresh. */
	*out = (dom_answer){ c->resp->status, text, len, c->resp->set_cookie, c->resp->status < 500 };
}

/* Idempotency-Key around the handler: replay, refuse, or run and keep. The
 * change and its answer commit together or not at all (domain/idempotent.c),
 * so a retry after any crash either replays the answer or runs afresh. */
static void run_idempotent(api_ctx *c)
{
	const http_request *r = c->req;
	dom_idem_request rq = { r->idempotency_key, r->method, r->path, r->body ? r->body : "", r->body_len };
	idem_stored stored;
	int rc = dom_idempotent(c->dom, &rq, run_for_key, c, &stored);
	switch (rc) {
	case DB_OK:
		return; /* the handler's answer, committed with its change */
	case IDEM_REPLAY:
		c->replayed = true;
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
	case IDEM_LOST:
		/* LOST: we ran past REQUEST_TIMEOUT and a retry took the key over;
		 * ours rolled back, the retry's run is the one that counts. */
		resp_error(c->resp, 409, "idempotency_key_in_progress",
			   "A request with this Idempotency-Key is still running.");
		return;
	default:
		api_fail(c, rc, NULL);
		return;
	}
}

/* CORS (ALLOWED_ORIGINS): mark the answer for an allowed origin, and answer
 * a preflight here. 1 when the preflight was answered. Without the setting
 * nothing changes: no header, and OPTIONS stays a 405 like any method. */
static int apply_cors(api_ctx *c)
{
	const char *allowed = c->cfg->allowed_origins;
	if (allowed[0] == '\0')
		return 0;
	/* Whether an answer carries CORS headers depends on Origin: caches must
	 * key on it, for every answer. */
	c->resp->vary_origin = 1;
	int ok = cors_allowed(allowed, c->req);
	if (ok)
		c->resp->cors_origin = c->req->origin;
	if (!cors_is_preflight(c->req))
		return 0;
	if (c->route.status == 404) {
		resp_error(c->resp, 404, "not_found", "No such route.");
		return 1;
	}
	c->route.id = ROUTE_PREFLIGHT;
	if (!ok) {
		/* No CORS header: the browser refuses the call; the JSON says why
		 * to whoever looks at the network panel. */
		resp_error(c->resp, 403, "forbidden", "This origin may not call this route from a browser (ALLOWED_ORIGINS).");
		return 1;
	}
	c->resp->status = 204;
	snprintf(c->resp->cors_methods, sizeof c->resp->cors_methods, "%s", c->route.allow);
	return 1;
}

void api_dispatch(api_ctx *c)
{
	c->route = router_match(c->req->method, c->req->path);
	c->mode = c->cfg->enable_stock && strcmp(c->req->stock_mode, "legacy") != 0 ? MODE_STOCK : MODE_LEGACY;
	if (apply_cors(c))
		return;
	if (c->route.status == 404) {
		resp_error(c->resp, 404, "not_found", "No such route.");
		return;
	}
	if (c->route.status == 405) {
		resp_error(c->resp, 405, "method_not_allowed", "This route does not take this method.");
		snprintf(c->resp->allow, sizeof c->resp->allow, "%s", c->route.allow);
		return;
	}
	if (route_is_operator(c->route.id) &&
	    !access_operator_allowed(c->cfg, c->route.id, c->req->remote_addr, c->req->authorization)) {
		resp_error(c->resp, 403, "forbidden",
			   c->cfg->trust_loopback ? "Operator routes need loopback or the admin token."
						  : "Operator routes need the admin token.");
		return;
	}
	if (check_shape(c) != API_GO_ON || handlers[c->route.id]->check(c) != API_GO_ON)
		return;
	if (route_is_write(c->route.id) && c->req->has_idempotency_key)
		run_idempotent(c);
	else
		handlers[c->route.id]->run(c);
}
