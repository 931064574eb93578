#ifndef STK_NAMED_LOCK_H
#define STK_NAMED_LOCK_H
#include <stdbool.h>
#include <stdint.h>

#include "store/db.h"

/* A MariaDB named lock (GET_LOCK), held by one connection until it closes.
 * db.c reconnects by itself (a statement finding the connection gone, the
 * retry of a transaction whose BEGIN found it gone), and the lock goes with
 * the old connection: so a lock is remembered together with the connection
 * that took it, and counts as held only on that same connection.
 *
 * On a Galera cluster GET_LOCK is local to one node: two nodes' holders can
 * both believe they hold it. A lease row (name, holder, expires_at) renewed
 * by its holder and taken over by time would serve one node and a cluster
 * alike; see docs/reliability.md. */
typedef struct {
	const char *name; /* static string */
	bool held;
	uint64_t conn;    /* db_connects() when it was taken: which connection */
} named_lock;

/* Take the lock without waiting if this connection does not hold it yet.
 * DB_OK with l->held telling whether we have it, or a DB_ERR_*. */
int named_lock_take(db *d, named_lock *l);

/* Whether the lock is still ours: taken, and on the connection open now.
 * Asks the server (one short statement): a lock lost in any other way
 * shows too. DB_OK with l->held updated, or a DB_ERR_* (then not held). */
int named_lock_check(db *d, named_lock *l);

#endif
