#ifndef STK_SCOREBOARD_H
#define STK_SCOREBOARD_H
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* Shared memory created by the master before fork (MAP_SHARED|ANONYMOUS):
 * per-worker state and counters. Workers update it with relaxed atomics, no
 * locks on the request path; the master and /metrics read it. It outlives
 * every worker, so no counter goes down when one dies or recycles. */

#define SB_MAX_WORKERS 256
#define SB_ROUTES 32
#define SB_STATUSES 16

enum { WORKER_EMPTY = 0, WORKER_STARTING, WORKER_IDLE, WORKER_BUSY, WORKER_STOPPING };
enum { RESTART_CRASH = 0, RESTART_RECYCLE, RESTART_TIMEOUT, RESTART_CAUSES };

typedef struct {
	_Atomic int32_t pid;
	_Atomic int32_t state;
	_Atomic int32_t generation;       /* config generation it was forked with */
	_Atomic int64_t request_start_ms; /* monotonic; 0 when idle */
	_Atomic uint64_t requests;
} sb_worker;

typedef struct {
	_Atomic uint64_t requests[SB_ROUTES][SB_STATUSES];
	_Atomic uint64_t restarts[RESTART_CAUSES];
	_Atomic uint64_t db_retries_deadlock, db_retries_lock_wait, db_reconnects;
	_Atomic uint64_t sweeps, holds_reclaimed_by_sweep;
	_Atomic int32_t config_generation, reload_in_progress, workers_configured;
	sb_worker workers[SB_MAX_WORKERS];
} scoreboard;

/* NULL on failure. Lives until the process tree exits. */
scoreboard *scoreboard_create(void);

/* The status codes counted one by one; anything else lands in the last slot. */
int scoreboard_status_slot(int status);
int scoreboard_slot_status(int slot); /* 0 for the "other" slot */

static inline void sb_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t sb_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
