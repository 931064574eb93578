"""Scenario 7: a rolling upgrade under load: the app hosts one at a time, then the DB nodes one at a time.

Single-writer. The storm of tests/faults/load.py runs through nginx the whole time.

App hosts: each runs a copy of the built binary at a path of its own (`<app dir>/release/stockd`). Its upgrade
is what docs/operations.md ("Binary upgrade") tells an operator to do: the new release renamed over that path
(one rename, as deploy/install does), then deploy/upgrade (SIGUSR2 to the master: it starts the binary now at its
path with the listening socket; once the new master's workers accept, the old master drains and exits). Proved
for each host: the pid file names a new master, the old master and every old worker and sweeper are gone, the
new master runs the new file (its /proc/PID/exe is the new inode, the old master's was the old one), its children
are all new, and the requests the host serves afterwards (its access log names the worker) come from them.
The upgrade promises that no request is refused: during the app hosts' upgrades not one answer of the load may
be a 5xx or missing, and nginx must not have met a failed connection and sent a request to the other host (its
error log and its access log's upstream list say so), which would hide a refusal behind a 2xx.

DB nodes, db1 then db2 then db3: a graceful stop (SIGTERM; mariadbd must exit by itself, with 0), the load goes
on while it is away, then it starts again as the package's unit would (`galera_recovery`'s
`--wsrep-recover` position, then mariadbd) and must rejoin by IST and be Synced in a cluster of three before the
next node goes. The app hosts write through the first ready node of their list; a worker moves when its own
connection breaks. Only a node the app hosts are connected to when it is stopped may cost anything: the contract's
503 database_unavailable, for requests in flight while it goes away (sent before mariadbd exited, answered after
the SIGTERM), at most one for each connection the app hosts had on it (the worker that lost its connection
connects to the next ready node for its next request). No 502, no dropped connection, no 5xx at any other
moment. The 503s are printed by kind: "outcome unknown" (a COMMIT cut short: a write, txn_run never reruns it),
"nothing was changed" (the connection was gone and no other node was tried for this request) and "busy". Then
the ledger and the audit on every node.
"""

import os
import re
import shutil

import clusterlib
from clusterlib import SingleWriterTest, Load, bed, report
import bed as bedmod

THREADS = 8


