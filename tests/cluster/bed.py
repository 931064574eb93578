"""The cluster test bed of issue 12: three Galera nodes, two app hosts, one nginx.

Every host is a network namespace of this run (`ip netns`), joined to a Linux
bridge of this run by a veth pair, on a private /24 (10.177.N.0/24, N picked
free at start); the root namespace holds .1 on the bridge, so nginx (on
127.0.0.1:<free port>) and the test client reach every host, and nothing
else does. Names carry the pid of the run (prefix `skc<pid>`), everything is
removed at the end, also on failure or Ctrl-C, and what an earlier run that
was killed left behind (same prefix, dead pid) is removed first.

    db1 .11, db2 .12, db3 .13   mariadbd --no-defaults, wsrep on, datadir etc. in the run's temp dir
    app1 .21, app2 .22          the stockd master (app/build/stockd serve) on <address>:9000
    root namespace .1           nginx: upstream both app hosts, the project's own location snippets

Every wait here is bounded in count and time (`wait_until`).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
STOCKD_BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
PROVIDER = "/usr/lib/galera/libgalera_smm.so"
PREFIX = "skc"          # every namespace, link and temp dir of this bed starts with it
DB_PORT = 3306
APP_PORT = 9000
DB_USER, DB_PASSWORD, DB_NAME = "stockd", "stockd-cluster", "stockd"
# mariadbd runs as the mysql user (mariadb-server creates it): the rsync SST's daemon on a joiner then
# writes as that user too (run as root, rsync's daemon would switch to nobody and could not write).
DB_OS_USER = "mysql"

# DB_HOST is an ordered list of the nodes (every (re)connect takes the first that answers and is ready);
# CLUSTER_DB_LISTS=0 gives each app host the first node of its list only, as stockd before issue 12 took.
DB_HOST_LISTS = os.environ.get("CLUSTER_DB_LISTS", "1") == "1"

# Galera's failure detection, shortened for tests (defaults: suspect 5 s, inactive 15 s, keepalive 1 s):
# a node that stops answering is suspected after 2 s and dropped from the view after 3 s. gcache 256M
# holds every write set a scenario makes, so a node that was away rejoins by IST, never by SST.
PROVIDER_OPTIONS = ("gcache.size=256M; evs.keepalive_period=PT0.3S; evs.inactive_check_period=PT0.5S; "
                    "evs.suspect_timeout=PT2S; evs.inactive_timeout=PT3S; evs.install_timeout=PT3S; "
                    "evs.join_retrans_period=PT0.5S; gmcast.peer_timeout=PT3S; pc.announce_timeout=PT1S")


def log(msg):
    print("bed: %s" % msg, file=sys.stderr, flush=True)


def sh(args, check=True, timeout=60, ns=None, **kw):
    if ns is not None:
        args = ["ip", "netns", "exec", ns] + list(args)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, (r.stderr or r.stdout)[-2000:]))
    return r


def wait_until(pred, timeout, interval=0.1, what="condition"):
    """pred() until true: at most `timeout` seconds and timeout/interval + 1 tries."""
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 1
    for _ in range(tries + 1):
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def free_port():
    """A TCP port on 127.0.0.1 that nothing is bound to now: deploy/free-ports, as every stack takes its ports."""
    out = subprocess.run([os.path.join(HERE, "..", "..", "deploy", "free-ports")], check=True, capture_output=True,
                         text=True).stdout
    return int(out)


def pid_alive(pid):
    """Running (a zombie counts as gone): tests/faults/faultlib.py's alive()."""
    return _faultlib().alive(pid)


def children(pid):
    return _faultlib().children(pid)


def sigkill(pids):
    """SIGKILL each of them; one already gone is no error."""
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def _faultlib():
    """The fault suite's helpers, imported on first use: they import tests/integration/lib.py, which reads
    BASE_URL and DB_SOCKET once, so only after Bed.start() exported the bed's."""
    if os.environ.get("STACK_DIR", "").find("stockd-cluster-") < 0:
        raise RuntimeError("the fault suite's helpers are imported only once the bed's environment is exported")
    for d in ("faults", "integration"):
        path = os.path.join(HERE, "..", d)
        if path not in sys.path:
            sys.path.insert(0, path)
    import faultlib
    return faultlib


