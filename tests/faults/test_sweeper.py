"""The sweeper killed mid-sweep, over and over, with a second sweeper started by mistake.

Many products have holds made expired behind the service's back. Two masters
run against the one database (the stack's, and a second `stockd serve` on its
own socket: two sweepers), requests reclaim lazily at the same time, and every
sweeper seen reclaiming is SIGKILLed. No hold may be released twice: each
product's reserved_stock must end equal to the sum of its live holds, which
must be exactly the holds that never expired plus the reserves acknowledged
meanwhile.
"""

import collections
import os
import random
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from faultlib import DbSession, FaultTest, SecondMaster, alive, lib, now, report, sleeping, sweeper_of

N_PRODUCTS = 400       # one sweep reclaims them one product per transaction: long enough to be cut short
EXPIRED_QTY = 2        # one expiring hold of 2 units on every product
LIVE_EVERY = 4         # and a live hold of 1 unit on every 4th
KILL_SECONDS = 8
MAX_KILLS = 14


def expired_left(pids_sql, session=None):
    sql = ("SELECT COUNT(*) FROM stock_holds WHERE product_id IN (%s) AND expires_at_ms <= %d"
           % (pids_sql, lib.now_ms()))
    return session.int(sql) if session is not None else lib.db_int(sql)


class Sweeper(FaultTest):
    def test_sweeper_killed_mid_sweep_and_a_second_sweeper(self):
        with ThreadPoolExecutor(8) as ex:
            pids = list(ex.map(lambda i: lib.make_product(stock=10, price_cents=100)["id"], range(N_PRODUCTS)))
            e_carts = list(ex.map(lambda i: lib.new_cart(), range(20)))
            l_carts = list(ex.map(lambda i: lib.new_cart(), range(10)))
            jobs = [(e_carts[i % 20], pid, EXPIRED_QTY) for i, pid in enumerate(pids)]
            jobs += [(l_carts[i % 10], pid, 1) for i, pid in enumerate(pids) if i % LIVE_EVERY == 0]
            for r in ex.map(lambda j: lib.reserve(*j), jobs):
                lib.ok(r)
        pids_sql = ",".join(map(str, pids))
        # the holds that must survive: (cart, product) -> units
        expect = {(l_carts[i % 10], pid): 1 for i, pid in enumerate(pids) if i % LIVE_EVERY == 0}
        unsure = set()
        master = lib.app_pid()
        m0 = lib.metrics()
        second_log = os.path.join(lib.STACK_DIR, "log", "second.log")
        second_log_at = os.path.getsize(second_log) if os.path.exists(second_log) else 0
        second = SecondMaster(workers=1)
        stop = threading.Event()
        lazy = collections.Counter()

        def lazy_client():
            # reserves racing the sweepers on the same products: each reclaims that product's expired holds
            rnd = random.Random(7)
            carts = [lib.new_cart() for _ in range(6)]
            used = collections.defaultdict(int)
            while not stop.is_set():
                cid = rnd.choice([c for c in carts if used[c] < 90] or [lib.new_cart()])
                if cid not in carts:
                    carts.append(cid)
                pid = rnd.choice(pids)
                if (cid, pid) in expect or (cid, pid) in unsure:
                    continue
                try:
                    r = lib.reserve(cid, pid, 1)
                except OSError:
                    unsure.add((cid, pid))
                    continue
                used[cid] += 1
                lazy[r.status] += 1
                if r.status == 200 and r.json.get("reserved") == 1:
                    expect[(cid, pid)] = 1
                elif r.status >= 500:
                    unsure.add((cid, pid))
                else:
                    lazy["unexpected"] += 1
                    unsure.add((cid, pid))
                time.sleep(0.02)

        kills, killed = [], set()
        try:
            # expire every E hold at once, behind the service's back (as the clock would: each product's
            # next_expiry_ms, a lower bound of its holds' expiries, moves back with them)
            total_expired = lib.back_dated_holds("product_id IN (%s) AND cart_id IN (%s)" % (
                pids_sql, ",".join("'%s'" % c for c in e_carts)), lib.now_ms() - 1000)
            t_exp = now()
            self.assertEqual(total_expired, N_PRODUCTS)
            lz = threading.Thread(target=lazy_client)
            lz.start()
            last = total_expired
            with DbSession() as session:
                while now() - t_exp < KILL_SECONDS and len(kills) < MAX_KILLS:
                    left = expired_left(pids_sql, session)
                    if left == 0:
                        break
                    progressing = left < last  # someone is reclaiming right now
                    last = left
                    if progressing:
                        # a sweeper that is not asleep between sweeps is in the middle of one
                        for who, sw in (("stack", sweeper_of(master)), ("second", second.sweeper())):
                            # A sweeper just killed still shows, not asleep, until its exit is done: a kill
                            # counts once per process, and only if the process was still there to take it.
                            if sw is None or sw in killed or sleeping(sw):
                                continue
                            try:
                                os.kill(sw, signal.SIGKILL)
                            except ProcessLookupError:
                                continue
                            killed.add(sw)
                            kills.append((who, sw, left))
                    time.sleep(0.005)
            t_kills = now() - t_exp
            # then let them (and the lazy client) finish; a killed sweeper comes back after the crash back-off
            lib.wait_until(lambda: expired_left(pids_sql) == 0, 60, 0.2, "every expired hold reclaimed")
            t_done = now() - t_exp
            stop.set()
            lz.join(30)
        finally:
            stop.set()
            left_procs = second.stop()
        self.assertEqual(left_procs, [], "the second master's children outlived it")
        self.assertFalse(alive(second.pid))
        self.assertEqual(lib.app_pid(), master)
        self.assertEqual(lazy["unexpected"], 0, lazy)
        self.assertGreaterEqual(len(kills), 5, "sweepers seen reclaiming and killed: %s" % kills)
        self.assertTrue(any(0 < left < total_expired for _, _, left in kills), kills)
        # no hold released twice: what is held is exactly what should be, and reserved says the same
        rows = lib.db("SELECT cart_id, product_id, quantity FROM stock_holds WHERE product_id IN (%s)" % pids_sql)
        have = {(c, int(p)): int(q) for c, p, q in rows}
        for k in unsure:
            have.pop(k, None)
        self.assertEqual(have, expect)
        self.assertEqual(lib.db_consistency(pids), [])
        per_product = collections.Counter()
        for (c, p), q in expect.items():
            per_product[p] += q
        for k in unsure:
            per_product[k[1]] += lib.hold_qty(*k)
        reserved = {int(p): int(r) for p, r in lib.db("SELECT id, reserved_stock FROM products WHERE id IN (%s)"
                                                      % pids_sql)}
        self.assertEqual(reserved, {p: per_product.get(p, 0) for p in pids})
        self.assertEqual(lib.db_int("SELECT COUNT(*) FROM products WHERE id IN (%s) AND stock <> 10" % pids_sql), 0)
        lib.audit_ok()
        m1 = lib.metrics()
        swept_stack = lib.metric(m1, "stockd_hold_units_total", event="expired_sweep") - \
            lib.metric(m0, "stockd_hold_units_total", event="expired_sweep")
        lazily = lib.metric(m1, "stockd_hold_units_total", event="expired_lazy") - \
            lib.metric(m0, "stockd_hold_units_total", event="expired_lazy")
        swept_second = 0
        with open(second.log, errors="replace") as f:
            f.seek(second_log_at)
            for m in re.finditer(r"sweep: (\d+) expired units released", f.read()):
                swept_second += int(m.group(1))
        report("sweeper", products=N_PRODUCTS, expired_units=N_PRODUCTS * EXPIRED_QTY, kills=len(kills),
               kills_stack=sum(1 for k in kills if k[0] == "stack"),
               kills_second=sum(1 for k in kills if k[0] == "second"), kill_phase_s=t_kills, all_reclaimed_s=t_done,
               lazy_reserves_acked=lazy[200], lazy_unsure=len(unsure),
               counted_sweep_stack=int(swept_stack), counted_sweep_second=swept_second, counted_lazy=int(lazily),
               live_holds_checked=len(expect))
