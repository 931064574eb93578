#include "domain/domain.h"

int dom_txn(dom_ctx *c, txn_body body, void *arg, const dom_events *ev)
{
	txn_policy pol = dom_policy(c);
	int rc = txn_run(c->db, &pol, body, arg, &c->stats);
	if (rc == DB_OK && ev != NULL)
		dom_count(c, ev);
	return rc;
}
