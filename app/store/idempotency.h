#ifndef STK_IDEMPOTENCY_H
#define STK_IDEMPOTENCY_H
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Idempotency keys: the first answer to (key, method, path) is kept for
 * IDEM_TTL_MS and replayed for a byte-identical body; the sweep purges keys
 * older than that. */
#define IDEM_TTL_MS (24LL * 3600 * 1000)
enum {
	IDEM_NEW = 1001,   /* first time (or the old row expired / was abandoned): run it */
	IDEM_REPLAY,       /* answered before: send *stored */
	IDEM_MISMATCH,     /* same key, other body: 422 */
	IDEM_BUSY,         /* the first request is still running: 409 */
	IDEM_LOST,         /* our claim was taken over (we ran past the stale
			    * time): store nothing, commit nothing */
};
_Static_assert(RC_IDEM(IDEM_NEW) && RC_IDEM(IDEM_BUSY), "IDEM_* in their range (core/result.h)");

typedef struct {
	int status;
	char *body;        /* owned */
	size_t body_len;
	char set_cookie[128];
} idem_stored;

/* Claim the key or find its answer. stale_ms: a claim older than this
 * belongs to a worker that died mid-request and may be taken over; only an
 * unanswered claim is ever taken over. On IDEM_NEW, *claim is this claim's
 * token: idem_finish and idem_abandon act only on a row still carrying it.
 * Returns an IDEM_* or a DB_ERR_*. */
int idem_begin(db *d, const char *key, const char *method, const char *path, const char *body,
	       size_t body_len, int64_t now_ms, int64_t stale_ms, idem_stored *stored, int64_t *claim);
/* Keep the answer (status < 500) on our own unanswered claim: DB_OK, IDEM_LOST
 * when the claim is no longer ours, or a DB_ERR_*. */
int idem_finish(db *d, const char *key, const char *method, const char *path, int64_t claim, int status,
		const char *body, size_t body_len, const char *set_cookie);
/* Forget our own unanswered claim: the request failed (5xx) and changed nothing. */
int idem_abandon(db *d, const char *key, const char *method, const char *path, int64_t claim);
void idem_stored_free(idem_stored *s);

#endif
