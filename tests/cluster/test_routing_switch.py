"""Scenario 6: the routing switch old -> canary 10 -> canary 50 -> new -> back to old, across both app hosts,
under load.

Single-writer. The storm of tests/faults/load.py runs through nginx while the bed's nginx is switched with the
project's own deploy/routing (the include rendered, `nginx -t`, a graceful reload, confirmed only once nginx
answers the state and no worker older than the reload still accepts). What a shop relies on:

- No 5xx and no dropped connection, during the switches or between them. The one 5xx of the contract here is
  503 `stock_management_disabled`: reserve and release served in legacy mode answer it and change nothing.
  The load (RoutingLoad) counts it as refused only when the answer says `X-Stock-Mode: legacy`, so the ledger
  keeps the cart's holds known and checks them; anywhere else it is a breach. nginx must not have hidden a
  failure either: no upstream error in its error log, no request it sent to both app hosts.
- Each cart on its side. An answer counts for a state when it was sent after deploy/routing confirmed that
  state and answered before the next switch began. In `old` every answer is legacy, in `new` every one stock;
  in a canary every cart keeps one mode whichever app host serves it (the X-Request-Id of an answer names the
  host in that host's own access log, which also logs the mode the app used), and a cart that was stock at
  canary 10 is still stock at canary 50. 100 probe carts are read in every state, by the X-Cart-Id header and
  by the cart_id cookie, so the split is exercised on a known set: about 10 % then about 50 % stock, the first
  among the second, each probe one mode on both hosts.
- Legacy carts keep working when they move to stock (carts acknowledged in legacy mode and later in stock
  mode), and after the rollback to `old` holds stay honest: carts that hold stock keep their holds in legacy
  mode (the load compares every view and its ledger with the tables), a product held in full by a stock-mode
  cart is refused to legacy carts by both app hosts (409 insufficient_stock, available 0), and the holder
  checks out in legacy mode from its own hold.
- Then, as every scenario ends: the ledger and the invariants on every node's tables, `stockd audit` on every
  node, identical checksums.
"""

import collections
import concurrent.futures
import sys

import clusterlib
from clusterlib import SingleWriterTest, Load, bed, lib, report
import bed as bedmod
from load import ACK, REFUSED

STATES = [("old",), ("canary", 10), ("canary", 50), ("new",), ("old",)]
THREADS = 8
CARTS_PER_THREAD = 8
PHASE_ANSWERS = 300   # answers of the load counted in each state before the next switch
PROBE_CARTS = 100
MIN_CARTS = 3         # load carts seen on each side of a canary, moved legacy -> stock, holding across the rollback
PHASE_TIMEOUT = 90
HELD_STOCK = 4


def label(state):
    return " ".join(str(x) for x in state)


def mode_of(resp):
    return resp.header("X-Stock-Mode") if resp is not None else None


def legacy_refusal(status, code, kind, mode):
    """503 stock_management_disabled: reserve or release served in legacy mode, nothing changed (docs/API.md)."""
    return status == 503 and code == "stock_management_disabled" and kind in ("reserve", "release") \
        and mode == "legacy"


class RoutingLoad(Load):
    """The fault suite's load, told the one 5xx answer of the contract that legacy mode gives (it changes
    nothing, so the cart's holds stay known to the ledger); the same answer in stock mode, or on another route,
    stays a breach for the load's own judge."""

    def _judge(self, a):
        if a.resp is not None and legacy_refusal(a.status, a.code, a.kind, mode_of(a.resp)):
            a.outcome = REFUSED
            return
        super()._judge(a)


def held(a):
    """Units the answer says the cart holds (a cart view's holds, or a hold answer's), 0 if it says none."""
    j = a.resp.json if a.resp is not None else None
    if not isinstance(j, dict):
        return 0
    if isinstance(j.get("items"), list):
        return sum(it.get("reserved", 0) for it in j["items"] if isinstance(it, dict))
    return j.get("reserved", 0) if isinstance(j.get("reserved"), int) else 0


class Phases:
    """The routing state each answer belongs to: phase 0 is the bed's `new` before the first switch, phase k the
    state of switch k, from the moment deploy/routing returned (confirmed) until the next switch began."""

    def __init__(self, t_load):
        self.list = [{"label": "new", "t0": t_load, "t_end": None}]

    def switched(self, state, t0, t1):
        self.list[-1]["t_end"] = t0
        self.list.append({"label": label(state), "t0": t1, "t_end": None})
        return len(self.list) - 1

    def of(self, t0, t1):
        for k, ph in enumerate(self.list):
            if t0 >= ph["t0"] and (ph["t_end"] is None or t1 <= ph["t_end"]):
                return k
        return None  # in flight while deploy/routing ran


