#include "domain/locking.h"

#include <string.h>

#include "core/log.h"
#include "domain/domain.h"

/* One round trip takes the lock and learns everything the hold paths need:
 * the row, how much of its holds has expired, and this cart's live hold.
 *
 * The hold subqueries are plain reads, right only under READ COMMITTED
 * (every app session's level, db.c): there each statement reads the latest
 * committed rows, after this statement's row lock was granted, so the sum is
 * exactly what the DELETE below removes. Under REPEATABLE READ a snapshot
 * taken earlier in the transaction could still count holds another
 * transaction reclaimed since. So the statement also returns the session's
 * level and lock_product() refuses to go on under any other: no extra round
 * trip. Making the subqueries locking reads instead was tried and measured:
 * their index range scans lock boundary records of neighbouring products'
 * holds, and the mixed-workload race test deadlocked (9 to 50 deadlocks a
 * run, a checkout answered 503 after its retries). */
static const char SQL_LOCK_PRODUCT[] =
	"SELECT p.stock, p.reserved_stock, p.price_cents,"
	" (SELECT COALESCE(SUM(h.quantity), 0) FROM stock_holds h"
	"   WHERE h.product_id = p.id AND h.expires_at_ms <= ?),"
	" (SELECT h.quantity FROM stock_holds h"
	"   WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?),"
	" (SELECT h.expires_at_ms FROM stock_holds h"
	"   WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?),"
	" @@session.tx_isolation"
	" FROM products p WHERE p.id = ? FOR UPDATE";

static const char SQL_DELETE_EXPIRED[] =
	"DELETE FROM stock_holds WHERE product_id = ? AND expires_at_ms <= ?";

static const char SQL_PRODUCT_ADJUST[] =
	"UPDATE products SET stock = stock + ?, reserved_stock = reserved_stock + ? WHERE id = ?";

static const char SQL_LOCK_CART[] = "SELECT status FROM carts WHERE id = ? FOR UPDATE";

/* Scalar subqueries only: a UNION or GROUP BY here would build a
 * temporary table on every add, the hottest statement there is. */
static const char SQL_LOCK_CART_FOR_PRODUCT[] =
	"SELECT c.status,"
	" (SELECT i.quantity FROM cart_items i WHERE i.cart_id = c.id AND i.product_id = ?),"
	" EXISTS(SELECT 1 FROM stock_holds h WHERE h.cart_id = c.id AND h.product_id = ? AND h.expires_at_ms > ?),"
	" (SELECT COUNT(*) FROM cart_items i WHERE i.cart_id = c.id)"
	" + (SELECT COUNT(*) FROM stock_holds h WHERE h.cart_id = c.id AND h.expires_at_ms > ?"
	"    AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = h.cart_id AND i.product_id = h.product_id))"
	" FROM carts c WHERE c.id = ? FOR UPDATE";

static const char SQL_PRODUCT_EXISTS[] = "SELECT 1 FROM products WHERE id = ?";

static const char SQL_HOLD_UPSERT[] =
	"INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)"
	" ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)";

static const char SQL_HOLD_DELETE[] = "DELETE FROM stock_holds WHERE cart_id = ? AND product_id = ?";

