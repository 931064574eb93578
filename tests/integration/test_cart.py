"""Carts: create, view, add, remove, warnings, limits, closed and empty carts."""

import threading

from lib import (HEX32, MAX_ID, StockdTest, TS_RE, add, api_error, cart, checkout, conf, db, db_int, db_trigger,
                 expire_holds, get, hold_qty, item, line_qty, make_product, metric, metrics, new_cart, ok, post,
                 product, release, remove, reserve, snapshot, wait_until, warned)

VIEW_KEYS = {"cart_id", "status", "items", "warnings"}
ITEM_KEYS = {"product_id", "quantity", "reserved", "reserved_until"}


def check_view(tc, v):
    """Shape rules every cart view obeys."""
    tc.assertEqual(set(v), VIEW_KEYS)
    ids = [it["product_id"] for it in v["items"]]
    tc.assertEqual(ids, sorted(set(ids)), "items ascending by product id, no duplicates")
    for it in v["items"]:
        tc.assertEqual(set(it), ITEM_KEYS)
        if it["reserved"] == 0:
            tc.assertIsNone(it["reserved_until"])
        else:
            tc.assertRegex(it["reserved_until"], TS_RE)
    for w in v["warnings"]:
        tc.assertEqual(set(w) >= {"product_id", "code", "message"}, True, w)
        tc.assertEqual(w["code"], "not_reserved")
        tc.assertTrue(isinstance(w["message"], str) and w["message"])
    # every open line whose live hold is short is warned about, and only those
    expect = sorted(it["product_id"] for it in v["items"] if it["reserved"] < it["quantity"]) \
        if v["status"] == "open" else []
    tc.assertEqual(warned(v), expect, v)
    return v


class Create(StockdTest):
    def test_create(self):
        ids = set()
        for mode in (None, "legacy", "stock"):
            for _ in range(5):
                r = post("/api/cart", mode=mode)
                v = ok(r, 201)
                cid = v["cart_id"]
                self.assertRegex(cid, HEX32)
                self.assertEqual(len(cid), 32)
                self.assertEqual(v, {"cart_id": cid, "status": "open", "items": [], "warnings": []})
                cookies = [c for c in r.set_cookies if c.startswith("cart_id=")]
                self.assertEqual(cookies, ["cart_id=%s; Path=/; HttpOnly; SameSite=Lax" % cid])
                self.assertEqual(r.header("X-Stock-Mode"), mode or "stock")
                self.assertEqual(db("SELECT status FROM carts WHERE id='%s'" % cid), [["open"]])
                ids.add(cid)
        self.assertEqual(len(ids), 15, "cart ids are distinct")

    def test_get_and_exact_match(self):
        cid = new_cart()
        self.assertEqual(cart(cid), {"cart_id": cid, "status": "open", "items": [], "warnings": []})
        self.assertEqual(cart(cid, mode="legacy")["cart_id"], cid)
        # ids match exactly: an uppercase copy is another (unknown) cart
        upper = cid.upper() if cid.upper() != cid else cid.replace("0", "A")
        for bad in [upper, "0" * 32, cid[:-1], cid + "0", "abc", "x" * 32]:
            with self.subTest(path_id=bad):
                api_error(get("/api/cart/" + bad), 404, "cart_not_found")


