#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "domain/domain.h"
#include "domain/locking.h"

static const char SQL_PRODUCT_GET[] =
	"SELECT id, sku, name, price_cents, stock, reserved_stock FROM products WHERE id = ?";

/* One statement for any number of ids: the list travels as a JSON array of
 * integers (built from validated numbers, bound as a parameter). */
static const char SQL_PRODUCTS_LIST[] =
	"SELECT DISTINCT p.id, p.sku, p.name, p.price_cents, p.stock, p.reserved_stock"
	" FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT PATH '$')) j"
	" JOIN products p ON p.id = j.id ORDER BY p.id";

/* A range scan of the primary key from `after`: as cheap for the last page
 * as for the first, and stable while products are added (new ids come
 * after). One row more than the page tells whether another page follows. */
static const char SQL_PRODUCTS_PAGE[] =
	"SELECT id, sku, name, price_cents, stock, reserved_stock FROM products"
	" WHERE id > ? ORDER BY id LIMIT ?";

static const char SQL_PRODUCT_INSERT[] =
	"INSERT INTO products (sku, name, price_cents, stock, next_expiry_ms) VALUES (?, ?, ?, ?, ?)";

static const char SQL_RECEIPT_INSERT[] =
	"INSERT INTO stock_receipts (product_id, delta, reason) VALUES (?, ?, ?)";

void product_free(product *p)
{
	free(p->sku);
	free(p->name);
	p->sku = p->name = NULL;
}

/* Moves the strings out of the row: rows and product then own disjoint memory. */
static void product_from_row(db_rows *r, size_t i, product *out)
{
	out->id = db_at(r, i, 0)->i;
	out->sku = r->v[i * r->ncols + 1].s;
	out->sku_len = r->v[i * r->ncols + 1].len;
	out->name = r->v[i * r->ncols + 2].s;
	out->name_len = r->v[i * r->ncols + 2].len;
	r->v[i * r->ncols + 1].s = NULL;
	r->v[i * r->ncols + 2].s = NULL;
	out->price_cents = db_at(r, i, 3)->i;
	out->stock = db_at(r, i, 4)->i;
	out->reserved = db_at(r, i, 5)->i;
}

static int product_read(db *d, int64_t id, product *out)
{
	db_param p[] = { P_I64(id) };
	db_rows r;
	int rc = db_read(d, SQL_PRODUCT_GET, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	if (r.nrows == 0)
		rc = DOM_PRODUCT_NOT_FOUND;
	else
		product_from_row(&r, 0, out);
	db_rows_free(&r);
	return rc;
}

int dom_product_get(dom_ctx *c, int64_t id, product *out)
{
	memset(out, 0, sizeof *out);
	return product_read(c->db, id, out);
}

int dom_products_list(dom_ctx *c, const int64_t *ids, size_t n, product **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	/* 100 ids of at most 19 digits and a comma each. */
	char json[100 * 21 + 3];
	size_t len = 0;
	if (n > 100)
		return DB_ERR_OTHER;
	json[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(json + len, sizeof json - len, "%s%lld", i ? "," : "", (long long)ids[i]);
	json[len++] = ']';
	db_param p[] = { P_STR(json, len) };
	db_rows r;
	int rc = db_read(c->db, SQL_PRODUCTS_LIST, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	*out = calloc(r.nrows ? r.nrows : 1, sizeof **out);
	if (*out == NULL)
		abort();
	for (size_t i = 0; i < r.nrows; i++)
		product_from_row(&r, i, &(*out)[i]);
	*nout = r.nrows;
	db_rows_free(&r);
	return DB_OK;
}

int dom_products_page(dom_ctx *c, int64_t after, size_t limit, product **out, size_t *nout, bool *more)
{
	*out = NULL;
	*nout = 0;
	*more = false;
	if (limit == 0 || limit > 1000)
		return DB_ERR_OTHER;
	db_param p[] = { P_I64(after), P_I64(limit + 1) };
	db_rows r;
	int rc = db_read(c->db, SQL_PRODUCTS_PAGE, p, 2, &r);
	if (rc != DB_OK)
		return rc;
	size_t n = r.nrows > limit ? limit : r.nrows;
	*more = r.nrows > limit;
	*out = calloc(n ? n : 1, sizeof **out);
	if (*out == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		product_from_row(&r, i, &(*out)[i]);
	*nout = n;
	db_rows_free(&r);
	return DB_OK;
}

typedef struct {
	const char *sku, *name;
	size_t sku_len, name_len;
	int64_t price_cents, stock;
	bool is_set;
	int64_t id, value;
	product *out;
	dom_events ev; /* holds found expired on the locked product */
} product_op;

static int create_body(db *d, void *arg)
{
	product_op *op = arg;
	product_free(op->out);
	db_param p[] = { P_STR(op->sku, op->sku_len), P_STR(op->name, op->name_len), P_I64(op->price_cents),
			 P_I64(op->stock), P_I64(HOLD_NO_EXPIRY) };
	db_rows r;
	int rc = db_exec(d, SQL_PRODUCT_INSERT, p, 5, &r);
	if (rc == DB_ERR_DUP)
		return DOM_SKU_EXISTS;
	if (rc != DB_OK)
		return rc;
	int64_t id = (int64_t)r.insert_id;
	db_rows_free(&r);
	db_param rec[] = { P_I64(id), P_I64(op->stock), P_STR("created", 7) };
	rc = db_exec(d, SQL_RECEIPT_INSERT, rec, 3, NULL);
	if (rc != DB_OK)
		return rc;
	return product_read(d, id, op->out);
}

int dom_product_create(dom_ctx *c, const char *sku, size_t sku_len, const char *name, size_t name_len,
		       int64_t price_cents, int64_t stock, product *out)
{
	memset(out, 0, sizeof *out);
	product_op op = { .sku = sku, .name = name, .sku_len = sku_len, .name_len = name_len,
			  .price_cents = price_cents, .stock = stock, .out = out };
	int rc = dom_txn(c, create_body, &op, NULL);
	if (rc != DB_OK)
		product_free(out);
	return rc;
}

static int stock_body(db *d, void *arg)
{
	product_op *op = arg;
	product_free(op->out);
	locked_product lp;
	int rc = lock_product(d, op->id, NULL, clock_now_ms(), &lp);
	if (rc != DB_OK)
		return rc;
	op->ev.expired = lp.expired_reclaimed;
	int64_t next = op->is_set ? op->value : lp.stock + op->value;
	/* Held units are promised to shoppers: stock may not drop below them. */
	if (next < lp.reserved || next < 0)
		return DOM_BELOW_RESERVED;
	rc = product_update(d, &lp, next - lp.stock, 0, 0);
	if (rc != DB_OK)
		return rc;
	if (next != lp.stock) {
		const char *reason = op->is_set ? "set" : "delta";
		db_param rec[] = { P_I64(op->id), P_I64(next - lp.stock), P_STR(reason, strlen(reason)) };
		rc = db_exec(d, SQL_RECEIPT_INSERT, rec, 3, NULL);
		if (rc != DB_OK)
			return rc;
	}
	return product_read(d, op->id, op->out);
}

int dom_product_stock(dom_ctx *c, int64_t id, bool is_set, int64_t value, product *out)
{
	memset(out, 0, sizeof *out);
	product_op op = { .id = id, .is_set = is_set, .value = value, .out = out };
	int rc = dom_txn(c, stock_body, &op, &op.ev);
	if (rc != DB_OK)
		product_free(out);
	return rc;
}
