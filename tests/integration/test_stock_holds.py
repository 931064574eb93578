"""Stock holds: reserve/release, timeouts, own holds, and holds never sold to another cart."""

import os
import subprocess
import time

from lib import (DB_NAME, DB_SOCKET, MAX_ID, DbSession, StockdTest, add, admin_stock, api_error, cart, checkout, conf,
                 conf_value, db, db_consistency, db_int, hold_qty, item, make_product, new_cart, now_ms, ok, product,
                 release, reserve, run_threads, snapshot, ts_ms, wait_until)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLD_KEYS = {"cart_id", "product_id", "reserved", "reserved_until", "available"}


def timeout_ms():
    return int(conf_value("STOCK_RESERVATION_TIMEOUT", "1800000"))


class ReserveRelease(StockdTest):
    def test_reserve_and_release_shapes(self):
        p = make_product(stock=7)
        pid, cid = p["id"], new_cart()
        t0 = now_ms()
        r = ok(reserve(cid, pid, 2))
        self.assertEqual(set(r), HOLD_KEYS)
        self.assertEqual((r["cart_id"], r["product_id"], r["reserved"], r["available"]), (cid, pid, 2, 5))
        # the hold lasts STOCK_RESERVATION_TIMEOUT from now (same host clock; generous slack)
        self.assertAlmostEqual(ts_ms(r["reserved_until"]) - t0, timeout_ms(), delta=3000)
        r = ok(reserve(cid, pid, 3))
        self.assertEqual((r["reserved"], r["available"]), (5, 2))
        # a hold without a line shows quantity 0 in the cart view
        self.assertEqual(item(cart(cid), pid), {"product_id": pid, "quantity": 0, "reserved": 5,
                                                "reserved_until": r["reserved_until"]})
        r = ok(release(cid, pid, 1))
        self.assertEqual(set(r), HOLD_KEYS)
        self.assertEqual((r["reserved"], r["available"]), (4, 3))
        # releasing more than is held releases what is held
        r = ok(release(cid, pid, 10))
        self.assertEqual((r["cart_id"], r["product_id"], r["reserved"], r["reserved_until"], r["available"]),
                         (cid, pid, 0, None, 7))
        self.assertEqual(cart(cid)["items"], [], "no line and no hold: not listed")
        self.assertEqual(product(pid)["reserved"], 0)
        # nothing held: still a 200 with reserved 0
        r = ok(release(cid, pid, 1))
        self.assertEqual((r["reserved"], r["available"]), (0, 7))

    def test_release_without_quantity_releases_all(self):
        p = make_product(stock=9)
        cid = new_cart()
        ok(add(cid, p["id"], 4, dec=True))
        ok(reserve(cid, p["id"], 3))
        r = ok(release(cid, p["id"]))
        self.assertEqual((r["reserved"], r["reserved_until"], r["available"]), (0, None, 9))
        # the line stays; only the hold went
        self.assertEqual(item(cart(cid), p["id"])["quantity"], 4)

    def test_reserved_until_is_the_stored_expiry(self):
        p = make_product(stock=9)
        cid = new_cart()
        r = ok(reserve(cid, p["id"], 1))
        stored = db_int("SELECT expires_at_ms FROM stock_holds WHERE cart_id='%s' AND product_id=%d" % (cid, p["id"]))
        self.assertEqual(ts_ms(r["reserved_until"]), stored)
        self.assertEqual(ts_ms(item(cart(cid), p["id"])["reserved_until"]), stored)

    def test_reserve_restarts_timeout(self):
        p = make_product(stock=9)
        cid = new_cart()
        first = ok(reserve(cid, p["id"], 1))["reserved_until"]
        time.sleep(0.05)
        second = ok(reserve(cid, p["id"], 1))["reserved_until"]
        self.assertGreater(ts_ms(second), ts_ms(first))
        self.assertEqual(item(cart(cid), p["id"])["reserved_until"], second)

    def test_insufficient_stock(self):
        p = make_product(stock=3)
        a, b = new_cart(), new_cart()
        ok(reserve(a, p["id"], 2))
        before = snapshot([p["id"]], [a, b])
        err = api_error(reserve(b, p["id"], 2), 409, "insufficient_stock")
        self.assertEqual(err.get("available"), 1)
        err = api_error(reserve(a, p["id"], 2), 409, "insufficient_stock")
        self.assertEqual(err.get("available"), 1)
        self.assertEqual(snapshot([p["id"]], [a, b]), before)
        self.assertEqual(ok(reserve(b, p["id"], 1))["available"], 0)
        err = api_error(reserve(a, p["id"], 1), 409, "insufficient_stock")
        self.assertEqual(err.get("available"), 0)

    def test_unknown(self):
        p = make_product()
        api_error(reserve("a" * 32, p["id"], 1), 404, "cart_not_found")
        api_error(release("a" * 32, p["id"], 1), 404, "cart_not_found")
        api_error(reserve(new_cart(), MAX_ID, 1), 404, "product_not_found")
        api_error(release(new_cart(), MAX_ID, 1), 404, "product_not_found")

    def test_concurrent_reserves_same_cart(self):
        # no lost update: ten parallel reserves of one unit by one cart hold ten units
        p = make_product(stock=20)
        cid = new_cart()
        run_threads(10, lambda i: ok(reserve(cid, p["id"], 1)))
        self.assertEqual(hold_qty(cid, p["id"]), 10)
        self.assertEqual(product(p["id"])["reserved"], 10)


