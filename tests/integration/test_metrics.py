"""GET /metrics, GET /status and the JSON access log: what the migration plan watches.

Other modules run in the same stack before this one, so every check compares a delta before/after,
never an absolute value. Nothing else talks to the stack while a test runs, so request counters are
compared exactly. The tests run in name order: a (a known mix of requests), b (a worker killed),
c (hold expiry), d (abandonment), e (database outage), f (the periodic audit), g (/status), h (the
access log).
"""

import json
import os
import re
import signal
import threading
import time
from collections import Counter

from lib import (wchan, HEX32, MAX_ID, STACK_DIR, TS_RE, StockdTest, add, api_error, checkout, conf, db, db_int,
                 db_lock_product, expire_holds, get, make_product, metric, metrics, new_cart, ok, post,
                 refuse_answers, release, reserve, run_threads, stack, sweeper_asleep, sweeper_replaced, wait_until,
                 worker_pids)

_LABELS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")
PROBES = ("metrics", "status", "healthz", "readyz")


# --- helpers ---------------------------------------------------------------------

def series(m, name):
    """[(labels, value)] of the series called `name`."""
    out = []
    for key, v in m.items():
        n, _, rest = key.partition("{")
        if n == name:
            out.append((dict(_LABELS.findall(rest)), v))
    return out


def deltas(m0, m1, name, keys, skip=None):
    """{tuple of label values for `keys`: delta} over every series of `name` in m0 or m1, zeros left out."""
    out = Counter()
    for m, sign in ((m1, 1), (m0, -1)):
        for labels, v in series(m, name):
            if skip and skip(labels):
                continue
            out[tuple(labels.get(k) for k in keys)] += sign * v
    return {k: v for k, v in out.items() if v != 0}


def d(m0, m1, name, **labels):
    return metric(m1, name, **labels) - metric(m0, name, **labels)


def le_value(le):
    return float("inf") if le == "+Inf" else float(le)


def check_histogram(test, m, name, need=("0.001", "2"), **labels):
    """Cumulative buckets, non-decreasing in le, +Inf equal to _count, the bounds `need` among them
    (request durations: 1 ms and 2 s)."""
    want = {k: str(v) for k, v in labels.items()}
    buckets = sorted(((le_value(lb["le"]), lb["le"], v) for lb, v in series(m, name + "_bucket")
                      if {k: lb.get(k) for k in want} == want), key=lambda b: b[0])
    test.assertTrue(buckets, "no %s_bucket%s" % (name, labels))
    les = [b[1] for b in buckets]
    for le in need:
        test.assertIn(le, les, "no bucket le=%s: %s" % (le, les))
    test.assertEqual(les[-1], "+Inf")
    counts = [b[2] for b in buckets]
    test.assertEqual(counts, sorted(counts), "buckets not cumulative: %s" % list(zip(les, counts)))
    count = metric(m, name + "_count", **labels)
    test.assertEqual(counts[-1], count, "+Inf bucket != _count for %s" % labels)
    return dict(zip(les, counts))


def status(full=False):
    return ok(get("/status?full" if full else "/status"))


def sweeps(m=None):
    return metric(m if m is not None else metrics(), "stockd_sweeps_total")


def wait_sweeps(n, timeout=30):
    """Wait until n more sweeps have completed (SWEEP_INTERVAL is 500 ms in the test stack)."""
    target = sweeps() + n
    wait_until(lambda: sweeps() >= target, timeout, 0.1, "%d more sweeps" % n)


def live_hold_units():
    return db_int("SELECT COALESCE(SUM(quantity), 0) FROM stock_holds WHERE expires_at_ms > %d"
                  % int(time.time() * 1000))


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


ACCESS_LOG = os.path.join(STACK_DIR, "log", "access.log")
APP_LOG = os.path.join(STACK_DIR, "log", "stockd.log")
NGINX_LOG = os.path.join(STACK_DIR, "log", "nginx-access.log")


def access_lines(request_id):
    """The JSON access-log lines carrying this request id."""
    out = []
    for line in read_text(ACCESS_LOG).splitlines():
        if request_id in line:
            out.append(json.loads(line))
    return out


def unknown_id(n=0):
    return MAX_ID - 7 - n