class Add(StockdTest):
    def test_add_stock_mode(self):
        p = make_product(stock=10)
        cid = new_cart()
        v = check_view(self, ok(add(cid, p["id"], 2, dec=True)))
        self.assertEqual(v["status"], "open")
        it = item(v, p["id"])
        self.assertEqual((it["quantity"], it["reserved"]), (2, 2))
        self.assertEqual(v["warnings"], [])
        self.assertEqual(product(p["id"])["reserved"], 2)
        # adding without decrease_stock grows the line only: the line is now short of its hold
        for dec in (None, False):
            v = check_view(self, ok(add(cid, p["id"], 1, dec=dec)))
        self.assertEqual((item(v, p["id"])["quantity"], item(v, p["id"])["reserved"]), (4, 2))
        self.assertEqual(warned(v), [p["id"]])
        self.assertEqual(product(p["id"])["reserved"], 2)
        # GET gives the same view
        self.assertEqual(cart(cid), v)

    def test_add_without_hold_ignores_stock(self):
        # stock is only checked at checkout unless the client asks for a hold
        p = make_product(stock=3)
        cid = new_cart()
        v = check_view(self, ok(add(cid, p["id"], 50)))
        self.assertEqual(item(v, p["id"]), {"product_id": p["id"], "quantity": 50, "reserved": 0,
                                            "reserved_until": None})
        self.assertEqual(product(p["id"])["reserved"], 0)

    def test_add_legacy_ignores_decrease_stock(self):
        p = make_product(stock=10)
        cid = new_cart(mode="legacy")
        r = add(cid, p["id"], 3, dec=True, mode="legacy")
        self.assertEqual(r.header("X-Stock-Mode"), "legacy")
        v = check_view(self, ok(r))
        self.assertEqual(item(v, p["id"]), {"product_id": p["id"], "quantity": 3, "reserved": 0,
                                            "reserved_until": None})
        self.assertEqual(warned(v), [p["id"]])
        self.assertEqual(product(p["id"])["reserved"], 0)
        self.assertEqual(hold_qty(cid, p["id"]), 0)

    def test_items_ascending(self):
        ps = [make_product() for _ in range(3)]
        cid = new_cart()
        for p in reversed(ps):
            ok(add(cid, p["id"], 1))
        v = check_view(self, cart(cid))
        self.assertEqual([it["product_id"] for it in v["items"]], [p["id"] for p in ps])

    def test_insufficient_stock_changes_nothing(self):
        p = make_product(stock=3)
        cid = new_cart()
        before = snapshot([p["id"]], [cid])
        err = api_error(add(cid, p["id"], 4, dec=True), 409, "insufficient_stock")
        self.assertEqual(err.get("available"), 3)
        self.assertEqual(snapshot([p["id"]], [cid]), before)
        ok(add(cid, p["id"], 2, dec=True))
        err = api_error(add(cid, p["id"], 2, dec=True), 409, "insufficient_stock")
        self.assertEqual(err.get("available"), 1)
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"])), (2, 2))

    def test_add_unknown(self):
        p = make_product()
        api_error(add("0" * 32, p["id"], 1), 404, "cart_not_found")
        api_error(add(new_cart(), MAX_ID, 1), 404, "product_not_found")


class Remove(StockdTest):
    def setUp(self):
        self.p = make_product(stock=10)
        self.pid = self.p["id"]
        self.cid = new_cart()

    def view_item(self, v):
        it = item(v, self.pid)
        return None if it is None else (it["quantity"], it["reserved"])

    def test_partial_then_more_than_line(self):
        ok(add(self.cid, self.pid, 5, dec=True))
        v = check_view(self, ok(remove(self.cid, self.pid, 2, inc=True)))
        self.assertEqual(self.view_item(v), (3, 3))
        self.assertEqual(product(self.pid)["reserved"], 3)
        v = check_view(self, ok(remove(self.cid, self.pid, 1)))  # no increase_stock: the hold stays
        self.assertEqual(self.view_item(v), (2, 3))
        self.assertEqual(v["warnings"], [])
        # more than the line: the whole line goes, and only as much hold as was removed (2 of 3)
        v = check_view(self, ok(remove(self.cid, self.pid, 10, inc=True)))
        self.assertEqual(self.view_item(v), (0, 1), "a hold without a line shows quantity 0")
        self.assertEqual(product(self.pid)["reserved"], 1)
        self.assertEqual(line_qty(self.cid, self.pid), 0)
        # no line left, only a hold: item_not_in_cart
        api_error(remove(self.cid, self.pid, 1), 404, "item_not_in_cart")

    def test_default_removes_whole_line(self):
        ok(add(self.cid, self.pid, 4))
        v = check_view(self, ok(remove(self.cid, self.pid)))
        self.assertEqual(v["items"], [])
        self.assertEqual(line_qty(self.cid, self.pid), 0)

    def test_release_is_min_of_removed_and_held(self):
        ok(add(self.cid, self.pid, 3))
        ok(add(self.cid, self.pid, 2, dec=True))  # line 5, hold 2
        v = check_view(self, ok(remove(self.cid, self.pid, 4, inc=True)))
        self.assertEqual(item(v, self.pid), {"product_id": self.pid, "quantity": 1, "reserved": 0,
                                             "reserved_until": None})
        self.assertEqual(warned(v), [self.pid])
        self.assertEqual(product(self.pid)["reserved"], 0)
        self.assertEqual(hold_qty(self.cid, self.pid), 0)

    def test_item_not_in_cart(self):
        api_error(remove(self.cid, self.pid, 1), 404, "item_not_in_cart")
        api_error(remove(self.cid, self.pid), 404, "item_not_in_cart")

    def test_legacy_remove_keeps_hold(self):
        ok(add(self.cid, self.pid, 3, dec=True))
        v = check_view(self, ok(remove(self.cid, self.pid, 2, inc=True, mode="legacy")))
        self.assertEqual(self.view_item(v), (1, 3), "legacy ignores increase_stock")
        self.assertEqual(product(self.pid)["reserved"], 3)


