#include "store/named_lock.h"

#include <string.h>

#include "core/log.h"

static const char SQL_TAKE[] = "SELECT GET_LOCK(?, 0)";

/* NULL when free, else the holder's connection id. */
static const char SQL_MINE[] = "SELECT IS_USED_LOCK(?) = CONNECTION_ID()";

static bool same_connection(const db *d, const named_lock *l)
{
	return db_connected(d) && db_connects(d) == l->conn;
}

int named_lock_take(db *d, named_lock *l)
{
	if (l->held && same_connection(d, l))
		return DB_OK;
	l->held = false;
	db_param p[] = { P_STR(l->name, strlen(l->name)) };
	db_rows r;
	int rc = db_exec(d, SQL_TAKE, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	l->held = r.nrows == 1 && !db_at(&r, 0, 0)->is_null && db_at(&r, 0, 0)->i == 1;
	l->conn = db_connects(d);
	db_rows_free(&r);
	return DB_OK;
}

int named_lock_check(db *d, named_lock *l)
{
	if (!l->held)
		return DB_OK;
	if (!same_connection(d, l)) {
		log_warn("named lock %s went with a lost database connection", l->name);
		l->held = false;
		return DB_OK;
	}
	db_param p[] = { P_STR(l->name, strlen(l->name)) };
	db_rows r;
	int rc = db_exec(d, SQL_MINE, p, 1, &r);
	if (rc != DB_OK) {
		l->held = false;
		return rc;
	}
	bool mine = r.nrows == 1 && !db_at(&r, 0, 0)->is_null && db_at(&r, 0, 0)->i == 1;
	db_rows_free(&r);
	/* The statement may itself have reconnected (the connection was found
	 * dead): then the answer is about a new connection, which holds nothing. */
	if (!mine || !same_connection(d, l)) {
		log_warn("named lock %s is no longer held by this connection", l->name);
		l->held = false;
	}
	return DB_OK;
}
