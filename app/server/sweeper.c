#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "domain/domain.h"
#include "server/worker.h"

/* Named lock: with several app hosts on one database, one sweeps at a time.
 * Correctness never depends on it (the row locks do that); it saves work. */
static const char SQL_SWEEP_LOCK[] = "SELECT GET_LOCK('stockd_sweeper', 0)";

int sweeper_run(const stk_config *cfg, scoreboard *sb)
{
	db *d = db_new(cfg);
	if (d == NULL)
		return WORKER_EXIT_FAILED;
	dom_ctx dom = { .db = d, .cfg = cfg };
	int have_lock = 0;
	while (!child_stop) {
		/* Sleep in short steps so a stop is noticed quickly. */
		int64_t wake = clock_mono_ms() + cfg->sweep_interval_ms;
		while (!child_stop && clock_mono_ms() < wake) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (child_stop)
			break;
		if (child_reopen_logs) {
			child_reopen_logs = 0;
			log_reopen();
		}
		if (db_ensure(d) != DB_OK) {
			have_lock = 0;
			continue;
		}
		if (!have_lock) {
			db_rows r;
			if (db_exec(d, SQL_SWEEP_LOCK, NULL, 0, &r) != DB_OK)
				continue;
			have_lock = r.nrows == 1 && db_at(&r, 0, 0)->i == 1;
			db_rows_free(&r);
			if (!have_lock)
				continue;
		}
		uint64_t holds = 0, keys = 0;
		int rc = dom_sweep(&dom, clock_now_ms(), &holds, &keys);
		if (rc != DB_OK) {
			log_warn("sweep failed: %d %s", rc, db_error(d));
			have_lock = db_connected(d) ? have_lock : 0;
			continue;
		}
		sb_add(&sb->sweeps, 1);
		sb_add(&sb->holds_reclaimed_by_sweep, holds);
		if (holds > 0 || keys > 0)
			log_info("sweep: %llu expired units released, %llu idempotency keys purged",
				 (unsigned long long)holds, (unsigned long long)keys);
	}
	db_free(d);
	return WORKER_EXIT_STOP;
}
