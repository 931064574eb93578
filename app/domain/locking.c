#include "domain/locking.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "domain/domain.h"

/* One round trip takes the lock and learns what the hold paths need: the
 * row, the bound below which none of its holds expires, and (with a cart)
 * this cart's live hold, read by primary key.
 *
 * The hold subqueries are plain reads, right only under READ COMMITTED
 * (every app session's level, db.c): there each statement reads the latest
 * committed rows, after this statement's row lock was granted. Under
 * REPEATABLE READ a snapshot taken earlier in the transaction could still
 * show holds another transaction changed since. So the statement also
 * returns the session's level and lock_product() refuses to go on under any
 * other: no extra round trip. Making them locking reads instead was tried
 * and measured: index range scans lock boundary records of neighbouring
 * products' holds, and the mixed-workload race test deadlocked. */
static const char SQL_LOCK_PRODUCT_FOR_CART[] =
	"SELECT p.stock, p.reserved_stock, p.price_cents, p.next_expiry_ms, @@session.tx_isolation,"
	" (SELECT h.quantity FROM stock_holds h"
	"   WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?),"
	" (SELECT h.expires_at_ms FROM stock_holds h"
	"   WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?)"
	" FROM products p WHERE p.id = ? FOR UPDATE";

/* The same without a cart: a plain primary-key lock, the lean path's. */
static const char SQL_LOCK_PRODUCT[] =
	"SELECT stock, reserved_stock, price_cents, next_expiry_ms, @@session.tx_isolation"
	" FROM products WHERE id = ? FOR UPDATE";

/* Only once the clock has passed next_expiry_ms: what expired, and the
 * earliest expiry of what stays. Both walk (product_id, expires_at_ms)
 * from one end, so their cost does not grow with the product's live holds.
 * Every writer of this product's holds holds its row lock (the sweep
 * included) and these are READ COMMITTED reads after that lock: the set
 * summed is exactly the set the DELETE removes. */
static const char SQL_EXPIRED_HOLDS[] =
	"SELECT (SELECT COALESCE(SUM(quantity), 0) FROM stock_holds WHERE product_id = ? AND expires_at_ms <= ?),"
	" (SELECT MIN(expires_at_ms) FROM stock_holds WHERE product_id = ? AND expires_at_ms > ?)";

static const char SQL_DELETE_EXPIRED[] =
	"DELETE FROM stock_holds WHERE product_id = ? AND expires_at_ms <= ?";

/* The hold's fast path, sql/0007: the line (for an add), the product's
 * conditional UPDATE, the hold and (when asked) the COMMIT in one round trip;
 * since sql/0009 it answers after the COMMIT, so the answer and the OK
 * arrive together, and since sql/0010 in OUT parameters (the last two
 * placeholders), which the server sends without running a SELECT for them. */
static const char SQL_HOLD_IF_FREE[] = "CALL stockd_hold_v2(?, ?, ?, ?, ?, ?, ?, ?, ?)";

/* A whole reserve's fast path, stockd_reserve_v2 as sql/0011 left it (its
 * steps since sql/0008: docs/migrations.md): the cart's lock and checks,
 * then the same as stockd_hold_v2 without the line. */
static const char SQL_RESERVE_IF_FREE[] = "CALL stockd_reserve_v2(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/* The line remembers the mode it was last changed in: abandoned carts are
 * counted per mode, so the canary's two groups compare. */
static const char SQL_LINE_ADD[] =
	"INSERT INTO cart_items (cart_id, product_id, quantity, mode) VALUES (?, ?, ?, ?)"
	" ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), mode = VALUES(mode)";

static const char SQL_PRODUCT_UPDATE[] =
	"UPDATE products SET stock = stock + ?, reserved_stock = reserved_stock + ?, next_expiry_ms = ?"
	" WHERE id = ?";

/* The cart's row, then its lines and holds: plain primary-key-prefix
 * reads, no correlated subquery, no temporary table (UNION ALL streams),
 * one statement and so one read view. Holds come expired or not;
 * cart_rows_merge filters them against the request's clock. Not in the
 * WHERE: there the optimiser would weigh the expiry index
 * (stock_holds_expiry, a range over every live hold) on each execution, for
 * the few rows a cart has.
 *
 * cart_id = ? is an equality range on each table's primary key. By default
 * the range optimiser sizes such a range by diving into the B-tree on
 * every execution, for a plan that cannot change: no other index starts
 * with cart_id. With eq_range_index_dive_limit at 1 it reads the index
 * statistics instead: about 3% of MariaDB's CPU an add under load
 * (docs/benchmarks.md). Set for this statement only: a write that finds
 * its rows by a prefix (a checkout's DELETE of the cart's holds) keeps the
 * dive's exact count, so that a stale statistic cannot turn it into a scan
 * that locks other carts' rows. */
