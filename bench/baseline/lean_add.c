/* The lean add: POST /api/cart/add with decrease_stock written the way
 * lean_reserve.c writes a hold, one plain statement for each table and
 * step, and nothing stockd adds to make it fast (no UNION, no procedure, no
 * COMMIT inside the server). What the contract asks of an add beyond a
 * hold is in it: the cart must exist and be open, its line and its hold on
 * the product stay within 1000 units, a new product must fit the cart's 100
 * lines, the line is written with the hold, and the answer is the whole
 * cart view.
 *
 *   START TRANSACTION
 *   SELECT status FROM carts WHERE id = ? FOR UPDATE
 *   SELECT product_id, quantity FROM cart_items WHERE cart_id = ?
 *   SELECT product_id, quantity, expires_at_ms FROM stock_holds WHERE cart_id = ?
 *   (cart_not_found, cart_closed, quantity_limit, cart_full)
 *   SELECT stock, reserved_stock FROM products WHERE id = ? FOR UPDATE
 *   (product_not_found, insufficient_stock)
 *   UPDATE products SET reserved_stock = reserved_stock + ?, ... WHERE id = ?
 *   INSERT INTO stock_holds ... ON DUPLICATE KEY UPDATE (add, restart expiry)
 *   INSERT INTO cart_items ... ON DUPLICATE KEY UPDATE (add)
 *   COMMIT
 *
 * Nine round trips, statements prepared once per worker connection. Left out
 * on purpose, as lean_reserve.c leaves them out: reclaiming expired holds
 * under the product's lock, idempotency keys, strict JSON, the router,
 * metrics, the access log and configuration (the limits are stockd's
 * defaults). `make bench` runs it beside stockd's add, so that the add is
 * also measured against the fewest plain statements of an add, not only of
 * a hold.
 *
 *   lean_add SOCKET WORKERS    (DB_SOCKET, DB_USER, DB_PASSWORD, DB_NAME)
 *
 * Any URI is an add: the body is stockd's, {"cart_id":"...","product_id":N,
 * "quantity":N}, decrease_stock taken as true. Answers: 200 with the cart
 * view, 400 invalid_request, 404 cart_not_found or product_not_found, 409
 * cart_closed, quantity_limit, cart_full or insufficient_stock, 503
 * database_unavailable. */
#define LEAN_NAME "lean_add"
#include "lean.h"

/* stockd's defaults for MAX_CART_LINES (and MAX_HOLD_PER_PRODUCT, which is
 * MAX_UNITS). */
#define MAX_LINES 100
/* Rows a cart may have in either table: its lines and holds are bounded by
 * MAX_LINES, so more means the cart is not one this program can answer. */
#define MAX_ROWS 256

enum { CART, LINES, HOLDS, PRODUCT, UPD, HOLD, LINE, NSTMT };

static const char *const SQL[NSTMT] = {
	[CART] = "SELECT status FROM carts WHERE id = ? FOR UPDATE",
	[LINES] = "SELECT product_id, quantity FROM cart_items WHERE cart_id = ?",
	[HOLDS] = "SELECT product_id, quantity, expires_at_ms FROM stock_holds WHERE cart_id = ?",
	[PRODUCT] = "SELECT stock, reserved_stock FROM products WHERE id = ? FOR UPDATE",
	/* next_expiry_ms: stockd's schema asks every hold writer to keep it
	 * below its holds' expiries (sql/0006; the audit checks it). */
	[UPD] = "UPDATE products SET reserved_stock = reserved_stock + ?, next_expiry_ms = LEAST(next_expiry_ms, ?)"
		" WHERE id = ?",
	[HOLD] = "INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)"
		 " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)",
	[LINE] = "INSERT INTO cart_items (cart_id, product_id, quantity) VALUES (?, ?, ?)"
		 " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity)",
};

static MYSQL_STMT *stmt[NSTMT];

/* The statements' other parameters and results, and the answer's figures. */
static long long b_until, r_id, r_qty, r_expires, r_stock, r_reserved, available;
static char r_status[16];
static unsigned long r_status_len;
static const char *code; /* a 4xx's error code */

/* One row of the view: a product the cart has a line or a hold for. */
typedef struct {
	long long product, quantity, held, until;
} item;

