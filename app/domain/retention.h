#ifndef STK_RETENTION_H
#define STK_RETENTION_H
#include <stdint.h>

#include "domain/domain.h"

/* Abandoned carts: open, holding no stock (no hold row at all), with no
 * order, and not changed for CART_RETENTION_DAYS (the cart's own times and
 * every line's). Orders and checked-out carts are never deleted. */

/* One batch: the next RETENTION_SCAN carts by primary key after `cursor`
 * ("" from the start); the abandoned ones among them are deleted with their
 * lines in one short transaction. `cursor` advances, and goes back to ""
 * after the last cart. Adds the carts deleted to *purged. */
int dom_purge_abandoned(dom_ctx *c, long retention_days, char cursor[33], int64_t *purged);

/* The sweeper's call, once a round: one batch, from where the last round of
 * this process stopped; nothing when CART_RETENTION_DAYS is 0. */
int dom_retention_round(dom_ctx *c);

#endif
