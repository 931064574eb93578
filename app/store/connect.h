#ifndef STK_CONNECT_H
#define STK_CONNECT_H
#include <mysql.h>
#include <stddef.h>

#include "core/config.h"

/* The one way to open a MariaDB connection from the config: the socket if
 * DB_SOCKET is set, else the first of DB_HOST's nodes (core/hostlist.h)
 * that accepts and is ready (on Galera, wsrep_ready ON); utf8mb4; no automatic reconnect
 * (it would silently lose prepared statements and an open transaction).
 * Waits are bounded: connect_timeout_s for the connect, rw_timeout_s for
 * each read and write (0: none, for migrations that may run long). flags
 * are mysql_real_connect's client flags. On failure returns NULL with the
 * client's error number and message in *err_no and err. */
MYSQL *store_connect(const stk_config *c, unsigned connect_timeout_s, unsigned rw_timeout_s, unsigned long flags,
		     unsigned *err_no, char *err, size_t errlen);

/* store_connect() over the first `before` nodes of DB_HOST only, with the
 * index of the node it took in *node (0 with DB_SOCKET or one node): a
 * connection on a later node asks whether an earlier one is usable again
 * (db_probe_earlier). */
MYSQL *store_connect_node(const stk_config *c, int before, unsigned connect_timeout_s, unsigned rw_timeout_s,
			  unsigned long flags, int *node, unsigned *err_no, char *err, size_t errlen);

#endif