static item items[MAX_ROWS + 1];
static int nitems;
/* The units of the cart's expired hold on the product added, if it has one:
 * not in the view (the contract shows an expired hold as nothing), still
 * in the row and in the product's reserved units, since nothing here
 * reclaims it; the hold's upsert adds to them, as lean_reserve.c's does. */
static long long expired;

static void setup(void)
{
	lean_connect(SQL, stmt, NSTMT);
	MYSQL_BIND cart_p[1], cart_r[1], lines_r[2], holds_r[3], prod_p[1], prod_r[2], upd_p[3], hold_p[4], line_p[3];
	bind_cart(&cart_p[0]);
	memset(&cart_r[0], 0, sizeof cart_r[0]);
	cart_r[0].buffer_type = MYSQL_TYPE_STRING;
	cart_r[0].buffer = r_status;
	cart_r[0].buffer_length = sizeof r_status;
	cart_r[0].length = &r_status_len;
	bind_ll(&lines_r[0], &r_id);
	bind_ll(&lines_r[1], &r_qty);
	bind_ll(&holds_r[0], &r_id);
	bind_ll(&holds_r[1], &r_qty);
	bind_ll(&holds_r[2], &r_expires);
	bind_ll(&prod_p[0], &b_product);
	bind_ll(&prod_r[0], &r_stock);
	bind_ll(&prod_r[1], &r_reserved);
	bind_ll(&upd_p[0], &b_qty);
	bind_ll(&upd_p[1], &b_until);
	bind_ll(&upd_p[2], &b_product);
	bind_cart(&hold_p[0]);
	bind_ll(&hold_p[1], &b_product);
	bind_ll(&hold_p[2], &b_qty);
	bind_ll(&hold_p[3], &b_until);
	bind_cart(&line_p[0]);
	bind_ll(&line_p[1], &b_product);
	bind_ll(&line_p[2], &b_qty);
	if (mysql_stmt_bind_param(stmt[CART], cart_p) || mysql_stmt_bind_result(stmt[CART], cart_r) ||
	    mysql_stmt_bind_param(stmt[LINES], cart_p) || mysql_stmt_bind_result(stmt[LINES], lines_r) ||
	    mysql_stmt_bind_param(stmt[HOLDS], cart_p) || mysql_stmt_bind_result(stmt[HOLDS], holds_r) ||
	    mysql_stmt_bind_param(stmt[PRODUCT], prod_p) || mysql_stmt_bind_result(stmt[PRODUCT], prod_r) ||
	    mysql_stmt_bind_param(stmt[UPD], upd_p) || mysql_stmt_bind_param(stmt[HOLD], hold_p) ||
	    mysql_stmt_bind_param(stmt[LINE], line_p))
		die("bind");
}

/* The view's row for a product, added in ascending product order if the
 * cart has none yet; NULL when the cart has more rows than this program
 * answers. */
static item *item_for(long long product)
{
	int i = 0;
	while (i < nitems && items[i].product < product)
		i++;
	if (i < nitems && items[i].product == product)
		return &items[i];
	if (nitems == MAX_ROWS)
		return NULL;
	memmove(&items[i + 1], &items[i], (size_t)(nitems - i) * sizeof items[0]);
	nitems++;
	items[i] = (item){ .product = product };
	return &items[i];
}

/* Executes statement k and reads its rows into the view: lines (LINES) or
 * live holds (HOLDS). Returns 0, 503 when the cart has too many rows, or a
 * MariaDB error number. */
static int read_rows(int k, long long now)
{
	if (mysql_stmt_execute(stmt[k]))
		return (int)mysql_stmt_errno(stmt[k]);
	int rc;
	while ((rc = mysql_stmt_fetch(stmt[k])) == 0) {
		if (k == HOLDS && r_expires <= now) {
			if (r_id == b_product)
				expired = r_qty;
			continue;
		}
		item *it = item_for(r_id);
		if (!it) {
			mysql_stmt_free_result(stmt[k]);
			return 503;
		}
		if (k == LINES) {
			it->quantity = r_qty;
		} else {
			it->held = r_qty;
			it->until = r_expires;
		}
	}
	rc = rc == MYSQL_NO_DATA ? 0 : (int)mysql_stmt_errno(stmt[k]);
	mysql_stmt_free_result(stmt[k]);
	return rc;
}

/* One attempt of the transaction with the bound parameters. Returns 200, a
 * 4xx with code set, 503, or a MariaDB error number. */
