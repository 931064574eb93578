"""Scenario 3: the fault suite's mixed storm while one DB node is killed with SIGKILL and rejoins by IST.

Single-writer. The load (tests/faults/load.py: 8 threads, carts, 3 hot products, add/remove/reserve/
release/checkout/reads, the client-side ledger) runs through nginx; a node is SIGKILLed (which one:
clusterlib.victim_node), the two others go on as a primary component of 2, the load writes more while it
is down, then it is started again and must rejoin by IST from a donor's gcache (its log says so, and no
SST ran), and the app hosts must move back to it (failback, without a restart). Then the ledger and the
audit, on every node.
"""

import re

import bed as bedmod
import clusterlib
from clusterlib import SingleWriterTest, bed, report


def wait_back_on(node, timeout):
    """Until every app host's workers and sweeper are on node again (WORKERS + 1 connections of each there;
    the audit thread's idle connection moves at its next statement); (seconds, True) or (timeout, False)."""
    t0 = clusterlib.now()
    need = bed().workers + 1
    try:
        bedmod.wait_until(lambda: all(conns.get(node.name, 0) >= need for conns in clusterlib.app_servers().values()),
                          timeout, 0.2, "app hosts back on %s" % node.name)
        return clusterlib.now() - t0, True
    except AssertionError:
        return clusterlib.now() - t0, False


class NodeKill(SingleWriterTest):

    def test_kill9_a_node_under_load(self):
        b = bed()
        stock = 3000
        products, victim, used, others, load = clusterlib.node_fault_load(stock)
        try:
            load.wait_answers(400, 60)
            before = len(load.answers)
            servers_before = clusterlib.app_servers()
            t_kill = clusterlib.now()
            window = load.fault(t_kill) if used else None
            victim.kill9()
            evict = max(clusterlib.wait_status(n, lambda s: s.get("wsrep_cluster_size") == "2"
                                               and s.get("wsrep_ready") == "ON", 30, "the cluster of two")
                        for n in others)
            t_moved = clusterlib.now()
            load.wait_answers(600, 60)  # written while the node is away: what IST must bring back
            down_answers = len(load.answers) - before
            move_s, moved = clusterlib.wait_moved(victim, 15) if used else (0.0, True)
            servers_while_down = clusterlib.app_servers()
            t_start = clusterlib.now()
            b.restart_node(victim, 120)
            rejoin = clusterlib.now() - t_start
            if window is not None:
                load.end_fault(window)
            # failback: each app host's sweeper probes the earlier nodes every 5 s, its workers follow
            # between transactions; the load keeps them busy, so every one meets a boundary
            back_s, back = wait_back_on(victim, 20) if used else (0.0, True)
            servers_back = clusterlib.app_servers()
            load.wait_answers(300, 60)
        finally:
            load.stop()
        text = victim.log_since_start()
        # with wsrep_sst_method=rsync the joiner always runs the SST script; it says which transfer it did
        m = re.search(r"Receiving IST: (\d+) writesets", text)
        ist_writesets = int(m.group(1)) if m else 0
        ist = "rsync IST completed on joiner" in text and "IST received" in text
        sst = "rsync SST completed on joiner" in text
        f = load.figures()
        fails = clusterlib.failed(load)
        fails_after = clusterlib.failed(load, since=t_kill + evict + rejoin + 5)
        busy = [a for a in fails if a.status == 503 and a.code == "database_unavailable" and "busy" in a.message]
        in_stall = [a for a in busy if t_kill - 3 <= a.t0 <= t_kill + evict + 0.5]
        # the requests sent once the two were a cluster, while the node was still down
        fails_moved = [a for a in fails if t_moved <= a.t0 <= t_start]
        problems, facts = clusterlib.verify_everywhere(load, stock)
        report("node_kill", victim=victim.name, apps_used_it=used, requests=f["requests"],
               acked_writes=f["acked_writes"], answers_while_down=down_answers, failed=len(fails), busy_503_in_stall=len(in_stall), failed_after_eviction=len(fails_moved), apps_moved_after=move_s,
               evicted_after=evict, rejoin_seconds=rejoin, apps_back_after=back_s, ist=ist, ist_writesets=ist_writesets, sst=sst,
               acked_changes_verified=facts["acked_changes"], orders=facts["orders_in_db"])
        for a in fails[:10]:
            print("  failed: t=%+.2fs after the kill: %r" % (a.t0 - t_kill, a))
        self.assertTrue(ist, "%s's log does not say IST received:\n%s" % (victim.name, text[-3000:]))
        self.assertFalse(sst, "%s rejoined with an SST, not IST" % victim.name)
        # Until the dead node is evicted (evs.suspect_timeout..inactive_timeout) the cluster cannot deliver
        # write sets: COMMITs wait, and requests waiting on their row locks may outlast TXN_BUDGET_MS and
        # answer the contract's 503 "busy" (nothing changed; the ledger counts them as refused). Nothing
        # else may fail, and nothing at all once the two are a cluster.
        print("  app hosts' DB server: before the kill %s, while it was down %s" % (servers_before,
                                                                                  servers_while_down))
        if not used:
            self.assertEqual([repr(a) for a in fails if a not in in_stall][:5], [],
                             "failures (other than 503 busy in the stall) although no app host used %s"
                             % victim.name)
        else:
            # the app hosts lost their connections at the kill: only the contract's 503 (no 502, no
            # dropped connection) until they reconnected to the next node, and none once it was a cluster
            self.assertEqual([repr(a) for a in fails if a.status != 503 or a.code != "database_unavailable"][:5],
                             [], "failures other than 503 database_unavailable")
            self.assertTrue(moved, "the app hosts did not move off %s: %s" % (victim.name, servers_while_down))
            print("  app hosts' DB server after the rejoin: %s" % servers_back)
            self.assertTrue(back, "the app hosts did not move back to %s (failback): %s" % (victim.name,
                                                                                           servers_back))
            self.assertEqual([repr(a) for a in fails_moved[:5]], [],
                             "failures after the two nodes were a cluster, the app hosts on the next node")
        self.assertTrue(ist_writesets > 0, "nothing was written while the node was away: IST not exercised")
        self.assertEqual([repr(a) for a in fails_after[:5]], [], "failures after the node was back")
        self.assertNoProblems(problems, "ledger and audit on every node")
