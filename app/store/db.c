#include "store/db.h"

#include <assert.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hostlist.h"
#include "core/log.h"
#include "store/connect.h"

#define STMT_CACHE 64

typedef struct {
	const char *sql; /* identity key: the address of a static string */
	MYSQL_STMT *stmt;
} stmt_slot;

struct db {
	const stk_config *cfg;
	MYSQL *conn;
	stmt_slot stmts[STMT_CACHE];
	size_t nstmts;
	bool broken; /* lost: dropped once the current call has let go of it */
	bool in_txn; /* between db_begin and db_commit/db_rollback */
	bool body_may_commit; /* this transaction may end with its body's last statement */
	bool autocommit_off; /* the session's autocommit is 0 (db_begin) */
	unsigned last_errno;
	char last_error[256];
	uint64_t reconnects;
	db_stats stats;
	int node; /* the index in DB_HOST of the node connected to */
	const _Atomic uint64_t *failback; /* db_follow_failback */
	uint64_t failback_seen;
};

db *db_new(const stk_config *cfg)
{
	db *d = calloc(1, sizeof *d);
	if (d != NULL)
		d->cfg = cfg;
	return d;
}

static void db_drop(db *d)
{
	for (size_t i = 0; i < d->nstmts; i++)
		mysql_stmt_close(d->stmts[i].stmt);
	d->nstmts = 0;
	if (d->conn != NULL)
		mysql_close(d->conn);
	d->conn = NULL;
	d->autocommit_off = false; /* a new session starts with autocommit on */
}

void db_free(db *d)
{
	if (d == NULL)
		return;
	db_drop(d);
	free(d);
}

bool db_connected(const db *d) { return d->conn != NULL; }

void db_disconnect(db *d)
{
	db_drop(d);
	d->in_txn = false;
}
uint64_t db_connects(const db *d) { return d->reconnects; }
unsigned db_errno(const db *d) { return d->last_errno; }
const char *db_error(const db *d) { return d->last_error; }

static void remember(db *d, unsigned no, const char *msg)
{
	d->last_errno = no;
	snprintf(d->last_error, sizeof d->last_error, "%s", msg ? msg : "");
}

static int classify(db *d, unsigned no, const char *msg)
{
	remember(d, no, msg);
	switch (no) {
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
		return DB_ERR_RETRY;
	case ER_DUP_ENTRY:
		return DB_ERR_DUP;
	case 4025: /* ER_CONSTRAINT_FAILED */
		return DB_ERR_CHECK;
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_LOST_EXTENDED:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case 4031: /* ER_CLIENT_INTERACTION_TIMEOUT */
	case 1969: /* ER_STATEMENT_TIMEOUT: max_statement_time, the read timeout's twin */
	case 1047: /* ER_UNKNOWN_COM_ERROR: a Galera node out of the primary component;
		    * the reconnect goes to the next ready node of DB_HOST */
	case 1180: /* ER_ERROR_DURING_COMMIT: Galera's COMMIT on a node that lost the
		    * primary component; whether the others applied it is unknown */
		/* Nothing of an unfinished transaction survives a lost connection:
		 * the server rolls it back. Drop ours and reconnect next time. */
		log_warn("database connection lost: %u %s", no, msg ? msg : "");
		d->broken = true;
		d->stats.errors++;
		return DB_ERR_GONE;
	default:
		log_error("database error %u: %s", no, msg ? msg : "");
		d->stats.errors++;
		return DB_ERR_OTHER;
	}
}

/* On a Galera cluster a node applies the others' commits a moment after
 * they are certified: without a causality wait, a request on one node may
 * not see the cart, the hold or the idempotent answer that another node
 * acknowledged just before (a 404 for a cart that exists). Each read waits
 * until its node has applied everything committed before it began
 * (DB_CAUSAL_READS, docs/scaling.md). A server without Galera ignores it. */
