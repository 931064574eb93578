"""DB_HOST as an ordered list of database nodes (a Galera cluster's, docs/scaling.md).

A master whose first node does not answer connects to the next one, every
(re)connect, and says so in its log; a malformed list is refused before
anything starts. (With no node answering, requests get 503 like any database
outage: tests/faults/test_db_restart.py.) The cluster itself (a node out of the
primary component, certification conflicts) is tested on real Galera nodes by
`make test-cluster`.
"""

import os
import socket
import subprocess
import time

from extra_master import STOCKD_BIN, ExtraMaster
from lib import STACK_DIR, STOCKD_CONF, StockdTest, wait_until


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

    def test_a_malformed_list_is_refused_before_start(self):
        env = dict(os.environ, DB_HOST="10.0.0.11,,10.0.0.12", STOCKD_CONF=STOCKD_CONF)
        r = subprocess.run([STOCKD_BIN, "--check-config"], env=env, capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DB_HOST: bad host entry ''", r.stderr + r.stdout)
