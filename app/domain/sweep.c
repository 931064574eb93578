#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "domain/domain.h"
#include "domain/locking.h"
#include "store/idempotency.h"

#define SWEEP_PAGE 500 /* the LIMIT of SQL_EXPIRED_PRODUCTS */

/* Which products have expired holds: a plain read, no locks, a page at a
 * time after the last product seen. Each product is then reclaimed in its
 * own short transaction through lock_product(), the same path every request
 * uses, so two sweepers (or a sweeper and a request) serialise on the row
 * lock and never release a hold twice. Paging by id, not from the start,
 * lets a product that fails every time stay behind without hiding the ones
 * after it. */
static const char SQL_EXPIRED_PRODUCTS[] =
	"SELECT DISTINCT product_id FROM stock_holds WHERE expires_at_ms <= ? AND product_id > ?"
	" ORDER BY product_id LIMIT 500";

static const char SQL_PURGE_KEYS[] =
	"DELETE FROM idempotency_keys WHERE created_ms < ? LIMIT 1000";

typedef struct {
	int64_t product_id, now_ms, reclaimed;
} reclaim_op;

static int reclaim_body(db *d, void *arg)
{
	reclaim_op *op = arg;
	locked_product lp;
	int rc = lock_product_expired(d, op->product_id, op->now_ms, &lp);
	if (rc == DB_OK)
		rc = product_update(d, &lp, 0, 0, 0);
	op->reclaimed = rc == DB_OK ? lp.expired_reclaimed : 0;
	return rc == DOM_PRODUCT_NOT_FOUND ? DB_OK : rc;
}

/* Reclaim one page of products after *after; moves *after on. Returns the
 * page's size, or a DB_ERR_* when the database itself is gone. */
static long sweep_page(dom_ctx *c, int64_t now_ms, int64_t *after, void (*on_reclaim)(void *, int64_t),
		       void *arg, dom_sweep_report *rep)
{
	db_param p[] = { P_I64(now_ms), P_I64(*after) };
	db_rows r;
	int rc = db_exec(c->db, SQL_EXPIRED_PRODUCTS, p, 2, &r);
	if (rc != DB_OK)
		return rc;
	txn_policy pol = dom_policy(c);
	long n = (long)r.nrows;
	uint64_t conn = db_connects(c->db);
	for (size_t i = 0; i < r.nrows; i++) {
		reclaim_op op = { db_at(&r, i, 0)->i, now_ms, 0 };
		*after = op.product_id;
		rc = txn_run(c->db, &pol, reclaim_body, &op, &c->stats);
		if (rc == DB_OK && op.reclaimed > 0) {
			c->events.expired += op.reclaimed;
			if (on_reclaim != NULL)
				on_reclaim(arg, op.reclaimed);
		} else if (rc != DB_OK) {
			/* One product failing (a CHECK that drift makes fail, a lock
			 * held too long) must not stop the others: count it, name
			 * it, go on. */
			rep->failed++;
			log_warn("sweep: product %lld not reclaimed: %d %s", (long long)op.product_id, rc,
				 db_error(c->db));
		}
		/* Lost: every other product would fail the same way. Replaced (a
		 * BEGIN found the connection dead and txn_run reconnected): the
		 * sweeper's named lock went with the old one. Either way stop, so
		 * that the sweeper takes the lock again before sweeping on. */
		if (!db_connected(c->db) || db_connects(c->db) != conn) {
			log_warn("sweep: the database connection was lost or replaced; the round stops here");
			n = DB_ERR_GONE;
			break;
		}
	}
	db_rows_free(&r);
	return n;
}

int dom_sweep(dom_ctx *c, int64_t now_ms, void (*on_reclaim)(void *arg, int64_t units), void *arg,
	      dom_sweep_report *rep)
{
	memset(rep, 0, sizeof *rep);
	int64_t after = 0;
	int rc = DB_OK;
	/* Until nothing expired (as of now_ms) is left: holds expiring later
	 * wait for the next round, so this ends. */
	for (;;) {
		long n = sweep_page(c, now_ms, &after, on_reclaim, arg, rep);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		rep->pages++;
		if (n < SWEEP_PAGE)
			break;
	}
	if (rc == DB_ERR_GONE)
		return rc;
	/* Old keys go whatever happened to the holds. */
	db_param k[] = { P_I64(now_ms - IDEM_TTL_MS) };
	for (;;) {
		db_rows kr;
		int prc = db_exec(c->db, SQL_PURGE_KEYS, k, 1, &kr);
		if (prc != DB_OK)
			return rc != DB_OK ? rc : prc;
		rep->keys_purged += kr.affected;
		uint64_t n = kr.affected;
		db_rows_free(&kr);
		if (n < 1000)
			break;
	}
	return rc;
}

static const char SQL_HOLDS_ACTIVE[] =
	"SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM stock_holds WHERE expires_at_ms > ?";

int dom_holds_active(dom_ctx *c, int64_t now_ms, int64_t *rows, int64_t *units)
{
	db_param p[] = { P_I64(now_ms) };
	db_rows r;
	int rc = db_exec(c->db, SQL_HOLDS_ACTIVE, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	*rows = db_at(&r, 0, 0)->i;
	*units = db_at(&r, 0, 1)->i;
	db_rows_free(&r);
	return DB_OK;
}

/* Open carts with lines, not counted yet, none of whose lines changed for
 * idle_ms; with the mode of the most recent line change. Times are the
 * database's (UTC session), as ON UPDATE wrote them. */
static const char SQL_IDLE_CARTS[] =
	"SELECT c.id, (SELECT i.mode FROM cart_items i WHERE i.cart_id = c.id ORDER BY i.updated_at DESC LIMIT 1)"
	" FROM carts c"
	" WHERE c.status = 'open' AND c.abandoned_at IS NULL"
	"   AND c.created_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND"
	"   AND EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = c.id)"
	"   AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = c.id"
	"                   AND i.updated_at >= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND)"
	" LIMIT 500";

/* Counted once: the WHERE makes a second sweeper's update a no-op. */
static const char SQL_MARK_ABANDONED[] =
	"UPDATE carts SET abandoned_at = UTC_TIMESTAMP(3) WHERE id = ? AND abandoned_at IS NULL AND status = 'open'";

int dom_mark_abandoned(dom_ctx *c, int64_t idle_ms, int64_t abandoned[2])
{
	abandoned[0] = abandoned[1] = 0;
	db_param p[] = { P_I64(idle_ms * 1000), P_I64(idle_ms * 1000) };
	db_rows r;
	int rc = db_exec(c->db, SQL_IDLE_CARTS, p, 2, &r);
	if (rc != DB_OK)
		return rc;
	for (size_t i = 0; i < r.nrows && rc == DB_OK; i++) {
		const db_value *id = db_at(&r, i, 0), *mode = db_at(&r, i, 1);
		db_param m[] = { P_STR(id->s, id->len) };
		db_rows u;
		rc = db_exec(c->db, SQL_MARK_ABANDONED, m, 1, &u);
		if (rc == DB_OK && u.affected == 1)
			abandoned[!mode->is_null && strcmp(mode->s, "stock") == 0 ? MODE_STOCK : MODE_LEGACY]++;
		db_rows_free(&u);
	}
	db_rows_free(&r);
	return rc;
}
