"""DB_HOST as an ordered list of database nodes (a Galera cluster's, docs/scaling.md).

A master whose first node does not answer connects to the next one, every
(re)connect, and says so in its log; once the first node answers again, the
sweeper finds it and the app host moves back to it (failback); a malformed
list is refused before anything starts. (With no node answering, requests get 503 like any database
outage: tests/faults/test_db_restart.py.) The cluster itself (a node out of the
primary component, certification conflicts) is tested on real Galera nodes by
`make test-cluster`.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time

from extra_master import STOCKD_BIN, ExtraMaster
from lib import (STACK_DIR, STOCKD_CONF, StockdTest, add, db, get, make_product, metric, metrics, new_cart, ok,
                 sweeper_asleep, wait_until)


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


class Forwarder:
    """A database node that comes back: a TCP listener on `port` that pipes every connection to the
    stack's MariaDB, and counts the connections it holds open."""

    def __init__(self, port, to_port):
        self.to_port = to_port
        self.open = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return  # closed
            u = socket.create_connection(("127.0.0.1", self.to_port))
            with self.lock:
                self.open += 1
            ends = [0]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b, ends), daemon=True).start()

    def _pipe(self, a, b, ends):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            ends[0] += 1
            if ends[0] == 2:
                self.open -= 1

    def close(self):
        self.sock.close()


def failbacks(m):
    status, text = m.ask("GET", "/metrics")
    assert status == 200, text
    found = re.search(rb"^stockd_db_failbacks_total (\d+)$", text, re.M)
    assert found, "no stockd_db_failbacks_total in /metrics"
    return int(found.group(1))


