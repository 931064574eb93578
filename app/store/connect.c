#include "store/connect.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hostlist.h"
#include "core/log.h"

/* MariaDB's ER_UNKNOWN_COM_ERROR: what a Galera node that is not ready
 * answers to every statement. */
#define ER_NODE_NOT_READY 1047

static MYSQL *open_one(const stk_config *c, const char *host, unsigned port, const char *sock,
		       unsigned connect_timeout_s, unsigned rw_timeout_s, unsigned long flags, unsigned *err_no,
		       char *err, size_t errlen)
{
	MYSQL *m = mysql_init(NULL);
	if (m == NULL) {
		*err_no = 0;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	my_bool no = 0;
	int bad = mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout_s) != 0 ||
		  mysql_options(m, MYSQL_OPT_RECONNECT, &no) != 0 ||
		  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0;
	if (rw_timeout_s > 0)
		bad = bad || mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout_s) != 0 ||
		      mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout_s) != 0;
	if (bad) {
		*err_no = 0;
		snprintf(err, errlen, "cannot set the connection's options");
		mysql_close(m);
		return NULL;
	}
	if (mysql_real_connect(m, host, c->db_user, c->db_password, c->db_name, port, sock, flags) == NULL) {
		*err_no = mysql_errno(m);
		snprintf(err, errlen, "%s", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* A Galera node cut off from the majority still accepts connections but
 * refuses every statement (wsrep_ready OFF). Debian's server has the wsrep
 * status rows even without Galera (wsrep_ready OFF there too): an empty
 * provider name means no cluster, and a server that answers is ready. One
 * round trip per connect; store/cluster.c reads the same rows. */
static int node_ready(MYSQL *m, unsigned *err_no, char *err, size_t errlen)
{
	if (mysql_query(m, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_provider_name', 'wsrep_ready')") != 0) {
		*err_no = mysql_errno(m);
		snprintf(err, errlen, "%s", mysql_error(m));
		return -1;
	}
	MYSQL_RES *res = mysql_store_result(m);
	if (res == NULL) {
		*err_no = mysql_errno(m);
		snprintf(err, errlen, "%s", mysql_error(m));
		return -1;
	}
	bool galera = false, ready = false;
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res)) != NULL) {
		if (row[0] == NULL || row[1] == NULL)
			continue;
		if (strcasecmp(row[0], "wsrep_provider_name") == 0)
			galera = row[1][0] != '\0';
		else if (strcasecmp(row[0], "wsrep_ready") == 0)
			ready = strcmp(row[1], "ON") == 0;
	}
	mysql_free_result(res);
	if (galera && !ready) {
		*err_no = ER_NODE_NOT_READY;
		snprintf(err, errlen, "the node is not ready (wsrep_ready OFF: not in the cluster's primary component)");
		return -1;
	}
	return 0;
}

MYSQL *store_connect(const stk_config *c, unsigned connect_timeout_s, unsigned rw_timeout_s, unsigned long flags,
		     unsigned *err_no, char *err, size_t errlen)
{
	int node;
	return store_connect_node(c, HOSTLIST_MAX, connect_timeout_s, rw_timeout_s, flags, &node, err_no, err, errlen);
}

MYSQL *store_connect_node(const stk_config *c, int before, unsigned connect_timeout_s, unsigned rw_timeout_s,
			  unsigned long flags, int *node, unsigned *err_no, char *err, size_t errlen)
{
	if (before < 1) { /* a caller's bug: no node to try */
		log_error("store_connect_node: before = %d", before);
		abort();
	}
	*node = 0;
	if (c->db_socket[0])
		return open_one(c, "localhost", 0, c->db_socket, connect_timeout_s, rw_timeout_s, flags, err_no, err,
				errlen);
	host_entry hosts[HOSTLIST_MAX];
	int n = 1;
	if (c->db_host[0] == '\0') {
		snprintf(hosts[0].host, sizeof hosts[0].host, "localhost");
		hosts[0].port = (unsigned)c->db_port;
	} else {
		n = hostlist_parse(c->db_host, (unsigned)c->db_port, hosts, HOSTLIST_MAX, err, errlen);
		if (n < 0) { /* config_set checked it: only a config built by hand */
			*err_no = 0;
			return NULL;
		}
	}
	/* In order, every time: app hosts that list the nodes alike all write
	 * to the first usable one, and come back to it once it is usable. */
	char skipped[640] = "";
	if (before < n)
		n = before;
	for (int i = 0; i < n; i++) {
		char why[256];
		MYSQL *m = open_one(c, hosts[i].host, hosts[i].port, NULL, connect_timeout_s, rw_timeout_s, flags,
				    err_no, why, sizeof why);
		if (m != NULL && node_ready(m, err_no, why, sizeof why) == 0) {
			if (i > 0) /* once per connection: a failover shows in the log */
				log_warn("database node %s:%u in use; %s", hosts[i].host, hosts[i].port, skipped);
			*node = i;
			return m;
		}
		if (m != NULL)
			mysql_close(m);
		if (i == 0)
			snprintf(skipped, sizeof skipped, "%.255s:%u not usable: %.255s", hosts[i].host, hosts[i].port, why);
		if (n > 1)
			snprintf(err, errlen, "%s:%u: %s", hosts[i].host, hosts[i].port, why);
		else
			snprintf(err, errlen, "%s", why);
	}
	return NULL;
}
