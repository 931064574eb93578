"""Operator endpoints: products, stock changes, the audit, metrics."""

import json
import re
import uuid

from lib import (StockdTest, add, admin_stock, api_error, audit, audit_ok, db, db_int, get, make_product,
                 metric, metrics, new_cart, ok, post, product, reserve, snapshot, worker_pids)


def uid():
    return uuid.uuid4().hex[:12]


class Products(StockdTest):
    def test_create(self):
        sku = "SKU-" + uid()
        r = post("/api/admin/products", {"sku": sku, "name": "T-shirt M", "price_cents": 1999, "stock": 10})
        p = ok(r, 201)
        self.assertEqual(set(p), {"id", "sku", "name", "price_cents", "stock", "reserved", "available"})
        self.assertIsInstance(p["id"], int)
        self.assertGreater(p["id"], 0)
        self.assertEqual(p, {"id": p["id"], "sku": sku, "name": "T-shirt M", "price_cents": 1999, "stock": 10,
                             "reserved": 0, "available": 10})
        self.assertEqual(product(p["id"]), p)
        self.assertEqual(db("SELECT sku, name, price_cents, stock, reserved_stock FROM products WHERE id=%d" % p["id"]),
                         [[sku, "T-shirt M", "1999", "10", "0"]])
        # the opening stock is a receipt, so the ledger balances (invariant 3)
        self.assertEqual(db_int("SELECT SUM(delta) FROM stock_receipts WHERE product_id=%d" % p["id"]), 10)
        api_error(post("/api/admin/products", {"sku": sku, "name": "other", "price_cents": 1, "stock": 1}),
                  409, "sku_exists")

    def test_boundaries_accepted(self):
        for price, stock in [(0, 0), (10**12, 10**12)]:
            with self.subTest(price=price, stock=stock):
                p = make_product(stock=stock, price_cents=price)
                self.assertEqual((p["price_cents"], p["stock"], p["available"]), (price, stock, stock))

    def test_sku_byte_exact(self):
        base = uid()
        made = {}
        # case, trailing space, Unicode case/normalisation: all different skus
        for sku in ["abc" + base, "Abc" + base, "abc" + base + " ", " abc" + base, "ss" + base, "\u00df" + base,
                    "\u00e9" + base, "e\u0301" + base]:
            with self.subTest(sku=sku):
                p = make_product(sku=sku)
                self.assertEqual(p["sku"], sku)
                made[sku] = p["id"]
        self.assertEqual(len(set(made.values())), len(made))
        for sku in made:
            with self.subTest(dup=sku):
                api_error(post("/api/admin/products", {"sku": sku, "name": "x", "price_cents": 1, "stock": 1}),
                          409, "sku_exists")

    def test_strings_stored_exactly(self):
        for sku, name in [("\u00e9" * 52 + uid(), "\u00e9" * 200),            # 64 and 200 characters, not bytes
                          ("\U0001F455" + uid(), " \U0001F455 T-shirt \u00abM\u00bb "),  # 4-byte UTF-8, spaces kept
                          ("q\"\\/" + uid(), "tab\tnew\nline \"quoted\" \\ <b>&amp;</b>")]:
            with self.subTest(sku=sku):
                p = make_product(sku=sku, name=name)
                self.assertEqual((p["sku"], p["name"]), (sku, name))
                got = product(p["id"])
                self.assertEqual((got["sku"], got["name"]), (sku, name))


    def test_nul_and_surrogate_escapes(self):
        # "\u0000" is valid JSON: either stored and returned exactly (C strings truncate it) or refused as a 400
        for field in ("sku", "name"):
            for val in ["nul\u0000x-" + uid(), "\u0000" + uid()]:
                with self.subTest(field=field, val=val):
                    body = {"sku": "Z-" + uid(), "name": "nul test", "price_cents": 1, "stock": 1}
                    body[field] = val
                    r = post("/api/admin/products", body)
                    if r.status == 400:
                        api_error(r, 400, "invalid_request", field)
                        continue
                    p = ok(r, 201)
                    self.assertEqual(p[field], val, "returned exactly")
                    self.assertEqual(product(p["id"])[field], val, "GET returns it exactly")
        # a lone surrogate escape is no character at all: nothing can store it exactly, so it is a 400
        n = db_int("SELECT COUNT(*) FROM products")
        for raw in ['"\\ud800x"', '"\\udc00"', '"x\\ud83d"', '"\\ud83d\\u0041"']:
            with self.subTest(name=raw):
                r = post("/api/admin/products", None,
                         raw='{"sku":"S-%s","name":%s,"price_cents":1,"stock":1}' % (uid(), raw),
                         headers={"Content-Type": "application/json"})
                err = api_error(r, 400, "invalid_request")
                self.assertIn(err.get("field"), ("name", "body"))
        self.assertEqual(db_int("SELECT COUNT(*) FROM products"), n)
        # a proper surrogate pair is one character
        p = make_product(sku="P-" + uid(), name="\U0001F455")
        self.assertEqual(product(p["id"])["name"], "\U0001F455")


