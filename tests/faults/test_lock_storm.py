"""A lock-wait storm on one hot product: 60 carts reserve at once while its row lock is held elsewhere.

Every request answers well within REQUEST_TIMEOUT, either 200 or 503
database_unavailable after RETRY_ATTEMPTS (the busy message); never a 502 or
504. A 200 left exactly its hold, a 503 changed nothing.
"""

import collections
import threading

from faultlib import FaultTest, lib, now, report

N = 60
LIMIT_S = 5.0


def lock_taken(seconds):
    """The test's own session holds the product row lock: it is asleep inside its transaction."""
    return lib.db_int("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(%s)%%'"
                      % seconds) == 1


class LockStorm(FaultTest):
    def storm(self, hold_s):
        p = lib.make_product(stock=1000)
        pid = p["id"]
        carts = [lib.new_cart() for _ in range(N)]
        retries0 = lib.metric(lib.metrics(), "stockd_db_retries_total")
        lock = lib.db_lock_product(pid, hold_s)
        try:
            lib.wait_until(lambda: lock_taken(hold_s), 10, 0.02, "the row lock to be taken")
            t_locked = now()
            results = [None] * N
            go = threading.Barrier(N)

            def one(i):
                go.wait()
                t0 = now()
                try:
                    results[i] = (lib.reserve(carts[i], pid, 1 + i % 3, headers={"X-Cart-Id": carts[i]}),
                                  now() - t0)
                except Exception as e:  # noqa: BLE001 - a dropped connection is a failure too
                    results[i] = (e, now() - t0)
            threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        finally:
            lock.wait(60)
        t_storm = now() - t_locked
        by = collections.Counter()
        slow = []
        for i, (r, took) in enumerate(results):
            self.assertNotIsInstance(r, Exception, "cart %d: no answer: %r" % (i, r))
            by[(r.status, r.error.get("code") if r.error else None)] += 1
            if took >= LIMIT_S:
                slow.append((i, round(took, 2), r.status))
            if r.status == 200:
                self.assertEqual(lib.ok(r)["reserved"], 1 + i % 3)
            else:
                err = lib.api_error(r, 503, "database_unavailable")
                self.assertIn("busy", err["message"], r)
        self.assertEqual(slow, [], "answers slower than %.0f s" % LIMIT_S)
        # a 200 holds exactly what it said, a 503 changed nothing
        holds = {c: int(q) for c, q in lib.db("SELECT cart_id, quantity FROM stock_holds WHERE product_id=%d" % pid)}
        want = {carts[i]: 1 + i % 3 for i, (r, _) in enumerate(results) if r.status == 200}
        self.assertEqual(holds, want)
        self.assertEqual(lib.product(pid)["reserved"], sum(want.values()))
        self.assertEqual(lib.db_consistency([pid]), [])
        lib.audit_ok()
        took = sorted(t for _, t in results)
        return {"requests": N, "ok_200": by[(200, None)], "busy_503": by[(503, "database_unavailable")],
                "p50_s": took[N // 2], "max_s": took[-1], "storm_s": t_storm,
                "retries": int(lib.metric(lib.metrics(), "stockd_db_retries_total") - retries0)}

    def test_storm_while_row_locked_1_5s(self):
        fig = self.storm(1.5)
        report("lock_storm_1.5s", **fig)

    def test_storm_while_row_locked_4s(self):
        # A request stops retrying once TXN_BUDGET_MS (2 s) has passed, but the
        # attempt under way when it passes runs out its lock wait (1 s): one
        # that starts within a second of the lock gives up by 3 s after it, so
        # a 4 s lock must see the busy 503. (With a 3 s lock the budget had
        # not quite passed after two lock waits, so a third attempt began,
        # and its wait ended about when the lock was released: the 503 was a
        # race with the other session's COMMIT, and CI once saw every request
        # get 200.)
        fig = self.storm(4)
        self.assertGreater(fig["busy_503"], 0,
                           "a 4 s lock outlasts the 2 s retry budget and one lock wait: some 503 expected")
        report("lock_storm_4s", **fig)