static const char *const causal_sql[] = {
	"SET SESSION wsrep_sync_wait = 0",
	"SET SESSION wsrep_sync_wait = 1",
};

/* Session settings every transaction relies on. */
static const char *const session_sql[] = {
	/* No gap locks on searches; every locking read goes through a unique key. */
	"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
	/* Integer seconds only on MariaDB: 1 s, the shortest wait that is not NOWAIT.
	 * Retries are bounded by TXN_BUDGET_MS on top of this. */
	"SET SESSION innodb_lock_wait_timeout = 1",
	/* The server stops any statement before the client's read timeout (10 s,
	 * db_ensure) gives up on it: a statement the client has abandoned must
	 * not go on running and piling up beside the retry. */
	"SET SESSION max_statement_time = 9",
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
};

static int settle(db *d, int rc)
{
	if (d->broken) {
		db_drop(d);
		d->broken = false;
		d->in_txn = false; /* the server rolled it back */
	}
	return rc;
}

/* On a later node of DB_HOST while the sweeper has found an earlier one
 * usable again: leave it between transactions, and the next statement
 * connects to the first usable node, as every app host does. */
static void follow_failback(db *d)
{
	if (d->conn == NULL || d->in_txn || d->node == 0 || d->failback == NULL)
		return;
	uint64_t epoch = atomic_load(d->failback);
	if (epoch == d->failback_seen)
		return;
	d->failback_seen = epoch;
	log_info("database: an earlier node of DB_HOST is usable again; leaving node %d of the list", d->node + 1);
	db_drop(d);
}

void db_follow_failback(db *d, const _Atomic uint64_t *epoch)
{
	d->failback = epoch;
	d->failback_seen = epoch != NULL ? atomic_load(epoch) : 0;
}

int db_node(const db *d) { return d->conn != NULL ? d->node : -1; }

uint64_t db_failback_seen(const db *d) { return d->failback_seen; }

int db_probe_earlier(db *d)
{
	if (d->conn == NULL || d->node == 0)
		return DB_ERR_OTHER;
	unsigned no;
	char err[sizeof d->last_error];
	int node;
	MYSQL *m = store_connect_node(d->cfg, d->node, 1, 10, 0, &node, &no, err, sizeof err);
	if (m == NULL)
		return DB_ERR_GONE;
	mysql_close(m);
	return DB_OK;
}

/* Between transactions an idle connection has nothing to read: readable,
 * the server has closed it (a restart, a KILL, wait_timeout, a Galera node
 * leaving), perhaps saying why first. Found here, it is replaced before the
 * transaction's first statement, which may be one that commits (a reserve's
 * CALL): found dead by that statement instead, the connection would leave
 * the outcome unknown, a 503 that is never retried. The same before a
 * statement outside any transaction (the audit's), which would answer 503.
 * One poll(2) and no round trip, as mysqlnd checks a persistent connection
 * before reusing it. A connection that dies after the check is the
 * COMMIT-in-flight case. */
static void drop_if_closed(db *d)
{
	if (d->conn == NULL)
		return;
	struct pollfd p = { .fd = (int)mysql_get_socket(d->conn), .events = POLLIN };
	if (p.fd < 0 || poll(&p, 1, 0) <= 0)
		return;
	log_warn("database connection closed by the server while idle: reconnecting");
	d->stats.errors++; /* a lost connection, as when a statement finds it */
	db_drop(d);
}

/* With autocommit off, the first statement begins a transaction and the
 * session stays so after its COMMIT: back to back, a worker's transactions
 * skip the START TRANSACTION round trip (docs/benchmarks.md). A statement
 * outside a transaction turns autocommit on again first (db_exec), so it
 * never leaves a transaction open behind it. */
int db_begin(db *d)
{
	follow_failback(d);
	drop_if_closed(d);
	int rc = d->autocommit_off ? DB_OK : db_simple(d, "SET autocommit = 0");
	d->autocommit_off = rc == DB_OK;
	d->in_txn = rc == DB_OK;
	d->body_may_commit = false;
	return rc;
}

