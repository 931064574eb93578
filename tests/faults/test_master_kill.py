"""The master killed with SIGKILL under the load.

Its workers and sweeper notice (PR_SET_PDEATHSIG) and exit within a few
seconds: no orphan keeps serving with a config nobody can reload. Meanwhile
nginx answers its JSON 502. `deploy/stack app-start` serves again, and the
ledger and the audit check out. Runs last: it restarts the app.
"""

import os
import signal

from faultlib import FaultTest, Load, alive, children, hot_products, lib, now, proc_stat, report, stack_processes, verify

GONE_S = 5.0


class MasterKill(FaultTest):
    def test_master_sigkill(self):
        master = lib.app_pid()
        kids = children(master)
        configured = int(lib.metric(lib.metrics(), "stockd_workers"))
        self.assertEqual(len(kids), configured + 1, "workers plus the sweeper")
        pids = hot_products(3, stock=3000)
        load = Load(pids, threads=8, max_seconds=120)
        load.extra_allowed = {(502, "bad_gateway")}
        restarted = False
        try:
            with load:
                load.wait_answers(300)
                kids = children(master)
                t_kill = now()
                os.kill(master, signal.SIGKILL)
                lib.wait_until(lambda: not alive(master), 5, 0.01, "the master to die")
                # every child notices and goes (a zombie waiting for init counts as gone)
                lib.wait_until(lambda: not any(alive(p) for p in kids), 15, 0.01, "the orphaned children to exit")
                t_gone = now() - t_kill
                orphans = stack_processes(lib.APP_PID_FILE)
                # no process of the dead master's is left serving: nginx can only answer 502
                r502 = [lib.get("/api/products/%d" % pids[0]), lib.post("/api/cart"),
                        lib.reserve("0" * 32, pids[0], 1)]
                load.wait_answers(50)
                t_restart = now()
                lib.stack("app-start")
                restarted = True
                lib.wait_until(lambda: lib.get("/healthz").status == 200, 30, 0.05, "the restarted app to answer")
                t_serving = now() - t_restart
                load.wait_answers(500)
        finally:
            if not restarted:
                lib.stack("app-start")
        self.assertLess(t_gone, GONE_S, "children outlived the master by %.1f s" % t_gone)
        self.assertEqual(orphans, [], "processes of the dead master still running: %s" % [
            (p, proc_stat(p)) for p in orphans])
        for r in r502:
            lib.api_error(r, 502, "bad_gateway")
            self.assertTrue(r.header("X-Request-Id"), r)
        new_master = lib.app_pid()
        self.assertNotEqual(new_master, master)
        self.assertEqual(load.bad[:10], [], "answers outside the contract")
        after = [a for a in load.answers if a.t0 > t_restart + t_serving + 0.5 and (a.status or 599) >= 500]
        self.assertEqual(after[:5], [], "failures once the app was back")
        problems, facts = verify(load, 3000)
        self.assertNoProblems(problems, "after the master was killed and started again")
        fig = load.figures()
        report("master_sigkill", requests=fig["requests"], http_502=fig["http_502"],
               children_gone_s=t_gone, app_start_s=t_serving, acked_writes=fig["acked_writes"],
               orders_acked=fig["orders_acked"], lines_checked=facts["lines_checked"],
               holds_checked=facts["holds_checked"], unsure_skipped=facts["unsure_facts_skipped"],
               acked_changes_verified=facts["acked_changes"], orders_verified=facts["orders_checked"],
               unanswered_checkouts_committed=fig["unanswered_checkouts_committed"],
               unanswered_checkouts_not=fig["unanswered_checkouts_not_committed"])
