#ifndef STK_LOCKING_H
#define STK_LOCKING_H
#include <stdint.h>

#include "store/db.h"

/* Lock order, the same in every code path, so that no two transactions can
 * wait on each other in a cycle:
 *   1. the cart row (carts.id), when the operation has a cart;
 *   2. product rows, in ascending id, each through lock_product();
 *   3. rows hanging off those (holds, lines, orders).
 * The sweep and operator stock changes start at step 2. */

typedef struct {
	int64_t stock, reserved, price_cents;
	int64_t held;            /* this cart's live hold on the product */
	int64_t held_until;      /* its expiry, epoch ms; 0 if none */
	int64_t expired_reclaimed; /* units of expired holds released just now */
} locked_product;

/* SELECT ... FOR UPDATE the product row, then release the product's expired
 * holds (expires_at_ms <= now_ms) in the same transaction, so that an
 * expired hold never blocks anyone. cart_id may be NULL. Returns DB_OK,
 * DOM_PRODUCT_NOT_FOUND or a DB_ERR_*. `reserved` is after the reclaim. */
int lock_product(db *d, int64_t product_id, const char *cart_id, int64_t now_ms, locked_product *out);

typedef struct {
	int found;
	int checked_out;
	/* with a product_id only: */
	int64_t line;      /* the cart line's quantity, 0 if none */
	int has_live_hold; /* a live hold on the product */
	int64_t products;  /* distinct products with a line or a live hold */
} locked_cart;

/* SELECT ... FOR UPDATE the cart row: serialises a cart's own requests.
 * With product_id > 0, also reads the cart's facts about that product in
 * the same round trip. */
int lock_cart(db *d, const char *cart_id, int64_t product_id, int64_t now_ms, locked_cart *out);

/* Non-locking existence check, for ordering errors (404 before 409). */
int product_exists(db *d, int64_t product_id, int *exists);

/* Write a cart's hold on a product to `quantity` units (0 deletes it);
 * `until` is kept as given. Does not touch products.reserved_stock. */
int hold_write(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until);

/* products.reserved_stock += delta (and stock += stock_delta). */
int product_adjust(db *d, int64_t product_id, int64_t stock_delta, int64_t reserved_delta);

#endif
