#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/version.h"

/* GET /metrics: Prometheus text format, summed over all workers from the
 * scoreboard. Series a request never touched are left out; the gauges and
 * the migration plan's counters are always there. */

typedef struct {
	char *buf;
	size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap + (size_t)n) * 2;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL)
			abort();
	}
}

static const char *const modes[SB_MODES] = { "legacy", "stock" };

static void head(text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long get(_Atomic uint64_t *c)
{
	return (unsigned long long)sb_get(c);
}

/* Every route, and "no route matched", has its row of counters. */
_Static_assert(ROUTE_SLOTS <= SB_ROUTES, "a scoreboard row for every route slot");
_Static_assert(MODE_LEGACY == 0 && MODE_STOCK == 1 && SB_MODES == 2, "scoreboard mode index is stock_mode");

static void requests(text *t, scoreboard *sb)
{
	head(t, "stockd_requests_total", "counter", "Requests answered, by route, method, mode and status.");
	for (int r = 0; r < ROUTE_SLOTS; r++)
		for (int m = 0; m < SB_MODES; m++)
			for (int s = 0; s < SB_STATUSES; s++) {
				unsigned long long n = get(&sb->requests[r][m][s]);
				if (n == 0)
					continue;
				int status = scoreboard_slot_status(s);
				char st[8];
				snprintf(st, sizeof st, status ? "%d" : "other", status);
				put(t, "stockd_requests_total{route=\"%s\",method=\"%s\",mode=\"%s\",status=\"%s\"} %llu\n",
				    route_name((route_id)r), route_method((route_id)r), modes[m], st, n);
			}
	head(t, "stockd_request_duration_seconds", "histogram", "Time from accepting a request to its answer.");
	for (int r = 0; r < ROUTE_SLOTS; r++)
		for (int m = 0; m < SB_MODES; m++) {
			unsigned long long total = 0;
			for (int b = 0; b < SB_BUCKETS; b++)
				total += get(&sb->duration[r][m][b]);
			if (total == 0)
				continue;
			unsigned long long cum = 0;
			for (int b = 0; b < SB_BUCKETS; b++) {
				cum += get(&sb->duration[r][m][b]);
				double le = scoreboard_bucket_le(b);
				if (le < 0)
					put(t, "stockd_request_duration_seconds_bucket{route=\"%s\",mode=\"%s\",le=\"+Inf\"} %llu\n",
					    route_name((route_id)r), modes[m], cum);
				else
					put(t, "stockd_request_duration_seconds_bucket{route=\"%s\",mode=\"%s\",le=\"%g\"} %llu\n",
					    route_name((route_id)r), modes[m], le / 1000.0, cum);
			}
			put(t, "stockd_request_duration_seconds_sum{route=\"%s\",mode=\"%s\"} %.6f\n", route_name((route_id)r),
			    modes[m], (double)get(&sb->duration_us[r][m]) / 1e6);
			put(t, "stockd_request_duration_seconds_count{route=\"%s\",mode=\"%s\"} %llu\n",
			    route_name((route_id)r), modes[m], total);
		}
}

static void migration_plan(text *t, scoreboard *sb)
{
	static const char *results[] = { "ok", "insufficient_stock", "error" };
	_Static_assert(sizeof results / sizeof results[0] == ADD_RESULTS, "a name per cart_add result");
	head(t, "stockd_cart_add_total", "counter", "Add-to-cart attempts, by mode and result.");
	for (int m = 0; m < SB_MODES; m++)
		for (int r = 0; r < ADD_RESULTS; r++)
			put(t, "stockd_cart_add_total{mode=\"%s\",result=\"%s\"} %llu\n", modes[m], results[r],
			    get(&sb->cart_add[m][r]));
	head(t, "stockd_stock_api_requests_total", "counter",
	     "Stock-aware calls (reserve, release, add/remove moving stock, stock-mode checkout), by result.");
	for (int m = 0; m < SB_MODES; m++) {
		put(t, "stockd_stock_api_requests_total{mode=\"%s\",result=\"ok\"} %llu\n", modes[m], get(&sb->stock_api[m][0]));
		put(t, "stockd_stock_api_requests_total{mode=\"%s\",result=\"failure\"} %llu\n", modes[m],
		    get(&sb->stock_api[m][1]));
	}
	static const char *events[] = { "created", "released", "expired_sweep", "expired_lazy", "converted" };
	_Static_assert(sizeof events / sizeof events[0] == HOLD_EVENTS, "a name per hold event");
	head(t, "stockd_hold_units_total", "counter",
	     "Units of stock held, released, reclaimed after expiry (by the sweep or lazily), sold from a hold.");
	for (int m = 0; m < SB_MODES; m++)
		for (int e = 0; e < HOLD_EVENTS; e++)
			put(t, "stockd_hold_units_total{mode=\"%s\",event=\"%s\"} %llu\n", modes[m], events[e],
			    get(&sb->hold_units[m][e]));
	head(t, "stockd_holds_active", "gauge", "Live holds (rows), as of the last sweep.");
	put(t, "stockd_holds_active %lld\n", (long long)atomic_load(&sb->holds_active_rows));
	head(t, "stockd_holds_active_units", "gauge", "Units in live holds, as of the last sweep.");
	put(t, "stockd_holds_active_units %lld\n", (long long)atomic_load(&sb->holds_active_units));
	head(t, "stockd_carts_created_total", "counter", "Carts created, by mode.");
	for (int m = 0; m < SB_MODES; m++)
		put(t, "stockd_carts_created_total{mode=\"%s\"} %llu\n", modes[m], get(&sb->carts_created[m]));
	head(t, "stockd_carts_checked_out_total", "counter", "Carts checked out, by mode.");
	for (int m = 0; m < SB_MODES; m++)
		put(t, "stockd_carts_checked_out_total{mode=\"%s\"} %llu\n", modes[m], get(&sb->carts_checked_out[m]));
	head(t, "stockd_carts_abandoned_total", "counter",
	     "Carts with lines left idle past STOCK_RESERVATION_TIMEOUT without checkout, by the mode of their last change.");
	for (int m = 0; m < SB_MODES; m++)
		put(t, "stockd_carts_abandoned_total{mode=\"%s\"} %llu\n", modes[m], get(&sb->carts_abandoned[m]));
	head(t, "stockd_audit_problems", "gauge", "Invariant breaches found by the last periodic audit.");
	put(t, "stockd_audit_problems %lld\n", (long long)atomic_load(&sb->audit_problems));
	head(t, "stockd_audit_last_run_timestamp_seconds", "gauge", "When the periodic audit last ran (0: not yet).");
	put(t, "stockd_audit_last_run_timestamp_seconds %.3f\n", (double)atomic_load(&sb->audit_last_ms) / 1000.0);
	head(t, "stockd_audit_last_duration_seconds", "gauge",
	     "How long the last periodic audit took, rests included: a breach shows within the larger of "
	     "AUDIT_INTERVAL and this, plus twice this.");
	put(t, "stockd_audit_last_duration_seconds %.3f\n", (double)atomic_load(&sb->audit_walk_ms) / 1000.0);
	head(t, "stockd_audit_runs_total", "counter", "Periodic audits run.");
	put(t, "stockd_audit_runs_total %lld\n", (long long)atomic_load(&sb->audit_runs));
}

static void database(text *t, scoreboard *sb)
{
	head(t, "stockd_db_retries_total", "counter", "Transactions retried after a conflict, by reason.");
	put(t, "stockd_db_retries_total{reason=\"deadlock\"} %llu\n", get(&sb->db_retries_deadlock));
	put(t, "stockd_db_retries_total{reason=\"lock_wait_timeout\"} %llu\n", get(&sb->db_retries_lock_wait));
	head(t, "stockd_db_errors_total", "counter", "Lost connections and unexpected database errors.");
	put(t, "stockd_db_errors_total %llu\n", get(&sb->db_errors));
	head(t, "stockd_db_connects_total", "counter", "Database connections opened by workers (first and re-connects).");
	put(t, "stockd_db_connects_total %llu\n", get(&sb->db_connects));
	head(t, "stockd_db_failbacks_total", "counter",
	     "Times the sweeper found an earlier node of DB_HOST usable again, or workers on a later node than "
	     "its own, and moved the app host back.");
	put(t, "stockd_db_failbacks_total %llu\n", get(&sb->db_failbacks));
	head(t, "stockd_db_statement_duration_seconds", "histogram", "Round trip of one prepared statement.");
	unsigned long long cum = 0;
	for (int b = 0; b < SB_DB_BUCKETS; b++) {
		cum += get(&sb->db_statements[b]);
		double le = scoreboard_db_bucket_le(b);
		if (le < 0)
			put(t, "stockd_db_statement_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
		else
			put(t, "stockd_db_statement_duration_seconds_bucket{le=\"%g\"} %llu\n", le / 1000.0, cum);
	}
	put(t, "stockd_db_statement_duration_seconds_sum %.6f\n", (double)get(&sb->db_statement_us) / 1e6);
	put(t, "stockd_db_statement_duration_seconds_count %llu\n", cum);
}

static void process_manager(text *t, scoreboard *sb)
{
	int busy = 0, idle = 0;
	for (int i = 0; i < SB_MAX_WORKERS; i++) {
		int st = atomic_load_explicit(&sb->workers[i].state, memory_order_relaxed);
		busy += st == WORKER_BUSY;
		idle += st == WORKER_IDLE;
	}
	head(t, "stockd_workers", "gauge", "Workers configured (WORKERS).");
	put(t, "stockd_workers %d\n", atomic_load(&sb->workers_configured));
	head(t, "stockd_workers_busy", "gauge", "Workers serving a request now.");
	put(t, "stockd_workers_busy %d\n", busy);
	head(t, "stockd_workers_idle", "gauge", "Workers waiting for a request now.");
	put(t, "stockd_workers_idle %d\n", idle);
	head(t, "stockd_max_active_requests", "gauge", "Most requests in progress at once since the master started.");
	put(t, "stockd_max_active_requests %d\n", atomic_load(&sb->max_active));
	static const char *causes[] = { "crash", "recycle", "timeout" };
	_Static_assert(sizeof causes / sizeof causes[0] == RESTART_CAUSES, "a name per restart cause");
	head(t, "stockd_worker_restarts_total", "counter", "Workers replaced, by cause.");
	for (int i = 0; i < RESTART_CAUSES; i++)
		put(t, "stockd_worker_restarts_total{cause=\"%s\"} %llu\n", causes[i], get(&sb->restarts[i]));
	head(t, "stockd_requests_accepted_total", "counter", "Requests accepted by the workers.");
	put(t, "stockd_requests_accepted_total %llu\n", get(&sb->accepted));
	head(t, "stockd_fastcgi_connections_total", "counter",
	     "FastCGI connections the workers took; below the requests when nginx keeps connections alive.");
	put(t, "stockd_fastcgi_connections_total %llu\n", get(&sb->connections));
	head(t, "stockd_slow_requests_total", "counter", "Requests slower than SLOW_REQUEST_MS.");
	put(t, "stockd_slow_requests_total %llu\n", get(&sb->slow_requests));
	head(t, "stockd_sweeps_total", "counter", "Sweeps of expired holds run.");
	put(t, "stockd_sweeps_total %llu\n", get(&sb->sweeps));
	head(t, "stockd_build_info", "gauge", "Always 1; the release this binary was built from, in `version`.");
	put(t, "stockd_build_info{version=\"%s\"} 1\n", stockd_version());
	head(t, "stockd_config_generation", "gauge", "Config generation; a SIGHUP reload adds one.");
	put(t, "stockd_config_generation %d\n", atomic_load(&sb->config_generation));
	head(t, "stockd_reload_in_progress", "gauge", "1 while workers of an older generation are being replaced.");
	put(t, "stockd_reload_in_progress %d\n", atomic_load(&sb->reload_in_progress));
	head(t, "stockd_reload_refused_total", "counter",
	     "SIGHUP reloads refused (a conf file with a mistake); the running config was kept.");
	put(t, "stockd_reload_refused_total %llu\n", get(&sb->reloads_refused));
	head(t, "stockd_last_reload_ok", "gauge",
	     "0 when the last reload was refused (the file on disk is not what runs), else 1.");
	put(t, "stockd_last_reload_ok %d\n", atomic_load(&sb->last_reload_ok));
}

/* The Galera cluster as the sweeper's node sees it (sampled each sweep
 * round into the scoreboard): nothing until a first sample. */
static void cluster(text *t, scoreboard *sb)
{
	if (atomic_load(&sb->cluster_sampled_ms) == 0)
		return;
	int galera = atomic_load(&sb->cluster_galera);
	head(t, "stockd_db_galera", "gauge", "1 when the database node in use is a Galera cluster's node, else 0.");
	put(t, "stockd_db_galera %d\n", galera);
	if (!galera)
		return;
	head(t, "stockd_galera_sample_timestamp_seconds", "gauge", "When the figures below were read from the node.");
	put(t, "stockd_galera_sample_timestamp_seconds %.3f\n", (double)atomic_load(&sb->cluster_sampled_ms) / 1000.0);
	head(t, "stockd_galera_cluster_size", "gauge", "Nodes in the cluster, as the node in use counts them.");
	put(t, "stockd_galera_cluster_size %lld\n", (long long)atomic_load(&sb->cluster_size));
	head(t, "stockd_galera_ready", "gauge", "1 when the node in use accepts statements (wsrep_ready).");
	put(t, "stockd_galera_ready %d\n", atomic_load(&sb->cluster_ready));
	head(t, "stockd_galera_primary", "gauge", "1 when the node in use is in the primary component.");
	put(t, "stockd_galera_primary %d\n", atomic_load(&sb->cluster_primary));
	head(t, "stockd_galera_flow_control_paused", "gauge",
	     "Share of time the node's replication was paused by flow control since its status was last flushed.");
	put(t, "stockd_galera_flow_control_paused %g\n", (double)atomic_load(&sb->cluster_fc_paused_ppm) / 1e6);
	head(t, "stockd_galera_cert_failures_total", "counter",
	     "The node's transactions that failed certification (retried by stockd as deadlocks).");
	put(t, "stockd_galera_cert_failures_total %lld\n", (long long)atomic_load(&sb->cluster_cert_failures));
	head(t, "stockd_galera_bf_aborts_total", "counter",
	     "The node's transactions aborted by a replicated one (brute force), also retried as deadlocks.");
	put(t, "stockd_galera_bf_aborts_total %lld\n", (long long)atomic_load(&sb->cluster_bf_aborts));
}

static void run_metrics(api_ctx *c)
{
	text t = { malloc(32768), 0, 32768 };
	if (t.buf == NULL)
		abort();
	requests(&t, c->sb);
	migration_plan(&t, c->sb);
	database(&t, c->sb);
	cluster(&t, c->sb);
	process_manager(&t, c->sb);
	c->resp->status = 200;
	c->resp->text = t.buf;
	c->resp->text_len = t.len;
	c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

const api_handler api_metrics = { api_no_input, run_metrics };
