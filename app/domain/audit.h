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

/* Checks every invariant on one consistent snapshot of the tables. */
int dom_audit(dom_ctx *c, audit_report *out);
void audit_report_free(audit_report *r);
const char *audit_message(const audit_problem *p);

#endif
