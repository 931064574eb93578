"""Helpers of the fault scenarios: processes of the stack, figures, a second master."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import lib  # noqa: E402
from load import Load, verify  # noqa: E402,F401

STOCKD_BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
FIGURES = os.path.join(lib.STACK_DIR or "/tmp", "faults-figures.jsonl")


# --- processes ------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid) from /proc/PID/stat, or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def alive(pid):
    """Running (a zombie waiting to be reaped counts as gone, as in deploy/stack)."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


wchan = lib.wchan


def children(pid):
    """Live children of pid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None and st[1] == pid and st[0] != "Z":
                out.append(int(d))
    return sorted(out)


def environ_has(pid, needle):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return needle.encode() in f.read().split(b"\0")
    except OSError:
        return False


def stack_processes(pid_file):
    """Every live process started for the master whose PID_FILE is pid_file (children inherit it)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and alive(int(d)) and environ_has(int(d), "PID_FILE=" + pid_file):
            try:
                exe = os.readlink("/proc/%s/exe" % d)
            except OSError:
                continue
            if os.path.basename(exe).startswith("stockd"):
                out.append(int(d))
    return sorted(out)


# An idle worker waits in accept() on the unix socket; one in a request waits for MariaDB's reply in poll()
# (libmariadb's read timeout); the sweeper between sweeps sleeps in nanosleep.
IDLE_WCHAN = ("__skb_wait_for_more_packets", "inet_csk_accept", "unix_accept")
DB_WAIT_WCHAN = ("poll_schedule_timeout", "do_sys_poll", "wait_woken", "unix_stream_read_generic", "sk_wait_data")


def is_idle(pid):
    w = wchan(pid)
    return w in IDLE_WCHAN or "accept" in w


def waits_on_db(pid):
    return wchan(pid).startswith(DB_WAIT_WCHAN)


def status_full():
    r = lib.get("/status?full")
    assert r.status == 200, r
    return r.json


def pool_pids():
    """Worker pids as the app's own status page lists them."""
    return sorted(p["pid"] for p in status_full()["processes"])


def sweeper_of(master, workers=None):
    """The master's child that is not a worker. With `workers` None, the child not waiting in accept()
    and not listed on the status page (for a master nginx cannot reach: the child not in accept())."""
    kids = children(master)
    if workers is None:
        try:
            listed = set(pool_pids())
        except (AssertionError, OSError):
            listed = set()
        cand = [p for p in kids if p not in listed]
    else:
        cand = [p for p in kids if p not in workers]
    if len(cand) > 1:
        cand = [p for p in cand if not is_idle(p)]
    return cand[0] if len(cand) == 1 else None


def wait_pool(configured, timeout=30):
    """Until the app reports `configured` workers idle or busy and the master has them plus its sweeper."""
    def ok():
        try:
            m = lib.metrics()
        except (AssertionError, OSError):
            return False
        n = lib.metric(m, "stockd_workers_idle") + lib.metric(m, "stockd_workers_busy")
        return n == configured and len(children(lib.app_pid())) == configured + 1
    lib.wait_until(ok, timeout, 0.2, "the pool back to %d workers plus the sweeper" % configured)


def wait_ready(timeout=30):
    lib.wait_until(lambda: _status("/readyz") == 200, timeout, 0.1, "/readyz 200")


def _status(path):
    try:
        return lib.get(path, timeout=10).status
    except OSError:
        return None


def mysqld_pid():
    with open(os.path.join(lib.STACK_DIR, "run", "mysqld.pid")) as f:
        return int(f.read().strip())


class DbSession:
    """One mariadb client session kept open: a query in well under a millisecond, for tight sampling loops."""

    def __init__(self):
        self.proc = subprocess.Popen(["mariadb", "--no-defaults", "--socket=" + lib.DB_SOCKET, "-uroot", lib.DB_NAME,
                                      "-N", "-B", "--unbuffered"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def int(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the mariadb session ended"
        return int(line.strip())

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sleeping(pid):
    """The sweeper between two sweeps: asleep in nanosleep."""
    return "nanosleep" in wchan(pid)


# --- figures --------------------------------------------------------------------

def report(scenario, **figures):
    """Print this scenario's figures and keep them for the summary (and docs/reliability.md)."""
    line = ", ".join("%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v) for k, v in figures.items())
    print("\n  figures[%s]: %s" % (scenario, line), flush=True)
    with open(FIGURES, "a") as f:
        f.write(json.dumps({"scenario": scenario, **figures}) + "\n")


def hot_products(n=3, stock=3000, price_cents=250):
    return [lib.make_product(stock=stock, price_cents=price_cents)["id"] for _ in range(n)]


# --- a second master against the same database -------------------------------------------

class SecondMaster:
    """`stockd serve` on its own socket, pid file and log, against the stack's database: a second
    sweeper started by mistake (and a second pool nobody sends requests to)."""

    def __init__(self, workers=1):
        run = os.path.join(lib.STACK_DIR, "run")
        self.sock = os.path.join(run, "second.sock")
        self.pid_file = os.path.join(run, "second.pid")
        self.log = os.path.join(lib.STACK_DIR, "log", "second.log")
        env = dict(os.environ)
        # the environment deploy/stack's app_env gives the stack's own master
        env.update({
            "DB_SOCKET": lib.DB_SOCKET, "DB_USER": "stockd", "DB_PASSWORD": "stockd", "DB_NAME": lib.DB_NAME,
            "STOCKD_CONF": lib.STOCKD_CONF, "LISTEN": "unix:" + self.sock, "PID_FILE": self.pid_file,
            "LOG_FILE": self.log, "ACCESS_LOG": os.path.join(lib.STACK_DIR, "log", "second-access.log"),
            "WORKERS": str(workers),
        })
        self.workers = workers
        self.err = open(os.path.join(lib.STACK_DIR, "log", "second.stderr"), "ab")
        self.proc = subprocess.Popen([STOCKD_BIN, "serve"], env=env, stdout=self.err, stderr=self.err,
                                     start_new_session=True)
        lib.wait_until(lambda: os.path.exists(self.sock) and len(children(self.proc.pid)) == workers + 1, 20, 0.1,
                       "the second master's pool")

    @property
    def pid(self):
        return self.proc.pid

    def sweeper(self):
        kids = children(self.pid)
        if len(kids) != self.workers + 1:
            return None
        # nobody sends this pool a request: its workers wait in accept(), the sweeper does not
        cand = [p for p in kids if not is_idle(p)]
        return cand[0] if len(cand) == 1 else None

    def stop(self):
        lib.stop_process(self.proc)
        self.err.close()
        left = stack_processes(self.pid_file)
        for p in left:
            os.kill(p, signal.SIGKILL)
        return left


class FaultTest(unittest.TestCase):
    maxDiff = None

    def assertNoProblems(self, problems, what):
        self.assertEqual(problems[:20], [], "%s: %d problems" % (what, len(problems)))

    def settle(self):
        """The stack is whole again: database ready, the pool complete."""
        wait_ready(60)
        wait_pool(int(lib.conf_value("WORKERS", "4")), 60)


def now():
    return time.monotonic()
