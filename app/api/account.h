#ifndef STK_ACCOUNT_H
#define STK_ACCOUNT_H
/* api/, not server/: counting a request needs what its route and its
 * domain result mean (a cart add refused for stock, a stock-aware call). */

#include "api/api.h"
#include "core/scoreboard.h"
#include "store/db.h"

/* Account for one answered request: the scoreboard counters behind
 * /metrics, the access log line, the slow-request log. ms is its duration. */
void account_request(scoreboard *sb, const api_ctx *c, double ms, const db_stats *dbs);

/* A cart id as it may appear in logs: a hash, never the id (holding the id
 * is owning the cart). 16 hex characters + NUL. */
void account_cart_hash(const char *cart_id, char out[17]);

#endif