static int add(void)
{
	long long now = now_ms();
	int rc;
	b_until = now + HOLD_MS;
	nitems = 0;
	expired = 0;
	code = NULL;
	if (mysql_real_query(conn, "START TRANSACTION", 17))
		return (int)mysql_errno(conn);
	if ((rc = lean_row(stmt[CART])) != 0)
		return rc == 404 ? (code = "cart_not_found", 404) : rc;
	if (r_status_len != 4 || memcmp(r_status, "open", 4) != 0)
		return code = "cart_closed", 409;
	if ((rc = read_rows(LINES, now)) != 0 || (rc = read_rows(HOLDS, now)) != 0)
		return rc;
	int products = nitems;
	item *it = item_for(b_product);
	if (!it)
		return 503;
	if (it->quantity + b_qty > MAX_UNITS || it->held + b_qty > MAX_UNITS)
		return code = "quantity_limit", 409;
	if (nitems > products && products >= MAX_LINES)
		return code = "cart_full", 409;
	if ((rc = lean_row(stmt[PRODUCT])) != 0)
		return rc == 404 ? (code = "product_not_found", 404) : rc;
	available = r_stock - r_reserved;
	if (available < b_qty)
		return code = "insufficient_stock", 409;
	if (mysql_stmt_execute(stmt[UPD]))
		return (int)mysql_stmt_errno(stmt[UPD]);
	if (mysql_stmt_execute(stmt[HOLD]))
		return (int)mysql_stmt_errno(stmt[HOLD]);
	if (mysql_stmt_execute(stmt[LINE]))
		return (int)mysql_stmt_errno(stmt[LINE]);
	if (mysql_commit(conn))
		return (int)mysql_errno(conn);
	it->quantity += b_qty;
	it->held += expired + b_qty;
	it->until = b_until;
	return 200;
}

/* RFC 3339 UTC with milliseconds, as the contract writes times. */
static void rfc3339(char *out, size_t size, long long ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03lldZ", ms % 1000);
}

/* The cart view of the contract from the rows read and the add made. */
static void view(FCGX_Request *rq)
{
	/* A row's item and warning take under 300 bytes with every number at
	 * its widest (a 19-digit id, quantities of up to 10 digits). */
	static char body[MAX_ROWS * 384 + 256];
	char until[32];
	size_t n = (size_t)snprintf(body, sizeof body, "{\"cart_id\":\"%s\",\"status\":\"open\",\"items\":[", b_cart);
	for (int i = 0; i < nitems; i++) {
		const item *it = &items[i];
		if (it->held > 0)
			rfc3339(until, sizeof until, it->until);
		n += (size_t)snprintf(body + n, sizeof body - n,
				      "%s{\"product_id\":%lld,\"quantity\":%lld,\"reserved\":%lld,\"reserved_until\":%s%s%s}",
				      i ? "," : "", it->product, it->quantity, it->held, it->held > 0 ? "\"" : "",
				      it->held > 0 ? until : "null", it->held > 0 ? "\"" : "");
	}
	n += (size_t)snprintf(body + n, sizeof body - n, "],\"warnings\":[");
	int w = 0;
	for (int i = 0; i < nitems; i++) {
		const item *it = &items[i];
		if (it->quantity <= it->held)
			continue;
		n += (size_t)snprintf(body + n, sizeof body - n,
				      "%s{\"product_id\":%lld,\"code\":\"not_reserved\",\"message\":\"%s\","
				      "\"quantity\":%lld,\"reserved\":%lld}",
				      w++ ? "," : "", it->product,
				      it->held == 0 ? "No units of this line are reserved."
						    : "Only part of this line is reserved.",
				      it->quantity, it->held);
	}
	snprintf(body + n, sizeof body - n, "]}");
	answer(rq, 200, body);
}

static void serve(FCGX_Request *rq)
{
	if (read_request(rq) != 0) {
		error(rq, 400, "invalid_request", 0);
		return;
	}
	int rc = lean_run(add);
	if (rc == 200) {
		view(rq);
	} else if (code) {
		error(rq, rc, code, available);
	} else {
		fprintf(stderr, "lean_add: worker %d: error %d: %s\n", (int)getpid(), rc, mysql_error(conn));
		error(rq, 503, "database_unavailable", 0);
	}
}

int main(int argc, char **argv)
{
	return lean_main(argc, argv, setup, serve);
}
