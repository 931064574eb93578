"""The database goes away and comes back: prompt 503s, health vs readiness, recovery without a restart.

Runs just before test_master (see run.py): it stops and starts MariaDB.
"""

import os
import uuid

from lib import (STACK_DIR, StockdTest, add, admin_stock, api_error, app_pid, cart, checkout, db, get, hold_qty,
                 line_qty, make_product, metrics, new_cart, ok, post, product, release, remove, reserve, stack,
                 wait_until, worker_pids)


class DbOutage(StockdTest):
    def test_outage_and_recovery(self):
        p = make_product(stock=10)
        pid = p["id"]
        cid = new_cart()
        ok(add(cid, pid, 1, dec=True))
        master = app_pid()
        key = {"Idempotency-Key": "outage-" + uuid.uuid4().hex}
        stack("db-stop")
        try:
            for name, call in [
                    ("product", lambda: get("/api/products/%d" % pid)),
                    ("stock", lambda: get("/api/stock?ids=%d" % pid)),
                    ("cart view", lambda: get("/api/cart/" + cid)),
                    ("create cart", lambda: post("/api/cart")),
                    ("add", lambda: add(cid, pid, 1, dec=True)),
                    ("add with key", lambda: add(cid, pid, 1, dec=True, headers=key)),
                    ("remove", lambda: remove(cid, pid, 1, inc=True)),
                    ("reserve", lambda: reserve(cid, pid, 1)),
                    ("release", lambda: release(cid, pid)),
                    ("checkout", lambda: checkout(cid)),
                    ("admin stock", lambda: admin_stock(pid, delta=1)),
                    ("admin create", lambda: post("/api/admin/products",
                                                  {"sku": uuid.uuid4().hex, "name": "x", "price_cents": 1,
                                                   "stock": 1})),
                    ("audit", lambda: get("/api/admin/audit")),
                    ("legacy add", lambda: add(cid, pid, 1, mode="legacy"))]:
                with self.subTest(name):
                    r = call()
                    api_error(r, 503, "database_unavailable")
                    self.assertLess(r.elapsed, 5.0, "503 must be prompt")
            # the app logs the failed request under nginx's request id
            rid = r.header("X-Request-Id")
            self.assertTrue(rid)
            wait_until(lambda: rid in open(os.path.join(STACK_DIR, "log", "stockd.log"), errors="replace").read(), 5,
                       what="request id %s in the app log" % rid)
            r = get("/readyz")
            self.assertEqual(r.status, 503, r)
            self.assertLess(r.elapsed, 5.0)
            self.assertEqual(get("/healthz").status, 200)
            self.assertIn("stockd_workers", metrics())
            # shape is checked first and needs no database: a bad request is still a 400
            for name, call in [("add quantity 0", lambda: add(cid, pid, 0)),
                               ("reserve not an object", lambda: post("/api/stock/reserve", [])),
                               ("product id malformed", lambda: add(cid, "1", 1))]:
                with self.subTest(name):
                    api_error(call(), 400, "invalid_request")
        finally:
            stack("db-start")
        # back within ~10 s, same master, no restart
        wait_until(lambda: get("/readyz").status == 200, 10, 0.2, "readyz 200 after db-start")
        wait_until(lambda: get("/api/products/%d" % pid).status == 200, 10, 0.2, "product 200 after db-start")
        self.assertEqual(app_pid(), master)
        for _ in range(20):  # every worker has its connection back
            ok(get("/api/products/%d" % pid))
            ok(get("/api/cart/" + cid))
        # nothing was changed during the outage
        self.assertEqual((line_qty(cid, pid), hold_qty(cid, pid)), (1, 1))
        self.assertEqual((product(pid)["stock"], product(pid)["reserved"]), (10, 1))
        # the 503 under the key was not stored: the retry does the work now
        ok(add(cid, pid, 1, dec=True, headers=key))
        self.assertEqual((line_qty(cid, pid), hold_qty(cid, pid)), (2, 2))
        ok(checkout(cid), 201)
        self.assertEqual(cart(cid)["status"], "checked_out")
        self.assertEqual(product(pid)["stock"], 8)


class ClosedWhileIdle(StockdTest):
    """The server closes the app's idle connections (a restart, a KILL, wait_timeout): the next request on
    each worker reconnects first. A reserve's first statement is the CALL that holds and commits, and a
    connection found dead only by it would leave the outcome unknown (a 503 never retried); an audit's
    statements run outside a transaction, with no rerun."""

    def kill_idle_app_connections(self, cid, pid, workers):
        # Every worker has a connection, left by a reserve's transaction (autocommit off: its next
        # transaction sends no statement before the CALL)
        for _ in range(3 * workers):
            ok(reserve(cid, pid, 1))
        killed = 0
        for (conn_id,) in db("SELECT ID FROM information_schema.PROCESSLIST"
                             " WHERE USER <> 'root' AND USER <> 'system user' AND COMMAND = 'Sleep'"):
            db("KILL CONNECTION %s" % conn_id)
            killed += 1
        self.assertGreaterEqual(killed, 2, "the app's idle connections")

    def test_reserve_and_audit_after_the_server_closed_idle_connections(self):
        pid = make_product(stock=1000)["id"]
        cid = new_cart()
        workers = len(worker_pids())
        self.kill_idle_app_connections(cid, pid, workers)
        for i in range(3 * workers):  # every worker's first transaction after the kill, and more
            r = reserve(cid, pid, 1)
            self.assertEqual(r.status, 200, "reserve %d after the kill: %r" % (i, r))
        self.kill_idle_app_connections(cid, pid, workers)
        for i in range(3 * workers):
            r = get("/api/admin/audit")
            self.assertEqual(r.status, 200, "audit %d after the kill: %r" % (i, r))
        self.assertEqual(hold_qty(cid, pid), 9 * workers)
        self.assertEqual(product(pid)["reserved"], 9 * workers)
