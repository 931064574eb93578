"""Table-driven battery of bad requests for every write endpoint.

Each bad request must get exactly the documented status, code and field, and
must change nothing: the rows behind the fixture products and cart, and the
global row counts, are compared before and after every case. Also: the check
order (shape, mode, existence, state), 404 not_found and 405 for every route,
and the headers every response carries.
"""

import json
import re
import uuid

from lib import (HEX32, MAX_ID, StockdTest, add, api_error, cart, item, make_product, new_cart, ok, request,
                 snapshot)

MAX_BODY = 65536

QTY_BAD = ["0", "-1", "1.5", "1.0", "1e3", "1E0", '"2"', "true", "false", "null", "1001", "[]", "{}", "-0",
           "100000000000000000000", "[1]"]
PID_BAD = ["0", "-1", "1.5", "1.0", "1e3", '"1"', "true", "null", "[]", "{}", str(MAX_ID + 1),
           "18446744073709551616", str(-MAX_ID - 1), '""']
BOOL_BAD = ['"true"', '"false"', "1", "0", "null", "[]", "{}"]
NOT_OBJECT = ["[]", "1", '"x"', "null", "true", "{", "", "   ", '{"a":1} x', '{"a":1}{}', "[{}]", "{'a':1}"]
# Not JSON (RFC 8259), though lenient parsers take them: appended to an otherwise good body
NOT_JSON_TAILS = ["'x':1", '"x":NaN', '"x":Infinity', '"x":-Infinity', '"x":"a\nb"', '"x":"a\tb"', '"x":[1,]',
                  '"x":01', '"x":1.', '"x":.5', '"x":+1', '"x":0x10', '"x":\'y\'', '"x":undefined', '"x":1 /* c */',
                  '"x":{"y":1,}', '"x":"\\q"']
BAD_CT = ["text/plain", "application/json; charset=latin1", "application/json; charset=iso-8859-1",
          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]


def s(x):
    return json.dumps(x)


def obj(fields):
    """A JSON object from raw JSON fragments, in order."""
    return "{" + ",".join('"%s":%s' % kv for kv in fields.items()) + "}"


def cart_bad(cid):
    return ["123", "null", "true", '""', '"abc"', s(cid.upper()), s(cid + "0"), s(cid[:-1]), s("g" * 32),
            "[]", s(cid[:16] + " " + cid[17:]), s(cid + " "), s("%s" % cid.replace(cid[0], "Z", 1))]


class Case:
    def __init__(self, name, method, path, raw, status, code, field=None, headers=None, mode=None):
        self.name, self.method, self.path, self.raw = name, method, path, raw
        self.status, self.code, self.field = status, code, field
        self.headers = {"Content-Type": "application/json"} if headers is None else headers
        self.mode = mode


