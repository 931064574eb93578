#include "store/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char SQL_WSREP[] =
	"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_provider_name', 'wsrep_cluster_size', 'wsrep_ready',"
	" 'wsrep_cluster_status', 'wsrep_local_state', 'wsrep_flow_control_paused',"
	" 'wsrep_local_cert_failures', 'wsrep_local_bf_aborts')";

int cluster_read(db *d, cluster_state *out)
{
	memset(out, 0, sizeof *out);
	db_rows r;
	int rc = db_exec(d, SQL_WSREP, NULL, 0, &r);
	if (rc != DB_OK)
		return rc;
	for (size_t i = 0; i < r.nrows; i++) {
		const char *k = db_at(&r, i, 0)->s, *v = db_at(&r, i, 1)->s;
		if (k == NULL || v == NULL)
			continue;
		/* Debian's server has the wsrep status rows even without Galera
		 * (wsrep_ready OFF among them): the provider's name tells. */
		if (strcasecmp(k, "wsrep_provider_name") == 0)
			out->galera = v[0] != '\0';
		else if (strcasecmp(k, "wsrep_cluster_size") == 0)
			out->size = strtoll(v, NULL, 10);
		else if (strcasecmp(k, "wsrep_ready") == 0)
			out->ready = strcmp(v, "ON") == 0;
		else if (strcasecmp(k, "wsrep_cluster_status") == 0)
			out->primary = strcmp(v, "Primary") == 0;
		else if (strcasecmp(k, "wsrep_local_state") == 0)
			out->state = (int)strtol(v, NULL, 10);
		else if (strcasecmp(k, "wsrep_flow_control_paused") == 0)
			out->flow_control_paused = strtod(v, NULL);
		else if (strcasecmp(k, "wsrep_local_cert_failures") == 0)
			out->cert_failures = strtoll(v, NULL, 10);
		else if (strcasecmp(k, "wsrep_local_bf_aborts") == 0)
			out->bf_aborts = strtoll(v, NULL, 10);
	}
	db_rows_free(&r);
	if (!out->galera)
		memset(out, 0, sizeof *out);
	return DB_OK;
}

const char *cluster_state_name(int state)
{
	static const char *names[] = { "Initialized", "Joining", "Donor/Desynced", "Joined", "Synced" };
	return state >= 0 && state <= 4 ? names[state] : "unknown";
}
