#ifndef STK_LOCKING_H
#define STK_LOCKING_H
#include <stdint.h>

#include "domain/domain.h"
#include "store/db.h"

/* Lock order, the same in every code path, so that no two transactions can
 * wait on each other in a cycle:
 *   1. the cart row (carts.id), when the operation has a cart;
 *   2. product rows, in ascending id, each through lock_product();
 *   3. rows hanging off those (holds, lines, orders).
 * The sweep and operator stock changes start at step 2. */

/* next_expiry_ms of a product without holds: none expires before the end of time. */
#define HOLD_NO_EXPIRY INT64_MAX

typedef struct {
	int64_t id;
	int64_t stock, reserved, price_cents;
	int64_t held;            /* this cart's live hold on the product */
	int64_t held_until;      /* its expiry, epoch ms; 0 if none */
	int64_t expired_reclaimed; /* units of expired holds released just now */
	/* products.next_expiry_ms: no hold of the product expires before it.
	 * `stored` is the row's value, `next` what product_update() writes. */
	int64_t next_expiry_stored, next_expiry;
	int64_t pending_reserved; /* -expired_reclaimed until product_update() */
} locked_product;

/* SELECT ... FOR UPDATE the product row, then, if the clock has passed the
 * product's next_expiry_ms, delete its expired holds (expires_at_ms <=
 * now_ms) in the same transaction, so that an expired hold never blocks
 * anyone. With cart_id, also reads that cart's live hold on the product
 * (NULL: the caller knows the cart holds none). Returns DB_OK,
 * DOM_PRODUCT_NOT_FOUND or a DB_ERR_*. `reserved` is after the reclaim; the
 * row itself is written by product_update(), which every caller that got
 * DB_OK must call once before committing. */
int lock_product(db *d, int64_t product_id, const char *cart_id, int64_t now_ms, locked_product *out);

/* lock_product() for the sweep, which found expired holds of the product
 * by their own index: reclaims them whatever next_expiry_ms says, and
 * stores the bound again from what is left. So a bound made wrong by a
 * writer outside the app (a hand-run UPDATE) holds up nothing for longer
 * than one sweep. */
int lock_product_expired(db *d, int64_t product_id, int64_t now_ms, locked_product *out);

typedef struct {
	int found;
	int checked_out;
	/* with a product_id only: */
	int64_t line;      /* the cart line's quantity, 0 if none */
	int has_live_hold; /* a live hold on the product */
	int64_t held;      /* its units */
	int64_t products;  /* distinct products with a line or a live hold */
} locked_cart;

/* SELECT ... FOR UPDATE the cart row: serialises a cart's own requests.
 * With product_id > 0, the same round trip also reads the cart's lines and
 * live holds: the facts about that product go to *out and, if view is not
 * NULL, the items (sorted by product, one spare slot) to *view, which the
 * caller frees with cart_view_free(). */
int lock_cart(db *d, const char *cart_id, int64_t product_id, int64_t now_ms, locked_cart *out,
	      cart_view *view);

/* The cart view without a lock, in one statement (one read view): *found,
 * and when the cart exists its items (live holds as of now_ms, sorted by
 * product) in *view, which the caller frees with cart_view_free(). */
int read_cart(db *d, const char *cart_id, int64_t now_ms, int *found, cart_view *view);

/* The hold's fast path, one round trip (sql/0007, stockd_hold_v2 since sql/0010): with
 * line_mode set, the cart's line += quantity first (written whatever
 * follows); then, if the product exists, none of its holds can have expired
 * by now_ms and quantity units are free (*done): reserved_stock +=
 * quantity, the expiry bound lowered to until_ms, and the cart's hold +=
 * quantity expiring at until_ms, with *held its new size and *available
 * the product's free units after it. Otherwise the product is not touched
 * and the caller goes through lock_product(). Once done, the caller runs no
 * other statement in this transaction: when it may end in its body
 * (db_body_may_commit), the hold is also committed (db_committed), and a
 * connection lost during the call is DB_ERR_UNKNOWN, as a COMMIT lost in
 * flight. */
int hold_if_free(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until_ms, int64_t now_ms,
		 const char *line_mode, bool *done, int64_t *held, int64_t *available);

/* What reserve_if_free() did: the outcome stockd_reserve_v2 answers. */
typedef enum {
	RESERVE_CART_UNSURE = 0,    /* nothing: the cart did not surely pass */
	RESERVE_PRODUCT_MISSED = 1, /* nothing: the cart passed, the product's UPDATE did not match */
	RESERVE_DONE = 2            /* the hold is taken */
} reserve_outcome;

/* The app's limits, which the procedure checks with the app's own values. */
typedef struct {
	int64_t max_hold;  /* MAX_HOLD_PER_PRODUCT */
	int64_t max_lines; /* MAX_CART_LINES */
	int64_t line_max;  /* LINE_MAX_UNITS */
} reserve_limits;

/* A whole reserve's fast path, one round trip (stockd_reserve_v2, sql/0008 to sql/0011):
 * locks the cart and, when the cart surely passes every check of the
 * reserve's (found, open, within *lim), does what hold_if_free() does
 * without a line. It never refuses: on RESERVE_CART_UNSURE or
 * RESERVE_PRODUCT_MISSED it wrote nothing and the caller, holding the
 * cart's lock, goes through lock_cart() and its refusals. On RESERVE_DONE
 * the caller runs no other statement in this transaction; it may have
 * committed, as hold_if_free(). */
int reserve_if_free(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until_ms,
		    int64_t now_ms, const reserve_limits *lim, reserve_outcome *outcome, int64_t *held,
		    int64_t *available);

/* The cart's line on the product += quantity (created if need be), marked
 * with the mode ("stock" or "legacy") it was changed in. */
int line_add(db *d, const char *cart_id, int64_t product_id, int64_t quantity, const char *mode);

/* Non-locking existence check, for ordering errors (404 before 409). */
int product_exists(db *d, int64_t product_id, int *exists);

/* Write a cart's hold on a product to `quantity` units (0 deletes it);
 * `until` is kept as given. Does not touch products.reserved_stock. */
int hold_write(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until);

/* Write the product locked into *lp: stock += stock_delta, reserved_stock +=
 * reserved_delta plus the reclaim lock_product() left pending, and
 * next_expiry_ms lowered to hold_until when a hold was just written to
 * expire then (0: no hold written). Skips the round trip when nothing
 * changes. May be called again on the same lp. */
int product_update(db *d, locked_product *lp, int64_t stock_delta, int64_t reserved_delta, int64_t hold_until);

#endif
