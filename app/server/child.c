#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "server/worker.h"

volatile sig_atomic_t child_stop, child_reopen_logs;

static void on_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	child_reopen_logs = 1;
}

void child_signals_setup(int master_pid)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must break a blocking accept(). Requests
	 * run with these signals blocked, so no database call sees EINTR. */
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL); /* reload is the master's business */
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	/* A worker must not outlive its master and serve with stale config. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master_pid)
		child_stop = 1; /* the master died before prctl took effect */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