class OwnHolds(StockdTest):
    def test_own_hold_never_blocks_own_cart(self):
        p = make_product(stock=3)
        a = new_cart()
        ok(reserve(a, p["id"], 3))  # available is now 0 for everyone else
        v = ok(add(a, p["id"], 3))
        self.assertEqual(v["warnings"], [])
        ok(checkout(a), 201)
        self.assertEqual((product(p["id"])["stock"], product(p["id"])["reserved"]), (0, 0))

    def test_holds_never_sold_to_another_cart(self):
        # invariant 6, in both modes and through every path that takes stock
        p = make_product(stock=3)
        a = new_cart()
        ok(reserve(a, p["id"], 3))
        for mode in ("stock", "legacy"):
            b = new_cart(mode=mode)
            ok(add(b, p["id"], 1, mode=mode))
            before = snapshot([p["id"]], [a, b])
            err = api_error(checkout(b, mode=mode), 409, "insufficient_stock")
            self.assertEqual(err.get("items"), [{"product_id": p["id"], "requested": 1, "available": 0}])
            err = api_error(add(b, p["id"], 1, dec=True, mode="stock"), 409, "insufficient_stock")
            self.assertEqual(err.get("available"), 0)
            err = api_error(reserve(b, p["id"], 1), 409, "insufficient_stock")
            self.assertEqual(err.get("available"), 0)
            api_error(admin_stock(p["id"], set=2), 409, "below_reserved")
            self.assertEqual(snapshot([p["id"]], [a, b]), before, mode)
        self.assertEqual(hold_qty(a, p["id"]), 3)
        # the holder can still buy everything
        ok(add(a, p["id"], 3))
        ok(checkout(a, mode="legacy"), 201)
        self.assertEqual(product(p["id"])["stock"], 0)


class LegacyMode(StockdTest):
    def test_reserve_release_disabled_in_legacy(self):
        p = make_product(stock=5)
        cid = new_cart()
        ok(reserve(cid, p["id"], 2))
        before = snapshot([p["id"]], [cid])
        for r in (reserve(cid, p["id"], 1, mode="legacy"), release(cid, p["id"], 1, mode="legacy"),
                  release(cid, p["id"], mode="legacy"),
                  # mode is checked before existence
                  reserve("b" * 32, p["id"], 1, mode="legacy"), reserve(cid, MAX_ID, 1, mode="legacy")):
            with self.subTest(r=r):
                api_error(r, 503, "stock_management_disabled")
                self.assertEqual(r.header("X-Stock-Mode"), "legacy")
        # shape is checked before the mode
        api_error(reserve(cid, p["id"], 0, mode="legacy"), 400, "invalid_request", "quantity")
        api_error(release(cid, "1", 1, mode="legacy"), 400, "invalid_request", "product_id")
        self.assertEqual(snapshot([p["id"]], [cid]), before)
        # a legacy view shows holds made in stock mode
        self.assertEqual(item(cart(cid, mode="legacy"), p["id"])["reserved"], 2)


class FlagForcesLegacy(StockdTest):
    def test_enable_stock_management_false(self):
        p = make_product(stock=5)
        cid = new_cart()
        with conf(ENABLE_STOCK_MANAGEMENT="false"):
            for mode in (None, "stock", "legacy"):
                r = reserve(cid, p["id"], 1, mode=mode)
                api_error(r, 503, "stock_management_disabled")
                self.assertEqual(r.header("X-Stock-Mode"), "legacy")
                r = add(cid, p["id"], 1, dec=True, mode=mode)
                ok(r)
                self.assertEqual(r.header("X-Stock-Mode"), "legacy")
            self.assertEqual(hold_qty(cid, p["id"]), 0)
            self.assertEqual(product(p["id"])["reserved"], 0)
        # the lever is reversible without restarting anything
        r = reserve(cid, p["id"], 1, mode="stock")
        ok(r)
        self.assertEqual(r.header("X-Stock-Mode"), "stock")


