/* What the lean baselines (lean_reserve.c, lean_add.c) share, kept to the
 * shortest that serves them: a pre-forked libfcgi responder, one MariaDB
 * connection a worker with its statements prepared once, stockd's request
 * body, JSON errors, and the whole transaction again after a deadlock. Each
 * baseline is then its SQL, its transaction and its answer.
 *
 * Header-only (static inline), so that each baseline stays one program of
 * one file for the Makefile. A baseline defines LEAN_NAME before including
 * it, and calls lean_main() from its main(). */
#ifndef LEAN_H
#define LEAN_H

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

/* stockd's default STOCK_RESERVATION_TIMEOUT: the same expiry on a hold. */
#define HOLD_MS (30LL * 60 * 1000)
/* The contract's most units in one request, one line and one hold. */
#define MAX_UNITS 1000
#define MAX_BODY 4096
#define CART_MAX 32
/* Deadlock or lock-wait timeout: the whole transaction again, as stockd
 * does. Never taken on the happy path, so it adds no statement. */
#define ATTEMPTS 3

static MYSQL *conn;

/* stockd's request, {"cart_id":"...","product_id":N,"quantity":N} (other
 * fields, decrease_stock among them, ignored): the statements bind these. */
static char b_cart[CART_MAX + 1];
static unsigned long b_cart_len;
static long long b_product, b_qty;

static inline void die(const char *what)
{
	fprintf(stderr, LEAN_NAME ": %s: %s\n", what, conn ? mysql_error(conn) : "");
	exit(1);
}

static inline void bind_ll(MYSQL_BIND *b, long long *v)
{
	memset(b, 0, sizeof *b);
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = v;
}

static inline void bind_cart(MYSQL_BIND *b)
{
	memset(b, 0, sizeof *b);
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = b_cart;
	b->buffer_length = sizeof b_cart;
	b->length = &b_cart_len;
}

/* Connects (DB_SOCKET, DB_USER, DB_PASSWORD, DB_NAME) at stockd's isolation
 * level, READ COMMITTED (no gap locks on the upserts), and prepares the n
 * statements of sql into stmt. */
static inline void lean_connect(const char *const *sql, MYSQL_STMT **stmt, int n)
{
	conn = mysql_init(NULL);
	if (!conn || !mysql_real_connect(conn, NULL, getenv("DB_USER"), getenv("DB_PASSWORD"), getenv("DB_NAME"), 0,
					 getenv("DB_SOCKET"), 0))
		die("connect");
	if (mysql_query(conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"))
		die("isolation");
	for (int k = 0; k < n; k++)
		if (!(stmt[k] = mysql_stmt_init(conn)) || mysql_stmt_prepare(stmt[k], sql[k], strlen(sql[k])))
			die(sql[k]);
}

/* Executes s and reads its one row into its bound results. Returns 0, 404
 * when there is no row, or a MariaDB error number (taken before the result
 * is freed, which clears it). */
static inline int lean_row(MYSQL_STMT *s)
{
	if (mysql_stmt_execute(s))
		return (int)mysql_stmt_errno(s);
	int rc = mysql_stmt_fetch(s);
	rc = rc == 0 || rc == MYSQL_DATA_TRUNCATED ? 0 : rc == MYSQL_NO_DATA ? 404 : (int)mysql_stmt_errno(s);
	mysql_stmt_free_result(s);
	return rc;
}

static inline long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline void answer(FCGX_Request *rq, int status, const char *body)
{
	FCGX_FPrintF(rq->out, "Status: %d\r\nContent-Type: application/json\r\n\r\n%s", status, body);
}

/* An error answer; insufficient_stock says how many units are available. */
static inline void error(FCGX_Request *rq, int status, const char *code, long long available)
{
	char body[160];
	if (strcmp(code, "insufficient_stock") == 0)
		snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"available\":%lld}}", code, available);
	else
		snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\"}}", code);
	answer(rq, status, body);
}

/* Reads the body to CONTENT_LENGTH (libfcgi does not check it) into
 * b_cart, b_product and b_qty. 0, or -1 if the body is missing, too long,
 * short or not such a request. */
static inline int read_request(FCGX_Request *rq)
{
	static char buf[MAX_BODY + 1];
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->envp);
	char *end;
	long len = cl ? strtol(cl, &end, 10) : 0;
	if (!cl || *end || len <= 0 || len > MAX_BODY || FCGX_GetStr(buf, (int)len, rq->in) != len)
		return -1;
	buf[len] = '\0';
	json_object *in = json_tokener_parse(buf), *v;
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
	int ok = clen > 0 && clen <= CART_MAX && product > 0 && qty > 0 && qty <= MAX_UNITS;
	if (ok) {
		memcpy(b_cart, cart, clen + 1);
		b_cart_len = clen;
		b_product = product;
		b_qty = qty;
	}
	json_object_put(in);
	return ok ? 0 : -1;
}

/* Runs txn, one attempt of the transaction, until it neither deadlocks nor
 * times out on a lock, ATTEMPTS times at most; rolls back whatever it did
 * not commit. Returns txn's last answer: 200, another HTTP status, or a
 * MariaDB error number. */
static inline int lean_run(int (*txn)(void))
{
	int rc;
	for (int attempt = 1;; attempt++) {
		rc = txn();
		if (rc != 200)
			mysql_rollback(conn);
		if ((rc != ER_LOCK_DEADLOCK && rc != ER_LOCK_WAIT_TIMEOUT) || attempt == ATTEMPTS)
			return rc;
	}
}

/* The master: `NAME SOCKET WORKERS` forks WORKERS processes that each call
 * setup (after the fork: a connection shared with the parent would be
 * corrupted), then serve for every request, and waits for them. */
static inline int lean_main(int argc, char **argv, void (*setup)(void), void (*serve)(FCGX_Request *))
{
	if (argc != 3) {
		fprintf(stderr, "usage: " LEAN_NAME " SOCKET WORKERS\n");
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
		if (pid != 0)
			continue;
		setup();
		FCGX_Request rq;
		if (FCGX_InitRequest(&rq, sock, 0) != 0)
			die("FCGX_InitRequest");
		while (FCGX_Accept_r(&rq) >= 0) {
			serve(&rq);
			FCGX_Finish_r(&rq);
		}
		exit(0);
	}
	/* The parent only waits: bench/run sends TERM to the whole group. */
	signal(SIGTERM, SIG_DFL);
	while (wait(NULL) > 0)
		;
	return 0;
}

#endif
