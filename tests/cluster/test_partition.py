"""Scenario 4: one node cut off from the other two under load, then healed.

Single-writer. The storm of tests/faults/load.py runs through nginx while one node (clusterlib.victim_node)
loses its links to its two peers (blackhole routes on both sides: Galera's traffic and IST stop, the app
hosts and the test still reach it). The two others must go on as the primary component (size 2, ready) and
keep serving; the cut-off node must say wsrep_ready=OFF and non-Primary, and refuse the app's queries
(MariaDB error 1047); once DB_HOST takes a list, an app host that used it moves to the next node. Healed,
it rejoins (IST) and the three agree; then the ledger and the audit on every node.
"""

import subprocess

import clusterlib
from clusterlib import SingleWriterTest, bed, report
import bed as bedmod


class Partition(SingleWriterTest):

    def test_minority_node_stops_majority_serves(self):
        b = bed()
        stock = 3000
        products, victim, used, others, load = clusterlib.node_fault_load(stock)
        try:
            load.wait_answers(400, 60)
            servers_before = clusterlib.app_servers()
            t_cut = clusterlib.now()
            window = load.fault(t_cut) if used else None
            victim.cut(others)
            t_minority = clusterlib.wait_status(
                victim, lambda s: s.get("wsrep_ready") == "OFF" and s.get("wsrep_cluster_status") != "Primary",
                30, "wsrep_ready OFF, non-Primary")
            for n in others:
                clusterlib.wait_status(n, lambda s: s.get("wsrep_cluster_size") == "2" and s.get("wsrep_ready") == "ON"
                                       and s.get("wsrep_cluster_status") == "Primary", 30, "a primary component of two")
            t_majority = clusterlib.now() - t_cut  # both of them see the primary component of two
            minority = victim.status()
            # the app's own view of the cut-off node: its user over TCP, as an app host connects
            r = subprocess.run(["mariadb", "--no-defaults", "-h", victim.addr, "-P", str(bedmod.DB_PORT),
                                "-u", bedmod.DB_USER, "-p" + bedmod.DB_PASSWORD, bedmod.DB_NAME, "-N", "-B", "-e",
                                "SELECT stock FROM products WHERE id=%d" % products[0]],
                               capture_output=True, text=True, timeout=30)
            refused = r.returncode != 0 and "1047" in r.stderr
            move_s, moved = clusterlib.wait_moved(victim, 15) if used else (0.0, True)
            servers_while_cut = clusterlib.app_servers()
            left = clusterlib.left_on(victim)
            n0 = len(load.answers)
            t_during = clusterlib.now()
            load.wait_answers(800, 60)  # served by the majority while the node is cut off
            served_during = len(load.answers) - n0
            fails_during = clusterlib.failed(load, since=t_during)
            t_heal = clusterlib.now()
            victim.heal()
            b.wait_synced(90, quiet=False)  # the load still runs
            rejoin = clusterlib.now() - t_heal
            if window is not None:
                load.end_fault(window)
            load.wait_answers(300, 60)
        finally:
            if victim.cut_from:
                victim.heal()
            load.stop()
        text = victim.log_since_start()
        f = load.figures()
        fails = clusterlib.failed(load)
        busy_stall = [a for a in fails if a.status == 503 and "busy" in a.message
                      and t_cut - 3 <= a.t0 <= t_cut + t_majority + 0.5]
        problems, facts = clusterlib.verify_everywhere(load, stock)
        report("partition", victim=victim.name, apps_used_it=used, requests=f["requests"],
               acked_writes=f["acked_writes"], minority_ready_off_after=t_minority,
               majority_primary_after=t_majority, apps_moved_after=move_s, connections_left_on_cut_node=left, served_while_cut=served_during,
               failed_while_cut=len(fails_during), failed=len(fails), busy_503_in_stall=len(busy_stall),
               rejoin_seconds=rejoin, ist_after_heal="IST received" in text,
               acked_changes_verified=facts["acked_changes"], orders=facts["orders_in_db"])
        with load.lock:
            co = {}
            for a in load.answers:
                if a.kind == "checkout":
                    k = "%s %s" % (a.status, a.code or "")
                    co[k] = co.get(k, 0) + 1
        print("  checkouts: %s" % co)
        for a in fails[:10]:
            print("  failed: t=%+.2fs after the cut: %r" % (a.t0 - t_cut, a))
        self.assertEqual(minority.get("wsrep_ready"), "OFF", minority)
        self.assertTrue(refused, "the cut-off node answered the app's query: %r %r" % (r.stdout, r.stderr))
        self.assertEqual([repr(a) for a in fails_during[:5]], [], "failures while the majority served")
        print("  app hosts' DB server before the cut %s, while %s was cut off %s" % (servers_before, victim.name,
                                                                                  servers_while_cut))
        if used:
            self.assertTrue(moved, "the app hosts did not move off %s: %s" % (victim.name, servers_while_cut))
            self.assertEqual([repr(a) for a in fails if a.status != 503 or a.code != "database_unavailable"][:5],
                             [], "failures other than 503 database_unavailable")
        if not used:
            self.assertEqual([repr(a) for a in fails if a not in busy_stall][:5], [],
                             "failures although no app host used %s" % victim.name)
        self.assertNoProblems(problems, "ledger and audit on every node")