def settled(load, phases):
    """[(phase, answer)] of the load's answers sent and answered within one state."""
    with load.lock:
        ans = list(load.answers)
    out = []
    for a in ans:
        k = phases.of(a.t0, a.t1)
        if k is not None:
            out.append((k, a))
    return out


def cart_modes(pairs, k):
    """{cart: {modes}} of the answers of phase k that name a cart."""
    out = collections.defaultdict(set)
    for kk, a in pairs:
        if kk == k and a.cid is not None and a.resp is not None:
            out[a.cid].add(mode_of(a.resp))
    return out


class RoutingSwitch(SingleWriterTest):

    def tearDown(self):
        # the other scenarios run in `new`, the bed's state
        b = bed()
        try:
            if b.routing_live() != "new":
                r, _s = b.routing("new")
                self.assertEqual(r.returncode, 0, "deploy/routing new after the scenario: %s %s" % (r.stdout,
                                                                                                    r.stderr))
        finally:
            super().tearDown()

    def switch(self, state, phases):
        b = bed()
        want = label(state)
        t0 = clusterlib.now()
        r, secs = b.routing(*state)
        t1 = clusterlib.now()
        self.assertEqual(r.returncode, 0, "deploy/routing %s: rc %d\n%s\n%s" % (want, r.returncode, r.stdout,
                                                                               r.stderr))
        self.assertEqual(r.stdout.strip().splitlines()[-1:], [want], "deploy/routing %s printed %r" % (want, r.stdout))
        self.assertEqual(b.routing_live(), want, "nginx does not answer the state deploy/routing confirmed")
        if r.stderr.strip():
            print("  deploy/routing %s said: %s" % (want, r.stderr.strip()), file=sys.stderr)
        k = phases.switched(state, t0, t1)
        return {"state": want, "phase": k, "seconds": secs}

    @staticmethod
    def probe(cids, k):
        """Read every probe cart twice in phase k: by the X-Cart-Id header and by the cart_id cookie."""
        def one(job):
            cid, via = job
            t0 = clusterlib.now()
            try:
                if via == "header":
                    r = lib.get("/api/cart/" + cid, headers={"X-Cart-Id": cid})
                else:
                    r = lib.get("/api/cart/" + cid, cookies={"cart_id": cid})
                return {"phase": k, "cart": cid, "via": via, "resp": r, "exc": None, "t0": t0}
            except Exception as e:  # a dropped connection: a failure, counted below
                return {"phase": k, "cart": cid, "via": via, "resp": None, "exc": e, "t0": t0}
        jobs = [(c, v) for c in cids for v in ("header", "cookie")]
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            return list(ex.map(one, jobs))

    def wait_phase(self, load, phases, k, extra=None, what=""):
        """Until PHASE_ANSWERS answers of the load fell in phase k (and extra(pairs) holds): bounded."""
        seen = {}

        def ready():
            pairs = settled(load, phases)
            seen["answers"] = sum(1 for kk, _a in pairs if kk == k)
            seen["extra"] = extra(pairs) if extra else None
            return seen["answers"] >= PHASE_ANSWERS and (extra is None or seen["extra"][0])
        t0 = clusterlib.now()
        try:
            bedmod.wait_until(ready, PHASE_TIMEOUT, 0.2, "%d answers of the load in %s%s" % (
                PHASE_ANSWERS, phases.list[k]["label"], what))
        except AssertionError as e:
            raise AssertionError("%s; had %s answers, %s; the load: %s" % (e, seen.get("answers"), seen.get("extra"),
                                                                          load.figures()))
        return clusterlib.now() - t0

    def test_old_canary_new_and_back_under_load(self):
        b = bed()
        stock = 3000
        self.assertEqual(b.routing_live(), "new", "the bed serves `new` between scenarios")
        products = clusterlib.hot_products(3, stock)
        held_pid = lib.make_product(stock=HELD_STOCK, price_cents=700)["id"]
        probes = [lib.new_cart() for _ in range(PROBE_CARTS)]
        err0, acc0 = b.size(b.log_path("error")), b.size(b.log_path("access"))
        app0 = clusterlib.access_offsets()
        # twice the fault suite's carts per thread: a cart then lives through more of the switches
        load = RoutingLoad(products, threads=THREADS, carts_per_thread=CARTS_PER_THREAD, max_seconds=300)
        probe_answers, switches, hold_probe = [], [], {}
        t_load = clusterlib.now()
        phases = Phases(t_load)
        load.start()
        try:
            load.wait_answers(200, 60)
            for i, state in enumerate(STATES):
                last = i == len(STATES) - 1
                if last:
                    # a stock-mode cart holds the whole of a product just before the rollback
                    hold_probe["holder"] = self.hold_all(held_pid)
                sw = self.switch(state, phases)
                switches.append(sw)
                k = sw["phase"]
                probe_answers += self.probe(probes, k)
                extra, what = None, ""
                if state[0] == "canary":
                    def extra(pairs, k=k):
                        modes = [m for m in cart_modes(pairs, k).values() if len(m) == 1]
                        st, lg = sum(m == {"stock"} for m in modes), sum(m == {"legacy"} for m in modes)
                        return st >= MIN_CARTS and lg >= MIN_CARTS, "%d stock and %d legacy carts" % (st, lg)
                    what = " and %d load carts on each side" % MIN_CARTS
                elif state == ("new",):
                    def extra(pairs, k=k):
                        n = len(self.moved_to_stock(load, pairs, phases, k))
                        return n >= MIN_CARTS, "%d carts" % n
                    what = " and %d carts acknowledged in legacy mode before, in stock mode now" % MIN_CARTS
                elif last:
                    def extra(pairs, k=k):
                        n = len(self.holding_across(pairs, k))
                        return n >= MIN_CARTS, "%d carts" % n
                    what = " and %d carts holding stock acknowledged in legacy mode" % MIN_CARTS
                sw["wait_seconds"] = self.wait_phase(load, phases, k, extra, what)
                if last:
                    hold_probe.update(self.refuse_held(held_pid, hold_probe["holder"], app0))
            t_end = clusterlib.now()
        finally:
            load.stop()
        phases.list[-1]["t_end"] = t_end

        with load.lock:
            answers = list(load.answers)
        pairs = settled(load, phases)
        f = load.figures()
        by_rid = clusterlib.served(app0)
        errs, retried = clusterlib.nginx_upstream_trouble(err0, acc0)

        # --- no 5xx, no dropped connection: the load's answers, the probes' ---------------------------
        legacy_503 = [a for a in answers if a.resp is not None and legacy_refusal(a.status, a.code, a.kind,
                                                                                   mode_of(a.resp))]
        contract_503 = {id(a) for a in legacy_503}
        fails = [a for a in answers if a.exc is not None or (a.status >= 500 and id(a) not in contract_503)]
        probe_fails = [p for p in probe_answers if p["exc"] is not None or p["resp"].status != 200]
        in_switch = [a for a in answers if phases.of(a.t0, a.t1) is None]
        bad_mode = [a for a in answers if a.resp is not None and mode_of(a.resp) not in ("legacy", "stock")]

        # --- each cart on its side -------------------------------------------------------------------------
        labels = [ph["label"] for ph in phases.list]
        per_phase = collections.Counter(k for k, _a in pairs)
        wrong_side, mixed, hosts = [], {}, collections.defaultdict(lambda: collections.defaultdict(set))
        log_disagrees = []
        for k, a in pairs:
            if a.resp is None:
                continue
            m = mode_of(a.resp)
            if labels[k] == "old" and m != "legacy" or labels[k] == "new" and m != "stock":
                wrong_side.append((labels[k], a))
            rid = a.resp.header("X-Request-Id")
            if rid in by_rid:
                host, e = by_rid[rid]
                if e.get("mode") != m:
                    log_disagrees.append((a, e))
                if a.cid is not None:
                    hosts[k][a.cid].add((host, m))
        for k, lb in enumerate(labels):
            if lb.startswith("canary"):
                mixed.update({(lb, c): sorted(ms) for c, ms in cart_modes(pairs, k).items() if len(ms) > 1})
        k10, k50 = labels.index("canary 10"), labels.index("canary 50")
        m10, m50 = cart_modes(pairs, k10), cart_modes(pairs, k50)
        demoted = [c for c in m10 if m10[c] == {"stock"} and c in m50 and m50[c] != {"stock"}]

        # the probes: one mode per cart and state, by header and by cookie, on both hosts
        probe_modes = collections.defaultdict(lambda: collections.defaultdict(set))
        for p in probe_answers:
            if p["resp"] is None:
                continue
            m = mode_of(p["resp"])
            probe_modes[p["phase"]][p["cart"]].add(m)
            rid = p["resp"].header("X-Request-Id")
            if rid in by_rid:
                host, e = by_rid[rid]
                if e.get("mode") != m:
                    log_disagrees.append((p, e))
                hosts[p["phase"]][p["cart"]].add((host, m))
        probe_stock = {}
        for sw in switches:
            k = sw["phase"]
            pm = probe_modes[k]
            probe_stock[sw["state"] + "@%d" % k] = sum(1 for ms in pm.values() if ms == {"stock"})
            mixed.update({(sw["state"] + " probe", c): sorted(ms) for c, ms in pm.items() if len(ms) > 1})
        p10 = {c for c, ms in probe_modes[k10].items() if ms == {"stock"}}
        p50 = {c for c, ms in probe_modes[k50].items() if ms == {"stock"}}
        both_hosts = {labels[k]: sum(1 for hs in hosts[k].values() if len({h for h, _m in hs}) == 2)
                      for k in (k10, k50)}
        moved = self.moved_to_stock(load, pairs, phases, labels.index("new", 1))
        holding = self.holding_across(pairs, len(labels) - 1)

        problems, facts = clusterlib.verify_everywhere(load, stock)
        problems += self.held_product_everywhere(held_pid, hold_probe)

        report("routing_switch", requests=f["requests"], acked_writes=f["acked_writes"],
               switch_seconds=" ".join("%s:%.2f" % (sw["state"].replace(" ", ""), sw["seconds"]) for sw in switches),
               switch_max_seconds=max(sw["seconds"] for sw in switches),
               answers_per_state=" ".join("%s:%d" % (lb.replace(" ", ""), per_phase.get(k, 0))
                                          for k, lb in enumerate(labels)),
               answers_while_switching=len(in_switch), failed=len(fails), legacy_503_reserve_release=len(legacy_503),
               probe_requests=len(probe_answers), probe_failed=len(probe_fails),
               probes_stock=" ".join("%s:%d" % (s.replace(" ", ""), n) for s, n in probe_stock.items()),
               carts_on_both_hosts=" ".join("%s:%d" % (s.replace(" ", ""), n) for s, n in both_hosts.items()),
               carts_legacy_then_stock=len(moved), carts_holding_across_rollback=len(holding),
               held_refusals_by_host=hold_probe.get("refused_by"), nginx_upstream_errors=len(errs),
               nginx_retried=len(retried), acked_changes_verified=facts["acked_changes"],
               orders=facts["orders_in_db"])
        for a in fails[:10]:
            print("  failed: %r" % a)
        for x in (errs + retried)[:10]:
            print("  nginx: %s" % x)

        self.assertEqual([repr(a) for a in fails[:10]], [], "5xx or no answer while switching (%d)" % len(fails))
        self.assertEqual(["%s %s: %r" % (p["cart"][:8], p["via"], p["resp"] if p["resp"] is not None else p["exc"])
                          for p in probe_fails[:10]], [], "probe reads that failed")
        self.assertEqual(errs[:5] + retried[:5], [], "nginx met failures of the app hosts (and may have hidden them)")
        self.assertEqual([repr(a) for a in bad_mode[:5]], [], "answers without X-Stock-Mode legacy|stock")
        self.assertEqual(["%s %r" % (lb, a) for lb, a in wrong_side[:10]], [], "answers in the wrong mode for the state")
        self.assertEqual(mixed, {}, "carts that changed mode within a canary state")
        self.assertEqual(demoted, [], "load carts stock at canary 10, legacy at canary 50")
        self.assertEqual(sorted(p10 - p50), [], "probe carts stock at canary 10, legacy at canary 50")
        self.assertEqual([repr(x) for x in log_disagrees[:5]], [], "the app's access log says another mode")
        for s, n in probe_stock.items():
            st = s.split("@")[0]
            if st == "old":
                self.assertEqual(n, 0, "probe carts in stock mode in %s" % s)
            elif st == "new":
                self.assertEqual(n, PROBE_CARTS, "probe carts in stock mode in %s" % s)
        # split_clients on random cart ids: binomial(100, p); outside these bounds is not the canary asked for
        self.assertTrue(1 <= len(p10) <= 30, "probe carts in stock mode at canary 10: %d of %d" % (len(p10), PROBE_CARTS))
        self.assertTrue(25 <= len(p50) <= 75, "probe carts in stock mode at canary 50: %d of %d" % (len(p50), PROBE_CARTS))
        for s, n in both_hosts.items():
            self.assertGreaterEqual(n, 10, "carts served by both app hosts in %s (stickiness across hosts)" % s)
        for k, lb in enumerate(labels):
            self.assertGreaterEqual(per_phase.get(k, 0), PHASE_ANSWERS if k else 100, "load answers in %s" % lb)
        self.assertGreaterEqual(len(moved), MIN_CARTS)
        self.assertGreaterEqual(len(holding), MIN_CARTS)
        self.assertEqual(set(hold_probe.get("refused_by", {})), {a.name for a in b.apps},
                         "legacy checkouts of the held product refused by both app hosts")
        self.assertNoProblems(problems, "ledger and audit on every node")

    # --- the pieces ---------------------------------------------------------------------------------------

    @staticmethod
    def moved_to_stock(load, pairs, phases, k):
        """Load carts acknowledged in legacy mode before phase k began (a settled state or a switch: the answer's
        X-Stock-Mode says which), and acknowledged in stock mode in phase k."""
        with load.lock:
            ans = list(load.answers)
        before = {a.cid for a in ans if a.cid and a.outcome == ACK and a.t1 <= phases.list[k]["t0"]
                  and mode_of(a.resp) == "legacy"}
        return {a.cid for kk, a in pairs if kk == k and a.cid in before and a.outcome == ACK
                and mode_of(a.resp) == "stock"}

    @staticmethod
    def holding_across(pairs, k):
        """Load carts acknowledged in legacy mode in phase k (after the rollback) with a hold in the answer: legacy
        mode never holds (reserve is refused, add ignores decrease_stock), so these are holds made in stock mode
        before the rollback, still there. The load compares each of them with what it acknowledged, and the
        ledger with the tables."""
        return {a.cid for kk, a in pairs if kk == k and a.cid and a.outcome == ACK and mode_of(a.resp) == "legacy"
                and held(a) > 0}

    def hold_all(self, pid):
        """In `new`: a cart holds every unit of pid (stock mode)."""
        cid = lib.new_cart()
        r = lib.add(cid, pid, HELD_STOCK, dec=True)
        self.assertEqual((r.status, mode_of(r)), (200, "stock"), r)
        it = lib.item(r.json, pid)
        self.assertEqual((it["quantity"], it["reserved"]), (HELD_STOCK, HELD_STOCK), r)
        p = lib.product(pid)
        self.assertEqual((p["stock"], p["reserved"], p["available"]), (HELD_STOCK, HELD_STOCK, 0), p)
        return cid

    def refuse_held(self, pid, holder, app0):
        """In `old` after the rollback: legacy carts asking for the held product are refused, until each app host
        refused one (at most 20 carts); then the holder checks out in legacy mode from its own hold."""
        refused_by = collections.Counter()
        for _ in range(20):
            c = lib.new_cart()
            r = lib.add(c, pid, 2)
            self.assertEqual((r.status, mode_of(r)), (200, "legacy"), r)
            r = lib.checkout(c)
            self.assertEqual((r.status, mode_of(r)), (409, "legacy"), r)
            err = lib.api_error(r, 409, "insufficient_stock")
            self.assertEqual(err.get("items"), [{"product_id": pid, "requested": 2, "available": 0}], r)
            rid = r.header("X-Request-Id")
            # the app writes its access line just after the answer: wait for it (bounded)
            served = bedmod.wait_until(lambda: clusterlib.served(app0).get(rid), 10, 0.05,
                                       "an app host's access line for request %s" % rid)
            refused_by[served[0]] += 1
            if len(refused_by) == len(bed().apps):
                break
        r = lib.checkout(holder)
        self.assertEqual((r.status, mode_of(r)), (201, "legacy"), r)
        self.assertEqual(r.json["items"], [{"product_id": pid, "quantity": HELD_STOCK, "price_cents": 700}], r)
        p = lib.product(pid)
        self.assertEqual((p["stock"], p["reserved"], p["available"]), (0, 0, 0), p)
        return {"refused_by": dict(refused_by), "holder_order": r.json["order_id"]}

    @staticmethod
    def held_product_everywhere(pid, hold_probe):
        """The held product on every node: all of it sold, to the holder's order only, nothing held."""
        problems = []
        want = [["0", "0", "0", str(HELD_STOCK), str(hold_probe.get("holder_order")), hold_probe.get("holder", "")]]
        q = ("SELECT p.stock, p.reserved_stock, (SELECT COUNT(*) FROM stock_holds h WHERE h.product_id=p.id), "
             "(SELECT COALESCE(SUM(oi.quantity),0) FROM order_items oi WHERE oi.product_id=p.id), "
             "(SELECT GROUP_CONCAT(oi.order_id) FROM order_items oi WHERE oi.product_id=p.id), "
             "(SELECT GROUP_CONCAT(o.cart_id) FROM orders o JOIN order_items oi ON oi.order_id=o.id "
             "WHERE oi.product_id=p.id) FROM products p WHERE p.id=%d" % pid)
        for n in bed().dbs:
            got = n.sql(q, db=bedmod.DB_NAME)
            if got != want:
                problems.append("%s: held product %d: %s, expected %s" % (n.name, pid, got, want))
        return problems
