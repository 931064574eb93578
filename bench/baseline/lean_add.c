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

/* stockd's defaults: STOCK_RESERVATION_TIMEOUT, MAX_CART_LINES,
 * MAX_HOLD_PER_PRODUCT, and the contract's 1000 units a line. */
#define HOLD_MS (30LL * 60 * 1000)
#define MAX_LINES 100
#define MAX_UNITS 1000
#define MAX_BODY 4096
#define CART_MAX 32
/* Rows a cart may have in either table: its lines and holds are bounded by
 * MAX_LINES, so more means the cart is not one this program can answer. */
#define MAX_ROWS 256
#define ATTEMPTS 3

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

static MYSQL *conn;
static MYSQL_STMT *stmt[NSTMT];

/* The statements' parameters and results: bound once, filled per request. */
static long long b_product, b_qty, b_until, r_id, r_qty, r_expires, r_stock, r_reserved;
static char b_cart[CART_MAX + 1], r_status[16];
static unsigned long b_cart_len, r_status_len;

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

static void die(const char *what)
{
	fprintf(stderr, "lean_add: %s: %s\n", what, conn ? mysql_error(conn) : "");
	exit(1);
}

static void bind_ll(MYSQL_BIND *b, long long *v)
{
	memset(b, 0, sizeof *b);
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
}

static void bind_cart(MYSQL_BIND *b)
{
	memset(b, 0, sizeof *b);
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = b_cart;
	b->buffer_length = sizeof b_cart;
	b->length = &b_cart_len;
}

static void db_open(void)
{
	conn = mysql_init(NULL);
	if (!conn || !mysql_real_connect(conn, NULL, getenv("DB_USER"), getenv("DB_PASSWORD"), getenv("DB_NAME"), 0,
					 getenv("DB_SOCKET"), 0))
		die("connect");
	/* stockd's isolation level: no gap locks on the upserts. */
	if (mysql_query(conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"))
		die("isolation");
	for (int k = 0; k < NSTMT; k++)
		if (!(stmt[k] = mysql_stmt_init(conn)) || mysql_stmt_prepare(stmt[k], SQL[k], strlen(SQL[k])))
			die(SQL[k]);
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

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
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
	mysql_stmt_free_result(stmt[k]);
	return rc == MYSQL_NO_DATA ? 0 : (int)mysql_stmt_errno(stmt[k]);
}

/* One attempt of the transaction with the bound parameters. Returns 200, a
 * 4xx with *code set, 503, or a MariaDB error number. */
static int add(const char **code, long long *available)
{
	long long now = now_ms();
	int rc;
	b_until = now + HOLD_MS;
	nitems = 0;
	expired = 0;
	if (mysql_real_query(conn, "START TRANSACTION", 17))
		return (int)mysql_errno(conn);
	if (mysql_stmt_execute(stmt[CART]))
		return (int)mysql_stmt_errno(stmt[CART]);
	rc = mysql_stmt_fetch(stmt[CART]);
	mysql_stmt_free_result(stmt[CART]);
	if (rc == MYSQL_NO_DATA)
		return *code = "cart_not_found", 404;
	if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
		return (int)mysql_stmt_errno(stmt[CART]);
	if (r_status_len != 4 || memcmp(r_status, "open", 4) != 0)
		return *code = "cart_closed", 409;
	if ((rc = read_rows(LINES, now)) != 0 || (rc = read_rows(HOLDS, now)) != 0)
		return rc;
	int products = nitems;
	item *it = item_for(b_product);
	if (!it)
		return 503;
	if (it->quantity + b_qty > MAX_UNITS || it->held + b_qty > MAX_UNITS)
		return *code = "quantity_limit", 409;
	if (nitems > products && products >= MAX_LINES)
		return *code = "cart_full", 409;
	if (mysql_stmt_execute(stmt[PRODUCT]))
		return (int)mysql_stmt_errno(stmt[PRODUCT]);
	rc = mysql_stmt_fetch(stmt[PRODUCT]);
	mysql_stmt_free_result(stmt[PRODUCT]);
	if (rc == MYSQL_NO_DATA)
		return *code = "product_not_found", 404;
	if (rc != 0)
		return (int)mysql_stmt_errno(stmt[PRODUCT]);
	*available = r_stock - r_reserved;
	if (*available < b_qty)
		return *code = "insufficient_stock", 409;
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

static void answer(FCGX_Request *rq, int status, const char *body)
{
	FCGX_FPrintF(rq->out, "Status: %d\r\nContent-Type: application/json\r\n\r\n%s", status, body);
}

static void error(FCGX_Request *rq, int status, const char *code, long long available)
{
	char body[160];
	if (strcmp(code, "insufficient_stock") == 0)
		snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"available\":%lld}}", code, available);
	else
		snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\"}}", code);
	answer(rq, status, body);
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
	static char body[MAX_ROWS * 256 + 256];
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
	if (clen == 0 || clen > CART_MAX || product <= 0 || qty <= 0 || qty > MAX_UNITS) {
		json_object_put(in);
		error(rq, 400, "invalid_request", 0);
		return;
	}
	memcpy(b_cart, cart, clen + 1);
	b_cart_len = clen;
	b_product = product;
	b_qty = qty;
	json_object_put(in);

	const char *code = NULL;
	long long available = 0;
	int rc;
	for (int attempt = 1;; attempt++) {
		rc = add(&code, &available);
		if (rc != 200)
			mysql_rollback(conn);
		if ((rc != ER_LOCK_DEADLOCK && rc != ER_LOCK_WAIT_TIMEOUT) || attempt == ATTEMPTS)
			break;
	}
	if (rc == 200) {
		view(rq);
	} else if (code) {
		error(rq, rc, code, available);
	} else {
		fprintf(stderr, "lean_add: worker %d: error %d: %s\n", (int)getpid(), rc, mysql_error(conn));
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
		fprintf(stderr, "usage: lean_add SOCKET WORKERS\n");
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
