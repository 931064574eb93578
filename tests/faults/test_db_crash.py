"""MariaDB killed with SIGKILL mid-load, then started again (InnoDB crash recovery).

Every change acknowledged with a 2xx before the kill is there afterwards: the
client's ledger (holds, lines, orders with their lines) is compared with the
tables right after recovery, before anything else writes; holds live an hour
in this stack, so none may have expired. Requests sent while the server was
dead got the 503 and changed nothing. Then the app, never restarted, serves
the load again.
"""

import os
import signal
import time

from faultlib import (FaultTest, Load, alive, hot_products, lib, mysqld_pid, now, pool_pids, report, verify,
                      wait_ready)



class DbCrash(FaultTest):
    def test_mysqld_sigkill_and_crash_recovery(self):
        master = lib.app_pid()
        workers0 = set(pool_pids())
        pids = hot_products(3, stock=3000)
        load = Load(pids, threads=8, max_seconds=120)
        load.extra_allowed = {(503, "database_unavailable")}
        load.start()
        try:
            load.wait_answers(1500)  # a few seconds of acknowledged changes
            victim = mysqld_pid()
            log_path = os.path.join(lib.STACK_DIR, "log", "mysqld.log")
            log_at = os.path.getsize(log_path)
            t_kill = now()
            # a request in flight until the server is gone may have had its COMMIT cut short (either way is
            # fine); one sent after that met a dead server, and its 503 must mean nothing changed
            w = load.fault(t_kill)
            os.kill(victim, signal.SIGKILL)
            lib.wait_until(lambda: not alive(victim), 10, 0.005, "mysqld to die")
            load.end_fault(w)
            time.sleep(2.0)  # the load meets a dead database
            r = lib.get("/readyz")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(lib.get("/healthz").status, 200)
        finally:
            load.stop()
        acked_before = sum(1 for a in load.answers if a.outcome == "ack" and a.t1 < t_kill
                           and a.kind not in ("view",))
        in_flight = sum(1 for a in load.answers if a.t0 <= t_kill <= a.t1)
        t0 = now()
        lib.stack("db-start")
        t_recovered = now() - t0
        wait_ready(30)
        self.assertEqual(load.bad[:10], [], "answers outside the contract")
        # the ledger against the recovered tables, before anything writes again
        problems, facts = verify(load, 3000)
        self.assertNoProblems(problems, "after crash recovery")
        # the app was never restarted, and serves again
        self.assertEqual(lib.app_pid(), master)
        fig1 = load.figures()
        t_phase2 = now()
        load.start()
        try:
            load.wait_answers(800)
        finally:
            load.stop()
        after = [a for a in load.answers if a.t0 >= t_phase2 and (a.status is None or a.status >= 500)]
        self.assertEqual(after[:5], [], "failures once the database was back")
        self.assertEqual(load.bad[:10], [], "answers outside the contract")
        problems, facts2 = verify(load, 3000)
        self.assertNoProblems(problems, "after the load resumed")
        self.assertEqual(set(pool_pids()), workers0, "no worker was replaced")
        with open(log_path, errors="replace") as f:
            f.seek(log_at)
            log = f.read()
        self.assertIn("Starting crash recovery", log, "InnoDB ran no crash recovery: was mysqld really killed?")
        fig = load.figures()
        report("db_sigkill", requests_before_restart=fig1["requests"], acked_writes_before_kill=acked_before,
               in_flight_at_kill=in_flight, http_503=fig1["http_503"], db_start_s=t_recovered,
               kill_to_dead_s=w[1] - w[0],
               lines_checked=facts["lines_checked"], holds_checked=facts["holds_checked"],
               orders_checked=facts["orders_checked"], unsure_skipped=facts["unsure_facts_skipped"],
               acked_changes_verified=facts["acked_changes"],
               unanswered_checkouts_committed=fig["unanswered_checkouts_committed"],
               unanswered_checkouts_not=fig["unanswered_checkouts_not_committed"],
               requests_after=fig["requests"] - fig1["requests"], orders_after=facts2["orders_checked"])
