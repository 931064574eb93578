"""Security and abuse: cart ids and ownership, operator access from off-host, rate limits, secrets.

The off-host tests put a client in its own network namespace, reaching a second
nginx (the stack's config, listening on the host end of a veth pair instead of
127.0.0.1) that passes requests to the same app socket: the app sees a
non-loopback REMOTE_ADDR, and limit_req sees a real client address. Needs root
and iproute2 (`ip`); without them these tests fail, they are not skipped.
"""

import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor

import nginx_copy
from lib import (BASE_URL, HEX32, STACK_DIR, StockdTest, add, api_error, cart, check_json_ct, checkout, conf, get,
                 hold_qty, item, line_qty, make_product, new_cart, ok, post, product, release, remove, reserve, stack,
                 wait_until)

# A small HTTP client run inside the namespace (or on the host, for the loopback comparison): it reads a
# JSON spec on stdin, sends the requests from `parallel` threads, prints every answer as JSON.
NS_CLIENT = r'''
import http.client, json, sys, threading, time
spec = json.load(sys.stdin)
reqs = spec["requests"]
out = [None] * len(reqs)
src = spec.get("source")
def one(i):
    r = reqs[i]
    c = http.client.HTTPConnection(spec["host"], spec["port"], timeout=30,
                                   source_address=(src, 0) if src else None)
    data = r["body"].encode() if r.get("body") is not None else None
    try:
        c.request(r["method"], r["path"], body=data, headers=r.get("headers") or {})
        resp = c.getresponse()
        out[i] = {"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()},
                  "body": resp.read().decode("utf-8", "replace")}
    except Exception as e:
        out[i] = {"status": None, "error": repr(e)}
    finally:
        c.close()
it = iter(range(len(reqs)))
lock = threading.Lock()
def work():
    while True:
        with lock:
            i = next(it, None)
        if i is None:
            return
        one(i)
t0 = time.monotonic()
ts = [threading.Thread(target=work) for _ in range(spec.get("parallel", 1))]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({"elapsed": time.monotonic() - t0, "answers": out}))
'''


class Answer:
    def __init__(self, d):
        self.status = d.get("status")
        self.headers = d.get("headers", {})
        self.text = d.get("body", d.get("error", ""))
        try:
            self.json = json.loads(self.text)
        except ValueError:
            self.json = None

    @property
    def error(self):
        j = self.json
        return j.get("error") if isinstance(j, dict) and isinstance(j.get("error"), dict) else None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%s %s>" % (self.status, self.text[:300])


def json_error(testcase, a, status, code):
    testcase.assertEqual(a.status, status, a)
    ct = (a.header("Content-Type") or "").replace(" ", "").lower()
    testcase.assertEqual(ct, "application/json;charset=utf-8", a)
    testcase.assertIsNotNone(a.error, a)
    testcase.assertEqual(a.error.get("code"), code, a)
    testcase.assertTrue(a.error.get("message"), a)
    testcase.assertTrue(a.header("X-Request-Id"), a)


