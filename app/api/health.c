#include "api/api.h"
#include "store/session.h"

static void run_healthz(api_ctx *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ok"));
	resp_json(c->resp, 200, o);
}

const api_handler api_healthz = { api_no_input, run_healthz };

static void run_readyz(api_ctx *c)
{
	/* A second ping after a lost connection or a node that is not ready
	 * reconnects: ready means this host can serve, on any of its nodes. */
	int rc = db_ping(c->dom->db);
	if (rc == DB_ERR_GONE)
		rc = db_ping(c->dom->db);
	if (rc != DB_OK) {
		api_fail(c, rc, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ready"));
	resp_json(c->resp, 200, o);
}

const api_handler api_readyz = { api_no_input, run_readyz };
