"""CORS for shop pages on other origins (ALLOWED_ORIGINS): allowed origins get their answers readable, every
other origin gets no CORS header at all, preflights are answered by the app, and a malformed list is refused.

Each test sets ALLOWED_ORIGINS with a SIGHUP of the app and puts the conf file back afterwards.
"""

import os
import signal
import time

from lib import (StockdTest, add, api_error, conf, get, make_product, metric, metrics, new_cart, ok, post,
                 read_conf, request, reserve, restore_conf, sighup_and_wait, wait_until, _write_conf, STACK_DIR,
                 app_pid)

SHOP = "https://shop.example"
LOCAL = "http://127.0.0.1:8081"
ALLOWED = SHOP + ", " + LOCAL
EXPOSE = "X-Stock-Mode, X-Request-Id"
ALLOW_HEADERS = "Content-Type, Idempotency-Key, X-Cart-Id"
# Origins a browser could send that are not in the list: other hosts and look-alikes, another scheme or port,
# another spelling of an allowed one, the opaque origin.
OTHERS = ["https://evil.example", "http://shop.example", "https://shop.example:8443", "https://shop.example:443",
          "https://SHOP.EXAMPLE", "https://shop.example.evil.example", "https://evilshop.example",
          "http://127.0.0.1:8080", "http://127.0.0.1", "null", SHOP + "/", SHOP + ", " + LOCAL]


