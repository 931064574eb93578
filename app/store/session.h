#ifndef STK_SESSION_H
#define STK_SESSION_H
#include <stdbool.h>

#include "store/db.h"

/* What lives with one connection rather than with a transaction. */

/* One round trip: DB_OK when the database answers on this connection and
 * is ready for statements. A Galera node out of the primary component
 * (wsrep_ready OFF) is not: its connection is closed, DB_ERR_GONE, and the
 * next statement connects to the first ready node of DB_HOST. */
int db_ping(db *d);

/* Take the named lock `name` without waiting (MariaDB's GET_LOCK): *got is
 * true if this connection holds it now. The lock lasts as long as the
 * connection; it is local to one server (on Galera, one node). */
int db_try_named_lock(db *d, const char *name, bool *got);

#endif
