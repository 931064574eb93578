#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "domain/audit.h"
#include "domain/domain.h"
#include "domain/retention.h"
#include "server/worker.h"

/* Named lock: with several app hosts on one database, one sweeps at a time.
 * Correctness never depends on it (the row locks do that); it saves work. */
static const char SQL_SWEEP_LOCK[] = "SELECT GET_LOCK('stockd_sweeper', 0)";

/* The sweep works for no request: its reclaims count under stock mode, the
 * only mode that makes holds. Counted per product, as each commits. */
static void count_reclaim(void *arg, int64_t units)
{
	scoreboard *sb = arg;
	sb_add(&sb->hold_units[1][HOLDS_EXPIRED_SWEEP], (uint64_t)units);
}

/* One round of the sweeper's duties. Returns DB_OK or the first failure. */
static int sweep_once(dom_ctx *dom, scoreboard *sb, int64_t *next_audit_ms)
{
	const stk_config *cfg = dom->cfg;
	int64_t now = clock_now_ms();
	uint64_t keys = 0;
	dom->events = (dom_events){ 0 };
	int rc = dom_sweep(dom, now, count_reclaim, sb, &keys);
	int64_t abandoned[2] = { 0, 0 };
	if (rc == DB_OK)
		rc = dom_mark_abandoned(dom, cfg->reservation_timeout_ms, abandoned);
	sb_add(&sb->carts_abandoned[0], (uint64_t)abandoned[0]);
	sb_add(&sb->carts_abandoned[1], (uint64_t)abandoned[1]);
	if (rc != DB_OK)
		return rc;
	int64_t rows, units;
	rc = dom_holds_active(dom, now, &rows, &units);
	if (rc != DB_OK)
		return rc;
	atomic_store(&sb->holds_active_rows, rows);
	atomic_store(&sb->holds_active_units, units);
	sb_add(&sb->sweeps, 1);
	if (dom->events.expired > 0 || keys > 0)
		log_info("sweep: %lld expired units released, %llu idempotency keys purged",
			 (long long)dom->events.expired, (unsigned long long)keys);
	/* The stock-accuracy metric: a breach shows within one audit period. */
	if (clock_mono_ms() >= *next_audit_ms) {
		audit_report report;
		rc = dom_audit(dom, &report);
		if (rc != DB_OK)
			return rc;
		atomic_store(&sb->audit_problems, (int64_t)report.nproblems);
		atomic_store(&sb->audit_last_ms, clock_now_ms());
		atomic_fetch_add(&sb->audit_runs, 1);
		if (report.nproblems > 0)
			log_error("audit: %zu invariant breaches; GET /api/admin/audit names them", report.nproblems);
		audit_report_free(&report);
		*next_audit_ms = clock_mono_ms() + cfg->audit_interval_ms;
	}
	return dom_retention_round(dom); /* CART_RETENTION_DAYS: one batch a round */
}

int sweeper_run(const stk_config *cfg, scoreboard *sb)
{
	db *d = db_new(cfg);
	if (d == NULL)
		return WORKER_EXIT_FAILED;
	dom_ctx dom = { .db = d, .cfg = cfg };
	int have_lock = 0;
	int64_t next_audit = 0;
	while (!child_stop) {
		if (child_reopen_logs) {
			child_reopen_logs = 0;
			log_reopen();
		}
		if (db_ensure(d) != DB_OK) {
			have_lock = 0;
		} else if (!have_lock) {
			db_rows r;
			if (db_exec(d, SQL_SWEEP_LOCK, NULL, 0, &r) == DB_OK) {
				have_lock = r.nrows == 1 && db_at(&r, 0, 0)->i == 1;
				db_rows_free(&r);
			}
		}
		if (have_lock) {
			int rc = sweep_once(&dom, sb, &next_audit);
			if (rc != DB_OK) {
				log_warn("sweep failed: %d %s", rc, db_error(d));
				if (!db_connected(d))
					have_lock = 0;
			}
		}
		/* Sleep in short steps so a stop is noticed quickly. */
		int64_t wake = clock_mono_ms() + cfg->sweep_interval_ms;
		while (!child_stop && clock_mono_ms() < wake) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	db_free(d);
	return WORKER_EXIT_STOP;
}
