#include "server/master.h"

#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/scoreboard.h"
#include "server/listen.h"
#include "server/notify.h"
#include "server/worker.h"

/* The master's own view of its children; the shared scoreboard holds what
 * the workers report. Slot i of workers[] is scoreboard slot i. */
typedef enum { KIND_WORKER, KIND_SWEEPER } child_kind;

typedef struct {
	pid_t pid;              /* 0: free */
	child_kind kind;
	int generation;         /* config generation it runs */
	int64_t started_ms;
	int retiring;           /* told to stop; not replaced when it goes */
	int killed_for_timeout;
} child;

#define MAX_CHILDREN (SB_MAX_WORKERS + 1)
#define SWEEPER_SLOT SB_MAX_WORKERS
/* A child that dies younger than this counts towards crash-loop back-off. */
#define YOUNG_DEATH_MS 2000
#define BACKOFF_MAX_MS 5000

typedef struct {
	stk_config *cfg;
	const char *conf_path;
	scoreboard *sb;
	int listen_fd;
	int generation;
	child children[MAX_CHILDREN];
	int crash_streak;
	int64_t next_spawn_ms;  /* crash-loop back-off: no spawn before this */
	int stopping;
	int64_t stop_deadline_ms;
	/* Binary upgrade (SIGUSR2), the nginx way: this master execs the new
	 * binary with the listening socket; the new master, once its workers
	 * accept, tells this one to drain and exit. */
	pid_t successor;        /* the new master we started, while it starts */
	int handed_over;        /* the socket now belongs to the successor */
	pid_t predecessor;      /* the old master to retire once we are ready */
	int ready_sent;         /* told systemd we serve (at start, after reload) */
} master;

static pid_t spawn(master *m, int slot, child_kind kind)
{
	child *c = &m->children[slot];
	if (kind == KIND_WORKER) {
		sb_worker *w = &m->sb->workers[slot];
		atomic_store(&w->state, WORKER_STARTING);
		atomic_store(&w->request_start_ms, 0);
		atomic_store(&w->generation, m->generation);
		atomic_store(&w->db_node, -1); /* not connected yet */
	}
	pid_t master_pid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork failed: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (child_signals_setup(master_pid) != 0)
			_exit(WORKER_EXIT_FAILED);
		int status = kind == KIND_WORKER ? worker_run(m->cfg, m->listen_fd, m->sb, slot)
						 : sweeper_run(m->cfg, m->sb);
		_exit(status);
	}
	*c = (child){ pid, kind, m->generation, clock_mono_ms(), 0, 0 };
	if (kind == KIND_WORKER)
		atomic_store(&m->sb->workers[slot].pid, pid);
	return pid;
}

static int find_child(master *m, pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (m->children[i].pid == pid)
			return i;
	return -1;
}

/* Reap every exited child and count why it went. */
static void reap(master *m)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->successor) {
			/* The new master died before taking over: we keep serving. */
			log_error("upgrade failed: new master %d exited (status %d); still serving", (int)pid, status);
			m->successor = 0;
			continue;
		}
		int slot = find_child(m, pid);
		if (slot < 0)
			continue;
		child *c = &m->children[slot];
		int64_t lived = clock_mono_ms() - c->started_ms;
		int clean = WIFEXITED(status) && (WEXITSTATUS(status) == WORKER_EXIT_STOP ||
						  WEXITSTATUS(status) == WORKER_EXIT_RECYCLE);
		if (c->killed_for_timeout) {
			sb_add(&m->sb->restarts[RESTART_TIMEOUT], 1);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_RECYCLE) {
			sb_add(&m->sb->restarts[RESTART_RECYCLE], 1);
		} else if (!clean && !(c->retiring && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
			sb_add(&m->sb->restarts[RESTART_CRASH], 1);
			if (WIFSIGNALED(status))
				log_warn("child %d died of signal %d", (int)pid, WTERMSIG(status));
			else
				log_warn("child %d exited with status %d", (int)pid, WEXITSTATUS(status));
			/* Crash-loop protection: back off exponentially while
			 * children keep dying young. */
			if (lived < YOUNG_DEATH_MS) {
				if (m->crash_streak < 16)
					m->crash_streak++;
				int64_t wait = 50LL << (m->crash_streak < 7 ? m->crash_streak : 7);
				m->next_spawn_ms = clock_mono_ms() + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
			}
		}
		if (lived >= YOUNG_DEATH_MS)
			m->crash_streak = 0;
		if (c->kind == KIND_WORKER) {
			atomic_store(&m->sb->workers[slot].state, WORKER_EMPTY);
			atomic_store(&m->sb->workers[slot].pid, 0);
		}
		memset(c, 0, sizeof *c);
	}
}