# --- stale things of an earlier, killed run ------------------------------------------------------

_NAME_RE = re.compile(r"^%s(\d+)" % PREFIX)


def _stale_pid(name):
    m = _NAME_RE.match(name)
    if not m:
        return None
    pid = int(m.group(1))
    return pid if pid != os.getpid() and not os.path.exists("/proc/%d" % pid) else None


def clean_stale():
    """Remove the namespaces, links and temp dirs of runs of this bed whose process is gone."""
    for line in sh(["ip", "netns", "list"], check=False).stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        if _stale_pid(ns) is None:
            continue
        log("removing stale namespace %s" % ns)
        for p in sh(["ip", "netns", "pids", ns], check=False).stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        sh(["ip", "netns", "del", ns], check=False)
    for line in sh(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if _stale_pid(name) is not None:
                log("removing stale link %s" % name)
                sh(["ip", "link", "del", name], check=False)
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        if d.startswith("stockd-cluster-" + PREFIX) and _stale_pid(d[len("stockd-cluster-"):]) is not None:
            path = os.path.join(tmp, d)
            pidf = os.path.join(path, "run", "nginx.pid")
            try:
                with open(pidf) as f:
                    npid = int(f.read().strip())
                with open("/proc/%d/cmdline" % npid, "rb") as f:
                    if path.encode() in f.read():
                        os.kill(npid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
            log("removing stale directory %s" % path)
            shutil.rmtree(path, ignore_errors=True)


def _pick_subnet():
    used = sh(["ip", "-4", "-o", "addr", "show"]).stdout + sh(["ip", "-4", "route", "show", "table", "all"],
                                                              check=False).stdout
    start = os.getpid() % 200 + 20
    for i in range(200):
        n = (start + i) % 240 + 10
        if ("10.177.%d." % n) not in used:
            return "10.177.%d" % n
    raise RuntimeError("no free 10.177.N.0/24")


# --- hosts ------------------------------------------------------------------------------------

class Host:
    def __init__(self, bed, name, octet):
        self.bed, self.name = bed, name
        self.addr = "%s.%d" % (bed.net, octet)
        self.ns = "%s-%s" % (bed.rid, name)
        self.veth = "%s%s" % (bed.rid, name)     # the root side, on the bridge
        self.peer = "%sp%s" % (bed.rid, name)    # the namespace side before it is renamed eth0

    def create(self):
        b = self.bed
        sh(["ip", "netns", "add", self.ns])
        sh(["ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer])
        sh(["ip", "link", "set", self.peer, "netns", self.ns])
        sh(["ip", "link", "set", self.veth, "master", b.bridge, "up"])
        sh(["ip", "link", "set", self.peer, "name", "eth0"], ns=self.ns)
        sh(["ip", "addr", "add", self.addr + "/24", "dev", "eth0"], ns=self.ns)
        sh(["ip", "link", "set", "eth0", "up"], ns=self.ns)
        sh(["ip", "link", "set", "lo", "up"], ns=self.ns)

    def exec(self, args, **kw):
        return sh(args, ns=self.ns, **kw)

    def popen(self, args, env=None, log_path=None):
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            return subprocess.Popen(["ip", "netns", "exec", self.ns] + list(args), env=env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if log_path:
                out.close()

    def pids(self):
        return [int(p) for p in sh(["ip", "netns", "pids", self.ns], check=False).stdout.split()]


class DbNode(Host):
    def __init__(self, bed, i):
        super().__init__(bed, "db%d" % i, 10 + i)
        self.i = i
        d = os.path.join(bed.dir, self.name)
        self.dir = d
        self.datadir = os.path.join(d, "data")
        self.sock = os.path.join(d, "mysqld.sock")
        self.pid_file = os.path.join(d, "mysqld.pid")
        self.log = os.path.join(d, "mysqld.log")
        self.proc = None
        self.cut_from = []

    def args(self, bootstrap):
        b = self.bed
        a = ["mariadbd", "--no-defaults", "--user=" + DB_OS_USER, "--datadir=" + self.datadir, "--socket=" + self.sock,
             "--pid-file=" + self.pid_file, "--log-error=" + self.log, "--port=%d" % DB_PORT,
             "--bind-address=" + self.addr, "--skip-name-resolve",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=64M",
             # the single node's durability (deploy/stack): the log flushed at every commit
             "--innodb-flush-log-at-trx-commit=1", "--max-connections=200",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
             # Galera's requirements
             "--binlog-format=ROW", "--default-storage-engine=InnoDB", "--innodb-autoinc-lock-mode=2",
             "--wsrep-on=ON", "--wsrep-provider=" + PROVIDER, "--wsrep-cluster-name=" + b.rid,
             "--wsrep-cluster-address=gcomm://" + ",".join(n.addr for n in b.dbs),
             "--wsrep-node-address=" + self.addr, "--wsrep-node-name=" + self.name,
             "--wsrep-sst-method=rsync", "--wsrep-sst-receive-address=%s:4444" % self.addr,
             "--wsrep-provider-options=%s; gmcast.listen_addr=tcp://%s:4567; ist.recv_addr=%s:4568"
             % (PROVIDER_OPTIONS, self.addr, self.addr)]
        if os.environ.get("CLUSTER_SYNC_WAIT"):  # an experiment's knob: causal reads on every node
            a.append("--wsrep-sync-wait=" + os.environ["CLUSTER_SYNC_WAIT"])
        if bootstrap:
            a.append("--wsrep-new-cluster")
        return a

    def recover_position(self):
        """After a crash grastate.dat says seqno -1: find the last committed position in InnoDB with
        `mariadbd --wsrep-recover` (what the Debian unit's galera_recovery does), to start from it and ask
        for IST instead of a full SST. Returns "uuid:seqno"."""
        args = [a for a in self.args(False) if not a.startswith("--log-error=")]
        rlog = os.path.join(self.dir, "recover.log")
        args += ["--wsrep-recover", "--log-error=" + rlog]
        r = self.exec(args, check=False, timeout=120)
        with open(rlog) as f:
            text = f.read()
        m = re.findall(r"WSREP: Recovered position:\s*(\S+:-?\d+)", text)
        if not m:
            raise AssertionError("%s: --wsrep-recover found no position (rc %d):\n%s" % (self.name, r.returncode,
                                                                                          text[-2000:]))
        return m[-1]

    def start(self, bootstrap=False, position=None):
        os.makedirs(self.datadir, exist_ok=True)
        shutil.chown(self.dir, DB_OS_USER, DB_OS_USER)
        shutil.chown(self.datadir, DB_OS_USER, DB_OS_USER)
        self.log_offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        args = self.args(bootstrap)
        if position:
            args.append("--wsrep-start-position=" + position)
        self.proc = self.popen(args, log_path=os.path.join(self.dir, "mysqld.stdout"))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL mariadbd (ip netns exec execs it: the Popen's pid is mariadbd's)."""
        assert self.running(), "%s is not running" % self.name
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout=60):
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def shutdown(self, timeout=90):
        """A graceful stop, as `systemctl stop mariadb` (a package upgrade) does it: SIGTERM, then wait for
        mariadbd to exit by itself (bounded). Returns (seconds, exit code); never SIGKILLs: a node that does not
        stop within timeout is an AssertionError (the bed's teardown kills it)."""
        assert self.running(), "%s is not running" % self.name
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not stop within %ds of SIGTERM:\n%s" % (self.name, timeout,
                                                                              self.log_since_start()[-3000:]))
        return time.monotonic() - t0, rc

    def sql(self, q, db=None, timeout=60, check=True):
        """Run SQL as root over the node's unix socket (works whatever the network does); rows of strings."""
        args = ["mariadb", "--no-defaults", "--socket=" + self.sock, "-uroot", "-N", "-B", "-e", q]
        if db:
            args.insert(4, db)
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            if check:
                raise AssertionError("SQL on %s failed: %s\n%s" % (self.name, q[:300], r.stderr))
            return None
        return [line.split("\t") for line in r.stdout.splitlines()]

    def status(self):
        """SHOW STATUS LIKE 'wsrep_%' as a dict, or {} when the node does not answer."""
        try:
            rows = self.sql("SHOW STATUS LIKE 'wsrep\\_%'", timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return {}
        return {r[0]: (r[1] if len(r) > 1 else "") for r in rows or []}

    def log_since_start(self):
        try:
            with open(self.log, "rb") as f:
                f.seek(getattr(self, "log_offset", 0))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # partitions: routes to the peers blackholed on both sides (Galera and IST traffic), the node stays
    # reachable from the app hosts and the root namespace.
    def cut(self, peers):
        for p in peers:
            self.exec(["ip", "route", "add", "blackhole", p.addr + "/32"])
            p.exec(["ip", "route", "add", "blackhole", self.addr + "/32"])
        self.cut_from = list(peers)

    def heal(self):
        for p in self.cut_from:
            self.exec(["ip", "route", "del", "blackhole", p.addr + "/32"], check=False)
            p.exec(["ip", "route", "del", "blackhole", self.addr + "/32"], check=False)
        self.cut_from = []


class AppHost(Host):
    def __init__(self, bed, i):
        super().__init__(bed, "app%d" % i, 20 + i)
        self.i = i
        d = os.path.join(bed.dir, self.name)
        self.dir = d
        self.pid_file = os.path.join(d, "stockd.pid")
        self.log = os.path.join(d, "stockd.log")
        self.nodes = []
        self.proc = None
        self.bin = STOCKD_BIN  # the binary start() runs; a scenario may point it at a copy of its own

    def db_host(self):
        addrs = [n.addr for n in self.nodes]
        return ",".join(addrs) if DB_HOST_LISTS else addrs[0]

    def env(self):
        e = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "ASAN_OPTIONS")}
        e.update({
            "STOCKD_CONF": self.bed.conf, "DB_HOST": self.db_host(), "DB_PORT": str(DB_PORT),
            "DB_USER": DB_USER, "DB_PASSWORD": DB_PASSWORD, "DB_NAME": DB_NAME,
            # TCP FastCGI on the host's own address, and only nginx (the root namespace's bridge
            # address) may connect: FastCGI has no authentication
            "LISTEN": "%s:%d" % (self.addr, APP_PORT), "LISTEN_ALLOW": self.bed.net + ".1",
            "PID_FILE": self.pid_file, "LOG_FILE": self.log,
            "ACCESS_LOG": os.path.join(self.dir, "access.log"),
            # nginx passes the client's address; the test client is on loopback (deploy/stack's default)
            "TRUST_LOOPBACK": "true",
        })
        if self.bed.writers == "multi":
            # docs/scaling.md: with several nodes taking writes, certification failures come back as
            # deadlocks, and the default 3 retries run out on a hot product
            e["RETRY_ATTEMPTS"] = "10"
        return e

    def create(self):
        super().create()
        os.makedirs(self.dir, exist_ok=True)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.proc = self.popen([self.bin, "serve"], env=self.env(), log_path=os.path.join(self.dir, "stderr"))
        wait_until(lambda: self.master() is not None and len(children(self.master())) >= self.bed.workers + 1
                   and self.healthz() == 200, 30, 0.1, "%s's master and workers" % self.name)

    def master(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def processes(self):
        """The master and every child of it (workers, sweeper)."""
        m = self.master()
        return [] if m is None else [m] + children(m)

    def kill9(self):
        """SIGKILL the master and its workers and sweeper at once."""
        pids = self.processes()
        assert pids, "%s has no master" % self.name
        sigkill(pids)
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10, 0.02, "%s's processes gone" % self.name)
        if self.proc is not None:
            self.proc.wait(10)
        return pids

    def stop(self):
        m = self.master()
        if m is not None:
            os.kill(m, signal.SIGTERM)
            try:
                wait_until(lambda: not pid_alive(m), 20, 0.1, "%s's master to stop" % self.name)
            except AssertionError:
                sigkill(self.processes())
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def upgrade(self, timeout=90):
        """The project's binary upgrade: deploy/upgrade --pid-file (SIGUSR2 to the master, which starts the
        binary now at its path with the listening socket; the old master drains and exits once the new one's
        workers accept). Returns {rc, out, err, old, new, handover_ms, seconds}; old/new from its report line.
        The old master was our Popen child: reaped here once gone (the new master is its child, not ours)."""
        t0 = time.monotonic()
        r = sh([os.path.join(TOP, "deploy", "upgrade"), "--pid-file", self.pid_file], check=False, timeout=timeout)
        out = {"rc": r.returncode, "out": r.stdout.strip(), "err": r.stderr.strip(), "old": None, "new": None,
               "handover_ms": None, "seconds": time.monotonic() - t0}
        m = re.search(r"upgrade: master (\d+) -> (\d+), hand-over took (\d+) ms", r.stdout)
        if m:
            out.update(old=int(m.group(1)), new=int(m.group(2)), handover_ms=int(m.group(3)))
        if self.proc is not None and out["old"] == self.proc.pid:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        return out

    def metric(self, name):
        """One series of this app host's /metrics (straight over FastCGI), as an int."""
        st, _h, body = fcgi_get(self.addr, APP_PORT, "/metrics", timeout=10)
        if st != 200:
            raise RuntimeError("%s /metrics answered %s" % (self.name, st))
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        raise RuntimeError("%s /metrics has no %s" % (self.name, name))

    def healthz(self):
        """GET /healthz straight over FastCGI to this host's address (nginx left out)."""
        try:
            st, _h, _b = fcgi_get(self.addr, APP_PORT, "/healthz", timeout=3)
            return st
        except OSError:
            return None


# --- a FastCGI GET, for one app host ---------------------------------------------------------------

def fcgi_get(host, port, path, timeout=10):
    """GET path straight to an app host over TCP FastCGI, with the records and parser of
    tests/integration/test_fastcgi_raw.py. Returns (status, headers, body)."""
    _faultlib()  # the path, and the check that the bed's environment is there
    import test_fastcgi_raw as raw
    s = socket.create_connection((host, port), timeout=timeout)
    got = b""
    try:
        s.sendall(raw.well_formed("GET", path))
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    finally:
        s.close()
    status, headers, body, _end = raw.http_response(got)
    return status, headers, body


# --- the bed ---------------------------------------------------------------------------------------

NGINX_CONF = """\
# The cluster bed's nginx (tests/cluster/bed.py): both app hosts behind one upstream, the project's own
# snippets (conf/nginx) for everything else, as deploy/stack's stack.conf.in uses them.
user root root;
worker_processes 2;
pid {dir}/run/nginx.pid;
error_log {dir}/log/nginx-error.log notice;
events {{ worker_connections 2048; }}
http {{
    log_format stockd '$remote_addr [$time_iso8601] "$request_method $uri" $status $request_time '
                      'upstream=$upstream_addr upstream_status=$upstream_status';
    access_log {dir}/log/nginx-access.log stockd;
    client_body_temp_path {dir}/nginx/temp/body;
    fastcgi_temp_path     {dir}/nginx/temp/fastcgi;
    proxy_temp_path       {dir}/nginx/temp/proxy;
    uwsgi_temp_path       {dir}/nginx/temp/uwsgi;
    scgi_temp_path        {dir}/nginx/temp/scgi;
    client_max_body_size 1m;
    client_body_buffer_size 128k;
    server_tokens off;
    include {dir}/nginx/routing.conf;
    include {dir}/nginx/tester.conf;
    include {conf}/limits.conf;
    include {conf}/forwarded.conf;

    # Passive health checks: one failed connection takes a host out for fail_timeout, for all of nginx's
    # workers (the zone). The locations (stockd-locations.conf) say fastcgi_next_upstream error timeout: a
    # request that could not be handed to one host goes to the other, a POST already sent never does, a
    # DELETE never at all.
    upstream stockd {{
        zone stockd 64k;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include {conf}/stockd-locations.conf;
    }}
}}
"""

APP_CONF = """\
# The cluster bed's app hosts (tests/cluster/bed.py); the fault suite's settings (tests/faults/run):
# holds live an hour, so none expires during a run unless a test expires it.
WORKERS={workers}
SWEEP_INTERVAL=500
STOCK_RESERVATION_TIMEOUT=3600000
{extra}
"""


class Bed:
    """start(): network, Galera, schema, app hosts, nginx. stop(): everything gone. writers: 'single'
    (both app hosts list db1,db2,db3) or 'multi' (app1 lists db1 first, app2 db2 first)."""

    def __init__(self, writers="single", workers=4, fail_timeout=5):
        self.rid = "%s%d" % (PREFIX, os.getpid())
        self.workers = workers
        self.fail_timeout = fail_timeout
        self.dir = None
        self.net = None
        self.bridge = self.rid + "br"
        self.dbs, self.apps = [], []
        self.nginx_pid = None
        self.port = None
        self.writers = writers
        self.created = False

    # --- lifecycle ---

    def start(self):
        clean_stale()
        self.dir = tempfile.mkdtemp(prefix="stockd-cluster-%s-" % self.rid)
        os.chmod(self.dir, 0o755)
        for sub in ("run", "log", "nginx/temp"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.conf = os.path.join(self.dir, "stockd.conf")
        with open(self.conf, "w") as f:
            f.write(APP_CONF.format(workers=self.workers, extra=os.environ.get("CLUSTER_APP_CONF", "").replace(";", "\n")))
        t0 = time.monotonic()
        self.port = free_port()
        self.net = _pick_subnet()
        self.created = True
        sh(["ip", "link", "add", self.bridge, "type", "bridge"])
        sh(["ip", "addr", "add", self.net + ".1/24", "dev", self.bridge])
        sh(["ip", "link", "set", self.bridge, "up"])
        self.dbs = [DbNode(self, i) for i in (1, 2, 3)]
        self.apps = [AppHost(self, i) for i in (1, 2)]
        self.export_env()
        for h in self.dbs + self.apps:
            h.create()
        self.start_cluster()
        t1 = time.monotonic()
        self.schema()
        self.set_writers(self.writers, restart=False)
        for a in self.apps:
            a.start()
        self.start_nginx()
        log("up in %.1fs (cluster %.1fs): %s, nginx on 127.0.0.1:%d, dir %s" % (
            time.monotonic() - t0, t1 - t0, self.net + ".0/24", self.port, self.dir))
        return self

    def start_cluster(self):
        os.makedirs(self.dbs[0].dir, exist_ok=True)
        r = sh(["mariadb-install-db", "--no-defaults", "--datadir=" + self.dbs[0].datadir, "--user=" + DB_OS_USER,
                "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=120)
        del r
        self.dbs[0].start(bootstrap=True)
        self.wait_node(self.dbs[0], 60)
        # the app's user, for TCP from every address of the bed (replicated: CREATE USER is DDL)
        self.dbs[0].sql("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4; "
                        "CREATE USER IF NOT EXISTS '%s'@'%s.%%' IDENTIFIED BY '%s'; "
                        "GRANT ALL ON %s.* TO '%s'@'%s.%%';"
                        % (DB_NAME, DB_USER, self.net, DB_PASSWORD, DB_NAME, DB_USER, self.net))
        for n in self.dbs[1:]:
            os.makedirs(n.dir, exist_ok=True)
            n.start()
            self.wait_node(n, 120)
        self.wait_synced(60)
        for n in self.dbs[1:]:
            txt = n.log_since_start()
            assert "rsync" in txt or "SST" in txt, "%s joined without a state transfer?" % n.name

    def wait_node(self, n, timeout):
        def ready():
            assert n.running(), "%s exited: %s" % (n.name, n.log_since_start()[-3000:])
            s = n.status()
            return s.get("wsrep_ready") == "ON" and s.get("wsrep_local_state_comment") == "Synced"
        wait_until(ready, timeout, 0.2, "%s Synced" % n.name)

    def wait_synced(self, timeout=60, size=3, quiet=True):
        """Every running node Synced, ready, in one primary component of `size`; with quiet (no load
        running), also all of them at the same last committed seqno with nothing queued (the write sets
        applied everywhere)."""
        def ok():
            st = [n.status() for n in self.dbs]
            if not all(s.get("wsrep_local_state_comment") == "Synced" and s.get("wsrep_ready") == "ON"
                       and s.get("wsrep_cluster_size") == str(size) and s.get("wsrep_cluster_status") == "Primary"
                       for s in st):
                return False
            if not quiet:
                return True
            return len({s.get("wsrep_last_committed") for s in st}) == 1 and all(
                s.get("wsrep_local_recv_queue") == "0" for s in st)
        wait_until(ok, timeout, 0.2, "the cluster Synced with size %d" % size)

    def schema(self):
        """stockd's migrations, once, against db1 over TCP (deploy/stack's migrate() with DB_* for db1)."""
        env = dict(os.environ)
        for k in ("DB_SOCKET", "LISTEN", "LOG_FILE"):
            env.pop(k, None)
        env.update({"DB_HOST": self.dbs[0].addr, "DB_PORT": str(DB_PORT), "DB_USER": DB_USER,
                    "DB_PASSWORD": DB_PASSWORD, "DB_NAME": DB_NAME, "STOCKD_CONF": self.conf})
        r = subprocess.run([STOCKD_BIN, "migrate", os.path.join(TOP, "sql")], env=env, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("stockd migrate failed: %s%s" % (r.stdout[-2000:], r.stderr[-2000:]))

    def set_writers(self, writers, restart=True):
        """'single': both app hosts list db1,db2,db3; 'multi': app1 db1,db2,db3 and app2 db2,db3,db1."""
        d1, d2, d3 = self.dbs
        if writers == "single":
            lists = [[d1, d2, d3], [d1, d2, d3]]
        elif writers == "multi":
            lists = [[d1, d2, d3], [d2, d3, d1]]
        else:
            raise ValueError(writers)
        self.writers = writers
        for a, nodes in zip(self.apps, lists):
            a.nodes = nodes
            if restart:
                a.stop()
                a.start()

    def start_nginx(self):
        conf_dir = os.path.join(TOP, "conf", "nginx")
        with open(os.path.join(self.dir, "nginx", "routing.conf"), "w") as f:
            f.write(sh([os.path.join(TOP, "deploy", "routing"), "render", "new"]).stdout)
        with open(os.path.join(self.dir, "nginx", "tester.conf"), "w") as f:
            f.write(sh([os.path.join(TOP, "deploy", "tester-conf")]).stdout)
        servers = "\n".join("        server %s:%d max_fails=1 fail_timeout=%ds;" % (a.addr, APP_PORT,
                                                                                  self.fail_timeout)
                            for a in self.apps)
        path = os.path.join(self.dir, "nginx", "nginx.conf")
        with open(path, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, conf=conf_dir, servers=servers, port=self.port))
        sh(["nginx", "-p", os.path.join(self.dir, "nginx"), "-c", path, "-t", "-q"])
        sh(["nginx", "-p", os.path.join(self.dir, "nginx"), "-c", path])
        with open(os.path.join(self.dir, "run", "nginx.pid")) as f:
            self.nginx_pid = int(f.read().strip())

    def export_env(self):
        """The environment tests/integration/lib.py (and tests/faults/load.py) read: nginx, and db1's socket
        for their SQL checks (clusterlib.on_node() points them at another node)."""
        os.environ.update({"BASE_URL": "http://127.0.0.1:%d" % self.port, "STACK_DIR": self.dir,
                           "DB_SOCKET": self.dbs[0].sock, "DB_NAME": DB_NAME, "STOCKD_CONF": self.conf})

    def stop(self):
        if not self.created:
            return
        if self.nginx_pid and pid_alive(self.nginx_pid):
            # Its workers too: a worker outlives a SIGKILLed master and keeps
            # the listening port (found left over after a run).
            sigkill([self.nginx_pid] + children(self.nginx_pid))
        for a in self.apps:
            sigkill(a.processes())
        for h in self.dbs + self.apps:
            sigkill(h.pids())
        for h in self.dbs + self.apps:
            if getattr(h, "proc", None) is not None:
                try:
                    h.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            sh(["ip", "netns", "del", h.ns], check=False)
            # The namespace's end of the pair goes with the namespace only once the kernel frees it,
            # which a process still exiting there delays: a second bed of this process (bench/cluster
            # builds several) would meet the old link under the same name. Delete it now.
            sh(["ip", "link", "del", h.veth], check=False)
        sh(["ip", "link", "del", self.bridge], check=False)
        names = [h.veth for h in self.dbs + self.apps] + [self.bridge]
        try:
            wait_until(lambda: not any(sh(["ip", "link", "show", n], check=False).returncode == 0 for n in names),
                       10, 0.1, "the bed's links gone")
        except AssertionError as e:
            log("%s" % e)
        # nginx's master and workers, killed above
        if self.nginx_pid:
            try:
                wait_until(lambda: not children(self.nginx_pid) and not pid_alive(self.nginx_pid), 10, 0.1,
                           "nginx gone")
            except AssertionError:
                pass
        if self.dir and os.environ.get("KEEP_BED") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir:
            log("kept %s" % self.dir)
        self.created = False

    # --- helpers for scenarios ---

    def node(self, name):
        return {n.name: n for n in self.dbs}[name]

    def app(self, name):
        return {a.name: a for a in self.apps}[name]

    def restart_node(self, n, timeout=120):
        """Start a node again after a kill: its position recovered from InnoDB, it rejoins the cluster
        (IST from a donor's gcache). Returns the recovered position."""
        pos = n.recover_position()
        n.start(position=pos)
        self.wait_node(n, timeout)
        return pos

    def cert_failures(self):
        """wsrep_local_cert_failures per node."""
        return {n.name: int(n.status().get("wsrep_local_cert_failures", "0") or 0) for n in self.dbs}

    def wsrep(self):
        return {n.name: n.status() for n in self.dbs}

    def table_digest(self, n):
        """A digest of every table of the app on node n (CHECKSUM TABLE, row counts)."""
        tables = [r[0] for r in n.sql("SHOW TABLES", db=DB_NAME)]
        rows = n.sql("CHECKSUM TABLE %s EXTENDED" % ", ".join("`%s`" % t for t in tables), db=DB_NAME)
        return {r[0]: r[1] for r in rows}

    def stockd_audit(self, n):
        """`stockd audit` (the same check as GET /api/admin/audit, app/domain/audit.c) against node n over
        TCP. Returns (ok, output)."""
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}
        env.update({"DB_HOST": n.addr, "DB_PORT": str(DB_PORT), "DB_USER": DB_USER, "DB_PASSWORD": DB_PASSWORD,
                    "DB_NAME": DB_NAME, "STOCKD_CONF": self.conf})
        r = subprocess.run([STOCKD_BIN, "audit"], env=env, capture_output=True, text=True, timeout=120)
        return r.returncode == 0 and "breaches: ok" in r.stdout, (r.stdout + r.stderr).strip()

    def routing(self, *state, timeout=90):
        """Switch the bed's nginx with the project's deploy/routing (write the include, nginx -t, reload,
        confirm that nginx answers the state on /_stockd/routing and that no worker older than the reload
        still accepts). Returns (CompletedProcess, seconds)."""
        nd = os.path.join(self.dir, "nginx")
        t0 = time.monotonic()
        r = sh([os.path.join(TOP, "deploy", "routing"), "--nginx-conf", os.path.join(nd, "nginx.conf"),
                "--routing-file", os.path.join(nd, "routing.conf"), "--nginx-pid",
                os.path.join(self.dir, "run", "nginx.pid"), "--prefix", nd, "--url",
                "http://127.0.0.1:%d" % self.port] + [str(x) for x in state], check=False, timeout=timeout)
        return r, time.monotonic() - t0

    def routing_live(self):
        """What nginx itself answers on its loopback-only /_stockd/routing (a new connection)."""
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/_stockd/routing" % self.port, timeout=10) as r:
            return r.read().decode()

    def log_path(self, which):
        """nginx's logs by name: 'error', 'access'."""
        return os.path.join(self.dir, "log", "nginx-%s.log" % which)

    @staticmethod
    def size(path):
        try:
            return os.path.getsize(path)
        except OSError:
            return 0

    @staticmethod
    def lines_since(path, offset, until=None):
        """The lines of a log file between two byte offsets (until None: its end)."""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read() if until is None else f.read(max(0, until - offset))
        except OSError:
            return []
        return data.decode("utf-8", "replace").splitlines()

    def nginx_log_lines(self):
        try:
            with open(os.path.join(self.dir, "log", "nginx-error.log")) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def describe(self):
        return json.dumps({"net": self.net, "dir": self.dir, "port": self.port,
                           "apps": {a.name: a.db_host() for a in self.apps}})
