"""The migration runner on real databases (docs/migrations.md): each test makes its own database next to the
stack's and runs `stockd migrate` on it.

- The app needs the expand steps only: it serves a hold and a checkout on a database migrated with
  --expand-only (no 0003), and refuses one that lacks an expand step, naming it.
- --to N stops at N (and the old positional N still does); --status lists every step with its kind.
- A step that fails halfway is reported with the statement, what stays applied, and what to do; running the
  same command again after the fix finishes it. Every shipped step is safe to re-run (nothing doubles).
- An existing shop database with the legacy tables is adopted with --baseline after its columns are compared
  with 0001; a changed column is listed and nothing changes.
"""

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from lib import DB_SOCKET, STACK_DIR, db, wait_until
from test_fastcgi_raw import http_response, well_formed

import json

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOCKD = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
SQL = os.path.join(TOP, "sql")


def kinds(sql_dir=SQL):
    """{version: kind} from the header line of every NNNN_name.sql."""
    out = {}
    for path in sorted(glob.glob(os.path.join(sql_dir, "[0-9][0-9][0-9][0-9]_*.sql"))):
        with open(path) as f:
            m = re.match(r"-- stockd-migration: (expand|contract)\s*$", f.readline())
        assert m, "%s has no kind header" % path
        out[int(os.path.basename(path)[:4])] = m.group(1)
    return out


