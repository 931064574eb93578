#ifndef STK_AUDIT_H
#define STK_AUDIT_H
#include <stddef.h>
#include <stdint.h>

#include "domain/domain.h"

/* One breach of an invariant of the contract, found in the tables. */
typedef struct {
	int invariant;        /* the contract's number for it */
	const char *code;     /* static string */
	int64_t product_id;   /* 0 if not about a product */
	char cart_id[CART_ID_LEN + 1];     /* "" if not about a cart */
	int64_t expected, actual;
} audit_problem;

typedef struct {
	int64_t products_checked;
	size_t nproblems;
	audit_problem *problems; /* owned; audit_report_free() */
} audit_report;

/* Checks every invariant, slice by slice (audit.c): every check compares
 * what one statement read, so concurrent traffic is never a breach. */
int dom_audit(dom_ctx *c, audit_report *out);

/* The same walk a step at a time, for a caller that paces it (the
 * sweeper): start, step until phase is AUDIT_WALK_DONE, read report, free.
 * A failed step leaves the walk where it was: step again, or free. */
enum { AUDIT_WALK_PRODUCTS, AUDIT_WALK_CARTS, AUDIT_WALK_DONE };
typedef struct {
	int phase;
	int64_t last_product;             /* slices done: ids up to this */
	char last_cart[CART_ID_LEN + 1];  /* and carts up to this ("" none yet) */
	size_t cap;                       /* of report.problems */
	audit_report report;              /* owned */
} audit_walk;

void audit_walk_start(audit_walk *w);
int audit_walk_step(dom_ctx *c, audit_walk *w);
void audit_walk_free(audit_walk *w);
void audit_report_free(audit_report *r);
const char *audit_message(const audit_problem *p);

#endif
