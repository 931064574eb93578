"""Two `stockd migrate` runners at once, through two nodes, leave the schema as one runner would.

The migration runner keeps a second runner out with GET_LOCK('stockd_migrate'), which is local to one
node on Galera: two operators (or two deploy scripts) starting `stockd migrate` through db1 and db2 at
the same moment are not kept apart (docs/scaling.md). This scenario runs exactly that on an empty
database of its own and checks that it is harmless: DDL is replicated in total order (TOI), every step is
re-runnable, and a step recorded twice would fail on schema_migrations' primary key. Asserted: each
runner either finishes or stops with its own message and a non-zero exit (never a crash); a third run
afterwards finishes; every node then records each step once, the same steps as the app's own database,
and has the same tables, defined the same way.
"""

import os
import re
import subprocess
import time

import bed as bedmod
from clusterlib import ClusterTest, bed, report

DB = "stockd_two_migrators"


def migrate_env(node):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "ASAN_OPTIONS")}
    env.update({"DB_HOST": node.addr, "DB_PORT": str(bedmod.DB_PORT), "DB_USER": bedmod.DB_USER,
                "DB_PASSWORD": bedmod.DB_PASSWORD, "DB_NAME": DB, "STOCKD_CONF": bed().conf})
    return env


def run_migrate(node):
    return subprocess.Popen([bedmod.STOCKD_BIN, "migrate", os.path.join(bedmod.TOP, "sql")], env=migrate_env(node),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def tables(node, db):
    """{table: its CREATE TABLE text} of db on node (AUTO_INCREMENT counters left out: rows, not schema)."""
    out = {}
    for (t,) in node.sql("SHOW TABLES", db=db):
        create = node.sql("SHOW CREATE TABLE `%s`" % t, db=db)[0][1]
        out[t] = re.sub(r" AUTO_INCREMENT=\d+", "", create.replace("\\n", "\n"))
    return out


class TwoMigrators(ClusterTest):

    def test_two_runners_through_two_nodes(self):
        b = bed()
        db1, db2, db3 = b.dbs
        db1.sql("DROP DATABASE IF EXISTS %s; CREATE DATABASE %s CHARACTER SET utf8mb4; GRANT ALL ON %s.* TO '%s'@'%s.%%'"
                % (DB, DB, DB, bedmod.DB_USER, b.net))
        self.addCleanup(lambda: db1.sql("DROP DATABASE IF EXISTS %s" % DB, check=False))
        b.wait_synced(60)
        t0 = time.monotonic()
        runners = [run_migrate(db1), run_migrate(db2)]
        outs = [r.communicate(timeout=300)[0] for r in runners]
        seconds = time.monotonic() - t0
        codes = [r.returncode for r in runners]
        for code, out in zip(codes, outs):
            print("  runner exit %d:\n    %s" % (code, "\n    ".join(out.strip().splitlines()[-6:])))
        third = subprocess.run([bedmod.STOCKD_BIN, "migrate", os.path.join(bedmod.TOP, "sql")], env=migrate_env(db3),
                               capture_output=True, text=True, timeout=300)
        b.wait_synced(60)
        want_steps = db1.sql("SELECT version, name FROM schema_migrations ORDER BY version", db=bedmod.DB_NAME)
        want_tables = tables(db1, bedmod.DB_NAME)
        report("two_migrators", exits="%d,%d" % tuple(codes), seconds=seconds, third_exit=third.returncode,
               steps=len(want_steps), tables=len(want_tables))
        for code, out in zip(codes, outs):
            # a crash (a signal) has no message of its own; a refusal says what happened
            self.assertGreaterEqual(code, 0, "a runner died of a signal:\n%s" % out[-2000:])
            if code != 0:
                # the runner's refusal: what failed, why (the server's error, never an empty one), and
                # that running it again is safe
                err = [l for l in out.splitlines() if " error " in l]
                self.assertTrue(err, "a runner failed without an error line:\n%s" % out[-2000:])
                self.assertRegex(err[-1], r"(?i)run the same command again", err[-1])
                self.assertNotRegex(err[-1], r":\s*[.;]", "an empty reason: %s" % err[-1])
        self.assertEqual(third.returncode, 0, "a third run after the two: %s%s" % (third.stdout[-2000:],
                                                                                  third.stderr[-2000:]))
        problems = []
        for n in b.dbs:
            steps = n.sql("SELECT version, name FROM schema_migrations ORDER BY version", db=DB)
            if steps != want_steps:
                problems.append("%s: schema_migrations %s, the app's database has %s" % (n.name, steps, want_steps))
            got = tables(n, DB)
            if got != want_tables:
                differ = sorted(t for t in set(got) | set(want_tables) if got.get(t) != want_tables.get(t))
                problems.append("%s: tables that differ from the app's database: %s" % (n.name, differ))
        self.assertNoProblems(problems, "the schema after two runners at once")
