#include <inttypes.h>
#include <stdio.h>

#include "domain/audit.h"
#include "server/audit_cmd.h"

int audit_command(const stk_config *cfg)
{
	db *d = db_new(cfg);
	if (d == NULL || db_ensure(d) != DB_OK) {
		fprintf(stderr, "stockd audit: cannot reach database %s: %s\n", cfg->db_name,
			d != NULL ? db_error(d) : "out of memory");
		db_free(d);
		return 2;
	}
	dom_ctx dom = { .db = d, .cfg = cfg };
	audit_report r;
	int rc = dom_audit(&dom, &r);
	if (rc != DB_OK) {
		fprintf(stderr, "stockd audit: the audit failed (%d): %s\n", rc, db_error(d));
		db_free(d);
		return 2;
	}
	for (size_t i = 0; i < r.nproblems; i++) {
		const audit_problem *p = &r.problems[i];
		printf("breach invariant=%d code=%s product=%" PRId64 " cart=%s expected=%" PRId64 " actual=%" PRId64
		       ": %s\n",
		       p->invariant, p->code, p->product_id, p->cart_id[0] ? p->cart_id : "-", p->expected, p->actual,
		       audit_message(p));
	}
	printf("audit: database %s, %" PRId64 " products checked, %zu breaches: %s\n", cfg->db_name,
	       r.products_checked, r.nproblems, r.nproblems == 0 ? "ok" : "NOT OK");
	int ret = r.nproblems == 0 ? 0 : 1;
	audit_report_free(&r);
	db_free(d);
	return fflush(stdout) == 0 ? ret : 2;
}
