"""Two sweepers at once, on two nodes (multi-writer), never release a hold twice.

GET_LOCK is node-local on Galera, so with app1 on db1 and app2 on db2 (multi-writer) each app host's
sweeper holds "the" sweeper lock and both sweep. docs/scaling.md says that is harmless: a reclaim locks
the product row and releases only the holds that are expired under that lock, so the second reclaim of
a product either fails certification and reruns, finding nothing left, or finds nothing at once. This
scenario proves it: holds on PRODUCTS products are made expired behind the service's back in waves
while both sweepers run and shoppers reserve the same products through both app hosts (each reserve
reclaims the product's expired holds lazily). Asserted: both sweepers reclaimed; the units reclaimed,
counted by both app hosts as each reclaim commits (sweep and lazy), add up to exactly the units that
expired; on every node each product's reserved stock is its live holds, and those are exactly the holds
that never expired plus the shoppers' acknowledged ones; the audit on every node.
"""

import random
import threading

import clusterlib
from clusterlib import MultiWriterTest, bed, lib, report
import bed as bedmod

PRODUCTS = 400
WAVES = 8            # back-dated in waves a little apart, so each sweeper meets some first
EXPIRED_QTY = 2      # every product: one hold of 2 units that expires
LIVE_EVERY = 4       # and every 4th product: one live hold of 1 unit
SHOPPERS = 4
SWEEP = 'stockd_hold_units_total{mode="stock",event="expired_sweep"}'
LAZY = 'stockd_hold_units_total{mode="stock",event="expired_lazy"}'


