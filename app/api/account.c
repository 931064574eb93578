#include "api/account.h"

#include <stdio.h>
#include <string.h>

#include "core/access_log.h"
#include "core/clock.h"
#include "core/log.h"

void account_cart_hash(const char *cart_id, char out[17])
{
	/* FNV-1a: the input is 128 random bits, so a fast unkeyed hash is
	 * already one-way in practice and stable across workers and restarts. */
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = cart_id; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Calls whose failure means stock management is failing the shopper. */
static int is_stock_call(const api_ctx *c)
{
	switch (c->route.id) {
	case ROUTE_STOCK_RESERVE:
	case ROUTE_STOCK_RELEASE:
		return 1;
	case ROUTE_CART_ADD:
	case ROUTE_CART_REMOVE:
		return c->cmd.moves_stock;
	case ROUTE_CART_CHECKOUT:
		return c->mode == MODE_STOCK;
	default:
		return 0;
	}
}

static void count(scoreboard *sb, const api_ctx *c, double ms, const db_stats *dbs)
{
	int route = c->route.id, mode = c->mode == MODE_STOCK, status = c->resp->status;
	sb_add(&sb->requests[route][mode][scoreboard_status_slot(status)], 1);
	sb_add(&sb->duration[route][mode][scoreboard_bucket_of(ms)], 1);
	sb_add(&sb->duration_us[route][mode], (uint64_t)(ms * 1000));
	if (route == ROUTE_CART_ADD && !c->replayed) { /* a replay added nothing */
		int result = status == 200 ? ADD_OK : c->result == DOM_INSUFFICIENT_STOCK ? ADD_INSUFFICIENT : ADD_ERROR;
		sb_add(&sb->cart_add[mode][result], 1);
	}
	if (is_stock_call(c))
		sb_add(&sb->stock_api[mode][status >= 500], 1);
	const dom_events *ev = &c->dom->events;
	sb_add(&sb->hold_units[mode][HOLDS_CREATED], (uint64_t)ev->held);
	sb_add(&sb->hold_units[mode][HOLDS_RELEASED], (uint64_t)ev->released);
	sb_add(&sb->hold_units[mode][HOLDS_EXPIRED_LAZY], (uint64_t)ev->expired);
	sb_add(&sb->hold_units[mode][HOLDS_CONVERTED], (uint64_t)ev->converted);
	sb_add(&sb->carts_created[mode], (uint64_t)ev->carts_created);
	sb_add(&sb->carts_checked_out[mode], (uint64_t)ev->carts_checked_out);
	sb_add(&sb->db_retries_deadlock, c->dom->stats.deadlocks);
	sb_add(&sb->db_retries_lock_wait, c->dom->stats.lock_waits);
	for (int i = 0; i < SB_DB_BUCKETS; i++)
		sb_add(&sb->db_statements[i], dbs->statements[i]);
	sb_add(&sb->db_statement_us, dbs->statement_us);
	sb_add(&sb->db_errors, dbs->errors);
}

static const char *cart_of(const api_ctx *c)
{
	if (c->cmd.cart_id != NULL)
		return c->cmd.cart_id;
	return c->cmd.path_cart_id[0] ? c->cmd.path_cart_id : NULL;
}

static void access_line(const api_ctx *c, double ms)
{
	if (!access_log_on())
		return;
	char ts[25], hash[17] = "", line[1024];
	clock_format_ms(clock_now_ms(), ts);
	const char *cart = cart_of(c);
	if (cart != NULL)
		account_cart_hash(cart, hash);
	access_entry e = {
		.time = ts,
		.request_id = c->req->request_id,
		.method = c->req->method,
		.route = route_name(c->route.id),
		.mode = c->mode == MODE_STOCK ? "stock" : "legacy",
		.cart = hash[0] ? hash : NULL,
		.status = c->resp->status,
		.duration_ms = ms,
		.db_retries = (long)(c->dom->stats.deadlocks + c->dom->stats.lock_waits),
	};
	size_t len = access_log_format(&e, line, sizeof line);
	if (len > 0)
		access_log_write(line, len);
}

void account_request(scoreboard *sb, const api_ctx *c, double ms, const db_stats *dbs)
{
	if (c->cfg->metrics)
		count(sb, c, ms, dbs);
	access_line(c, ms);
	if (ms >= (double)c->cfg->slow_request_ms) {
		sb_add(&sb->slow_requests, 1);
		log_warn("slow request: %s %s took %.1f ms (status %d)", c->req->method, route_name(c->route.id), ms,
			 c->resp->status);
	}
}
