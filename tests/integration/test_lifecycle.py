"""Worker lifecycle: recycling after MAX_REQUESTS, and the hard REQUEST_TIMEOUT."""

import time

from lib import (StockdTest, conf, db_lock_product, get, make_product, metric, metrics, new_cart, ok, product,
                 reserve, snapshot, wait_until, worker_pids)


class Recycle(StockdTest):
    def test_workers_recycle_without_failing_a_request(self):
        before = metric(metrics(), "stockd_worker_restarts_total", cause="recycle")
        crashes = metric(metrics(), "stockd_worker_restarts_total", cause="crash")
        pid = make_product(stock=5)["id"]
        with conf(MAX_REQUESTS=10):
            pids_before = set(worker_pids())
            # 120 requests over 4 workers: each worker must go round several times.
            for _ in range(120):
                ok(get("/api/products/%d" % pid))
            wait_until(lambda: metric(metrics(), "stockd_worker_restarts_total", cause="recycle") >= before + 4,
                       10, what="recycled workers")
            self.assertTrue(set(worker_pids()) - pids_before, "no worker was replaced")
        self.assertEqual(metric(metrics(), "stockd_worker_restarts_total", cause="crash"), crashes,
                         "a recycle was counted as a crash")


class RequestTimeout(StockdTest):
    def test_stuck_request_kills_its_worker_and_changes_nothing(self):
        pid = make_product(stock=5)["id"]
        cid = new_cart()
        with conf(REQUEST_TIMEOUT=400):
            before = metric(metrics(), "stockd_worker_restarts_total", cause="timeout")
            snap = snapshot([pid], [cid])
            locker = db_lock_product(pid, 3)
            try:
                time.sleep(0.3)  # the row lock is held from now on
                started = time.monotonic()
                r = reserve(cid, pid, 1)
                took = time.monotonic() - started
            finally:
                locker.wait(10)
            # The worker was killed mid-request: nginx answers 502 in JSON, well before the lock went away.
            self.assertEqual(r.status, 502, r)
            self.assertEqual(r.error["code"], "bad_gateway")
            self.assertLess(took, 2.5)
            wait_until(lambda: metric(metrics(), "stockd_worker_restarts_total", cause="timeout") == before + 1,
                       5, what="timeout restart counted")
            # The killed transaction was rolled back by the database.
            self.assertEqual(snapshot([pid], [cid]), snap)
            self.assertEqual(product(pid)["reserved"], 0)
            # And the pool is whole again.
            ok(reserve(cid, pid, 1))


class IdempotencyAfterCrash(StockdTest):
    def test_key_of_a_killed_request_runs_once_after_the_timeout(self):
        """A worker killed before its change committed leaves the key claimed but unanswered: retries get 409
        until REQUEST_TIMEOUT has passed, then the request runs once, and later retries replay its answer."""
        pid = make_product(stock=5)["id"]
        cid = new_cart()
        key = {"Idempotency-Key": "crash-" + cid}
        with conf(REQUEST_TIMEOUT=500):
            locker = db_lock_product(pid, 2)
            try:
                time.sleep(0.3)
                killed = reserve(cid, pid, 2, headers=key)
            finally:
                locker.wait(10)
            self.assertEqual(killed.status, 502, killed)
            self.assertEqual(product(pid)["reserved"], 0, "the killed request changed stock")
            # The claim outlived its worker by more than REQUEST_TIMEOUT: taken over, run once.
            time.sleep(0.6)
            first = reserve(cid, pid, 2, headers=key)
            self.assertEqual(first.status, 200, first)
            again = reserve(cid, pid, 2, headers=key)
            self.assertEqual((again.status, again.body), (first.status, first.body))
            self.assertEqual(product(pid)["reserved"], 2)
