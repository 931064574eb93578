#include <string.h>

#include "core/clock.h"
#include "domain/domain.h"
#include "domain/hold_ops.h"

typedef struct {
	const stk_config *cfg;
	const char *cart_id;
	int64_t product_id, quantity;
	hold_state *out;
	dom_refusal *why;
	dom_events ev; /* this attempt's; kept only if it commits */
} hold_op;

/* One round trip when the reserve surely passes (reserve_if_free); else
 * the cart's rows and its refusals, then hold_take(), in the same
 * transaction and under the same cart lock. */
static int reserve_body(db *d, void *arg)
{
	hold_op *op = arg;
	memset(&op->ev, 0, sizeof op->ev);
	int64_t now = clock_now_ms();
	int64_t until = now + op->cfg->reservation_timeout_ms;
	reserve_limits lim = { op->cfg->max_hold_per_product, op->cfg->max_cart_lines, LINE_MAX_UNITS };
	reserve_outcome fast;
	int64_t held = 0, available = 0;
	int rc = reserve_if_free(d, op->cart_id, op->product_id, op->quantity, until, now, &lim, &fast, &held,
				 &available);
	if (rc != DB_OK)
		return rc;
	if (fast == RESERVE_DONE) {
		op->why->available = available;
		op->ev.held += op->quantity;
		*op->out = (hold_state){ held, until, available };
		return DB_OK;
	}
	locked_cart cart;
	rc = lock_cart(d, op->cart_id, op->product_id, now, &cart, NULL);
	if (rc == DB_OK)
		rc = cart_refusal(d, op->cfg, &cart, op->product_id, 0, true);
	if (rc != DB_OK)
		return rc;
	hold_change h;
	rc = hold_take(d, op->cfg, op->cart_id, cart.held, op->product_id, op->quantity, NULL, now,
		       fast == RESERVE_CART_UNSURE, &h);
	op->ev.expired += h.expired;
	op->why->available = h.available;
	if (rc != DB_OK)
		return rc;
	op->ev.held += h.changed;
	*op->out = (hold_state){ h.reserved, h.reserved_until, h.available };
	return DB_OK;
}

int dom_reserve(dom_ctx *c, const char *cart_id, int64_t product_id, int64_t quantity,
		hold_state *out, dom_refusal *why)
{
	DOM_REQUIRE(DOM_CART_ID_OK(cart_id));
	DOM_REQUIRE(product_id > 0 && quantity > 0);
	memset(why, 0, sizeof *why);
	memset(out, 0, sizeof *out);
	hold_op op = { c->cfg, cart_id, product_id, quantity, out, why, { 0 } };
	int rc = dom_txn(c, reserve_body, &op, &op.ev);
	return rc;
}

static int release_body(db *d, void *arg)
{
	hold_op *op = arg;
	memset(&op->ev, 0, sizeof op->ev);
	int64_t now = clock_now_ms();
	locked_cart cart;
	int rc = lock_cart(d, op->cart_id, 0, now, &cart, NULL);
	if (rc == DB_OK)
		rc = cart_refusal(d, op->cfg, &cart, op->product_id, 0, false);
	if (rc != DB_OK)
		return rc;
	hold_change h;
	rc = hold_give_back(d, op->cart_id, op->product_id, op->quantity, now, &h);
	if (rc != DB_OK)
		return rc;
	op->ev.expired += h.expired;
	op->ev.released += h.changed;
	*op->out = (hold_state){ h.reserved, h.reserved_until, h.available };
	return DB_OK;
}

int dom_release(dom_ctx *c, const char *cart_id, int64_t product_id, int64_t quantity,
		hold_state *out)
{
	DOM_REQUIRE(DOM_CART_ID_OK(cart_id));
	DOM_REQUIRE(product_id > 0 && quantity >= 0);
	memset(out, 0, sizeof *out);
	dom_refusal unused;
	hold_op op = { c->cfg, cart_id, product_id, quantity, out, &unused, { 0 } };
	int rc = dom_txn(c, release_body, &op, &op.ev);
	return rc;
}
