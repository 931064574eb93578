#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "domain/domain.h"
#include "domain/hold_math.h"
#include "domain/locking.h"

static const char SQL_ORDER_OF_CART[] = "SELECT id, total_cents FROM orders WHERE cart_id = ?";

static const char SQL_ORDER_LINES[] =
	"SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = ? ORDER BY product_id";

/* Every product the cart has a line or any hold on (expired ones included:
 * lock_product reclaims them), ascending: the lock order. */
static const char SQL_CART_PRODUCTS[] =
	"SELECT product_id, SUM(q) FROM ("
	"  SELECT product_id, quantity AS q FROM cart_items WHERE cart_id = ?"
	"  UNION ALL SELECT product_id, 0 FROM stock_holds WHERE cart_id = ?"
	") t GROUP BY product_id ORDER BY product_id";

static const char SQL_CART_HOLDS_DELETE[] = "DELETE FROM stock_holds WHERE cart_id = ?";

static const char SQL_ORDER_INSERT[] = "INSERT INTO orders (cart_id, total_cents) VALUES (?, ?)";

static const char SQL_ORDER_LINE_INSERT[] =
	"INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?)";

static const char SQL_CART_CLOSE[] =
	"UPDATE carts SET status = 'checked_out', updated_at = CURRENT_TIMESTAMP(3) WHERE id = ?";

void order_free(order *o)
{
	free(o->lines);
	o->lines = NULL;
	o->nlines = 0;
}

typedef struct {
	const char *cart_id;
	order *out;
	bool *repeated;
	dom_refusal *why;
	dom_events ev; /* this attempt's; kept only if it commits */
} checkout_op;

