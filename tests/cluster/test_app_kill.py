"""Scenario 5: one app host killed (SIGKILL of its master, workers and sweeper at once) under load.

Single-writer. The storm of tests/faults/load.py runs through nginx, whose upstream is both app hosts with
passive health checks (max_fails=1, fail_timeout, state shared by nginx's workers in a zone). app1's
processes are all SIGKILLed at one instant. A write in flight on app1 is lost (nginx's JSON 502: a write
already sent is never passed on, `fastcgi_next_upstream error timeout`, and DELETE never at all); a GET is
passed on. A new connection to app1 is refused at once, so nginx hands that request to app2 and marks
app1 down, except a DELETE, which answers 502 (stockd-locations.conf: nginx cannot pass a DELETE on only
when it was not sent). While app1 is down nginx tries it again once every fail_timeout, with whatever
request comes: a DELETE then answers 502 too. Measured: requests failed, and the time from the kill to the
last failure of a request sent before app1 was dead (the time to route around). Asserted: every failure is
nginx's 502; no more failures of requests sent before app1 was dead than requests that can be in flight
(one per load thread), none later than 2 s after the kill; of requests sent after, only DELETEs fail, at
most one each time nginx tries app1 (the first, plus one per fail_timeout, plus one for the race of
nginx's two workers at the first); none once app1 serves again; after app1 is started again nginx sends
it requests once more (after fail_timeout); ledger and audit on every node.
"""

import math
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
            t_dead = clusterlib.now()
            load.wait_answers(1500, 60)
            t_after = clusterlib.now()
            load.end_fault(window, t_after)
            served_by_2 = access_lines(app2)
            # app1 again: nginx tries it once fail_timeout has passed and sends it requests again
            t_start = clusterlib.now()
            app1.start()
            lines0 = access_lines(app1)
            bedmod.wait_until(lambda: access_lines(app1) > lines0 + 20, b.fail_timeout + 20, 0.2,
                              "nginx sending requests to app1 again")
            t_back = clusterlib.now()
            back = t_back - t_start
            servers_after = clusterlib.app_servers()
            load.wait_answers(300, 60)
        finally:
            load.stop()
        fails = clusterlib.failed(load, since=t_kill)
        in_flight = [a for a in fails if a.t0 < t_dead]
        tried_dead = [a for a in fails if a.t0 >= t_dead]
        last = max((a.t1 for a in in_flight), default=t_kill)
        # nginx tries app1 when it first meets it dead, then once a fail_timeout until app1 answers
        tries_bound = 2 + math.ceil((t_back - t_dead) / b.fail_timeout)
        f = load.figures()
        problems, facts = clusterlib.verify_everywhere(load, stock)
        report("app_kill", processes_killed=len(killed), requests=f["requests"], acked_writes=f["acked_writes"],
               failed=len(fails), failed_502=sum(1 for a in fails if a.status == 502),
               failed_in_flight=len(in_flight), failed_deletes_tried_on_dead_app1=len(tried_dead),
               app1_dead_seconds=t_back - t_dead, route_around_seconds=last - t_kill,
               app2_access_lines=served_by_2, app1_serving_again_after=back,
               acked_changes_verified=facts["acked_changes"], orders=facts["orders_in_db"])
        print("  app hosts' DB server before the kill %s, after app1's restart %s" % (servers_before, servers_after))
        for a in fails[:10]:
            print("  failed: t=%+.2fs after the kill: %r" % (a.t0 - t_kill, a))
        self.assertGreaterEqual(len(killed), 2, "the master and its children")
        self.assertEqual([a for a in fails if a.status != 502][:5], [], "failures other than nginx's 502")
        self.assertLessEqual(len(in_flight), THREADS, "more failures than requests in flight at the kill")
        self.assertLess(last - t_kill, 2.0, "nginx took too long to route around app1")
        self.assertEqual([a for a in tried_dead if a.kind != "remove"][:5], [],
                         "a request sent after app1 was dead failed: nginx did not pass it on to app2")
        self.assertLessEqual(len(tried_dead), tries_bound, "more DELETEs failed than nginx can have tried app1")
        self.assertEqual(clusterlib.failed(load, since=t_back)[:5], [], "failures after app1 served again")
        self.assertNoProblems(problems, "ledger and audit on every node")
        lib.audit_ok()
