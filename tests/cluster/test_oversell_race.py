"""Scenario 1: the oversell race across both app hosts and all three nodes.

Multi-writer (app1 writes through db1, app2 through db2), so the same product row is changed on two
nodes at once and Galera's certification has to refuse one of the two (the loser's COMMIT fails with a
deadlock error, which stockd retries). 200 carts, a product with stock 50, every cart adds 1 with
decrease_stock at the same moment through nginx: exactly 50 holds, 150 times the contract's
409 insufficient_stock, no 5xx; the product, the holds and the audit agree on every node.
"""

import threading

import clusterlib
from clusterlib import MultiWriterTest, bed, lib, report

CARTS = 200
STOCK = 50


class OversellRace(MultiWriterTest):

    def test_exactly_the_stock_is_held(self):
        b = bed()
        pid = lib.make_product(stock=STOCK, price_cents=990)["id"]
        carts = [lib.new_cart() for _ in range(CARTS)]
        b.wait_synced(60)  # the product and the carts are on every node before the race
        cert0 = b.cert_failures()
        answers = [None] * CARTS
        go = threading.Barrier(CARTS, timeout=60)

        def shopper(i):
            go.wait()
            try:
                answers[i] = lib.add(carts[i], pid, 1, dec=True, headers={"X-Cart-Id": carts[i]})
            except Exception as e:  # no answer at all counts against the service
                answers[i] = e

        t0 = clusterlib.now()
        threads = [threading.Thread(target=shopper, args=(i,)) for i in range(CARTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = clusterlib.now() - t0
        self.assertFalse(any(t.is_alive() for t in threads), "shoppers still waiting after 120 s")
        b.wait_synced(60)
        cert = b.cert_failures()
        ok = [i for i, a in enumerate(answers) if not isinstance(a, Exception) and a.status in (200, 201)]
        out = [i for i, a in enumerate(answers) if not isinstance(a, Exception) and a.status == 409
               and a.error and a.error.get("code") == "insufficient_stock"]
        other = [a for a in answers if isinstance(a, Exception) or not (200 <= a.status < 300 or
                                                                        a.status == 409)]
        odd409 = [answers[i] for i, a in enumerate(answers) if not isinstance(a, Exception) and a.status == 409
                  and i not in out]
        report("oversell_race", carts=CARTS, stock=STOCK, held=len(ok), out_of_stock=len(out),
               other=len(other), seconds=elapsed,
               cert_failures=clusterlib.cert_total(cert0, cert),
               cert_failures_by_node=",".join("%s:%d" % (k, cert[k] - cert0[k]) for k in sorted(cert)))
        self.assertEqual(other[:5], [], "answers outside the contract (5xx, no answer)")
        self.assertEqual(odd409[:5], [], "409s other than insufficient_stock")
        self.assertEqual(len(ok), STOCK, "exactly the stock is held")
        self.assertEqual(len(out), CARTS - STOCK)
        for i in ok:
            item = lib.item(answers[i].json, pid)
            self.assertEqual((item["quantity"], item["reserved"]), (1, 1), answers[i])
        for i in out:
            self.assertEqual(answers[i].error.get("available"), 0, answers[i])
        problems = []
        held = sorted(carts[i] for i in ok)
        for n in b.dbs:
            rows = n.sql("SELECT stock, reserved_stock FROM products WHERE id=%d" % pid, db="stockd")
            if rows != [[str(STOCK), str(STOCK)]]:
                problems.append("%s: product %s" % (n.name, rows))
            hs = n.sql("SELECT cart_id, quantity FROM stock_holds WHERE product_id=%d ORDER BY cart_id" % pid,
                       db="stockd")
            if [r[0] for r in hs] != held or any(r[1] != "1" for r in hs):
                problems.append("%s: holds %d rows, not the 50 acknowledged carts one unit each" % (n.name, len(hs)))
            lines = n.sql("SELECT COUNT(*), COALESCE(SUM(quantity),0) FROM cart_items WHERE product_id=%d" % pid,
                          db="stockd")
            if lines != [[str(STOCK), str(STOCK)]]:
                problems.append("%s: cart lines %s" % (n.name, lines))
        problems += clusterlib.audit_everywhere()
        self.assertNoProblems(problems, "after the race")