def cors_headers(r):
    """Every Access-Control-* header of an answer."""
    return {k: v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def preflight(path, origin, method="POST", req_headers="content-type,idempotency-key,x-cart-id"):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if req_headers:
        h["Access-Control-Request-Headers"] = req_headers
    return request("OPTIONS", path, headers=h)


class CorsTest(StockdTest):
    def assert_allowed(self, r, origin):
        self.assertEqual(r.header("Access-Control-Allow-Origin"), origin, r)
        self.assertEqual(r.header_all("Access-Control-Allow-Origin"), [origin], r)
        self.assertIn("Origin", [v.strip() for h in r.header_all("Vary") for v in h.split(",")], r)
        self.assertEqual(r.header("Access-Control-Expose-Headers"), EXPOSE, r)
        # no credentials: the page names its cart with X-Cart-Id, never with third-party cookies
        self.assertIsNone(r.header("Access-Control-Allow-Credentials"), r)

    def assert_no_cors(self, r):
        self.assertEqual(cors_headers(r), {}, r)


class Unset(CorsTest):
    def test_no_cors_headers_without_the_setting(self):
        self.assertFalse([ln for ln in read_conf().splitlines() if ln.startswith("ALLOWED_ORIGINS=")])
        pid = make_product(stock=3)["id"]
        for origin in (SHOP, "https://evil.example", None):
            with self.subTest(origin=origin):
                h = {"Origin": origin} if origin else {}
                r = get("/api/products/%d" % pid, headers=h)
                ok(r)
                self.assert_no_cors(r)
                self.assertIsNone(r.header("Vary"), r)
                r = post("/api/cart", headers=h)
                ok(r, 201)
                self.assert_no_cors(r)
        # a preflight is just an OPTIONS, which no route takes: 405 as before, no CORS header
        r = preflight("/api/cart/add", SHOP)
        api_error(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "POST")
        self.assert_no_cors(r)


class Allowed(CorsTest):
    def test_allowed_origins_read_every_shop_answer(self):
        p = make_product(stock=2)
        pid = p["id"]
        with conf(ALLOWED_ORIGINS=ALLOWED):
            for origin in (SHOP, LOCAL):
                with self.subTest(origin=origin):
                    h = {"Origin": origin}
                    r = get("/api/products?after=%d&limit=1" % (pid - 1), headers=h)
                    self.assertEqual(ok(r)["items"][0]["id"], pid)
                    self.assert_allowed(r, origin)
                    # a preflight's extra headers belong to preflights only
                    for k in ("Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                              "Access-Control-Max-Age"):
                        self.assertIsNone(r.header(k), r)
                    r = get("/api/stock?ids=%d" % pid, headers=h)
                    ok(r)
                    self.assert_allowed(r, origin)
                    r = post("/api/cart", headers=h)
                    cid = ok(r, 201)["cart_id"]
                    self.assert_allowed(r, origin)
                    hc = dict(h, **{"X-Cart-Id": cid})
                    r = request("GET", "/api/cart/" + cid, headers=hc)
                    ok(r)
                    self.assert_allowed(r, origin)
                    # errors the page must read: 400, 404, 409 with its details, 503 in legacy mode
                    r = add(cid, pid, 0, dec=True, headers=h)
                    api_error(r, 400, "invalid_request", "quantity")
                    self.assert_allowed(r, origin)
                    r = get("/api/products/0", headers=h)
                    api_error(r, 404, "product_not_found")
                    self.assert_allowed(r, origin)
                    r = get("/api/nope", headers=h)
                    api_error(r, 404, "not_found")
                    self.assert_allowed(r, origin)
                    r = add(cid, pid, 3, dec=True, headers=h)
                    self.assertEqual(api_error(r, 409, "insufficient_stock")["available"], 2)
                    self.assert_allowed(r, origin)
                    r = reserve(cid, pid, 1, mode="legacy", headers=h)
                    api_error(r, 503, "stock_management_disabled")
                    self.assert_allowed(r, origin)
                    self.assertEqual(r.header("X-Stock-Mode"), "legacy")
                    # a replayed answer (Idempotency-Key) is as readable as the first
                    hk = dict(h, **{"Idempotency-Key": "cors-" + cid})
                    first = add(cid, pid, 1, dec=True, headers=hk)
                    again = add(cid, pid, 1, dec=True, headers=hk)
                    self.assertEqual((first.status, first.body), (again.status, again.body))
                    self.assert_allowed(first, origin)
                    self.assert_allowed(again, origin)
                    ok(request("POST", "/api/stock/release", body={"cart_id": cid, "product_id": pid},
                               headers=hc))

    def test_other_origins_get_no_cors_header(self):
        pid = make_product(stock=20)["id"]
        with conf(ALLOWED_ORIGINS=ALLOWED):
            for origin in OTHERS:
                with self.subTest(origin=origin):
                    h = {"Origin": origin}
                    # served as ever (CORS is about what a browser lets the page read, not a gate)...
                    r = get("/api/products/%d" % pid, headers=h)
                    ok(r)
                    # ...but nothing that lets a browser hand it to the page; Vary still tells caches
                    self.assert_no_cors(r)
                    self.assertEqual(r.header("Vary"), "Origin", r)
                    cid = ok(post("/api/cart", headers=h), 201)["cart_id"]
                    r = add(cid, pid, 1, dec=True, headers=h)
                    ok(r)
                    self.assert_no_cors(r)
                    r = add(cid, pid, 50, dec=True, headers=h)
                    api_error(r, 409, "insufficient_stock")
                    self.assert_no_cors(r)
                    r = preflight("/api/cart/add", origin)
                    api_error(r, 403, "forbidden")
                    self.assert_no_cors(r)
            # no Origin at all (curl, a server-side client): no CORS header either
            r = get("/api/products/%d" % pid)
            ok(r)
            self.assert_no_cors(r)
            self.assertEqual(r.header("Vary"), "Origin", r)

    def test_operator_and_service_routes_are_never_cors(self):
        with conf(ALLOWED_ORIGINS=ALLOWED):
            for path in ("/api/admin/audit", "/healthz", "/readyz", "/metrics", "/status"):
                with self.subTest(path=path):
                    r = get(path, headers={"Origin": SHOP})
                    self.assertEqual(r.status, 200, r)
                    self.assert_no_cors(r)
            for path, method in (("/api/admin/products", "POST"), ("/api/admin/products/1/stock", "POST"),
                                 ("/api/admin/audit", "GET")):
                with self.subTest(path=path):
                    r = preflight(path, SHOP, method=method)
                    api_error(r, 403, "forbidden")
                    self.assert_no_cors(r)


class Preflight(CorsTest):
    def test_preflight_names_the_routes_methods(self):
        cid = new_cart()
        routes = [("/api/cart/add", "POST", "POST"), ("/api/cart/remove", "DELETE", "DELETE"),
                  ("/api/cart/checkout", "POST", "POST"), ("/api/cart", "POST", "POST"),
                  ("/api/cart/" + cid, "GET", "GET"), ("/api/stock/reserve", "POST", "POST"),
                  ("/api/stock/release", "POST", "POST"), ("/api/stock", "GET", "GET"),
                  ("/api/products", "GET", "GET"), ("/api/products/1", "GET", "GET")]
        before = metric(metrics(), "stockd_requests_total", route="cors_preflight")
        with conf(ALLOWED_ORIGINS=ALLOWED):
            for path, asked, methods in routes:
                for origin in (SHOP, LOCAL):
                    with self.subTest(path=path, origin=origin):
                        r = preflight(path, origin, method=asked)
                        self.assertEqual(r.status, 204, r)
                        self.assertEqual(r.body, b"", r)
                        self.assert_allowed(r, origin)
                        self.assertEqual(r.header("Access-Control-Allow-Methods"), methods, r)
                        self.assertEqual(r.header("Access-Control-Allow-Headers"), ALLOW_HEADERS, r)
                        self.assertEqual(r.header("Access-Control-Max-Age"), "600", r)
                        self.assertIsNotNone(r.header("X-Request-Id"), r)
            # the answer does not depend on what is asked: a browser compares it with its request
            r = preflight("/api/cart/add", SHOP, method="PUT", req_headers="authorization")
            self.assertEqual((r.status, r.header("Access-Control-Allow-Methods")), (204, "POST"), r)
            r = preflight("/api/cart/add", SHOP, req_headers=None)
            self.assertEqual(r.status, 204, r)
            # an unknown route is a 404 (the page may read it), with no preflight permissions
            r = preflight("/api/nope", SHOP)
            api_error(r, 404, "not_found")
            self.assert_allowed(r, SHOP)
            self.assertIsNone(r.header("Access-Control-Allow-Methods"), r)
            # an OPTIONS that is no preflight (no Access-Control-Request-Method) is what it was: 405
            r = request("OPTIONS", "/api/cart/add", headers={"Origin": SHOP})
            api_error(r, 405, "method_not_allowed")
            self.assertIsNone(r.header("Access-Control-Allow-Methods"), r)
        after = metric(metrics(), "stockd_requests_total", route="cors_preflight")
        self.assertEqual(after - before, len(routes) * 2 + 2)

    def test_nginx_errors_carry_no_cors_header(self):
        """What a cross-origin page sees when nginx itself answers (here its 413 for a body past 1 MiB; the
        502/504/429 pages are made the same way): no CORS header, so the browser reports a network error,
        which the client treats like a server that did not answer (retry, then fallback)."""
        with conf(ALLOWED_ORIGINS=ALLOWED):
            r = request("POST", "/api/cart/add", raw=b"x" * (2 * 1024 * 1024),
                        headers={"Origin": SHOP, "Content-Type": "application/json"})
            api_error(r, 413, "payload_too_large")
            self.assert_no_cors(r)
            # while the app's own 413 (over 64 KiB) is readable
            r = request("POST", "/api/cart/add", raw=b"x" * (100 * 1024),
                        headers={"Origin": SHOP, "Content-Type": "application/json"})
            api_error(r, 413, "payload_too_large")
            self.assert_allowed(r, SHOP)


class BadSetting(CorsTest):
    def test_malformed_list_is_refused_and_the_running_one_kept(self):
        log = os.path.join(STACK_DIR, "log", "stockd.log")
        with conf(ALLOWED_ORIGINS=SHOP):
            orig = read_conf()
            gen = metric(metrics(), "stockd_config_generation")
            try:
                for bad in ("https://shop.example/", "*", SHOP + ",,", "https://Shop.example"):
                    with self.subTest(value=bad):
                        size = os.path.getsize(log)
                        _write_conf(orig.replace("ALLOWED_ORIGINS=" + SHOP, "ALLOWED_ORIGINS=" + bad))
                        os.kill(app_pid(), signal.SIGHUP)

                        def refused():
                            with open(log, errors="replace") as f:
                                f.seek(size)
                                return [ln for ln in f.read().splitlines() if "reload refused" in ln]
                        lines = wait_until(refused, 10, what="the refused reload in the log")
                        self.assertIn("ALLOWED_ORIGINS", lines[0])
                        time.sleep(0.2)
                        self.assertEqual(metric(metrics(), "stockd_config_generation"), gen)
                        r = get("/api/products?limit=1", headers={"Origin": SHOP})
                        ok(r)
                        self.assert_allowed(r, SHOP)
            finally:
                _write_conf(orig)
