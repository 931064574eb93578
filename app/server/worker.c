#include "server/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/access_log.h"
#include "core/log.h"
#include "core/peers.h"
#include "api/account.h"

/* The signals a worker waits for: stop (TERM, QUIT, INT) and reopen the
 * logs (USR1). Blocked while a request runs, so that no database call sees
 * EINTR; open only while the worker waits for work. */
static int signal_masks(sigset_t *blocked, sigset_t *waiting)
{
	if (sigprocmask(SIG_SETMASK, NULL, waiting) != 0)
		return -1;
	*blocked = *waiting;
	int sigs[] = { SIGTERM, SIGQUIT, SIGINT, SIGUSR1 };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaddset(blocked, sigs[i]) != 0 || sigdelset(waiting, sigs[i]) != 0)
			return -1;
	return 0;
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
	uint64_t connects = db_connects(dom->db);

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
	sb_add(&sb->db_connects, db_connects(dom->db) - connects);
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

/* Whether the peer has sent all of the request, its empty FCGI_STDIN record
 * included. Then nothing more comes on this connection, and FCGX_Detach lets
 * libfcgi close it at once instead of lingering (shutdown(SHUT_WR), then
 * waiting for the peer's close: a sleep and a wake-up of the worker on every
 * request). The lingering is there so that data the peer still sends does
 * not meet a reset that would destroy the answer in flight; with the input
 * read to its end there is none. nginx writes the whole request at once, so
 * the end is already in libfcgi's buffer; the socket is non-blocking for the
 * look, so that a peer that never ends its input (not nginx) cannot hold
 * the worker here: libfcgi then sees EAGAIN, marks the input failed, and
 * FCGX_Finish_r closes the connection the lingering way. */
static int input_ended(FCGX_Request *fr)
{
	int on = 1, off = 0;
	if (ioctl(fr->ipcFd, FIONBIO, &on) != 0)
		return 0;
	int ended = FCGX_GetChar(fr->in) == EOF && FCGX_GetError(fr->in) == 0;
	if (ioctl(fr->ipcFd, FIONBIO, &off) != 0) {
		/* Not seen on a descriptor we hold; the answer is still to be
		 * written, and a non-blocking socket could cut it short. */
		log_error("cannot make the connection blocking again: %s", strerror(errno));
		return 0;
	}
	return ended;
}

static void reopen_logs_if_asked(void)
{
	if (child_reopen_logs) {
		child_reopen_logs = 0;
		log_reopen();
		access_log_reopen();
	}
}

/* How the connection gets from the kernel to libfcgi; everything below
 * relies on libfcgi 2.4's FCGX_Accept_r/FCGX_Finish_r (fcgiapp.c) doing
 * exactly this, through the public fields of FCGX_Request (fcgiapp.h):
 *
 *  - The worker accepts by itself (accept4 below), where a stop may
 *    interrupt it, and puts the descriptor in fr.ipcFd. FCGX_Accept_r reads
 *    from ipcFd when it is >= 0 and accepts only when it is < 0.
 *  - FCGX_Accept_r first finishes the previous request with FCGX_Finish_r,
 *    which closes ipcFd unless keepConnection is set: keepConnection = 1
 *    before the call keeps it from closing the connection we just took.
 *  - Reading BEGIN_REQUEST sets keepConnection from nginx's FCGI_KEEP_CONN
 *    flag (fastcgi_keep_conn on). FCGX_Finish_r then leaves the connection
 *    open (unless a stream failed) and ipcFd >= 0 says so: the next request
 *    comes on it, and the worker waits on it instead of accepting.
 *  - A connection that brings no request (nginx closed a kept connection,
 *    or the records are malformed) is closed by FCGX_Accept_r itself, which
 *    then calls accept() on the listening descriptor it was given, with our
 *    signals blocked. It was given `dead`, a socket that never listens:
 *    that accept() fails at once with EINVAL, FCGX_Accept_r returns
 *    -EINVAL with ipcFd -1, and the worker goes back to its own wait.
 *  - Closing goes through libfcgi's OS_IpcClose: shutdown(SHUT_WR), then
 *    reading until the peer's EOF for at most 2 s (a lingering close),
 *    unless the request is detached (FCGX_Detach sets fr.detached, and
 *    FCGX_Free then closes at once and clears it): see input_ended. */
