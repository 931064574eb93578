"""nginx never sends a write that reached one app host on to another (docs/API.md, "Abuse limits"), DELETE
included: nginx counts DELETE as idempotent, and `DELETE /api/cart/remove` takes units off a line.

What is under test is nginx's configuration, so the app hosts behind it are two small FastCGI servers of
this file (Upstream) that record each request they read: a second nginx with the stack's own configuration
passes to "first" (never marked down, max_fails=0) and to "second" (a backup, used only when a request is
passed on). When the first reads a whole request and closes without answering (an
app host killed after its COMMIT), a POST and a DELETE answer 502 and the second never sees them; a GET is
passed on and answered by the second, which shows the setup does pass requests on where it may. When the
first is not listening at all, a POST is passed on (nothing reached the first); a DELETE is not: nginx has
no setting that passes a DELETE on only when it was not sent, so it answers 502 (the client retries it).
"""

import http.client
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
import unittest

import nginx_copy
from lib import free_port
from test_fastcgi_raw import END_REQUEST, PARAMS, STDIN, STDOUT, parse_records, record

BODY = b'{"cart_id":"%s","product_id":1,"quantity":1}' % (b"0" * 32)
J = {"Content-Type": "application/json"}
SECOND = {"answered_by": "second"}  # the answering upstream's body


def nv_pairs(data):
    """FastCGI name-value pairs as a dict."""
    out, i = {}, 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack(">I", data[i - 4:i])[0] & 0x7FFFFFFF
    while i < len(data):
        n = length()
        v = length()
        out[data[i:i + n].decode()] = data[i + n:i + n + v].decode()
        i += n + v
    return out


class Upstream:
    """A FastCGI server on a Unix socket that reads whole requests and records their method and path.
    answer=False closes the connection unanswered once the request is read; answer=True answers 200."""

    def __init__(self, path, answer):
        self.path, self.answer = path, answer
        self.seen = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.one(conn)

    def one(self, conn):
        conn.settimeout(10)
        data, params, done = b"", b"", False
        while not done:
            try:
                b = conn.recv(65536)
            except OSError:
                return
            if not b:
                return
            data += b
            recs, _ = parse_records(data)
            params = b"".join(c for t, _, c in recs if t == PARAMS)
            done = any(t == STDIN and c == b"" for t, _, c in recs)
        p = nv_pairs(params)
        with self.lock:
            self.seen.append((p.get("REQUEST_METHOD"), p.get("DOCUMENT_URI")))
        if self.answer:
            out = b"Status: 200 OK\r\nContent-Type: application/json\r\n\r\n" + json.dumps(SECOND).encode()
            conn.sendall(record(STDOUT, out) + record(STDOUT) + record(END_REQUEST, struct.pack(">IB3x", 0, 0)))

    def close(self):
        self.sock.close()
        os.unlink(self.path)


class NoReplay(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stockd-replay-nginx.")
        os.chmod(cls.tmp, 0o755)
        cls.first_path = os.path.join(cls.tmp, "first.sock")
        cls.second_path = os.path.join(cls.tmp, "second.sock")
        cls.port = free_port()
        servers = r"\1server unix:%s max_fails=0;\n\1server unix:%s backup;" % (cls.first_path, cls.second_path)
        nginx_copy.start(cls.tmp, cls.port, [(r"(?m)^(\s*)server unix:\S+;", servers, 1)])
        cls.second = Upstream(cls.second_path, answer=True)

    @classmethod
    def tearDownClass(cls):
        nginx_copy.stop(cls.tmp)
        cls.second.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def send(self, method, path, body=None):
        """(status, parsed JSON). Not recorded for run.py's check of statuses: these upstreams answer, not the app."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=J if body else {})
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    def second_saw(self, fn):
        with self.second.lock:
            self.second.seen.clear()
        r = fn()
        with self.second.lock:
            return r, list(self.second.seen)

    def expect_502(self, r):
        self.assertEqual(r[0], 502, r)
        self.assertEqual(r[1]["error"]["code"], "bad_gateway", r)

    def test_a_first_reads_the_request_and_dies(self):
        first = Upstream(self.first_path, answer=False)
        try:
            for method, path in (("DELETE", "/api/cart/remove"), ("POST", "/api/cart/add")):
                with self.subTest(method=method):
                    r, seen = self.second_saw(lambda: self.send(method, path, BODY))
                    self.expect_502(r)
                    self.assertEqual(seen, [], "%s %s was sent on to the second host" % (method, path))
            r, seen = self.second_saw(lambda: self.send("GET", "/api/products"))
            self.assertEqual(r, (200, SECOND))
            self.assertEqual(seen, [("GET", "/api/products")])
            self.assertEqual([m for m, _ in first.seen], ["DELETE", "POST", "GET"], "the first read each request")
        finally:
            first.close()

    def test_b_first_not_listening(self):
        self.assertFalse(os.path.exists(self.first_path))
        r, seen = self.second_saw(lambda: self.send("POST", "/api/cart/add", BODY))
        self.assertEqual(r, (200, SECOND))
        self.assertEqual(seen, [("POST", "/api/cart/add")])
        r, seen = self.second_saw(lambda: self.send("DELETE", "/api/cart/remove", BODY))
        self.expect_502(r)
        self.assertEqual(seen, [])