int db_begin_may_commit(db *d)
{
	int rc = db_begin(d);
	d->body_may_commit = rc == DB_OK;
	return rc;
}

bool db_body_may_commit(const db *d) { return d->in_txn && d->body_may_commit; }

void db_committed(db *d)
{
	assert(d->in_txn && d->body_may_commit);
	d->in_txn = false;
}

int db_commit(db *d)
{
	d->in_txn = false;
	return db_simple(d, "COMMIT");
}

int db_rollback(db *d)
{
	d->in_txn = false;
	return db_simple(d, "ROLLBACK");
}

bool db_in_txn(const db *d) { return d->in_txn; }

int db_ensure(db *d)
{
	settle(d, DB_OK);
	if (d->conn != NULL)
		return DB_OK;
	/* Bounded waits: a dead server must turn into a 503 quickly, never a hang.
	 * The read timeout must outlast the lock wait timeout. We reconnect
	 * ourselves, between transactions. */
	unsigned no;
	char err[sizeof d->last_error];
	int node;
	MYSQL *m = store_connect_node(d->cfg, HOSTLIST_MAX, 1, 10, 0, &node, &no, err, sizeof err);
	if (m == NULL) {
		remember(d, no, err);
		d->stats.errors++; /* every failed attempt: an outage shows in the count */
		return DB_ERR_GONE;
	}
	bool failed = false;
	for (size_t i = 0; i < sizeof session_sql / sizeof session_sql[0] && !failed; i++)
		failed = mysql_query(m, session_sql[i]) != 0;
	failed = failed || mysql_query(m, causal_sql[d->cfg->db_causal_reads ? 1 : 0]) != 0;
	if (failed) {
		remember(d, mysql_errno(m), mysql_error(m));
		log_error("session setup failed: %s", mysql_error(m));
		mysql_close(m);
		return DB_ERR_GONE;
	}
	d->conn = m;
	d->node = node;
	if (d->failback != NULL) /* in order already: older news is no reason to move */
		d->failback_seen = atomic_load(d->failback);
	d->reconnects++;
	return DB_OK;
}

int db_simple(db *d, const char *sql)
{
	/* Connect on first use: a request that never needs the database (a
	 * refused one) never waits for it. */
	if (d->conn == NULL && db_ensure(d) != DB_OK)
		return DB_ERR_GONE;
	if (mysql_query(d->conn, sql) != 0)
		return settle(d, classify(d, mysql_errno(d->conn), mysql_error(d->conn)));
	return DB_OK;
}

static MYSQL_STMT *stmt_get(db *d, const char *sql, int *rc)
{
	for (size_t i = 0; i < d->nstmts; i++)
		if (d->stmts[i].sql == sql)
			return d->stmts[i].stmt;
	if (d->nstmts == STMT_CACHE) {
		log_error("statement cache full");
		*rc = DB_ERR_OTHER;
		return NULL;
	}
	MYSQL_STMT *s = mysql_stmt_init(d->conn);
	if (s == NULL) {
		*rc = classify(d, mysql_errno(d->conn), mysql_error(d->conn));
		return NULL;
	}
	if (mysql_stmt_prepare(s, sql, strlen(sql)) != 0) {
		unsigned no = mysql_stmt_errno(s);
		char msg[256];
		snprintf(msg, sizeof msg, "%s", mysql_stmt_error(s));
		mysql_stmt_close(s);
		*rc = classify(d, no, msg);
		return NULL;
	}
	my_bool update_max = 1; /* so store_result reports string lengths */
	mysql_stmt_attr_set(s, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max);
	d->stmts[d->nstmts].sql = sql;
	d->stmts[d->nstmts].stmt = s;
	d->nstmts++;
	return s;
}

void db_rows_free(db_rows *rows)
{
	if (rows == NULL)
		return;
	if (rows->v != NULL) {
		for (size_t i = 0; i < rows->nrows * rows->ncols; i++)
			free(rows->v[i].s);
		free(rows->v);
	}
	memset(rows, 0, sizeof *rows);
}

