#include "store/session.h"

#include <string.h>

#include "store/cluster.h"

static const char SQL_GET_LOCK[] = "SELECT GET_LOCK(?, 0)";

int db_ping(db *d)
{
	cluster_state st;
	int rc = cluster_read(d, &st);
	if (rc != DB_OK)
		return rc;
	if (st.galera && !st.ready) {
		/* A node out of the primary component refuses every statement:
		 * the next one must go to another node. */
		db_disconnect(d);
		return DB_ERR_GONE;
	}
	return DB_OK;
}

int db_try_named_lock(db *d, const char *name, bool *got)
{
	*got = false;
	db_param p[] = { P_STR(name, strlen(name)) };
	db_rows r;
	int rc = db_exec(d, SQL_GET_LOCK, p, 1, &r);
	if (rc != DB_OK)
		return rc;
	/* 1: taken; 0: another connection holds it; NULL: an error. */
	*got = r.nrows == 1 && !db_at(&r, 0, 0)->is_null && db_at(&r, 0, 0)->i == 1;
	db_rows_free(&r);
	return DB_OK;
}
