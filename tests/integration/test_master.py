"""The pre-fork master: crash respawn, graceful reload, graceful stop.

Runs last (see run.py): it kills workers and stops the master, then starts it again.
"""

import os
import signal
import threading
import time
import uuid

from lib import (wchan, Background, StockdTest, add, app_pid, conf, db_lock_product, get, hold_qty, item, make_product, metric, metrics,
                 new_cart, ok, product, reserve, sighup_and_wait, snapshot, stack, wait_until, worker_pids)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def pick_worker(pids):
    """A request-serving child, not a helper (e.g. a sweeper asleep in nanosleep): an idle worker waits in
    accept() on the unix socket."""
    for pid in pids:
        if wchan(pid) in ("__skb_wait_for_more_packets", "inet_csk_accept") or "accept" in wchan(pid):
            return pid
    return pids[0]


def busy_worker(timeout=3):
    """The child that is waiting on MariaDB (a reply from the database: poll), not in accept() or asleep."""
    def find():
        busy = [p for p in worker_pids() if wchan(p).startswith(("poll_schedule", "unix_stream", "wait_woken"))]
        return busy[0] if len(busy) == 1 else None
    return wait_until(find, timeout, 0.05, "exactly one worker waiting on the database")


class Load(Background):
    """n client threads looping over a write and a read until stopped; keeps every answer."""

    def __init__(self, n=4):
        self.pid = make_product(stock=100)["id"]
        self.stop = threading.Event()
        self.results = []
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(n)]

    def run(self):
        cid, adds = new_cart(), 0
        while not self.stop.is_set():
            for call in (lambda: add(cid, self.pid, 1), lambda: get("/api/products/%d" % self.pid)):
                try:
                    r = call()
                except Exception as e:  # a dropped connection is a failure too
                    with self.lock:
                        self.errors.append(repr(e))
                    continue
                with self.lock:
                    self.results.append(r)
            adds += 1
            if adds >= 900:  # stay below the 1000-unit line limit
                cid, adds = new_cart(), 0

    def failures(self):
        return [r for r in self.results if r.status != 200] + self.errors


