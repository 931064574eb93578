"""docs/openapi.yaml against the running stack.

The document is valid OpenAPI 3.1 (a real validator from npm, tests/openapi/validate), names exactly the
routes of the app's router and nginx's own location, and every (route, status) it lists is produced here
by real requests whose status, headers, Content-Type and body are checked against it: successes and
client errors on the stack itself; 502 and 504 through a second nginx with the stack's own configuration
whose upstream is gone or silent; 403 and 429 from an off-host client (test_security's network
namespace); 503 with the database stopped. Only 500 internal_error cannot be provoked (it answers a bug
of ours). That no route answers a status the document does not list is checked by run.py over every
answer of the whole suite.
"""

import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import shutil
import threading
import time
import uuid

import nginx_copy
import test_security as sec
from lib import (MAX_ID, Resp, StockdTest, conf, free_port, get, make_product, new_cart, ok, post,
                 record, request, stack, wait_until)
from openapi_doc import DOC_FILE, TOP, Doc

DOC = Doc()
PRODUCED = set()  # (METHOD, template or "(no route)" / "(other method)", status) seen and checked
NOT_PRODUCIBLE = {500: "internal_error answers only a bug of ours (a constraint the code should have kept)"}
J = {"Content-Type": "application/json"}
APP_LIMIT = 65536


