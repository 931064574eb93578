#ifndef STK_MIGRATE_H
#define STK_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

/* The highest expand step this build needs. The app refuses to serve until
 * every expand step up to here is applied; contract steps (0003) may wait
 * (docs/migrations.md, mig_deferrable in store/migrate_plan.c). */
#define SCHEMA_REQUIRED 10

typedef struct {
	int to;           /* apply pending steps up to and including this version (0: all) */
	bool expand_only; /* skip contract steps; a later run applies them */
	bool baseline;    /* adopt an existing shop database: check its tables against 0001, record 1 */
	bool status;      /* list every step, its kind, applied or pending; change nothing */
} migrate_opts;

/* Apply, in order and once each, the migrations NNNN_name.sql in dir that
 * are not recorded in schema_migrations, as opts says. Statements run one
 * at a time; a failure names the file, the statement and what stays
 * applied. A named lock keeps two runners from racing. 0 on success, -1
 * with the report written (stderr and the log). */
int migrate_run(const stk_config *cfg, const char *dir, const migrate_opts *opts);

/* The versions this build needs that the database lacks: written to
 * missing[] (at most cap), their count returned; -1 if the database cannot
 * be reached. A database with no schema_migrations table lacks them all. */
int schema_missing(const stk_config *cfg, int *missing, size_t cap);

#endif
