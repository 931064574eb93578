"""Checkout: sells holds first, all lines or none, releases surplus holds, repeats answer the same order."""

import uuid

from lib import (StockdTest, add, admin_stock, api_error, cart, checkout, db, db_int, hold_qty, make_product,
                 new_cart, ok, post, product, release, remove, reserve, snapshot)

ORDER_KEYS = {"order_id", "cart_id", "items", "total_cents"}


class Checkout(StockdTest):
    def check_order(self, order, cid, lines):
        """lines: [(product, qty)]. Checks the response and the orders/order_items rows."""
        self.assertEqual(set(order), ORDER_KEYS)
        self.assertEqual(order["cart_id"], cid)
        want = sorted(({"product_id": p["id"], "quantity": q, "price_cents": p["price_cents"]} for p, q in lines),
                      key=lambda x: x["product_id"])
        self.assertEqual(order["items"], want)
        total = sum(p["price_cents"] * q for p, q in lines)
        self.assertEqual(order["total_cents"], total)
        self.assertEqual(db("SELECT id, cart_id, total_cents FROM orders WHERE cart_id='%s'" % cid),
                         [[str(order["order_id"]), cid, str(total)]])
        self.assertEqual(db("SELECT product_id, quantity, price_cents FROM order_items WHERE order_id=%d "
                            "ORDER BY product_id" % order["order_id"]),
                         [[str(w["product_id"]), str(w["quantity"]), str(w["price_cents"])] for w in want])
        self.assertEqual(db("SELECT status FROM carts WHERE id='%s'" % cid), [["checked_out"]])

    def test_sells_hold_first_then_available(self):
        p = make_product(stock=10, price_cents=1999)
        a, b = new_cart(), new_cart()
        ok(add(a, p["id"], 5))
        ok(reserve(a, p["id"], 2))
        ok(reserve(b, p["id"], 3))
        order = ok(checkout(a), 201)
        self.check_order(order, a, [(p, 5)])
        # 2 from a's hold, 3 from available; b's hold untouched
        got = product(p["id"])
        self.assertEqual((got["stock"], got["reserved"], got["available"]), (5, 3, 2))
        self.assertEqual((hold_qty(a, p["id"]), hold_qty(b, p["id"])), (0, 3))
        v = cart(a)
        self.assertEqual(v["status"], "checked_out")
        self.assertEqual(v["warnings"], [])
        self.assertTrue(all(it["reserved"] == 0 for it in v["items"]), v)

    def test_all_or_none(self):
        p1, p2, p3 = make_product(stock=5), make_product(stock=1), make_product(stock=4)
        a, b = new_cart(), new_cart()
        ok(reserve(b, p3["id"], 2))  # p3: available 2
        ok(add(a, p1["id"], 2))  # fine
        ok(add(a, p2["id"], 3))  # short: 1 available
        ok(add(a, p3["id"], 5))
        ok(reserve(a, p3["id"], 1))  # short: own hold 1 + available 1 = 2
        before = snapshot([p1["id"], p2["id"], p3["id"]], [a, b])
        err = api_error(checkout(a), 409, "insufficient_stock")
        self.assertEqual(sorted(err.get("items"), key=lambda x: x["product_id"]), [
            {"product_id": p2["id"], "requested": 3, "available": 1},
            {"product_id": p3["id"], "requested": 5, "available": 2},
        ])
        self.assertEqual(snapshot([p1["id"], p2["id"], p3["id"]], [a, b]), before, "nothing sold or released")
        self.assertEqual(cart(a)["status"], "open")
        self.assertEqual(db_int("SELECT COUNT(*) FROM orders WHERE cart_id='%s'" % a), 0)
        # once the short lines can be served, the same cart checks out
        ok(admin_stock(p2["id"], delta=2))  # p2: 3 available
        ok(release(b, p3["id"]))  # p3: own hold 1 + available 3...
        ok(admin_stock(p3["id"], delta=1))  # ...+ 1 = 5
        self.check_order(ok(checkout(a), 201), a, [(p1, 2), (p2, 3), (p3, 5)])
        self.assertEqual([(product(p["id"])["stock"], product(p["id"])["reserved"]) for p in (p1, p2, p3)],
                         [(3, 0), (0, 0), (0, 0)])

    def test_surplus_holds_released(self):
        p1, p2 = make_product(stock=10), make_product(stock=10)
        cid = new_cart()
        ok(add(cid, p1["id"], 1, dec=True))
        ok(reserve(cid, p1["id"], 3))  # hold 4 for a line of 1
        ok(reserve(cid, p2["id"], 2))  # a hold without a line
        order = ok(checkout(cid), 201)
        self.check_order(order, cid, [(p1, 1)])
        self.assertEqual((product(p1["id"])["stock"], product(p1["id"])["reserved"]), (9, 0))
        self.assertEqual((product(p2["id"])["stock"], product(p2["id"])["reserved"]), (10, 0))
        self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % cid), 0)

    def test_repeat_returns_same_order(self):
        p = make_product(stock=10, price_cents=250)
        cid = new_cart()
        ok(add(cid, p["id"], 3, dec=True))
        first = ok(checkout(cid), 201)
        after = snapshot([p["id"]], [cid])
        for mode in (None, "legacy"):
            r = checkout(cid, mode=mode)
            self.assertEqual(ok(r, 200), first)
        self.assertEqual(snapshot([p["id"]], [cid]), after, "sold once")
        self.assertEqual(product(p["id"])["stock"], 7)

    def test_totals(self):
        lines = [(make_product(stock=5, price_cents=1999), 2), (make_product(stock=5, price_cents=0), 3),
                 (make_product(stock=2000, price_cents=123456789), 1000)]
        cid = new_cart()
        for p, q in lines:
            ok(add(cid, p["id"], q))
        order = ok(checkout(cid), 201)
        self.check_order(order, cid, lines)
        self.assertEqual(order["total_cents"], 2 * 1999 + 123456789 * 1000)

    def test_legacy_checkout(self):
        p = make_product(stock=3, price_cents=500)
        # a legacy cart sells from available, and respects other carts' holds
        holder = new_cart()
        ok(reserve(holder, p["id"], 2))
        lc = new_cart(mode="legacy")
        ok(add(lc, p["id"], 2, mode="legacy"))
        err = api_error(checkout(lc, mode="legacy"), 409, "insufficient_stock")
        self.assertEqual(err.get("items"), [{"product_id": p["id"], "requested": 2, "available": 1}])
        lc2 = new_cart(mode="legacy")
        ok(add(lc2, p["id"], 1, mode="legacy"))
        self.check_order(ok(checkout(lc2, mode="legacy"), 201), lc2, [(p, 1)])
        self.assertEqual((product(p["id"])["stock"], product(p["id"])["reserved"]), (2, 2))
        # a cart that got a hold in stock mode and checks out in legacy mode sells its own hold
        ok(add(holder, p["id"], 2, mode="legacy"))
        self.check_order(ok(checkout(holder, mode="legacy"), 201), holder, [(p, 2)])
        self.assertEqual((product(p["id"])["stock"], product(p["id"])["reserved"]), (0, 0))