class Warnings(StockdTest):
    def test_warnings_follow_holds(self):
        a, b = make_product(stock=10), make_product(stock=10)
        cid = new_cart()
        ok(add(cid, a["id"], 3))
        ok(add(cid, b["id"], 2, dec=True))
        ok(reserve(cid, a["id"], 1))
        v = check_view(self, cart(cid))
        self.assertEqual(warned(v), [a["id"]])
        ok(reserve(cid, a["id"], 2))  # now fully held
        v = check_view(self, cart(cid))
        self.assertEqual(v["warnings"], [])
        ok(reserve(cid, a["id"], 4))  # a hold may exceed the line
        self.assertEqual(item(cart(cid), a["id"])["reserved"], 7)
        ok(release(cid, b["id"], 1))
        self.assertEqual(warned(check_view(self, cart(cid))), [b["id"]])
        # a legacy view still shows the holds and warnings
        self.assertEqual(cart(cid, mode="legacy"), cart(cid))


class Closed(StockdTest):
    def test_closed_cart(self):
        p, empty = make_product(stock=5), make_product(stock=0)
        cid = new_cart()
        ok(add(cid, p["id"], 2, dec=True))
        ok(checkout(cid), 201)
        v = check_view(self, cart(cid))
        self.assertEqual(v["status"], "checked_out")
        self.assertEqual(v["warnings"], [])
        before = snapshot([p["id"], empty["id"]], [cid])
        for name, r in [
            ("add", add(cid, p["id"], 1)),
            ("add with hold", add(cid, p["id"], 1, dec=True)),
            # cart_closed is checked before insufficient_stock
            ("add no stock", add(cid, empty["id"], 1, dec=True)),
            ("remove", remove(cid, p["id"], 1, inc=True)),
            ("reserve", reserve(cid, p["id"], 1)),
            ("reserve no stock", reserve(cid, empty["id"], 1)),
            ("release", release(cid, p["id"])),
            ("legacy add", add(cid, p["id"], 1, mode="legacy")),
        ]:
            with self.subTest(name):
                api_error(r, 409, "cart_closed")
        # shape before existence before state
        api_error(add(cid, p["id"], 0), 400, "invalid_request", "quantity")
        api_error(reserve(cid, p["id"], 1001), 400, "invalid_request", "quantity")
        api_error(add(cid, MAX_ID, 1), 404, "product_not_found")
        api_error(reserve(cid, MAX_ID, 1), 404, "product_not_found")
        api_error(reserve(cid, p["id"], 1, mode="legacy"), 503, "stock_management_disabled")
        self.assertEqual(snapshot([p["id"], empty["id"]], [cid]), before)

    def test_empty_cart(self):
        p = make_product(stock=5)
        cid = new_cart()
        api_error(checkout(cid), 409, "cart_empty")
        api_error(checkout(cid, mode="legacy"), 409, "cart_empty")
        # holds are not lines: a hold-only cart is empty, and the failed checkout keeps the hold
        ok(reserve(cid, p["id"], 2))
        before = snapshot([p["id"]], [cid])
        api_error(checkout(cid), 409, "cart_empty")
        self.assertEqual(snapshot([p["id"]], [cid]), before)
        # emptied by remove: empty again
        ok(add(cid, p["id"], 1))
        ok(remove(cid, p["id"]))
        api_error(checkout(cid), 409, "cart_empty")
        self.assertEqual(cart(cid)["status"], "open")

    def test_checkout_unknown_cart(self):
        api_error(checkout("f" * 32), 404, "cart_not_found")


