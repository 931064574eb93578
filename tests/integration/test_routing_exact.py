"""A routing switch is exact: when deploy/routing says a state, every new connection gets it.

After a reload, nginx's workers of the previous generation keep accepting on the shared listening socket
until they have acted on their QUIT; one answer from a new worker proves nothing about the next
connection. deploy/routing confirms a state only when no worker that predates the reload still accepts.
This checks it the way a client meets it: many switches in a row while the CPU is busy (so workers are slow
to act on signals), each followed at once by a run of new connections that must all answer the new state.
"""

import http.client
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

from lib import BASE_URL, STACK_DIR, StockdTest, wait_until
from test_routing import ROUTING, restore_new, routing_cmd, switch

SWITCHES = 50
CONNECTIONS = 100
STATES = [("old",), ("canary", 30), ("new",)]

# Busy loops that stop by themselves even if this process dies: one per core.
BURN = "import time\nend = time.monotonic() + %d\nwhile time.monotonic() < end:\n    pass\n"
# Steady traffic, so nginx's workers are often busy when a connection arrives: an idle old worker is
# then as likely as a new one to take the next connection. Bounded in time and in count.
TRAFFIC = """
import http.client, threading, time
end = time.monotonic() + %d
def hammer():
    for _ in range(200000):
        if time.monotonic() > end:
            return
        c = http.client.HTTPConnection("%s", %d, timeout=5)
        try:
            c.request("GET", "/_stockd/routing")
            c.getresponse().read()
        except OSError:
            time.sleep(0.01)
        finally:
            c.close()
ts = [threading.Thread(target=hammer) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
"""


def fresh_connection_state():
    """The routing state nginx serves on a brand-new TCP connection."""
    u = urlsplit(BASE_URL)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request("GET", "/_stockd/routing", headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


class ExactSwitch(StockdTest):
    def tearDown(self):
        try:
            restore_new()
        finally:
            super().tearDown()

    def test_every_new_connection_after_a_switch_sees_it(self):
        """50 switches between old, canary 30 and new under CPU load; after each, 100 new connections in a
        row all answer the switched-to state."""
        u = urlsplit(BASE_URL)
        burners = [subprocess.Popen([sys.executable, "-c", BURN % 300]) for _ in range(os.cpu_count() or 2)]
        burners.append(subprocess.Popen([sys.executable, "-c", TRAFFIC % (300, u.hostname, u.port)]))
        stale = []
        took = []
        try:
            for i in range(SWITCHES):
                state = STATES[i % len(STATES)]
                t = time.monotonic()
                want = switch(*state)
                took.append(time.monotonic() - t)
                answers = [fresh_connection_state() for _ in range(CONNECTIONS)]
                wrong = [a for a in answers if a != (200, want)]
                if wrong:
                    stale.append((i, want, len(wrong), wrong[:3]))
        finally:
            for b in burners:
                b.kill()
                b.wait()
        took.sort()
        print("\n  %d switches: median %.2f s, slowest %.2f s to confirm" % (
            SWITCHES, took[len(took) // 2], took[-1]), file=sys.stderr)
        self.assertEqual(stale, [], "new connections saw another state after the switch was confirmed "
                                    "(switch number, state, how many of %d, first answers)" % CONNECTIONS)


class StatusIsWhatNginxServes(StockdTest):
    def tearDown(self):
        try:
            restore_new()
        finally:
            super().tearDown()

    def state_file(self):
        return os.path.join(STACK_DIR, "nginx", "routing.state")

    def test_status_asks_nginx_not_the_file(self):
        """`deploy/routing status` prints the state nginx answers; a state file that says otherwise is named
        on stderr, never printed as the state."""
        with open(self.state_file(), "w") as f:
            f.write("old\n")
        r = routing_cmd("status")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "new"), r)
        self.assertIn("the state file says 'old'", r.stderr)

    def test_a_switch_not_confirmed_does_not_claim_the_state(self):
        """A switch nginx cannot take (its master stopped) gives up, exits non-zero, and leaves the state file
        saying the state is unconfirmed; status still prints what nginx serves."""
        with open(os.path.join(STACK_DIR, "run", "nginx.pid")) as f:
            master = int(f.read().strip())
        os.kill(master, signal.SIGSTOP)
        try:
            r = subprocess.run([ROUTING, "--stack", STACK_DIR, "old"], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, ROUTING_CONFIRM_SECONDS="2"))
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("unconfirmed", r.stderr)
            with open(self.state_file()) as f:
                self.assertEqual(f.read().strip(), "old (unconfirmed)")
            status = routing_cmd("status")
            self.assertEqual(status.stdout.strip(), "new", status)
        finally:
            os.kill(master, signal.SIGCONT)
            # The HUP sent while nginx was stopped is still pending: nginx takes it (and serves "old") only
            # now. Wait for that, so that tearDown's switch back to "new" comes after it, not before (a
            # restore that saw "new" too early left "old" behind for the next test).
            wait_until(lambda: fresh_connection_state() == (200, "old"), 30, 0.1,
                       "nginx to take the reload it was sent while stopped")
