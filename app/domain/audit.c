#include "domain/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The audit walks the tables in slices of AUDIT_SLICE keys, one short
 * statement each, instead of one statement over every table: on a large
 * catalogue that statement ran longer than the client's read timeout, the
 * client gave up and asked again, and the server went on running every
 * abandoned copy (four at once at a million products, most of a core).
 * Every check below reads all it compares in one statement, and a
 * statement reads one consistent view of the rows (READ COMMITTED, the
 * session's level), so concurrent traffic is never reported as a breach;
 * no transaction spans two slices, so none holds back the purge. */
#define AUDIT_SLICE 2000

/* Where the next slice of products (or carts) ends: NULL when none is left. */
static const char SQL_PRODUCT_SLICE_END[] =
	"SELECT MAX(id) FROM (SELECT id FROM products WHERE id > ? ORDER BY id LIMIT 2000) s";
static const char SQL_CART_SLICE_END[] =
	"SELECT MAX(id) FROM (SELECT id FROM carts WHERE id > ? ORDER BY id LIMIT 2000) s";
_Static_assert(AUDIT_SLICE == 2000, "the LIMIT of the slice statements");

/* Per product of the slice (lo, hi]: the row, the sum of its hold rows,
 * what it received and what it sold. reserved must equal the held sum
 * (expired-but-unreclaimed holds still count), and received must equal
 * stock + sold. next_expiry_ms must not pass any of its holds' expiries:
 * the hold paths look for expired holds only once the clock passes it.
 * The holds joined by product and grouped on the product's key, receipts
 * and sales by correlated subqueries: one index lookup a table per product,
 * and no derived table. With the slice's holds summed in a GROUP BY derived
 * table, MariaDB 10.11 re-running the prepared statement for a later slice
 * picked a lateral plan that scanned all of stock_holds once per product
 * (seconds at tens of thousands of holds, until max_statement_time). One
 * statement still reads one view of the rows. */
static const char SQL_AUDIT_PRODUCTS[] =
	"SELECT p.id, p.stock, p.reserved_stock, COALESCE(SUM(h.quantity), 0),"
	" (SELECT COALESCE(SUM(delta), 0) FROM stock_receipts WHERE product_id = p.id),"
	" (SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE product_id = p.id),"
	" p.next_expiry_ms, MIN(h.expires_at_ms)"
	" FROM products p LEFT JOIN stock_holds h ON h.product_id = p.id"
	" WHERE p.id > ? AND p.id <= ?"
	" GROUP BY p.id ORDER BY p.id";

/* Holds that must not exist, on the carts slice (lo, hi], or past the last
 * cart when hi is NULL: on a checked-out or unknown cart, or on an unknown
 * product. */
static const char SQL_AUDIT_STRAY_HOLDS[] =
	"SELECT h.cart_id, h.product_id, h.quantity FROM stock_holds h"
	" LEFT JOIN carts c ON c.id = h.cart_id LEFT JOIN products p ON p.id = h.product_id"
	" WHERE h.cart_id > ? AND (? IS NULL OR h.cart_id <= ?)"
	"   AND (c.id IS NULL OR c.status = 'checked_out' OR p.id IS NULL)"
	" ORDER BY h.cart_id, h.product_id LIMIT 1000";

/* A checkout is all or nothing: a closed cart has exactly one order and an
 * order's total is the sum of its lines. On the carts slice (lo, hi]. */
static const char SQL_AUDIT_CHECKOUTS[] =
	"SELECT c.id, o.id, o.total_cents, (SELECT COALESCE(SUM(quantity * price_cents), 0)"
	"   FROM order_items WHERE order_id = o.id)"
	" FROM carts c LEFT JOIN orders o ON o.cart_id = c.id"
	" WHERE c.id > ? AND c.id <= ?"
	"   AND ((c.status = 'checked_out') <> (o.id IS NOT NULL)"
	"     OR o.total_cents <> (SELECT COALESCE(SUM(quantity * price_cents), 0) FROM order_items"
	"                          WHERE order_id = o.id))"
	" LIMIT 1000";

void audit_report_free(audit_report *r)
{
	free(r->problems);
	memset(r, 0, sizeof *r);
}

static audit_problem *add(audit_report *r, size_t *cap, int inv, const char *code)
{
	if (r->nproblems == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		audit_problem *more = realloc(r->problems, *cap * sizeof *more);
		if (more == NULL)
			abort();
		r->problems = more;
	}
	audit_problem *p = &r->problems[r->nproblems++];
	memset(p, 0, sizeof *p);
	p->invariant = inv;
	p->code = code;
	return p;
}

const char *audit_message(const audit_problem *p)
{
	if (strcmp(p->code, "stock_negative") == 0)
		return "stock is below zero";
	if (strcmp(p->code, "reserved_negative") == 0)
		return "reserved is below zero";
	if (strcmp(p->code, "reserved_exceeds_stock") == 0)
		return "reserved is greater than stock";
	if (strcmp(p->code, "reserved_mismatch") == 0)
		return "reserved differs from the sum of the product's holds";
	if (strcmp(p->code, "expiry_bound_stale") == 0)
		return "a hold expires before the product's next_expiry_ms: its reclaim would be missed";
	if (strcmp(p->code, "ledger_mismatch") == 0)
		return "stock plus units sold differs from units received";
	if (strcmp(p->code, "stray_hold") == 0)
		return "a hold belongs to a checked-out or unknown cart, or an unknown product";
	if (strcmp(p->code, "checkout_incomplete") == 0)
		return "a cart's status and its order disagree";
	if (strcmp(p->code, "order_total_mismatch") == 0)
		return "an order's total differs from the sum of its lines";
	return "invariant breached";
}

static int audit_products(db *d, int64_t lo, int64_t hi, audit_report *out, size_t *cap)
{
	db_rows r;
	db_param prm[] = { P_I64(lo), P_I64(hi) };
	int rc = db_exec(d, SQL_AUDIT_PRODUCTS, prm, 2, &r);
	if (rc != DB_OK)
		return rc;
	for (size_t i = 0; i < r.nrows; i++) {
		int64_t id = db_at(&r, i, 0)->i, stock = db_at(&r, i, 1)->i, reserved = db_at(&r, i, 2)->i;
		int64_t held = db_at(&r, i, 3)->i, received = db_at(&r, i, 4)->i, sold = db_at(&r, i, 5)->i;
		audit_problem *p;
		if (stock < 0) {
			p = add(out, cap, 1, "stock_negative");
			p->product_id = id, p->expected = 0, p->actual = stock;
		}
		if (reserved < 0) {
			p = add(out, cap, 1, "reserved_negative");
			p->product_id = id, p->expected = 0, p->actual = reserved;
		}
		if (reserved > stock) {
			p = add(out, cap, 1, "reserved_exceeds_stock");
			p->product_id = id, p->expected = stock, p->actual = reserved;
		}
		if (reserved != held) {
			p = add(out, cap, 2, "reserved_mismatch");
			p->product_id = id, p->expected = held, p->actual = reserved;
		}
		const db_value *first = db_at(&r, i, 7);
		if (!first->is_null && first->i < db_at(&r, i, 6)->i) {
			p = add(out, cap, 2, "expiry_bound_stale");
			p->product_id = id, p->expected = first->i, p->actual = db_at(&r, i, 6)->i;
		}
		if (received != stock + sold) {
			p = add(out, cap, 3, "ledger_mismatch");
			p->product_id = id, p->expected = received, p->actual = stock + sold;
		}
	}
	out->products_checked += (int64_t)r.nrows;
	db_rows_free(&r);
	return DB_OK;
}

static int audit_rows(db *d, const char *sql, const db_param *params, size_t nparams, int inv, const char *code,
		      audit_report *out, size_t *cap)
{
	db_rows r;
	int rc = db_exec(d, sql, params, nparams, &r);
	if (rc != DB_OK)
		return rc;
	for (size_t i = 0; i < r.nrows; i++) {
		audit_problem *p = add(out, cap, inv, code);
		snprintf(p->cart_id, sizeof p->cart_id, "%s", db_at(&r, i, 0)->s ? db_at(&r, i, 0)->s : "");
		if (strcmp(code, "stray_hold") == 0) {
			p->product_id = db_at(&r, i, 1)->i;
			p->actual = db_at(&r, i, 2)->i;
		} else {
			p->expected = db_at(&r, i, 3)->i;
			p->actual = db_at(&r, i, 2)->i;
			if (!db_at(&r, i, 1)->is_null && strcmp(code, "checkout_incomplete") == 0 &&
			    p->expected != p->actual)
				p->code = "order_total_mismatch";
		}
	}
	db_rows_free(&r);
	return DB_OK;
}

void audit_walk_start(audit_walk *w)
{
	memset(w, 0, sizeof *w);
}

void audit_walk_free(audit_walk *w)
{
	audit_report_free(&w->report);
	memset(w, 0, sizeof *w);
}

/* One slice of products, ending at the next AUDIT_SLICE ids. */
static int walk_products(db *d, audit_walk *w)
{
	db_param after = P_I64(w->last_product);
	db_rows r;
	int rc = db_exec(d, SQL_PRODUCT_SLICE_END, &after, 1, &r);
	if (rc != DB_OK)
		return rc;
	bool more = r.nrows == 1 && !db_at(&r, 0, 0)->is_null;
	int64_t hi = more ? db_at(&r, 0, 0)->i : 0;
	db_rows_free(&r);
	if (!more) {
		w->phase = AUDIT_WALK_CARTS;
		return DB_OK;
	}
	rc = audit_products(d, w->last_product, hi, &w->report, &w->cap);
	if (rc == DB_OK)
		w->last_product = hi;
	return rc;
}

/* One slice of carts, or the tail past the last cart (holds of unknown
 * carts), after which the walk is done. */
static int walk_carts(db *d, audit_walk *w)
{
	db_param after = P_STR(w->last_cart, strlen(w->last_cart));
	db_rows r;
	int rc = db_exec(d, SQL_CART_SLICE_END, &after, 1, &r);
	if (rc != DB_OK)
		return rc;
	bool more = r.nrows == 1 && !db_at(&r, 0, 0)->is_null;
	char hi[CART_ID_LEN + 1] = "";
	if (more)
		snprintf(hi, sizeof hi, "%s", db_at(&r, 0, 0)->s);
	db_rows_free(&r);
	db_param hi_param = more ? P_STR(hi, strlen(hi)) : P_NULL();
	db_param stray[] = { after, hi_param, hi_param };
	rc = audit_rows(d, SQL_AUDIT_STRAY_HOLDS, stray, 3, 6, "stray_hold", &w->report, &w->cap);
	if (rc == DB_OK && more) {
		db_param slice[] = { after, hi_param };
		rc = audit_rows(d, SQL_AUDIT_CHECKOUTS, slice, 2, 4, "checkout_incomplete", &w->report, &w->cap);
	}
	if (rc != DB_OK)
		return rc;
	if (more)
		memcpy(w->last_cart, hi, sizeof hi);
	else
		w->phase = AUDIT_WALK_DONE;
	return DB_OK;
}

int audit_walk_step(dom_ctx *c, audit_walk *w)
{
	DOM_REQUIRE(w->phase != AUDIT_WALK_DONE);
	return w->phase == AUDIT_WALK_PRODUCTS ? walk_products(c->db, w) : walk_carts(c->db, w);
}

int dom_audit(dom_ctx *c, audit_report *out)
{
	audit_walk w;
	audit_walk_start(&w);
	int rc = DB_OK;
	while (rc == DB_OK && w.phase != AUDIT_WALK_DONE)
		rc = audit_walk_step(c, &w);
	if (rc != DB_OK) {
		audit_walk_free(&w);
		memset(out, 0, sizeof *out);
		return rc;
	}
	*out = w.report;
	return DB_OK;
}
