#ifndef STK_SESSION_H
#define STK_SESSION_H
#include <stdbool.h>

#include "store/db.h"

/* What lives with one connection rather than with a transaction. */

/* One round trip: DB_OK when the database answers on this connection. */
int db_ping(db *d);

/* Take the named lock `name` without waiting (MariaDB's GET_LOCK): *got is
 * true if this connection holds it now. The lock lasts as long as the
 * connection; it is local to one server (on Galera, one node). */
int db_try_named_lock(db *d, const char *name, bool *got);

#endif