int lock_product(db *d, int64_t product_id, const char *cart_id, int64_t now_ms, locked_product *out)
{
	memset(out, 0, sizeof *out);
	const char *cart = cart_id ? cart_id : "";
	db_param p[] = {
		P_I64(now_ms), P_STR(cart, strlen(cart)), P_I64(now_ms),
		P_STR(cart, strlen(cart)), P_I64(now_ms), P_I64(product_id),
	};
	db_rows r;
	int rc = db_exec(d, SQL_LOCK_PRODUCT, p, 6, &r);
	if (rc != DB_OK)
		return rc;
	if (r.nrows == 0) {
		db_rows_free(&r);
		return DOM_PRODUCT_NOT_FOUND;
	}
	out->stock = db_at(&r, 0, 0)->i;
	out->reserved = db_at(&r, 0, 1)->i;
	out->price_cents = db_at(&r, 0, 2)->i;
	int64_t expired = db_at(&r, 0, 3)->i;
	out->held = db_at(&r, 0, 4)->is_null ? 0 : db_at(&r, 0, 4)->i;
	out->held_until = db_at(&r, 0, 5)->is_null ? 0 : db_at(&r, 0, 5)->i;
	const db_value *level = db_at(&r, 0, 6);
	if (level->is_null || strcmp(level->s, "READ-COMMITTED") != 0) {
		log_error("the hold path needs READ COMMITTED; this session runs %s: refused",
			  level->is_null ? "an unknown level" : level->s);
		db_rows_free(&r);
		return DB_ERR_OTHER;
	}
	db_rows_free(&r);
	if (expired == 0)
		return DB_OK;
	/* Every writer of this product's holds holds this row lock, and the sum
	 * above was a locking read: the set summed is exactly the set deleted. */
	db_param del[] = { P_I64(product_id), P_I64(now_ms) };
	db_rows dr;
	rc = db_exec(d, SQL_DELETE_EXPIRED, del, 2, &dr);
	if (rc != DB_OK)
		return rc;
	db_rows_free(&dr);
	rc = product_adjust(d, product_id, 0, -expired);
	if (rc != DB_OK)
		return rc;
	out->reserved -= expired;
	out->expired_reclaimed = expired;
	return DB_OK;
}

int product_adjust(db *d, int64_t product_id, int64_t stock_delta, int64_t reserved_delta)
{
	if (stock_delta == 0 && reserved_delta == 0)
		return DB_OK;
	db_param p[] = { P_I64(stock_delta), P_I64(reserved_delta), P_I64(product_id) };
	return db_exec(d, SQL_PRODUCT_ADJUST, p, 3, NULL);
}

int lock_cart(db *d, const char *cart_id, int64_t product_id, int64_t now_ms, locked_cart *out)
{
	memset(out, 0, sizeof *out);
	size_t n = strlen(cart_id);
	db_rows r;
	int rc;
	if (product_id > 0) {
		db_param p[] = { P_I64(product_id), P_I64(product_id), P_I64(now_ms), P_I64(now_ms),
				 P_STR(cart_id, n) };
		rc = db_exec(d, SQL_LOCK_CART_FOR_PRODUCT, p, 5, &r);
	} else {
		db_param p[] = { P_STR(cart_id, n) };
		rc = db_exec(d, SQL_LOCK_CART, p, 1, &r);
	}
	if (rc != DB_OK)
		return rc;
	if (r.nrows > 0) {
		out->found = 1;
		out->checked_out = strcmp(db_at(&r, 0, 0)->s, "checked_out") == 0;
		if (product_id > 0) {
			out->line = db_at(&r, 0, 1)->is_null ? 0 : db_at(&r, 0, 1)->i;
			out->has_live_hold = db_at(&r, 0, 2)->i != 0;
			out->products = db_at(&r, 0, 3)->i;
		}
	}
	db_rows_free(&r);
	return DB_OK;
}

int product_exists(db *d, int64_t product_id, int *exists)
{
	db_param p[] = { P_I64(product_id) };
	db_rows r;
	int rc = db_exec(d, SQL_PRODUCT_EXISTS, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	*exists = r.nrows > 0;
	db_rows_free(&r);
	return DB_OK;
}

int hold_write(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until)
{
	if (quantity == 0) {
		db_param p[] = { P_STR(cart_id, strlen(cart_id)), P_I64(product_id) };
		return db_exec(d, SQL_HOLD_DELETE, p, 2, NULL);
	}
	db_param p[] = { P_STR(cart_id, strlen(cart_id)), P_I64(product_id), P_I64(quantity), P_I64(until) };
	return db_exec(d, SQL_HOLD_UPSERT, p, 4, NULL);
}
