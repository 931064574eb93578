#include "store/txn.h"

#include <mysqld_error.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/random.h"

bool txn_should_retry(int rc, long attempt, const txn_policy *p, int64_t elapsed_ms)
{
	return rc == DB_ERR_RETRY && attempt < p->retry_attempts && elapsed_ms < p->budget_ms;
}

/* Full jitter over an exponential window (2, 4, 8 ... ms, capped at 64):
 * colliding transactions spread out instead of colliding again in step. */
long txn_backoff_ms(long attempt, uint32_t random)
{
	long window = 2L << (attempt < 5 ? attempt : 5);
	return 1 + (long)(random % (uint32_t)window);
}

void txn_count_conflict(const db *d, txn_stats *stats)
{
	if (stats == NULL)
		return;
	if (db_errno(d) == ER_LOCK_DEADLOCK)
		stats->deadlocks++;
	else
		stats->lock_waits++;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

void txn_pause(long attempt)
{
	sleep_ms(txn_backoff_ms(attempt, random_below(1u << 16)));
}

int txn_run(db *d, const txn_policy *policy, txn_body body, void *ctx, txn_stats *stats)
{
	int64_t start = clock_mono_ms();
	bool reconnected = false;
	for (long attempt = 0;; attempt++) {
		int rc = policy->defer_commit ? db_begin(d) : db_begin_may_commit(d);
		if (rc == DB_OK)
			rc = body(d, ctx);
		if (rc == DB_OK && policy->defer_commit)
			return DB_OK;
		if (rc == DB_OK && !db_in_txn(d))
			return DB_OK; /* the body's last statement committed (db_committed) */
		if (rc == DB_OK) {
			rc = db_commit(d);
			if (rc == DB_OK)
				return DB_OK;
			/* Lost during the COMMIT: the server may have committed before
			 * the connection went. Never retried, never "nothing changed". */
			if (rc == DB_ERR_GONE)
				return DB_ERR_UNKNOWN;
		}
		if (rc != DB_ERR_GONE && db_connected(d)) {
			int rb = db_rollback(d);
			if (rb != DB_OK && rb != DB_ERR_GONE)
				log_error("rollback failed");
		}
		if (rc == DB_ERR_RETRY)
			txn_count_conflict(d, stats);
		/* Lost before its COMMIT, the transaction left nothing behind (the
		 * server rolls back what a dead connection held): run it once more
		 * on a new connection. That covers a connection that died while
		 * idle (a database restart) and, on a cluster, a node that died or
		 * left the primary component: the reconnect goes to the next ready
		 * node of DB_HOST. Once only: a dead database costs one connect
		 * timeout, not a loop. */
		if (rc == DB_ERR_GONE && !reconnected && db_ensure(d) == DB_OK) {
			reconnected = true;
			continue;
		}
		if (!txn_should_retry(rc, attempt, policy, clock_mono_ms() - start))
			return rc;
		txn_pause(attempt);
	}
}
