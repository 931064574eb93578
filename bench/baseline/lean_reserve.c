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

/* stockd's default STOCK_RESERVATION_TIMEOUT: the same expiry on the hold. */
#define HOLD_MS (30LL * 60 * 1000)
#define MAX_BODY 4096
#define CART_MAX 32
/* Deadlock or lock-wait timeout: the whole transaction again, as stockd and
 * lean_add do. Never taken on the happy path, so it adds no statement. */
#define ATTEMPTS 3

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

static MYSQL *conn;
static MYSQL_STMT *stmt[NSTMT];

/* The statements' parameters and results: bound once, filled per request. */
static long long b_product, b_qty, b_until, r_stock, r_reserved;
static char b_cart[CART_MAX + 1];
static unsigned long b_cart_len;

static void die(const char *what)
{
	fprintf(stderr, "lean_reserve: %s: %s\n", what, conn ? mysql_error(conn) : "");
	exit(1);
}

static void bind_ll(MYSQL_BIND *b, long long *v)
{
	memset(b, 0, sizeof *b);
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
}

static void db_open(void)
{
	conn = mysql_init(NULL);
	if (!conn || !mysql_real_connect(conn, NULL, getenv("DB_USER"), getenv("DB_PASSWORD"), getenv("DB_NAME"), 0,
					 getenv("DB_SOCKET"), 0))
		die("connect");
	/* stockd's isolation level: no gap locks on the hold upsert. */
	if (mysql_query(conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"))
		die("isolation");
	for (int k = 0; k < NSTMT; k++)
		if (!(stmt[k] = mysql_stmt_init(conn)) || mysql_stmt_prepare(stmt[k], SQL[k], strlen(SQL[k])))
			die(SQL[k]);
	MYSQL_BIND sel_p[1], sel_r[2], upd_p[3], ins_p[4];
	bind_ll(&sel_p[0], &b_product);
	bind_ll(&sel_r[0], &r_stock);
	bind_ll(&sel_r[1], &r_reserved);
	bind_ll(&upd_p[0], &b_qty);
	bind_ll(&upd_p[1], &b_until);
	bind_ll(&upd_p[2], &b_product);
	memset(&ins_p[0], 0, sizeof ins_p[0]);
	ins_p[0].buffer_type = MYSQL_TYPE_STRING;
	ins_p[0].buffer = b_cart;
	ins_p[0].buffer_length = sizeof b_cart;
	ins_p[0].length = &b_cart_len;
	bind_ll(&ins_p[1], &b_product);
	bind_ll(&ins_p[2], &b_qty);
	bind_ll(&ins_p[3], &b_until);
	if (mysql_stmt_bind_param(stmt[SEL], sel_p) || mysql_stmt_bind_result(stmt[SEL], sel_r) ||
	    mysql_stmt_bind_param(stmt[UPD], upd_p) || mysql_stmt_bind_param(stmt[INS], ins_p))
		die("bind");
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* One attempt of the transaction with the bound parameters. Returns 200,
 * 404, 409, or a MariaDB error number (503). */
static int reserve(long long *available)
{
	int rc;
	b_until = now_ms() + HOLD_MS;
	if (mysql_real_query(conn, "START TRANSACTION", 17))
		return (int)mysql_errno(conn);
	if (mysql_stmt_execute(stmt[SEL]))
		return (int)mysql_stmt_errno(stmt[SEL]);
	rc = mysql_stmt_fetch(stmt[SEL]);
	mysql_stmt_free_result(stmt[SEL]);
	if (rc == MYSQL_NO_DATA)
		return 404;
	if (rc != 0)
		return (int)mysql_stmt_errno(stmt[SEL]);
	*available = r_stock - r_reserved;
	if (*available < b_qty)
		return 409;
	if (mysql_stmt_execute(stmt[UPD]))
		return (int)mysql_stmt_errno(stmt[UPD]);
	if (mysql_stmt_execute(stmt[INS]))
		return (int)mysql_stmt_errno(stmt[INS]);
	if (mysql_commit(conn))
		return (int)mysql_errno(conn);
	*available -= b_qty;
	return 200;
}

static void answer(FCGX_Request *rq, int status, const char *body)
{
	FCGX_FPrintF(rq->out, "Status: %d\r\nContent-Type: application/json\r\n\r\n%s", status, body);
}

static void error(FCGX_Request *rq, int status, const char *code, long long available)
{
	char body[160];
	if (status == 409)
		snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"available\":%lld}}", code, available);
	else
		snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\"}}", code);
	answer(rq, status, body);
}

/* The body, read to CONTENT_LENGTH (libfcgi does not check it); NULL if it
 * is missing, too long or short. */
static json_object *read_body(FCGX_Request *rq)
{
	static char buf[MAX_BODY + 1];
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->envp);
	char *end;
	long len = cl ? strtol(cl, &end, 10) : 0;
	if (!cl || *end || len <= 0 || len > MAX_BODY)
		return NULL;
	if (FCGX_GetStr(buf, (int)len, rq->in) != len)
		return NULL;
	buf[len] = '\0';
	return json_tokener_parse(buf);
}

static void serve(FCGX_Request *rq)
{
	json_object *in = read_body(rq), *v;
	const char *cart = NULL;
	long long product = 0, qty = 0;
	if (in && json_object_is_type(in, json_type_object)) {
		if (json_object_object_get_ex(in, "cart_id", &v) && json_object_is_type(v, json_type_string))
			cart = json_object_get_string(v);
		if (json_object_object_get_ex(in, "product_id", &v) && json_object_is_type(v, json_type_int))
			product = json_object_get_int64(v);
		if (json_object_object_get_ex(in, "quantity", &v) && json_object_is_type(v, json_type_int))
			qty = json_object_get_int64(v);
	}
	size_t clen = cart ? strlen(cart) : 0;
	if (clen == 0 || clen > CART_MAX || product <= 0 || qty <= 0 || qty > 1000) {
		json_object_put(in);
		error(rq, 400, "invalid_request", 0);
		return;
	}
	memcpy(b_cart, cart, clen + 1);
	b_cart_len = clen;
	b_product = product;
	b_qty = qty;
	json_object_put(in);

	long long available = 0;
	int rc;
	for (int attempt = 1;; attempt++) {
		rc = reserve(&available);
		if (rc != 200)
			mysql_rollback(conn);
		if ((rc != ER_LOCK_DEADLOCK && rc != ER_LOCK_WAIT_TIMEOUT) || attempt == ATTEMPTS)
			break;
	}
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

static void worker(int sock)
{
	/* After fork: a connection shared with the parent would be corrupted. */
	db_open();
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
		fprintf(stderr, "usage: lean_reserve SOCKET WORKERS\n");
		return 2;
	}
	int workers = atoi(argv[2]);
	if (workers < 1 || workers > 256)
		return 2;
	if (FCGX_Init() != 0)
		return 1;
	unlink(argv[1]);
	int sock = FCGX_OpenSocket(argv[1], 1024);
	if (sock < 0)
		return 1;
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			worker(sock);
	}
	/* The parent only waits: bench/run sends TERM to the whole group. */
	signal(SIGTERM, SIG_DFL);
	while (wait(NULL) > 0)
		;
	return 0;
}
