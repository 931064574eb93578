#include "server/worker.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/access_log.h"
#include "core/log.h"
#include "server/account.h"

static void block_signals(int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGQUIT);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGUSR1);
	sigprocmask(how, &s, NULL);
}

static void track_active(scoreboard *sb, int delta)
{
	int32_t now = atomic_fetch_add(&sb->active, delta) + delta;
	int32_t max = atomic_load(&sb->max_active);
	while (now > max && !atomic_compare_exchange_weak(&sb->max_active, &max, now))
		;
}

/* One request from nginx to the answer, all its memory released here. */
static void serve_one(FCGX_Request *fr, const stk_config *cfg, scoreboard *sb, sb_worker *me, dom_ctx *dom)
{
	int64_t start_us = clock_mono_us();
	track_active(sb, 1);
	sb_add(&sb->accepted, 1);
	http_request req;
	http_request_init(&req, fr);
	req.body_status = http_request_read_body(&req, fr);
	log_set_request_id(req.request_id);
	/* For the status page: what this worker is busy with. */
	atomic_store(&me->route, (int32_t)router_match(req.method, req.path).id);

	http_response resp;
	http_response_init(&resp);
	api_ctx ctx = { .req = &req, .resp = &resp, .dom = dom, .cfg = cfg, .sb = sb };
	dom->stats = (txn_stats){ 0, 0 };
	dom->events = (dom_events){ 0 };
	uint64_t connects = db_reconnects(dom->db);

	api_dispatch(&ctx);
	if (db_in_txn(dom->db)) {
		/* Never carry a transaction into the next request, where its
		 * START TRANSACTION would commit it silently. */
		log_error("%s left a transaction open; rolled back", route_name(ctx.route.id));
		db_rollback(dom->db);
	}
	if (http_send(fr, &resp, req.request_id, ctx.mode == MODE_STOCK ? "stock" : "legacy") != 0)
		log_warn("client went away before the answer was sent");

	double ms = (double)(clock_mono_us() - start_us) / 1000.0;
	db_stats dbs;
	db_take_stats(dom->db, &dbs);
	sb_add(&sb->db_reconnects, db_reconnects(dom->db) - connects);
	account_request(sb, &ctx, ms, &dbs);
	if (resp.status >= 500)
		log_warn("%s %s -> %d", req.method, route_name(ctx.route.id), resp.status);

	if (ctx.body != NULL)
		json_object_put(ctx.body);
	http_response_free(&resp);
	http_request_free(&req);
	log_set_request_id(NULL);
	track_active(sb, -1);
}

int worker_run(const stk_config *cfg, int listen_fd, scoreboard *sb, int slot)
{
	sb_worker *me = &sb->workers[slot];
	atomic_store(&me->started_ms, clock_now_ms());
	if (access_log_open(cfg->access_log) != 0)
		log_warn("cannot open access log %s", cfg->access_log);
	db *d = db_new(cfg);
	if (d == NULL)
		return WORKER_EXIT_FAILED;
	/* Connect now so the first request does not pay for it; if the
	 * database is down, requests answer 503 until it is back. */
	if (db_ensure(d) != DB_OK)
		log_warn("worker starts without a database: %s", db_error(d));
	sb_add(&sb->db_reconnects, db_reconnects(d));
	dom_ctx dom = { .db = d, .cfg = cfg };

	FCGX_Request fr;
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		db_free(d);
		return WORKER_EXIT_FAILED;
	}
	int status = WORKER_EXIT_STOP;
	uint64_t served = 0;
	block_signals(SIG_BLOCK);
	for (;;) {
		atomic_store(&me->request_start_ms, 0);
		atomic_store(&me->state, WORKER_IDLE);
		/* Signals are delivered only here, while idle: a stop lets the
		 * current request finish. A signal landing between the check
		 * and accept() is caught by the master signalling again. */
		block_signals(SIG_UNBLOCK);
		if (child_reopen_logs) {
			child_reopen_logs = 0;
			log_reopen();
			access_log_reopen();
		}
		if (child_stop) {
			block_signals(SIG_BLOCK);
			break;
		}
		/* The connection is taken here, where a stop may interrupt; libfcgi
		 * then reads its first records with signals blocked. Inside
		 * FCGX_Accept_r a stop landing between accept() and those reads
		 * would drop a connection nginx already handed over (a 502). */
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		block_signals(SIG_BLOCK);
		if (conn < 0) {
			if (child_stop)
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			log_error("accept failed: %s", strerror(errno));
			status = WORKER_EXIT_FAILED;
			break;
		}
		/* keepConnection: the previous request is finished already, so
		 * FCGX_Accept_r's own finish must not close this new connection. */
		fr.ipcFd = conn;
		fr.keepConnection = 1;
		int rc = FCGX_Accept_r(&fr);
		if (rc < 0) {
			if (child_stop)
				break;
			if (errno == EINTR || rc == -EINTR)
				continue;
			log_error("accept failed: %d", rc);
			status = WORKER_EXIT_FAILED;
			break;
		}
		atomic_store(&me->request_start_ms, clock_mono_ms());
		atomic_store(&me->state, WORKER_BUSY);
		serve_one(&fr, cfg, sb, me, &dom);
		FCGX_Finish_r(&fr);
		atomic_fetch_add_explicit(&me->requests, 1, memory_order_relaxed);
		if (cfg->max_requests > 0 && ++served >= (uint64_t)cfg->max_requests) {
			/* Recycle: bounded growth of anything a long life accumulates. */
			status = WORKER_EXIT_RECYCLE;
			break;
		}
	}
	atomic_store(&me->state, WORKER_STOPPING);
	FCGX_Free(&fr, 0);
	db_free(d);
	return status;
}
