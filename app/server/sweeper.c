#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/pace.h"
#include "domain/audit.h"
#include "domain/domain.h"
#include "domain/retention.h"
#include "server/worker.h"
#include "store/cluster.h"
#include "store/named_lock.h"

/* With several app hosts on one database, one sweeps (and audits) at a
 * time. Correctness never depends on it (the row locks do that); it saves
 * work. */
#define SWEEP_LOCK "stockd_sweeper"

/* The audit thread runs only while the sweep holds the lock. */
static atomic_bool sweeping_here;

/* The whole-table jobs' shares of the time (core/pace.h): with a million
 * holds the audit took 165 s, and run back to back it kept a read view
 * open for good and slowed every request (docs/benchmarks.md). */
#define AUDIT_SHARE_PCT 10
#define GAUGE_SHARE_PCT 5

/* When the live-holds gauge, a scan of every live hold, may run again. */
static int64_t gauge_next_ms;

/* The sweep works for no request: its reclaims count under stock mode, the
 * only mode that makes holds. Counted per product, as each commits. */
static void count_reclaim(void *arg, int64_t units)
{
	scoreboard *sb = arg;
	sb_add(&sb->hold_units[1][HOLDS_EXPIRED_SWEEP], (uint64_t)units);
}

/* One round of the sweeper's duties. Each runs whatever happened to the
 * one before (a product that fails to reclaim, a failed abandoned-cart
 * query): only a lost connection stops the round. Returns DB_OK or the
 * last failure. */
static int sweep_once(dom_ctx *dom, scoreboard *sb)
{
	const stk_config *cfg = dom->cfg;
	int64_t now = clock_now_ms();
	dom->events = (dom_events){ 0 };
	dom_sweep_report rep;
	int rc = dom_sweep(dom, now, count_reclaim, sb, &rep);
	if (rep.failed > 0)
		log_warn("sweep: %lld products could not be reclaimed; the next round tries them again",
			 (long long)rep.failed);
	if (rc == DB_ERR_GONE)
		return rc; /* lost or replaced: the next round checks the lock first */
	int64_t abandoned[2] = { 0, 0 };
	int arc = dom_mark_abandoned(dom, cfg->reservation_timeout_ms, abandoned);
	sb_add(&sb->carts_abandoned[0], (uint64_t)abandoned[0]);
	sb_add(&sb->carts_abandoned[1], (uint64_t)abandoned[1]);
	if (arc != DB_OK)
		rc = arc;
	int64_t rows, units, start = clock_mono_ms();
	if (start >= gauge_next_ms) {
		int grc = dom_holds_active(dom, now, &rows, &units);
		if (grc == DB_OK) {
			atomic_store(&sb->holds_active_rows, rows);
			atomic_store(&sb->holds_active_units, units);
			gauge_next_ms = pace_next_start(start, clock_mono_ms(), 0, GAUGE_SHARE_PCT);
		} else {
			rc = grc;
		}
	}
	sb_add(&sb->sweeps, 1);
	if (dom->events.expired > 0 || rep.keys_purged > 0)
		log_info("sweep: %lld expired units released, %llu idempotency keys purged",
			 (long long)dom->events.expired, (unsigned long long)rep.keys_purged);
	/* CART_RETENTION_DAYS: one batch a round, whatever the sweep met. */
	int purged = dom_retention_round(dom);
	return rc != DB_OK ? rc : purged;
}

/* The periodic audit (the stock-accuracy metric: a breach shows within the
 * larger of one audit period and one walk, plus two walks, the walk under
 * way having maybe passed its row). It reads every table, which on a large
 * catalogue takes longer than a sweep period: so it runs in its own thread,
 * on its own connection, and never delays a sweep. It walks the tables
 * slice by slice (domain/audit.c) and rests after each slice in proportion
 * to it, so its load on the database is an even AUDIT_SHARE_PCT, not a
 * burst. */
