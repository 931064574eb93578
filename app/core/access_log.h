#ifndef STK_ACCESS_LOG_H
#define STK_ACCESS_LOG_H
#include <stddef.h>

/* The access log: one JSON line per request, appended with one write() so
 * lines from many workers never interleave. Reopened on SIGUSR1. */
int access_log_open(const char *path); /* "" or NULL: off */
int access_log_reopen(void);
void access_log_write(const char *line, size_t len);

#endif
