#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG 511

static int open_unix(const char *path, const char *group, char *err, unsigned errlen)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by a crashed run would make bind fail. */
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Born 0660: never world-reachable, not even between bind and chmod. */
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (group != NULL && group[0] != '\0') {
		struct group *g = getgrnam(group);
		if (g == NULL || chown(path, (uid_t)-1, g->gr_gid) != 0) {
			snprintf(err, errlen, "cannot give %s to group %s", path, group);
			goto fail;
		}
	}
	if (chmod(path, 0660) != 0 || listen(fd, BACKLOG) != 0) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* The address of a TCP spec, checked: one IPv4 address, never all of them,
 * and off loopback only with named peers. */
static int parse_tcp(const char *spec, bool has_peers, struct sockaddr_in *sa, char *err, unsigned errlen)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
		snprintf(err, errlen, "LISTEN must be unix:/path or an IPv4 address and a port (127.0.0.1:9000)");
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (*end != '\0' || port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		snprintf(err, errlen, "LISTEN %s: an IPv4 address and a port (1..65535) are needed", spec);
		return -1;
	}
	uint32_t a = ntohl(sa->sin_addr.s_addr);
	/* Never every interface: the socket faces only the network it names. */
	if (a == INADDR_ANY || a == INADDR_BROADCAST || IN_MULTICAST(a)) {
		snprintf(err, errlen, "LISTEN %s: name the one address to listen on, not all of them", spec);
		return -1;
	}
	/* FastCGI has no authentication and the app believes the parameters
	 * its peer sends (REMOTE_ADDR opens the operator routes on loopback):
	 * off loopback, only the named web servers may connect. */
	if ((a >> 24) != 127 && !has_peers) {
		snprintf(err, errlen,
			 "LISTEN %s is off loopback: set LISTEN_ALLOW to the web servers that may connect", spec);
		return -1;
	}
	return 0;
}

static bool names_peers(const char *allow)
{
	return allow != NULL && allow[strspn(allow, " \t")] != '\0';
}

int listen_check(const char *spec, const char *allow, char *err, unsigned errlen)
{
	if (strncmp(spec, "unix:", 5) == 0) {
		if (names_peers(allow)) {
			snprintf(err, errlen, "LISTEN_ALLOW is for a TCP LISTEN; a unix socket is guarded by its mode");
			return -1;
		}
		return 0;
	}
	struct sockaddr_in sa;
	return parse_tcp(spec, names_peers(allow), &sa, err, errlen);
}

static int open_tcp(const char *spec, bool has_peers, char *err, unsigned errlen)
{
	struct sockaddr_in sa;
	if (parse_tcp(spec, has_peers, &sa, err, errlen) != 0)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, BACKLOG) != 0) {
		snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int listen_open(const char *spec, const char *group, const char *allow, char *err, unsigned errlen)
{
	if (listen_check(spec, allow, err, errlen) != 0)
		return -1;
	if (strncmp(spec, "unix:", 5) == 0)
		return open_unix(spec + 5, group, err, errlen);
	return open_tcp(spec, names_peers(allow), err, errlen);
}

void listen_cleanup(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		unlink(spec + 5);
}