class TwoSweepers(MultiWriterTest):

    def test_two_sweepers_never_release_a_hold_twice(self):
        b = bed()
        db1 = b.dbs[0]
        pids = [lib.make_product(stock=10, price_cents=100)["id"] for _ in range(PRODUCTS)]
        e_carts = [lib.new_cart() for _ in range(20)]
        l_carts = [lib.new_cart() for _ in range(10)]
        for i, pid in enumerate(pids):
            lib.ok(lib.reserve(e_carts[i % 20], pid, EXPIRED_QTY))
            if i % LIVE_EVERY == 0:
                lib.ok(lib.reserve(l_carts[i % 10], pid, 1))
        b.wait_synced(60)
        expect = {(l_carts[i % 10], pid): 1 for i, pid in enumerate(pids) if i % LIVE_EVERY == 0}
        before = {a.name: (a.metric(SWEEP), a.metric(LAZY)) for a in b.apps}
        cert0 = b.cert_failures()

        # shoppers: fresh carts reserve 1 unit of random products of the scenario through nginx (both app
        # hosts, both nodes), so requests reclaim lazily beside the sweepers
        stop = threading.Event()
        acked, unsure, bad = {}, set(), []
        lock = threading.Lock()

        def shopper(k):
            rnd = random.Random(k)
            cart, lines = lib.new_cart(), 0
            while not stop.is_set():
                if lines == 20:  # a fresh cart well before MAX_CART_LINES
                    cart, lines = lib.new_cart(), 0
                lines += 1
                pid = rnd.choice(pids)
                try:
                    r = lib.reserve(cart, pid, 1)
                except Exception as e:  # no answer: the hold may or may not be there
                    with lock:
                        unsure.add(pid)
                        bad.append("no answer: %r" % e)
                    continue
                with lock:
                    if r.status == 200:
                        acked[(cart, pid)] = r.json["reserved"]
                    elif r.status == 409 and r.error and r.error.get("code") == "insufficient_stock":
                        pass  # the contract: nothing changed
                    else:
                        unsure.add(pid)
                        bad.append("reserve answered %r" % r)

        shoppers = [threading.Thread(target=shopper, args=(k,)) for k in range(SHOPPERS)]
        for t in shoppers:
            t.start()
        try:
            wave = PRODUCTS // WAVES
            for w in range(WAVES):
                chunk = pids[w * wave:(w + 1) * wave]
                ids = ",".join(map(str, chunk))
                ago = lib.now_ms() - 1000
                # products first, then their holds: the service's lock order, and next_expiry_ms stays a
                # lower bound of the holds' expiries (what the hold paths rely on)
                q = ("UPDATE products SET next_expiry_ms = LEAST(next_expiry_ms, %d) WHERE id IN (%s); "
                     "UPDATE stock_holds SET expires_at_ms = %d WHERE product_id IN (%s) AND cart_id IN (%s)"
                     % (ago, ids, ago, ids, ",".join("'%s'" % c for c in e_carts)))
                # the shoppers write the same product rows through db2: certification may refuse this
                # write (a deadlock error); both statements can simply run again
                for _ in range(20):
                    if db1.sql(q, db="stockd", check=False) is not None:
                        break
                    stop.wait(0.05)
                else:
                    self.fail("could not back-date wave %d in 20 attempts" % w)
                stop.wait(0.35)

            def left():
                return int(db1.sql("SELECT COUNT(*) FROM stock_holds WHERE product_id IN (%s) AND expires_at_ms <= %d"
                                   % (",".join(map(str, pids)), lib.now_ms()), db="stockd")[0][0])
            t0 = clusterlib.now()
            bedmod.wait_until(lambda: left() == 0, 60, 0.2, "every expired hold reclaimed")
            reclaimed_s = clusterlib.now() - t0
        finally:
            stop.set()
            for t in shoppers:
                t.join(60)
        b.wait_synced(60)
        after = {a.name: (a.metric(SWEEP), a.metric(LAZY)) for a in b.apps}
        cert = b.cert_failures()
        sweep = {n: after[n][0] - before[n][0] for n in after}
        lazy = {n: after[n][1] - before[n][1] for n in after}
        report("two_sweepers", products=PRODUCTS, expired_units=PRODUCTS * EXPIRED_QTY,
               swept_app1=sweep["app1"], swept_app2=sweep["app2"], lazy_app1=lazy["app1"], lazy_app2=lazy["app2"],
               shopper_holds=len(acked), unsure=len(unsure), reclaimed_after_last_wave=reclaimed_s,
               cert_failures=clusterlib.cert_total(cert0, cert))
        self.assertEqual(bad[:5], [], "answers outside the contract")
        self.assertGreater(sweep["app1"], 0, "app1's sweeper reclaimed nothing: not two sweepers at work")
        self.assertGreater(sweep["app2"], 0, "app2's sweeper reclaimed nothing: not two sweepers at work")
        self.assertEqual(sum(sweep.values()) + sum(lazy.values()), PRODUCTS * EXPIRED_QTY,
                         "units reclaimed (sweep %s, lazy %s) against the units that expired" % (sweep, lazy))

        expect.update(acked)  # a reserve answers the cart's whole hold; a shopper's cart is not one of l_carts
        problems = []
        ids = ",".join(map(str, pids))
        for n in b.dbs:
            holds = {(r[0], int(r[1])): int(r[2]) for r in n.sql(
                "SELECT cart_id, product_id, quantity FROM stock_holds WHERE product_id IN (%s)" % ids, db="stockd")}
            for key in set(holds) | set(expect):
                if key[1] not in unsure and holds.get(key) != expect.get(key):
                    problems.append("%s: hold %s is %s, expected %s" % (n.name, key, holds.get(key), expect.get(key)))
            for pid, stock, reserved in n.sql("SELECT id, stock, reserved_stock FROM products WHERE id IN (%s)" % ids,
                                              db="stockd"):
                held = sum(q for (c, p), q in holds.items() if p == int(pid))
                if (int(stock), int(reserved)) != (10, held):
                    problems.append("%s: product %s stock %s reserved %s, its holds %d" % (n.name, pid, stock,
                                                                                        reserved, held))
        problems += clusterlib.audit_everywhere()
        self.assertNoProblems(problems, "holds after two sweepers")