class DbNodes(StockdTest):
    def test_the_next_node_serves_when_the_first_does_not_answer(self):
        holder, dead = closed_port()
        self.addCleanup(holder.close)
        port = stack_db_port()
        m = ExtraMaster("nodes", {"DB_SOCKET": "", "DB_HOST": "127.0.0.1:%d, 127.0.0.1:%d" % (dead, port)})
        self.addCleanup(m.stop)
        t0 = time.monotonic()
        status, body = m.ask("GET", "/readyz")
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - t0, 5.0, "a refused node costs no connect timeout")
        status, body = m.ask("GET", "/status")
        self.assertEqual(status, 200, body)
        self.assertIsNone(body["cluster"], "not a Galera node")
        # once per connection: the failover shows, with why the first node was passed over
        line = "database node 127.0.0.1:%d in use; 127.0.0.1:%d not usable: " % (port, dead)
        wait_until(lambda: line in m.log_text(), 10, 0.1, "the log naming the node in use")

    def test_the_app_host_moves_back_once_the_first_node_answers(self):
        p = make_product(stock=5)["id"]
        holder, first = closed_port()
        port = stack_db_port()
        m = ExtraMaster("failback", {"DB_SOCKET": "", "DB_HOST": "127.0.0.1:%d, 127.0.0.1:%d" % (first, port)})
        self.addCleanup(m.stop)
        self.assertEqual(m.ask("GET", "/api/products/%d" % p)[0], 200)
        self.assertEqual(failbacks(m), 0, "the first node never answered")
        # the first node comes back
        holder.close()
        fwd = Forwarder(first, port)
        self.addCleanup(fwd.close)
        wait_until(lambda: failbacks(m) >= 1, 15, 0.2, "the sweeper finding the first node usable (every 5 s)")
        # the worker moves between two requests, and serves through the first node
        status, body = m.ask("GET", "/api/products/%d" % p)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], p)
        # logged inside the request (only a worker logs with its request's id), before its first statement
        self.assertRegex(m.log_text(), r"\] req=[0-9a-f]{32} database: an earlier node of DB_HOST is usable again; "
                                       r"leaving node 2 of the list")
        # The sweeper dropped its connection with the probe and connects again, in order, at its next
        # round (SWEEP_INTERVAL, 500 ms here), which a fast request can beat: wait for that round.
        wait_until(lambda: fwd.open >= 2, 10, 0.1, "the sweeper's and the worker's connections on the first node")
        self.assertEqual(failbacks(m), 1, "moved back once")

    def test_a_sweeper_already_on_the_first_node_moves_the_workers_back(self):
        """A sweeper that starts (or connects again) after the first node is back takes that node at once, so
        its probe has nothing to find: the workers still on the later node move back all the same."""
        p = make_product(stock=5)["id"]
        holder, first = closed_port()
        port = stack_db_port()
        m = ExtraMaster("failback_sweeper", {"DB_SOCKET": "", "DB_HOST": "127.0.0.1:%d, 127.0.0.1:%d" % (first, port)})
        self.addCleanup(m.stop)
        self.assertEqual(m.ask("GET", "/api/products/%d" % p)[0], 200)  # the worker, on node 2
        sweeper = wait_until(lambda: sweeper_asleep(m.proc.pid), 10, 0.02, "the sweeper asleep between rounds")
        # Between two probe moments (wall-clock multiples of 5 s), so the old sweeper cannot probe first:
        # the first node comes back and the sweeper dies; the master starts another, which takes node 1.
        wait_until(lambda: 0.2 < time.time() % 5 < 2.5, 6, 0.02, "a moment between two probes")
        holder.close()
        fwd = Forwarder(first, port)
        self.addCleanup(fwd.close)
        os.kill(sweeper, signal.SIGKILL)
        wait_until(lambda: fwd.open >= 1, 20, 0.1, "the new sweeper connected to the first node")
        wait_until(lambda: failbacks(m) >= 1, 15, 0.2, "the sweeper moving the workers back (every 5 s)")
        self.assertRegex(m.log_text(), r"database: workers are on a later node of DB_HOST than node 1, the "
                                       r"sweeper's; they move back")
        self.assertNotIn("an earlier node of DB_HOST is usable again; the app host moves back", m.log_text())
        status, body = m.ask("GET", "/api/products/%d" % p)
        self.assertEqual(status, 200, body)
        self.assertRegex(m.log_text(), r"\] req=[0-9a-f]{32} database: an earlier node of DB_HOST is usable again; "
                                       r"leaving node 2 of the list")
        wait_until(lambda: fwd.open >= 2, 10, 0.1, "the sweeper's and the worker's connections on the first node")
        # the next probe moment finds every worker where the sweeper is: nothing moves again
        t = time.time()
        time.sleep(5 - t % 5 + 0.5)
        self.assertEqual(failbacks(m), 1, "moved back once")

    def test_a_read_whose_connection_is_lost_runs_again_on_a_new_one(self):
        """What a node that stops does to the connections on it (tests/cluster's rolling upgrade): a read
        outside a transaction runs on a new connection instead of answering 503. A connection closed while
        idle is found before the statement (store/db.c, drop_if_closed); one lost during the statement
        runs once more, as a transaction lost before its COMMIT does. Either way it counts as a lost
        connection and a new one."""
        p = make_product(stock=5)["id"]
        cid = new_cart(mode="stock")
        ok(add(cid, p, 2, dec=True, mode="stock"))
        for _ in range(8):  # every worker has a connection to lose
            ok(get("/api/products/%d" % p, mode="stock"))
        m0 = metrics()
        ids = [r[0] for r in db("SELECT id FROM information_schema.PROCESSLIST WHERE user = 'stockd'")]
        self.assertGreaterEqual(len(ids), 4, "the workers' connections")
        for i in ids:
            db("KILL CONNECTION %s" % i)
        answers = [get("/api/products/%d" % p, mode="stock") for _ in range(6)] + \
                  [get("/api/cart/" + cid, mode="stock") for _ in range(6)]
        self.assertEqual([a.status for a in answers], [200] * 12, [a for a in answers if a.status != 200][:2])
        self.assertEqual(ok(answers[-1])["items"][0]["quantity"], 2)
        m1 = metrics()
        lost = metric(m1, "stockd_db_errors_total") - metric(m0, "stockd_db_errors_total")
        self.assertGreaterEqual(lost, 1, "no worker met its killed connection: the test proved nothing")
        self.assertGreaterEqual(metric(m1, "stockd_db_connects_total") - metric(m0, "stockd_db_connects_total"), lost)

    def test_a_malformed_list_is_refused_before_start(self):
        env = dict(os.environ, DB_HOST="10.0.0.11,,10.0.0.12", STOCKD_CONF=STOCKD_CONF)
        r = subprocess.run([STOCKD_BIN, "--check-config"], env=env, capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DB_HOST: bad host entry ''", r.stderr + r.stdout)
