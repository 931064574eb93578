#include "domain/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per product: the row, the sum of its hold rows, what it received and what
 * it sold. reserved must equal the held sum (expired-but-unreclaimed holds
 * still count), and received must equal stock + sold. next_expiry_ms must
 * not pass any of its holds' expiries: the hold paths look for expired
 * holds only once the clock passes it. */
static const char SQL_AUDIT_PRODUCTS[] =
	"SELECT p.id, p.stock, p.reserved_stock,"
	" COALESCE(h.held, 0), COALESCE(rc.received, 0), COALESCE(s.sold, 0), p.next_expiry_ms, h.first_expiry"
	" FROM products p"
	" LEFT JOIN (SELECT product_id, SUM(quantity) AS held, MIN(expires_at_ms) AS first_expiry"
	"   FROM stock_holds GROUP BY product_id) h"
	"   ON h.product_id = p.id"
	" LEFT JOIN (SELECT product_id, SUM(delta) AS received FROM stock_receipts GROUP BY product_id) rc"
	"   ON rc.product_id = p.id"
	" LEFT JOIN (SELECT product_id, SUM(quantity) AS sold FROM order_items GROUP BY product_id) s"
	"   ON s.product_id = p.id"
	" ORDER BY p.id";

/* Holds that must not exist: on a checked-out or unknown cart, or on an
 * unknown product. */
static const char SQL_AUDIT_STRAY_HOLDS[] =
	"SELECT h.cart_id, h.product_id, h.quantity FROM stock_holds h"
	" LEFT JOIN carts c ON c.id = h.cart_id LEFT JOIN products p ON p.id = h.product_id"
	" WHERE c.id IS NULL OR c.status = 'checked_out' OR p.id IS NULL"
	" ORDER BY h.cart_id, h.product_id LIMIT 1000";

/* A checkout is all or nothing: a closed cart has exactly one order and an
 * order's total is the sum of its lines. */
static const char SQL_AUDIT_CHECKOUTS[] =
	"SELECT c.id, o.id, o.total_cents, (SELECT COALESCE(SUM(quantity * price_cents), 0)"
	"   FROM order_items WHERE order_id = o.id)"
	" FROM carts c LEFT JOIN orders o ON o.cart_id = c.id"
	" WHERE (c.status = 'checked_out') <> (o.id IS NOT NULL)"
	"   OR o.total_cents <> (SELECT COALESCE(SUM(quantity * price_cents), 0) FROM order_items"
	"                        WHERE order_id = o.id)"
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

static int audit_products(db *d, audit_report *out, size_t *cap)
{
	db_rows r;
	int rc = db_exec(d, SQL_AUDIT_PRODUCTS, NULL, 0, &r);
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
	out->products_checked = (int64_t)r.nrows;
	db_rows_free(&r);
	return DB_OK;
}

static int audit_rows(db *d, const char *sql, int inv, const char *code, audit_report *out, size_t *cap)
{
	db_rows r;
	int rc = db_exec(d, sql, NULL, 0, &r);
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

int dom_audit(dom_ctx *c, audit_report *out)
{
	memset(out, 0, sizeof *out);
	size_t cap = 0;
	/* One snapshot for every query, so concurrent traffic is never reported
	 * as a breach. */
	int rc = db_simple(c->db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
	if (rc == DB_OK)
		rc = db_simple(c->db, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
	if (rc != DB_OK)
		return rc;
	rc = audit_products(c->db, out, &cap);
	if (rc == DB_OK)
		rc = audit_rows(c->db, SQL_AUDIT_STRAY_HOLDS, 6, "stray_hold", out, &cap);
	if (rc == DB_OK)
		rc = audit_rows(c->db, SQL_AUDIT_CHECKOUTS, 4, "checkout_incomplete", out, &cap);
	int end = db_simple(c->db, "COMMIT");
	if (rc == DB_OK)
		rc = end;
	if (rc != DB_OK)
		audit_report_free(out);
	return rc;
}
