#ifndef STK_MASTER_H
#define STK_MASTER_H

#include "core/config.h"

/* Run the pre-fork master until stopped: bind, fork WORKERS workers and one
 * sweeper, respawn the dead, reload on SIGHUP, stop gracefully on
 * SIGTERM/SIGINT/SIGQUIT. conf_path is re-read on SIGHUP. Returns the exit
 * status of the process. */
int master_run(stk_config *cfg, const char *conf_path);

#endif