class StockChanges(StockdTest):
    def test_set_and_delta(self):
        p = make_product(stock=10)
        pid = p["id"]
        for body, stock in [({"set": 20}, 20), ({"delta": 5}, 25), ({"delta": -5}, 20), ({"delta": 0}, 20),
                            ({"delta": 1000000}, 1000020), ({"delta": -1000000}, 20), ({"set": 0}, 0),
                            ({"set": 10**12}, 10**12), ({"set": 7}, 7)]:
            with self.subTest(body=body):
                got = ok(post("/api/admin/products/%d/stock" % pid, body))
                self.assertEqual(got, dict(p, stock=stock, available=stock, reserved=0))
        self.assertEqual(product(pid)["stock"], 7)
        # every change is in the ledger
        self.assertEqual(db_int("SELECT SUM(delta) FROM stock_receipts WHERE product_id=%d" % pid), 7)

    def test_below_reserved(self):
        p = make_product(stock=5)
        pid = p["id"]
        ok(reserve(new_cart(), pid, 3))
        before = snapshot([pid])
        for body in [{"set": 2}, {"set": 0}, {"delta": -3}, {"delta": -10}, {"delta": -1000000}]:
            with self.subTest(body=body):
                api_error(post("/api/admin/products/%d/stock" % pid, body), 409, "below_reserved")
        self.assertEqual(snapshot([pid]), before)
        got = ok(admin_stock(pid, delta=-2))  # down to exactly reserved is fine
        self.assertEqual((got["stock"], got["reserved"], got["available"]), (3, 3, 0))
        got = ok(admin_stock(pid, set=3))
        self.assertEqual((got["stock"], got["available"]), (3, 0))


