#include "store/connect.h"

#include <stdio.h>

MYSQL *store_connect(const stk_config *c, unsigned connect_timeout_s, unsigned rw_timeout_s, unsigned long flags,
		     unsigned *err_no, char *err, size_t errlen)
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
	const char *sock = c->db_socket[0] ? c->db_socket : NULL;
	const char *host = sock ? "localhost" : c->db_host;
	if (mysql_real_connect(m, host, c->db_user, c->db_password, c->db_name, (unsigned)c->db_port, sock, flags) ==
	    NULL) {
		*err_no = mysql_errno(m);
		snprintf(err, errlen, "%s", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}
