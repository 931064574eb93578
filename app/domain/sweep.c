#include <stdlib.h>

#include "domain/domain.h"
#include "domain/locking.h"

/* Which products have expired holds: a plain read, no locks. Each product
 * is then reclaimed in its own short transaction through lock_product(), the
 * same path every request uses, so two sweepers (or a sweeper and a request)
 * serialise on the row lock and never release a hold twice. */
static const char SQL_EXPIRED_PRODUCTS[] =
	"SELECT DISTINCT product_id FROM stock_holds WHERE expires_at_ms <= ?"
	" ORDER BY product_id LIMIT 500";

static const char SQL_PURGE_KEYS[] =
	"DELETE FROM idempotency_keys WHERE created_ms < ? LIMIT 1000";

#define IDEMPOTENCY_TTL_MS (24LL * 3600 * 1000)

typedef struct {
	int64_t product_id, now_ms, reclaimed;
} reclaim_op;

static int reclaim_body(db *d, void *arg)
{
	reclaim_op *op = arg;
	locked_product lp;
	int rc = lock_product(d, op->product_id, NULL, op->now_ms, &lp);
	op->reclaimed = rc == DB_OK ? lp.expired_reclaimed : 0;
	return rc == DOM_PRODUCT_NOT_FOUND ? DB_OK : rc;
}

int dom_sweep(dom_ctx *c, int64_t now_ms, uint64_t *holds_reclaimed, uint64_t *keys_purged)
{
	*holds_reclaimed = 0;
	*keys_purged = 0;
	db_param p[] = { P_I64(now_ms) };
	db_rows r;
	int rc = db_exec(c->db, SQL_EXPIRED_PRODUCTS, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	txn_policy pol = dom_policy(c);
	for (size_t i = 0; i < r.nrows && rc == DB_OK; i++) {
		reclaim_op op = { db_at(&r, i, 0)->i, now_ms, 0 };
		rc = txn_run(c->db, &pol, reclaim_body, &op, &c->stats);
		*holds_reclaimed += (uint64_t)op.reclaimed;
	}
	db_rows_free(&r);
	if (rc != DB_OK)
		return rc;
	db_param k[] = { P_I64(now_ms - IDEMPOTENCY_TTL_MS) };
	do {
		db_rows kr;
		rc = db_exec(c->db, SQL_PURGE_KEYS, k, 1, &kr);
		if (rc != DB_OK)
			return rc;
		*keys_purged += kr.affected;
		if (kr.affected < 1000)
			break;
	} while (1);
	return DB_OK;
}
