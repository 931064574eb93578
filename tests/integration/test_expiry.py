"""Hold expiry (invariant 5): timeouts, the background sweep and lazy reclaim under the row lock."""

import time
import uuid

from lib import (DbSession, StockdTest, add, admin_stock, api_error, cart, checkout, conf, db, db_int, db_trigger, expire_holds,
                 get, hold_qty, item, make_product, metric, metrics, new_cart, now_ms, ok, product, reserve,
                 sweeper_asleep, sweeper_replaced, ts_ms, wait_until, warned)

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

    def test_sweep_reclaims_past_a_stale_expiry_bound(self):
        # A hold back-dated by hand with the product's next_expiry_ms left above it (a writer outside the app
        # that does not keep the bound): requests take the fast path and never look, but the sweep finds the
        # hold by its own index, reclaims it and stores the bound again, so the audit is clean after one sweep.
        pid = make_product(stock=4)["id"]
        c = new_cart()
        ok(reserve(c, pid, 3))
        db("UPDATE stock_holds SET expires_at_ms=%d WHERE cart_id='%s'" % (now_ms() - 1000, c))
        self.assertGreater(db_int("SELECT next_expiry_ms FROM products WHERE id=%d" % pid), now_ms())
        wait_until(lambda: db_int("SELECT reserved_stock FROM products WHERE id=%d" % pid) == 0,
                   (SWEEP_MS + 1500) / 1000, what="the sweep to reclaim the hold past the stale bound")
        self.assertEqual(hold_qty(c, pid), 0)
        self.assertEqual(db_int("SELECT next_expiry_ms FROM products WHERE id=%d" % pid), 9223372036854775807)
        ok(reserve(c, pid, 4))  # all 4 free again
        self.assertEqual(product(pid)["available"], 0)

    def sweeps_after(self, m0, n):
        """Wait until n more sweep rounds have ended than in m0: the last one started after m0 was read."""
        base = metric(m0, "stockd_sweeps_total")
        wait_until(lambda: metric(metrics(), "stockd_sweeps_total") >= base + n, 30, 0.05, "%d more sweeps" % n)

    def test_sweep_passes_over_a_product_that_fails(self):
        # A product whose reclaim fails every time (a trigger refuses its reserved_stock going down, as a CHECK
        # that drift made fail would): the sweep counts it, logs it and goes on to the products after it; the
        # rest of the round (idempotency purge, abandoned carts, gauges, the sweep counter) still runs.
        bad = make_product(stock=4)["id"]
        good = make_product(stock=4)["id"]
        self.assertGreater(good, bad)
        c = new_cart()
        ok(reserve(c, bad, 2))
        ok(reserve(c, good, 3))
        refuse = ("IF NEW.id = %d AND NEW.reserved_stock < OLD.reserved_stock THEN "
                  "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'itest: reclaim refused'; END IF;" % bad)
        with db_trigger("itest_refuse_reclaim", "products", "BEFORE UPDATE", refuse):
            expire_holds(c)
            m0 = metrics()
            self.sweeps_after(m0, 2)
            self.assertEqual((hold_qty(c, good), product(good)["reserved"]), (0, 0), "the product after it swept")
            self.assertEqual((hold_qty(c, bad), product(bad)["reserved"]), (2, 2), "the failing one stays")
        wait_until(lambda: hold_qty(c, bad) == 0, 10, what="the failing product swept once it can be")
        self.assertEqual(product(bad)["reserved"], 0)

    def test_one_round_sweeps_past_a_page(self):
        # 1,100 products with an expired hold each: more than one page (500) of them. One round that starts
        # after they expired reclaims them all; the next round does not have to.
        tag = "SWP-" + uuid.uuid4().hex[:12]
        c = new_cart()
        try:
            db("INSERT INTO products (sku, name, price_cents, stock, reserved_stock)"
               " SELECT CONCAT('%s-', seq), 'sweep page', 1, 1, 1 FROM seq_1_to_1100; "
               "INSERT INTO stock_receipts (product_id, delta, reason) SELECT id, 1, 'created' FROM products"
               " WHERE sku LIKE '%s-%%'; "
               "INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) SELECT '%s', id, 1, %d"
               " FROM products WHERE sku LIKE '%s-%%'" % (tag, tag, c, now_ms() - 1000, tag))
            m0 = metrics()
            self.sweeps_after(m0, 2)
            self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % c), 0)
            self.assertEqual(db_int("SELECT SUM(reserved_stock) FROM products WHERE sku LIKE '%s-%%'" % tag), 0)
        finally:
            db("DELETE FROM stock_holds WHERE cart_id='%s'; UPDATE products SET reserved_stock = 0 WHERE sku LIKE"
               " '%s-%%'" % (c, tag))
            db("DELETE FROM stock_receipts WHERE product_id IN (SELECT id FROM products WHERE sku LIKE '%s-%%')" % tag)
            db("DELETE FROM products WHERE sku LIKE '%s-%%'" % tag)

    def test_sweeper_lock_after_its_connection_is_lost(self):
        # The sweeper's connection dies (killed here); another holder (a second host's sweeper, played by this
        # test) takes the named lock meanwhile. The sweeper must notice the lock went with its connection and
        # not sweep without it; once the lock is free it takes it again, on its new connection, and sweeps.
        owner = wait_until(lambda: db_int("SELECT IS_USED_LOCK('stockd_sweeper')"), 5, what="the sweeper's lock")
        other = DbSession()
        try:
            me = int(other.run("SELECT CONNECTION_ID()")[0][0])
            killed = []

            def kill_and_take():
                holder = db_int("SELECT IS_USED_LOCK('stockd_sweeper')")
                if holder not in (None, me):  # the sweeper's (first, or again if it was quicker than us)
                    db("KILL CONNECTION %d" % holder)
                    killed.append(holder)
                return other.run("SELECT GET_LOCK('stockd_sweeper', 1)")[0][0] == "1"
            wait_until(kill_and_take, 20, 0.01, "the lock, freed by killing the sweeper's connection")
            self.assertIn(owner, killed)
            pid = make_product(stock=4)["id"]
            c = new_cart()
            ok(reserve(c, pid, 2))
            expire_holds(c)
            m0 = metrics()
            time.sleep(6 * SWEEP_MS / 1000)
            self.assertEqual(hold_qty(c, pid), 2, "no sweep without the lock")
            self.assertEqual(metric(metrics(), "stockd_sweeps_total"), metric(m0, "stockd_sweeps_total"))
            other.run("DO RELEASE_LOCK('stockd_sweeper')")
            wait_until(lambda: hold_qty(c, pid) == 0, 10, what="the sweeper to take the lock back and sweep")
            holder = db_int("SELECT IS_USED_LOCK('stockd_sweeper')")
            self.assertIsNotNone(holder)
            self.assertNotIn(holder, killed + [me], "held on the sweeper's new connection")
        finally:
            other.close()

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
        old = wait_until(sweeper_asleep, 10, 0.05, "the sweeper")
        cls._conf = conf(SWEEP_INTERVAL=600000)
        cls._conf.__enter__()
        # the old sweeper's last rounds and the new one's first, which it runs at once, are over
        sweeper_replaced(old)

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
