"""Scenario 5: one app host killed (SIGKILL of its master, workers and sweeper at once) under load.

Single-writer. The storm of tests/faults/load.py runs through nginx, whose upstream is both app hosts with
passive health checks (max_fails=1, fail_timeout). app1's processes are all SIGKILLed at one instant. A
request in flight on app1 is lost (nginx's JSON 502: a POST already sent is never replayed elsewhere,
`fastcgi_next_upstream error timeout`); a new connection to app1 is refused at once, so nginx hands that
request to app2 and marks app1 down. Measured: requests failed, and the time from the kill to the last
failure (the time to route around). Asserted: no more failures than requests that can be in flight (one
per load thread), none later than 2 s after the kill, none at all once routed around; after app1 is
started again nginx sends it requests once more (after fail_timeout); ledger and audit on every node.
"""

import os

import clusterlib
from clusterlib import SingleWriterTest, Load, bed, lib, report
import bed as bedmod

THREADS = 8


def access_lines(app):
    try:
        with open(os.path.join(app.dir, "access.log")) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


class AppKill(SingleWriterTest):

    def test_nginx_routes_around_a_dead_app_host(self):
        b = bed()
        app1, app2 = b.apps
        stock = 3000
        products = clusterlib.hot_products(3, stock)
        load = Load(products, threads=THREADS, max_seconds=120)
        load.extra_allowed = {(502, "bad_gateway")}
        load.start()
        try:
            load.wait_answers(400, 60)
            servers_before = clusterlib.app_servers()
            served1 = access_lines(app1)
            self.assertGreater(served1, 0, "app1 served nothing before the kill: nginx is not balancing")
            t_kill = clusterlib.now()
            window = load.fault(t_kill)
            killed = app1.kill9()
            load.wait_answers(1500, 60)
            t_after = clusterlib.now()
            load.end_fault(window, t_after)
            fails = clusterlib.failed(load, since=t_kill)
            last = max((a.t1 for a in fails), default=t_kill)
            after_routing = clusterlib.failed(load, since=last + 0.001)
            served_by_2 = access_lines(app2)
            # app1 again: nginx tries it once fail_timeout has passed and sends it requests again
            t_start = clusterlib.now()
            app1.start()
            lines0 = access_lines(app1)
            bedmod.wait_until(lambda: access_lines(app1) > lines0 + 20, b.fail_timeout + 20, 0.2,
                              "nginx sending requests to app1 again")
            back = clusterlib.now() - t_start
            servers_after = clusterlib.app_servers()
            load.wait_answers(300, 60)
        finally:
            load.stop()
        f = load.figures()
        problems, facts = clusterlib.verify_everywhere(load, stock)
        report("app_kill", processes_killed=len(killed), requests=f["requests"], acked_writes=f["acked_writes"],
               failed=len(fails), failed_502=sum(1 for a in fails if a.status == 502),
               route_around_seconds=last - t_kill, failed_after_routing=len(after_routing),
               app2_access_lines=served_by_2, app1_serving_again_after=back,
               acked_changes_verified=facts["acked_changes"], orders=facts["orders_in_db"])
        print("  app hosts' DB server before the kill %s, after app1's restart %s" % (servers_before, servers_after))
        for a in fails[:10]:
            print("  failed: t=%+.2fs after the kill: %r" % (a.t0 - t_kill, a))
        self.assertGreaterEqual(len(killed), 2, "the master and its children")
        self.assertLessEqual(len(fails), THREADS, "more failures than requests in flight at the kill")
        self.assertEqual([a for a in fails if a.status != 502][:5], [], "failures other than nginx's 502")
        self.assertLess(last - t_kill, 2.0, "nginx took too long to route around app1")
        self.assertEqual(after_routing[:5], [], "failures after nginx routed around app1")
        self.assertNoProblems(problems, "ledger and audit on every node")
        lib.audit_ok()