/* Kill workers stuck in one request past REQUEST_TIMEOUT; the database
 * rolls back whatever transaction they had open. */
static void enforce_timeouts(master *m)
{
	int64_t now = clock_mono_ms();
	for (int i = 0; i < SB_MAX_WORKERS; i++) {
		child *c = &m->children[i];
		if (c->pid == 0 || c->killed_for_timeout)
			continue;
		int64_t start = atomic_load(&m->sb->workers[i].request_start_ms);
		if (atomic_load(&m->sb->workers[i].state) == WORKER_BUSY && start > 0 &&
		    now - start > m->cfg->request_timeout_ms) {
			log_warn("worker %d exceeded REQUEST_TIMEOUT; killing it", (int)c->pid);
			c->killed_for_timeout = 1;
			kill(c->pid, SIGKILL);
		}
	}
}

typedef struct {
	int fresh, stale, retiring, fresh_ready;
} census;

static census count(master *m)
{
	census k = { 0, 0, 0, 0 };
	for (int i = 0; i < SB_MAX_WORKERS; i++) {
		child *c = &m->children[i];
		if (c->pid == 0)
			continue;
		if (c->retiring) {
			k.retiring++;
		} else if (c->generation == m->generation) {
			k.fresh++;
			k.fresh_ready += atomic_load(&m->sb->workers[i].state) >= WORKER_IDLE;
		} else {
			k.stale++;
		}
	}
	return k;
}

static void retire(master *m, int slot)
{
	m->children[slot].retiring = 1;
	kill(m->children[slot].pid, SIGTERM);
}

static int free_slot(master *m)
{
	for (int i = 0; i < SB_MAX_WORKERS; i++)
		if (m->children[i].pid == 0)
			return i;
	return -1;
}

/* Bring the pool to WORKERS workers of the current config generation. A
 * reload replaces them one at a time, new first: the pool grows to
 * WORKERS + 1, and a stale worker is asked to finish only once its
 * replacement is accepting, so capacity never drops and nothing is refused. */
static void reconcile(master *m)
{
	int64_t now = clock_mono_ms();
	int want = (int)m->cfg->workers;
	census k = count(m);
	if (k.fresh < want && k.fresh + k.stale <= want && now >= m->next_spawn_ms) {
		int slot = free_slot(m);
		if (slot >= 0 && spawn(m, slot, KIND_WORKER) > 0)
			k = count(m);
	}
	if (k.stale > 0 && k.retiring == 0 && k.fresh_ready == k.fresh && k.fresh + k.stale > want) {
		for (int i = 0; i < SB_MAX_WORKERS; i++) {
			child *c = &m->children[i];
			if (c->pid && !c->retiring && c->generation != m->generation) {
				retire(m, i);
				break;
			}
		}
		k = count(m);
	}
	/* WORKERS lowered by a reload: retire the extra fresh ones. */
	for (int i = SB_MAX_WORKERS - 1; i >= 0 && k.stale == 0 && k.fresh > want; i--) {
		child *c = &m->children[i];
		if (c->pid && !c->retiring) {
			retire(m, i);
			k.fresh--;
			k.retiring++;
		}
	}
	child *sw = &m->children[SWEEPER_SLOT];
	if (sw->pid == 0 && now >= m->next_spawn_ms)
		spawn(m, SWEEPER_SLOT, KIND_SWEEPER);
	else if (sw->pid != 0 && sw->generation != m->generation && !sw->retiring)
		retire(m, SWEEPER_SLOT);
	atomic_store(&m->sb->workers_configured, want);
	atomic_store(&m->sb->reload_in_progress, k.stale > 0 || k.retiring > 0 || k.fresh != want);
}

