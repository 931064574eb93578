#include "api/api.h"

void api_healthz(api_ctx *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ok"));
	resp_json(c->resp, 200, o);
}

void api_readyz(api_ctx *c)
{
	int rc = db_ensure(c->dom->db);
	if (rc == DB_OK)
		rc = db_simple(c->dom->db, "DO 1");
	if (rc != DB_OK) {
		api_fail(c, DB_ERR_GONE, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ready"));
	resp_json(c->resp, 200, o);
}
