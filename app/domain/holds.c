#include <string.h>

#include "core/clock.h"
#include "domain/domain.h"
#include "domain/hold_math.h"
#include "domain/locking.h"

typedef struct {
	const stk_config *cfg;
	const char *cart_id;
	int64_t product_id, quantity;
	hold_state *out;
	dom_refusal *why;
	dom_events ev; /* this attempt's; kept only if it commits */
} hold_op;

/* The cart-level refusals (closed, full) wait until the product is known to
 * exist: 404 comes before 409. */
static int cart_refusal(db *d, const locked_cart *cart, int refusal, int64_t product_id)
{
	if (!cart->found)
		return DOM_CART_NOT_FOUND;
	if (refusal == DOM_OK)
		return DOM_OK;
	int exists = 0;
	int rc = product_exists(d, product_id, &exists);
	if (rc != DB_OK)
		return rc;
	return exists ? refusal : DOM_PRODUCT_NOT_FOUND;
}

static int reserve_body(db *d, void *arg)
{
	hold_op *op = arg;
	memset(&op->ev, 0, sizeof op->ev);
	int64_t now = clock_now_ms();
	locked_cart cart;
	int rc = lock_cart(d, op->cart_id, op->product_id, now, &cart);
	if (rc != DB_OK)
		return rc;
	int refusal = DOM_OK;
	if (cart.checked_out)
		refusal = DOM_CART_CLOSED;
	else if (cart.line == 0 && !cart.has_live_hold && cart.products >= op->cfg->max_cart_lines)
		refusal = DOM_CART_FULL;
	rc = cart_refusal(d, &cart, refusal, op->product_id);
	if (rc != DOM_OK)
		return rc;

	locked_product lp;
	rc = lock_product(d, op->product_id, op->cart_id, now, &lp);
	if (rc != DB_OK)
		return rc;
	op->ev.expired += lp.expired_reclaimed;
	int64_t available = lp.stock - lp.reserved;
	rc = hold_can_take(lp.held, op->quantity, available, op->cfg->max_hold_per_product);
	if (rc != DOM_OK) {
		op->why->available = available;
		return rc;
	}
	/* Adding to a hold restarts its whole timeout. */
	int64_t until = now + op->cfg->reservation_timeout_ms;
	rc = hold_write(d, op->cart_id, op->product_id, lp.held + op->quantity, until);
	if (rc != DB_OK)
		return rc;
	rc = product_adjust(d, op->product_id, 0, op->quantity);
	if (rc != DB_OK)
		return rc;
	*op->out = (hold_state){ lp.held + op->quantity, until, available - op->quantity };
	op->ev.held += op->quantity;
	return DB_OK;
}

int dom_reserve(dom_ctx *c, const char *cart_id, int64_t product_id, int64_t quantity,
		hold_state *out, dom_refusal *why)
{
	memset(why, 0, sizeof *why);
	memset(out, 0, sizeof *out);
	hold_op op = { c->cfg, cart_id, product_id, quantity, out, why, { 0 } };
	txn_policy pol = dom_policy(c);
	int rc = txn_run(c->db, &pol, reserve_body, &op, &c->stats);
	if (rc == DB_OK)
		dom_events_add(&c->events, &op.ev);
	return rc;
}

static int release_body(db *d, void *arg)
{
	hold_op *op = arg;
	memset(&op->ev, 0, sizeof op->ev);
	int64_t now = clock_now_ms();
	locked_cart cart;
	int rc = lock_cart(d, op->cart_id, 0, now, &cart);
	if (rc != DB_OK)
		return rc;
	rc = cart_refusal(d, &cart, cart.checked_out ? DOM_CART_CLOSED : DOM_OK, op->product_id);
	if (rc != DOM_OK)
		return rc;

	locked_product lp;
	rc = lock_product(d, op->product_id, op->cart_id, now, &lp);
	if (rc != DB_OK)
		return rc;
	op->ev.expired += lp.expired_reclaimed;
	int64_t released = hold_release_amount(lp.held, op->quantity);
	op->ev.released += released;
	int64_t left = lp.held - released;
	if (released > 0) {
		rc = hold_write(d, op->cart_id, op->product_id, left, lp.held_until);
		if (rc != DB_OK)
			return rc;
		rc = product_adjust(d, op->product_id, 0, -released);
		if (rc != DB_OK)
			return rc;
	}
	*op->out = (hold_state){ left, left > 0 ? lp.held_until : 0, lp.stock - lp.reserved + released };
	return DB_OK;
}

int dom_release(dom_ctx *c, const char *cart_id, int64_t product_id, int64_t quantity,
		hold_state *out)
{
	memset(out, 0, sizeof *out);
	dom_refusal unused;
	hold_op op = { c->cfg, cart_id, product_id, quantity, out, &unused, { 0 } };
	txn_policy pol = dom_policy(c);
	int rc = txn_run(c->db, &pol, release_body, &op, &c->stats);
	if (rc == DB_OK)
		dom_events_add(&c->events, &op.ev);
	return rc;
}
