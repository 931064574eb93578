"""A PHP-FPM neighbour on the production layout (issue 13, item 1).

On Debian nginx's workers and PHP-FPM's default pool both run as www-data, so any PHP script can do what nginx
does: connect to the app's FastCGI socket (0660, group www-data) and claim REMOTE_ADDR=127.0.0.1, or send an HTTP
request to nginx on 127.0.0.1, which really is loopback. So the production layout (deploy/install) sets
TRUST_LOOPBACK=false: operator routes need a token from /etc/stockd/tokens, which www-data cannot read.

Here a client runs as www-data (runuser) against the installed layout live (installed_layout.py: the installed
binary, conf and tokens, the installed nginx site): it forges the loopback address over raw FastCGI on every
operator route, calls the same routes through nginx on loopback, then sends the malformed records that kill a
libfcgi worker (CVE-2025-23016). No operator answer may come back, nothing may change in the database, and every
worker that died must be replaced and counted.
"""

import json
import os
import socket
import pwd
import subprocess
import sys
import unittest
import uuid

import test_fastcgi_raw as raw
from installed_layout import Layout, SHARE, read
from lib import audit_ok, db_int, snapshot, wait_until

# Run as www-data: reads a JSON list of steps on stdin, prints what came back for each. It only moves bytes:
# the requests are built by the test (as root), so the client needs nothing from the repository.
CLIENT = r'''
import http.client, json, socket, sys, time
spec = json.load(sys.stdin)
out = []
for step in spec["steps"]:
    if step["kind"] == "fcgi":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(step.get("timeout", 10))
        got, how = b"", "closed"
        try:
            s.connect(spec["sock"])
            s.sendall(bytes.fromhex(step["data"]))
            s.shutdown(socket.SHUT_WR)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except socket.timeout:
            how = "timeout"
        except (ConnectionResetError, BrokenPipeError) as e:
            how = "reset"
        except OSError as e:
            how = "error: %r" % e
        finally:
            s.close()
        out.append({"how": how, "data": got.hex()})
    else:
        c = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
        try:
            body = step.get("body")
            c.request(step["method"], step["path"], body=body.encode() if body is not None else None,
                      headers=step.get("headers") or {})
            r = c.getresponse()
            out.append({"status": r.status, "body": r.read().decode("utf-8", "replace")})
        except Exception as e:
            out.append({"status": None, "body": repr(e)})
        finally:
            c.close()
print(json.dumps(out))
'''


# The system's python: the one running the tests may live where www-data cannot reach (/root/.pyenv).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def fcgi(method, path, body=b"", remote_addr="127.0.0.1", extra=None):
    """A well-formed FastCGI request as nginx would send it, with a forged REMOTE_ADDR (and extra params)."""
    path, _, query = path.partition("?")
    params = raw.http_params(method, path, query=query, body=body, content_type="application/json" if body else None)
    params = params.replace(raw.nv_pair(b"REMOTE_ADDR", b"127.0.0.1"), raw.nv_pair(b"REMOTE_ADDR", remote_addr.encode()))
    for k, v in (extra or {}).items():
        params += raw.nv_pair(k.encode(), v.encode())
    return raw.begin() + raw.stream(raw.PARAMS, params) + raw.stream(raw.STDIN, body)


def exchange(sock, data, timeout=10):
    """Send data to the app socket as the test (root); everything the app wrote back."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    got = b""
    try:
        s.connect(sock)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                return got
            got += b
    finally:
        s.close()


def asan_without_null_malloc(pid):
    """As test_fastcgi_raw.asan_app_reports_huge_malloc, for this app's master."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" not in f.read():
                return False
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return False
    return not any(e.startswith(b"ASAN_OPTIONS=") and b"allocator_may_return_null=1" in e for e in env)