class RepeatableRead(StockdTest):
    """The hold path on a REPEATABLE READ session (tests/tools/hold_rr.c runs dom_reserve there;
    the app's sessions are READ COMMITTED). A snapshot taken when the cart is locked must not decide what the
    product's expired holds are once its row lock is granted: the hold path refuses such a session."""

    @classmethod
    def setUpClass(cls):
        # `make test` builds every tests/tools program; a narrowed run may not have
        cls.driver = os.path.join(TOP, "app", "build", "tools", "hold_rr")
        r = subprocess.run(["make", "-C", TOP, "app/build/tools/hold_rr"], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("building %s failed: %s" % (cls.driver, (r.stdout + r.stderr)[-3000:]))

    def test_reclaim_between_snapshot_and_lock(self):
        # P: 10 in stock; cart X holds 3, cart Z holds 4: reserved 7.
        pid = make_product(stock=10)["id"]
        x, y, z = new_cart(), new_cart(), new_cart()
        ok(reserve(x, pid, 3))
        ok(reserve(z, pid, 4))
        other = DbSession()
        try:
            # Another transaction holds P's row lock
            other.run("BEGIN; SELECT id FROM products WHERE id = %d FOR UPDATE" % pid)
            # (next_expiry_ms, a lower bound of the holds' expiries, moves back with the expiry below)
            other.run("UPDATE products SET next_expiry_ms = 0 WHERE id = %d" % pid)
            # The driver's reserve for Y locks Y (its snapshot starts there) and waits for P...
            drv = subprocess.Popen([self.driver, DB_SOCKET, DB_NAME, y, str(pid), "1"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            hello = drv.stdout.readline().split()
            self.assertEqual(hello[:1], ["connected"], drv.stderr.read() if drv.poll() is not None else hello)
            wait_until(lambda: db_int("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state ="
                                      " 'LOCK WAIT' AND trx_mysql_thread_id = %d" % int(hello[1])), 10, 0.01,
                       "the driver to wait on the product lock")
            # ...and only then does X's hold expire. Expired earlier, the sweeper could queue on P ahead of
            # the driver, take P first once the reclaim below commits and, finding nothing left to reclaim,
            # store P's next expiry again: the driver's one-statement fast path would then rightly match
            # (it reads no hold) and the REPEATABLE READ hold path this test is about would never run.
            db("UPDATE stock_holds SET expires_at_ms = %d WHERE cart_id = '%s'" % (now_ms() - 1000, x))
            # ...while this transaction reclaims X's expired hold and commits
            other.run("DELETE FROM stock_holds WHERE cart_id = '%s'; "
                      "UPDATE products SET reserved_stock = reserved_stock - 3 WHERE id = %d; COMMIT" % (x, pid))
        finally:
            other.close()
        out, err = drv.communicate(timeout=60)
        # The hold path refuses a REPEATABLE READ session instead of counting from an old snapshot: the
        # reserve fails (rc != 0), holds nothing, and the product is as the reclaim left it.
        rc = out.split()[:1]
        self.assertTrue(rc and rc != ["0"], "reserve under REPEATABLE READ succeeded: %r %r" % (out, err))
        self.assertEqual(hold_qty(y, pid), 0)
        self.assertEqual(db_consistency([pid]), [])
        self.assertEqual(product(pid)["reserved"], 4)


class ReserveProcedure(StockdTest):
    """stockd_reserve_v2 (sql/0008, answering after its COMMIT since 0009, in OUT parameters since 0010), called
    as the app calls it: it takes the hold only when the reserve surely passes every check of the app's, and
    otherwise writes nothing and says whether the cart or the product stopped it (the app then runs its full
    path, which says why). stockd_reserve_v1, which an older release calls, answers the same with a SELECT."""

    LIMITS = (5, 3, 1000)  # MAX_HOLD_PER_PRODUCT, MAX_CART_LINES, LINE_MAX_UNITS as passed in

    def answer(self, statements):
        """The one row `statements` answer, run in a READ COMMITTED transaction the caller rolls back."""
        rows = db("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN;" + statements + " ROLLBACK")
        self.assertEqual(len(rows), 1, rows)
        return tuple(None if v == "NULL" else int(v) for v in rows[0])

    def call(self, cid, pid, qty, commit=1, limits=LIMITS, now=None, v1=False):
        now = now_ms() if now is None else now
        args = (cid, pid, qty, now + 60000, now) + limits + (commit,)
        if v1:
            call = " CALL stockd_reserve_v1('%s', %d, %d, %d, %d, %d, %d, %d, %d);" % args
        else:  # the OUT parameters, read before the caller's ROLLBACK
            call = (" CALL stockd_reserve_v2('%s', %d, %d, %d, %d, %d, %d, %d, %d, @o_status, @o_held, @o_available);"
                    " SELECT @o_status, @o_held, @o_available;" % args)
        return self.answer(call)

    def takes_the_hold_and_commits(self, v1):
        pid, cid = make_product(stock=5)["id"], new_cart()
        self.assertEqual(self.call(cid, pid, 2, v1=v1), (2, 2, 3))
        self.assertEqual(self.call(cid, pid, 1, v1=v1), (2, 3, 2))  # the cart's hold grows
        # the COMMIT inside the CALL outlived the caller's ROLLBACK
        self.assertEqual((hold_qty(cid, pid), product(pid)["reserved"]), (3, 3))
        # without p_commit the caller's ROLLBACK takes it back
        self.assertEqual(self.call(cid, pid, 1, commit=0, v1=v1), (2, 4, 1))
        self.assertEqual((hold_qty(cid, pid), product(pid)["reserved"]), (3, 3))
        self.assertEqual(self.call(cid, pid, 3, v1=v1), (0, None, None))  # hold 3 + 3 > MAX_HOLD_PER_PRODUCT
        self.assertEqual(self.call(cid, MAX_ID, 1, v1=v1), (1, None, None))  # no such product
        self.assertEqual(db_consistency([pid]), [])

    def test_takes_the_hold_and_commits(self):
        self.takes_the_hold_and_commits(v1=False)

    def test_v1_answers_as_before_for_an_older_release(self):
        self.takes_the_hold_and_commits(v1=True)

    def test_hold_v1_answers_as_before_for_an_older_release(self):
        pid, cid = make_product(stock=5)["id"], new_cart()
        now = now_ms()

        def hold(product):
            return self.answer(" CALL stockd_hold_v1('%s', %d, 2, %d, %d, NULL, 0);" % (cid, product, now + 60000, now))

        self.assertEqual(hold(pid), (2, 3))  # the hold's size, the product's free units
        self.assertEqual(hold(MAX_ID), (None, None))  # not taken
        self.assertEqual((hold_qty(cid, pid), product(pid)["reserved"]), (0, 0))  # the caller's ROLLBACK

    def test_product_stops_it(self):
        pid, cid = make_product(stock=2)["id"], new_cart()
        before = snapshot([pid], [cid])
        self.assertEqual(self.call(cid, pid, 3), (1, None, None))  # short of free units
        self.assertEqual(self.call(cid, MAX_ID, 1), (1, None, None))  # no such product
        bound = db_int("SELECT next_expiry_ms FROM products WHERE id = %d" % pid)
        db("UPDATE products SET next_expiry_ms = 0 WHERE id = %d" % pid)  # a hold of it may have expired
        self.assertEqual(self.call(cid, pid, 1), (1, None, None))
        db("UPDATE products SET next_expiry_ms = %d WHERE id = %d" % (bound, pid))
        self.assertEqual(snapshot([pid], [cid]), before)

    def test_cart_stops_it(self):
        a, b, c = [make_product(stock=50)["id"] for _ in range(3)]
        cid = new_cart()
        ok(add(cid, a, 1, dec=True))  # a line and a hold: one product, two rows
        ok(add(cid, b, 1))
        before = snapshot([a, b, c], [cid])
        self.assertEqual(self.call("0" * 32, a, 1), (0, None, None))  # no such cart
        self.assertEqual(self.call(cid, a, 5), (0, None, None))  # hold 1 + 5 > MAX_HOLD_PER_PRODUCT
        self.assertEqual(self.call(cid, a, 1, limits=(5, 3, 0)), (0, None, None))  # line 1 > LINE_MAX_UNITS
        # a product new to the cart: 3 rows for 2 products reach MAX_CART_LINES, so the app decides
        self.assertEqual(self.call(cid, c, 1), (0, None, None))
        self.assertEqual(snapshot([a, b, c], [cid]), before)
        # ...and the app's full path counts products, not rows: c fits
        with conf(MAX_HOLD_PER_PRODUCT=5, MAX_CART_LINES=3):
            ok(reserve(cid, c, 1))
            api_error(reserve(cid, make_product(stock=5)["id"], 1), 409, "cart_full")
        # products already in the cart are not counted against the limit
        self.assertEqual(self.call(cid, b, 1), (2, 1, 49))
        ok(checkout(cid), 201)
        before = snapshot([a, b, c], [cid])
        self.assertEqual(self.call(cid, b, 1), (0, None, None))  # checked out
        self.assertEqual(snapshot([a, b, c], [cid]), before)