class Audit(StockdTest):
    def test_audit_shape(self):
        a = audit_ok()
        self.assertEqual(set(a), {"ok", "products_checked", "problems"})
        self.assertEqual(a["products_checked"], db_int("SELECT COUNT(*) FROM products"))

    def names(self, problems, pid):
        """Does some problem name this product?"""
        for pr in problems:
            if isinstance(pr, dict):
                if any(v == pid for k, v in pr.items() if "id" in k or "product" in k):
                    return True
                if re.search(r"\b%d\b" % pid, json.dumps(pr)):
                    return True
            elif re.search(r"\b%d\b" % pid, str(pr)):
                return True
        return False

    def test_audit_detects_breaches(self):
        # each breach is made behind the service's back, detected, then undone
        p = make_product(stock=5)
        pid = p["id"]
        cid = new_cart()
        ok(add(cid, pid, 1, dec=True))
        for name, breach, undo in [
            ("reserved != holds (inv 2)",
             "UPDATE products SET reserved_stock = reserved_stock + 1 WHERE id=%d" % pid,
             "UPDATE products SET reserved_stock = reserved_stock - 1 WHERE id=%d" % pid),
            ("hold without reserved (inv 2)",
             "UPDATE stock_holds SET quantity = quantity + 1 WHERE product_id=%d" % pid,
             "UPDATE stock_holds SET quantity = quantity - 1 WHERE product_id=%d" % pid),
            ("ledger (inv 3)",
             "UPDATE products SET stock = stock + 1 WHERE id=%d" % pid,
             "UPDATE products SET stock = stock - 1 WHERE id=%d" % pid),
        ]:
            with self.subTest(name):
                db(breach)
                try:
                    a = audit()
                    self.assertIs(a["ok"], False, a)
                    self.assertTrue(self.names(a["problems"], pid), "no problem names product %d: %s" % (pid, a))
                finally:
                    db(undo)
                audit_ok()


    def test_audit_walks_every_slice(self):
        """The audit reads the tables 2,000 keys at a time (domain/audit.c):
        a breach in the last slice of products, a checkout breach in a later
        slice of carts, and a stray hold past the last cart are all found,
        and every product is counted once."""
        first = db_int("SELECT COALESCE(MAX(id), 0) FROM products") + 1
        n = 4500  # three product slices, the last one partial
        db("INSERT INTO products (id, sku, name, price_cents, stock)"
           " SELECT %d + seq, CONCAT('SLICE-', %d + seq), 'slice', 100, 5 FROM seq_0_to_%d;"
           "INSERT INTO stock_receipts (product_id, delta, reason)"
           " SELECT %d + seq, 5, 'created' FROM seq_0_to_%d" % (first, first, n - 1, first, n - 1))
        carts = ["%032x" % (0xfffe0000000000000000000000000000 + i) for i in range(2500)]
        db("INSERT INTO carts (id) VALUES " + ",".join("('%s')" % c for c in carts))
        last_pid, late_cart, stray_cart = first + n - 1, carts[-3], "ffffffffffffffffffffffffffffffff"
        try:
            a = audit_ok()
            self.assertEqual(a["products_checked"], db_int("SELECT COUNT(*) FROM products"))
            db("UPDATE products SET stock = stock + 1 WHERE id = %d;"
               "UPDATE carts SET status = 'checked_out' WHERE id = '%s';"
               "INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms)"
               " VALUES ('%s', %d, 1, 4102444800000)" % (last_pid, late_cart, stray_cart, first))
            a = audit()
            self.assertIs(a["ok"], False, a)
            found = {(pr["code"], pr.get("product_id"), pr.get("cart_id")) for pr in a["problems"]}
            self.assertIn(("ledger_mismatch", last_pid, None), found)
            self.assertIn(("checkout_incomplete", None, late_cart), found)
            self.assertIn(("stray_hold", first, stray_cart), found)
            self.assertEqual(a["products_checked"], db_int("SELECT COUNT(*) FROM products"))
        finally:
            db("DELETE FROM stock_holds WHERE cart_id = '%s';"
               "UPDATE products SET stock = stock - 1 WHERE id = %d AND stock = 6;"
               "DELETE FROM carts WHERE id IN (%s)" % (stray_cart, last_pid, ",".join("'%s'" % c for c in carts)))
        audit_ok()

    def test_audit_repeats_over_many_holds(self):
        """A worker keeps the audit's statements prepared and runs them again
        for every slice of every audit. With each slice's holds summed in a
        derived table, MariaDB re-ran the prepared statement with a lateral
        plan that scanned all of stock_holds once per product of the slice:
        past max_statement_time (9 s) at some tens of thousands of holds,
        so the audit answered 503 and the periodic one burnt a core. Here:
        4,500 products of 10 live holds each, audited back to back by every
        worker, each slice run at least twice on its connection."""
        first = db_int("SELECT COALESCE(MAX(id), 0) FROM products") + 1
        n, per = 4500, 10
        until = 4102444800000
        cart = "CONCAT('fffd', LPAD(HEX(seq MOD 3000), 28, '0'))"
        db("INSERT INTO products (id, sku, name, price_cents, stock, reserved_stock, next_expiry_ms)"
           " SELECT %d + seq, CONCAT('HELD-', %d + seq), 'held', 100, 20, %d, %d FROM seq_0_to_%d;"
           "INSERT INTO stock_receipts (product_id, delta, reason)"
           " SELECT %d + seq, 20, 'created' FROM seq_0_to_%d;"
           "INSERT INTO carts (id) SELECT %s FROM seq_0_to_2999;"
           "INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms)"
           " SELECT %s, %d + seq DIV %d, 1, %d FROM seq_0_to_%d"
           % (first, first, per, until, n - 1, first, n - 1, cart, cart, first, per, until, n * per - 1))
        try:
            for _ in range(2 * len(worker_pids()) + 2):
                a = audit_ok()
                self.assertEqual(a["products_checked"], db_int("SELECT COUNT(*) FROM products"))
        finally:
            db("DELETE FROM stock_holds WHERE cart_id LIKE 'fffd%%';"
               "UPDATE products SET reserved_stock = 0, next_expiry_ms = 0 WHERE id >= %d;"
               "DELETE FROM carts WHERE id LIKE 'fffd%%'" % first)
        audit_ok()


class Metrics(StockdTest):
    def test_request_counters(self):
        p = make_product(stock=1)
        cid = new_cart()
        m0 = metrics()
        ok(add(cid, p["id"], 1, dec=True))
        api_error(add(cid, p["id"], 1, dec=True), 409, "insufficient_stock")
        api_error(add(cid, p["id"], 0), 400, "invalid_request")
        m1 = metrics()
        for status in ("200", "409", "400"):
            with self.subTest(status=status):
                self.assertEqual(metric(m1, "stockd_requests_total", route="cart_add", status=status)
                                 - metric(m0, "stockd_requests_total", route="cart_add", status=status), 1)
        self.assertGreaterEqual(metric(m1, "stockd_workers"), 1)
        # aggregated over all workers: 40 reads spread over the pool all count
        for _ in range(40):
            ok(get("/api/products/%d" % p["id"]))
        m2 = metrics()
        self.assertEqual(metric(m2, "stockd_requests_total", route="product_get", status="200")
                         - metric(m1, "stockd_requests_total", route="product_get", status="200"), 40)
        self.assertIn("stockd_config_generation", m1)
        self.assertEqual(m1.get("stockd_reload_in_progress"), 0)
        r = get("/metrics")
        self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"), r.header("Content-Type"))
        # counters never go down, and the cause label set is the documented one
        for key in m1:
            if key.startswith("stockd_worker_restarts_total"):
                self.assertRegex(key, r'cause="(crash|recycle|timeout)"')

    def test_health(self):
        self.assertEqual(get("/healthz").status, 200)
        self.assertEqual(get("/readyz").status, 200)
