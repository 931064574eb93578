/* The yardstick for `make bench`: the shortest C FastCGI program that does
 * what POST /api/cart/add with decrease_stock does in stock mode, statement
 * for statement, and nothing else: no router, no strict JSON, no
 * idempotency, no metrics, no access log, no retry budget, no config.
 * The distance between it and stockd on the same load is what stockd's
 * structure and safety cost.
 *
 *   bare_add SOCKET WORKERS    (DB_SOCKET, DB_USER, DB_PASSWORD, DB_NAME)
 *
 * The SQL is the app's on purpose (same transaction, same locks, same
 * order): a benchmark baseline, not a second implementation to maintain. */
#include <fcgiapp.h>
#include <json-c/json.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { LOCK_CART, LINE_ADD, CART_ITEMS, LOCK_PRODUCT, DELETE_EXPIRED, HOLD_UPSERT, PRODUCT_ADJUST, NSTMT };

static const char *const SQL[NSTMT] = {
	[LOCK_CART] = "SELECT c.status,"
		      " (SELECT i.quantity FROM cart_items i WHERE i.cart_id = c.id AND i.product_id = ?),"
		      " EXISTS(SELECT 1 FROM stock_holds h WHERE h.cart_id = c.id AND h.product_id = ?"
		      " AND h.expires_at_ms > ?),"
		      " (SELECT COUNT(*) FROM cart_items i WHERE i.cart_id = c.id)"
		      " + (SELECT COUNT(*) FROM stock_holds h WHERE h.cart_id = c.id AND h.expires_at_ms > ?"
		      "    AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = h.cart_id"
		      "    AND i.product_id = h.product_id))"
		      " FROM carts c WHERE c.id = ? FOR UPDATE",
	[LINE_ADD] = "INSERT INTO cart_items (cart_id, product_id, quantity, mode) VALUES (?, ?, ?, 'stock')"
		     " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), mode = VALUES(mode)",
	[CART_ITEMS] = "SELECT i.product_id, i.quantity, COALESCE(h.quantity, 0), COALESCE(h.expires_at_ms, 0)"
		       " FROM cart_items i LEFT JOIN stock_holds h"
		       "   ON h.cart_id = i.cart_id AND h.product_id = i.product_id AND h.expires_at_ms > ?"
		       " WHERE i.cart_id = ?"
		       " UNION ALL"
		       " SELECT h.product_id, 0, h.quantity, h.expires_at_ms FROM stock_holds h"
		       " WHERE h.cart_id = ? AND h.expires_at_ms > ?"
		       "   AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = h.cart_id"
		       "   AND i.product_id = h.product_id)",
	[LOCK_PRODUCT] = "SELECT p.stock, p.reserved_stock, p.price_cents,"
			 " (SELECT COALESCE(SUM(h.quantity), 0) FROM stock_holds h"
			 "   WHERE h.product_id = p.id AND h.expires_at_ms <= ?),"
			 " (SELECT h.quantity FROM stock_holds h"
			 "   WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?),"
			 " (SELECT h.expires_at_ms FROM stock_holds h"
			 "   WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?)"
			 " FROM products p WHERE p.id = ? FOR UPDATE",
	[DELETE_EXPIRED] = "DELETE FROM stock_holds WHERE product_id = ? AND expires_at_ms <= ?",
	[HOLD_UPSERT] = "INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)"
			" ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)",
	/* next_expiry_ms (sql/0006, newer than this SQL): kept below the
	 * holds' expiries, as the schema asks of every hold writer. */
	[PRODUCT_ADJUST] = "UPDATE products SET reserved_stock = reserved_stock + ?,"
			   " next_expiry_ms = LEAST(next_expiry_ms, ?) WHERE id = ?",
};

#define HOLD_MS (30LL * 60 * 1000)
#define MAX_ITEMS 256

static MYSQL *conn;
static MYSQL_STMT *stmt[NSTMT];

static void die(const char *what)
{
	fprintf(stderr, "bare_add: %s: %s\n", what, conn ? mysql_error(conn) : "");
	exit(1);
}

/* Parameters: 'i' binds a long long, 's' a string; results are long longs
 * (a string column comes back as its first byte, enough for cart status). */
typedef struct {
	long long v[MAX_ITEMS][6];
	int rows;
} result;

