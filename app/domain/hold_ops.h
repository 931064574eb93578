#ifndef STK_HOLD_OPS_H
#define STK_HOLD_OPS_H
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "domain/locking.h"
#include "store/db.h"

/* What every cart and hold path shares, inside its transaction. */

/* A cart line never passes this, whatever the configuration (contract). */
#define LINE_MAX_UNITS 1000

/* The refusals a locked cart gives before any product lock: not found,
 * closed, a line past LINE_MAX_UNITS after line_add more units, and (with
 * check_full) a new product past MAX_CART_LINES. A refusal is reported only
 * once the product is known to exist: 404 comes before 409. */
int cart_refusal(db *d, const stk_config *cfg, const locked_cart *cart, int64_t product_id, int64_t line_add,
		 bool check_full);

/* DOM_PRODUCT_NOT_FOUND if the product does not exist, else `refusal`. */
int product_refusal(db *d, int64_t product_id, int refusal);

/* The cart's hold on a product after a change, and the product's available. */
typedef struct {
	int64_t reserved, reserved_until, available;
	int64_t expired;  /* units of expired holds reclaimed on the way */
	int64_t changed;  /* units taken (hold_take) or given back (hold_give_back) */
} hold_change;

/* Hold `quantity` more units of the product for the cart, restarting the
 * hold's timeout. cart_held: the cart's live hold on the product as read
 * under the cart's lock (holds are written only under it, so it stays so
 * until the product's expired holds are reclaimed). DB_OK,
 * DOM_PRODUCT_NOT_FOUND, DOM_QUANTITY_LIMIT, DOM_INSUFFICIENT_STOCK
 * (out->available says how many were free) or a DB_ERR_*. With line_mode
 * set ("stock"), the cart's line += quantity first, in the same round trip
 * as the hold when the fast path applies (an add with decrease_stock).
 * It is the last statement of its transaction: the fast path may also
 * commit it (hold_if_free). Without try_fast (the caller's own fast path
 * just found the product's UPDATE would not match) it goes straight to the
 * full path. */
int hold_take(db *d, const stk_config *cfg, const char *cart_id, int64_t cart_held, int64_t product_id,
	      int64_t quantity, const char *line_mode, int64_t now_ms, bool try_fast, hold_change *out);

/* Lock the product and give back up to `quantity` units of the cart's hold
 * (0: all of it), never more than is held; the timeout is kept. */
int hold_give_back(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t now_ms,
		   hold_change *out);

#endif
