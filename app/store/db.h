#ifndef STK_DB_H
#define STK_DB_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/result.h"
#include "core/scoreboard.h"

/* One MariaDB connection per worker process, opened after fork. Statements
 * are prepared on first use and kept until the connection is lost; a lost
 * connection is dropped and reopened by the next db_ensure(). */
typedef struct db db;

/* Result codes shared by the storage and domain layers. */
enum {
	DB_OK = 0,
	DB_ERR_RETRY = -1,     /* deadlock or lock wait timeout: retry the transaction */
	DB_ERR_GONE = -2,      /* server unreachable or connection lost */
	DB_ERR_DUP = -3,       /* duplicate key */
	DB_ERR_CHECK = -4,     /* CHECK constraint refused the change */
	DB_ERR_OTHER = -5,     /* anything else: a bug or a schema mismatch */
	DB_ERR_UNKNOWN = -6,   /* the connection was lost during COMMIT itself: the
				* change may or may not have committed */
};
_Static_assert(RC_DB_ERR(DB_ERR_RETRY) && RC_DB_ERR(DB_ERR_OTHER), "DB_ERR_* in their range (core/result.h)");

typedef enum { DBP_I64, DBP_STR, DBP_NULL } db_param_type;

typedef struct {
	db_param_type type;
	int64_t i;
	const char *s;
	size_t len;
} db_param;

#define P_I64(v) ((db_param){ .type = DBP_I64, .i = (int64_t)(v) })
#define P_STR(p, n) ((db_param){ .type = DBP_STR, .s = (p), .len = (n) })
#define P_NULL() ((db_param){ .type = DBP_NULL })

typedef struct {
	bool is_null;
	int64_t i;   /* integer columns */
	char *s;     /* string/blob columns, NUL-terminated copy */
	size_t len;
} db_value;

/* Rows of one statement; owned by the caller, released by db_rows_free(). */
typedef struct {
	size_t nrows, ncols;
	db_value *v; /* nrows * ncols, row-major */
	uint64_t affected;
	uint64_t insert_id;
} db_rows;

static inline const db_value *db_at(const db_rows *r, size_t row, size_t col)
{
	return &r->v[row * r->ncols + col];
}

db *db_new(const stk_config *cfg);
void db_free(db *d);

/* Connect if not connected. DB_OK or DB_ERR_GONE. db_exec and db_simple
 * call it themselves on first use. */
int db_ensure(db *d);
bool db_connected(const db *d);
/* Close the connection: the next statement opens a new one (with DB_HOST's
 * nodes, the first ready one). Anything uncommitted is rolled back. */
void db_disconnect(db *d);
/* Connections opened, the first one included. */
uint64_t db_connects(const db *d);
/* The index in DB_HOST of the node connected to (0 with one node or
 * DB_SOCKET), -1 when not connected. */
int db_node(const db *d);
/* Failback: whenever *epoch changes, a connection on a later node than the
 * first of DB_HOST is closed between transactions, and the next statement
 * connects to the first usable node. The sweeper moves the epoch
 * (db_probe_earlier), so the workers never wait on a dead node's connect. */
void db_follow_failback(db *d, const _Atomic uint64_t *epoch);
/* The epoch this connection has followed so far. */
uint64_t db_failback_seen(const db *d);
/* On a later node: is an earlier node of DB_HOST usable (it accepts a
 * connection and is ready)? DB_OK if so; DB_ERR_GONE if not; DB_ERR_OTHER
 * when not connected or on the first node. Costs up to a second a dead
 * node (the connect timeout). */
int db_probe_earlier(db *d);

/* Run a prepared statement. sql must be a string with static storage
 * duration: its address keys the statement cache. rows may be NULL when no
 * result is wanted. Returns DB_OK or a DB_ERR_*. */
int db_exec(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows);
/* db_exec for a read outside a transaction: when the connection breaks
 * under it (a node that stops or leaves the primary component), it runs
 * once more on a new one, the next ready node of DB_HOST, as txn_run does
 * for a transaction lost before its COMMIT. A read changes nothing, so the
 * rerun is always safe. Inside a transaction it is db_exec. */
int db_read(db *d, const char *sql, const db_param *params, size_t nparams, db_rows *rows);
void db_rows_free(db_rows *rows);

/* Plain statements without parameters (session setup, snapshots). */
int db_simple(db *d, const char *sql);

/* Transaction control; db_in_txn tells whether one is open on this
 * connection (a lost connection has none). */
int db_begin(db *d);
int db_commit(db *d);
int db_rollback(db *d);
bool db_in_txn(const db *d);

/* A transaction's body may end it with its last statement (a procedure that
 * commits), saving the COMMIT round trip and the time the rows stay locked
 * waiting for it. txn_run allows it unless the commit is deferred (an
 * idempotent request stores its answer first); the body tells with
 * db_committed() that its statement did commit. */
int db_begin_may_commit(db *d);
bool db_body_may_commit(const db *d);
void db_committed(db *d);

/* Statement latency and failures since the last call; zeroes them. */
typedef struct {
	uint64_t statements[SB_DB_BUCKETS]; /* by latency bucket */
	uint64_t statement_us;
	uint64_t errors;                    /* lost connections and unexpected errors */
} db_stats;

void db_take_stats(db *d, db_stats *out);

/* Last server error number and message, for logs. */
unsigned db_errno(const db *d);
const char *db_error(const db *d);

#endif
