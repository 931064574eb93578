"""The pre-fork master: crash respawn, graceful reload, graceful stop.

Runs last (see run.py): it kills workers and stops the master, then starts it again.
"""

import os
import signal
import threading
import time

from lib import (StockdTest, add, app_pid, get, hold_qty, make_product, metric, metrics, new_cart, ok, product,
                 reserve, sighup_and_wait, stack, wait_until, worker_pids, db_lock_product)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def pick_worker(pids):
    """A request-serving child: prefer one whose title says worker."""
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"worker" in f.read():
                    return pid
        except OSError:
            pass
    return pids[0]


class Load:
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

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def failures(self):
        return [r for r in self.results if r.status != 200] + self.errors


class Master(StockdTest):
    def test_a_worker_crash_is_replaced(self):
        m0 = metrics()
        configured = int(metric(m0, "stockd_workers"))
        before = worker_pids()
        self.assertGreaterEqual(len(before), configured, "children %s, WORKERS %d" % (before, configured))
        crashes = metric(m0, "stockd_worker_restarts_total", cause="crash")
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
