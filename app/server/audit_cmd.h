#ifndef STK_AUDIT_CMD_H
#define STK_AUDIT_CMD_H

#include "core/config.h"

/* `stockd audit`: the checks of GET /api/admin/audit against the configured
 * database, without the service (after a restore, before starting it).
 * Prints one line per breach and a summary; returns 0 when every invariant
 * holds, 1 on a breach, 2 when the database cannot be read. */
int audit_command(const stk_config *cfg);

#endif