typedef enum { WAIT_REQUEST, WAIT_AGAIN, WAIT_STOP, WAIT_FAILED } wait_result;

/* No connection held: take a new one from the listening socket. The stop
 * signals are open from the check of child_stop through accept(): a stop
 * landing between the two dup2()s a dead socket over listen_fd (child.c),
 * so accept() fails at once instead of waiting. */
static wait_result wait_new_connection(FCGX_Request *fr, int listen_fd, const peers *allowed, scoreboard *sb,
				       const sigset_t *blocked, const sigset_t *waiting)
{
	if (sigprocmask(SIG_SETMASK, waiting, NULL) != 0)
		return WAIT_FAILED;
	reopen_logs_if_asked();
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof peer;
	int conn = child_stop ? -1 : accept4(listen_fd, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
	int err = errno;
	if (sigprocmask(SIG_SETMASK, blocked, NULL) != 0) {
		if (conn >= 0)
			close(conn);
		return WAIT_FAILED;
	}
	if (conn >= 0 && !peers_allow(allowed, (struct sockaddr *)&peer)) {
		char who[INET_ADDRSTRLEN] = "?";
		if (peer.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, who, sizeof who);
		log_warn("connection from %s refused: not in LISTEN_ALLOW", who);
		close(conn);
		return WAIT_AGAIN;
	}
	if (conn >= 0) {
		/* nginx has handed this connection over: it is answered even if a
		 * stop came meanwhile (dropping it would be a 502). */
		sb_add(&sb->connections, 1);
		fr->ipcFd = conn;
		fr->keepConnection = 1;
		return WAIT_REQUEST;
	}
	if (child_stop)
		return WAIT_STOP;
	if (err == EINTR || err == ECONNABORTED || err == EAGAIN)
		return WAIT_AGAIN;
	log_error("accept failed: %s", strerror(err));
	return WAIT_FAILED;
}

/* nginx kept the connection (FCGI_KEEP_CONN): wait for its next request or
 * its close on it. ppoll opens the stop signals atomically, so one pending
 * or arriving interrupts the wait: no window, nothing to re-send. */
static wait_result wait_kept_connection(FCGX_Request *fr, const sigset_t *waiting)
{
	if (!child_stop) {
		struct pollfd p = { .fd = fr->ipcFd, .events = POLLIN };
		int n = ppoll(&p, 1, NULL, waiting);
		if (n > 0)
			return WAIT_REQUEST; /* a request, or nginx's close: FCGX_Accept_r tells */
		if (n < 0 && errno != EINTR) {
			log_error("waiting on a kept connection: %s", strerror(errno));
			return WAIT_FAILED;
		}
		reopen_logs_if_asked();
		if (!child_stop)
			return WAIT_AGAIN;
	}
	/* Stopping while nginx keeps this connection idle. A request it has
	 * already written is served first; otherwise the connection closes now.
	 * nginx may still pick it for a request in the instant of the close: it
	 * retries a GET elsewhere, a POST answers 502 (docs/reliability.md). */
	char b;
	if (recv(fr->ipcFd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
		return WAIT_REQUEST;
	return WAIT_STOP;
}

int worker_run(const stk_config *cfg, int listen_fd, scoreboard *sb, int slot)
{
	sb_worker *me = &sb->workers[slot];
	atomic_store(&me->started_ms, clock_now_ms());
	if (access_log_open(cfg->access_log) != 0)
		log_warn("cannot open access log %s", cfg->access_log);
	sigset_t blocked, waiting;
	if (signal_masks(&blocked, &waiting) != 0 || sigprocmask(SIG_SETMASK, &blocked, NULL) != 0) {
		log_error("worker cannot set its signal mask: %s", strerror(errno));
		return WORKER_EXIT_FAILED;
	}
	/* The listening socket libfcgi is given: one that never listens, so
	 * that libfcgi never accepts (see above). */
	int dead = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (dead < 0) {
		log_error("worker cannot make its dead socket: %s", strerror(errno));
		return WORKER_EXIT_FAILED;
	}
	child_stop_closes(listen_fd, dead);
	db *d = db_new(cfg);
	if (d == NULL) {
		close(dead);
		return WORKER_EXIT_FAILED;
	}
	db_follow_failback(d, &sb->db_failbacks);
	/* Connect now so the first request does not pay for it; if the
	 * database is down, requests answer 503 until it is back. */
	if (db_ensure(d) != DB_OK)
		log_warn("worker starts without a database: %s", db_error(d));
	sb_add(&sb->db_connects, db_connects(d));
	dom_ctx dom = { .db = d, .cfg = cfg };

	/* config_set checked the list: it parses. */
	peers allowed;
	char perr[128];
	if (peers_parse(cfg->listen_allow, &allowed, perr, sizeof perr) != 0) {
		log_error("LISTEN_ALLOW: %s", perr);
		db_free(d);
		close(dead);
		return WORKER_EXIT_FAILED;
	}
	FCGX_Request fr;
	if (FCGX_InitRequest(&fr, dead, 0) != 0) {
		db_free(d);
		close(dead);
		return WORKER_EXIT_FAILED;
	}
	int status = WORKER_EXIT_STOP;
	uint64_t served = 0;
	for (;;) {
		atomic_store(&me->db_node, db_node(d));
		atomic_store(&me->failback_seen, db_failback_seen(d));
		atomic_store(&me->request_start_ms, 0);
		atomic_store(&me->state, WORKER_IDLE);
		wait_result w = fr.ipcFd >= 0 ? wait_kept_connection(&fr, &waiting)
					      : wait_new_connection(&fr, listen_fd, &allowed, sb, &blocked, &waiting);
		if (w == WAIT_AGAIN)
			continue;
		if (w == WAIT_STOP)
			break;
		if (w == WAIT_FAILED) {
			status = WORKER_EXIT_FAILED;
			break;
		}
		/* Busy from here: a peer that stalls in the middle of its records
		 * meets REQUEST_TIMEOUT instead of holding the worker for ever. */
		atomic_store(&me->request_start_ms, clock_mono_ms());
		atomic_store(&me->state, WORKER_BUSY);
		int rc = FCGX_Accept_r(&fr);
		if (rc == -EINVAL && fr.ipcFd < 0)
			continue; /* no request on that connection; libfcgi closed it */
		if (rc < 0) {
			log_error("FCGX_Accept_r failed: %d", rc);
			status = WORKER_EXIT_FAILED;
			break;
		}
		serve_one(&fr, cfg, sb, me, &dom);
		if (!fr.keepConnection && input_ended(&fr) && FCGX_Detach(&fr) != 0)
			log_warn("libfcgi would not detach the connection; it closes lingering");
		/* Closes the connection unless nginx asked to keep it. */
		FCGX_Finish_r(&fr);
		atomic_fetch_add_explicit(&me->requests, 1, memory_order_relaxed);
		/* A stop already heard: this was the request nginx had written on a
		 * kept connection before it; one, not every one that follows. */
		if (child_stop)
			break;
		if (cfg->max_requests > 0 && ++served >= (uint64_t)cfg->max_requests) {
			/* Recycle: bounded growth of anything a long life accumulates. */
			status = WORKER_EXIT_RECYCLE;
			break;
		}
	}
	atomic_store(&me->state, WORKER_STOPPING);
	FCGX_Free(&fr, 1); /* closes a connection nginx kept, if any */
	close(dead);
	db_free(d);
	return status;
}