#define CART_ROWS(cart_lock)                                                              \
	"SET STATEMENT eq_range_index_dive_limit = 1 FOR"                                  \
	" (SELECT 0, status, 0, 0, 0 FROM carts WHERE id = ?" cart_lock ")"               \
	" UNION ALL (SELECT 1, NULL, product_id, quantity, 0 FROM cart_items WHERE cart_id = ?)" \
	" UNION ALL (SELECT 2, NULL, product_id, quantity, expires_at_ms FROM stock_holds WHERE cart_id = ?)"

/* Locked: the first SELECT of a UNION runs first, so the cart's row is
 * locked before its lines and holds are read; every writer of the lines
 * holds that lock, so they are the latest. */
static const char SQL_LOCK_CART_ROWS[] = CART_ROWS(" FOR UPDATE");

/* The cart view's: a checkout can't fall between the status and the items
 * and show an open cart whose holds are gone. */
static const char SQL_CART_ROWS[] = CART_ROWS("");

static const char SQL_LOCK_CART[] = "SELECT status FROM carts WHERE id = ? FOR UPDATE";

static const char SQL_PRODUCT_EXISTS[] = "SELECT 1 FROM products WHERE id = ?";

static const char SQL_HOLD_UPSERT[] =
	"INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)"
	" ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)";

static const char SQL_HOLD_DELETE[] = "DELETE FROM stock_holds WHERE cart_id = ? AND product_id = ?";

static int reclaim_expired(db *d, int64_t now_ms, locked_product *lp)
{
	db_param p[] = { P_I64(lp->id), P_I64(now_ms), P_I64(lp->id), P_I64(now_ms) };
	db_rows r;
	int rc = db_exec(d, SQL_EXPIRED_HOLDS, p, 4, &r);
	if (rc != DB_OK)
		return rc;
	int64_t expired = db_at(&r, 0, 0)->i;
	lp->next_expiry = db_at(&r, 0, 1)->is_null ? HOLD_NO_EXPIRY : db_at(&r, 0, 1)->i;
	db_rows_free(&r);
	if (expired == 0)
		return DB_OK;
	db_param del[] = { P_I64(lp->id), P_I64(now_ms) };
	rc = db_exec(d, SQL_DELETE_EXPIRED, del, 2, NULL);
	if (rc != DB_OK)
		return rc;
	lp->reserved -= expired;
	lp->expired_reclaimed = expired;
	lp->pending_reserved = -expired;
	return DB_OK;
}

static int lock_product_at(db *d, int64_t product_id, const char *cart_id, int64_t now_ms, bool always_reclaim,
			   locked_product *out)
{
	memset(out, 0, sizeof *out);
	out->id = product_id;
	db_rows r;
	int rc;
	if (cart_id != NULL) {
		size_t n = strlen(cart_id);
		db_param p[] = { P_STR(cart_id, n), P_I64(now_ms), P_STR(cart_id, n), P_I64(now_ms), P_I64(product_id) };
		rc = db_exec(d, SQL_LOCK_PRODUCT_FOR_CART, p, 5, &r);
	} else {
		db_param p[] = { P_I64(product_id) };
		rc = db_exec(d, SQL_LOCK_PRODUCT, p, 1, &r);
	}
	if (rc != DB_OK)
		return rc;
	if (r.nrows == 0) {
		db_rows_free(&r);
		return DOM_PRODUCT_NOT_FOUND;
	}
	out->stock = db_at(&r, 0, 0)->i;
	out->reserved = db_at(&r, 0, 1)->i;
	out->price_cents = db_at(&r, 0, 2)->i;
	out->next_expiry_stored = out->next_expiry = db_at(&r, 0, 3)->i;
	const db_value *level = db_at(&r, 0, 4);
	if (level->is_null || strcmp(level->s, "READ-COMMITTED") != 0) {
		log_error("the hold path needs READ COMMITTED; this session runs %s: refused",
			  level->is_null ? "an unknown level" : level->s);
		db_rows_free(&r);
		return DB_ERR_OTHER;
	}
	if (cart_id != NULL) {
		out->held = db_at(&r, 0, 5)->is_null ? 0 : db_at(&r, 0, 5)->i;
		out->held_until = db_at(&r, 0, 6)->is_null ? 0 : db_at(&r, 0, 6)->i;
	}
	db_rows_free(&r);
	/* A hold that expired has expires_at_ms <= now_ms, and the bound is
	 * below every expiry: nothing can have expired while now_ms is below it. */
	if (out->next_expiry_stored > now_ms && !always_reclaim)
		return DB_OK;
	return reclaim_expired(d, now_ms, out);
}