def send(port, method, path, body=None, headers=None, timeout=30):
    """One request to nginx on 127.0.0.1:port; body bytes sent as they are, headers as given (a
    Content-Length given without a body is sent alone: nginx judges the size from the header)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None and "Content-Length" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        payload = r.read()
        record(method, path, r.status, payload, r.getheader("Content-Type"))
        return Resp(method, path, r.status, r.msg, payload, 0)
    finally:
        conn.close()


def where(method, path):
    tpl = DOC.template(path)
    if tpl is None:
        return "(no route)"
    return tpl if method in DOC.operations(tpl) else "(other method)"


class Checks:
    def expect(self, status, r, method=None, path=None, code=None):
        """The answer has this status and matches the document in every respect; returns its JSON."""
        method, path = method or r.method, path or r.path
        body = r.body if isinstance(r.body, bytes) else r.body.encode("utf-8")
        self.assertEqual(r.status, status, "%s %s: %r" % (method, path, r))
        problems = DOC.check(method, path, r.status, r.headers, body)
        self.assertEqual(problems, [], "\n".join(problems))
        if code is not None:
            err = json.loads(body)["error"]
            self.assertEqual(err["code"], code, r)
        PRODUCED.add((method, where(method, path), status))
        try:
            return json.loads(body)
        except ValueError:
            return None


class A_Document(StockdTest):
    def test_a_valid_openapi_3_1(self):
        r = subprocess.run([os.path.join(TOP, "tests", "openapi", "validate"), DOC_FILE], capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(r.returncode, 0, "tests/openapi/validate: %s %s" % (r.stdout, r.stderr[-3000:]))
        self.assertIn("is valid OpenAPI 3.1", r.stdout)

    def test_b_every_route_and_only_routes(self):
        with open(os.path.join(TOP, "app", "http", "router.c")) as f:
            router = set(re.findall(r'\{ ROUTE_\w+, "([A-Z]+)", "([^"]+)"', f.read()))
        with open(os.path.join(TOP, "conf", "nginx", "stockd-locations.conf")) as f:
            nginx = set(re.findall(r"(?m)^location = (\S+) \{", f.read()))
        self.assertTrue(router and nginx)
        want = {(m, p) for m, p in router} | {("GET", p) for p in nginx}
        have = set()
        for tpl in DOC.doc["paths"]:
            for method in DOC.operations(tpl):
                have.add((method, re.sub(r"\{[^}]+\}", "{}", tpl)))
        self.assertEqual(have, want)

    def test_c_document_parsed_by_python_too(self):
        # The same components resolve for the answer checks (jsonschema, Draft 2020-12).
        for name in DOC.components["schemas"]:
            DOC.validator({"$ref": "#/components/schemas/%s" % name}).check_schema(DOC.components["schemas"][name])


class B_Answers(Checks, StockdTest):
    """Successes and client errors, on the stack itself, route by route."""

    def idem_reused(self, method, path, first, second, first_status):
        key = {"Idempotency-Key": "oa-" + uuid.uuid4().hex}
        self.expect(first_status, request(method, path, raw=first, headers=dict(J, **key)))
        self.expect(422, request(method, path, raw=second, headers=dict(J, **key)), code="idempotency_key_reused")

    def shape_errors(self, method, path, body):
        """413, 415, and 400 naming Idempotency-Key for a write route."""
        self.expect(413, request(method, path, raw=b" " * (APP_LIMIT + 1), headers=J), code="payload_too_large")
        self.expect(415, request(method, path, raw=body, headers={"Content-Type": "text/plain"}),
                    code="unsupported_media_type")
        r = request(method, path, raw=body, headers=dict(J, **{"Idempotency-Key": "has space"}))
        self.assertEqual(self.expect(400, r)["error"]["field"], "Idempotency-Key")

    def test_a_products_and_stock(self):
        pid = make_product(stock=10)["id"]
        self.expect(200, get("/api/products/%d" % pid))
        self.expect(404, get("/api/products/%d" % MAX_ID), code="product_not_found")
        self.expect(404, get("/api/products/0x1"), code="product_not_found")
        self.expect(200, get("/api/stock?ids=%d,%d,%d" % (pid, pid, MAX_ID)))
        self.expect(400, get("/api/stock?ids="))
        self.expect(400, get("/api/stock"))
        page = self.expect(200, get("/api/products?after=%d&limit=1" % (pid - 1)))
        self.assertEqual([p["id"] for p in page["items"]], [pid])
        self.assertIsNone(page["next_after"])
        self.expect(200, get("/api/products?limit=1"))
        self.assertEqual(self.expect(400, get("/api/products?limit=0"))["error"]["field"], "limit")
        self.assertEqual(self.expect(400, get("/api/products?after=-1"))["error"]["field"], "after")
        for path in ("/api/products/%d" % pid, "/api/products", "/api/stock?ids=1", "/healthz", "/readyz",
                     "/metrics", "/status",
                     "/api/admin/audit", "/api/cart/" + "0" * 32):
            self.expect(413, request("GET", path, raw=b" " * (APP_LIMIT + 1), headers=J), code="payload_too_large")

    def test_b_carts(self):
        pid = make_product(stock=10, price_cents=250)["id"]
        other = make_product(stock=3)["id"]
        r = post("/api/cart")
        cid = self.expect(201, r)["cart_id"]
        self.expect(201, request("POST", "/api/cart", raw=b"{}", headers=J))
        self.expect(400, request("POST", "/api/cart", raw=b"[]", headers=J))
        self.shape_errors("POST", "/api/cart", b"{}")
        self.idem_reused("POST", "/api/cart", b"", b"{}", 201)
        self.expect(200, get("/api/cart/" + cid, headers={"X-Cart-Id": cid}))
        self.expect(404, get("/api/cart/" + "0" * 32), code="cart_not_found")
        self.expect(404, get("/api/cart/" + cid.upper()), code="cart_not_found")
        unknown = "ab" * 16
        add = {"cart_id": cid, "product_id": pid, "quantity": 2, "decrease_stock": True}
        self.expect(200, post("/api/cart/add", add, headers={"X-Cart-Id": cid}))
        self.expect(400, post("/api/cart/add", dict(add, quantity=0)))
        self.expect(404, post("/api/cart/add", dict(add, cart_id=unknown)), code="cart_not_found")
        self.expect(404, post("/api/cart/add", dict(add, product_id=MAX_ID)), code="product_not_found")
        v = self.expect(409, post("/api/cart/add", dict(add, quantity=9)), code="insufficient_stock")
        self.assertEqual(v["error"]["available"], 8)
        self.shape_errors("POST", "/api/cart/add", json.dumps(add).encode())
        self.idem_reused("POST", "/api/cart/add", json.dumps(dict(add, cart_id=unknown)).encode(),
                         json.dumps(dict(add, cart_id=unknown, quantity=3)).encode(), 404)
        self.expect(200, post("/api/cart/add", {"cart_id": cid, "product_id": other, "quantity": 1}))
        rm = {"cart_id": cid, "product_id": other, "quantity": 1, "increase_stock": True}
        self.expect(200, request("DELETE", "/api/cart/remove", body=rm, headers={"X-Cart-Id": cid}))
        self.expect(404, request("DELETE", "/api/cart/remove", body=rm), code="item_not_in_cart")
        self.expect(404, request("DELETE", "/api/cart/remove", body=dict(rm, cart_id=unknown)), code="cart_not_found")
        self.expect(404, request("DELETE", "/api/cart/remove", body=dict(rm, product_id=MAX_ID)),
                    code="product_not_found")
        self.expect(400, request("DELETE", "/api/cart/remove", body=dict(rm, increase_stock="yes")))
        self.shape_errors("DELETE", "/api/cart/remove", json.dumps(rm).encode())
        self.idem_reused("DELETE", "/api/cart/remove", json.dumps(dict(rm, cart_id=unknown)).encode(),
                         json.dumps(dict(rm, cart_id=unknown, quantity=2)).encode(), 404)
        # stock holds
        hold = {"cart_id": cid, "product_id": pid, "quantity": 1}
        self.expect(200, post("/api/stock/reserve", hold, headers={"X-Cart-Id": cid}))
        self.expect(400, post("/api/stock/reserve", dict(hold, quantity=1.0)))
        self.expect(404, post("/api/stock/reserve", dict(hold, product_id=MAX_ID)), code="product_not_found")
        self.expect(404, post("/api/stock/reserve", dict(hold, cart_id=unknown)), code="cart_not_found")
        self.expect(409, post("/api/stock/reserve", dict(hold, quantity=100)), code="insufficient_stock")
        self.expect(503, post("/api/stock/reserve", hold, mode="legacy"), code="stock_management_disabled")
        self.shape_errors("POST", "/api/stock/reserve", json.dumps(hold).encode())
        self.idem_reused("POST", "/api/stock/reserve", json.dumps(dict(hold, cart_id=unknown)).encode(),
                         json.dumps(dict(hold, cart_id=unknown, quantity=2)).encode(), 404)
        self.expect(200, post("/api/stock/release", {"cart_id": cid, "product_id": pid, "quantity": 1}))
        self.expect(400, post("/api/stock/release", {"cart_id": cid}))
        self.expect(404, post("/api/stock/release", dict(hold, cart_id=unknown)), code="cart_not_found")
        self.expect(503, post("/api/stock/release", hold, mode="legacy"), code="stock_management_disabled")
        self.shape_errors("POST", "/api/stock/release", json.dumps(hold).encode())
        self.idem_reused("POST", "/api/stock/release", json.dumps(dict(hold, cart_id=unknown)).encode(),
                         json.dumps(dict(hold, cart_id=unknown, quantity=2)).encode(), 404)
        # checkout
        co = {"cart_id": cid}
        self.expect(409, post("/api/cart/checkout", {"cart_id": new_cart()}), code="cart_empty")
        self.expect(400, post("/api/cart/checkout", {"cart_id": 7}))
        self.expect(404, post("/api/cart/checkout", {"cart_id": unknown}), code="cart_not_found")
        self.shape_errors("POST", "/api/cart/checkout", json.dumps(co).encode())
        self.idem_reused("POST", "/api/cart/checkout", json.dumps({"cart_id": unknown}).encode(),
                         json.dumps({"cart_id": "cd" * 16}).encode(), 404)
        short = new_cart()
        self.expect(200, post("/api/cart/add", {"cart_id": short, "product_id": other, "quantity": 5}))
        v = self.expect(409, post("/api/cart/checkout", {"cart_id": short}), code="insufficient_stock")
        self.assertEqual(v["error"]["items"], [{"product_id": other, "requested": 5, "available": 3}])
        order = self.expect(201, post("/api/cart/checkout", co, headers={"X-Cart-Id": cid}))
        self.assertEqual(self.expect(200, post("/api/cart/checkout", co)), order)
        self.expect(409, post("/api/cart/add", add), code="cart_closed")
        self.expect(409, request("DELETE", "/api/cart/remove", body=dict(rm, product_id=pid)), code="cart_closed")
        self.expect(409, post("/api/stock/release", hold), code="cart_closed")
        self.assertEqual(self.expect(200, get("/api/cart/" + cid))["status"], "checked_out")

    def test_c_cart_creation_in_progress(self):
        # The first request with the key holds its claim while it waits on the carts table; the second sees it.
        key = {"Idempotency-Key": "oa-busy-" + uuid.uuid4().hex}
        locker = subprocess.Popen(["mariadb", "--no-defaults", "--socket=" + os.environ["DB_SOCKET"], "-uroot",
                                   os.environ.get("DB_NAME", "stockd"), "-N", "-B", "-e",
                                   "LOCK TABLES carts WRITE; SELECT SLEEP(1.5); UNLOCK TABLES;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        first = []
        try:
            time.sleep(0.3)
            t = threading.Thread(target=lambda: first.append(post("/api/cart", headers=key)))
            t.start()
            time.sleep(0.4)
            self.expect(409, post("/api/cart", headers=key), code="idempotency_key_in_progress")
            t.join(30)
        finally:
            locker.wait(30)
        self.assertIn(first[0].status, (201, 503), first[0])
        self.expect(first[0].status, first[0])

    def test_d_operators(self):
        sku = "OA-" + uuid.uuid4().hex[:12]
        new = {"sku": sku, "name": "OpenAPI check", "price_cents": 100, "stock": 4}
        pid = self.expect(201, post("/api/admin/products", new))["id"]
        self.expect(409, post("/api/admin/products", new), code="sku_exists")
        self.expect(400, post("/api/admin/products", dict(new, sku="")))
        self.shape_errors("POST", "/api/admin/products", json.dumps(new).encode())
        other = dict(new, sku=sku + "-2")
        self.idem_reused("POST", "/api/admin/products", json.dumps(other).encode(),
                         json.dumps(dict(other, stock=5)).encode(), 201)
        path = "/api/admin/products/%d/stock" % pid
        self.expect(200, post(path, {"delta": 3}))
        self.expect(200, post(path, {"set": 7}))
        self.expect(400, post(path, {"set": 1, "delta": 1}))
        self.expect(404, post("/api/admin/products/%d/stock" % MAX_ID, {"delta": 1}), code="product_not_found")
        cid = new_cart()
        ok(post("/api/stock/reserve", {"cart_id": cid, "product_id": pid, "quantity": 2}))
        self.expect(409, post(path, {"set": 1}), code="below_reserved")
        ok(post("/api/stock/release", {"cart_id": cid, "product_id": pid}))
        self.shape_errors("POST", path, b'{"delta":1}')
        self.idem_reused("POST", path, b'{"delta":1}', b'{"delta":2}', 200)
        self.expect(200, get("/api/admin/audit"))
        self.expect(200, get("/metrics"))
        self.expect(200, get("/status"))
        self.expect(200, get("/status?full"))
        self.expect(200, get("/healthz"))
        self.expect(200, get("/readyz"))
        self.assertEqual(self.expect(200, get("/_stockd/routing")), None)
        # nginx judges a body over 1 MiB by its Content-Length, before any location runs
        port = int(os.environ["BASE_URL"].rsplit(":", 1)[1])
        for method, path in (("GET", "/_stockd/routing"), ("GET", "/healthz"), ("GET", "/api/nope"),
                             ("PUT", "/api/cart/add")):
            self.expect(413, send(port, method, path, headers={"Content-Length": str(2 << 20)}),
                        code="payload_too_large")

    def test_e_unrouted(self):
        for method, path in [("GET", "/api/nope"), ("GET", "/api/cart/"), ("POST", "/api/cart/add/x"),
                             ("GET", "/api/products/"), ("DELETE", "/api/nope")]:
            self.expect(404, request(method, path), code="not_found")
        # CORS preflights (ALLOWED_ORIGINS): 204 for an allowed origin, 403 for another
        with conf(ALLOWED_ORIGINS="https://shop.example"):
            for origin, status in (("https://shop.example", 204), ("https://evil.example", 403)):
                r = request("OPTIONS", "/api/cart/add",
                            headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
                self.expect(status, r, code="forbidden" if status == 403 else None)
        for tpl in DOC.doc["paths"]:
            if tpl.startswith("/_stockd/"):
                continue  # nginx answers this location whatever the method
            path = tpl.replace("{product_id}", "1").replace("{cart_id}", "0" * 32)
            takes = sorted(DOC.operations(tpl))
            for method in ("PUT", "OPTIONS", "GET" if "GET" not in takes else "DELETE"):
                r = self.expect(405, request(method, path), code="method_not_allowed")
                self.assertEqual(sorted(request(method, path).header("Allow").split(", ")), takes)
            r = request("HEAD", path)  # no body to check, but the same status and Allow
            self.assertEqual((r.status, sorted(r.header("Allow").split(", "))), (405, takes), r)


class C_Gateway(Checks, StockdTest):
    """nginx's 502 and 504 pages: a second nginx with the stack's own configuration, whose upstream socket
    is first missing (502) and then listening but never answering (504, read timeout cut to 1 s)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stockd-oa-nginx.")
        os.chmod(cls.tmp, 0o755)
        cls.sock_path = os.path.join(cls.tmp, "app.sock")
        cls.port = free_port()
        # the app's three FastCGI locations: /api/, DELETEs in /api/, the service routes
        loc = nginx_copy.substitute(nginx_copy.locations_text(),
                                    [(r"fastcgi_read_timeout \S+;", "fastcgi_read_timeout 1s;", 3)],
                                    "stockd-locations.conf")
        nginx_copy.start(cls.tmp, cls.port, [(r"(?m)^(\s*)server unix:\S+;", r"\1server unix:%s;" % cls.sock_path, 1)],
                         locations=loc)

    @classmethod
    def tearDownClass(cls):
        nginx_copy.stop(cls.tmp)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def every_proxied(self):
        """One request per proxied operation, plus a non-route and another method."""
        out = []
        for tpl in DOC.doc["paths"]:
            if tpl.startswith("/_stockd/"):
                continue
            path = tpl.replace("{product_id}", "1").replace("{cart_id}", "0" * 32)
            for method in DOC.operations(tpl):
                body = b'{"cart_id":"%s","product_id":1,"quantity":1}' % (b"0" * 32) if method != "GET" else None
                out.append((method, path + ("?ids=1" if tpl == "/api/stock" else ""), body))
        return out + [("GET", "/api/nope", None), ("PUT", "/api/cart/add", None)]

    def run_all(self, status, code):
        answers = {}

        def one(req):
            method, path, body = req
            answers[req] = send(self.port, method, path, body=body, headers=J if body else {}, timeout=20)
        threads = [threading.Thread(target=one, args=(req,)) for req in self.every_proxied()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(answers), len(threads))
        for (method, path, _), r in answers.items():
            with self.subTest(method=method, path=path):
                err = self.expect(status, r, code=code)["error"]
                self.assertEqual(err["request_id"], r.header("X-Request-Id"))

    def test_a_502_when_the_app_is_gone(self):
        self.assertFalse(os.path.exists(self.sock_path))
        self.run_all(502, "bad_gateway")

    def test_b_504_when_the_app_does_not_answer(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(self.sock_path)
            os.chmod(self.sock_path, 0o666)
            s.listen(128)  # connections queue in the backlog; nothing ever answers them
            self.run_all(504, "gateway_timeout")
        finally:
            s.close()
            os.unlink(self.sock_path)


_off = sec.OffHost.__dict__


class D_OffHost(Checks, StockdTest):
    """403 and 429 need a client that is not on loopback: test_security's network namespace."""
    setUpClass = _off["setUpClass"]
    tearDownClass = _off["tearDownClass"]
    start_nginx = _off["start_nginx"]
    cleanup = _off["cleanup"]
    ns_run = _off["ns_run"]

    def ns_answers(self, reqs, parallel=1, source=None):
        out = self.ns_run(reqs, parallel=parallel, source=source)["answers"]
        res = []
        for rq, d in zip(reqs, out):
            self.assertIsNotNone(d.get("status"), d)
            body = d["body"].encode("utf-8")
            record(rq["method"], rq["path"], d["status"], body, d["headers"].get("content-type"))
            headers = http.client.HTTPMessage()
            for k, v in d["headers"].items():
                headers[k] = v
            res.append((rq, Resp(rq["method"], rq["path"], d["status"], headers, body, 0)))
        return res

    def test_a_403_operator_routes(self):
        reqs = []
        for tpl in DOC.doc["paths"]:
            for method, op in DOC.operations(tpl).items():
                if "403" not in op["responses"]:
                    continue
                path = tpl.replace("{product_id}", "1")
                body = '{"sku":"OA-%s","name":"x","price_cents":1,"stock":1}' % uuid.uuid4().hex[:10] \
                    if tpl == "/api/admin/products" else ('{"delta":1}' if method == "POST" else None)
                reqs.append({"method": method, "path": path, "body": body,
                             "headers": dict(J, Authorization="Bearer nope") if body else {}})
        self.assertGreaterEqual(len(reqs), 6)
        for rq, r in self.ns_answers(reqs):
            with self.subTest(path=rq["path"]):
                if rq["path"] == "/_stockd/routing":
                    self.expect(403, r)
                else:
                    self.expect(403, r, code="forbidden")

    def test_b_429_rate_limited_routes(self):
        body = '{"cart_id":"%s","product_id":1,"quantity":1}' % ("0" * 32)
        writes = [("POST", "/api/cart/add"), ("DELETE", "/api/cart/remove"), ("POST", "/api/cart/checkout"),
                  ("POST", "/api/stock/reserve"), ("POST", "/api/stock/release"), ("DELETE", "/api/cart/add")]
        # The writes share one budget per address (burst 60, 20/s), cart creation has its own (burst 20,
        # 30/min): a flood well past both, with every limited route in it many times after the bursts.
        reqs = [{"method": "POST", "path": "/api/cart/add", "body": body, "headers": J}] * 80
        reqs += [{"method": "POST", "path": "/api/cart"}] * 30
        for _ in range(10):
            reqs += [{"method": m, "path": p, "body": body, "headers": J} for m, p in writes]
            reqs.append({"method": "POST", "path": "/api/cart"})
        limited = set()
        for rq, r in self.ns_answers(reqs, parallel=8, source=self.client_ip):
            with self.subTest(method=rq["method"], path=rq["path"], status=r.status):
                self.expect(r.status, r)  # whatever passed is documented too
                if r.status == 429:
                    self.expect(429, r, code="rate_limited")
                    self.assertEqual(r.header("Retry-After"), "1")
                    limited.add((rq["method"], rq["path"]))
        self.assertEqual(limited, set(writes) | {("POST", "/api/cart")})


class E_DatabaseDown(Checks, StockdTest):
    def test_503_with_the_database_stopped(self):
        cid = "e" * 32
        hold = {"cart_id": cid, "product_id": 1, "quantity": 1}
        calls = [("GET", "/api/products/1", None), ("GET", "/api/products", None), ("GET", "/api/stock?ids=1", None),
                 ("POST", "/api/cart", None),
                 ("GET", "/api/cart/" + cid, None), ("POST", "/api/cart/add", hold),
                 ("DELETE", "/api/cart/remove", hold), ("POST", "/api/cart/checkout", {"cart_id": cid}),
                 ("POST", "/api/stock/reserve", hold), ("POST", "/api/stock/release", hold),
                 ("POST", "/api/admin/products", {"sku": "OA-DOWN", "name": "x", "price_cents": 1, "stock": 1}),
                 ("POST", "/api/admin/products/1/stock", {"delta": 1}), ("GET", "/api/admin/audit", None),
                 ("GET", "/readyz", None)]
        answers = []
        stack("db-stop")
        try:
            for method, path, body in calls:
                answers.append(request(method, path, body=body))
        finally:
            stack("db-start")
        wait_until(lambda: get("/readyz").status == 200, 15, 0.2, "readyz 200 after db-start")
        wait_until(lambda: get("/api/products/1").status == 200, 15, 0.2, "the app to reach the database")
        for _ in range(12):  # every worker has its connection back
            ok(get("/api/products/1"))
        for r in answers:
            with self.subTest(method=r.method, path=r.path):
                self.expect(503, r, code="database_unavailable")


class Z_Coverage(StockdTest):
    def test_every_documented_status_was_produced(self):
        missing = []
        for method, tpl, status in DOC.documented():
            if (method, tpl, status) not in PRODUCED and status not in NOT_PRODUCIBLE:
                missing.append("%s %s %d" % (method, tpl, status))
        for kind, label in (("notARoute", "(no route)"), ("otherMethod", "(other method)")):
            for status in DOC.unrouted_statuses(kind):
                if not any(w == label and s == status for _, w, s in PRODUCED):
                    missing.append("%s %d" % (label, status))
        self.assertEqual(missing, [], "documented but never produced and checked (run the whole module)")
