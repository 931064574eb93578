#include "core/access_log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int access_fd = -1;
static char access_path[512];
static int access_pid;

int access_log_open(const char *path)
{
	access_pid = (int)getpid();
	if (path == NULL || path[0] == '\0')
		return 0;
	snprintf(access_path, sizeof access_path, "%s", path);
	return access_log_reopen();
}

int access_log_reopen(void)
{
	if (access_path[0] == '\0')
		return 0;
	int fd = open(access_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (access_fd >= 0)
		close(access_fd);
	access_fd = fd;
	return 0;
}

bool access_log_on(void)
{
	return access_fd >= 0;
}

void access_log_write(const char *line, size_t len)
{
	if (access_fd < 0)
		return;
	ssize_t w = write(access_fd, line, len);
	(void)w; /* a full disk must not fail the request */
}

/* A line under construction: n bytes used of cap; past cap it stays full. */
typedef struct {
	char *b;
	size_t n, cap;
} line_buf;

static void put(line_buf *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line_buf *l, const char *fmt, ...)
{
	if (l->n >= l->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(l->b + l->n, l->cap - l->n, fmt, ap);
	va_end(ap);
	l->n = w < 0 ? l->cap : l->n + (size_t)w;
}

static void put_string(line_buf *l, const char *s)
{
	if (s == NULL) {
		put(l, "null");
		return;
	}
	put(l, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p && l->n < l->cap; p++) {
		if (*p == '"' || *p == '\\')
			put(l, "\\%c", *p);
		else if (*p < 0x20)
			put(l, "\\u%04x", *p);
		else
			l->b[l->n++] = (char)*p;
	}
	put(l, "\"");
}

size_t access_log_format(const access_entry *e, char *out, size_t cap)
{
	line_buf l = { out, 0, cap };
	put(&l, "{\"time\":");
	put_string(&l, e->time);
	put(&l, ",\"request_id\":");
	put_string(&l, e->request_id);
	put(&l, ",\"method\":");
	put_string(&l, e->method);
	put(&l, ",\"route\":");
	put_string(&l, e->route);
	put(&l, ",\"status\":%d,\"duration_ms\":%.3f,\"mode\":", e->status, e->duration_ms);
	put_string(&l, e->mode);
	put(&l, ",\"cart\":");
	put_string(&l, e->cart);
	put(&l, ",\"pid\":%d,\"db_retries\":%ld}\n", access_pid, e->db_retries);
	/* vsnprintf wrote a NUL in the last byte it had: a line that reached
	 * cap did not fit. */
	return l.n < cap ? l.n : 0;
}
