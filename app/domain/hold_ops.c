#include "domain/hold_ops.h"

#include <string.h>

#include "domain/domain.h"
#include "domain/hold_math.h"

int product_refusal(db *d, int64_t product_id, int refusal)
{
	int exists = 0;
	int rc = product_exists(d, product_id, &exists);
	if (rc != DB_OK)
		return rc;
	return exists ? refusal : DOM_PRODUCT_NOT_FOUND;
}

int cart_refusal(db *d, const stk_config *cfg, const locked_cart *cart, int64_t product_id, int64_t line_add,
		 bool check_full)
{
	if (!cart->found)
		return DOM_CART_NOT_FOUND;
	int refusal = DOM_OK;
	if (cart->checked_out)
		refusal = DOM_CART_CLOSED;
	else if (cart->line + line_add > LINE_MAX_UNITS)
		refusal = DOM_QUANTITY_LIMIT;
	else if (check_full && cart->line == 0 && !cart->has_live_hold && cart->products >= cfg->max_cart_lines)
		refusal = DOM_CART_FULL;
	return refusal == DOM_OK ? DOM_OK : product_refusal(d, product_id, refusal);
}

int hold_take(db *d, const stk_config *cfg, const char *cart_id, int64_t cart_held, int64_t product_id,
	      int64_t quantity, const char *line_mode, int64_t now_ms, bool try_fast, hold_change *out)
{
	memset(out, 0, sizeof *out);
	int64_t until = now_ms + cfg->reservation_timeout_ms;
	/* The fast path: when it matches, every hold of the product is live,
	 * so the cart's is still the one read under the cart's lock. */
	if (try_fast && cart_held + quantity <= cfg->max_hold_per_product) {
		bool done;
		int rc = hold_if_free(d, cart_id, product_id, quantity, until, now_ms, line_mode, &done,
				      &out->reserved, &out->available);
		if (rc != DB_OK)
			return rc;
		line_mode = NULL; /* the line is written, done or not */
		if (done) {
			out->reserved_until = until;
			out->changed = quantity;
			return DB_OK;
		}
	}
	if (line_mode != NULL) {
		int rc = line_add(d, cart_id, product_id, quantity, line_mode);
		if (rc != DB_OK)
			return rc;
	}
	/* The full path: lock the row, reclaim what expired, say why not. */
	locked_product lp;
	int rc = lock_product(d, product_id, cart_held > 0 ? cart_id : NULL, now_ms, &lp);
	if (rc != DB_OK)
		return rc;
	out->expired = lp.expired_reclaimed;
	out->available = lp.stock - lp.reserved;
	rc = hold_can_take(lp.held, quantity, out->available, cfg->max_hold_per_product);
	if (rc != DOM_OK)
		return rc;
	rc = hold_write(d, cart_id, product_id, lp.held + quantity, until);
	if (rc == DB_OK)
		rc = product_update(d, &lp, 0, quantity, until);
	if (rc != DB_OK)
		return rc;
	out->reserved = lp.held + quantity;
	out->reserved_until = until;
	out->available -= quantity;
	out->changed = quantity;
	return DB_OK;
}

int hold_give_back(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t now_ms,
		   hold_change *out)
{
	memset(out, 0, sizeof *out);
	locked_product lp;
	int rc = lock_product(d, product_id, cart_id, now_ms, &lp);
	if (rc != DB_OK)
		return rc;
	int64_t released = hold_clamp_removal(lp.held, quantity);
	if (released > 0)
		rc = hold_write(d, cart_id, product_id, lp.held - released, lp.held_until);
	if (rc == DB_OK)
		rc = product_update(d, &lp, 0, -released, 0);
	if (rc != DB_OK)
		return rc;
	out->expired = lp.expired_reclaimed;
	out->reserved = lp.held - released;
	out->reserved_until = out->reserved > 0 ? lp.held_until : 0;
	out->available = lp.stock - lp.reserved + released;
	out->changed = released;
	return DB_OK;
}
