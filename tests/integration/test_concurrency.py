"""Races: the last units, concurrent checkouts, and a mixed random workload in both modes."""

import collections
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from lib import (StockdTest, add, admin_stock, api_error, checkout, conf, db_consistency, db_int, get, make_product,
                 new_cart, ok, product, release, remove, reserve, wait_until)


def pool_map(n, fn, items):
    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(fn, items))


class Races(StockdTest):
    def test_last_units_add_with_hold(self):
        p = make_product(stock=50)
        carts = pool_map(16, lambda i: new_cart(), range(200))
        rs = pool_map(32, lambda c: add(c, p["id"], 1, dec=True), carts)
        by = collections.Counter(r.status for r in rs)
        self.assertEqual(by, {200: 50, 409: 150}, [r for r in rs if r.status not in (200, 409)][:3])
        for r in rs:
            if r.status == 409:
                api_error(r, 409, "insufficient_stock")
                self.assertEqual(r.error.get("available"), 0)
        got = product(p["id"])
        self.assertEqual((got["stock"], got["reserved"], got["available"]), (50, 50, 0))
        # the winners have a line and a hold, the losers nothing (a failed request changes nothing)
        self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE product_id=%d" % p["id"]), 50)
        self.assertEqual(db_int("SELECT COUNT(*) FROM cart_items WHERE product_id=%d" % p["id"]), 50)
        self.assertEqual(db_consistency([p["id"]]), [])

    def test_checkout_race(self):
        p = make_product(stock=5, price_cents=100)
        carts = pool_map(8, lambda i: new_cart(), range(20))
        for i, c in enumerate(carts):  # lines without holds, half of them through legacy mode
            ok(add(c, p["id"], 1, mode="legacy" if i % 2 else None))
        rs = pool_map(20, lambda ic: checkout(ic[1], mode="legacy" if ic[0] % 3 == 0 else None), enumerate(carts))
        by = collections.Counter(r.status for r in rs)
        self.assertEqual(by, {201: 5, 409: 15}, [r for r in rs if r.status not in (201, 409)][:3])
        for r in rs:
            if r.status == 409:
                err = api_error(r, 409, "insufficient_stock")
                self.assertEqual(err.get("items"), [{"product_id": p["id"], "requested": 1, "available": 0}])
        self.assertEqual(product(p["id"])["stock"], 0)
        self.assertEqual(db_int("SELECT COUNT(*) FROM order_items WHERE product_id=%d" % p["id"]), 5)
        self.assertEqual(db_int("SELECT SUM(quantity) FROM order_items WHERE product_id=%d" % p["id"]), 5)
        self.assertEqual(db_consistency([p["id"]]), [])

    def test_concurrent_adds_same_line(self):
        # no lost update on one cart line: 10 clients add 1 unit 5 times each, half with a hold
        p = make_product(stock=100)
        cid = new_cart()
        pool_map(10, lambda i: [ok(add(cid, p["id"], 1, dec=(i % 2 == 0))) for _ in range(5)], range(10))
        it = [x for x in ok(get("/api/cart/" + cid))["items"] if x["product_id"] == p["id"]][0]
        self.assertEqual((it["quantity"], it["reserved"]), (50, 25))
        self.assertEqual(product(p["id"])["reserved"], 25)

    def test_same_cart_concurrent_checkouts(self):
        # one order: one 201, every other attempt the 200 repeat of the same order
        p = make_product(stock=10)
        cid = new_cart()
        ok(add(cid, p["id"], 2, dec=True))
        rs = pool_map(8, lambda i: checkout(cid), range(8))
        self.assertEqual(sorted(r.status for r in rs), [200] * 7 + [201], rs)
        self.assertEqual(len({r.json["order_id"] for r in rs}), 1)
        self.assertEqual(db_int("SELECT COUNT(*) FROM orders WHERE cart_id='%s'" % cid), 1)
        self.assertEqual(product(p["id"])["stock"], 8)

    def test_mixed_workload(self):
        """16 threads of random reserve/release/add/remove/checkout on 3 hot products, both modes, for ~8 s."""
        hot = [make_product(stock=30, price_cents=100)["id"] for _ in range(3)]
        bad, counts = mixed_workload(hot, 8)
        self.assertEqual(bad[:5], [], "unexpected answers; counts %s" % dict(counts))
        self.assertGreater(counts[(200, None)], 100, dict(counts))
        self.check_products(hot)

    def test_mixed_workload_shared_carts(self):
        """16 threads sharing 6 carts (two of them legacy): cart-level races on lines, holds and checkout."""
        hot = [make_product(stock=30, price_cents=100)["id"] for _ in range(3)]
        bad, counts = mixed_workload(hot, 6, shared_carts=6)
        self.assertEqual(bad[:5], [], "unexpected answers; counts %s" % dict(counts))
        self.assertGreater(counts[(200, None)], 100, dict(counts))
        self.check_products(hot)

    def test_mixed_workload_with_expiring_holds(self):
        """The same with holds expiring every 300 ms: the sweep and the lazy reclaim race the requests."""
        hot = [make_product(stock=30, price_cents=100)["id"] for _ in range(3)]
        with conf(STOCK_RESERVATION_TIMEOUT=300, SWEEP_INTERVAL=200):
            bad, counts = mixed_workload(hot, 5)
            self.assertEqual(bad[:5], [], "unexpected answers; counts %s" % dict(counts))
            self.check_products(hot)
            # soon every hold has expired and been swept
            wait_until(lambda: db_int("SELECT COUNT(*) FROM stock_holds WHERE product_id IN (%s)"
                                      % ",".join(map(str, hot))) == 0, 3, what="the sweep to clear every hold")
            self.assertEqual([product(p)["reserved"] for p in hot], [0, 0, 0])
        self.check_products(hot)

    def check_products(self, hot):
        self.assertEqual(db_consistency(hot), [])
        for pid in hot:
            got = product(pid)
            self.assertTrue(0 <= got["reserved"] <= got["stock"], got)
            self.assertEqual(got["available"], got["stock"] - got["reserved"])


