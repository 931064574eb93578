#include "core/clock.h"
#include "core/log.h"
#include "domain/domain.h"

void dom_count(dom_ctx *c, const dom_events *ev)
{
	dom_events_add(c->defer_commit ? &c->staged : &c->events, ev);
}

static void release_claim(dom_ctx *c, const dom_idem_request *rq, int64_t claim)
{
	if (idem_abandon(c->db, rq->key, rq->method, rq->path, claim) != DB_OK)
		log_warn("idempotency key not released: %s", db_error(c->db));
}

/* One attempt: the operation with its answer, stored and committed. */
static int attempt(dom_ctx *c, const dom_idem_request *rq, int64_t claim, void (*run)(void *, dom_answer *),
		   void *arg, bool *kept)
{
	dom_answer ans = { 0 };
	c->staged = (dom_events){ 0 };
	c->defer_commit = true;
	run(arg, &ans);
	c->defer_commit = false;
	*kept = ans.keep;
	if (!ans.keep)
		return DB_OK;
	/* A refusal (4xx) rolled its transaction back: the answer is stored on
	 * its own, in one statement. A change is still open: its answer joins it. */
	int rc = idem_finish(c->db, rq->key, rq->method, rq->path, claim, ans.status, ans.body, ans.body_len,
			     ans.set_cookie);
	if (rc == DB_OK && db_in_txn(c->db)) {
		rc = db_commit(c->db);
		if (rc == DB_ERR_GONE)
			rc = DB_ERR_UNKNOWN;
	}
	return rc;
}

int dom_idempotent(dom_ctx *c, const dom_idem_request *rq, void (*run)(void *arg, dom_answer *out), void *arg,
		   idem_stored *stored)
{
	int64_t claim;
	int rc = idem_begin(c->db, rq->key, rq->method, rq->path, rq->body, rq->body_len, clock_now_ms(),
			    c->cfg->request_timeout_ms, stored, &claim);
	if (rc != IDEM_NEW)
		return rc;
	txn_policy pol = dom_policy(c);
	int64_t start = clock_mono_ms();
	for (long n = 0;; n++) {
		bool kept = false;
		rc = attempt(c, rq, claim, run, arg, &kept);
		if (rc == DB_OK && !kept) {
			/* The request failed and changed nothing: free the key. */
			if (db_in_txn(c->db))
				db_rollback(c->db);
			release_claim(c, rq, claim);
			return DB_OK;
		}
		if (rc == DB_OK) {
			dom_events_add(&c->events, &c->staged);
			return DB_OK;
		}
		if (rc == DB_ERR_UNKNOWN)
			return rc; /* the claim stays: a retry replays or, once stale, reruns */
		if (db_in_txn(c->db) && db_connected(c->db))
			db_rollback(c->db);
		if (rc == DB_ERR_RETRY)
			txn_count_conflict(c->db, &c->stats);
		if (!txn_should_retry(rc, n, &pol, clock_mono_ms() - start)) {
			if (rc != IDEM_LOST)
				release_claim(c, rq, claim);
			return rc;
		}
		txn_pause(n);
	}
}
