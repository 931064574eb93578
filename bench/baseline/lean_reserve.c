/* The lean reserve: the yardstick of issue 11. The fewest statements that
 * meet the contract of a hold on stockd's own schema (sql/0002: products.
 * reserved_stock, stock_holds), served by the shortest pre-forked libfcgi
 * responder: lock the product, check, write, commit.
 *
 *   START TRANSACTION
 *   SELECT stock, reserved_stock FROM products WHERE id = ? FOR UPDATE
 *   (available >= quantity, else 409 and ROLLBACK)
 *   UPDATE products SET reserved_stock = reserved_stock + ?,
 *          next_expiry_ms = LEAST(next_expiry_ms, ?) WHERE id = ?
 *   INSERT INTO stock_holds ... ON DUPLICATE KEY UPDATE (add, restart expiry)
 *   COMMIT
 *
 * Five round trips, statements prepared once per worker connection. What it
 * leaves out on purpose, and stockd does not: the cart (exists, open, its
 * line and hold limits), reclaiming expired holds under the lock, the
 * per-product hold limit, idempotency keys, strict JSON, the router,
 * metrics, the access log and configuration. The distance between stockd and
 * this program on the same load is what those cost.
 *
 *   lean_reserve SOCKET WORKERS    (DB_SOCKET, DB_USER, DB_PASSWORD, DB_NAME)
 *
 * Any URI is a reserve, so one wrk script drives stockd and this program:
 * the body is stockd's, {"cart_id":"...","product_id":N,"quantity":N},
 * unknown fields (decrease_stock) ignored. Answers: 200 with the product's
 * available units, 400 invalid_request, 404 product_not_found, 409
 * insufficient_stock, 503 database_unavailable. */
#define LEAN_NAME "lean_reserve"
#include "lean.h"

enum { SEL, UPD, INS, NSTMT };

static const char *const SQL[NSTMT] = {
	[SEL] = "SELECT stock, reserved_stock FROM products WHERE id = ? FOR UPDATE",
	/* next_expiry_ms: stockd's schema asks every hold writer to keep it
	 * below its holds' expiries (sql/0006; the audit checks it). */
	[UPD] = "UPDATE products SET reserved_stock = reserved_stock + ?, next_expiry_ms = LEAST(next_expiry_ms, ?)"
		" WHERE id = ?",
	[INS] = "INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)"
		" ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)",
};

static MYSQL_STMT *stmt[NSTMT];

/* The statements' other parameters and results, and the answer's figure. */
static long long b_until, r_stock, r_reserved, available;

static void setup(void)
{
	lean_connect(SQL, stmt, NSTMT);
	MYSQL_BIND sel_p[1], sel_r[2], upd_p[3], ins_p[4];
	bind_ll(&sel_p[0], &b_product);
	bind_ll(&sel_r[0], &r_stock);
	bind_ll(&sel_r[1], &r_reserved);
	bind_ll(&upd_p[0], &b_qty);
	bind_ll(&upd_p[1], &b_until);
	bind_ll(&upd_p[2], &b_product);
	bind_cart(&ins_p[0]);
	bind_ll(&ins_p[1], &b_product);
	bind_ll(&ins_p[2], &b_qty);
	bind_ll(&ins_p[3], &b_until);
	if (mysql_stmt_bind_param(stmt[SEL], sel_p) || mysql_stmt_bind_result(stmt[SEL], sel_r) ||
	    mysql_stmt_bind_param(stmt[UPD], upd_p) || mysql_stmt_bind_param(stmt[INS], ins_p))
		die("bind");
}

/* One attempt of the transaction with the bound parameters. Returns 200,
 * 404, 409, or a MariaDB error number (503). */
static int reserve(void)
{
	int rc;
	b_until = now_ms() + HOLD_MS;
	if (mysql_real_query(conn, "START TRANSACTION", 17))
		return (int)mysql_errno(conn);
	if ((rc = lean_row(stmt[SEL])) != 0)
		return rc;
	available = r_stock - r_reserved;
	if (available < b_qty)
		return 409;
	if (mysql_stmt_execute(stmt[UPD]))
		return (int)mysql_stmt_errno(stmt[UPD]);
	if (mysql_stmt_execute(stmt[INS]))
		return (int)mysql_stmt_errno(stmt[INS]);
	if (mysql_commit(conn))
		return (int)mysql_errno(conn);
	available -= b_qty;
	return 200;
}

static void serve(FCGX_Request *rq)
{
	if (read_request(rq) != 0) {
		error(rq, 400, "invalid_request", 0);
		return;
	}
	int rc = lean_run(reserve);
	if (rc == 200) {
		char body[160];
		snprintf(body, sizeof body, "{\"cart_id\":\"%s\",\"product_id\":%lld,\"available\":%lld}", b_cart,
			 b_product, available);
		answer(rq, 200, body);
	} else if (rc == 404) {
		error(rq, 404, "product_not_found", 0);
	} else if (rc == 409) {
		error(rq, 409, "insufficient_stock", available);
	} else {
		fprintf(stderr, "lean_reserve: worker %d: error %d: %s\n", (int)getpid(), rc, mysql_error(conn));
		error(rq, 503, "database_unavailable", 0);
	}
}

int main(int argc, char **argv)
{
	return lean_main(argc, argv, setup, serve);
}
