#ifndef STK_LOG_H
#define STK_LOG_H

/* Line-oriented log to LOG_FILE (or stderr). Every line carries the time, the
 * level and the pid; request lines carry the request id. Reopened on SIGUSR1
 * by the master and each worker, for logrotate. */
int log_open(const char *path);
int log_reopen(void);
/* True while lines go to stderr (no LOG_FILE): a command that also prints
 * its report to the terminal then does not print it twice. */
int log_is_stderr(void);
void log_set_request_id(const char *request_id);
void log_msg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_msg("info", __VA_ARGS__)
#define log_warn(...) log_msg("warn", __VA_ARGS__)
#define log_error(...) log_msg("error", __VA_ARGS__)

#endif