class PhpNeighbour(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("needs root: the client runs as www-data with runuser, as PHP-FPM's pool does")
        pwd.getpwnam("www-data")
        cls.layout = Layout()
        cls.client_py = os.path.join(cls.layout.tmp, "php_neighbour_client.py")
        with open(cls.client_py, "w") as f:
            f.write(CLIENT)
        os.chmod(cls.client_py, 0o644)

    @classmethod
    def tearDownClass(cls):
        cls.layout.close()

    def tearDown(self):
        self.assertEqual(self.layout.sanitizer_reports(), [])
        audit_ok()

    def as_www_data(self, steps):
        spec = {"sock": self.layout.sock, "port": self.layout.port, "steps": steps}
        r = subprocess.run(["runuser", "-u", "www-data", "--", PYTHON, self.client_py],
                           input=json.dumps(spec), capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, "the www-data client failed: %s" % r.stderr[-2000:])
        return json.loads(r.stdout)

    def product_and_snapshot(self):
        """A fresh product (made with the admin token) and everything about it and the tables' row counts."""
        sku = "PHP-" + uuid.uuid4().hex[:12]
        a = self.layout.post("/api/admin/products", {"sku": sku, "name": "neighbour", "price_cents": 100,
                                                     "stock": 7}, token=self.layout.admin_token)
        self.assertEqual(a.status, 201, a)
        return a.json["id"], snapshot(pids=[a.json["id"]])

    def operator_requests(self, pid):
        sku = "FORGED-" + uuid.uuid4().hex[:12]
        return [("POST", "/api/admin/products/%d/stock" % pid, {"set": 999}),
                ("POST", "/api/admin/products/%d/stock" % pid, {"delta": 5}),
                ("POST", "/api/admin/products", {"sku": sku, "name": "x", "price_cents": 1, "stock": 1}),
                ("GET", "/api/admin/audit", None), ("GET", "/metrics", None), ("GET", "/status", None),
                ("GET", "/status?full", None)]

    def assert_no_operator_answer(self, name, status, body):
        """403 forbidden in the error shape, or no answer at all; never an operator's answer."""
        if status is None:
            return
        self.assertEqual(status, 403, "%s: %s %s" % (name, status, body[:300]))
        self.assertEqual(json.loads(body)["error"]["code"], "forbidden", "%s: %s" % (name, body[:300]))
        for leak in ("stockd_", '"problems"', '"products_checked"', '"workers"', '"stock":'):
            self.assertNotIn(leak, body, name)

    def test_a_the_neighbour_can_reach_the_socket(self):
        """The threat is real: www-data connects to the socket and the app answers it (a shop route)."""
        out = self.as_www_data([{"kind": "fcgi", "data": fcgi("GET", "/healthz").hex()},
                                {"kind": "http", "method": "GET", "path": "/healthz"}])
        status, _, body, _ = raw.http_response(bytes.fromhex(out[0]["data"]))
        self.assertEqual(status, 200, body)
        self.assertEqual(out[1]["status"], 200, out[1])
        # ...and cannot read the tokens, which is all that tells it from an operator.
        tokens = os.path.join(self.layout.root, "etc/stockd/tokens")
        r = subprocess.run(["runuser", "-u", "www-data", "--", "cat", tokens], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(self.layout.admin_token, r.stdout)

    def test_b_forged_loopback_over_fastcgi(self):
        """REMOTE_ADDR=127.0.0.1 (and ::1), written by www-data straight into the socket: 403 on every operator
        route, with or without a made-up token; the same bytes with the real token work (control)."""
        pid, before = self.product_and_snapshot()
        steps, names = [], []
        for method, path, body in self.operator_requests(pid):
            data = json.dumps(body).encode() if body is not None else b""
            for addr in ("127.0.0.1", "::1"):
                for extra in ({}, {"HTTP_AUTHORIZATION": "Bearer " + "0" * 64},
                              {"HTTP_AUTHORIZATION": "Bearer ", "HTTP_X_FORWARDED_FOR": "127.0.0.1"}):
                    steps.append({"kind": "fcgi", "data": fcgi(method, path, data, addr, extra).hex()})
                    names.append("%s %s from %s %s" % (method, path, addr, sorted(extra)))
        out = self.as_www_data(steps)
        for name, o in zip(names, out):
            got = bytes.fromhex(o["data"])
            if not got:
                continue  # dropped: no answer at all
            status, _, body, _ = raw.http_response(got)
            self.assert_no_operator_answer(name, status, body.decode("utf-8", "replace"))
        self.assertEqual(snapshot(pids=[pid]), before, "a forged operator request changed the database")
        # Control: the token, not the socket's permissions, is what refused them.
        got = exchange(self.layout.sock, fcgi(
            "GET", "/api/admin/audit", extra={"HTTP_AUTHORIZATION": "Bearer " + self.layout.admin_token}))
        status, _, body, _ = raw.http_response(got)
        self.assertEqual(status, 200, body[:300])
        self.assertIs(json.loads(body)["ok"], True)

    def test_c_loopback_http_through_nginx(self):
        """The same routes as plain HTTP to nginx on 127.0.0.1 (truly loopback), with forwarding headers and
        made-up tokens: 403 forbidden. The metrics token reads /metrics and /status only; the admin token
        everything."""
        pid, before = self.product_and_snapshot()
        steps, names = [], []
        for method, path, body in self.operator_requests(pid):
            for headers in ({}, {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
                            {"Authorization": "Bearer " + "0" * 64}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
                h = dict(headers)
                if body is not None:
                    h["Content-Type"] = "application/json"
                steps.append({"kind": "http", "method": method, "path": path, "headers": h,
                              "body": json.dumps(body) if body is not None else None})
                names.append("%s %s %s" % (method, path, sorted(headers)))
        out = self.as_www_data(steps)
        for name, o in zip(names, out):
            self.assert_no_operator_answer(name, o["status"], o["body"])
        self.assertEqual(snapshot(pids=[pid]), before, "a loopback HTTP request changed the database")

    def test_d_tokens_on_the_installed_layout(self):
        """TRUST_LOOPBACK=false: loopback without a token is 403 everywhere; METRICS_TOKEN reads /metrics and
        /status and nothing else; ADMIN_TOKEN reads and changes; wrong tokens are refused."""
        L = self.layout
        pid, before = self.product_and_snapshot()
        routes = self.operator_requests(pid)
        for method, path, body in routes:
            with self.subTest(path=path, token="none"):
                a = L.request(method, path, body=body)
                self.assertEqual((a.status, (a.error or {}).get("code")), (403, "forbidden"), a)
            with self.subTest(path=path, token="metrics"):
                a = L.request(method, path, body=body, token=L.metrics_token)
                if path.startswith(("/metrics", "/status")):
                    self.assertEqual(a.status, 200, a)
                else:
                    self.assertEqual((a.status, (a.error or {}).get("code")), (403, "forbidden"), a)
            for name, tok in (("metrics+1", L.metrics_token + "1"), ("admin prefix", L.admin_token[:-1]),
                              ("empty", "")):
                with self.subTest(path=path, token=name):
                    a = L.request(method, path, body=body, token=tok)
                    self.assertEqual(a.status, 403, a)
        self.assertEqual(snapshot(pids=[pid]), before, "a refused request changed the database")
        a = L.get("/api/admin/audit", token=L.admin_token)
        self.assertEqual(a.status, 200, a)
        self.assertIs(a.json["ok"], True, a)
        a = L.post("/api/admin/products/%d/stock" % pid, {"delta": 2}, token=L.admin_token)
        self.assertEqual((a.status, a.json["stock"]), (200, 9), a)
        self.assertIn(b"stockd_workers", L.get("/metrics", token=L.admin_token).body)
        self.assertEqual(L.get("/status", token=L.admin_token).status, 200)

    def test_e_deploy_admin(self):
        """deploy/admin (the installed copy) works for whoever reads the tokens file, and for nobody else: as
        www-data it cannot even start."""
        L = self.layout
        admin = os.path.join(L.root, SHARE.lstrip("/"), "deploy/admin")
        tokens = os.path.join(L.root, "etc/stockd/tokens")
        base = [admin, "--url", "http://127.0.0.1:%d" % L.port, "--tokens", tokens]

        def run(*args, user=None):
            cmd = (["runuser", "-u", user, "--"] if user else []) + base + list(args)
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

        sku = "ADM-" + uuid.uuid4().hex[:10]
        r = run("product", sku, 'A "quoted" name', "250", "4")
        self.assertEqual(r.returncode, 0, r.stderr)
        p = json.loads(r.stdout)
        self.assertEqual((p["sku"], p["name"], p["stock"]), (sku, 'A "quoted" name', 4))
        r = run("stock", str(p["id"]), "--set", "11")
        self.assertEqual((r.returncode, json.loads(r.stdout)["stock"]), (0, 11), r.stderr)
        r = run("stock", str(p["id"]), "--delta", "-1")
        self.assertEqual((r.returncode, json.loads(r.stdout)["stock"]), (0, 10), r.stderr)
        r = run("audit")
        self.assertEqual((r.returncode, json.loads(r.stdout)["ok"]), (0, True), r.stderr)
        r = run("metrics")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stockd_workers", r.stdout)
        r = run("status", "--full")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("workers", json.loads(r.stdout))
        # A refusal is an exit status, with the body.
        r = run("stock", str(p["id"]), "--set", "-1")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("invalid_request", r.stdout)
        # The token never appears on a command line (every user can read those in ps).
        self.assertNotIn(L.admin_token, read(admin))
        # As www-data: no token, no call.
        before = snapshot(pids=[p["id"]])
        r = run("stock", str(p["id"]), "--set", "99", user="www-data")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("cannot read", r.stderr)
        self.assertEqual(snapshot(pids=[p["id"]]), before)

    def test_f_malformed_records_from_www_data(self):
        """The libfcgi inputs that kill a worker (CVE-2025-23016's overflowing parameter lengths, truncated and
        garbage records), sent by www-data: nothing changes in the database (a worker dies before handling
        anything), the master replaces every worker that died and counts it, and the service keeps answering.
        The residual risk is documented in docs/operations.md."""
        L = self.layout
        pid, before = self.product_and_snapshot()
        products = db_int("SELECT COUNT(*) FROM products")
        wait_until(L.pool_whole, 20, 0.1, "the pool whole before")
        restarts0 = L.restarts()
        workers0 = set(L.worker_pids())
        cases = [raw.begin() + raw.record(raw.PARAMS, raw.nv_len(n) + raw.nv_len(v) + b"AAAA") + raw.record(raw.PARAMS)
                 for n, v in ((0x7FFFFFFF, 0x7FFFFFFF), (0x7FFFFFFF, 1), (0x40000000, 0x40000000))]
        if asan_without_null_malloc(L.app_pid()):
            cases = []  # an ASan build without allocator_may_return_null=1 reports these instead of failing
        body = json.dumps({"set": 0}).encode()
        stock = fcgi("POST", "/api/admin/products/%d/stock" % pid, body)
        cases += [
            stock[:len(stock) // 2],                                              # cut mid-request
            raw.begin() + raw.record(raw.PARAMS, b"\x05", declared=200),          # shorter than declared
            raw.record(raw.BEGIN_REQUEST, b"\x00\x01"),                           # a 2-byte BEGIN_REQUEST
            b"\xff" * 4096,                                                       # garbage
            raw.begin(role=raw.FILTER) + raw.stream(raw.PARAMS, raw.http_params("POST", "/api/admin/products"))
            + raw.stream(raw.STDIN, b""),                                         # a bogus role
        ]
        out = self.as_www_data([{"kind": "fcgi", "data": c.hex(), "timeout": 3} for c in cases])
        for i, o in enumerate(out):
            got = bytes.fromhex(o["data"])
            recs, _ = raw.parse_records(got)
            stdout = b"".join(c for t, _, c in recs if t == raw.STDOUT)
            if stdout:
                status = int(stdout.split(b"\r\n")[0].split()[1])
                self.assertNotEqual(status // 100, 2, "case %d answered %r" % (i, stdout[:200]))

        def settled():
            gone = workers0 - set(L.worker_pids())
            r = L.restarts()
            counted = sum(r[c] - restarts0[c] for c in r)
            return (gone, r) if L.pool_whole() and counted == len(gone) else None
        gone, r1 = wait_until(settled, 20, 0.2, "every worker that went replaced and counted")
        killed = int(r1["crash"] - restarts0["crash"])
        self.assertLessEqual(killed, len(gone))
        self.assertEqual(L.get("/healthz").status, 200)
        self.assertEqual(snapshot(pids=[pid]), before, "a malformed record changed the database")
        self.assertEqual(db_int("SELECT COUNT(*) FROM products"), products)
        print("\n  php_neighbour: %d of %d malformed inputs from www-data killed a worker; all replaced and counted"
              % (killed, len(cases)), end="", flush=True)


if __name__ == "__main__":
    unittest.main()
