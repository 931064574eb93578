#include "store/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL_MS IDEM_TTL_MS

static const char SQL_CLAIM[] =
	"INSERT INTO idempotency_keys (idem_key, method, path, request_body, created_ms)"
	" VALUES (?, ?, ?, ?, ?)";

static const char SQL_LOOKUP[] =
	"SELECT request_body, status, response_body, set_cookie, created_ms FROM idempotency_keys"
	" WHERE idem_key = ? AND method = ? AND path = ?";

/* Take over an expired or abandoned row; created_ms guards against two
 * takers (compare-and-set). */
static const char SQL_RECLAIM[] =
	"UPDATE idempotency_keys SET request_body = ?, status = NULL, response_body = NULL,"
	" set_cookie = NULL, created_ms = ? WHERE idem_key = ? AND method = ? AND path = ? AND created_ms = ?";

static const char SQL_FINISH[] =
	"UPDATE idempotency_keys SET status = ?, response_body = ?, set_cookie = ?"
	" WHERE idem_key = ? AND method = ? AND path = ?";

static const char SQL_ABANDON[] =
	"DELETE FROM idempotency_keys WHERE idem_key = ? AND method = ? AND path = ? AND status IS NULL";

void idem_stored_free(idem_stored *s)
{
	free(s->body);
	s->body = NULL;
}

int idem_begin(db *d, const char *key, const char *method, const char *path, const char *body,
	       size_t body_len, int64_t now_ms, int64_t stale_ms, idem_stored *stored)
{
	memset(stored, 0, sizeof *stored);
	size_t kl = strlen(key), ml = strlen(method), pl = strlen(path);
	for (int tries = 0; tries < 3; tries++) {
		db_param claim[] = { P_STR(key, kl), P_STR(method, ml), P_STR(path, pl), P_STR(body, body_len),
				     P_I64(now_ms) };
		int rc = db_exec(d, SQL_CLAIM, claim, 5, NULL);
		if (rc == DB_OK)
			return IDEM_NEW;
		if (rc != DB_ERR_DUP)
			return rc;

		db_param who[] = { P_STR(key, kl), P_STR(method, ml), P_STR(path, pl) };
		db_rows r;
		rc = db_exec(d, SQL_LOOKUP, who, 3, &r);
		if (rc != DB_OK)
			return rc;
		if (r.nrows == 0) {
			db_rows_free(&r); /* purged in between: claim again */
			continue;
		}
		const db_value *req = db_at(&r, 0, 0), *st = db_at(&r, 0, 1);
		int64_t created = db_at(&r, 0, 4)->i;
		int expired = created < now_ms - TTL_MS;
		int same = req->len == body_len && memcmp(req->s, body, body_len) == 0;
		int abandoned = st->is_null && created < now_ms - stale_ms;
		if (!expired && !same) {
			db_rows_free(&r);
			return IDEM_MISMATCH;
		}
		if (!expired && !abandoned) {
			if (st->is_null) {
				db_rows_free(&r);
				return IDEM_BUSY;
			}
			stored->status = (int)st->i;
			stored->body = r.v[2].s; /* take ownership out of the row */
			stored->body_len = r.v[2].len;
			r.v[2].s = NULL;
			if (!db_at(&r, 0, 3)->is_null)
				snprintf(stored->set_cookie, sizeof stored->set_cookie, "%s", db_at(&r, 0, 3)->s);
			db_rows_free(&r);
			return IDEM_REPLAY;
		}
		db_rows_free(&r);
		db_param take[] = { P_STR(body, body_len), P_I64(now_ms), P_STR(key, kl), P_STR(method, ml),
				    P_STR(path, pl), P_I64(created) };
		db_rows u;
		rc = db_exec(d, SQL_RECLAIM, take, 6, &u);
		if (rc != DB_OK)
			return rc;
		if (u.affected == 1)
			return IDEM_NEW;
		/* Someone else took it over first: look again. */
	}
	return IDEM_BUSY;
}

int idem_finish(db *d, const char *key, const char *method, const char *path, int status,
		const char *body, size_t body_len, const char *set_cookie)
{
	db_param p[] = { P_I64(status), P_STR(body, body_len),
			 set_cookie && *set_cookie ? P_STR(set_cookie, strlen(set_cookie)) : P_NULL(),
			 P_STR(key, strlen(key)), P_STR(method, strlen(method)), P_STR(path, strlen(path)) };
	return db_exec(d, SQL_FINISH, p, 6, NULL);
}

int idem_abandon(db *d, const char *key, const char *method, const char *path)
{
	db_param p[] = { P_STR(key, strlen(key)), P_STR(method, strlen(method)), P_STR(path, strlen(path)) };
	return db_exec(d, SQL_ABANDON, p, 3, NULL);
}
