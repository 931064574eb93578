#include "core/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

static int log_fd = STDERR_FILENO;
static char log_path[512];
static char log_request_id[40];

int log_open(const char *path)
{
	if (path == NULL || path[0] == '\0') {
		log_fd = STDERR_FILENO;
		return 0;
	}
	snprintf(log_path, sizeof log_path, "%s", path);
	return log_reopen();
}

int log_reopen(void)
{
	if (log_path[0] == '\0')
		return 0;
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int log_is_stderr(void) { return log_fd == STDERR_FILENO; }

void log_set_request_id(const char *request_id)
{
	snprintf(log_request_id, sizeof log_request_id, "%s", request_id ? request_id : "");
}

void log_msg(const char *level, const char *fmt, ...)
{
	char line[2048];
	char ts[25];
	clock_format_ms(clock_now_ms(), ts);
	int n = snprintf(line, sizeof line, "%s %s [%d]%s%s ", ts, level, (int)getpid(),
			 log_request_id[0] ? " req=" : "", log_request_id);
	if (n < 0 || (size_t)n >= sizeof line)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	/* One write per line so lines from many workers never interleave. */
	ssize_t w = write(log_fd, line, len);
	(void)w;
}