class Master(StockdTest):
    def test_a_worker_crash_is_replaced(self):
        m0 = metrics()
        configured = int(metric(m0, "stockd_workers"))
        before = worker_pids()
        self.assertGreaterEqual(len(before), configured, "children %s, WORKERS %d" % (before, configured))
        crashes = metric(m0, "stockd_worker_restarts_total", cause="crash")
        served0 = metric(m0, "stockd_requests_total")
        victim = pick_worker(before)
        with Load(4) as load:
            time.sleep(1.0)
            os.kill(victim, signal.SIGKILL)
            time.sleep(2.0)
        # only what was in flight on the killed worker may fail, as a 502: at most one request
        fails = load.failures()
        self.assertLessEqual(len(fails), 1, fails[:5])
        for f in fails:
            self.assertEqual(getattr(f, "status", None), 502, f)
        self.assertGreater(len(load.results), 50)
        wait_until(lambda: victim not in worker_pids() and len(worker_pids()) == len(before), 10,
                   what="the pool back to %d children" % len(before))
        m1 = metrics()
        self.assertGreaterEqual(metric(m1, "stockd_worker_restarts_total", cause="crash"), crashes + 1)
        # counters are kept across a worker's death: every answer the app gave is still counted
        answered = len([r for r in load.results if r.status != 502])
        self.assertGreaterEqual(metric(m1, "stockd_requests_total") - served0, answered)
        self.assertEqual(metric(m1, "stockd_workers"), configured)
        ok(get("/api/products/%d" % load.pid))

    def test_b_reload_drops_nothing(self):
        configured = int(metric(metrics(), "stockd_workers"))
        before = set(worker_pids())
        master = app_pid()
        with Load(4) as load:
            time.sleep(0.5)
            sighup_and_wait()
            time.sleep(0.5)
        self.assertEqual(load.failures(), [])
        self.assertGreater(len(load.results), 20)
        self.assertEqual(app_pid(), master, "a reload keeps the master")
        after = set(worker_pids())
        self.assertGreaterEqual(len(after - before), configured, "every worker was replaced")

    def test_b2_reload_waits_for_in_flight_request(self):
        # a worker retired by a reload finishes the request it is serving
        p = make_product(stock=5)
        cid = new_cart()
        lock = db_lock_product(p["id"], 1.0)
        result = []
        time.sleep(0.3)
        t = threading.Thread(target=lambda: result.append(reserve(cid, p["id"], 1)))
        t.start()
        busy_worker()
        sighup_and_wait()
        t.join(30)
        lock.wait(30)
        self.assertEqual(ok(result[0])["reserved"], 1)
        self.assertEqual(hold_qty(cid, p["id"]), 1)

    def test_b3_reload_resizes_pool(self):
        configured = int(metric(metrics(), "stockd_workers"))
        helpers = len(worker_pids()) - configured  # e.g. a sweeper process
        target = 2 if configured != 2 else 3
        with Load(2) as load:
            with conf(WORKERS=target):
                self.assertEqual(metric(metrics(), "stockd_workers"), target)
                wait_until(lambda: len(worker_pids()) == target + helpers, 10, what="%d workers" % target)
            wait_until(lambda: len(worker_pids()) == configured + helpers, 10, what="%d workers" % configured)
        self.assertEqual(metric(metrics(), "stockd_workers"), configured)
        self.assertEqual(load.failures(), [])

    def test_c_recycle_drops_nothing(self):
        recycled = metric(metrics(), "stockd_worker_restarts_total", cause="recycle")
        served0 = metric(metrics(), "stockd_requests_total")
        n = len(worker_pids())
        with conf(MAX_REQUESTS=20):
            with Load(4) as load:
                time.sleep(2.5)
            self.assertEqual(load.failures(), [])
            self.assertGreater(len(load.results), 100)
            # ~len/20 recycles are due; count a good part of them
            self.assertGreaterEqual(metric(metrics(), "stockd_worker_restarts_total", cause="recycle") - recycled,
                                    len(load.results) // 20 // 2)
            # recycled workers' counts are not lost
            self.assertGreaterEqual(metric(metrics(), "stockd_requests_total") - served0, len(load.results))
        wait_until(lambda: len(worker_pids()) == n, 10, what="pool size back to %d" % n)

    def test_d_request_timeout_kills_stuck_worker(self):
        p = make_product(stock=5)
        cid = new_cart()
        key = {"Idempotency-Key": "timeout-" + uuid.uuid4().hex}
        n = len(worker_pids())
        with conf(REQUEST_TIMEOUT=500):
            timeouts = metric(metrics(), "stockd_worker_restarts_total", cause="timeout")
            lock = db_lock_product(p["id"], 3)
            time.sleep(0.3)
            t0 = time.monotonic()
            r = reserve(cid, p["id"], 1, headers=key)  # stuck on the row lock past REQUEST_TIMEOUT
            took = time.monotonic() - t0
            self.assertIn(r.status, (502, 504), r)
            self.assertLess(took, 2.5, "the stuck worker is killed near REQUEST_TIMEOUT")
            lock.wait(30)
            wait_until(lambda: metric(metrics(), "stockd_worker_restarts_total", cause="timeout") >= timeouts + 1,
                       5, what="the timeout restart to be counted")
            wait_until(lambda: len(worker_pids()) == n, 10, what="pool size back to %d" % n)
            # the killed request changed nothing; its key is free again once its claim is older than the timeout
            self.assertEqual(hold_qty(cid, p["id"]), 0)
            self.assertEqual(product(p["id"])["reserved"], 0)
            time.sleep(0.6)
            self.assertEqual(ok(reserve(cid, p["id"], 1, headers=key))["reserved"], 1)

    def test_e_crash_mid_transaction_changes_nothing(self):
        p = make_product(stock=5)
        cid = new_cart()
        ok(add(cid, p["id"], 1, dec=True))
        before = snapshot([p["id"]], [cid])
        key = {"Idempotency-Key": "crash-" + uuid.uuid4().hex}
        crashes = metric(metrics(), "stockd_worker_restarts_total", cause="crash")
        with conf(REQUEST_TIMEOUT=3000):
            lock = db_lock_product(p["id"], 1.5)
            time.sleep(0.3)
            result = []
            t = threading.Thread(target=lambda: result.append(add(cid, p["id"], 2, dec=True, headers=key)))
            t.start()
            victim = busy_worker()
            os.kill(victim, signal.SIGKILL)
            t.join(30)
            lock.wait(30)
            self.assertEqual(result[0].status, 502, result[0])
            # invariant 4: the failed request changed nothing
            self.assertEqual(snapshot([p["id"]], [cid]), before)
            self.assertGreaterEqual(metric(metrics(), "stockd_worker_restarts_total", cause="crash"), crashes + 1)
            # the retry with the same key may be told "in progress" until the dead claim is stale, then it runs once

            def retry():
                r = add(cid, p["id"], 2, dec=True, headers=key)
                if r.status == 409 and r.error and r.error.get("code") == "idempotency_key_in_progress":
                    return None
                return r
            r = wait_until(retry, 8, 0.25, "the retried key to run")
            self.assertEqual(item(ok(r), p["id"])["quantity"], 3)
            self.assertEqual((hold_qty(cid, p["id"]), product(p["id"])["reserved"]), (3, 3))

    def test_z_sigterm_finishes_in_flight_request(self):
        # last in this module: it stops the master, then starts it again
        p = make_product(stock=5)
        cid = new_cart()
        master = app_pid()
        lock = db_lock_product(p["id"], 1.0)
        result = []
        try:
            time.sleep(0.3)  # the lock is taken
            t = threading.Thread(target=lambda: result.append(reserve(cid, p["id"], 1)))
            t.start()
            time.sleep(0.3)  # the reserve waits on the row lock inside a worker
            os.kill(master, signal.SIGTERM)
            t.join(30)
            lock.wait(30)
            self.assertTrue(result, "the reserve never answered")
            r = ok(result[0])
            self.assertEqual(r["reserved"], 1)
            wait_until(lambda: not alive(master), 30, what="the master to exit after SIGTERM")
        finally:
            if not alive(master) or not os.path.exists(os.environ.get("APP_PID_FILE", "")):
                stack("app-start")
        wait_until(lambda: get("/healthz").status == 200, 15, 0.2, "the restarted app to answer")
        self.assertNotEqual(app_pid(), master)
        # the acknowledged hold survived the stop (invariant 4)
        self.assertEqual(hold_qty(cid, p["id"]), 1)
        self.assertEqual(product(p["id"])["reserved"], 1)
        ok(reserve(cid, p["id"], 1))
