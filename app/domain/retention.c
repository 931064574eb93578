#include <string.h>

#include "core/log.h"
#include "domain/retention.h"

/* Retention of abandoned carts (CART_RETENTION_DAYS). Each round reads a
 * bounded slice of the carts table by primary key, so a large table costs
 * the same small read per round and a whole pass spreads over many rounds:
 * retention is counted in days, there is no hurry. */
#define RETENTION_SCAN 1000

/* The slice, with whether each cart looks abandoned (a plain read). */
static const char SQL_SLICE[] =
	"SELECT c.id,"
	" c.status = 'open' AND c.created_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND"
	" AND c.updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND"
	" AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = c.id"
	"                 AND i.updated_at >= UTC_TIMESTAMP(3) - INTERVAL ? SECOND)"
	" AND NOT EXISTS (SELECT 1 FROM stock_holds h WHERE h.cart_id = c.id)"
	" AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.cart_id = c.id)"
	" FROM carts c WHERE c.id > ? ORDER BY c.id LIMIT " "1000";

/* Under the cart's row lock, which every request that changes a cart takes
 * first: what was read above is checked again, as it is now. */
static const char SQL_LOCK_CART[] =
	"SELECT c.id FROM carts c WHERE c.id = ? AND c.status = 'open'"
	" AND c.created_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND"
	" AND c.updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND FOR UPDATE";
static const char SQL_RECENT_LINES[] =
	"SELECT COUNT(*) FROM cart_items WHERE cart_id = ?"
	" AND updated_at >= UTC_TIMESTAMP(3) - INTERVAL ? SECOND LOCK IN SHARE MODE";
/* Only old lines go: a line a writer that does not lock the cart (the legacy
 * code) added meanwhile stays, and then so does its cart (below). */
static const char SQL_DELETE_LINES[] =
	"DELETE FROM cart_items WHERE cart_id = ? AND updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND";
/* A hold row, even an expired one, still counts in reserved_stock until the
 * sweep gives it back: such a cart waits for a later round. */
static const char SQL_DELETE_CART[] =
	"DELETE FROM carts WHERE id = ? AND status = 'open'"
	" AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = ?)"
	" AND NOT EXISTS (SELECT 1 FROM stock_holds h WHERE h.cart_id = ?)"
	" AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.cart_id = ?)";

_Static_assert(RETENTION_SCAN == 1000, "SQL_SLICE's LIMIT");

typedef struct {
	char ids[RETENTION_SCAN][33];
	size_t n;
	int64_t age_s;
	int64_t purged; /* by the last attempt of the body */
} purge_batch;

static int purge_one(db *d, const char *id, int64_t age_s, int64_t *purged)
{
	size_t len = strlen(id);
	db_param lock[] = { P_STR(id, len), P_I64(age_s), P_I64(age_s) };
	db_rows r;
	int rc = db_exec(d, SQL_LOCK_CART, lock, 3, &r);
	if (rc != DB_OK)
		return rc;
	size_t found = r.nrows;
	db_rows_free(&r);
	if (found == 0)
		return DB_OK; /* changed, checked out or gone since the slice */
	db_param recent[] = { P_STR(id, len), P_I64(age_s) };
	rc = db_exec(d, SQL_RECENT_LINES, recent, 2, &r);
	if (rc != DB_OK)
		return rc;
	int64_t fresh = db_at(&r, 0, 0)->i;
	db_rows_free(&r);
	if (fresh > 0)
		return DB_OK;
	rc = db_exec(d, SQL_DELETE_LINES, recent, 2, &r);
	if (rc != DB_OK)
		return rc;
	db_rows_free(&r);
	db_param del[] = { P_STR(id, len), P_STR(id, len), P_STR(id, len), P_STR(id, len) };
	rc = db_exec(d, SQL_DELETE_CART, del, 4, &r);
	if (rc != DB_OK)
		return rc;
	*purged += (int64_t)r.affected;
	db_rows_free(&r);
	return DB_OK;
}

/* Safe to run again from the start (txn_run retries it): every step
 * re-reads what it needs. */
static int purge_body(db *d, void *arg)
{
	purge_batch *b = arg;
	b->purged = 0;
	for (size_t i = 0; i < b->n; i++) {
		int rc = purge_one(d, b->ids[i], b->age_s, &b->purged);
		if (rc != DB_OK)
			return rc;
	}
	return DB_OK;
}

int dom_purge_abandoned(dom_ctx *c, long retention_days, char cursor[33], int64_t *purged)
{
	int64_t age_s = (int64_t)retention_days * 86400;
	db_param p[] = { P_I64(age_s), P_I64(age_s), P_I64(age_s), P_STR(cursor, strlen(cursor)) };
	db_rows r;
	int rc = db_exec(c->db, SQL_SLICE, p, 4, &r);
	if (rc != DB_OK)
		return rc;
	static purge_batch b; /* 33 KB: not on the sweeper's stack */
	b.n = 0;
	b.age_s = age_s;
	for (size_t i = 0; i < r.nrows; i++) {
		const db_value *id = db_at(&r, i, 0), *old = db_at(&r, i, 1);
		if (!old->is_null && old->i == 1 && id->len < sizeof b.ids[0]) {
			memcpy(b.ids[b.n], id->s, id->len);
			b.ids[b.n][id->len] = '\0';
			b.n++;
		}
	}
	if (r.nrows == RETENTION_SCAN) {
		const db_value *last = db_at(&r, r.nrows - 1, 0);
		size_t n = last->len < 32 ? last->len : 32;
		memcpy(cursor, last->s, n);
		cursor[n] = '\0';
	} else {
		cursor[0] = '\0'; /* the end: the next round starts over */
	}
	db_rows_free(&r);
	if (b.n == 0)
		return DB_OK;
	txn_policy pol = dom_policy(c);
	pol.defer_commit = false;
	rc = txn_run(c->db, &pol, purge_body, &b, &c->stats);
	if (rc == DB_OK)
		*purged += b.purged;
	return rc;
}

int dom_retention_round(dom_ctx *c)
{
	/* Where this sweeper process's pass stands; a new sweeper starts over. */
	static char cursor[33];
	if (c->cfg->cart_retention_days <= 0)
		return DB_OK;
	int64_t purged = 0;
	int rc = dom_purge_abandoned(c, c->cfg->cart_retention_days, cursor, &purged);
	if (purged > 0)
		log_info("retention: %lld abandoned carts older than %ld days deleted", (long long)purged,
			 c->cfg->cart_retention_days);
	return rc;
}