def install(src, dst):
    """Put a release at dst the way deploy/install does: a copy beside it, renamed over it in one step.
    Returns the new file's inode."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.rename(tmp, dst)
    return os.stat(dst).st_ino


def exe_inode(pid):
    return os.stat("/proc/%d/exe" % pid).st_ino


def overlapping(answers, t0, t1):
    return [a for a in answers if a.t1 >= t0 and a.t0 <= t1]


def failed(a):
    return a.exc is not None or a.status >= 500


class RollingUpgrade(SingleWriterTest):

    @classmethod
    def setUpClass(cls):
        # each app host from a copy of the built binary at a path of its own: the upgrade renames another file
        # over it, and the test can tell which file a master runs
        for a in bed().apps:
            path = os.path.join(a.dir, "release", "stockd")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            install(bedmod.STOCKD_BIN, path)
            a.bin = path
        super().setUpClass()  # restarts the app hosts (single writer): from their copies now

    @classmethod
    def tearDownClass(cls):
        for a in bed().apps:
            a.bin = bedmod.STOCKD_BIN
        bed().set_writers("single")  # the app hosts from the built binary again, as the bed started them
        super().tearDownClass()

    def test_app_hosts_then_db_nodes_one_at_a_time(self):
        b = bed()
        stock = 3000
        products = clusterlib.hot_products(3, stock)
        load = Load(products, threads=THREADS, max_seconds=480)
        # the contract's answer for a COMMIT a node took with it when it went; where it may come is checked below
        load.extra_allowed = {(503, "database_unavailable")}
        apps, nodes = [], []
        load.start()
        try:
            load.wait_answers(300, 60)
            err0, acc0 = b.size(b.log_path("error")), b.size(b.log_path("access"))
            t_apps0 = clusterlib.now()
            for a in b.apps:
                apps.append(self.upgrade_app(a, load))
            t_apps1 = clusterlib.now()
            errs, retried = clusterlib.nginx_upstream_trouble(err0, acc0)
            t_dbs0 = clusterlib.now()
            for n in b.dbs:
                nodes.append(self.restart_db(n, load))
            t_dbs1 = clusterlib.now()
            load.wait_answers(300, 60)  # the three of them serve the load again
        finally:
            load.stop()
        with load.lock:
            answers = list(load.answers)
        f = load.figures()

        # --- the app hosts' upgrades: nothing refused ------------------------------------------------------
        app_phase = overlapping(answers, t_apps0, t_apps1)
        app_fails = [a for a in app_phase if failed(a)]
        # --- the DB nodes': the contract's 503, only from a node in use going away, one per connection at most
        db_phase = overlapping(answers, t_dbs0, t_dbs1)
        db_fails = [a for a in db_phase if failed(a)]
        outside = []
        for a in db_fails:
            w = [n for n in nodes if n["connections"] > 0 and a.t1 >= n["t_stop"] and a.t0 <= n["t_exit"]]
            if a.status == 503 and a.code == "database_unavailable" and w:
                w[0]["fails"].append(a)
            else:
                outside.append(a)
        after = [a for a in answers if a.t0 > t_dbs1 and failed(a)]

        problems, facts = clusterlib.verify_everywhere(load, stock)
        report("rolling_upgrade", requests=f["requests"], acked_writes=f["acked_writes"],
               app_phase_seconds=t_apps1 - t_apps0, app_phase_requests=len(app_phase),
               app_phase_failed=len(app_fails), app_phase_502=sum(1 for a in app_phase if a.status == 502),
               app_phase_slowest_answer=max((a.t1 - a.t0 for a in app_phase), default=0.0),
               nginx_upstream_errors=len(errs), nginx_retried=len(retried),
               db_phase_seconds=t_dbs1 - t_dbs0, db_phase_requests=len(db_phase),
               db_phase_503=sum(1 for a in db_phase if a.status == 503),
               db_phase_502=sum(1 for a in db_phase if a.status == 502), db_phase_failed_outside=len(outside),
               acked_changes_verified=facts["acked_changes"], orders=facts["orders_in_db"])
        for u in apps:
            report("rolling_upgrade:" + u["host"], **{k: v for k, v in u.items() if k not in ("host", "old_pids")})
        for n in nodes:
            # the slowest answer to a request in flight while the node went (a worker that lost its connection
            # tries the nodes in DB_HOST order again, the one going away first)
            w = overlapping(answers, n["t_stop"], n["t_exit"])
            n["slowest_answer_in_window"] = max((a.t1 - a.t0 for a in w), default=0.0)
            kinds = {"unknown": 0, "nothing_changed": 0, "busy": 0}
            for a in n["fails"]:
                kinds["unknown" if "unknown" in a.message else "busy" if "busy" in a.message
                      else "nothing_changed"] += 1
            report("rolling_upgrade:" + n["node"], **{k: (len(v) if k == "fails" else v) for k, v in n.items()
                                                       if k not in ("node", "t_stop", "t_exit", "ist_text")},
                   **{"503_" + k: v for k, v in kinds.items()})
        for n in nodes:
            for a in n["fails"][:10]:
                print("  %s: 503 sent %+.3fs after its SIGTERM (it exited at %+.3fs), answered in %.3fs: %s %s"
                      % (n["node"], a.t0 - n["t_stop"], n["t_exit"] - n["t_stop"], a.t1 - a.t0, a.kind, a.message))
        for a in (app_fails + db_fails)[:20]:
            print("  failed: %s after the upgrades began: %r" % ("%.2fs" % (a.t0 - t_apps0), a))
        for x in (errs + retried)[:10]:
            print("  nginx: %s" % x)

        # app hosts
        self.assertEqual([repr(a) for a in app_fails[:10]], [], "requests failed while the app hosts were upgraded")
        self.assertEqual(errs[:5] + retried[:5], [], "nginx met a refused or broken connection during the upgrades")
        self.assertGreater(len(app_phase), 100, "too few requests during the app hosts' upgrades to say anything")
        for u in apps:
            self.assertGreater(u["answers_during"], 0, "no request answered while %s handed over" % u["host"])
        # DB nodes
        self.assertEqual([repr(a) for a in outside[:10]], [],
                         "failures other than the contract's 503 from a node in use while it went away")
        for n in nodes:
            self.assertEqual(n["exit_code"], 0, "%s did not stop cleanly" % n["node"])
            self.assertTrue(n["ist"], "%s did not rejoin by IST:\n%s" % (n["node"], n["ist_text"]))
            self.assertFalse(n["sst"], "%s rejoined with an SST" % n["node"])
            self.assertGreater(n["ist_writesets"], 0, "nothing written while %s was away" % n["node"])
            self.assertTrue(n["moved"], "the app hosts did not leave %s" % n["node"])
            self.assertLessEqual(len(n["fails"]), n["connections"],
                                 "%s: more 503s than connections the app hosts had on it" % n["node"])
        self.assertTrue(any(n["connections"] for n in nodes), "the app hosts used none of the nodes?")
        self.assertEqual([repr(a) for a in after[:5]], [], "failures after the last node was back")
        self.assertNoProblems(problems, "ledger and audit on every node")

    # --- one app host ---------------------------------------------------------------------------------------

    def upgrade_app(self, a, load):
        b = bed()
        old = a.master()
        self.assertIsNotNone(old, "%s has no master" % a.name)
        old_pids = a.processes()
        old_ino = exe_inode(old)
        self.assertEqual(old_ino, os.stat(a.bin).st_ino, "%s's master does not run %s" % (a.name, a.bin))
        new_ino = install(bedmod.STOCKD_BIN, a.bin)  # the new release, at the same path
        self.assertNotEqual(new_ino, old_ino)
        log = clusterlib.access_log(a)
        off0 = b.size(log)
        n0 = len(load.answers)
        t0 = clusterlib.now()
        up = a.upgrade()
        t1 = clusterlib.now()
        off1 = b.size(log)
        self.assertEqual(up["rc"], 0, "deploy/upgrade on %s: %s %s" % (a.name, up["out"], up["err"]))
        self.assertEqual(up["old"], old, up["out"])
        new = a.master()
        self.assertEqual(up["new"], new, "the pid file names the new master")
        self.assertNotEqual(new, old)
        self.assertEqual([p for p in old_pids if bedmod.pid_alive(p)], [], "old master or children still running")
        self.assertEqual(exe_inode(new), new_ino, "the new master does not run the new binary")
        kids = bedmod.wait_until(lambda: (lambda k: k if len(k) >= b.workers + 1 else None)(bedmod.children(new)),
                                 30, 0.1, "%s's new workers and sweeper" % a.name)
        self.assertEqual(sorted(set(kids) & set(old_pids)), [], "children of the new master that are old")
        # the host serves from its new workers only (nginx keeps sending it requests)
        lines = lambda: [e for e in self.entries(log, off1)]  # noqa: E731
        bedmod.wait_until(lambda: len(lines()) >= 20, 30, 0.2, "%s serving after its upgrade" % a.name)
        after_pids = {e.get("pid") for e in lines()}
        self.assertTrue(after_pids <= set(kids), "%s served after its upgrade from %s, the new master's children "
                        "are %s" % (a.name, sorted(after_pids), kids))
        during = self.entries(log, off0, off1)
        return {"host": a.name, "old_master": old, "new_master": new, "handover_ms": up["handover_ms"],
                "upgrade_seconds": t1 - t0, "new_workers": len(kids),
                "answers_during": len(load.answers) - n0,
                "served_during_by_old": sum(1 for e in during if e.get("pid") in old_pids),
                "served_during_by_new": sum(1 for e in during if e.get("pid") in kids),
                "old_pids": old_pids}

    @staticmethod
    def entries(path, off, until=None):
        import json
        out = []
        for line in bedmod.Bed.lines_since(path, off, until):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict):
                out.append(e)
        return out

    # --- one DB node -----------------------------------------------------------------------------------------

    def restart_db(self, n, load):
        b = bed()
        b.wait_synced(60, quiet=False)
        others = [o for o in b.dbs if o is not n]
        servers = clusterlib.app_servers()
        conns = sum(c.get(n.name, 0) for c in servers.values())
        t_stop = clusterlib.now()
        # an answer in flight while it goes may hide a COMMIT that landed: the ledger treats it as unknown
        window = load.fault(t_stop)
        stop_s, rc = n.shutdown(90)
        t_exit = clusterlib.now()
        load.end_fault(window, t_exit)
        two = max(clusterlib.wait_status(o, lambda s: s.get("wsrep_cluster_size") == "2" and
                                         s.get("wsrep_ready") == "ON", 30, "the cluster of two") for o in others)
        move_s, moved = clusterlib.wait_moved(n, 15) if conns else (0.0, True)
        load.wait_answers(200, 60)  # written while it is away: what IST must bring back
        t_start = clusterlib.now()
        away = len([a for a in load.answers if a.t0 >= t_exit])
        pos = b.restart_node(n, 180)
        rejoin = clusterlib.now() - t_start
        b.wait_synced(60, quiet=False)
        text = n.log_since_start()
        m = re.search(r"Receiving IST: (\d+) writesets", text)
        return {"node": n.name, "connections": conns, "app_servers": servers, "stop_seconds": stop_s,
                "exit_code": rc, "two_nodes_after": two, "moved": moved, "apps_moved_after": move_s,
                "answers_while_away": away, "position": pos, "rejoin_seconds": rejoin,
                "ist": "rsync IST completed on joiner" in text and "IST received" in text,
                "sst": "rsync SST completed on joiner" in text, "ist_writesets": int(m.group(1)) if m else 0,
                "t_stop": t_stop, "t_exit": t_exit, "fails": [], "ist_text": text[-3000:]}
