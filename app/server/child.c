#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/log.h"
#include "server/worker.h"

volatile sig_atomic_t child_stop, child_reopen_logs;
/* See child_stop_closes(): -1 until a worker sets them. */
static volatile sig_atomic_t stop_listen_fd = -1, stop_dead_fd = -1;

static void on_stop(int sig)
{
	(void)sig;
	int saved = errno;
	child_stop = 1;
	/* php-fpm's way: put a socket that never listens where the listening
	 * one was. An accept() the worker is about to enter (it checked
	 * child_stop just before this handler ran) then fails at once instead
	 * of waiting for a connection: no window, and no need for the master
	 * to signal again. dup2 is async-signal-safe. */
	if (stop_listen_fd >= 0 && stop_dead_fd >= 0)
		(void)dup2(stop_dead_fd, stop_listen_fd);
	errno = saved;
}

static void on_usr1(int sig)
{
	(void)sig;
	child_reopen_logs = 1;
}

void child_stop_closes(int listen_fd, int dead_fd)
{
	stop_dead_fd = dead_fd;
	stop_listen_fd = listen_fd;
}

int child_signals_setup(int master_pid)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must break a blocking accept() or ppoll().
	 * Requests run with these signals blocked, so no database call sees
	 * EINTR. */
	int rc = 0;
	sa.sa_handler = on_stop;
	rc |= sigaction(SIGTERM, &sa, NULL);
	rc |= sigaction(SIGQUIT, &sa, NULL);
	rc |= sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	rc |= sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	rc |= sigaction(SIGHUP, &sa, NULL); /* reload is the master's business */
	rc |= sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	rc |= sigaction(SIGCHLD, &sa, NULL);
	if (rc != 0) {
		/* A child without its handlers would die of a stop (no graceful
		 * finish) or of a write to a closed socket: refuse to run. */
		log_error("sigaction failed in child: %s", strerror(errno));
		return -1;
	}
	/* A worker must not outlive its master and serve with stale config. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
		log_error("prctl(PR_SET_PDEATHSIG) failed: %s", strerror(errno));
		return -1;
	}
	if (getppid() != master_pid)
		child_stop = 1; /* the master died before prctl took effect */
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) {
		log_error("sigprocmask failed in child: %s", strerror(errno));
		return -1;
	}
	return 0;
}