static void reload(master *m)
{
	stk_config next;
	char err[400];
	if (config_load(&next, m->conf_path, err, sizeof err) != 0) {
		log_error("reload refused, keeping the running config: %s", err);
		/* Logged only, a refusal looked like success to whoever sent the
		 * HUP: /metrics, /status and systemctl status say it too. */
		sb_add(&m->sb->reloads_refused, 1);
		atomic_store(&m->sb->last_reload_ok, 0);
		scoreboard_set_refusal(m->sb, clock_now_ms(), err);
		char state[sizeof err + 64];
		snprintf(state, sizeof state, "STATUS=reload refused, running config kept: %s", err);
		notify_systemd(state);
		return;
	}
	/* The socket, pid file and log stay as they are: they belong to this
	 * master's life, not to its config generation. */
	memcpy(next.listen, m->cfg->listen, sizeof next.listen);
	memcpy(next.listen_allow, m->cfg->listen_allow, sizeof next.listen_allow);
	memcpy(next.pid_file, m->cfg->pid_file, sizeof next.pid_file);
	memcpy(next.log_file, m->cfg->log_file, sizeof next.log_file);
	*m->cfg = next;
	m->generation++;
	m->ready_sent = 0;
	atomic_store(&m->sb->last_reload_ok, 1);
	notify_systemd("RELOADING=1\nSTATUS=");
	atomic_store(&m->sb->config_generation, m->generation);
	atomic_store(&m->sb->reload_in_progress, 1);
	log_info("reloading: config generation %d", m->generation);
}

static void signal_children(master *m, int sig)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (m->children[i].pid)
			kill(m->children[i].pid, sig);
}

static int children_alive(master *m)
{
	int n = 0;
	for (int i = 0; i < MAX_CHILDREN; i++)
		n += m->children[i].pid != 0;
	return n;
}

static void begin_stop(master *m)
{
	if (m->stopping)
		return;
	m->stopping = 1;
	if (!m->handed_over && m->successor == 0)
		notify_systemd("STOPPING=1");
	m->stop_deadline_ms = clock_mono_ms() + m->cfg->stop_timeout_ms;
	log_info("stopping: in-flight requests finish, then the workers exit");
	/* One TERM each: a child hears it wherever it waits (worker.c), and a
	 * busy worker has it pending until its request is done. */
	for (int i = 0; i < MAX_CHILDREN; i++) {
		child *c = &m->children[i];
		if (c->pid == 0)
			continue;
		c->retiring = 1;
		kill(c->pid, SIGTERM);
	}
}

/* During a stop: KILL what is left at the deadline. */
static void drive_stop(master *m)
{
	if (clock_mono_ms() >= m->stop_deadline_ms)
		signal_children(m, SIGKILL);
}

/* Start the new binary as our successor, handing it the listening socket
 * through the environment (STOCKD_LISTEN_FD), as php-fpm and nginx do. */
static void start_successor(master *m)
{
	if (m->successor != 0) {
		log_warn("upgrade already in progress (new master %d)", (int)m->successor);
		return;
	}
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		log_error("upgrade: cannot find my binary");
		return;
	}
	self[n] = '\0';
	/* A binary replaced on disk shows as "path (deleted)": exec the path,
	 * which is where the new binary now is. */
	char *deleted = strstr(self, " (deleted)");
	if (deleted != NULL)
		*deleted = '\0';
	pid_t pid = fork();
	if (pid < 0) {
		log_error("upgrade: fork failed: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		char fd[16], parent[16];
		snprintf(fd, sizeof fd, "%d", m->listen_fd);
		snprintf(parent, sizeof parent, "%d", (int)getppid());
		int flags = fcntl(m->listen_fd, F_GETFD);
		if (flags < 0 || fcntl(m->listen_fd, F_SETFD, flags & ~FD_CLOEXEC) != 0 ||
		    setenv("STOCKD_LISTEN_FD", fd, 1) != 0 || setenv("STOCKD_PREDECESSOR", parent, 1) != 0)
			_exit(1);
		sigset_t none;
		sigemptyset(&none);
		if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
			_exit(1);
		char *argv[] = { self, "serve", NULL };
		execv(self, argv);
		_exit(127);
	}
	m->successor = pid;
	log_info("upgrade: new master %d starting from %s", (int)pid, self);
}

