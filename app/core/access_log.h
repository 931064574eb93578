#ifndef STK_ACCESS_LOG_H
#define STK_ACCESS_LOG_H
#include <stdbool.h>
#include <stddef.h>

/* The access log: one JSON line per request, appended with one write() so
 * lines from many workers never interleave. Reopened on SIGUSR1. */
int access_log_open(const char *path); /* "" or NULL: off */
int access_log_reopen(void);
bool access_log_on(void);
void access_log_write(const char *line, size_t len);

/* One request's line. Strings are written escaped as JSON needs ('"', '\\'
 * and control bytes; the rest as it is); cart NULL is written null. */
typedef struct {
	const char *time, *request_id, *method, *route, *mode, *cart;
	int status;
	double duration_ms;
	long db_retries;
} access_entry;

/* The line for e, '\n' included, into out: its length, or 0 when it does
 * not fit in cap bytes (the line is then not written). The pid is the
 * process's as access_log_open() saw it: a worker opens the log once it is
 * forked, and a request costs no getpid(). */
size_t access_log_format(const access_entry *e, char *out, size_t cap);

#endif
