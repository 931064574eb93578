#ifndef STK_TXN_H
#define STK_TXN_H
#include <stdbool.h>
#include <stdint.h>

#include "store/db.h"

/* The body of one transaction. Returns DB_OK to commit, a positive domain
 * code to roll back and report it, or a DB_ERR_* to roll back (and retry, for
 * DB_ERR_RETRY). It must be safe to run again from the start: it is, on
 * retry. */
typedef int (*txn_body)(db *d, void *ctx);

typedef struct {
	long retry_attempts; /* retries after the first attempt */
	long budget_ms;      /* no retry starts after this much time */
	bool defer_commit;   /* on success, return with the transaction open: the
			      * caller adds to it and commits (db_commit) */
} txn_policy;

typedef struct {
	unsigned deadlocks, lock_waits; /* retried conflicts, by kind */
} txn_stats;

/* BEGIN; body; COMMIT (unless defer_commit), retried on deadlock and lock
 * wait timeout with a jittered back-off. Returns DB_OK, the body's domain code, or a DB_ERR_*
 * (DB_ERR_RETRY when the retries ran out; DB_ERR_UNKNOWN when the connection
 * was lost during the COMMIT itself, whose outcome nobody knows). */
int txn_run(db *d, const txn_policy *policy, txn_body body, void *ctx, txn_stats *stats);

/* Sleep before retry number attempt + 1 (the jittered back-off). */
void txn_pause(long attempt);

/* Count the conflict (DB_ERR_RETRY) the last statement on d met. */
void txn_count_conflict(const db *d, txn_stats *stats);

/* Pure parts, for tests. */
bool txn_should_retry(int rc, long attempt, const txn_policy *p, int64_t elapsed_ms);
long txn_backoff_ms(long attempt, uint32_t random);

#endif