static bool is_integer_type(enum enum_field_types t)
{
	switch (t) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return true;
	default:
		return false;
	}
}

/* Copy every row of an executed statement into rows. */
static int fetch_all(db *d, MYSQL_STMT *s, db_rows *rows)
{
	int rc = DB_ERR_OTHER;
	MYSQL_RES *meta = mysql_stmt_result_metadata(s);
	if (meta == NULL)
		return DB_OK; /* not a SELECT */
	if (mysql_stmt_store_result(s) != 0) {
		rc = classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
		mysql_free_result(meta);
		return rc;
	}
	size_t ncols = mysql_num_fields(meta);
	size_t nrows = (size_t)mysql_stmt_num_rows(s);
	MYSQL_FIELD *fields = mysql_fetch_fields(meta);
	MYSQL_BIND *bind = calloc(ncols ? ncols : 1, sizeof *bind);
	db_value *tmp = calloc(ncols ? ncols : 1, sizeof *tmp);
	unsigned long *lens = calloc(ncols ? ncols : 1, sizeof *lens);
	my_bool *nulls = calloc(ncols ? ncols : 1, sizeof *nulls);
	char **bufs = calloc(ncols ? ncols : 1, sizeof *bufs);
	rows->ncols = ncols;
	rows->nrows = 0;
	rows->v = calloc(nrows * ncols + 1, sizeof *rows->v);
	if (!bind || !tmp || !lens || !nulls || !bufs || !rows->v)
		abort(); /* one OOM policy: a worker dies and is respawned */
	for (size_t c = 0; c < ncols; c++) {
		bind[c].is_null = &nulls[c];
		bind[c].length = &lens[c];
		if (is_integer_type(fields[c].type)) {
			bind[c].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[c].buffer = &tmp[c].i;
			bind[c].is_unsigned = 0;
		} else {
			size_t cap = fields[c].max_length + 1;
			bufs[c] = malloc(cap);
			if (bufs[c] == NULL)
				abort();
			bind[c].buffer_type = MYSQL_TYPE_STRING;
			bind[c].buffer = bufs[c];
			bind[c].buffer_length = cap;
		}
	}
	if (mysql_stmt_bind_result(s, bind) != 0) {
		rc = classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
		goto done;
	}
	for (;;) {
		int f = mysql_stmt_fetch(s);
		if (f == MYSQL_NO_DATA)
			break;
		if (f == 1) {
			rc = classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
			goto done;
		}
		/* MYSQL_DATA_TRUNCATED cannot happen: buffers are max_length + 1. */
		db_value *row = &rows->v[rows->nrows * ncols];
		for (size_t c = 0; c < ncols; c++) {
			row[c].is_null = nulls[c];
			if (nulls[c])
				continue;
			if (bufs[c] == NULL) {
				row[c].i = tmp[c].i;
			} else {
				row[c].len = lens[c];
				row[c].s = malloc(lens[c] + 1);
				if (row[c].s == NULL)
					abort();
				memcpy(row[c].s, bufs[c], lens[c]);
				row[c].s[lens[c]] = '\0';
				/* Numeric text (SUM, DECIMAL) is also offered as an integer. */
				row[c].i = strtoll(row[c].s, NULL, 10);
			}
		}
		rows->nrows++;
	}
	rc = DB_OK;
done:
	for (size_t c = 0; c < ncols; c++)
		free(bufs[c]);
	free(bufs);
	free(nulls);
	free(lens);
	free(tmp);
	free(bind);
	mysql_stmt_free_result(s);
	mysql_free_result(meta);
	return rc;
}

/* A CALL answers its result sets and then its own status: the connection
 * takes no other command until all of them are read. Only the first
 * result set is kept (fetch_all); what follows is read and dropped. */