/* In the new master: once every worker accepts, the old master may go. */
static void retire_predecessor(master *m)
{
	if (m->predecessor == 0 || count(m).fresh_ready < (int)m->cfg->workers)
		return;
	if (getppid() == m->predecessor) {
		char state[64];
		snprintf(state, sizeof state, "MAINPID=%d\nREADY=1", (int)getpid());
		notify_systemd(state);
		log_info("upgrade: workers ready; telling old master %d to finish", (int)m->predecessor);
		kill(m->predecessor, SIGQUIT);
	}
	m->predecessor = 0;
	m->ready_sent = 1;
}

static int write_pid_file(const char *path)
{
	if (path[0] == '\0')
		return 0;
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fprintf(f, "%d\n", (int)getpid()) > 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

int master_run(stk_config *cfg, const char *conf_path)
{
	master m;
	memset(&m, 0, sizeof m);
	m.cfg = cfg;
	m.conf_path = conf_path;
	m.generation = 1;

	/* The master takes its signals synchronously (sigtimedwait): no
	 * handlers, no races between a check and a wait. */
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_error("cannot set up the master's signals: %s", strerror(errno));
		return 1;
	}

	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return 1;
	}
	m.sb = scoreboard_create();
	if (m.sb == NULL) {
		log_error("cannot map the scoreboard");
		return 1;
	}
	atomic_store(&m.sb->config_generation, m.generation);
	atomic_store(&m.sb->master_started_ms, clock_now_ms());
	char err[300];
	const char *inherited = getenv("STOCKD_LISTEN_FD");
	if (inherited != NULL) {
		/* Started by an old master for an upgrade: its socket, not a new one. */
		m.listen_fd = atoi(inherited);
		const char *pred = getenv("STOCKD_PREDECESSOR");
		m.predecessor = pred ? (pid_t)atoi(pred) : 0;
		unsetenv("STOCKD_LISTEN_FD");
		unsetenv("STOCKD_PREDECESSOR");
		if (m.listen_fd < 3 || fcntl(m.listen_fd, F_SETFD, FD_CLOEXEC) != 0) {
			log_error("inherited socket %s is not usable", inherited);
			return 1;
		}
		if (listen_check(cfg->listen, cfg->listen_allow, err, sizeof err) != 0) {
			log_error("%s", err);
			return 1;
		}
	} else {
		m.listen_fd = listen_open(cfg->listen, cfg->listen_group, cfg->listen_allow, err, sizeof err);
		if (m.listen_fd < 0) {
			log_error("%s", err);
			return 1;
		}
	}
	if (write_pid_file(cfg->pid_file) != 0) {
		log_error("cannot write pid file %s", cfg->pid_file);
		return 1;
	}
	log_info("master %d listening on %s with %ld workers", (int)getpid(), cfg->listen, cfg->workers);

	for (;;) {
		struct timespec tick = { 0, 50 * 1000000L };
		siginfo_t info;
		int sig = sigtimedwait(&set, &info, &tick);
		switch (sig) {
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			begin_stop(&m);
			break;
		case SIGHUP:
			if (!m.stopping)
				reload(&m);
			break;
		case SIGUSR2:
			if (!m.stopping)
				start_successor(&m);
			break;
		case SIGUSR1:
			log_reopen();
			signal_children(&m, SIGUSR1);
			break;
		default:
			break;
		}
		reap(&m);
		if (m.stopping && m.successor != 0) {
			/* Told to go by our successor: its socket now. */
			m.handed_over = 1;
		}
		if (m.stopping) {
			if (children_alive(&m) == 0)
				break;
			drive_stop(&m);
			continue;
		}
		enforce_timeouts(&m);
		reconcile(&m);
		retire_predecessor(&m);
		if (!m.ready_sent && m.predecessor == 0 && !atomic_load(&m.sb->reload_in_progress)) {
			notify_systemd("READY=1");
			m.ready_sent = 1;
		}
	}
	if (!m.handed_over) {
		listen_cleanup(cfg->listen);
		if (cfg->pid_file[0])
			unlink(cfg->pid_file);
	}
	log_info("master stopped");
	return 0;
}