class MigrationRunner(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.name = "mig_" + uuid.uuid4().hex[:8]
        db("CREATE DATABASE %s" % self.name)
        # Only what the app reads: no conf file, this database, root on the stack's socket.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "STOCKD_"))}
        self.env.update(DB_SOCKET=DB_SOCKET, DB_USER="root", DB_PASSWORD="", DB_NAME=self.name)
        for k in ("LOG_FILE", "LISTEN", "PID_FILE", "ACCESS_LOG", "ADMIN_TOKEN", "METRICS_TOKEN"):
            self.env.pop(k, None)
        self.tmp = tempfile.mkdtemp(prefix="migrations-", dir=STACK_DIR or None)
        self.app = None

    def tearDown(self):
        if self.app is not None and self.app.poll() is None:
            self.app.terminate()
            try:
                self.app.wait(30)
            except subprocess.TimeoutExpired:
                self.app.kill()
                self.app.wait(10)
        db("DROP DATABASE IF EXISTS %s" % self.name)
        db("DROP DATABASE IF EXISTS %s_baseline" % self.name)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------

    def sql(self, text):
        out = subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", self.name,
                              "-N", "-B", "-e", text], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, "SQL failed: %s\n%s" % (text, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines()]

    def migrate(self, *args, sql_dir=SQL):
        return subprocess.run([STOCKD, "migrate", sql_dir] + list(args), env=self.env, capture_output=True,
                              text=True, timeout=120)

    def versions(self):
        if not self.sql("SHOW TABLES LIKE 'schema_migrations'"):
            return []
        return [int(r[0]) for r in self.sql("SELECT version FROM schema_migrations ORDER BY version")]

    def sql_copy(self):
        """A migration directory of our own: a copy of sql/'s steps."""
        d = os.path.join(self.tmp, "sql")
        os.mkdir(d)
        for path in glob.glob(os.path.join(SQL, "*.sql")):
            shutil.copy(path, d)
        return d

    def legacy_tables(self):
        """The shop before stockd: 0001's tables made by hand (the mariadb client, as a shop's own tool
        would), with rows."""
        with open(os.path.join(SQL, "0001_legacy_cart.sql")) as f:
            r = subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", self.name],
                               stdin=f, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sql("INSERT INTO products (sku, name, price_cents, stock) VALUES ('L-1', 'Legacy 1', 100, 7),"
                 " ('L-2', 'Legacy 2', 200, 0);"
                 "INSERT INTO orders (id, cart_id, total_cents) VALUES (1, REPEAT('a', 32), 300);"
                 "INSERT INTO order_items VALUES (1, 1, 3, 100)")

    def serve(self):
        """A second app master on this database, on a socket of its own; its FastCGI socket path."""
        sock = os.path.join(self.tmp, "s.sock")
        env = dict(self.env, LISTEN="unix:" + sock, PID_FILE=os.path.join(self.tmp, "pid"),
                   LOG_FILE=os.path.join(self.tmp, "stockd.log"), ACCESS_LOG=os.path.join(self.tmp, "access.log"),
                   WORKERS="1", TRUST_LOOPBACK="true")
        self.app = subprocess.Popen([STOCKD, "serve"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        def ready():
            self.assertIsNone(self.app.poll(), "the app exited: %s" % self.log())
            return os.path.exists(sock) and self.fcgi(sock, "GET", "/readyz")[0] == 200
        wait_until(ready, 30, 0.2, "the second app to answer /readyz")
        return sock

    def log(self):
        try:
            with open(os.path.join(self.tmp, "stockd.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def fcgi(self, sock, method, path, body=None):
        """One request straight to the app's FastCGI socket (no nginx): (status, parsed JSON or None)."""
        data = json.dumps(body).encode() if body is not None else b""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        got = b""
        try:
            s.connect(sock)
            s.sendall(well_formed(method, path, body=data,
                                  content_type="application/json" if body is not None else None))
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except (ConnectionRefusedError, FileNotFoundError):
            return None, None
        finally:
            s.close()
        status, _, payload, _ = http_response(got)
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload

    # --- (a) the app needs the expand steps; 0003 may wait ------------------------

    def test_expand_only_serves_without_0003_and_0003_applies_later(self):
        k = kinds()
        self.assertEqual(k[3], "contract")
        r = self.migrate("--expand-only")
        self.assertEqual(r.returncode, 0, r.stderr)
        expands = sorted(v for v, kind in k.items() if kind == "expand")
        self.assertEqual(self.versions(), expands)
        self.assertIn("left pending as asked: 0003_reserved_le_stock.sql (contract)", r.stdout + r.stderr)
        self.assertEqual(self.sql("SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE "
                                  "TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'products_reserved_le_stock'"),
                         [["0"]])
        self.sql("INSERT INTO products (sku, name, price_cents, stock) VALUES ('M-1', 'Migrated', 500, 5);"
                 "INSERT INTO stock_receipts (product_id, delta, reason) SELECT id, 5, 'created' FROM products")
        pid = int(self.sql("SELECT id FROM products")[0][0])

        sock = self.serve()
        st, cart = self.fcgi(sock, "POST", "/api/cart")
        self.assertEqual(st, 201, cart)
        cid = cart["cart_id"]
        st, view = self.fcgi(sock, "POST", "/api/cart/add",
                             {"cart_id": cid, "product_id": pid, "quantity": 2, "decrease_stock": True})
        self.assertEqual(st, 200, view)
        self.assertEqual([(i["product_id"], i["quantity"], i["reserved"]) for i in view["items"]], [(pid, 2, 2)])
        st, p = self.fcgi(sock, "GET", "/api/products/%d" % pid)
        self.assertEqual((st, p["stock"], p["reserved"], p["available"]), (200, 5, 2, 3), p)
        st, order = self.fcgi(sock, "POST", "/api/cart/checkout", {"cart_id": cid})
        self.assertEqual(st, 201, order)
        self.assertEqual(order["total_cents"], 1000)
        self.assertEqual(self.sql("SELECT stock, reserved_stock FROM products"), [["3", "0"]])
        st, audit = self.fcgi(sock, "GET", "/api/admin/audit")
        self.assertEqual(st, 200, audit)
        self.assertEqual((audit["ok"], audit["problems"]), (True, []), audit)

        # The contract step later, in a quiet minute, while the app runs: it keeps serving.
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.versions(), sorted(k))
        st, p = self.fcgi(sock, "GET", "/api/products/%d" % pid)
        self.assertEqual((st, p["stock"]), (200, 3))
        # Now the database itself refuses reserved > stock.
        r = subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", self.name, "-e",
                            "UPDATE products SET reserved_stock = stock + 1"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("products_reserved_le_stock", r.stderr)

    def test_the_app_refuses_a_schema_without_an_expand_step_and_names_it(self):
        r = self.migrate("--to", "4", "--expand-only")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.versions(), [1, 2, 4])
        env = dict(self.env, LISTEN="unix:" + os.path.join(self.tmp, "s.sock"), PID_FILE=os.path.join(self.tmp, "pid"))
        r = subprocess.run([STOCKD, "serve"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        m = re.search(r"the schema lacks steps? ([0-9, ]+), which this build needs", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        missing = [int(x) for x in m.group(1).split(", ")]
        self.assertEqual(missing[0], 5, r.stderr)
        self.assertNotIn(3, missing, "0003 is a contract step: never required")
        self.assertIn("stockd migrate DIR --expand-only", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "s.sock")), "it must not have started serving")

    # --- (b) --to N, the positional N, --status --------------------------------

    def test_to_stops_at_n_and_status_lists_the_steps(self):
        r = self.migrate("--to", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.versions(), [1, 2])
        out = r.stdout + r.stderr
        self.assertIn("left pending as asked: 0003_reserved_le_stock.sql (contract), 0004_cart_activity.sql "
                      "(expand)", out)
        r = self.migrate("3")  # the older spelling of --to 3
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.versions(), [1, 2, 3])
        r = self.migrate("--status")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {ln.split()[0]: ln.split()[1:] for ln in r.stdout.splitlines()[1:]}
        self.assertEqual(rows["0002_stock_management.sql"][:3], ["expand", "applied", "needed"])
        self.assertEqual(rows["0003_reserved_le_stock.sql"][:3], ["contract", "applied", "optional"])
        self.assertEqual(rows["0004_cart_activity.sql"][:3], ["expand", "pending", "needed"])
        self.assertEqual(len(rows), len(kinds()))
        self.assertEqual(self.versions(), [1, 2, 3], "--status changes nothing")
        # Usage errors change nothing either.
        for bad in (["--to"], ["--to", "x"], ["--to", "0"], ["--status", "--to", "4"], ["--bogus"]):
            r = self.migrate(*bad)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
        self.assertEqual(self.versions(), [1, 2, 3])

    # --- (c) a step that fails halfway ---------------------------------------------

    def test_a_failing_step_reports_where_and_a_rerun_finishes_it(self):
        d = self.sql_copy()
        broken = os.path.join(d, "0099_itest_broken.sql")
        good = ("-- stockd-migration: expand\n-- a test step: three statements, the second broken at first\n"
                "CREATE TABLE IF NOT EXISTS itest_t (id INT NOT NULL PRIMARY KEY);\n\n"
                "ALTER TABLE itest_t\n  ADD COLUMN IF NOT EXISTS a INT NULL%s;\n"
                "INSERT INTO itest_t (id) SELECT 1 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM itest_t WHERE id = 1);\n")
        with open(broken, "w") as f:
            f.write(good % ",\n  ADD COLUMN b NOTATYPE")
        r = self.migrate(sql_dir=d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("migrate: 0099_itest_broken.sql failed at statement 2 of 3 "
                      "(ALTER TABLE itest_t ADD COLUMN IF NOT EXISTS a INT NULL, ADD COLUMN b NOTATYPE): ", r.stderr)
        self.assertIn("; statements 1..1 were applied and stay; version 99 is not recorded. Fix the cause and run "
                      "the same command again: every step is safe to re-run.", r.stderr)
        self.assertEqual(self.versions(), sorted(kinds()), "every step before it is recorded")
        self.assertEqual(self.sql("SHOW TABLES LIKE 'itest_t'"), [["itest_t"]], "statement 1 stays")
        with open(broken, "w") as f:
            f.write(good % "")
        r = self.migrate(sql_dir=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied 0099_itest_broken.sql (expand, 3 statements", r.stdout + r.stderr)
        self.assertEqual(self.versions(), sorted(kinds()) + [99])
        self.assertEqual(self.sql("SELECT id, a FROM itest_t"), [["1", "NULL"]])

    def test_a_failing_first_statement_says_nothing_was_applied(self):
        d = self.sql_copy()
        with open(os.path.join(d, "0099_itest_first.sql"), "w") as f:
            f.write("-- stockd-migration: contract\nALTER TABLE no_such_table ADD COLUMN x INT;\nSELECT 1;\n")
        r = self.migrate(sql_dir=d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("0099_itest_first.sql failed at statement 1 of 2 (ALTER TABLE no_such_table ADD COLUMN x INT)",
                      r.stderr)
        self.assertIn("no statement of it was applied; version 99 is not recorded", r.stderr)

    def test_every_shipped_step_is_safe_to_rerun(self):
        """Run every step a second time over its own work, as a re-run after a failure does: nothing fails and
        nothing is doubled (0002's ledger backfill opens each product once)."""
        r = self.migrate("--to", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sql("INSERT INTO products (sku, name, price_cents, stock) VALUES ('R-1', 'One', 100, 4), "
                 "('R-2', 'Two', 100, 0); INSERT INTO order_items VALUES (1, 1, 2, 100)")
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        ledger = self.sql("SELECT product_id, delta, reason FROM stock_receipts ORDER BY product_id")
        self.assertEqual(ledger, [["1", "6", "opening"], ["2", "0", "opening"]])
        schema = self.sql("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                          "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, ORDINAL_POSITION")
        # Forget every record: every file runs again, 0001 included (its tables are there, so it is
        # refused until recorded: that is the baseline's job).
        self.sql("DELETE FROM schema_migrations WHERE version > 1")
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.versions(), sorted(kinds()))
        self.assertEqual(self.sql("SELECT product_id, delta, reason FROM stock_receipts ORDER BY product_id"), ledger)
        self.assertEqual(self.sql("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                                  "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, ORDINAL_POSITION"), schema)

    def test_a_file_without_its_kind_is_refused_before_anything_runs(self):
        d = self.sql_copy()
        with open(os.path.join(d, "0099_itest_nokind.sql"), "w") as f:
            f.write("-- forgot the header\nCREATE TABLE itest_nokind (id INT);\n")
        r = self.migrate(sql_dir=d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("0099_itest_nokind.sql: its first line must be `-- stockd-migration: expand` or "
                      "`-- stockd-migration: contract`", r.stderr)
        self.assertEqual(self.versions(), [])
        self.assertEqual(self.sql("SHOW TABLES"), [])

    # --- (d) adopting an existing shop database ----------------------------------------

    def test_baseline_adopts_matching_legacy_tables(self):
        self.legacy_tables()
        # Without --baseline the runner does not take the tables unchecked.
        r = self.migrate()
        self.assertEqual(r.returncode, 1)
        self.assertIn("already exist but 0001_legacy_cart.sql is not recorded", r.stderr)
        self.assertIn("--baseline", r.stderr)
        self.assertEqual(self.versions(), [])
        r = self.migrate("--baseline")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("version 1 recorded without running it", r.stdout + r.stderr)
        self.assertEqual(self.versions(), [1])
        self.assertEqual(db("SHOW DATABASES LIKE '%s\\_baseline'" % self.name), [], "the scratch database is dropped")
        r = self.migrate("--baseline")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("already recorded", r.stdout + r.stderr)
        # Then the normal run takes it from 0002, and the legacy rows get their opening receipts.
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.versions(), sorted(kinds()))
        self.assertEqual(self.sql("SELECT p.sku, r.delta FROM stock_receipts r JOIN products p ON p.id = r.product_id "
                                  "ORDER BY p.sku"), [["L-1", "10"], ["L-2", "0"]])

    def test_baseline_refuses_changed_columns_and_lists_each(self):
        self.legacy_tables()
        self.sql("ALTER TABLE products MODIFY price_cents INT NOT NULL; ALTER TABLE orders DROP INDEX orders_cart;"
                 "ALTER TABLE carts ADD COLUMN coupon VARCHAR(20) NULL")
        r = self.migrate("--baseline")
        self.assertEqual(r.returncode, 1, r.stdout)
        diffs = sorted(re.findall(r"migrate: baseline:   (.*)", r.stderr))
        self.assertEqual(diffs, ["carts.coupon: not in 0001 (varchar(20))",
                                 "orders.cart_id: key is (none), 0001 has UNI",
                                 "products.price_cents: type is int(11), 0001 has bigint(20)"], r.stderr)
        self.assertIn("does not match 0001_legacy_cart.sql (3 differences above); nothing was changed", r.stderr)
        self.assertEqual(self.versions(), [])
        self.assertEqual(self.sql("SHOW TABLES LIKE 'schema_migrations'"), [])
        self.assertEqual(db("SHOW DATABASES LIKE '%s\\_baseline'" % self.name), [], "the scratch database is dropped")


if __name__ == "__main__":
    unittest.main()