EXPECTED_4XX = {(404, "item_not_in_cart"), (409, "insufficient_stock"), (409, "cart_closed"), (409, "cart_empty"),
                (409, "quantity_limit"), (409, "below_reserved")}


def expected_answer(r, mode):
    code = r.error.get("code") if r.error else None
    if r.status in (200, 201):
        if code is not None or not isinstance(r.json, dict):
            return False
        j = r.json
        if "available" in j and not (j["available"] >= 0 and j["reserved"] >= 0):
            return False
        if "warnings" in j and j["status"] == "open":  # a cart view: warnings exactly for the short lines
            short = sorted(it["product_id"] for it in j["items"] if it["reserved"] < it["quantity"])
            if sorted(w["product_id"] for w in j["warnings"]) != short:
                return False
        return True
    if (r.status, code) == (503, "stock_management_disabled"):
        return mode == "legacy" and r.path.startswith("/api/stock/")  # old clients, stock routes only
    return (r.status, code) in EXPECTED_4XX


def mixed_workload(hot, seconds, threads=16, shared_carts=0):
    """Random operations from `threads` clients (a quarter legacy) on the hot products; returns (bad, counts).
    With shared_carts=N the clients share N carts (a third of them legacy), replaced when checked out."""
    deadline = time.monotonic() + seconds
    bad, counts = [], collections.Counter()
    lock = threading.Lock()
    pool = [[new_cart(mode="legacy" if j % 3 == 2 else None), "legacy" if j % 3 == 2 else None]
            for j in range(shared_carts)]

    def client(i):
        rnd = random.Random(i)
        mode = "legacy" if i % 4 == 3 else None
        cid = new_cart(mode=mode)
        slot = None
        while time.monotonic() < deadline:
            if pool:
                slot = rnd.randrange(len(pool))
                with lock:
                    cid, mode = pool[slot]
            pid = rnd.choice(hot)
            op = rnd.random()
            if op < 0.25:
                r = add(cid, pid, rnd.randint(1, 3), dec=rnd.random() < 0.7, mode=mode)
            elif op < 0.40:
                r = remove(cid, pid, rnd.choice([None, 1, 2]), inc=rnd.random() < 0.7, mode=mode)
            elif op < 0.55:
                r = reserve(cid, pid, rnd.randint(1, 3), mode=mode)
            elif op < 0.65:
                r = release(cid, pid, rnd.choice([None, 1, 2]), mode=mode)
            elif op < 0.75:
                r = checkout(cid, mode=mode)
                if r.status in (200, 201):
                    fresh = new_cart(mode=mode)
                    if pool:
                        with lock:
                            if pool[slot][0] == cid:
                                pool[slot][0] = fresh
                    else:
                        cid = fresh
            elif op < 0.80:
                r = admin_stock(pid, delta=rnd.choice([-2, 2, 3]))
            else:
                r = get("/api/cart/" + cid, mode=mode)
            with lock:
                counts[(r.status, r.error.get("code") if r.error else None)] += 1
                if not expected_answer(r, mode):
                    bad.append(r)

    with ThreadPoolExecutor(max_workers=threads) as ex:
        list(ex.map(client, range(threads)))
    return bad, counts