class Limits(StockdTest):
    def test_line_limit_1000(self):
        p = make_product(stock=5)
        cid = new_cart()
        ok(add(cid, p["id"], 1000))
        api_error(add(cid, p["id"], 1), 409, "quantity_limit")
        self.assertEqual(line_qty(cid, p["id"]), 1000)
        ok(remove(cid, p["id"], 1))
        ok(add(cid, p["id"], 1))

    def test_hold_limit_default_1000(self):
        p = make_product(stock=3000)
        cid = new_cart()
        ok(reserve(cid, p["id"], 1000))
        api_error(reserve(cid, p["id"], 1), 409, "quantity_limit")
        api_error(add(cid, p["id"], 1, dec=True), 409, "quantity_limit")
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"])), (0, 1000))
        # quantity_limit is checked before insufficient_stock
        q = make_product(stock=700)
        c2 = new_cart()
        ok(reserve(c2, q["id"], 600))
        api_error(reserve(c2, q["id"], 600), 409, "quantity_limit")


class LoweredLimits(StockdTest):
    """MAX_HOLD_PER_PRODUCT=5 and MAX_CART_LINES=3, set through a reload."""

    @classmethod
    def setUpClass(cls):
        cls._conf = conf(MAX_HOLD_PER_PRODUCT=5, MAX_CART_LINES=3)
        cls._conf.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._conf.__exit__(None, None, None)

    def test_hold_limit(self):
        p = make_product(stock=50)
        cid = new_cart()
        ok(reserve(cid, p["id"], 5))
        before = snapshot([p["id"]], [cid])
        api_error(reserve(cid, p["id"], 1), 409, "quantity_limit")
        api_error(add(cid, p["id"], 1, dec=True), 409, "quantity_limit")
        self.assertEqual(snapshot([p["id"]], [cid]), before)
        ok(add(cid, p["id"], 7))  # a line without a hold is not limited by it
        ok(reserve(new_cart(), p["id"], 5))  # the limit is per cart
        c3 = new_cart()
        ok(add(c3, p["id"], 3, dec=True))
        api_error(add(c3, p["id"], 3, dec=True), 409, "quantity_limit")
        ok(add(c3, p["id"], 2, dec=True))
        self.assertEqual(hold_qty(c3, p["id"]), 5)

    def test_cart_full(self):
        a, b, c, d = [make_product(stock=10) for _ in range(4)]
        cid = new_cart()
        ok(add(cid, a["id"], 1))
        ok(add(cid, b["id"], 1, dec=True))
        ok(reserve(cid, c["id"], 1))  # a hold without a line counts as a product of the cart
        before = snapshot([d["id"]], [cid])
        api_error(add(cid, d["id"], 1), 409, "cart_full")
        api_error(reserve(cid, d["id"], 1), 409, "cart_full")
        api_error(add(cid, d["id"], 1, mode="legacy"), 409, "cart_full")
        self.assertEqual(snapshot([d["id"]], [cid]), before)
        # products already in the cart can still grow
        ok(add(cid, c["id"], 1))
        ok(add(cid, a["id"], 1))
        ok(reserve(cid, b["id"], 1))
        # free a slot: then the new product fits
        ok(remove(cid, a["id"]))
        ok(add(cid, d["id"], 1))
        self.assertEqual([it["product_id"] for it in cart(cid)["items"]], sorted([b["id"], c["id"], d["id"]]))

    def test_expired_holds_do_not_count(self):
        # invariant 5: an expired hold never blocks anyone, its own cart included
        p = make_product(stock=50)
        cid = new_cart()
        ok(reserve(cid, p["id"], 5))
        expire_holds(cid)
        self.assertEqual(ok(reserve(cid, p["id"], 5))["reserved"], 5)
        expire_holds(cid)
        ok(add(cid, p["id"], 5, dec=True))
        self.assertEqual(hold_qty(cid, p["id"]), 5)
        # a product held only by an expired hold is not in the cart any more: it takes no line slot
        a, b, c, d = [make_product(stock=10)["id"] for _ in range(4)]
        c2 = new_cart()
        ok(add(c2, a, 1))
        ok(add(c2, b, 1))
        ok(reserve(c2, c, 1))
        expire_holds(c2, c)
        ok(add(c2, d, 1))
        self.assertEqual([it["product_id"] for it in cart(c2)["items"]], [a, b, d])

    def test_views_leave_out_expired_holds_not_yet_swept(self):
        # The cart's holds are read whether expired or not; the view (GET, and the cart an add answers with) drops
        # the expired ones against the request's clock. The sweep is kept from deleting them meanwhile, so the
        # rows are there to be left out.
        p1, p2, p3 = [make_product(stock=10)["id"] for _ in range(3)]
        cid = new_cart()
        ok(add(cid, p1, 2, dec=True))  # a line with its hold
        ok(reserve(cid, p2, 1))  # a hold without a line
        ok(add(cid, p3, 1))  # a line without a hold
        keep = "IF OLD.cart_id = '%s' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'itest: kept'; END IF;" % cid
        with db_trigger("itest_keep_expired_holds", "stock_holds", "BEFORE DELETE", keep):
            expire_holds(cid)
            want = [(p1, 2, 0), (p3, 1, 0)]
            view = cart(cid)
            self.assertEqual([(it["product_id"], it["quantity"], it["reserved"]) for it in view["items"]], want)
            self.assertTrue(all(it.get("reserved_until") is None for it in view["items"]), view)
            answer = ok(add(cid, p3, 1))
            self.assertEqual([(it["product_id"], it["quantity"], it["reserved"]) for it in answer["items"]],
                             [(p1, 2, 0), (p3, 2, 0)])
            self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % cid), 2,
                             "the expired holds were swept: nothing was left out")

    def test_hold_limit_in_one_request(self):
        # one request past the lowered limit (still a valid quantity) changes nothing
        p = make_product(stock=50)
        cid = new_cart()
        api_error(reserve(cid, p["id"], 6), 409, "quantity_limit")
        self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % cid), 0)