int lock_product(db *d, int64_t product_id, const char *cart_id, int64_t now_ms, locked_product *out)
{
	return lock_product_at(d, product_id, cart_id, now_ms, false, out);
}

int lock_product_expired(db *d, int64_t product_id, int64_t now_ms, locked_product *out)
{
	return lock_product_at(d, product_id, NULL, now_ms, true, out);
}

int product_update(db *d, locked_product *lp, int64_t stock_delta, int64_t reserved_delta, int64_t hold_until)
{
	if (hold_until > 0 && hold_until < lp->next_expiry)
		lp->next_expiry = hold_until;
	reserved_delta += lp->pending_reserved;
	if (stock_delta == 0 && reserved_delta == 0 && lp->next_expiry == lp->next_expiry_stored)
		return DB_OK;
	db_param p[] = { P_I64(stock_delta), P_I64(reserved_delta), P_I64(lp->next_expiry), P_I64(lp->id) };
	int rc = db_exec(d, SQL_PRODUCT_UPDATE, p, 4, NULL);
	if (rc != DB_OK)
		return rc;
	lp->pending_reserved = 0;
	lp->next_expiry_stored = lp->next_expiry;
	return DB_OK;
}

/* A CALL of a hold procedure: its OUT parameters, `ncols` of them (bound as
 * the last placeholders; their values go unread), as one row in *r. With
 * commit set the procedure commits if it takes the hold, so a connection
 * lost during the CALL leaves the outcome unknown. */
static int call_hold(db *d, const char *sql, const db_param *p, size_t np, bool commit, size_t ncols, db_rows *r)
{
	int rc = db_exec(d, sql, p, np, r);
	/* The procedure may have committed before the connection went. */
	if (rc == DB_ERR_GONE && commit)
		return DB_ERR_UNKNOWN;
	if (rc != DB_OK)
		return rc;
	if (r->nrows != 1 || r->ncols != ncols) {
		db_rows_free(r);
		return DB_ERR_OTHER;
	}
	return DB_OK;
}

int hold_if_free(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until_ms, int64_t now_ms,
		 const char *line_mode, bool *done, int64_t *held, int64_t *available)
{
	bool commit = db_body_may_commit(d);
	db_param p[] = { P_STR(cart_id, strlen(cart_id)),
			 P_I64(product_id),
			 P_I64(quantity),
			 P_I64(until_ms),
			 P_I64(now_ms),
			 line_mode != NULL ? P_STR(line_mode, strlen(line_mode)) : P_NULL(),
			 P_I64(commit),
			 P_NULL(), /* OUT o_held */
			 P_NULL() /* OUT o_available */ };
	db_rows r;
	int rc = call_hold(d, SQL_HOLD_IF_FREE, p, 9, commit, 2, &r);
	if (rc != DB_OK)
		return rc;
	*done = !db_at(&r, 0, 0)->is_null;
	if (*done) {
		*held = db_at(&r, 0, 0)->i;
		*available = db_at(&r, 0, 1)->i;
		if (commit)
			db_committed(d);
	}
	db_rows_free(&r);
	return DB_OK;
}

int reserve_if_free(db *d, const char *cart_id, int64_t product_id, int64_t quantity, int64_t until_ms,
		    int64_t now_ms, const reserve_limits *lim, reserve_outcome *outcome, int64_t *held,
		    int64_t *available)
{
	bool commit = db_body_may_commit(d);
	db_param p[] = { P_STR(cart_id, strlen(cart_id)), P_I64(product_id), P_I64(quantity),
			 P_I64(until_ms), P_I64(now_ms), P_I64(lim->max_hold),
			 P_I64(lim->max_lines), P_I64(lim->line_max), P_I64(commit),
			 P_NULL(), P_NULL(), P_NULL() /* OUT o_status, o_held, o_available */ };
	db_rows r;
	int rc = call_hold(d, SQL_RESERVE_IF_FREE, p, 12, commit, 3, &r);
	if (rc != DB_OK)
		return rc;
	int64_t o = db_at(&r, 0, 0)->i;
	if (o != RESERVE_CART_UNSURE && o != RESERVE_PRODUCT_MISSED && o != RESERVE_DONE) {
		db_rows_free(&r);
		return DB_ERR_OTHER;
	}
	*outcome = (reserve_outcome)o;
	if (o == RESERVE_DONE) {
		*held = db_at(&r, 0, 1)->i;
		*available = db_at(&r, 0, 2)->i;
		if (commit)
			db_committed(d);
	}
	db_rows_free(&r);
	return DB_OK;
}