class OrderTooLarge(StockdTest):
    def test_total_past_int64_is_refused_and_nothing_sold(self):
        # Within the limits: price_cents up to 10^12 (admin), 1,000 units a line, MAX_CART_LINES up to 10,000.
        # 9,224 such lines pass INT64_MAX cents. One product through the admin API at the highest price it
        # takes; the rest, and the lines, straight into the tables (thousands of requests would only be slow).
        big = make_product(stock=1000, price_cents=10**12)
        self.assertEqual(big["price_cents"], 10**12)
        api_error(post("/api/admin/products", {"sku": "T-" + uuid.uuid4().hex[:20], "name": "x",
                                               "price_cents": 10**12 + 1, "stock": 1}), 400, "invalid_request",
                  "price_cents")
        tag = "OVF-" + uuid.uuid4().hex[:12]
        cid = new_cart(mode="stock")
        try:
            db("INSERT INTO products (sku, name, price_cents, stock) SELECT CONCAT('%s-', seq), 'overflow', %d, 1000"
               " FROM seq_1_to_9223" % (tag, 10**12))
            db("INSERT INTO stock_receipts (product_id, delta, reason) SELECT id, 1000, 'created' FROM products"
               " WHERE sku LIKE '%s-%%'" % tag)
            db("INSERT INTO cart_items (cart_id, product_id, quantity, mode) SELECT '%s', id, 1000, 'stock'"
               " FROM products WHERE sku LIKE '%s-%%' OR id = %d" % (cid, tag, big["id"]))
            self.assertEqual(db_int("SELECT COUNT(*) FROM cart_items WHERE cart_id='%s'" % cid), 9224)
            before = snapshot([big["id"]], [cid])
            orders = db_int("SELECT COUNT(*) FROM orders")
            r = post("/api/cart/checkout", {"cart_id": cid}, mode="stock", headers={"X-Cart-Id": cid}, timeout=120)
            api_error(r, 409, "order_too_large")
            self.assertEqual(snapshot([big["id"]], [cid]), before, "nothing sold")
            self.assertEqual(db_int("SELECT COUNT(*) FROM orders"), orders)
            self.assertEqual(db_int("SELECT SUM(stock) FROM products WHERE sku LIKE '%s-%%'" % tag), 9223 * 1000)
            self.assertEqual(cart(cid, mode="stock")["status"], "open")
            # one line fewer fits: 9,223 lines of 10^15 cents
            ok(remove(cid, big["id"], mode="stock"))
            order = ok(post("/api/cart/checkout", {"cart_id": cid}, mode="stock", headers={"X-Cart-Id": cid}, timeout=120), 201)
            self.assertEqual(order["total_cents"], 9223 * 10**15)
        finally:
            db("DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE cart_id='%s')" % cid)
            db("DELETE FROM orders WHERE cart_id='%s'" % cid)
            db("DELETE FROM cart_items WHERE cart_id='%s'" % cid)
            db("DELETE FROM carts WHERE id='%s'" % cid)
            db("DELETE FROM stock_receipts WHERE product_id IN (SELECT id FROM products WHERE sku LIKE '%s-%%')" % tag)
            db("DELETE FROM products WHERE sku LIKE '%s-%%'" % tag)