class ConsistentView(StockdTest):
    def counted(self, m0, route, n):
        """Metrics once n more requests of route are accounted (accounting follows the answer)."""
        base = metric(m0, "stockd_requests_total", route=route)
        return wait_until(lambda: (lambda m: m if metric(m, "stockd_requests_total", route=route) >= base + n
                                   else None)(metrics()), 10, 0.05, "%d %s requests accounted" % (n, route))

    def test_view_is_one_read(self):
        # The status and the items come from one statement, so from one snapshot: a checkout cannot fall
        # between two reads and show an open cart whose holds are already gone.
        m = metrics()
        p = make_product(stock=5)["id"]
        cid, empty = new_cart(), new_cart()
        ok(add(cid, p, 2, dec=True))
        self.counted(m, "admin_product_create", 1)
        self.counted(m, "cart_create", 2)
        m0 = self.counted(m, "cart_add", 1)
        for name, c in (("with items", cid), ("unknown", "f" * 32), ("empty", empty)):
            with self.subTest(name):
                r = get("/api/cart/%s" % c)
                self.assertEqual(r.status, 404 if name == "unknown" else 200, r)
                m1 = self.counted(m0, "cart_get", 1)
                m0, used = m1, (metric(m1, "stockd_db_statement_duration_seconds_count")
                                - metric(m0, "stockd_db_statement_duration_seconds_count"))
                self.assertEqual(used, 1, "statements for one cart view")

    def test_views_racing_a_checkout_are_whole(self):
        # every view is the cart before the checkout (open, holding) or after it (checked out, nothing held)
        for _ in range(5):
            p = make_product(stock=5)["id"]
            cid = new_cart()
            ok(add(cid, p, 2, dec=True))
            views = []
            stop = threading.Event()

            def look():
                while not stop.is_set():
                    views.append(cart(cid))
            ts = [threading.Thread(target=look) for _ in range(3)]
            for t in ts:
                t.start()
            ok(checkout(cid), 201)
            stop.set()
            for t in ts:
                t.join()
            views.append(cart(cid))
            for v in views:
                state = (v["status"], item(v, p)["quantity"], item(v, p)["reserved"])
                self.assertIn(state, [("open", 2, 2), ("checked_out", 2, 0)], v)