def sh(*cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def pick_subnet():
    """A free 10.200.X.Y/29 for this test's own veth pair (host .1, namespace .2 and .3)."""
    used = sh("ip", "-o", "-4", "addr", "show").stdout
    for _ in range(200):
        x, y = random.randrange(256), random.randrange(32) * 8
        prefix = "10.200.%d." % x
        if not any(("%s%d/" % (prefix, y + k)) in used for k in range(8)):
            return ["%s%d" % (prefix, y + k) for k in (1, 2, 3)]
    raise AssertionError("no free 10.200.x.y/29 for the test's veth pair")


class OffHost(StockdTest):
    """A client in its own network namespace, through a second nginx on the veth's host end."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("ip") is None:
            raise AssertionError("iproute2 (`ip`) is missing: deploy/install-deps installs it")
        tag = uuid.uuid4().hex[:6]
        cls.netns, cls.vh, cls.vn = "stockd-sec-" + tag, "sdh" + tag, "sdn" + tag
        cls.tmp = None
        cls.nginx_pid_file = None
        try:
            cls.host_ip, cls.client_ip, cls.client_ip2 = pick_subnet()
            sh("ip", "netns", "add", cls.netns)
            sh("ip", "link", "add", cls.vh, "type", "veth", "peer", "name", cls.vn)
            sh("ip", "link", "set", cls.vn, "netns", cls.netns)
            sh("ip", "addr", "add", cls.host_ip + "/29", "dev", cls.vh)
            sh("ip", "link", "set", cls.vh, "up")
            for addr in (cls.client_ip, cls.client_ip2):
                sh("ip", "netns", "exec", cls.netns, "ip", "addr", "add", addr + "/29", "dev", cls.vn)
            sh("ip", "netns", "exec", cls.netns, "ip", "link", "set", cls.vn, "up")
            sh("ip", "netns", "exec", cls.netns, "ip", "link", "set", "lo", "up")
            cls.start_nginx()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def start_nginx(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stockd-sec-nginx.")
        os.chmod(cls.tmp, 0o755)
        with open(os.path.join(STACK_DIR, "nginx", "nginx.conf")) as f:
            text = f.read()
        cls.port = 8080
        subs = [
            (r"(?m)^pid\s+\S+;", "pid %s/nginx.pid;" % cls.tmp, 1),
            (r"(?m)^error_log\s+\S+", "error_log %s/error.log" % cls.tmp, 1),
            (r"(?m)^(\s*)access_log\s+\S+", r"\1access_log %s/access.log" % cls.tmp, 1),
            (r"(?m)^(\s*)(\w+_temp_path)\s+\S+;", r"\1\2 %s/temp/\2;" % cls.tmp, 5),
            (r"(?m)^(\s*)listen\s+127\.0\.0\.1:\d+;", r"\1listen %s:%d;" % (cls.host_ip, cls.port), 1),
        ]
        for pat, rep, n in subs:
            text, got = re.subn(pat, rep, text)
            assert got == n, "nginx.conf: %d matches of %s, expected %d" % (got, pat, n)
        os.makedirs(os.path.join(cls.tmp, "temp"))
        conf_path = os.path.join(cls.tmp, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(text)
        cls.nginx_pid_file = os.path.join(cls.tmp, "nginx.pid")
        sh("nginx", "-p", cls.tmp, "-c", conf_path, "-t", "-q")
        sh("nginx", "-p", cls.tmp, "-c", conf_path)

        def answers():
            try:
                return cls.ns_run([{"method": "GET", "path": "/healthz"}])["answers"][0]["status"] == 200
            except AssertionError:
                return False
        wait_until(answers, 20, 0.2, "the namespace's client to reach the second nginx")

    @classmethod
    def cleanup(cls):
        if getattr(cls, "nginx_pid_file", None):
            nginx_copy.stop(cls.tmp)
        sh("ip", "link", "del", cls.vh, check=False)
        sh("ip", "netns", "del", cls.netns, check=False)
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    # --- clients ------------------------------------------------------------------

    @classmethod
    def ns_run(cls, requests, parallel=1, source=None):
        """Send requests from inside the namespace (from `source`, one of the namespace's addresses)."""
        spec = {"host": cls.host_ip, "port": cls.port, "requests": requests, "parallel": parallel,
                "source": source}
        r = subprocess.run(["ip", "netns", "exec", cls.netns, sys.executable, "-c", NS_CLIENT],
                           input=json.dumps(spec), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("namespace client failed: %s" % r.stderr[-2000:])
        return json.loads(r.stdout)

    def ns(self, method, path, headers=None, body=None):
        out = self.ns_run([{"method": method, "path": path, "headers": headers or {}, "body": body}])
        a = Answer(out["answers"][0])
        self.assertIsNotNone(a.status, a)
        return a

    @staticmethod
    def loopback_run(requests, parallel=1):
        host, port = BASE_URL.split("//")[1].split(":")
        spec = {"host": host, "port": int(port), "requests": requests, "parallel": parallel}
        r = subprocess.run([sys.executable, "-c", NS_CLIENT], input=json.dumps(spec), capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("loopback client failed: %s" % r.stderr[-2000:])
        return json.loads(r.stdout)

    # --- operator routes ------------------------------------------------------------

    OPERATOR = [("GET", "/api/admin/audit", None), ("GET", "/metrics", None), ("GET", "/status", None),
                ("GET", "/status?full", None),
                ("POST", "/api/admin/products", '{"sku":"SEC-%s","name":"x","price_cents":1,"stock":1}'),
                ("POST", "/api/admin/products/1/stock", '{"delta":1}')]

    def operator_calls(self, headers):
        """Every operator route once, from the namespace, in one go: [((method, path), Answer)]."""
        reqs = []
        for method, path, body in self.OPERATOR:
            if body and "%s" in body:
                body = body % uuid.uuid4().hex[:12]
            h = dict(headers)
            if body:
                h["Content-Type"] = "application/json"
            reqs.append({"method": method, "path": path, "headers": h, "body": body})
        out = self.ns_run(reqs)["answers"]
        return [((r["method"], r["path"]), Answer(d)) for r, d in zip(reqs, out)]

    def test_a_operator_routes_are_forbidden_off_host(self):
        products_before = int(self.db_count("products"))
        stock1 = product(1)["stock"]
        # no ADMIN_TOKEN in this stack's conf: no header opens them, nor a forged client address
        for headers in [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"},
                        {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
                        {"X-Forwarded-For": "127.0.0.1", "Authorization": "Basic YWRtaW46YWRtaW4="}]:
            for (method, path), a in self.operator_calls(headers):
                with self.subTest(path=path, headers=headers):
                    json_error(self, a, 403, "forbidden")
        self.assertEqual(int(self.db_count("products")), products_before, "a forbidden create created")
        self.assertEqual(product(1)["stock"], stock1, "a forbidden stock change changed stock")
        # the shop itself is open to everyone
        a = self.ns("GET", "/api/products/1")
        self.assertEqual(a.status, 200, a)
        self.assertEqual(a.json["id"], 1)

    def test_a2_nginx_routing_state_is_loopback_only(self):
        # stockd-locations.conf: "The routing state nginx is running now ... Loopback only."
        self.assertEqual(get("/_stockd/routing").status, 200)
        a = self.ns("GET", "/_stockd/routing")
        self.assertEqual(a.status, 403, "/_stockd/routing answered %r to an off-host client" % a)

    @staticmethod
    def db_count(table):
        from lib import db_int
        return db_int("SELECT COUNT(*) FROM %s" % table)

    def test_b_admin_token_off_host(self):
        token = "Tk" + uuid.uuid4().hex + uuid.uuid4().hex[:10]  # 44 characters
        with conf(ADMIN_TOKEN=token):
            good = {"Authorization": "Bearer " + token}
            for (method, path), a in self.operator_calls(good):
                with self.subTest(path=path, token="right"):
                    self.assertEqual(a.status, 201 if path == "/api/admin/products" else 200, a)
            audit = self.ns("GET", "/api/admin/audit", headers=good)
            self.assertIs(audit.json["ok"], True, audit)
            wrong_same_len = token[:-1] + ("0" if token[-1] != "0" else "1")
            flipped_first = ("X" if token[0] != "X" else "Y") + token[1:]
            for name, value in [("no header", None), ("same length, last byte differs", wrong_same_len),
                                ("same length, first byte differs", flipped_first),
                                ("shorter: a prefix", token[:-1]), ("a prefix of 8", token[:8]),
                                ("longer: token plus one", token + "x"), ("empty", ""),
                                ("token twice", token + token), ("lower-cased", token.lower())]:
                h = {} if value is None else {"Authorization": "Bearer " + value}
                for (method, path), a in self.operator_calls(h):
                    with self.subTest(path=path, token=name):
                        json_error(self, a, 403, "forbidden")
                        self.assertNotIn(token, a.text)
            for name, h in [("not a Bearer scheme", {"Authorization": "Basic " + token}),
                            ("no scheme", {"Authorization": token}),
                            ("in another header", {"X-Admin-Token": token})]:
                a = self.ns("GET", "/api/admin/audit", headers=h)
                with self.subTest(name):
                    json_error(self, a, 403, "forbidden")
        # the token is gone with the conf change: the same header is refused again
        a = self.ns("GET", "/api/admin/audit", headers={"Authorization": "Bearer " + token})
        json_error(self, a, 403, "forbidden")

    def test_b2_metrics_token_off_host(self):
        """METRICS_TOKEN (read-only): /metrics and the status page, and 403 on every other operator route;
        ADMIN_TOKEN still opens everything; a wrong or swapped token is refused; unset, it is not accepted."""
        admin = "Ad" + uuid.uuid4().hex + uuid.uuid4().hex[:10]
        reader = "Mt" + uuid.uuid4().hex + uuid.uuid4().hex[:10]
        stock1 = product(1)["stock"]
        products_before = int(self.db_count("products"))
        with conf(ADMIN_TOKEN=admin, METRICS_TOKEN=reader):
            for (method, path), a in self.operator_calls({"Authorization": "Bearer " + reader}):
                with self.subTest(path=path, token="metrics"):
                    if path.startswith(("/metrics", "/status")):
                        self.assertEqual(a.status, 200, a)
                    else:
                        json_error(self, a, 403, "forbidden")
            self.assertEqual(int(self.db_count("products")), products_before, "the metrics token created")
            self.assertEqual(product(1)["stock"], stock1, "the metrics token changed stock")
            a = self.ns("GET", "/metrics", headers={"Authorization": "Bearer " + reader})
            self.assertIn("stockd_workers", a.text)
            for (method, path), a in self.operator_calls({"Authorization": "Bearer " + admin}):
                with self.subTest(path=path, token="admin"):
                    self.assertEqual(a.status, 201 if path == "/api/admin/products" else 200, a)
            for name, value in [("metrics token plus one", reader + "x"), ("metrics prefix", reader[:-1]),
                                ("both", admin + reader), ("lower-cased", reader.lower())]:
                for (method, path), a in self.operator_calls({"Authorization": "Bearer " + value}):
                    with self.subTest(path=path, token=name):
                        json_error(self, a, 403, "forbidden")
                        self.assertNotIn(reader, a.text)
        # The admin token alone, METRICS_TOKEN unset: the old reader token opens nothing.
        with conf(ADMIN_TOKEN=admin):
            a = self.ns("GET", "/metrics", headers={"Authorization": "Bearer " + reader})
            json_error(self, a, 403, "forbidden")

    # --- rate limits ----------------------------------------------------------------

    def check_limited(self, out, burst, rate_per_s, what):
        answers = [Answer(d) for d in out["answers"]]
        for a in answers:
            self.assertIsNotNone(a.status, "%s: no answer %r" % (what, a))
        limited = [a for a in answers if a.status == 429]
        passed = [a for a in answers if a.status != 429]
        self.assertTrue(limited, "%s: no 429 in %d quick requests (%s)" % (
            what, len(answers), collections.Counter(a.status for a in answers)))
        # the leaky bucket lets through the burst plus what the rate refills meanwhile, and no more
        self.assertLessEqual(len(passed), burst + 1 + rate_per_s * out["elapsed"] + 2,
                             "%s: %d of %d passed in %.2fs" % (what, len(passed), len(answers), out["elapsed"]))
        for a in limited:
            json_error(self, a, 429, "rate_limited")
            self.assertEqual(a.error.get("request_id"), a.header("X-Request-Id"), a)
        return len(limited), len(passed)

    def test_c_write_routes_rate_limited_per_client_address(self):
        body = '{"cart_id":"%s","product_id":1,"quantity":1}' % ("0" * 32)  # any body: limit_req runs first
        burst = [{"method": "POST", "path": "/api/cart/add", "body": body,
                  "headers": {"Content-Type": "application/json"}} for _ in range(100)]
        out = self.ns_run(burst, parallel=8, source=self.client_ip)
        n429, _ = self.check_limited(out, 60, 20, "100 adds from %s" % self.client_ip)
        for a in (Answer(d) for d in out["answers"]):
            if a.status != 429:
                json_error(self, a, 404, "cart_not_found")  # it reached the app
        # the key is the address nginx sees: another address has its own budget, and forged
        # forwarding headers neither exempt it nor move it to another key
        forged = [{"method": "POST", "path": "/api/stock/reserve", "body": body,
                   "headers": {"Content-Type": "application/json", "X-Forwarded-For": "127.0.0.1",
                               "X-Real-IP": "127.0.0.1" if i % 2 else "10.1.%d.%d" % (i, i)}}
                  for i in range(100)]
        out2 = self.ns_run(forged, parallel=8, source=self.client_ip2)
        first = Answer(out2["answers"][0])
        self.assertNotEqual(first.status, 429, "a fresh address starts with a full burst: %r" % first)
        self.check_limited(out2, 60, 20, "100 reserves with forged forwarding headers from %s" % self.client_ip2)
        # loopback is exempt: the same burst (and more) against the stack's own nginx
        out3 = self.loopback_run([dict(r) for r in burst] + [dict(r) for r in forged], parallel=8)
        statuses = collections.Counter(d["status"] for d in out3["answers"])
        self.assertNotIn(429, statuses, statuses)
        self.assertEqual(statuses, {404: 200}, statuses)

    def test_d_cart_creation_rate_limited(self):
        burst = [{"method": "POST", "path": "/api/cart"} for _ in range(40)]
        out = self.ns_run(burst, parallel=4, source=self.client_ip)
        self.check_limited(out, 20, 30 / 60, "40 cart creations")
        created = [Answer(d) for d in out["answers"] if d["status"] != 429]
        for a in created:
            self.assertEqual(a.status, 201, a)
            self.assertTrue(HEX32.fullmatch(a.json["cart_id"]), a)
        out2 = self.loopback_run(burst, parallel=4)
        statuses = collections.Counter(d["status"] for d in out2["answers"])
        self.assertEqual(statuses, {201: 40}, statuses)

    # --- secrets --------------------------------------------------------------------

    def test_e_secrets_never_shown(self):
        token = "Sx" + uuid.uuid4().hex + uuid.uuid4().hex
        logs = os.path.join(STACK_DIR, "log")
        bodies = []
        with conf(ADMIN_TOKEN=token):
            good = {"Authorization": "Bearer " + token}
            bad = {"Authorization": "Bearer " + token[:-2] + "zz"}
            reqs = []
            for h in (good, bad, {}):
                for path in ("/metrics", "/status", "/status?full", "/api/admin/audit", "/readyz",
                             "/api/nope", "/api/cart/" + "f" * 32):
                    reqs.append({"method": "GET", "path": path, "headers": h})
                reqs.append({"method": "POST", "path": "/api/cart/add", "body": '{"cart_id":1}',
                             "headers": dict(h, **{"Content-Type": "application/json"})})
                reqs.append({"method": "POST", "path": "/api/admin/products", "body": "x",
                             "headers": dict(h, **{"Content-Type": "text/plain"})})
            for rq, d in zip(reqs, self.ns_run(reqs)["answers"]):
                bodies.append(("ns %s %s" % (rq["method"], rq["path"]), Answer(d)))
            for path in ("/metrics", "/status?full", "/api/admin/audit"):
                bodies.append(("loopback " + path, get(path, headers=good)))
            # errors from a database that is down
            stack("db-stop")
            try:
                cid = "e" * 32
                for name, call in [("product", lambda: get("/api/products/1")),
                                   ("add", lambda: add(cid, 1, 1, dec=True)),
                                   ("cart", lambda: post("/api/cart")),
                                   ("audit", lambda: get("/api/admin/audit", headers=good)),
                                   ("readyz", lambda: get("/readyz")),
                                   ("metrics", lambda: get("/metrics", headers=good))]:
                    r = call()
                    if name not in ("metrics",):
                        self.assertEqual(r.status, 503, r)
                    bodies.append(("db down " + name, r))
                bodies.append(("ns db down audit", self.ns("GET", "/api/admin/audit", headers=good)))
                bodies.append(("ns db down add", self.ns("POST", "/api/cart/add", body='{"cart_id":"%s",'
                               '"product_id":1,"quantity":1}' % cid, headers={"Content-Type": "application/json"})))
            finally:
                stack("db-start")
            wait_until(lambda: get("/readyz").status == 200, 15, 0.2, "readyz 200 after db-start")
            wait_until(lambda: get("/api/products/1").status == 200, 15, 0.2, "the app to reach the database")
            for _ in range(12):  # every worker has its connection back
                ok(get("/api/products/1"))
        for name, r in bodies:
            text = r.text
            with self.subTest(name):
                self.assertNotIn(token, text)
                self.assertNotIn(token[:16], text)
                self.assertNotIn("DB_PASSWORD", text)
                self.assertNotIn("password", text.lower())
        self.assertTrue(any(n.startswith("db down") and r.status == 503 for n, r in bodies))
        # the logs: every file the stack writes, and this test's second nginx
        files = [os.path.join(logs, f) for f in sorted(os.listdir(logs))]
        files += [os.path.join(self.tmp, f) for f in ("access.log", "error.log")]
        app_logs = {os.path.join(logs, f) for f in ("stockd.log", "stockd.stderr", "access.log")}
        checked = 0
        for path in files:
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            checked += 1
            with self.subTest(log=path):
                self.assertNotIn(token.encode(), data)
                self.assertNotIn(token[:16].encode(), data)
                self.assertNotIn(b"DB_PASSWORD", data)
                if path in app_logs:
                    self.assertNotIn(b"password", data.lower())
        self.assertGreaterEqual(checked, 4)
        self.assertTrue(os.path.getsize(os.path.join(logs, "stockd.log")) > 0)


class CartOwnership(StockdTest):
    def test_cart_ids_are_random_128_bit_hex(self):
        with ThreadPoolExecutor(8) as ex:
            resps = list(ex.map(lambda i: post("/api/cart"), range(200)))
        ids = []
        for r in resps:
            v = ok(r, 201)
            ids.append(v["cart_id"])
            self.assertTrue(HEX32.fullmatch(v["cart_id"]), v)
            self.assertIn("cart_id=%s;" % v["cart_id"], " ".join(r.set_cookies), r)
        self.assertEqual(len(set(ids)), 200, "duplicate cart ids")
        # 6,400 hex digits from a uniform source: each digit ~400 times; a counter, a clock or a
        # 64-bit source padded out would be far off (chi-square, 15 degrees of freedom, p < 1e-6)
        digits = collections.Counter("".join(ids))
        chi2 = sum((digits[d] - 400) ** 2 / 400 for d in "0123456789abcdef")
        self.assertLess(chi2, 60, "hex digits of 200 ids: %s" % dict(digits))
        for pos in range(32):  # every position varies: no fixed or sequential part
            self.assertGreaterEqual(len({i[pos] for i in ids}), 10, "position %d barely varies" % pos)
        longest = max(len(os.path.commonprefix([a, b])) for a, b in zip(sorted(ids), sorted(ids)[1:]))
        self.assertLess(longest, 8, "two ids share a prefix of %d hex digits" % longest)

    def test_one_cart_cannot_touch_anothers_holds(self):
        p = make_product(stock=20, price_cents=100)
        pid = p["id"]
        a, b = new_cart(), new_cart()
        ok(add(b, pid, 3, dec=True))
        ok(reserve(b, pid, 2))
        b_view = cart(b)
        b_state = (line_qty(b, pid), hold_qty(b, pid))
        self.assertEqual(b_state, (3, 5))
        # B's cookie and header with A's id in the body: the body's cart is the one acted on
        as_b = {"X-Cart-Id": b, "Cookie": "cart_id=" + b}
        steps = [
            ("reserve", lambda: reserve(a, pid, 4, headers=as_b), 200, 4),
            ("release all", lambda: release(a, pid, headers=as_b), 200, 0),
            ("release more than held", lambda: release(a, pid, 5), 200, 0),
            ("reserve again", lambda: reserve(a, pid, 1), 200, 1),
            ("release 3 of 1", lambda: release(a, pid, 3), 200, 0),
        ]
        for name, call, status, reserved in steps:
            with self.subTest(name):
                v = ok(call(), status)
                self.assertEqual((v["cart_id"], v["reserved"]), (a, reserved), v)
                self.assertEqual((line_qty(b, pid), hold_qty(b, pid)), b_state, "B changed by A's %s" % name)
        api_error(remove(a, pid, 3, inc=True, headers=as_b), 404, "item_not_in_cart")
        self.assertEqual((line_qty(b, pid), hold_qty(b, pid)), b_state)
        # A buys one unit: its order holds its own line only; B keeps its line and hold
        ok(add(a, pid, 1, dec=True, headers=as_b))
        order = ok(checkout(a, headers=as_b), 201)
        self.assertEqual(order["cart_id"], a)
        self.assertEqual(order["items"], [{"product_id": pid, "quantity": 1, "price_cents": 100}])
        self.assertEqual((line_qty(b, pid), hold_qty(b, pid)), b_state)
        self.assertEqual(cart(b), b_view)
        got = product(pid)
        self.assertEqual((got["stock"], got["reserved"]), (19, 5))
        # A's view shows A only; another spelling of B's id is no cart at all
        av = cart(a)
        self.assertEqual([it["product_id"] for it in av["items"]], [pid])
        self.assertEqual(item(av, pid)["quantity"], 1)
        for other in (b.upper(), b[:-1], b + "0", " " + b):
            r = get("/api/cart/" + other.replace(" ", "%20"))
            with self.subTest(other=other):
                api_error(r, 404, "cart_not_found")
        # B still sells exactly its own units
        v = ok(checkout(b), 201)
        self.assertEqual(v["items"], [{"product_id": pid, "quantity": 3, "price_cents": 100}])
        got = product(pid)
        self.assertEqual((got["stock"], got["reserved"]), (16, 0))
        check_json_ct(get("/api/cart/" + b))
