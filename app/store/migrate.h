#ifndef STK_MIGRATE_H
#define STK_MIGRATE_H

#include "core/config.h"

/* The schema version this build needs; the app refuses to serve an older one. */
#define SCHEMA_REQUIRED 6

/* Apply, in order and once each, the migrations NNNN_name.sql in dir that
 * are not yet recorded in schema_migrations, up to version `upto` (0: all).
 * A named lock keeps two runners from racing. 0 on success, -1 with a
 * message logged. */
int migrate_apply(const stk_config *cfg, const char *dir, int upto);

/* The highest applied version (0 for an empty database), or -1 if the
 * database cannot be reached. */
int schema_version(const stk_config *cfg);

#endif
