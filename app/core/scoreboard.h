#ifndef STK_SCOREBOARD_H
#define STK_SCOREBOARD_H
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"

/* Shared memory created by the master before fork (MAP_SHARED|ANONYMOUS):
 * per-worker state and every counter /metrics and /status show. Workers
 * update it with relaxed atomics, no locks on the request path; it outlives
 * every worker, so no counter goes down when one dies or recycles. */

#define SB_MAX_WORKERS 257
/* A reload runs WORKERS + 1 workers for a while (new before old), one slot
 * each: with WORKERS at its maximum and no spare slot, the new worker could
 * never start and the reload would never end. */
_Static_assert(SB_MAX_WORKERS >= CONFIG_WORKERS_MAX + 1, "a slot for every worker of a reload at WORKERS max");
#define SB_ROUTES 32
#define SB_STATUSES 16
#define SB_MODES 2      /* legacy, stock */
#define SB_BUCKETS 14   /* request duration; see scoreboard_bucket_le */
#define SB_DB_BUCKETS 10
#define SB_NOTE_LEN 400 /* the last refused reload's message, as config_load words it */

enum { WORKER_EMPTY = 0, WORKER_STARTING, WORKER_IDLE, WORKER_BUSY, WORKER_STOPPING };
enum { RESTART_CRASH = 0, RESTART_RECYCLE, RESTART_TIMEOUT, RESTART_CAUSES };
enum { ADD_OK = 0, ADD_INSUFFICIENT, ADD_ERROR, ADD_RESULTS };
enum { HOLDS_CREATED = 0, HOLDS_RELEASED, HOLDS_EXPIRED_SWEEP, HOLDS_EXPIRED_LAZY, HOLDS_CONVERTED, HOLD_EVENTS };

typedef struct {
	_Atomic int32_t pid;
	_Atomic int32_t state;
	_Atomic int32_t generation;       /* config generation it was forked with */
	_Atomic int32_t route;            /* current request's route while busy */
	_Atomic int64_t started_ms;       /* wall clock, when the worker started */
	_Atomic int64_t request_start_ms; /* monotonic; 0 when idle */
	_Atomic uint64_t requests;
	/* Its database node (db_node) and the failback epoch it has followed,
	 * as of its last request: the sweeper moves workers that are on a later
	 * node than its own (sweeper.c). */
	_Atomic int32_t db_node;
	_Atomic uint64_t failback_seen;
} sb_worker;

typedef struct {
	/* requests */
	_Atomic uint64_t requests[SB_ROUTES][SB_MODES][SB_STATUSES];
	_Atomic uint64_t duration[SB_ROUTES][SB_MODES][SB_BUCKETS]; /* per bucket, not cumulative */
	_Atomic uint64_t duration_us[SB_ROUTES][SB_MODES];
	_Atomic uint64_t accepted, slow_requests;
	_Atomic uint64_t connections; /* FastCGI connections taken; fewer than requests when nginx keeps them */
	_Atomic int32_t active, max_active;
	/* the migration plan's numbers */
	_Atomic uint64_t cart_add[SB_MODES][ADD_RESULTS];
	_Atomic uint64_t stock_api[SB_MODES][2];        /* [ok, failure] of stock-aware calls */
	_Atomic uint64_t hold_units[SB_MODES][HOLD_EVENTS];
	_Atomic uint64_t carts_created[SB_MODES], carts_checked_out[SB_MODES], carts_abandoned[SB_MODES];
	_Atomic int64_t holds_active_units, holds_active_rows; /* set by the sweeper */
	_Atomic int64_t audit_problems, audit_last_ms, audit_runs; /* set by the sweeper */
	_Atomic int64_t audit_walk_ms; /* the last walk's length, rests included */
	/* database */
	_Atomic uint64_t db_retries_deadlock, db_retries_lock_wait, db_connects, db_errors;
	_Atomic uint64_t db_failbacks; /* the sweeper found an earlier node of DB_HOST usable: store/db.h */
	_Atomic uint64_t db_statements[SB_DB_BUCKETS], db_statement_us;
	/* The Galera cluster as the sweeper's node sees it, sampled every sweep
	 * round (store/cluster.h), so /metrics and /status never wait on the
	 * database. cluster_sampled_ms: wall clock of the last answered sample. */
	_Atomic int64_t cluster_sampled_ms, cluster_size, cluster_fc_paused_ppm, cluster_cert_failures,
		cluster_bf_aborts;
	_Atomic int32_t cluster_galera, cluster_ready, cluster_primary, cluster_state;
	/* process manager */
	_Atomic uint64_t restarts[RESTART_CAUSES];
	_Atomic uint64_t sweeps;
	_Atomic int32_t config_generation, reload_in_progress, workers_configured;
	_Atomic int64_t master_started_ms;
	/* Reloads the master refused (a conf file with a mistake): the running
	 * config stays, so an operator must see it somewhere but the log. */
	_Atomic uint64_t reloads_refused;
	_Atomic int32_t last_reload_ok; /* 1 until a reload is refused, 1 again after one is taken */
	/* The last refusal, written by the master only and read by workers while
	 * it may be rewritten: a sequence lock (odd while written) rather than a
	 * lock a crashed reader could leave taken. */
	_Atomic uint32_t refusal_seq;
	_Atomic int64_t refusal_ms; /* wall clock */
	_Atomic char refusal_message[SB_NOTE_LEN];
	sb_worker workers[SB_MAX_WORKERS];
} scoreboard;

/* NULL on failure. Lives until the process tree exits. */
scoreboard *scoreboard_create(void);

/* The master records a refused reload (wall-clock ms, the reason). */
void scoreboard_set_refusal(scoreboard *sb, int64_t at_ms, const char *message);
/* Copies the last refusal into message (len > 0, cut to fit); *at_ms = 0 and
 * an empty message when there was none. */
void scoreboard_last_refusal(scoreboard *sb, int64_t *at_ms, char *message, size_t len);

/* The status codes counted one by one; anything else lands in the last slot. */
int scoreboard_status_slot(int status);
int scoreboard_slot_status(int slot); /* 0 for the "other" slot */

/* Request duration buckets in ms (upper bounds; the last is +Inf): they
 * resolve both 1 ms and 2 s. */
double scoreboard_bucket_le(int bucket);
int scoreboard_bucket_of(double ms);
/* Statement latency buckets in ms, the same way. */
double scoreboard_db_bucket_le(int bucket);
int scoreboard_db_bucket_of(double ms);

static inline void sb_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t sb_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
