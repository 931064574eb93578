#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

/* Prometheus text format, summed over all workers from the scoreboard. */

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

static void run_metrics(api_ctx *c)
{
	scoreboard *sb = c->sb;
	text t = { malloc(8192), 0, 8192 };
	if (t.buf == NULL)
		abort();
	put(&t, "# HELP stockd_requests_total Requests answered, by route and status.\n"
		"# TYPE stockd_requests_total counter\n");
	for (int r = 0; r < ROUTE_SLOTS; r++)
		for (int s = 0; s < SB_STATUSES; s++) {
			uint64_t n = sb_get(&sb->requests[r][s]);
			if (n == 0)
				continue;
			int status = scoreboard_slot_status(s);
			if (status)
				put(&t, "stockd_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    route_name((route_id)r), status, (unsigned long long)n);
			else
				put(&t, "stockd_requests_total{route=\"%s\",status=\"other\"} %llu\n",
				    route_name((route_id)r), (unsigned long long)n);
		}
	static const char *causes[RESTART_CAUSES] = { "crash", "recycle", "timeout" };
	put(&t, "# HELP stockd_worker_restarts_total Workers replaced, by cause.\n"
		"# TYPE stockd_worker_restarts_total counter\n");
	for (int i = 0; i < RESTART_CAUSES; i++)
		put(&t, "stockd_worker_restarts_total{cause=\"%s\"} %llu\n", causes[i],
		    (unsigned long long)sb_get(&sb->restarts[i]));
	int busy = 0, idle = 0;
	for (int i = 0; i < SB_MAX_WORKERS; i++) {
		int st = atomic_load_explicit(&sb->workers[i].state, memory_order_relaxed);
		busy += st == WORKER_BUSY;
		idle += st == WORKER_IDLE;
	}
	put(&t,
	    "# TYPE stockd_workers gauge\nstockd_workers %d\n"
	    "# TYPE stockd_workers_busy gauge\nstockd_workers_busy %d\n"
	    "# TYPE stockd_workers_idle gauge\nstockd_workers_idle %d\n"
	    "# TYPE stockd_config_generation gauge\nstockd_config_generation %d\n"
	    "# TYPE stockd_reload_in_progress gauge\nstockd_reload_in_progress %d\n",
	    atomic_load(&sb->workers_configured), busy, idle, atomic_load(&sb->config_generation),
	    atomic_load(&sb->reload_in_progress));
	put(&t,
	    "# HELP stockd_db_retries_total Transactions retried after a conflict.\n"
	    "# TYPE stockd_db_retries_total counter\n"
	    "stockd_db_retries_total{reason=\"deadlock\"} %llu\n"
	    "stockd_db_retries_total{reason=\"lock_wait_timeout\"} %llu\n"
	    "# TYPE stockd_db_connects_total counter\nstockd_db_connects_total %llu\n"
	    "# TYPE stockd_sweeps_total counter\nstockd_sweeps_total %llu\n"
	    "# TYPE stockd_holds_expired_by_sweep_total counter\nstockd_holds_expired_by_sweep_total %llu\n",
	    (unsigned long long)sb_get(&sb->db_retries_deadlock), (unsigned long long)sb_get(&sb->db_retries_lock_wait),
	    (unsigned long long)sb_get(&sb->db_reconnects), (unsigned long long)sb_get(&sb->sweeps),
	    (unsigned long long)sb_get(&sb->holds_reclaimed_by_sweep));
	c->resp->status = 200;
	c->resp->text = t.buf;
	c->resp->text_len = t.len;
	c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

const api_handler api_metrics = { api_no_input, run_metrics };