static int run(int k, const char *types, const void *const *args, result *out)
{
	MYSQL_BIND p[8], r[6];
	unsigned long len[8];
	memset(p, 0, sizeof p);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 'i') {
			p[i].buffer_type = MYSQL_TYPE_LONGLONG;
			p[i].buffer = (void *)args[i];
		} else {
			len[i] = strlen(args[i]);
			p[i].buffer_type = MYSQL_TYPE_STRING;
			p[i].buffer = (void *)args[i];
			p[i].buffer_length = len[i];
			p[i].length = &len[i];
		}
	}
	if (mysql_stmt_bind_param(stmt[k], p) || mysql_stmt_execute(stmt[k]))
		return mysql_stmt_errno(stmt[k]);
	if (!out)
		return 0;
	long long row[6];
	char nul[6], str[16];
	unsigned long slen;
	int ncols = (int)mysql_stmt_field_count(stmt[k]);
	memset(r, 0, sizeof r);
	for (int i = 0; i < ncols; i++) {
		r[i].buffer_type = MYSQL_TYPE_LONGLONG;
		r[i].buffer = &row[i];
		r[i].is_null = &nul[i];
	}
	if (k == LOCK_CART) { /* status is a string */
		r[0].buffer_type = MYSQL_TYPE_STRING;
		r[0].buffer = str;
		r[0].buffer_length = sizeof str;
		r[0].length = &slen;
	}
	if (mysql_stmt_bind_result(stmt[k], r))
		return mysql_stmt_errno(stmt[k]);
	out->rows = 0;
	int rc;
	while ((rc = mysql_stmt_fetch(stmt[k])) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		if (out->rows == MAX_ITEMS)
			continue;
		for (int i = 0; i < ncols; i++)
			out->v[out->rows][i] = nul[i] ? 0 : row[i];
		if (k == LOCK_CART)
			out->v[out->rows][0] = str[0];
		out->rows++;
	}
	if (rc != MYSQL_NO_DATA)
		return mysql_stmt_errno(stmt[k]);
	return mysql_stmt_free_result(stmt[k]) ? (int)mysql_stmt_errno(stmt[k]) : 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int by_product(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* The transaction. Returns 200, 404, 409 or an error number for 503. */
static int add(const char *cart, long long product, long long qty, result *items, long long *available)
{
	long long now = now_ms(), until = now + HOLD_MS;
	result r;
	int rc;
	if (mysql_real_query(conn, "START TRANSACTION", 17))
		return (int)mysql_errno(conn);
	if ((rc = run(LOCK_CART, "iiiis", (const void *[]){ &product, &product, &now, &now, cart }, &r)))
		return rc;
	if (r.rows == 0)
		return 404;
	if (r.v[0][0] == 'c')
		return 409;
	if ((rc = run(LINE_ADD, "sii", (const void *[]){ cart, &product, &qty }, NULL)) ||
	    (rc = run(CART_ITEMS, "issi", (const void *[]){ &now, cart, cart, &now }, items)) ||
	    (rc = run(LOCK_PRODUCT, "isisii", (const void *[]){ &now, cart, &now, cart, &now, &product }, &r)))
		return rc;
	if (r.rows == 0)
		return 404;
	long long stock = r.v[0][0], reserved = r.v[0][1], expired = r.v[0][3], held = r.v[0][4];
	if (expired > 0) {
		long long give = -expired;
		if ((rc = run(DELETE_EXPIRED, "ii", (const void *[]){ &product, &now }, NULL)) ||
		    (rc = run(PRODUCT_ADJUST, "iii", (const void *[]){ &give, &until, &product }, NULL)))
			return rc;
		reserved -= expired;
	}
	*available = stock - reserved;
	if (*available < qty)
		return 409;
	long long hold = held + qty;
	if ((rc = run(HOLD_UPSERT, "siii", (const void *[]){ cart, &product, &hold, &until }, NULL)) ||
	    (rc = run(PRODUCT_ADJUST, "iii", (const void *[]){ &qty, &until, &product }, NULL)))
		return rc;
	if (mysql_commit(conn))
		return (int)mysql_errno(conn);
	qsort(items->v, (size_t)items->rows, sizeof items->v[0], by_product);
	for (int i = 0; i < items->rows; i++)
		if (items->v[i][0] == product) {
			items->v[i][2] = hold;
			items->v[i][3] = until;
		}
	return 200;
}

static void answer(FCGX_Request *rq, int status, json_object *body)
{
	FCGX_FPrintF(rq->out, "Status: %d\r\nContent-Type: application/json\r\n\r\n%s", status,
		     json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	json_object_put(body);
}

static void serve(FCGX_Request *rq)
{
	char buf[4096];
	int n = FCGX_GetStr(buf, sizeof buf - 1, rq->in);
	buf[n < 0 ? 0 : n] = '\0';
	json_object *in = json_tokener_parse(buf), *v;
	const char *cart = in && json_object_object_get_ex(in, "cart_id", &v) ? json_object_get_string(v) : NULL;
	long long product = in && json_object_object_get_ex(in, "product_id", &v) ? json_object_get_int64(v) : 0;
	long long qty = in && json_object_object_get_ex(in, "quantity", &v) ? json_object_get_int64(v) : 0;
	if (!cart || product <= 0 || qty <= 0) {
		json_object_put(in);
		json_object *e = json_object_new_object();
		json_object_object_add(e, "error", json_object_new_string("validation_failed"));
		answer(rq, 400, e);
		return;
	}
	static result items;
	long long available = 0;
	int rc;
	for (int attempt = 0;; attempt++) {
		rc = add(cart, product, qty, &items, &available);
		if (rc != 200)
			mysql_rollback(conn);
		if ((rc != ER_LOCK_DEADLOCK && rc != ER_LOCK_WAIT_TIMEOUT) || attempt == 2)
			break;
	}
	json_object *out = json_object_new_object();
	if (rc == 200) {
		json_object_object_add(out, "cart_id", json_object_new_string(cart));
		json_object_object_add(out, "status", json_object_new_string("open"));
		json_object *arr = json_object_new_array();
		for (int i = 0; i < items.rows; i++) {
			json_object *it = json_object_new_object();
			json_object_object_add(it, "product_id", json_object_new_int64(items.v[i][0]));
			json_object_object_add(it, "quantity", json_object_new_int64(items.v[i][1]));
			json_object_object_add(it, "reserved", json_object_new_int64(items.v[i][2]));
			char iso[32];
			time_t t = (time_t)(items.v[i][3] / 1000);
			struct tm tm;
			strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
			json_object_object_add(it, "reserved_until",
					       items.v[i][2] ? json_object_new_string(iso) : NULL);
			json_object_array_add(arr, it);
		}
		json_object_object_add(out, "items", arr);
		json_object_object_add(out, "warnings", json_object_new_array());
	} else if (rc == 404 || rc == 409) {
		json_object_object_add(out, "error", json_object_new_string(rc == 404 ? "not_found" : "insufficient_stock"));
		json_object_object_add(out, "available", json_object_new_int64(available));
	} else {
		json_object_object_add(out, "error", json_object_new_string("database_unavailable"));
		rc = 503;
	}
	json_object_put(in);
	answer(rq, rc, out);
}

static void worker(int sock)
{
	conn = mysql_init(NULL);
	if (!conn || !mysql_real_connect(conn, NULL, getenv("DB_USER"), getenv("DB_PASSWORD"), getenv("DB_NAME"), 0,
					 getenv("DB_SOCKET"), 0))
		die("connect");
	for (int k = 0; k < NSTMT; k++)
		if (!(stmt[k] = mysql_stmt_init(conn)) || mysql_stmt_prepare(stmt[k], SQL[k], strlen(SQL[k])))
			die(SQL[k]);
	FCGX_Request rq;
	if (FCGX_InitRequest(&rq, sock, 0) != 0)
		die("FCGX_InitRequest");
	while (FCGX_Accept_r(&rq) >= 0) {
		serve(&rq);
		FCGX_Finish_r(&rq);
	}
	exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bare_add SOCKET WORKERS\n");
		return 2;
	}
	if (FCGX_Init() != 0)
		return 1;
	int sock = FCGX_OpenSocket(argv[1], 128);
	if (sock < 0)
		return 1;
	int workers = atoi(argv[2]);
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			worker(sock);
	}
	/* The parent only waits: TERM reaches the whole process group. */
	signal(SIGTERM, SIG_DFL);
	while (wait(NULL) > 0)
		;
	return 0;
}