static int drain_results(db *d, MYSQL_STMT *s)
{
	while (mysql_stmt_more_results(s)) {
		int n = mysql_stmt_next_result(s);
		if (n > 0)
			return classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
		if (n < 0)
			break;
		if (mysql_stmt_field_count(s) > 0) {
			if (mysql_stmt_store_result(s) != 0)
				return classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
			mysql_stmt_free_result(s);
		}
	}
	return DB_OK;
}

static int exec_once(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows);

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void db_take_stats(db *d, db_stats *out)
{
	*out = d->stats;
	memset(&d->stats, 0, sizeof d->stats);
}

static int exec_counted(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows);

int db_exec(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows)
{
	return exec_counted(d, sql, params, nparams, rows);
}

int db_read(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows)
{
	/* Only a connection that was there and broke: one that could not be
	 * opened has already tried every node. Inside a transaction the
	 * transaction's own rerun (txn_run) decides. */
	bool rerun = !d->in_txn && d->conn != NULL;
	int rc = exec_counted(d, sql, params, nparams, rows);
	if (rc == DB_ERR_GONE && rerun && db_ensure(d) == DB_OK)
		rc = exec_counted(d, sql, params, nparams, rows);
	return rc;
}

static int exec_counted(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows)
{
	follow_failback(d);
	if (!d->in_txn)
		drop_if_closed(d); /* a statement of its own: between transactions too */
	if (!d->in_txn && d->autocommit_off) {
		if (rows != NULL)
			memset(rows, 0, sizeof *rows);
		int rc = db_simple(d, "SET autocommit = 1");
		if (rc != DB_OK)
			return rc;
		d->autocommit_off = false;
	}
	int64_t start = now_us();
	int rc = exec_once(d, sql, params, nparams, rows);
	int64_t us = now_us() - start;
	d->stats.statements[scoreboard_db_bucket_of((double)us / 1000.0)]++;
	d->stats.statement_us += (uint64_t)us;
	return settle(d, rc);
}

static int exec_once(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows)
{
	db_rows scratch;
	memset(&scratch, 0, sizeof scratch);
	if (rows == NULL)
		rows = &scratch;
	else
		memset(rows, 0, sizeof *rows);
	if (d->conn == NULL && db_ensure(d) != DB_OK)
		return DB_ERR_GONE;
	int rc = DB_OK;
	MYSQL_STMT *s = stmt_get(d, sql, &rc);
	if (s == NULL)
		return rc;
	if (mysql_stmt_param_count(s) != nparams) {
		log_error("statement wants %lu parameters, got %zu: %s", mysql_stmt_param_count(s), nparams, sql);
		return DB_ERR_OTHER;
	}
	MYSQL_BIND bind[16];
	unsigned long lens[16];
	if (nparams > 16)
		return DB_ERR_OTHER;
	memset(bind, 0, sizeof bind);
	for (size_t i = 0; i < nparams; i++) {
		switch (params[i].type) {
		case DBP_I64:
			bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[i].buffer = (void *)&params[i].i;
			break;
		case DBP_STR:
			lens[i] = (unsigned long)params[i].len;
			bind[i].buffer_type = MYSQL_TYPE_STRING;
			bind[i].buffer = (void *)params[i].s;
			bind[i].buffer_length = lens[i];
			bind[i].length = &lens[i];
			break;
		case DBP_NULL:
			bind[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
	if (nparams > 0 && mysql_stmt_bind_param(s, bind) != 0)
		return classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
	if (mysql_stmt_execute(s) != 0)
		return classify(d, mysql_stmt_errno(s), mysql_stmt_error(s));
	rows->affected = mysql_stmt_affected_rows(s);
	rows->insert_id = mysql_stmt_insert_id(s);
	rc = fetch_all(d, s, rows);
	int drained = drain_results(d, s);
	if (rc == DB_OK)
		rc = drained;
	if (rc != DB_OK || rows == &scratch)
		db_rows_free(rows);
	return rc;
}
