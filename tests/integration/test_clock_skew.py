"""Two app hosts whose clocks differ by a few seconds (docs/scaling.md, "Where now comes from").

stockd takes "now" from the app host's clock. Two masters beside the stack's, against
its database, with short holds (TTL 12 s): "on time" and "ahead", whose clock runs
SKEW = 6 s ahead (libfaketime). A hold made on time must stand, seen from the host
ahead, until TTL - SKEW has passed, and may be reclaimed by it from then on: early by
at most the skew, never more. A hold made by the host ahead lives SKEW longer by the
true clock. Whatever the clocks, reserved_stock stays the sum of the holds and the
audit is clean.
"""

import os
import time

from extra_master import ExtraMaster
from lib import StockdTest, audit_ok, db_int, make_product, now_ms

TTL_S = 12
SKEW_S = 6
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class ClockSkew(StockdTest):
    def start(self, name, env=None):
        m = ExtraMaster(name, dict({"STOCK_RESERVATION_TIMEOUT": str(TTL_S * 1000)}, **(env or {})))
        self.addCleanup(m.stop)
        return m

    def cart(self, m):
        status, body = m.ask("POST", "/api/cart")
        self.assertEqual(status, 201, body)
        return body["cart_id"]

    def reserve(self, m, cid, pid):
        return m.ask("POST", "/api/stock/reserve", {"cart_id": cid, "product_id": pid, "quantity": 1})

    def hold_expiry(self, cid, pid):
        return db_int("SELECT expires_at_ms FROM stock_holds WHERE cart_id = '%s' AND product_id = %d" % (cid, pid))

    def test_a_skew_moves_expiry_by_at_most_the_skew(self):
        self.assertTrue(os.path.exists(LIBFAKETIME), "libfaketime (deploy/install-deps installs it)")
        on_time = self.start("on-time")
        ahead = self.start("ahead", {
            "LD_PRELOAD": LIBFAKETIME, "FAKETIME": "+%ds" % SKEW_S, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            # an ASan build must come first among the libraries; libfaketime only wraps clock calls
            "ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))})
        # the host ahead really is ahead: its own idea of when it started
        status, s = ahead.ask("GET", "/status")
        self.assertEqual(status, 200, s)
        started = time.mktime(time.strptime(s["start_time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        self.assertGreater(started - time.time(), SKEW_S - 3, s["start_time"])

        pid = make_product(stock=1)["id"]
        first = self.cart(on_time)
        t0 = time.monotonic()
        status, body = self.reserve(on_time, first, pid)
        self.assertEqual(status, 200, body)
        expiry = self.hold_expiry(first, pid)
        self.assertAlmostEqual(expiry - now_ms(), TTL_S * 1000, delta=1500)

        # 2 s later the host ahead reads 8 s: the hold (12 s) stands for it too
        second = self.cart(ahead)
        time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
        status, body = self.reserve(ahead, second, pid)
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"]["code"], "insufficient_stock", body)
        self.assertEqual(self.hold_expiry(first, pid), expiry, "the hold stands")

        # 8 s later the host ahead reads 14 s: it reclaims the hold, 4 s early by the true clock
        time.sleep(max(0.0, 8.0 - (time.monotonic() - t0)))
        self.assertLess(now_ms(), expiry, "still before the hold's true expiry")
        status, body = self.reserve(ahead, second, pid)
        self.assertEqual(status, 200, body)
        self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id = '%s'" % first), 0)
        # ... and its own hold lives SKEW longer by the true clock
        mine = self.hold_expiry(second, pid)
        self.assertAlmostEqual(mine - now_ms(), (TTL_S + SKEW_S) * 1000, delta=1500)
        self.assertEqual(db_int("SELECT reserved_stock FROM products WHERE id = %d" % pid), 1)
        self.assertEqual(db_int("SELECT COALESCE(SUM(quantity), 0) FROM stock_holds WHERE product_id = %d" % pid), 1)
        audit_ok()