static int load_order(db *d, const char *cart_id, order *out)
{
	db_param p[] = { P_STR(cart_id, strlen(cart_id)) };
	db_rows r;
	int rc = db_exec(d, SQL_ORDER_OF_CART, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	if (r.nrows == 0) {
		db_rows_free(&r);
		return DB_ERR_OTHER; /* a checked-out cart always has its order */
	}
	out->order_id = db_at(&r, 0, 0)->i;
	out->total_cents = db_at(&r, 0, 1)->i;
	db_rows_free(&r);
	db_param q[] = { P_I64(out->order_id) };
	rc = db_exec(d, SQL_ORDER_LINES, q, 1, &r);
	if (rc != DB_OK)
		return rc;
	out->lines = calloc(r.nrows ? r.nrows : 1, sizeof *out->lines);
	if (out->lines == NULL)
		abort();
	for (size_t i = 0; i < r.nrows; i++)
		out->lines[i] = (order_line){ db_at(&r, i, 0)->i, db_at(&r, i, 1)->i, db_at(&r, i, 2)->i };
	out->nlines = r.nrows;
	db_rows_free(&r);
	return DB_OK;
}

typedef struct {
	int64_t product_id, wanted, price_cents;
	locked_product lp;
	checkout_out plan;
} checkout_item;

static int sell(db *d, checkout_op *op, checkout_item *items, size_t n, size_t nlines, int64_t total)
{
	size_t len = strlen(op->cart_id);
	for (size_t i = 0; i < n; i++) {
		int rc = product_update(d, &items[i].lp, items[i].plan.stock_delta, items[i].plan.reserved_delta, 0);
		if (rc != DB_OK)
			return rc;
	}
	db_param cart[] = { P_STR(op->cart_id, len) };
	int rc = db_exec(d, SQL_CART_HOLDS_DELETE, cart, 1, NULL);
	if (rc != DB_OK)
		return rc;

	order *o = op->out;
	o->lines = calloc(nlines, sizeof *o->lines);
	if (o->lines == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (items[i].wanted == 0)
			continue;
		o->lines[o->nlines++] = (order_line){ items[i].product_id, items[i].wanted, items[i].price_cents };
	}
	o->total_cents = total;
	db_param ord[] = { P_STR(op->cart_id, len), P_I64(o->total_cents) };
	db_rows r;
	rc = db_exec(d, SQL_ORDER_INSERT, ord, 2, &r);
	if (rc != DB_OK)
		return rc;
	o->order_id = (int64_t)r.insert_id;
	db_rows_free(&r);
	for (size_t i = 0; i < o->nlines; i++) {
		db_param l[] = { P_I64(o->order_id), P_I64(o->lines[i].product_id), P_I64(o->lines[i].quantity),
				 P_I64(o->lines[i].price_cents) };
		rc = db_exec(d, SQL_ORDER_LINE_INSERT, l, 4, NULL);
		if (rc != DB_OK)
			return rc;
	}
	return db_exec(d, SQL_CART_CLOSE, cart, 1, NULL);
}

static int checkout_body(db *d, void *arg)
{
	checkout_op *op = arg;
	/* A retry starts from a clean slate. */
	order_free(op->out);
	memset(op->out, 0, sizeof *op->out);
	dom_refusal_free(op->why);
	*op->repeated = false;
	memset(&op->ev, 0, sizeof op->ev);
	memcpy(op->out->cart_id, op->cart_id, strlen(op->cart_id) + 1);

	int64_t now = clock_now_ms();
	locked_cart cart;
	int rc = lock_cart(d, op->cart_id, 0, now, &cart, NULL);
	if (rc != DB_OK)
		return rc;
	if (!cart.found)
		return DOM_CART_NOT_FOUND;
	if (cart.checked_out) {
		/* Idempotent per cart: the same order again, nothing sold twice. */
		*op->repeated = true;
		return load_order(d, op->cart_id, op->out);
	}

	size_t len = strlen(op->cart_id);
	db_param p[] = { P_STR(op->cart_id, len), P_STR(op->cart_id, len) };
	db_rows r;
	rc = db_exec(d, SQL_CART_PRODUCTS, p, 2, &r);
	if (rc != DB_OK)
		return rc;
	size_t n = r.nrows, nlines = 0;
	checkout_item *items = calloc(n ? n : 1, sizeof *items);
	if (items == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		items[i].product_id = db_at(&r, i, 0)->i;
		items[i].wanted = db_at(&r, i, 1)->i;
		nlines += items[i].wanted > 0;
	}
	db_rows_free(&r);
	if (nlines == 0) {
		rc = DOM_CART_EMPTY;
		goto done;
	}

	size_t nshort = 0;
	for (size_t i = 0; i < n; i++) {
		locked_product *lp = &items[i].lp;
		rc = lock_product(d, items[i].product_id, op->cart_id, now, lp);
		if (rc == DOM_PRODUCT_NOT_FOUND)
			rc = DB_ERR_OTHER; /* products are never deleted */
		if (rc != DB_OK)
			goto done;
		op->ev.expired += lp->expired_reclaimed;
		items[i].price_cents = lp->price_cents;
		items[i].plan = checkout_plan((checkout_in){ items[i].wanted, lp->held, lp->stock - lp->reserved });
		nshort += !items[i].plan.ok;
	}
	if (nshort > 0) {
		/* All lines or none: report only the short ones. */
		op->why->shorts = calloc(nshort, sizeof *op->why->shorts);
		if (op->why->shorts == NULL)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!items[i].plan.ok)
				op->why->shorts[op->why->nshort++] =
					(short_line){ items[i].product_id, items[i].wanted, items[i].plan.sellable };
		rc = DOM_INSUFFICIENT_STOCK;
		goto done;
	}
	/* Prices are known only under the product locks; an order whose total
	 * would overflow is refused before anything is sold. */
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (!order_total_add(&total, items[i].wanted, items[i].price_cents)) {
			rc = DOM_ORDER_TOO_LARGE;
			goto done;
		}
	}
	rc = sell(d, op, items, n, nlines, total);
	if (rc == DB_OK) {
		for (size_t i = 0; i < n; i++) {
			int64_t held = -items[i].plan.reserved_delta;
			int64_t sold_from_hold = items[i].wanted < held ? items[i].wanted : held;
			op->ev.converted += sold_from_hold;
			op->ev.released += held - sold_from_hold;
		}
		op->ev.carts_checked_out = 1;
	}
done:
	free(items);
	return rc;
}

int dom_checkout(dom_ctx *c, const char *cart_id, order *out, bool *repeated, dom_refusal *why)
{
	DOM_REQUIRE(DOM_CART_ID_OK(cart_id));
	memset(out, 0, sizeof *out);
	memset(why, 0, sizeof *why);
	checkout_op op = { cart_id, out, repeated, why, { 0 } };
	int rc = dom_txn(c, checkout_body, &op, &op.ev);
	if (rc != DB_OK && rc != DOM_INSUFFICIENT_STOCK) {
		order_free(out);
		dom_refusal_free(why);
	}
	if (rc != DB_OK)
		order_free(out);
	return rc;
}
