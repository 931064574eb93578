"""LISTEN on a TCP address (an app host behind a web server on another host, docs/scaling.md).

Never every interface; off loopback only with LISTEN_ALLOW, the web servers that
may connect, since FastCGI has no authentication and the app believes the
REMOTE_ADDR its peer sends. The workers refuse any other peer. On loopback the
test uses 127.0.0.2 with LISTEN_ALLOW to check the refusal itself.
"""

import os
import socket
import subprocess

import test_fastcgi_raw as raw
from lib import DB_NAME, DB_SOCKET, STACK_DIR, STOCKD_CONF, StockdTest, free_port, stop_process, wait_until

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOCKD_BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))


def ask_tcp(addr, port, path="/healthz", source=None, timeout=10.0):
    """(status, body) of one FastCGI request over TCP, or (None, how it ended) when none came."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        if source:
            s.bind((source, 0))
        s.connect((addr, port))
        s.sendall(raw.well_formed("GET", path))
        got = b""
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            got += b
    finally:
        s.close()
    if not got:
        return None, "closed without an answer"
    status, _, body, _ = raw.http_response(got)
    return status, body


class ListenTcp(StockdTest):
    def env(self, listen, allow):
        run = os.path.join(STACK_DIR, "run")
        self.log = os.path.join(STACK_DIR, "log", "tcp.log")
        if os.path.exists(self.log):
            os.unlink(self.log)
        env = dict(os.environ)
        env.update({"DB_SOCKET": DB_SOCKET, "DB_USER": "stockd", "DB_PASSWORD": "stockd", "DB_NAME": DB_NAME,
                    "STOCKD_CONF": STOCKD_CONF, "LISTEN": listen, "LISTEN_ALLOW": allow,
                    "PID_FILE": os.path.join(run, "tcp.pid"), "LOG_FILE": self.log, "ACCESS_LOG": "",
                    "WORKERS": "1"})
        return env

    def refused_at_start(self, listen, allow, message):
        r = subprocess.run([STOCKD_BIN, "serve"], env=self.env(listen, allow), capture_output=True, text=True,
                           timeout=20)
        self.assertNotEqual(r.returncode, 0)
        with open(self.log) as f:
            self.assertIn(message, f.read() + r.stderr)

    def test_never_every_interface(self):
        self.refused_at_start("0.0.0.0:%d" % free_port(), "", "name the one address to listen on, not all of them")

    def test_off_loopback_needs_the_web_servers_named(self):
        self.refused_at_start("192.0.2.10:9000", "", "is off loopback: set LISTEN_ALLOW")

    def test_a_unix_socket_takes_no_peer_list(self):
        self.refused_at_start("unix:" + os.path.join(STACK_DIR, "run", "tcp.sock"), "127.0.0.3",
                              "LISTEN_ALLOW is for a TCP LISTEN")

    def test_only_listed_peers_are_served(self):
        port = free_port()
        proc = subprocess.Popen([STOCKD_BIN, "serve"], env=self.env("127.0.0.2:%d" % port, "127.0.0.3"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        self.addCleanup(stop_process, proc)

        def up():
            try:
                return ask_tcp("127.0.0.2", port, source="127.0.0.3")[0] == 200
            except OSError:
                return False
        wait_until(up, 20, 0.1, "the TCP master serving its listed peer")
        status, body = ask_tcp("127.0.0.2", port, "/readyz", source="127.0.0.3")
        self.assertEqual(status, 200, body)
        # from an address not on the list: closed, never answered
        status, how = ask_tcp("127.0.0.2", port, source="127.0.0.1")
        self.assertIsNone(status, how)
        with open(self.log) as f:
            self.assertIn("connection from 127.0.0.1 refused: not in LISTEN_ALLOW", f.read())
        # and the worker serves the listed peer again after refusing one
        status, body = ask_tcp("127.0.0.2", port, source="127.0.0.3")
        self.assertEqual(status, 200, body)
