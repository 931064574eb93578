"""Hold expiry (invariant 5): timeouts, the background sweep and lazy reclaim under the row lock."""

import time

from lib import (StockdTest, add, admin_stock, api_error, cart, checkout, conf, db_int, expire_holds, get,
                 hold_qty, item, make_product, new_cart, now_ms, ok, product, reserve, ts_ms, wait_until, warned)

SWEEP_MS = 500
TIMEOUT_MS = 1500


class A_TimeoutAndSweep(StockdTest):
    """STOCK_RESERVATION_TIMEOUT=1500 ms and SWEEP_INTERVAL=500 ms."""

    @classmethod
    def setUpClass(cls):
        cls._conf = conf(STOCK_RESERVATION_TIMEOUT=TIMEOUT_MS, SWEEP_INTERVAL=SWEEP_MS)
        cls._conf.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._conf.__exit__(None, None, None)

    def test_hold_expires_and_sweep_reclaims(self):
        p = make_product(stock=5)
        pid, cid = p["id"], new_cart()
        t0 = now_ms()
        v = ok(add(cid, pid, 2, dec=True))
        until = ts_ms(item(v, pid)["reserved_until"])
        self.assertAlmostEqual(until - t0, TIMEOUT_MS, delta=1000)
        self.assertEqual(product(pid)["reserved"], 2)
        # after the deadline the view shows nothing held, and warns about the line
        time.sleep(max(0, until - now_ms()) / 1000 + 0.05)
        v = cart(cid)
        self.assertEqual(item(v, pid), {"product_id": pid, "quantity": 2, "reserved": 0, "reserved_until": None})
        self.assertEqual(warned(v), [pid])
        # the sweep gives the units back within SWEEP_INTERVAL (plus slack), with nobody touching the product
        wait_until(lambda: db_int("SELECT reserved_stock FROM products WHERE id=%d" % pid) == 0,
                   (SWEEP_MS + 1500) / 1000, what="sweep to reclaim the expired hold")
        self.assertLessEqual(now_ms() - until, SWEEP_MS + 1500)
        self.assertEqual(hold_qty(cid, pid), 0)
        got = product(pid)
        self.assertEqual((got["stock"], got["reserved"], got["available"]), (5, 0, 5))
        # the line survives its hold
        self.assertEqual(item(cart(cid), pid)["quantity"], 2)

    def test_sweep_reclaims_many(self):
        ps = [make_product(stock=4)["id"] for _ in range(3)]
        carts = [new_cart() for _ in range(4)]
        for c in carts:
            for pid in ps:
                ok(reserve(c, pid, 1))
        for c in carts:
            expire_holds(c)
        wait_until(lambda: db_int("SELECT COUNT(*) FROM stock_holds WHERE product_id IN (%s)"
                                  % ",".join(map(str, ps))) == 0, (SWEEP_MS + 1500) / 1000, what="sweep")
        for pid in ps:
            self.assertEqual(product(pid)["reserved"], 0)

    def test_reserve_after_expiry_starts_over(self):
        p = make_product(stock=5)
        cid = new_cart()
        ok(reserve(cid, p["id"], 2))
        expire_holds(cid)
        # the expired 2 are reclaimed first (whether or not the sweep got there): the hold is 1, not 3
        r = ok(reserve(cid, p["id"], 1))
        self.assertEqual((r["reserved"], r["available"]), (1, 4))
        self.assertAlmostEqual(ts_ms(r["reserved_until"]) - now_ms(), TIMEOUT_MS, delta=1000)


class B_LazyReclaim(StockdTest):
    """The sweep is slowed down (SWEEP_INTERVAL=600000), so only the row-lock path can reclaim."""

    @classmethod
    def setUpClass(cls):
        cls._conf = conf(SWEEP_INTERVAL=600000)
        cls._conf.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._conf.__exit__(None, None, None)

    def expired_hold(self, stock=5, held=3, line=True):
        """A product with an expired, not yet reclaimed hold of cart A."""
        pid = make_product(stock=stock)["id"]
        a = new_cart()
        if line:
            ok(add(a, pid, held, dec=True))
        else:
            ok(reserve(a, pid, held))
        expire_holds(a, pid)
        return pid, a

    def test_expired_hold_counts_until_reclaimed(self):
        pid, a = self.expired_hold()
        time.sleep(0.3)
        # the view already shows 0; the product still counts the hold (invariant 5), and that is consistent
        v = cart(a)
        self.assertEqual(item(v, pid), {"product_id": pid, "quantity": 3, "reserved": 0, "reserved_until": None})
        self.assertEqual(warned(v), [pid])
        got = product(pid)
        self.assertEqual((got["stock"], got["reserved"], got["available"]), (5, 3, 2))
        self.assertEqual(ok(get("/api/stock?ids=%d" % pid))["items"][0]["reserved"], 3)
        self.assertEqual(hold_qty(a, pid), 3)

    def test_expired_hold_without_line_not_listed(self):
        pid, a = self.expired_hold(line=False)
        self.assertEqual(cart(a)["items"], [])
        self.assertEqual(cart(a)["warnings"], [])

    def test_operations_reclaim_first(self):
        # every operation that needs `available` under the row lock reclaims expired holds first
        def other_reserve(pid, a):
            return ok(reserve(new_cart(), pid, 5))

        def other_add(pid, a):
            return ok(add(new_cart(), pid, 5, dec=True))

        def other_checkout(pid, a):
            b = new_cart()
            ok(add(b, pid, 5))
            return ok(checkout(b), 201)

        def own_checkout(pid, a):
            ok(add(a, pid, 2))  # line 5, own hold expired: sold from available
            return ok(checkout(a), 201)

        def admin_set(pid, a):
            return ok(admin_stock(pid, set=0))

        def admin_delta(pid, a):
            return ok(admin_stock(pid, delta=-5))

        for op, stock_after, reserved_after in [(other_reserve, 5, 5), (other_add, 5, 5), (other_checkout, 0, 0),
                                                (own_checkout, 0, 0), (admin_set, 0, 0), (admin_delta, 0, 0)]:
            with self.subTest(op.__name__):
                pid, a = self.expired_hold(stock=5, held=3)
                op(pid, a)
                got = product(pid)
                self.assertEqual((got["stock"], got["reserved"]), (stock_after, reserved_after), op.__name__)
                self.assertEqual(hold_qty(a, pid), 0, "the expired hold row is gone")

    def test_expired_hold_does_not_block_insufficient(self):
        # the expired units count as available for the answer's `available` too
        pid, a = self.expired_hold(stock=5, held=3)
        err = api_error(reserve(new_cart(), pid, 6), 409, "insufficient_stock")
        self.assertEqual(err.get("available"), 5)
