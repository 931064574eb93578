"""CART_RETENTION_DAYS (30 by default, the test stack's): the sweeper deletes abandoned carts, open ones unchanged
for that long that hold no stock, with their lines; recent carts, carts holding stock, and checked-out carts with
their orders stay. Carts are made old behind the service's back (their timestamps, in the test database)."""

import os
import time
import unittest

from lib import (StockdTest, add, app_pid, checkout, conf, db, db_int, expire_holds, make_product, metric, metrics, new_cart,
                 ok, wait_until)

OLD = "UTC_TIMESTAMP(3) - INTERVAL 31 DAY"


def age(cids, lines=True):
    ids = ",".join("'%s'" % c for c in cids)
    db("UPDATE carts SET created_at = %s, updated_at = %s WHERE id IN (%s)" % (OLD, OLD, ids))
    if lines:
        db("UPDATE cart_items SET updated_at = %s WHERE cart_id IN (%s)" % (OLD, ids))


def exists(cid):
    return db_int("SELECT COUNT(*) FROM carts WHERE id = '%s'" % cid) == 1


def lines(cid):
    return db_int("SELECT COUNT(*) FROM cart_items WHERE cart_id = '%s'" % cid)


class Retention(StockdTest):
    def test_abandoned_carts_are_purged_orders_kept(self):
        pid = make_product(stock=100)["id"]
        # purged: an old cart with a line and no hold; an old empty cart; an old cart whose hold expired (the
        # sweep gives the stock back first, then the cart goes)
        plain, empty, expired = new_cart(), new_cart(), new_cart()
        ok(add(plain, pid, 2, dec=False))
        ok(add(expired, pid, 3, dec=True))
        # kept: a recent cart; an old cart holding stock now; an old checked-out cart and its order; an old cart
        # one of whose lines changed recently
        recent, holding, bought, touched = new_cart(), new_cart(), new_cart(), new_cart()
        ok(add(recent, pid, 1, dec=False))
        ok(add(holding, pid, 4, dec=True))
        ok(add(bought, pid, 5, dec=True))
        ok(checkout(bought), 201)
        ok(add(touched, pid, 1, dec=False))
        order = db_int("SELECT id FROM orders WHERE cart_id = '%s'" % bought)
        self.assertIsNotNone(order)
        age([plain, empty, expired, holding, bought])
        age([touched], lines=False)
        expire_holds(expired)
        gone = [plain, empty, expired]
        deadline = time.time() + 30
        while time.time() < deadline and any(exists(c) for c in gone):
            time.sleep(0.2)
        self.assertEqual([c for c in gone if exists(c)], [], "abandoned carts still there after 30 s")
        for c in gone:
            self.assertEqual(lines(c), 0)
            self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id = '%s'" % c), 0)
        # the expired hold was given back, not dropped: reserved == live holds (the audit in tearDown checks
        # every invariant), here 4 units of `holding`
        self.assertEqual(db_int("SELECT reserved_stock FROM products WHERE id = %d" % pid), 4)
        for c in (recent, holding, bought, touched):
            self.assertTrue(exists(c), c)
            self.assertGreater(lines(c), 0, c)
        self.assertEqual(db_int("SELECT COUNT(*) FROM orders WHERE id = %d" % order), 1)
        self.assertEqual(db_int("SELECT COUNT(*) FROM order_items WHERE order_id = %d" % order), 1)
        self.assertEqual(db_val_status(bought), "checked_out")

    def test_zero_keeps_every_cart(self):
        pid = make_product(stock=10)["id"]
        cid = new_cart()
        ok(add(cid, pid, 1, dec=False))
        with conf(CART_RETENTION_DAYS=0):
            # the old sweeper (30 days) is gone before the cart looks old: only WORKERS workers and one sweeper
            # remain, and that sweeper has run
            want = int(metric(metrics(), "stockd_workers")) + 1
            wait_until(lambda: len(children(app_pid())) == want, 30, what="the old sweeper gone")
            start = metric(metrics(), "stockd_sweeps_total")
            wait_until(lambda: metric(metrics(), "stockd_sweeps_total") >= start + 1, 30, what="a sweep")
            age([cid])
            start = metric(metrics(), "stockd_sweeps_total")
            # three whole sweeps after the change (each would have scanned every cart of the test database)
            wait_until(lambda: metric(metrics(), "stockd_sweeps_total") >= start + 3, 30, what="three sweeps")
            self.assertTrue(exists(cid), "CART_RETENTION_DAYS=0 deleted a cart")
            self.assertEqual(lines(cid), 1)
        # back to the default (30 days): it goes
        wait_until(lambda: not exists(cid), 30, what="the cart purged once retention is back")
        self.assertEqual(lines(cid), 0)


def children(pid):
    """The live child processes of pid (the master's workers and sweeper)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
    return out


def db_val_status(cid):
    return db("SELECT status FROM carts WHERE id = '%s'" % cid)[0][0]


if __name__ == "__main__":
    unittest.main()
