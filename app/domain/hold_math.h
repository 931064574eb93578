#ifndef STK_HOLD_MATH_H
#define STK_HOLD_MATH_H
#include <stdint.h>

/* The arithmetic of holds, apart from the database so it can be tested on
 * its own. All quantities are units of one product. */

/* May a cart holding `held` take `quantity` more, with `available` free and
 * at most `max_hold` per cart? DOM_OK, DOM_QUANTITY_LIMIT or
 * DOM_INSUFFICIENT_STOCK (the cap is checked first: it is the client's own
 * limit, whatever the stock). */
int hold_can_take(int64_t held, int64_t quantity, int64_t available, int64_t max_hold);

/* Units taken away when `requested` are asked from `have` (requested 0 =
 * all of it): never more than there is. Clamps a hold's release and a
 * cart line's removal alike. */
int64_t hold_clamp_removal(int64_t have, int64_t requested);

/* One product at checkout. */
typedef struct {
	int64_t wanted;    /* the cart line (0 for a hold without a line) */
	int64_t held;      /* the cart's live hold */
	int64_t available; /* stock - reserved, after reclaiming expired holds */
} checkout_in;

typedef struct {
	int ok;               /* enough for this line */
	int64_t sellable;     /* held + available: what this cart could get */
	int64_t stock_delta;  /* -wanted */
	int64_t reserved_delta; /* -held: the sold part and the surplus both go */
} checkout_out;

/* Sell from the cart's own hold first, from available for the rest; release
 * whatever of the hold is not sold. */
checkout_out checkout_plan(checkout_in in);

/* *total += quantity * price_cents, unless that would not fit in an
 * int64_t: then 0 and *total is unchanged. 1 when added. (10,000 lines of
 * 1,000 units at 10^12 cents each pass INT64_MAX.) */
int order_total_add(int64_t *total, int64_t quantity, int64_t price_cents);

#endif
