"""deploy/backup: a dump taken while the shop writes, restored into a fresh database, passes the audit.

The load is real (threads adding with decrease_stock, removing, reserving and checking out on the test stack)
and runs during the whole dump; the restored copy is a second database on the same MariaDB, and the audit runs
there through the app's own checks (`stockd audit`, the code of GET /api/admin/audit) and, independently, as SQL
recomputing the invariants from the restored tables.
"""

import glob
import os
import random
import subprocess
import tarfile
import tempfile
import threading
import time
import unittest

from lib import (DB_SOCKET, Background, STACK_DIR, StockdTest, add, checkout, db, make_product, new_cart, remove, reserve)

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
RESTORED = "stockd_restored_%d" % os.getpid()


def sql_in(dbname, sql):
    r = subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", dbname, "-N", "-B", "-e", sql],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("SQL failed on %s: %s\n%s" % (dbname, sql, r.stderr))
    return [line.split("\t") for line in r.stdout.splitlines()]


class Load(Background):
    """K threads of adds (moving stock), removes, reserves and checkouts on a few hot products, until stopped."""

    join_timeout = 60

    def __init__(self, pids, threads=4):
        self.pids, self.stop, self.done = pids, threading.Event(), 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, seed):
        rnd = random.Random(seed)
        while not self.stop.is_set():
            cid = new_cart()
            for _ in range(rnd.randint(1, 4)):
                pid = rnd.choice(self.pids)
                op = rnd.random()
                if op < 0.6:
                    add(cid, pid, rnd.randint(1, 3), dec=True)
                elif op < 0.8:
                    reserve(cid, pid, rnd.randint(1, 2))
                else:
                    remove(cid, pid, inc=True)
            if rnd.random() < 0.5:
                checkout(cid)
            with self.lock:
                self.done += 1


class Backup(StockdTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stockd-backup-")
        cls.etc = os.path.join(STACK_DIR, "etc")

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", "-e",
                        "DROP DATABASE IF EXISTS %s" % RESTORED], timeout=60)
        subprocess.run(["rm", "-rf", cls.tmp])

    def env(self, **kw):
        e = dict(os.environ, DB_SOCKET=DB_SOCKET, DB_USER="root", DB_NAME="stockd", STOCKD_ENV="/nonexistent",
                 STOCKD_BIN=BIN)
        e.pop("DB_PASSWORD", None)
        e.update(kw)
        return e

    def test_dump_under_load_restores_and_audits_clean(self):
        pids = [make_product(stock=100000)["id"] for _ in range(4)]
        out = os.path.join(self.tmp, "out")
        with Load(pids) as load:
            while load.done < 20:  # the load is under way before the dump starts
                time.sleep(0.05)
            before = load.done
            r = subprocess.run([os.path.join(TOP, "deploy", "backup"), "--out", out, "--etc", self.etc,
                                "--site", "/nonexistent"], env=self.env(), capture_output=True, text=True, timeout=300)
            during = load.done - before
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(during, 0, "no cart finished while the dump ran: it was not under load")
        archive = r.stdout.strip()
        self.assertEqual(glob.glob(os.path.join(out, "*.tar.gz")), [archive])
        self.assertRegex(os.path.basename(archive), r"^stockd-backup-\d{8}T\d{6}Z\.tar\.gz$")
        self.assertEqual(os.stat(archive).st_mode & 0o777, 0o600, "the archive holds secrets")
        with tarfile.open(archive) as t:
            names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
            manifest = t.extractfile([m for m in t.getmembers() if m.name.endswith("/MANIFEST")][0]).read().decode()
        for want in ("stockd.sql", "MANIFEST", "etc/stockd/stockd.conf"):
            self.assertIn(want, names)
        self.assertIn("binary: stockd ", manifest)
        self.assertRegex(manifest, r"schema: \d+\n")

        r = subprocess.run([os.path.join(TOP, "deploy", "backup"), "restore", archive, "--db", RESTORED],
                           env=self.env(), capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"audit: database %s, \d+ products checked, 0 breaches: ok" % RESTORED)

        # the restored copy has the load's work: carts, orders, holds, stock moved
        n = sql_in(RESTORED, "SELECT (SELECT COUNT(*) FROM carts), (SELECT COUNT(*) FROM orders),"
                             " (SELECT COUNT(*) FROM schema_migrations)")[0]
        self.assertGreater(int(n[0]), before)
        self.assertGreater(int(n[1]), 0)
        self.assertEqual(n[2], db("SELECT COUNT(*) FROM schema_migrations")[0][0])
        # the invariants again, as SQL on the restored tables (not the app's code)
        bad = sql_in(RESTORED, """
            SELECT 'reserved', p.id FROM products p
             WHERE p.reserved_stock <> (SELECT COALESCE(SUM(h.quantity), 0) FROM stock_holds h WHERE h.product_id = p.id)
            UNION ALL
            SELECT 'receipts', p.id FROM products p
             WHERE (SELECT COALESCE(SUM(r.delta), 0) FROM stock_receipts r WHERE r.product_id = p.id)
                   <> p.stock + (SELECT COALESCE(SUM(oi.quantity), 0) FROM order_items oi WHERE oi.product_id = p.id)
            UNION ALL
            SELECT 'closed_hold', h.cart_id FROM stock_holds h JOIN carts c ON c.id = h.cart_id
             WHERE c.status <> 'open'
            UNION ALL
            SELECT 'order_without_lines', o.id FROM orders o
             WHERE NOT EXISTS (SELECT 1 FROM order_items oi WHERE oi.order_id = o.id)""")
        self.assertEqual(bad, [])

        # `stockd audit` is no rubber stamp: a breach in the restored copy makes it fail and name it
        pid = pids[0]
        sql_in(RESTORED, "UPDATE products SET reserved_stock = reserved_stock + 1 WHERE id = %d" % pid)
        r = subprocess.run([BIN, "audit"], env=self.env(DB_NAME=RESTORED, LOG_FILE=""), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"breach invariant=\d+ code=\S+ product=%d " % pid)
        self.assertRegex(r.stdout, r"audit: database %s, \d+ products checked, 1 breaches: NOT OK" % RESTORED)

    def test_restore_refuses_a_database_with_tables(self):
        out = os.path.join(self.tmp, "refuse")
        r = subprocess.run([os.path.join(TOP, "deploy", "backup"), "--out", out, "--etc", self.etc],
                           env=self.env(), capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([os.path.join(TOP, "deploy", "backup"), "restore", r.stdout.strip()],
                           env=self.env(), capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("database stockd already has", r.stderr)


if __name__ == "__main__":
    unittest.main()
