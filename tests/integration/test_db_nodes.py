"""DB_HOST as an ordered list of database nodes (a Galera cluster's, docs/scaling.md).

A master whose first node does not answer connects to the next one, every
(re)connect, and says so in its log; a malformed list is refused before
anything starts. (With no node answering, requests get 503 like any database
outage: tests/faults/test_db_restart.py.) The cluster itself (a node out of the primary component,
certification conflicts) is tested on real Galera nodes by `make test-cluster`.
"""

import os
import signal
import socket
import subprocess
import time

import test_fastcgi_raw as raw
from lib import DB_NAME, STACK_DIR, STOCKD_CONF, StockdTest, wait_until

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOCKD_BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))


def stack_db_port():
    with open(os.path.join(STACK_DIR, "stack.env")) as f:
        for line in f:
            if line.startswith("STACK_DB_PORT="):
                return int(line.split("=", 1)[1])
    raise AssertionError("no STACK_DB_PORT in stack.env")


def closed_port():
    """A loopback port nothing listens on: bound, never listened, so a connect is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


class DbNodes(StockdTest):
    def start_master(self, db_host):
        run = os.path.join(STACK_DIR, "run")
        self.sock = os.path.join(run, "nodes.sock")
        self.log = os.path.join(STACK_DIR, "log", "nodes.log")
        if os.path.exists(self.log):
            os.unlink(self.log)
        env = dict(os.environ)
        env.pop("DB_SOCKET", None)
        env.update({"DB_HOST": db_host, "DB_PORT": "3306", "DB_SOCKET": "", "DB_USER": "stockd",
                    "DB_PASSWORD": "stockd", "DB_NAME": DB_NAME, "STOCKD_CONF": STOCKD_CONF,
                    "LISTEN": "unix:" + self.sock, "PID_FILE": os.path.join(run, "nodes.pid"),
                    "LOG_FILE": self.log, "ACCESS_LOG": "", "WORKERS": "1"})
        self.err = open(os.path.join(STACK_DIR, "log", "nodes.stderr"), "ab")
        self.proc = subprocess.Popen([STOCKD_BIN, "serve"], env=env, stdout=self.err, stderr=self.err,
                                     start_new_session=True)
        self.addCleanup(self.stop_master)
        wait_until(lambda: os.path.exists(self.sock), 20, 0.1, "the master's socket")

    def stop_master(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.err.close()

    def ask(self, path):
        old, raw.SOCK = raw.SOCK, self.sock
        try:
            data, how = raw.exchange(raw.well_formed("GET", path), timeout=15)
        finally:
            raw.SOCK = old
        status, _, body, _ = raw.http_response(data)
        return status, body

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def test_the_next_node_serves_when_the_first_does_not_answer(self):
        holder, dead = closed_port()
        self.addCleanup(holder.close)
        port = stack_db_port()
        self.start_master("127.0.0.1:%d, 127.0.0.1:%d" % (dead, port))
        t0 = time.monotonic()
        status, body = self.ask("/readyz")
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - t0, 5.0, "a refused node costs no connect timeout")
        status, body = self.ask("/status")
        self.assertEqual(status, 200, body)
        self.assertIn(b'"reachable": true', body.replace(b'":true', b'": true'))
        self.assertIn(b'"cluster": null', body.replace(b'":null', b'": null'))
        # once per connection: the failover shows, with why the first node was passed over
        line = "database node 127.0.0.1:%d in use; 127.0.0.1:%d not usable: " % (port, dead)
        wait_until(lambda: line in self.log_text(), 10, 0.1, "the log naming the node in use")

    def test_a_malformed_list_is_refused_before_start(self):
        env = dict(os.environ, DB_HOST="10.0.0.11,,10.0.0.12", STOCKD_CONF=STOCKD_CONF)
        r = subprocess.run([STOCKD_BIN, "--check-config"], env=env, capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DB_HOST: bad host entry ''", r.stderr + r.stdout)