int line_add(db *d, const char *cart_id, int64_t product_id, int64_t quantity, const char *mode)
{
	db_param p[] = { P_STR(cart_id, strlen(cart_id)), P_I64(product_id), P_I64(quantity),
			 P_STR(mode, strlen(mode)) };
	return db_exec(d, SQL_LINE_ADD, p, 4, NULL);
}

static int by_product(const void *a, const void *b)
{
	int64_t x = ((const cart_item *)a)->product_id, y = ((const cart_item *)b)->product_id;
	return (x > y) - (x < y);
}

/* Lines and live holds (expiring after now_ms), one item per product: the
 * rows sorted by product (a line sorts before its hold), then merged. */
static void cart_rows_merge(const db_rows *r, int64_t now_ms, cart_view *view)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		int64_t kind = db_at(r, i, 0)->i;
		if (kind == 0 || (kind == 2 && db_at(r, i, 4)->i <= now_ms))
			continue;
		cart_item it = { db_at(r, i, 2)->i, 0, 0, 0 };
		if (kind == 1)
			it.quantity = db_at(r, i, 3)->i;
		else {
			it.reserved = db_at(r, i, 3)->i;
			it.reserved_until = db_at(r, i, 4)->i;
		}
		view->items[n++] = it;
	}
	qsort(view->items, n, sizeof *view->items, by_product);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && view->items[m - 1].product_id == view->items[i].product_id) {
			view->items[m - 1].reserved += view->items[i].reserved;
			view->items[m - 1].reserved_until += view->items[i].reserved_until;
			view->items[m - 1].quantity += view->items[i].quantity;
		} else
			view->items[m++] = view->items[i];
	}
	view->nitems = m;
}

/* The cart's rows (CART_ROWS, locked or not): out->found and
 * out->checked_out, and when the cart exists its items, sorted by product
 * with one spare slot, in *view. */
static int cart_rows(db *d, bool lock, const char *cart_id, int64_t now_ms, locked_cart *out, cart_view *view)
{
	size_t n = strlen(cart_id);
	db_param p[] = { P_STR(cart_id, n), P_STR(cart_id, n), P_STR(cart_id, n) };
	db_rows r;
	int rc = lock ? db_exec(d, SQL_LOCK_CART_ROWS, p, 3, &r) : db_read(d, SQL_CART_ROWS, p, 3, &r);
	if (rc != DB_OK)
		return rc;
	for (size_t i = 0; i < r.nrows; i++) {
		if (db_at(&r, i, 0)->i == 0) {
			out->found = 1;
			out->checked_out = strcmp(db_at(&r, i, 1)->s, "checked_out") == 0;
		}
	}
	if (out->found) {
		/* The spare slot: the caller may add the item its change creates. */
		view->items = calloc(r.nrows + 1, sizeof *view->items);
		if (view->items == NULL)
			abort();
		memcpy(view->id, cart_id, n + 1);
		view->checked_out = out->checked_out;
		cart_rows_merge(&r, now_ms, view);
	}
	db_rows_free(&r);
	return DB_OK;
}

int lock_cart(db *d, const char *cart_id, int64_t product_id, int64_t now_ms, locked_cart *out,
	      cart_view *view)
{
	memset(out, 0, sizeof *out);
	db_rows r;
	int rc;
	if (product_id <= 0) {
		db_param p[] = { P_STR(cart_id, strlen(cart_id)) };
		rc = db_exec(d, SQL_LOCK_CART, p, 1, &r);
		if (rc != DB_OK)
			return rc;
		if (r.nrows > 0) {
			out->found = 1;
			out->checked_out = strcmp(db_at(&r, 0, 0)->s, "checked_out") == 0;
		}
		db_rows_free(&r);
		return DB_OK;
	}
	cart_view rows = { .items = NULL };
	rc = cart_rows(d, true, cart_id, now_ms, out, &rows);
	if (rc != DB_OK)
		return rc;
	out->products = (int64_t)rows.nitems;
	for (size_t i = 0; i < rows.nitems; i++) {
		if (rows.items[i].product_id == product_id) {
			out->line = rows.items[i].quantity;
			out->has_live_hold = rows.items[i].reserved > 0;
			out->held = rows.items[i].reserved;
		}
	}
	if (view != NULL)
		*view = rows;
	else
		free(rows.items);
	return DB_OK;
}

int read_cart(db *d, const char *cart_id, int64_t now_ms, int *found, cart_view *view)
{
	locked_cart facts = { 0 };
	memset(view, 0, sizeof *view);
	int rc = cart_rows(d, false, cart_id, now_ms, &facts, view);
	*found = facts.found;
	return rc;
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
