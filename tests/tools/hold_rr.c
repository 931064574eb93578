/* The hold path (dom_reserve) on a session at REPEATABLE READ, for
 * tests/integration/test_stock_holds.py: the app's own sessions are READ COMMITTED, and the
 * hold path must be right under either level.
 *
 *   hold_rr SOCKET DBNAME CART_ID PRODUCT_ID QUANTITY
 *
 * Prints "connected ID" (its connection id) once its session is set up,
 * then "RC RESERVED AVAILABLE" when dom_reserve returns. Exit 0 if it ran, 2 if it could not
 * connect. */
#include <stdio.h>
#include <stdlib.h>

#include "domain/domain.h"

static const char SQL_ME[] = "SELECT CONNECTION_ID()";

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s SOCKET DBNAME CART_ID PRODUCT_ID QUANTITY\n", argv[0]);
		return 2;
	}
	stk_config cfg;
	config_defaults(&cfg);
	snprintf(cfg.db_socket, sizeof cfg.db_socket, "%s", argv[1]);
	snprintf(cfg.db_name, sizeof cfg.db_name, "%s", argv[2]);
	snprintf(cfg.db_user, sizeof cfg.db_user, "root");
	cfg.db_password[0] = '\0';
	/* Outlast the test's steps however slow the machine: the point is
	 * which snapshot the transaction reads, not how long it waits. */
	cfg.retry_attempts = 10;
	cfg.txn_budget_ms = 30000;
	db *d = db_new(&cfg);
	/* The lock wait outlasts the test's steps too: a wait that timed out
	 * would retry behind whoever queued on the product meanwhile. */
	if (d == NULL || db_ensure(d) != DB_OK ||
	    db_simple(d, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ") != DB_OK ||
	    db_simple(d, "SET SESSION innodb_lock_wait_timeout = 60") != DB_OK) {
		fprintf(stderr, "cannot set up the session: %s\n", d ? db_error(d) : "out of memory");
		return 2;
	}
	db_rows me;
	if (db_exec(d, SQL_ME, NULL, 0, &me) != DB_OK || me.nrows != 1) {
		fprintf(stderr, "no connection id: %s\n", db_error(d));
		return 2;
	}
	printf("connected %lld\n", (long long)db_at(&me, 0, 0)->i);
	db_rows_free(&me);
	fflush(stdout);
	dom_ctx c = { .db = d, .cfg = &cfg };
	hold_state h;
	dom_refusal why;
	int rc = dom_reserve(&c, argv[3], atoll(argv[4]), atoll(argv[5]), &h, &why);
	printf("%d %lld %lld\n", rc, (long long)h.reserved, (long long)h.available);
	dom_refusal_free(&why);
	db_free(d);
	return 0;
}
