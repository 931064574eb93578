"""The stock-management migration (0002) applied to a live legacy database.

A copy of the shop's legacy schema (0001) gets the old backend's own load
(tests/tools/legacy_load: reads, new carts, legacy checkouts) while 0002 runs:
no legacy statement may fail, and the ALTER must be INSTANT (it would be
refused, not silently copied, otherwise), then the books must balance.
"""

import os
import subprocess
import time
import unittest
import uuid

from lib import DB_SOCKET, db

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOCKD = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
LOAD = os.path.join(TOP, "app", "build", "tools", "legacy_load")


class OnlineMigration(unittest.TestCase):
    def setUp(self):
        self.name = "legacy_" + uuid.uuid4().hex[:8]
        db("CREATE DATABASE %s" % self.name)
        # Only what the app reads: no conf file, the database from here.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "STOCKD_"))}
        self.env.update(DB_SOCKET=DB_SOCKET, DB_USER="root", DB_PASSWORD="", DB_NAME=self.name)
        self.env.pop("LOG_FILE", None)

    def tearDown(self):
        db("DROP DATABASE IF EXISTS %s" % self.name)

    def sql(self, text):
        out = subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", self.name,
                              "-N", "-B", "-e", text], capture_output=True, text=True, check=True)
        return [line.split("\t") for line in out.stdout.splitlines()]

    def migrate(self, upto):
        return subprocess.run([STOCKD, "migrate", os.path.join(TOP, "sql"), str(upto)], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def test_0002_under_legacy_load(self):
        r = self.migrate(1)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sql("INSERT INTO products (sku, name, price_cents, stock) "
                 "SELECT CONCAT('L-', seq), CONCAT('Legacy ', seq), 250, 100000 FROM seq_1_to_100")
        load = subprocess.Popen([LOAD, "8", "4"], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(2)  # the load is in full swing
            started = time.monotonic()
            r = self.migrate(2)
            took = time.monotonic() - started
            self.assertEqual(r.returncode, 0, "0002 failed under load: " + r.stderr)
        finally:
            out, err = load.communicate(timeout=60)
        self.assertEqual(load.returncode, 0, "legacy statements failed: %s %s" % (out, err))
        stats = out.split()
        total, failed = int(stats[2]), int(stats[4])
        self.assertEqual(failed, 0)
        self.assertGreater(total, 1000, "the load barely ran: " + out)
        print("\n  online migration: 0002 took %.0f ms under a legacy load of %d statements, %d failed"
              % (took * 1000, total, failed), flush=True)

        self.assertEqual(self.sql("SELECT MAX(version) FROM schema_migrations"), [["2"]])
        # The legacy checkouts that ran after the migration kept the ledger
        # balanced: received = stock + sold for every product.
        bad = self.sql("SELECT p.id FROM products p"
                       " LEFT JOIN (SELECT product_id, SUM(delta) r FROM stock_receipts GROUP BY product_id) x"
                       "   ON x.product_id = p.id"
                       " LEFT JOIN (SELECT product_id, SUM(quantity) s FROM order_items GROUP BY product_id) y"
                       "   ON y.product_id = p.id"
                       " WHERE COALESCE(x.r, 0) <> p.stock + COALESCE(y.s, 0) OR p.reserved_stock <> 0")
        self.assertEqual(bad, [])
        sold = int(self.sql("SELECT COUNT(*) FROM order_items")[0][0])
        self.assertGreater(sold, 0, "no legacy checkout ran")
