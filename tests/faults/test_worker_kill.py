"""kill -9 of busy workers, repeatedly, mid-transaction, under a write load.

No hold leaked or lost, no half-applied checkout, only the request in flight on
a killed worker fails (nginx's JSON 502), and the master replaces every one.
"""

import os
import signal
import time

from faultlib import (DB_WAIT_WCHAN, FaultTest, Load, hot_products, lib, now, pool_pids, report, verify, wait_pool,
                      wchan)

KILLS = 10
EVERY = 1.5  # seconds between kills: 10 kills over ~15 s


def busy_worker(timeout=3.0):
    """A worker (as the status page lists them, so never the sweeper) waiting on MariaDB inside a request."""
    deadline = now() + timeout
    pids, listed_at = [], 0
    while now() < deadline:
        if now() - listed_at > 0.2:
            try:
                pids, listed_at = pool_pids(), now()
            except (AssertionError, OSError):
                pids = []
        for p in pids:
            w = wchan(p)
            if w.startswith(DB_WAIT_WCHAN):
                return p, w
        time.sleep(0.003)
    return None, None


class WorkerKill(FaultTest):
    def test_kill9_busy_workers(self):
        m0 = lib.metrics()
        configured = int(lib.metric(m0, "stockd_workers"))
        crashes0 = lib.metric(m0, "stockd_worker_restarts_total", cause="crash")
        master = lib.app_pid()
        pids = hot_products(3, stock=3000)
        load = Load(pids, threads=8, carts_per_thread=4, max_seconds=120)
        load.extra_allowed = {(502, "bad_gateway")}
        kills = []
        t_start = now()
        with load:
            load.wait_answers(100)
            for _ in range(KILLS):
                t_next = now() + EVERY
                victim, where = busy_worker()
                if victim is not None:
                    os.kill(victim, signal.SIGKILL)
                    kills.append((victim, where))
                time.sleep(max(0.0, t_next - now()))
            t_last = now()
            wait_pool(configured, 30)
            t_pool = now() - t_last
            load.wait_answers(200)  # the refilled pool serves the load
        elapsed = now() - t_start
        self.assertEqual(len(kills), KILLS, "found a worker waiting on the database only %d times" % len(kills))
        self.assertEqual(lib.app_pid(), master, "the master itself stayed")
        self.assertEqual(load.bad[:10], [], "answers outside the contract")
        fig = load.figures()
        # a killed worker had one request in flight: nothing else fails
        self.assertLessEqual(fig["http_502"], len(kills), load.counts())
        self.assertEqual(fig["no_answer"], 0)
        m1 = lib.metrics()
        self.assertGreaterEqual(lib.metric(m1, "stockd_worker_restarts_total", cause="crash") - crashes0, len(kills))
        self.assertEqual(lib.metric(m1, "stockd_workers"), configured)
        problems, facts = verify(load, 3000)
        self.assertNoProblems(problems, "after %d kills" % len(kills))
        report("kill9_workers", seconds=elapsed, kills=len(kills),
               kills_waiting_on_db=sum(1 for _, w in kills if w.startswith("poll")),
               requests=fig["requests"], writes=fig["writes"], http_502=fig["http_502"], http_503=fig["http_503"],
               acked_writes=fig["acked_writes"], orders_acked=fig["orders_acked"], carts=fig["carts"],
               lines_checked=facts["lines_checked"], holds_checked=facts["holds_checked"],
               unsure_skipped=facts["unsure_facts_skipped"],
               acked_changes_verified=facts["acked_changes"], orders_verified=facts["orders_checked"],
               unanswered_checkouts_committed=fig["unanswered_checkouts_committed"],
               unanswered_checkouts_not=fig["unanswered_checkouts_not_committed"], pool_refilled_s=t_pool,
               crash_restarts=int(lib.metric(m1, "stockd_worker_restarts_total", cause="crash") - crashes0))
