#ifndef STK_WORKER_H
#define STK_WORKER_H

#include <signal.h>

#include "core/config.h"
#include "core/scoreboard.h"

/* Exit statuses a worker tells the master why it left with. */
enum { WORKER_EXIT_STOP = 0, WORKER_EXIT_RECYCLE = 75, WORKER_EXIT_FAILED = 1 };

/* The worker's life after fork: accept requests on listen_fd until told to
 * stop, MAX_REQUESTS is reached, or the master is gone. Returns the exit
 * status. */
int worker_run(const stk_config *cfg, int listen_fd, scoreboard *sb, int slot);

/* The sweeper's life: reclaim expired holds every SWEEP_INTERVAL. */
int sweeper_run(const stk_config *cfg, scoreboard *sb);

/* In a freshly forked child: default signal dispositions, the handlers a
 * child uses, and death with the master. -1 (logged) if any of it failed:
 * the child must not run without them. */
int child_signals_setup(int master_pid);
/* From now on a stop signal also dup2()s dead_fd (a socket that never
 * listens) over listen_fd, so that the worker's next accept() fails at once. */
void child_stop_closes(int listen_fd, int dead_fd);
/* Set by the child's signal handlers. */
extern volatile sig_atomic_t child_stop, child_reopen_logs;

#endif
