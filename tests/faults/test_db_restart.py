"""MariaDB stopped and started again under the write load, the app left running.

503 database_unavailable only while the database is down (and /readyz says
so while /healthz stays 200), every worker serves again soon after it is back
without an app restart, and nothing is half-applied: the ledger and the
invariants check out.
"""

import time

from faultlib import FaultTest, Load, hot_products, lib, now, pool_pids, report, status_full, verify

DOWN_S = 3.0
RECOVERY_S = 10.0  # the bound for /readyz; requests sent once the database is back must not fail at all


class DbRestart(FaultTest):
    def test_db_stop_start_under_load(self):
        master = lib.app_pid()
        workers0 = set(pool_pids())
        crashes0 = lib.metric(lib.metrics(), "stockd_worker_restarts_total", cause="crash")
        pids = hot_products(3, stock=3000)
        load = Load(pids, threads=8, max_seconds=120)
        load.extra_allowed = {(503, "database_unavailable")}
        probes = []
        with load:
            load.wait_answers(200)
            t_stop = now()
            w = load.fault(t_stop)  # a 503 in flight while the server shuts down may hide a COMMIT that landed
            try:
                lib.stack("db-stop")
                t_down = now()
                load.end_fault(w, t_down)
                while now() - t_down < DOWN_S:
                    for path in ("/readyz", "/healthz"):
                        r = lib.get(path)
                        probes.append((path, r.status, r.elapsed, r))
                    time.sleep(0.25)
            finally:
                lib.stack("db-start")
            t_up = now()
            lib.wait_until(lambda: lib.get("/readyz").status == 200, 30, 0.05, "/readyz 200 after db-start")
            t_ready = now()
            time.sleep(1.0)  # the whole pool meets the database again under the load
            before = {p["pid"]: p["requests"] for p in status_full()["processes"]}
            t_after = now()
            load.wait_answers(400)
            time.sleep(1.0)
            t_end = now()
            after = {p["pid"]: p["requests"] for p in status_full()["processes"]}
        self.assertEqual(load.bad[:10], [], "answers outside the contract")
        # health vs readiness while down
        for path, status, elapsed, r in probes:
            self.assertEqual(status, 503 if path == "/readyz" else 200, r)
            self.assertLess(elapsed, 5.0, r)
        self.assertTrue(probes)
        # 503s only while the database was down (the busy 503 of lock conflicts is another matter)
        down = [a for a in load.answers if a.db_down]
        self.assertTrue(down, "no 503 during a %ss outage?" % DOWN_S)
        early = [a for a in down if a.t1 < t_stop]
        self.assertEqual(early, [], "database_unavailable before the database was stopped")
        late = [a for a in down if a.t0 > t_up]
        self.assertEqual(late[:5], [], "database_unavailable for requests sent after the database was back")
        self.assertLess(t_ready - t_up, RECOVERY_S)
        fails_after = [a for a in load.answers if a.t0 >= t_after and (a.status is None or a.status >= 500)]
        self.assertEqual(fails_after[:5], [], "the recovered pool still fails")
        # no restart: same master, same workers, none crashed; and every one of them served again
        self.assertEqual(lib.app_pid(), master)
        self.assertEqual(set(after), workers0, "workers were replaced: no restart was expected")
        self.assertEqual(lib.metric(lib.metrics(), "stockd_worker_restarts_total", cause="crash"), crashes0)
        idle = [p for p in after if after[p] <= before.get(p, 0)]
        self.assertEqual(idle, [], "workers that served nothing after the recovery")
        problems, facts = verify(load, 3000)
        self.assertNoProblems(problems, "after the database restart")
        fig = load.figures()
        last_down = max(a.t1 for a in down)
        after_up = [a for a in down if a.t0 > t_up]
        report("db_stop_start", requests=fig["requests"], writes=fig["writes"],
               stop_s=t_down - t_stop, down_s=t_up - t_stop, http_503=len(down),
               http_503_sent_after_db_up=len(after_up), last_503_after_db_up_s=last_down - t_up,
               readyz_200_after_db_up_s=t_ready - t_up, requests_after_recovery=len(
                   [a for a in load.answers if t_after <= a.t0 <= t_end]),
               acked_writes=fig["acked_writes"], orders_acked=fig["orders_acked"],
               lines_checked=facts["lines_checked"], holds_checked=facts["holds_checked"],
               unsure_skipped=facts["unsure_facts_skipped"],
               acked_changes_verified=facts["acked_changes"], orders_verified=facts["orders_checked"],
               unanswered_checkouts_committed=fig["unanswered_checkouts_committed"],
               unanswered_checkouts_not=fig["unanswered_checkouts_not_committed"])