class Metrics(StockdTest):
    # --- 1. a known mix, exact per route, method, mode and status ------------------

    def test_a_request_mix_is_counted_exactly(self):
        p = make_product(stock=100)["id"]
        small = make_product(stock=2)["id"]
        p2 = make_product(stock=20)["id"]
        sent = []  # (route, method, mode, status) of every request of the mix, as the answers said
        rids = []
        lock = threading.Lock()

        def note(route, mode, r):
            self.assertEqual(r.header("X-Stock-Mode"), mode, r)
            with lock:
                sent.append((route, r.method, mode, str(r.status)))
                rids.append(r.header("X-Request-Id"))
            return r

        m0 = metrics()
        # two carts, one per mode
        r = note("cart_create", "stock", post("/api/cart", mode="stock"))
        ca = ok(r, 201)["cart_id"]
        r = note("cart_create", "legacy", post("/api/cart", mode="legacy"))
        cb = ok(r, 201)["cart_id"]
        # 7 product reads and 3 unknown products, ten at once so that every worker takes some
        gets = ["/api/products/%d" % p] * 7 + ["/api/products/%d" % unknown_id(i) for i in range(3)]

        def read(i):
            r = note("product_get", "stock", get(gets[i], mode="stock"))
            if i < 7:
                ok(r)
            else:
                api_error(r, 404, "product_not_found")
        run_threads(len(gets), read)
        # stock mode: 5 adds that hold, 2 refused for stock
        for _ in range(5):
            ok(note("cart_add", "stock", add(ca, p, 1, dec=True, mode="stock")))
        for _ in range(2):
            api_error(note("cart_add", "stock", add(ca, small, 5, dec=True, mode="stock")), 409, "insufficient_stock")
        # legacy mode: 4 adds, 2 reserves refused (stock management is off for legacy carts)
        for _ in range(4):
            ok(note("cart_add", "legacy", add(cb, p, 1, mode="legacy")))
        for _ in range(2):
            api_error(note("stock_reserve", "legacy", reserve(cb, p, 1, mode="legacy")), 503,
                      "stock_management_disabled")
        # a hold of 3 released again, then both carts checked out (ca's 5 held units are sold from the hold)
        self.assertEqual(ok(note("stock_reserve", "stock", reserve(ca, p2, 3, mode="stock")))["reserved"], 3)
        ok(note("stock_release", "stock", release(ca, p2, mode="stock")))
        ok(note("cart_checkout", "stock", checkout(ca, mode="stock")), 201)
        ok(note("cart_checkout", "legacy", checkout(cb, mode="legacy")), 201)
        m1 = metrics()

        expected = {
            ("cart_create", "POST", "stock", "201"): 1,
            ("cart_create", "POST", "legacy", "201"): 1,
            ("product_get", "GET", "stock", "200"): 7,
            ("product_get", "GET", "stock", "404"): 3,
            ("cart_add", "POST", "stock", "200"): 5,
            ("cart_add", "POST", "stock", "409"): 2,
            ("cart_add", "POST", "legacy", "200"): 4,
            ("stock_reserve", "POST", "legacy", "503"): 2,
            ("stock_reserve", "POST", "stock", "200"): 1,
            ("stock_release", "POST", "stock", "200"): 1,
            ("cart_checkout", "POST", "stock", "201"): 1,
            ("cart_checkout", "POST", "legacy", "201"): 1,
        }
        self.assertEqual(dict(Counter(sent)), expected, "the answers themselves")
        # the scrapes themselves (route metrics) are the only other requests
        is_probe = lambda lb: lb.get("route") in PROBES  # noqa: E731
        self.assertEqual(deltas(m0, m1, "stockd_requests_total", ("route", "method", "mode", "status"), is_probe),
                         expected)

        # duration histograms: one observation per request, per route and mode
        per_route = Counter()
        for (route, _, mode, _), n in expected.items():
            per_route[(route, mode)] += n
        self.assertEqual(deltas(m0, m1, "stockd_request_duration_seconds_count", ("route", "mode"), is_probe),
                         dict(per_route))
        for (route, mode), n in per_route.items():
            with self.subTest(histogram=(route, mode)):
                b1 = check_histogram(self, m1, "stockd_request_duration_seconds", route=route, mode=mode)
                b0 = {lb["le"]: v for lb, v in series(m0, "stockd_request_duration_seconds_bucket")
                      if lb["route"] == route and lb["mode"] == mode}
                inc = [b1[le] - b0.get(le, 0) for le in b1]
                self.assertEqual(inc, sorted(inc), "bucket deltas not cumulative: %s" % inc)
                self.assertEqual(inc[-1], n)
                took = d(m0, m1, "stockd_request_duration_seconds_sum", route=route, mode=mode)
                self.assertGreater(took, 0)
                self.assertLess(took, n * 30)

        # add-to-cart attempts by result and mode (all six series are always exported)
        adds = {(lb["mode"], lb["result"]): v for lb, v in series(m1, "stockd_cart_add_total")}
        self.assertEqual(set(adds), {(m, r) for m in ("legacy", "stock")
                                     for r in ("ok", "insufficient_stock", "error")})
        self.assertEqual(deltas(m0, m1, "stockd_cart_add_total", ("mode", "result")),
                         {("stock", "ok"): 5, ("stock", "insufficient_stock"): 2, ("legacy", "ok"): 4})
        # stock-aware calls: stock mode 5 + 2 adds moving stock, reserve, release, checkout, all answered
        # below 500; legacy mode the 2 reserves answered 503
        self.assertEqual(deltas(m0, m1, "stockd_stock_api_requests_total", ("mode", "result")),
                         {("stock", "ok"): 10, ("legacy", "failure"): 2})
        # holds, in units: 5 + 3 held, 3 released, 5 sold from the hold; legacy mode never holds
        holds = deltas(m0, m1, "stockd_hold_units_total", ("mode", "event"))
        self.assertEqual({k: v for k, v in holds.items() if not k[1].startswith("expired")},
                         {("stock", "created"): 8, ("stock", "released"): 3, ("stock", "converted"): 5})
        self.assertEqual({k: v for k, v in holds.items() if k[0] == "legacy"}, {})
        # carts
        self.assertEqual(deltas(m0, m1, "stockd_carts_created_total", ("mode",)), {("stock",): 1, ("legacy",): 1})
        self.assertEqual(deltas(m0, m1, "stockd_carts_checked_out_total", ("mode",)),
                         {("stock",): 1, ("legacy",): 1})
        # the database: statement latency observed, a histogram like the others
        self.assertGreater(d(m0, m1, "stockd_db_statement_duration_seconds_count"), len(sent))
        check_histogram(self, m1, "stockd_db_statement_duration_seconds", need=("0.001",))
        self.assertEqual(d(m0, m1, "stockd_db_errors_total"), 0)
        # no counter went down
        for key, v in m0.items():
            if key.split("{")[0].endswith(COUNTER_SUFFIXES):
                self.assertGreaterEqual(m1.get(key, -1), v, key)

        # several workers served the mix (the access log names the pid of each request)
        pids = set()
        for rid in rids:
            lines = wait_until(lambda: access_lines(rid), 10, what="request %s in the access log" % rid)
            pids.add(lines[0]["pid"])
        self.assertGreaterEqual(len(pids), 2, "one worker served everything: %s" % pids)
        self.assertTrue(pids <= {w["pid"] for w in status(full=True)["processes"]} | set(worker_pids()), pids)

    # --- 2. a worker killed: nothing lost ------------------------------------------

    def test_b_killed_worker_loses_no_counts(self):
        p = make_product(stock=10)["id"]
        for _ in range(8):  # something for every worker to have counted
            ok(get("/api/products/%d" % p, mode="stock"))
        children = worker_pids()
        st = status(full=True)
        idle = [w["pid"] for w in st["processes"] if w["state"] == "idle" and w["pid"] in children]
        self.assertTrue(idle, st)
        # an idle request worker waits in accept(); the sweeper (also a child) is not in /status at all
        waiting = [pid for pid in idle if "accept" in wchan(pid) or wchan(pid) in ("__skb_wait_for_more_packets",
                                                                                   "inet_csk_accept")]
        victim = (waiting or idle)[0]
        m0 = metrics()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in worker_pids() and len(worker_pids()) == len(children), 20, 0.1,
                   "the pool back to %d children" % len(children))
        wait_until(lambda: status()["idle"] >= st["workers"] - 1, 20, 0.1, "the new worker to be idle")
        m1 = metrics()
        self.assertEqual(d(m0, m1, "stockd_worker_restarts_total", cause="crash"), 1)
        self.assertEqual(d(m0, m1, "stockd_worker_restarts_total", cause="recycle"), 0)
        self.assertEqual(d(m0, m1, "stockd_worker_restarts_total", cause="timeout"), 0)
        for key, v in m0.items():
            if key.split("{")[0].endswith(COUNTER_SUFFIXES):
                with self.subTest(counter=key):
                    self.assertIn(key, m1)
                    self.assertGreaterEqual(m1[key], v)
        self.assertEqual(m1["stockd_workers"], m0["stockd_workers"])
        # new requests are still counted, whichever worker (the new one included) takes them
        for _ in range(6):
            ok(get("/api/products/%d" % p, mode="stock"))
        m2 = metrics()
        self.assertEqual(d(m1, m2, "stockd_requests_total", route="product_get", mode="stock", status="200"), 6)
        self.assertEqual(d(m1, m2, "stockd_request_duration_seconds_count", route="product_get", mode="stock"), 6)

    # --- 3. expiry: swept and lazy ------------------------------------------------

    def test_c_expired_holds_are_counted(self):
        p = make_product(stock=20)["id"]
        q = make_product(stock=20)["id"]
        # holds of others that could expire during this test (normally none)
        others = db_int("SELECT COALESCE(SUM(quantity), 0) FROM stock_holds WHERE expires_at_ms < %d"
                        % (int(time.time() * 1000) + 120000))
        wait_sweeps(2)
        m0 = metrics()
        base_units = m0["stockd_holds_active_units"]
        base_rows = m0["stockd_holds_active"]
        cid = new_cart(mode="stock")
        ok(add(cid, p, 3, dec=True, mode="stock"))
        ok(reserve(cid, q, 2, mode="stock"))
        # the gauges, as of the next sweep: the live holds in the database
        wait_until(lambda: metric(metrics(), "stockd_holds_active_units") == live_hold_units(), 20, 0.1,
                   "stockd_holds_active_units to match the live holds")
        m1 = metrics()
        if others == 0:
            self.assertEqual(m1["stockd_holds_active_units"], base_units + 5)
            self.assertEqual(m1["stockd_holds_active"], base_rows + 2)
        else:
            self.assertGreaterEqual(m1["stockd_holds_active_units"], base_units + 5 - others)
        # expired behind the service's back: the sweep (every 500 ms) reclaims them
        expire_holds(cid)

        def expired():
            m = metrics()
            return m if (d(m1, m, "stockd_hold_units_total", event="expired_sweep")
                         + d(m1, m, "stockd_hold_units_total", event="expired_lazy")) >= 5 else None
        wait_until(expired, 20, 0.1, "the 5 expired units to be counted")
        wait_until(lambda: metric(metrics(), "stockd_holds_active_units") == live_hold_units(), 20, 0.1,
                   "stockd_holds_active_units to match the live holds")
        m2 = metrics()
        grew = (d(m1, m2, "stockd_hold_units_total", event="expired_sweep")
                + d(m1, m2, "stockd_hold_units_total", event="expired_lazy"))
        self.assertGreaterEqual(grew, 5)
        self.assertLessEqual(grew, 5 + others)
        self.assertEqual(d(m1, m2, "stockd_hold_units_total", event="released"), 0)
        self.assertLessEqual(m2["stockd_holds_active_units"], base_units)
        self.assertGreaterEqual(m2["stockd_holds_active_units"], base_units - others)
        self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % cid), 0)

        # lazily: with the sweep out of the way, the next transaction on the product reclaims the
        # expired hold, counted under that request's mode
        old = wait_until(sweeper_asleep, 10, 0.05, "the sweeper")
        with conf(SWEEP_INTERVAL=600000):
            sweeper_replaced(old)
            ok(add(cid, p, 2, dec=True, mode="stock"))
            expire_holds(cid, p)
            other = new_cart(mode="stock")
            m3 = metrics()
            ok(reserve(other, p, 1, mode="stock"))
            m4 = metrics()
            self.assertEqual(d(m3, m4, "stockd_hold_units_total", mode="stock", event="expired_lazy"), 2)
            self.assertEqual(d(m3, m4, "stockd_hold_units_total", mode="stock", event="created"), 1)
            self.assertEqual(d(m3, m4, "stockd_hold_units_total", event="expired_sweep"), 0)
            ok(release(other, p, mode="stock"))

    # --- 4. abandonment -----------------------------------------------------------------

    def test_d_abandoned_carts_are_counted_once(self):
        p = make_product(stock=50)["id"]
        with conf(STOCK_RESERVATION_TIMEOUT=1500):
            # Carts earlier tests left open with lines are idle too: let the sweeper count them first.
            wait_until(lambda: db_int("SELECT COUNT(*) FROM carts c WHERE c.status='open' AND c.abandoned_at IS NULL"
                                      " AND EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id=c.id)") == 0,
                       30, 0.2, "earlier open carts to be counted as abandoned")
            wait_sweeps(2)
            m0 = metrics()
            stock_cart = new_cart(mode="stock")
            ok(add(stock_cart, p, 1, dec=True, mode="stock"))
            legacy_cart = new_cart(mode="legacy")
            ok(add(legacy_cart, p, 1, mode="legacy"))
            bought = new_cart(mode="stock")
            ok(add(bought, p, 1, dec=True, mode="stock"))
            ok(checkout(bought, mode="stock"), 201)
            legacy_bought = new_cart(mode="legacy")
            ok(add(legacy_bought, p, 1, mode="legacy"))
            ok(checkout(legacy_bought, mode="legacy"), 201)
            empty = new_cart(mode="stock")  # no lines: nothing to abandon

            def counted():
                m = metrics()
                return m if (d(m0, m, "stockd_carts_abandoned_total", mode="stock") >= 1
                             and d(m0, m, "stockd_carts_abandoned_total", mode="legacy") >= 1) else None
            wait_until(counted, 30, 0.2, "both idle carts counted as abandoned")
            wait_sweeps(3)  # later sweeps do not count them again
            m1 = metrics()
            self.assertEqual(deltas(m0, m1, "stockd_carts_abandoned_total", ("mode",)),
                             {("stock",): 1, ("legacy",): 1})
            marked = dict(db("SELECT id, abandoned_at IS NOT NULL FROM carts WHERE id IN ('%s')"
                             % "','".join([stock_cart, legacy_cart, bought, legacy_bought, empty])))
            self.assertEqual(marked, {stock_cart: "1", legacy_cart: "1", bought: "0", legacy_bought: "0",
                                      empty: "0"})
            # the stock cart's hold expired with the same timeout and was reclaimed
            wait_until(lambda: db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % stock_cart) == 0,
                       20, 0.2, "the abandoned cart's hold reclaimed")

    # --- 5. database outage ------------------------------------------------------------

    def test_e_database_outage_shows(self):
        p = make_product(stock=10)["id"]
        cid = new_cart(mode="stock")
        ok(add(cid, p, 1, dec=True, mode="stock"))
        for _ in range(8):  # every worker has a database connection to lose
            ok(get("/api/products/%d" % p, mode="stock"))
        m0 = metrics()
        stack("db-stop")
        try:
            calls = [lambda: add(cid, p, 1, dec=True, mode="stock"),
                     lambda: reserve(cid, p, 1, mode="stock"),
                     lambda: checkout(cid, mode="stock")]
            for call in calls * 2:
                api_error(call(), 503, "database_unavailable")
            m1 = metrics()  # /metrics needs no database
            self.assertEqual(d(m0, m1, "stockd_stock_api_requests_total", mode="stock", result="failure"), 6)
            self.assertEqual(d(m0, m1, "stockd_stock_api_requests_total", result="ok"), 0)
            self.assertEqual(d(m0, m1, "stockd_cart_add_total", mode="stock", result="error"), 2)
            for route in ("cart_add", "stock_reserve", "cart_checkout"):
                self.assertEqual(d(m0, m1, "stockd_requests_total", route=route, mode="stock", status="503"), 2, route)

            # each worker that had a connection finds it lost: keep calling until one has counted it
            def errors():
                if d(m0, metrics(), "stockd_db_errors_total") > 0:
                    return True
                api_error(reserve(cid, p, 1, mode="stock"), 503, "database_unavailable")
                return False
            wait_until(errors, 20, 0.05, "stockd_db_errors_total to grow during the outage")
            self.assertEqual(get("/readyz").status, 503)
        finally:
            stack("db-start")
        wait_until(lambda: get("/readyz").status == 200, 30, 0.2, "readyz 200 after db-start")
        m2 = metrics()

        # every worker back on the database: a run of answers without a 503
        run = [0]

        def recovered():
            r = get("/api/products/%d" % p, mode="stock")
            run[0] = run[0] + 1 if r.status == 200 else 0
            return run[0] >= 12
        wait_until(recovered, 30, 0.05, "12 answers in a row after the outage")
        ok(add(cid, p, 1, dec=True, mode="stock"))
        m3 = metrics()
        self.assertGreater(d(m0, m3, "stockd_db_connects_total"), 0)
        self.assertGreaterEqual(d(m2, m3, "stockd_stock_api_requests_total", mode="stock", result="ok"), 1)

    # --- 6. the periodic audit ---------------------------------------------------------------

    def test_f_broken_invariant_shows_within_an_audit_period(self):
        """Every audit that begins after a breach reports it, and so the breach shows within the
        larger of AUDIT_INTERVAL and an audit's length, plus two audits' length: the audit under way
        may have passed the product already, and the audit rests nine times as long as each of its
        statements took (docs/monitoring.md), so on a slow or cold database it outlasts the
        interval. Each audit's start and end come from /metrics."""
        p = make_product(stock=10)["id"]
        period = 2.0
        walks = []  # (runs, seconds, end) of every audit seen: the bound and the failure message

        def audit_wait(pred, since, what):
            """Poll until pred(metrics); fail when an audit that began after `since` (wall clock)
            ended without it, twice in a row (a page read while an audit ends may be torn)."""
            deadline, missed = time.monotonic() + 60, 0
            while True:
                m = metrics()
                walk = (m["stockd_audit_runs_total"], m["stockd_audit_last_duration_seconds"],
                        m["stockd_audit_last_run_timestamp_seconds"])
                if not walks or walks[-1][0] != walk[0]:
                    walks.append(walk)
                if pred(m):
                    return m
                missed = missed + 1 if walk[0] > 0 and walk[2] - walk[1] > since else 0
                if missed >= 2 or time.monotonic() > deadline:
                    tail = [l for l in open(os.path.join(STACK_DIR, "log", "stockd.log")).read().splitlines()[-400:]
                            if re.search(r"audit|sweep|reload|database|lock", l)][-30:]
                    self.fail("%s: %s after %.1f s (audits as (runs, seconds, end): %s)\n%s" % (
                        what, "an audit that began after it ended without it" if missed else "no answer",
                        time.time() - since, walks, "\n".join(tail)))
                time.sleep(0.1)

        with conf(AUDIT_INTERVAL=int(period * 1000)):
            m0 = metrics()
            self.assertEqual(m0["stockd_audit_problems"], 0)
            runs0 = m0["stockd_audit_runs_total"]
            audit_wait(lambda m: m["stockd_audit_runs_total"] >= runs0 + 1, time.time(), "an audit to run")
            m = metrics()
            last0 = m["stockd_audit_last_run_timestamp_seconds"]
            self.assertLess(abs(last0 - time.time()), 3 * period + 5)
            self.assertGreater(m["stockd_audit_last_duration_seconds"], 0)
            broken = False
            try:
                # reserved without a hold behind it (invariant 2), still within the CHECKs (reserved <= stock)
                db("UPDATE products SET reserved_stock = reserved_stock + 1 WHERE id=%d" % p)
                broken = True
                t0 = time.time()
                m1 = audit_wait(lambda m: m["stockd_audit_problems"] >= 1, t0, "stockd_audit_problems >= 1")
                seen, before = walks[-1], walks[-2]
                bound = before[1] + max(period, before[1]) + seen[1] + 1.0  # 1 s: the polls of both sides
                print("\n  audit: a breach seen %.1f s after it (bound %.1f s: AUDIT_INTERVAL %.0f s, audits of %.2f and %.2f s)"
                      % (seen[2] - t0, bound, period, before[1], seen[1]), end="")
                self.assertLess(seen[2] - t0, bound)
                self.assertGreater(m1["stockd_audit_last_run_timestamp_seconds"], last0)
                self.assertGreater(m1["stockd_audit_runs_total"], runs0)
                self.assertIn("reserved_mismatch", {x["code"] for x in api_error_free_audit()["problems"]})
            finally:
                if broken:
                    db("UPDATE products SET reserved_stock = reserved_stock - 1 WHERE id=%d" % p)
            audit_wait(lambda m: m["stockd_audit_problems"] == 0, time.time(),
                       "stockd_audit_problems back to 0 after the repair")

    # --- 7. /status and what the operator pages never show ---------------------------

    def test_g_status_page_and_no_cart_ids(self):
        p = make_product(stock=5)["id"]
        cid = new_cart(mode="stock")
        ok(add(cid, p, 1, dec=True, mode="stock"))
        m = metrics()
        s = status()
        for k in ("workers", "busy", "idle", "accepted", "max_active", "slow_requests"):
            self.assertIsInstance(s.get(k), int, k)
        self.assertEqual(s["pool"], "stockd")
        self.assertEqual(s["workers"], m["stockd_workers"])
        self.assertGreaterEqual(s["busy"], 1, "the worker answering /status is busy")
        self.assertLessEqual(s["busy"] + s["idle"], s["workers"] + 1)  # + a worker of a reload, at most
        self.assertGreaterEqual(s["max_active"], 1)
        self.assertEqual(sorted(s["restarts"]), ["crash", "recycle", "timeout"])
        for cause, n in s["restarts"].items():
            self.assertEqual(n, metric(m, "stockd_worker_restarts_total", cause=cause), cause)
        self.assertNotIn("processes", s)
        self.assertGreater(status()["accepted"], s["accepted"])
        full = status(full=True)
        procs = full["processes"]
        self.assertGreaterEqual(len(procs), full["workers"])
        for w in procs:
            self.assertIsInstance(w.get("pid"), int, w)
            self.assertIn(w.get("state"), ("starting", "idle", "busy", "stopping"), w)
            self.assertIsInstance(w.get("requests"), int, w)
        self.assertTrue({w["pid"] for w in procs} <= set(worker_pids()), (procs, worker_pids()))

        # while a request for the cart is in flight (held up on the product's row lock), the pages show
        # its route, never its cart
        lock = db_lock_product(p, 1.2)
        result = []
        try:
            time.sleep(0.3)  # the lock is taken
            t = threading.Thread(target=lambda: result.append(add(cid, p, 1, dec=True, mode="stock")))
            t.start()

            def in_flight():
                procs = status(full=True)["processes"]
                return [w for w in procs if w.get("route") == "cart_add"] or None
            busy = wait_until(in_flight, 5, 0.05, "the add to show as busy in /status?full")
            self.assertEqual(busy[0]["state"], "busy")
            self.assertIsInstance(busy[0]["request_ms"], int)
            pages = {"/status": get("/status"), "/status?full": get("/status?full"), "/metrics": get("/metrics")}
            t.join(30)
        finally:
            lock.wait(30)
        ok(result[0])
        for path, r in pages.items():
            with self.subTest(page=path):
                self.assertEqual(r.status, 200, r)
                self.assertNotIn(cid, r.text)
                self.assertIsNone(HEX32.search(r.text), "a 32-hex id in %s" % path)
        self.assertTrue(pages["/metrics"].header("Content-Type").startswith("text/plain; version=0.0.4"),
                        pages["/metrics"].header("Content-Type"))

        # Operator pages: loopback, or the admin token. Through nginx every request comes from loopback, so
        # a wrong token changes nothing here (loopback wins); the 403 `forbidden` for another REMOTE_ADDR
        # is checked in the security tests, which speak FastCGI to the app directly.
        for path in ("/metrics", "/status"):
            r = get(path, headers={"Authorization": "Bearer wrong"})
            self.assertEqual(r.status, 200, r)

    # --- 8. the JSON access log --------------------------------------------------------------

    def test_g2_no_galera_shows_as_such(self):
        # The sweeper samples its node every round (SWEEP_INTERVAL=500 ms here): a plain MariaDB is no cluster.
        m = wait_until(lambda: (lambda m: m if "stockd_db_galera" in m else None)(metrics()), 10, 0.1,
                       "the sweeper's first sample of the node")
        self.assertEqual(m["stockd_db_galera"], 0)
        self.assertFalse([k for k in m if k.startswith("stockd_galera_")], "no cluster figures without Galera")
        self.assertIsNone(status()["cluster"])
        # the page reads the scoreboard: a scrape runs no statement of its own
        before = metric(metrics(), "stockd_db_statement_duration_seconds_count")
        for _ in range(3):
            metrics()
            status()
        self.assertEqual(metric(metrics(), "stockd_db_statement_duration_seconds_count"), before)

    def test_h_access_log(self):
        p = make_product(stock=5)["id"]
        cid = new_cart(mode="stock")
        other = new_cart(mode="legacy")
        calls = {
            "add": add(cid, p, 1, dec=True, mode="stock"),
            "view": get("/api/cart/%s" % cid, mode="stock", headers={"X-Cart-Id": cid}),
            "other": add(other, p, 1, mode="legacy"),
            "product": get("/api/products/%d" % p, mode="legacy"),
        }
        lines = {}
        for name, r in calls.items():
            ok(r)
            rid = r.header("X-Request-Id")
            self.assertRegex(rid or "", r"^[0-9a-f]{32}$", r)
            got = wait_until(lambda: access_lines(rid), 10, 0.1, "request %s in %s" % (rid, ACCESS_LOG))
            self.assertEqual(len(got), 1, got)
            lines[name] = got[0]
        workers = set(worker_pids())
        for name, (method, route, mode) in {"add": ("POST", "cart_add", "stock"),
                                            "view": ("GET", "cart_get", "stock"),
                                            "other": ("POST", "cart_add", "legacy"),
                                            "product": ("GET", "product_get", "legacy")}.items():
            line = lines[name]
            with self.subTest(line=name):
                self.assertTrue({"time", "request_id", "method", "route", "status", "duration_ms", "mode", "cart",
                                 "pid", "db_retries"} <= set(line), line)
                self.assertRegex(line["time"], TS_RE)
                self.assertEqual((line["method"], line["route"], line["status"], line["mode"]),
                                 (method, route, 200, mode))
                self.assertIsInstance(line["duration_ms"], (int, float))
                self.assertGreaterEqual(line["duration_ms"], 0)
                self.assertIn(line["pid"], workers)
                self.assertIsInstance(line["db_retries"], int)
                self.assertGreaterEqual(line["db_retries"], 0)
        # the cart is named by a stable 16-hex digest, never by its id
        self.assertRegex(lines["add"]["cart"], r"^[0-9a-f]{16}$")
        self.assertEqual(lines["add"]["cart"], lines["view"]["cart"], "one cart, one digest")
        self.assertNotEqual(lines["add"]["cart"], lines["other"]["cart"])
        self.assertIsNone(lines["product"]["cart"])
        # nginx logs the same request id; no log has a raw cart id
        nginx = read_text(NGINX_LOG)
        self.assertIn(calls["view"].header("X-Request-Id"), nginx)
        for path in (ACCESS_LOG, APP_LOG, NGINX_LOG):
            text = read_text(path)
            for c in (cid, other):
                self.assertNotIn(c, text, "cart id in %s" % path)

    # --- 9. only what committed counts, once ----------------------------------------------

    def test_i_only_committed_changes_count(self):
        p = make_product(stock=10)["id"]
        cid = new_cart(mode="stock")
        m0 = metrics()
        # the change ran, then storing its Idempotency-Key answer failed: rolled back, so not counted
        with refuse_answers("fail-count-"):
            api_error(add(cid, p, 2, dec=True, mode="stock", headers={"Idempotency-Key": "fail-count-" + cid}),
                      500, "internal_error")
            api_error(post("/api/cart", mode="stock", headers={"Idempotency-Key": "fail-count-c" + cid}),
                      500, "internal_error")
        m1 = wait_until(lambda: (lambda m: m if d(m0, m, "stockd_requests_total", route="cart_create", status="500")
                                 == 1 else None)(metrics()), 10, 0.05, "the failed requests' accounting")
        self.assertEqual(d(m0, m1, "stockd_requests_total", route="cart_add", status="500"), 1)
        self.assertEqual(d(m0, m1, "stockd_hold_units_total", mode="stock", event="created"), 0, "no hold committed")
        self.assertEqual(d(m0, m1, "stockd_carts_created_total"), 0, "no cart committed")
        self.assertEqual(d(m0, m1, "stockd_cart_add_total", mode="stock", result="ok"), 0)
        self.assertEqual(db_int("SELECT COUNT(*) FROM stock_holds WHERE cart_id='%s'" % cid), 0)
        # an add answered, then replayed twice: one add, two units held, once
        k = {"Idempotency-Key": "count-once-" + cid}
        first = add(cid, p, 2, dec=True, mode="stock", headers=k)
        ok(first)
        for _ in range(2):
            self.assertEqual(add(cid, p, 2, dec=True, mode="stock", headers=k).body, first.body)
        m2 = wait_until(lambda: (lambda m: m if d(m1, m, "stockd_requests_total", route="cart_add", status="200")
                                 == 3 else None)(metrics()), 10, 0.05, "the adds' accounting")
        self.assertEqual(d(m1, m2, "stockd_cart_add_total", mode="stock", result="ok"), 1, "a replay adds nothing")
        self.assertEqual(d(m1, m2, "stockd_hold_units_total", mode="stock", event="created"), 2)


def api_error_free_audit():
    """GET /api/admin/audit, expecting problems (StockdTest.tearDown checks it is clean at the end)."""
    r = get("/api/admin/audit")
    assert r.status == 200, r
    return r.json
