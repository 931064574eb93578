#include <string.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/version.h"
#include "store/cluster.h"

/* GET /status, in the spirit of php-fpm's status page: the pool and, with
 * ?full, every worker. Never a cart id: a worker shows its route only. */

static const char *state_name(int state)
{
	static const char *names[] = { "empty", "starting", "idle", "busy", "stopping" };
	return state >= 0 && state <= WORKER_STOPPING ? names[state] : "unknown";
}

static int wants_full(const char *query)
{
	for (const char *p = query; *p;) {
		size_t n = strcspn(p, "&");
		if ((n == 4 && strncmp(p, "full", 4) == 0) || strncmp(p, "full=", 5) == 0)
			return 1;
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* A refused reload leaves the running config in place, so the page says so
 * until a reload is taken: when and why the last one was refused. */
static json_object *reload_view(scoreboard *sb)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "last_ok", json_object_new_boolean(atomic_load(&sb->last_reload_ok) != 0));
	json_object_object_add(o, "refused", json_object_new_int64((int64_t)sb_get(&sb->reloads_refused)));
	int64_t at_ms;
	char message[SB_NOTE_LEN];
	scoreboard_last_refusal(sb, &at_ms, message, sizeof message);
	json_object *last = NULL;
	if (at_ms > 0) {
		last = json_object_new_object();
		json_object_object_add(last, "time", json_time_or_null(at_ms));
		json_object_object_add(last, "message", json_object_new_string(message));
	}
	json_object_object_add(o, "last_refused", last);
	return o;
}

/* The Galera cluster as the sweeper's node saw it at its last sample:
 * null without Galera or before a first sample. */
static json_object *cluster_view(scoreboard *sb)
{
	int64_t at = atomic_load(&sb->cluster_sampled_ms);
	if (at == 0 || !atomic_load(&sb->cluster_galera))
		return NULL;
	json_object *cl = json_object_new_object();
	json_object_object_add(cl, "sampled", json_time_or_null(at));
	json_object_object_add(cl, "size", json_object_new_int64(atomic_load(&sb->cluster_size)));
	json_object_object_add(cl, "ready", json_object_new_boolean(atomic_load(&sb->cluster_ready)));
	json_object_object_add(cl, "primary", json_object_new_boolean(atomic_load(&sb->cluster_primary)));
	json_object_object_add(cl, "state", json_object_new_string(cluster_state_name(atomic_load(&sb->cluster_state))));
	json_object_object_add(cl, "flow_control_paused",
			       json_object_new_double((double)atomic_load(&sb->cluster_fc_paused_ppm) / 1e6));
	json_object_object_add(cl, "cert_failures", json_object_new_int64(atomic_load(&sb->cluster_cert_failures)));
	json_object_object_add(cl, "bf_aborts", json_object_new_int64(atomic_load(&sb->cluster_bf_aborts)));
	return cl;
}

static void run_status(api_ctx *c)
{
	scoreboard *sb = c->sb;
	int64_t now_mono = clock_mono_ms(), now = clock_now_ms();
	int busy = 0, idle = 0;
	json_object *workers = json_object_new_array();
	for (int i = 0; i < SB_MAX_WORKERS; i++) {
		sb_worker *w = &sb->workers[i];
		int state = atomic_load(&w->state);
		if (state == WORKER_EMPTY)
			continue;
		busy += state == WORKER_BUSY;
		idle += state == WORKER_IDLE;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int(atomic_load(&w->pid)));
		json_object_object_add(o, "state", json_object_new_string(state_name(state)));
		json_object_object_add(o, "requests", json_object_new_int64((int64_t)sb_get(&w->requests)));
		json_object_object_add(o, "generation", json_object_new_int(atomic_load(&w->generation)));
		json_object_object_add(o, "started", json_time_or_null(atomic_load(&w->started_ms)));
		int64_t start = atomic_load(&w->request_start_ms);
		if (state == WORKER_BUSY && start > 0) {
			json_object_object_add(o, "route", json_object_new_string(route_name(atomic_load(&w->route))));
			json_object_object_add(o, "request_ms", json_object_new_int64(now_mono - start));
		}
		json_object_array_add(workers, o);
	}
	int64_t started = atomic_load(&sb->master_started_ms);
	json_object *top = json_object_new_object();
	json_object_object_add(top, "pool", json_object_new_string("stockd"));
	json_object_object_add(top, "version", json_object_new_string(stockd_version()));
	json_object_object_add(top, "start_time", json_time_or_null(started));
	json_object_object_add(top, "uptime_s", json_object_new_int64(started ? (now - started) / 1000 : 0));
	json_object_object_add(top, "config_generation", json_object_new_int(atomic_load(&sb->config_generation)));
	json_object_object_add(top, "workers", json_object_new_int(atomic_load(&sb->workers_configured)));
	json_object_object_add(top, "busy", json_object_new_int(busy));
	json_object_object_add(top, "idle", json_object_new_int(idle));
	json_object_object_add(top, "accepted", json_object_new_int64((int64_t)sb_get(&sb->accepted)));
	json_object_object_add(top, "active", json_object_new_int(atomic_load(&sb->active)));
	json_object_object_add(top, "max_active", json_object_new_int(atomic_load(&sb->max_active)));
	json_object_object_add(top, "slow_requests", json_object_new_int64((int64_t)sb_get(&sb->slow_requests)));
	json_object_object_add(top, "slow_request_ms", json_object_new_int64(c->cfg->slow_request_ms));
	json_object *restarts = json_object_new_object();
	json_object_object_add(restarts, "crash", json_object_new_int64((int64_t)sb_get(&sb->restarts[RESTART_CRASH])));
	json_object_object_add(restarts, "recycle", json_object_new_int64((int64_t)sb_get(&sb->restarts[RESTART_RECYCLE])));
	json_object_object_add(restarts, "timeout", json_object_new_int64((int64_t)sb_get(&sb->restarts[RESTART_TIMEOUT])));
	json_object_object_add(top, "restarts", restarts);
	json_object_object_add(top, "reload", reload_view(sb));
	json_object_object_add(top, "cluster", cluster_view(sb));
	if (wants_full(c->req->query))
		json_object_object_add(top, "processes", workers);
	else
		json_object_put(workers);
	resp_json(c->resp, 200, top);
}

const api_handler api_status = { api_no_input, run_status };
