#ifndef STK_CLUSTER_H
#define STK_CLUSTER_H
#include <stdbool.h>
#include <stdint.h>

#include "store/db.h"

/* What the node this connection is on says of its Galera cluster. */
typedef struct {
	bool galera;             /* false: a server without Galera; the rest is zero */
	int64_t size;            /* wsrep_cluster_size */
	bool ready;              /* wsrep_ready */
	bool primary;            /* wsrep_cluster_status is Primary */
	int state;               /* wsrep_local_state: 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced */
	double flow_control_paused; /* wsrep_flow_control_paused: share of time replication was paused */
	int64_t cert_failures;   /* wsrep_local_cert_failures: this node's transactions that failed certification */
	int64_t bf_aborts;       /* wsrep_local_bf_aborts: its transactions aborted by replicated ones */
} cluster_state;

/* One statement on d. DB_OK with *out filled, or a DB_ERR_*. */
int cluster_read(db *d, cluster_state *out);

/* wsrep_local_state's name: "Synced", "Donor/Desynced"... */
const char *cluster_state_name(int state);

#endif