static void *audit_loop(void *arg)
{
	scoreboard *sb = ((void **)arg)[0];
	const stk_config *cfg = ((void **)arg)[1];
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the sweep loop's */
	db *d = db_new(cfg);
	if (d == NULL)
		return NULL;
	db_follow_failback(d, &sb->db_failbacks);
	dom_ctx dom = { .db = d, .cfg = cfg };
	audit_walk walk;
	bool walking = false;
	int64_t walk_start = 0, next = 0;
	while (!child_stop) {
		int64_t start = clock_mono_ms();
		if (!atomic_load(&sweeping_here) && walking) {
			audit_walk_free(&walk); /* another host sweeps now */
			walking = false;
		}
		if (atomic_load(&sweeping_here) && start >= next) {
			if (!walking) {
				audit_walk_start(&walk);
				walking = true;
				walk_start = start;
			}
			int rc = audit_walk_step(&dom, &walk);
			int64_t end = clock_mono_ms();
			if (rc != DB_OK) {
				log_warn("audit failed: %d %s", rc, db_error(d));
				next = end + 1000; /* the walk goes on from the failed slice */
			} else if (walk.phase != AUDIT_WALK_DONE) {
				next = pace_next_start(start, end, 0, AUDIT_SHARE_PCT);
			} else {
				audit_report *report = &walk.report;
				atomic_store(&sb->audit_problems, (int64_t)report->nproblems);
				atomic_store(&sb->audit_last_ms, clock_now_ms());
				atomic_store(&sb->audit_walk_ms, end - walk_start);
				atomic_fetch_add(&sb->audit_runs, 1);
				if (report->nproblems > 0)
					log_error("audit: %zu invariant breaches; GET /api/admin/audit names them",
						  report->nproblems);
				audit_walk_free(&walk);
				walking = false;
				next = pace_next_start(start, end, 0, AUDIT_SHARE_PCT);
				if (next < walk_start + cfg->audit_interval_ms)
					next = walk_start + cfg->audit_interval_ms;
			}
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (walking)
		audit_walk_free(&walk);
	db_free(d);
	return NULL;
}

/* How often a sweeper on a later node of DB_HOST asks whether an earlier
 * one is usable again. A dead node costs the sweep its connect timeout
 * (1 s) each time; the workers never pay it. */
#define FAILBACK_PROBE_MS 5000

/* A worker on a later node of DB_HOST than `node` that has followed
 * every failback so far: it will not move unless the epoch moves. */
static bool worker_behind(scoreboard *sb, int node)
{
	uint64_t epoch = atomic_load(&sb->db_failbacks);
	for (int i = 0; i < SB_MAX_WORKERS; i++) {
		sb_worker *w = &sb->workers[i];
		if (atomic_load(&w->state) != WORKER_EMPTY && atomic_load(&w->db_node) > node &&
		    atomic_load(&w->failback_seen) == epoch)
			return true;
	}
	return false;
}

/* Failback (store/db.h): without it an app host stays on the node it
 * failed over to while one restarted since takes the first node: two
 * writers on one hot row, each other's certification failures. The
 * probes fall on the same wall-clock multiples of FAILBACK_PROBE_MS on
 * every app host (their clocks are synced, docs/scaling.md), so all of
 * them move back at once and the two-writer moment is a request long, not
 * up to the probe period. The sweeper itself may already be on the earlier
 * node (it started, or lost its connection, after that node came back):
 * then workers still on a later one are moved all the same. Called every
 * 50 ms. */
static void probe_failback(db *d, scoreboard *sb, int64_t *next_ms)
{
	int64_t now = clock_now_ms();
	int node = db_node(d);
	if (node < 0 || now < *next_ms)
		return;
	*next_ms = (now / FAILBACK_PROBE_MS + 1) * FAILBACK_PROBE_MS;
	if (node > 0 && db_probe_earlier(d) == DB_OK) {
		atomic_fetch_add(&sb->db_failbacks, 1);
		log_warn("database: an earlier node of DB_HOST is usable again; the app host moves back to it");
		db_disconnect(d); /* and the lock with it: this round takes both again */
	} else if (worker_behind(sb, node)) {
		atomic_fetch_add(&sb->db_failbacks, 1);
		log_warn("database: workers are on a later node of DB_HOST than node %d, the sweeper's; they move back",
			 node + 1);
	}
}

/* The node's view of its cluster into the scoreboard, for /metrics and
 * /status: one statement a round, on every app host whether it sweeps or
 * not (each may be on another node). A failed sample leaves the last one,
 * whose time tells how old it is. */
static void sample_cluster(db *d, scoreboard *sb)
{
	cluster_state st;
	if (cluster_read(d, &st) != DB_OK)
		return;
	/* A node out of the primary component still answers status queries
	 * (and GET_LOCK): without this the sweeper would stay on it while the
	 * workers, whose statements fail, have moved on. Its next round
	 * connects to the first ready node of DB_HOST. */
	if (st.galera && !st.ready)
		db_disconnect(d);
	atomic_store(&sb->cluster_galera, st.galera);
	atomic_store(&sb->cluster_size, st.size);
	atomic_store(&sb->cluster_ready, st.ready);
	atomic_store(&sb->cluster_primary, st.primary);
	atomic_store(&sb->cluster_state, st.state);
	atomic_store(&sb->cluster_fc_paused_ppm, (int64_t)(st.flow_control_paused * 1e6));
	atomic_store(&sb->cluster_cert_failures, st.cert_failures);
	atomic_store(&sb->cluster_bf_aborts, st.bf_aborts);
	atomic_store(&sb->cluster_sampled_ms, clock_now_ms());
}

int sweeper_run(const stk_config *cfg, scoreboard *sb)
{
	db *d = db_new(cfg);
	if (d == NULL)
		return WORKER_EXIT_FAILED;
	dom_ctx dom = { .db = d, .cfg = cfg };
	named_lock lock = { .name = SWEEP_LOCK };
	/* Connect once before the audit thread starts: the client library
	 * initialises itself on first use, which is not thread-safe. */
	if (db_ensure(d) != DB_OK)
		log_warn("sweeper starts without a database: %s", db_error(d));
	void *audit_arg[2] = { sb, (void *)cfg };
	pthread_t auditor;
	int have_auditor = pthread_create(&auditor, NULL, audit_loop, audit_arg) == 0;
	if (!have_auditor)
		log_error("sweeper: no audit thread; the audit metric will not move");
	int64_t failback_next_ms = 0;
	while (!child_stop) {
		/* The period is from one round's start to the next, whatever the
		 * round took. */
		int64_t wake = clock_mono_ms() + cfg->sweep_interval_ms;
		if (child_reopen_logs) {
			child_reopen_logs = 0;
			log_reopen();
		}
		/* Is the lock still ours (a reconnect anywhere in the last round
		 * lost it), or can we take it? Only then sweep. */
		if (db_ensure(d) != DB_OK || named_lock_check(d, &lock) != DB_OK || named_lock_take(d, &lock) != DB_OK)
			lock.held = false;
		else
			sample_cluster(d, sb);
		atomic_store(&sweeping_here, lock.held);
		if (lock.held) {
			int rc = sweep_once(&dom, sb);
			if (rc != DB_OK)
				log_warn("sweep failed: %d %s", rc, db_error(d));
		}
		/* Sleep in short steps so a stop is noticed quickly. */
		while (!child_stop && clock_mono_ms() < wake) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
			probe_failback(d, sb, &failback_next_ms);
		}
	}
	atomic_store(&sweeping_here, false);
	if (have_auditor && pthread_join(auditor, NULL) != 0)
		log_warn("sweeper: audit thread not joined");
	db_free(d);
	return WORKER_EXIT_STOP;
}
