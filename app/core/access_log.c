#include "core/access_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int access_fd = -1;
static char access_path[512];

int access_log_open(const char *path)
{
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

void access_log_write(const char *line, size_t len)
{
	if (access_fd < 0)
		return;
	ssize_t w = write(access_fd, line, len);
	(void)w; /* a full disk must not fail the request */
}