class Battery(StockdTest):
    @classmethod
    def setUpClass(cls):
        cls.P = make_product(stock=10)["id"]
        cls.Q = make_product(stock=10)["id"]
        cls.C = new_cart()
        ok(add(cls.C, cls.P, 2, dec=True))
        # checkout's good body names an empty cart: a wrongly accepted checkout is a 409, not a closed fixture
        cls.E = new_cart()

    def endpoints(self):
        """name -> (method, path, good fields, {field: bad fragments}, required fields)."""
        C, P = s(self.C), str(self.P)
        cb = cart_bad(self.C)
        return {
            "add": ("POST", "/api/cart/add",
                    {"cart_id": C, "product_id": str(self.Q), "quantity": "1", "decrease_stock": "true"},
                    {"cart_id": cb, "product_id": PID_BAD, "quantity": QTY_BAD, "decrease_stock": BOOL_BAD},
                    ["cart_id", "product_id", "quantity"]),
            "remove": ("DELETE", "/api/cart/remove",
                       {"cart_id": C, "product_id": P, "quantity": "1", "increase_stock": "true"},
                       {"cart_id": cb, "product_id": PID_BAD, "quantity": QTY_BAD, "increase_stock": BOOL_BAD},
                       ["cart_id", "product_id"]),
            "reserve": ("POST", "/api/stock/reserve",
                        {"cart_id": C, "product_id": P, "quantity": "1"},
                        {"cart_id": cb, "product_id": PID_BAD, "quantity": QTY_BAD},
                        ["cart_id", "product_id", "quantity"]),
            "release": ("POST", "/api/stock/release",
                        {"cart_id": C, "product_id": P, "quantity": "1"},
                        {"cart_id": cb, "product_id": PID_BAD, "quantity": QTY_BAD},
                        ["cart_id", "product_id"]),
            "checkout": ("POST", "/api/cart/checkout", {"cart_id": s(self.E)}, {"cart_id": cb}, ["cart_id"]),
            "admin_create": ("POST", "/api/admin/products",
                             {"sku": None, "name": s("Battery product"), "price_cents": "100", "stock": "1"},
                             {"sku": ['""', s("a" * 65), s("\u00e9" * 65), "123", "null", "true", "[]"],
                              "name": ['""', s("n" * 201), s("\u00e9" * 201), "123", "null", "false", "{}"],
                              "price_cents": ["-1", "1.5", "1.0", "1e3", '"1"', "null", "true", str(10**12 + 1),
                                              "[]"],
                              "stock": ["-1", "1.5", "1.0", "1e3", '"1"', "null", "true", str(10**12 + 1), "[]"]},
                             ["sku", "name"]),
            "admin_stock": ("POST", "/api/admin/products/%d/stock" % self.P, {"delta": "1"},
                            {"delta": ["1000001", "-1000001", "1.5", "1.0", '"1"', "true", "[]", "1e3"]}, []),
        }

    def build(self, fields):
        # admin_create needs a fresh sku per request, so that a wrong success is visible and not a 409
        return obj({k: (s("V-" + uuid.uuid4().hex) if v is None else v) for k, v in fields.items()})

    def generated_cases(self):
        out = []
        for ep, (method, path, good, bad, required) in self.endpoints().items():
            for f, frags in bad.items():
                for frag in frags:
                    out.append(Case("%s %s=%s" % (ep, f, frag[:40]), method, path,
                                    self.build(dict(good, **{f: frag})), 400, "invalid_request", f))
            for f in required:
                out.append(Case("%s missing %s" % (ep, f), method, path,
                                self.build({k: v for k, v in good.items() if k != f}), 400, "invalid_request", f))
            for raw in NOT_OBJECT:
                out.append(Case("%s body %r" % (ep, raw), method, path, raw, 400, "invalid_request", "body"))
            for tail in NOT_JSON_TAILS:
                raw = self.build(good)[:-1] + "," + tail + "}"
                out.append(Case("%s not JSON %r" % (ep, tail), method, path, raw, 400, "invalid_request", "body"))
            # a string that is not UTF-8 makes the body not JSON (RFC 8259): never stored
            sf = "cart_id" if "cart_id" in good else ("name" if "name" in good else None)
            if sf:
                raw = self.build(dict(good, **{sf: '"\x01"'})).encode().replace(b"\x01", b"\xff\xfe")
                out.append(Case("%s %s not utf-8" % (ep, sf), method, path, raw, 400, "invalid_request",
                                ("body", sf)))
            good_body = self.build(good)
            for ct in BAD_CT:
                out.append(Case("%s content-type %s" % (ep, ct), method, path, good_body, 415,
                                "unsupported_media_type", headers={"Content-Type": ct}))
            # 415 before 400: an unreadable body with a foreign type is a 415
            out.append(Case("%s text/plain garbage" % ep, method, path, "x=1", 415, "unsupported_media_type",
                            headers={"Content-Type": "text/plain"}))
            # a valid request padded to one byte over 64 KiB: 413 (and 413 before 415)
            big = good_body + " " * (MAX_BODY + 1 - len(good_body))
            out.append(Case("%s 64KiB+1" % ep, method, path, big, 413, "payload_too_large"))
            out.append(Case("%s 200KiB text/plain" % ep, method, path, "x" * 200000, 413, "payload_too_large",
                            headers={"Content-Type": "text/plain"}))
        return out

    def cases(self):
        """Hand-written cases first (so a wrongly accepted generated case cannot disturb them), then the table."""
        C, P = s(self.C), str(self.P)
        unknown_cart = s("0" * 32)
        out = [
            # existence: well-formed but unknown ids
            Case("add unknown cart", "POST", "/api/cart/add",
                 obj({"cart_id": unknown_cart, "product_id": P, "quantity": "1"}), 404, "cart_not_found"),
            Case("add unknown product", "POST", "/api/cart/add",
                 obj({"cart_id": C, "product_id": str(MAX_ID), "quantity": "1", "decrease_stock": "true"}), 404,
                 "product_not_found"),
            Case("remove unknown cart", "DELETE", "/api/cart/remove",
                 obj({"cart_id": unknown_cart, "product_id": P}), 404, "cart_not_found"),
            Case("remove unknown product", "DELETE", "/api/cart/remove",
                 obj({"cart_id": C, "product_id": str(MAX_ID)}), 404, ("product_not_found", "item_not_in_cart")),
            Case("remove not in cart", "DELETE", "/api/cart/remove",
                 obj({"cart_id": C, "product_id": str(self.Q), "increase_stock": "true"}), 404, "item_not_in_cart"),
            Case("reserve unknown cart", "POST", "/api/stock/reserve",
                 obj({"cart_id": unknown_cart, "product_id": P, "quantity": "1"}), 404, "cart_not_found"),
            Case("reserve unknown product", "POST", "/api/stock/reserve",
                 obj({"cart_id": C, "product_id": str(MAX_ID), "quantity": "1"}), 404, "product_not_found"),
            Case("release unknown cart", "POST", "/api/stock/release",
                 obj({"cart_id": unknown_cart, "product_id": P}), 404, "cart_not_found"),
            Case("release unknown product", "POST", "/api/stock/release",
                 obj({"cart_id": C, "product_id": str(MAX_ID)}), 404, "product_not_found"),
            Case("checkout unknown cart", "POST", "/api/cart/checkout", obj({"cart_id": unknown_cart}), 404,
                 "cart_not_found"),
            Case("admin stock unknown product", "POST", "/api/admin/products/%d/stock" % MAX_ID,
                 obj({"delta": "1"}), 404, "product_not_found"),
            Case("admin stock malformed id", "POST", "/api/admin/products/abc/stock", obj({"delta": "1"}), 404,
                 "product_not_found"),
            Case("admin stock id 0", "POST", "/api/admin/products/0/stock", obj({"delta": "1"}), 404,
                 "product_not_found"),
            # admin stock: exactly one of set/delta, set within 0..10^12
            Case("admin stock neither", "POST", "/api/admin/products/%d/stock" % self.P, "{}", 400,
                 "invalid_request"),
            Case("admin stock both", "POST", "/api/admin/products/%d/stock" % self.P, obj({"set": "20", "delta": "1"}),
                 400, "invalid_request"),
            Case("admin stock set null", "POST", "/api/admin/products/%d/stock" % self.P, obj({"set": "null"}),
                 400, "invalid_request"),
        ] + [Case("admin stock set=%s" % v, "POST", "/api/admin/products/%d/stock" % self.P, obj({"set": v}), 400,
                  "invalid_request", "set")
             for v in ["-1", "1.5", "1.0", "1e3", '"20"', "true", "[]", str(10**12 + 1)]] + [
            # check order: shape before existence, shape before mode, mode before existence
            Case("bad quantity, unknown cart", "POST", "/api/cart/add",
                 obj({"cart_id": unknown_cart, "product_id": P, "quantity": "0"}), 400, "invalid_request",
                 "quantity"),
            Case("bad quantity, unknown product", "POST", "/api/stock/reserve",
                 obj({"cart_id": C, "product_id": str(MAX_ID), "quantity": "1.5"}), 400, "invalid_request",
                 "quantity"),
            Case("legacy reserve bad quantity", "POST", "/api/stock/reserve",
                 obj({"cart_id": C, "product_id": P, "quantity": "0"}), 400, "invalid_request", "quantity",
                 mode="legacy"),
            Case("legacy release bad cart", "POST", "/api/stock/release",
                 obj({"cart_id": "1", "product_id": P}), 400, "invalid_request", "cart_id", mode="legacy"),
            Case("legacy reserve unknown cart", "POST", "/api/stock/reserve",
                 obj({"cart_id": unknown_cart, "product_id": P, "quantity": "1"}), 503,
                 "stock_management_disabled", mode="legacy"),
            Case("legacy reserve", "POST", "/api/stock/reserve", obj({"cart_id": C, "product_id": P, "quantity": "1"}),
                 503, "stock_management_disabled", mode="legacy"),
            Case("legacy release", "POST", "/api/stock/release", obj({"cart_id": C, "product_id": P}),
                 503, "stock_management_disabled", mode="legacy"),
            # POST /api/cart takes no fields, but the generic shape rules still hold
            Case("create cart text/plain", "POST", "/api/cart", "hello", 415, "unsupported_media_type",
                 headers={"Content-Type": "text/plain"}),
            Case("create cart 64KiB+1", "POST", "/api/cart", "{}" + " " * (MAX_BODY - 1), 413, "payload_too_large"),
        ]
        return out + self.generated_cases()

    def test_bad_requests_change_nothing(self):
        keep = ([self.P, self.Q], [self.C, self.E])
        base = snapshot(*keep)
        for c in self.cases():
            with self.subTest(c.name):
                r = request(c.method, c.path, raw=c.raw, headers=dict(c.headers, **{"X-Cart-Id": self.C}),
                            mode=c.mode)
                try:
                    codes = c.code if isinstance(c.code, tuple) else (c.code,)
                    fields = c.field if isinstance(c.field, tuple) else (c.field,)
                    err = api_error(r, c.status, r.error.get("code") if r.error else codes[0])
                    self.assertIn(err["code"], codes, r)
                    if c.field is not None:
                        self.assertIn(err.get("field"), fields, r)
                finally:
                    after = snapshot(*keep)
                    if after != base:
                        base = after  # report this case once, keep checking the others
                        self.fail("%s changed the database: %r" % (c.name, r))

    def test_accepted_variants(self):
        """The boundaries on the good side: these must be accepted."""
        p = make_product(stock=2000)["id"]
        cid = new_cart()
        body = obj({"cart_id": s(cid), "product_id": str(p), "quantity": "1"})
        n = 0
        for ct in [None, "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8",
                   "application/json;charset=utf-8", "Application/JSON"]:
            with self.subTest(content_type=ct):
                ok(request("POST", "/api/cart/add", raw=body, headers={"Content-Type": ct}))
                n += 1
        # unknown fields are ignored; whitespace is fine; false booleans are fine
        ok(request("POST", "/api/cart/add", raw='\n { "foo" : [1, {"x": null}], "cart_id" : "%s" , "product_id" : %d ,'
                   ' "quantity" : 1, "decrease_stock": false, "zzz": "\u00e9" } \n' % (cid, p),
                   headers={"Content-Type": "application/json"}))
        n += 1
        # exactly 64 KiB is still accepted
        padded = body + " " * (MAX_BODY - len(body))
        self.assertEqual(len(padded), MAX_BODY)
        ok(request("POST", "/api/cart/add", raw=padded, headers={"Content-Type": "application/json"}))
        n += 1
        self.assertEqual(item(cart(cid), p)["quantity"], n)
        self.assertEqual(item(cart(cid), p)["reserved"], 0, "decrease_stock defaults to false")
        # 1000 units in one request (the maximum), then a hold of 1000
        c2 = new_cart()
        ok(add(c2, p, 1000, dec=True))
        self.assertEqual(item(cart(c2), p)["reserved"], 1000)


    def test_query_strings_do_not_change_the_route(self):
        p = make_product(stock=5)["id"]
        cid = new_cart()
        ok(request("POST", "/api/cart/add?utm=x", raw=obj({"cart_id": s(cid), "product_id": str(p), "quantity": "1"}),
                   headers={"Content-Type": "application/json"}))
        self.assertEqual(ok(request("GET", "/api/products/%d?x=1" % p))["id"], p)
        self.assertEqual(ok(request("GET", "/api/cart/%s?x" % cid))["items"][0]["quantity"], 1)
        self.assertEqual(len(ok(request("GET", "/api/stock?x=2&ids=%d" % p))["items"]), 1)

    def test_chunked_bodies(self):
        # HTTP/1.1 clients may send a body without Content-Length; the 64 KiB limit still holds
        import http.client
        from lib import HOST, PORT
        p = make_product(stock=5)["id"]
        cid = new_cart()
        body = json.dumps({"cart_id": cid, "product_id": p, "quantity": 1}).encode()
        for payload, status in [(body, 200), (body + b" " * MAX_BODY, 413)]:
            conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
            try:
                conn.request("POST", "/api/cart/add", body=iter([payload[:10], payload[10:]]), encode_chunked=True,
                             headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
                r = conn.getresponse()
                self.assertEqual(r.status, status, r.read()[:300])
                r.read()
            finally:
                conn.close()
        self.assertEqual(item(cart(cid), p)["quantity"], 1)


class Routes(StockdTest):
    def test_unknown_routes_404(self):
        # Only /api/ (and the service routes) reach the app through nginx: every unknown path under /api/ is
        # the app's JSON 404; paths outside it belong to the shop's pages (tests/integration/test_nginx_paths).
        for method, path in [("GET", "/api/nope"), ("GET", "/api/"), ("GET", "/api/cart/abc/def"),
                             ("GET", "/api/products/"), ("GET", "/api/products/1/x"), ("GET", "/api/stock/x"),
                             ("POST", "/api/cart/add/x"), ("POST", "/api/stock/reserve/1"),
                             ("GET", "/api/admin/products/1/stockx"), ("POST", "/api/admin/nope"),
                             ("GET", "/api/API/products/1"), ("GET", "/api/Products/1"), ("GET", "/api/productsx"),
                             ("GET", "/api/healthz"), ("GET", "/api/metrics")]:
            with self.subTest(method=method, path=path):
                raw = "{}" if method != "GET" else None
                api_error(request(method, path, raw=raw, headers={"Content-Type": "application/json"} if raw else None),
                          404, "not_found")

    def test_wrong_method_405(self):
        cid = new_cart()
        p = make_product()["id"]
        for method, path in [
                ("GET", "/api/cart"), ("PUT", "/api/cart"), ("DELETE", "/api/cart"),
                ("PUT", "/api/cart/add"), ("DELETE", "/api/cart/add"), ("PATCH", "/api/cart/add"),
                ("POST", "/api/cart/remove"), ("PUT", "/api/cart/remove"),
                ("PUT", "/api/cart/checkout"), ("DELETE", "/api/cart/checkout"),
                ("POST", "/api/cart/" + cid), ("PUT", "/api/cart/" + cid), ("DELETE", "/api/cart/" + cid),
                ("POST", "/api/products/%d" % p), ("DELETE", "/api/products/%d" % p),
                ("POST", "/api/stock?ids=%d" % p), ("DELETE", "/api/stock"),
                ("GET", "/api/stock/reserve"), ("PUT", "/api/stock/reserve"),
                ("GET", "/api/stock/release"), ("DELETE", "/api/stock/release"),
                ("GET", "/api/admin/products"), ("PUT", "/api/admin/products"),
                ("GET", "/api/admin/products/%d/stock" % p), ("DELETE", "/api/admin/products/%d/stock" % p),
                ("POST", "/api/admin/audit"), ("POST", "/metrics"), ("POST", "/healthz"), ("POST", "/readyz"),
                ("DELETE", "/healthz")]:
            with self.subTest(method=method, path=path):
                raw = "{}" if method != "GET" else None
                before = snapshot([p], [cid])
                api_error(request(method, path, raw=raw, headers={"Content-Type": "application/json"} if raw else None),
                          405, "method_not_allowed")
                self.assertEqual(snapshot([p], [cid]), before)
        # 405 comes before every other check, even a body that is too big or of the wrong type
        api_error(request("PUT", "/api/cart/add", raw="x" * 100000, headers={"Content-Type": "text/plain"}),
                  405, "method_not_allowed")

    def test_headers_on_every_response(self):
        cid = new_cart()
        p = make_product()["id"]
        seen = set()
        for mode in (None, "legacy", "stock"):
            for method, path, raw, ct in [
                    ("GET", "/api/products/%d" % p, None, None), ("GET", "/api/products/abc", None, None),
                    ("GET", "/api/stock?ids=%d" % p, None, None), ("GET", "/api/stock", None, None),
                    ("GET", "/api/cart/" + cid, None, None), ("POST", "/api/cart", None, None),
                    ("POST", "/api/cart/add", "[]", "application/json"),
                    ("POST", "/api/cart/add", "x", "text/plain"),
                    ("POST", "/api/cart/add", "{}" + " " * MAX_BODY, "application/json"),
                    ("POST", "/api/stock/reserve", obj({"cart_id": s(cid), "product_id": str(p), "quantity": "1"}),
                     "application/json"),
                    ("GET", "/api/nope", None, None), ("PUT", "/api/cart", "{}", "application/json"),
                    ("GET", "/api/admin/audit", None, None), ("GET", "/metrics", None, None),
                    ("GET", "/healthz", None, None), ("GET", "/readyz", None, None)]:
                with self.subTest(mode=mode, method=method, path=path):
                    r = request(method, path, raw=raw, mode=mode, headers={"Content-Type": ct} if ct else None)
                    rid = r.header("X-Request-Id")
                    self.assertTrue(rid and HEX32.fullmatch(rid), "X-Request-Id %r in %r" % (rid, r))
                    self.assertNotIn(rid, seen)
                    seen.add(rid)
                    self.assertEqual(r.header("X-Stock-Mode"), mode or "stock", r)
                    if path != "/metrics":
                        self.assertTrue(re.fullmatch(r"application/json;\s*charset=utf-8",
                                                     r.header("Content-Type") or "", re.I), r)
                        self.assertIsInstance(r.json, dict, r)
