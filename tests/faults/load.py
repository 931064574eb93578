"""The fault scenarios' shared write load, and its client-side ledger.

K client threads (bounded in number and in time) send reserve, release,
add (decrease_stock), remove (increase_stock), checkout and cart reads on
many carts and a few hot products. Each cart belongs to one thread, so its
requests are sequential and the client can keep an exact model of it:

- an acknowledged (2xx) answer says what the cart is now: an add or remove
  returns the whole cart view, a reserve or release the cart's hold on the
  product, a checkout the order (the cart is then closed and holds nothing);
- a refused answer (4xx, or the app's 503 when no fault was in the air)
  changed nothing;
- an unanswered request (a 502 from a killed worker, a dropped connection,
  a 503 in flight while the fault struck) may or may not have committed: the
  fields it could touch become unknown until an acknowledged answer tells
  them again (every write locks the cart row first, so a later acknowledged
  answer is ordered after it). An unanswered checkout is retried until it
  answers, as a shop's client would: 201/200 tells the order, a 409 on an
  open cart tells it never happened.

`verify()` then compares the model with the tables and recomputes the
invariants from them: reserved == SUM(holds), SUM(receipts) == stock +
SUM(sold), every acknowledged order is there with its lines, no order for a
cart whose checkout was never attempted, no half-applied checkout.
"""

import collections
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import lib  # noqa: E402

ACK, REFUSED, UNSURE = "ack", "refused", "unsure"

# Answers a correct service may give this load whatever happens.
CONTRACT_4XX = {(404, "item_not_in_cart"), (409, "insufficient_stock"), (409, "cart_closed"), (409, "cart_empty"),
                (409, "quantity_limit")}
BUSY_MSG = "busy"  # the 503 after lock-conflict retries says so ("stayed busy with conflicting changes")


class Answer:
    __slots__ = ("kind", "cid", "pid", "t0", "t1", "status", "code", "message", "exc", "outcome", "resp")

    def __init__(self, kind, cid, pid, t0, t1, resp=None, exc=None):
        self.kind, self.cid, self.pid, self.t0, self.t1 = kind, cid, pid, t0, t1
        self.resp, self.exc = resp, exc
        self.status = resp.status if resp is not None else None
        err = resp.error if resp is not None else None
        self.code = err.get("code") if err else None
        self.message = err.get("message", "") if err else ""
        self.outcome = None

    @property
    def db_down(self):
        return self.status == 503 and self.code == "database_unavailable" and BUSY_MSG not in self.message

    def __repr__(self):
        what = "%s" % self.exc if self.exc is not None else repr(self.resp)
        return "<%s cart=%s pid=%s t=%.3f..%.3f %s>" % (self.kind, (self.cid or "")[:8], self.pid, self.t0, self.t1,
                                                         what[:300])


class Cart:
    """What the client knows about one of its carts."""

    def __init__(self, cid):
        self.cid = cid
        self.status = "open"          # "open" | "checked_out" | None (an unanswered checkout)
        self.lines = {}               # pid -> quantity (absent: 0)
        self.holds = {}               # pid -> units held (absent: 0)
        self.unsure_lines = set()     # pids whose line an unanswered request may have changed
        self.unsure_holds = set()
        self.checkout_attempted = False
        self.order = None             # the acknowledged order: {"order_id", "items", "total_cents"}
        self.acked = 0                # acknowledged changes to this cart
        self.last_ack = 0.0           # monotonic time of the last one

    def from_view(self, view):
        self.status = view["status"]
        self.lines = {it["product_id"]: it["quantity"] for it in view["items"] if it["quantity"] > 0}
        self.holds = {it["product_id"]: it["reserved"] for it in view["items"] if it["reserved"] > 0}
        self.unsure_lines.clear()
        self.unsure_holds.clear()


class Load:
    """Start with `start()`, stop with `stop()`; may be started again (same carts, same ledger)."""

    def __init__(self, products, threads=8, carts_per_thread=4, max_seconds=120, seed=None, qty_max=3):
        self.products = list(products)
        self.nthreads = threads
        self.carts_per_thread = carts_per_thread
        self.max_seconds = max_seconds
        self.qty_max = qty_max
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.lock = threading.Lock()
        self.answers = []             # every request's fate, in completion order
        self.carts = {}               # cid -> Cart: every cart ever acknowledged as created
        self.owned = [[] for _ in range(threads)]  # open carts per thread
        self.bad = []                 # contract breaches seen on the wire (str)
        self.fault_windows = []       # [t0, t1] (monotonic) when an injected fault was in the air
        self.extra_allowed = set()    # (status, code) this scenario expects besides the contract's 4xx
        self.stop_event = threading.Event()
        self.threads = []
        self.prices = {}
        self.deadline = None
        self.started_at = None
        self.resolved = collections.Counter()  # how unanswered checkouts turned out, once retried

    # --- control ----------------------------------------------------------

    def start(self):
        if not self.prices:
            for pid in self.products:
                self.prices[pid] = lib.product(pid)["price_cents"]
        self.stop_event.clear()
        self.started_at = self.started_at or time.monotonic()
        self.deadline = time.monotonic() + self.max_seconds
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.nthreads)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, "%d load threads still running a minute after stop" % len(alive)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fault(self, t0, t1=None):
        """Declare [t0, t1] as a time a fault was in the air (t1 None: still open; close with end_fault)."""
        w = [t0, t1]
        with self.lock:
            self.fault_windows.append(w)
        return w

    @staticmethod
    def end_fault(w, t1=None):
        w[1] = t1 if t1 is not None else time.monotonic()

    def wait_answers(self, n, timeout=30):
        """Wait until at least n more answers came in (the load is making progress)."""
        with self.lock:
            target = len(self.answers) + n
        lib.wait_until(lambda: len(self.answers) >= target, timeout, 0.05, "%d more answers from the load" % n)

    # --- one request --------------------------------------------------------

    def _in_fault(self, t0, t1):
        for a, b in self.fault_windows:
            if t1 >= a and (b is None or t0 <= b):
                return True
        return False

    def _send(self, kind, cid, pid, call):
        t0 = time.monotonic()
        try:
            r = call()
            a = Answer(kind, cid, pid, t0, time.monotonic(), resp=r)
        except Exception as e:  # a dropped connection, a timeout: no answer
            a = Answer(kind, cid, pid, t0, time.monotonic(), exc=e)
        if a.exc is not None:
            a.outcome = UNSURE
        elif 200 <= a.status < 300:
            a.outcome = ACK
        elif 400 <= a.status < 500:
            a.outcome = REFUSED
        elif a.status == 503 and a.code == "database_unavailable" and not self._in_fault(a.t0, a.t1):
            # the app says nothing was changed, and no fault could have cut a COMMIT short
            a.outcome = REFUSED
        else:
            a.outcome = UNSURE
        self._judge(a)
        with self.lock:
            self.answers.append(a)
        if a.status is not None and a.status >= 500 or a.exc is not None:
            time.sleep(0.02)  # no busy loop against a service that is down
        return a

    def _judge(self, a):
        """Record answers the contract does not allow for this scenario."""
        if a.exc is not None:
            if "exception" not in self.extra_allowed:
                self._bad("no answer: %r" % a)
            return
        r = a.resp
        if a.status in (200, 201):
            if r.json is None or r.error is not None:
                self._bad("2xx without a JSON body: %r" % a)
            return
        if r.error is None or not a.message:
            self._bad("error without the contract's JSON shape: %r" % a)
            return
        key = (a.status, a.code)
        if key in CONTRACT_4XX or key in self.extra_allowed:
            return
        if key == (503, "database_unavailable") and BUSY_MSG in a.message:
            return  # lock conflicts outlasted the retries: a contract answer, nothing changed
        self._bad("unexpected answer: %r" % a)

    def _bad(self, msg):
        with self.lock:
            if len(self.bad) < 200:
                self.bad.append(msg)

    # --- the client ---------------------------------------------------------

    def _new_cart(self, i):
        a = self._send("create", None, None, lambda: lib.post("/api/cart"))
        if a.outcome != ACK:
            return None
        cid = a.resp.json.get("cart_id") if a.status == 201 else None
        if not (isinstance(cid, str) and lib.HEX32.fullmatch(cid)):
            self._bad("cart creation answered %r" % a)
            return None
        c = Cart(cid)
        with self.lock:
            if cid in self.carts:
                self._bad("cart id %s handed out twice" % cid)
            self.carts[cid] = c
            self.owned[i].append(c)
        return c

    def _running(self):
        return not self.stop_event.is_set() and time.monotonic() < self.deadline

    def _client(self, i):
        rnd = random.Random(self.seed * 1000 + i + len(self.answers))
        while self._running():
            while len(self.owned[i]) < self.carts_per_thread and self._running():
                if self._new_cart(i) is None:
                    break
            if not self.owned[i]:
                continue
            c = rnd.choice(self.owned[i])
            if c.status is None:
                self._checkout(c)  # resolve an unanswered checkout before anything else
            else:
                self._step(c, rnd)
            if c.status == "checked_out":
                self.owned[i].remove(c)

    def _step(self, c, rnd):
        pid = rnd.choice(self.products)
        op = rnd.random()
        q = rnd.randint(1, self.qty_max)
        if op < 0.25:
            dec = rnd.random() < 0.75
            a = self._send("add", c.cid, pid, lambda: lib.add(c.cid, pid, q, dec=dec))
            self._after_view(c, a, pid, lines=True)
        elif op < 0.40:
            qty = rnd.choice([None, 1, 2])
            inc = rnd.random() < 0.75
            a = self._send("remove", c.cid, pid, lambda: lib.remove(c.cid, pid, qty, inc=inc))
            self._after_view(c, a, pid, lines=True)
        elif op < 0.60:
            a = self._send("reserve", c.cid, pid, lambda: lib.reserve(c.cid, pid, q))
            self._after_hold(c, a, pid)
        elif op < 0.75:
            qty = rnd.choice([None, 1, 2])
            a = self._send("release", c.cid, pid, lambda: lib.release(c.cid, pid, qty))
            self._after_hold(c, a, pid)
        elif op < 0.85:
            if c.lines or c.unsure_lines:
                self._checkout(c)
        else:
            a = self._send("view", c.cid, None, lambda: lib.get("/api/cart/" + c.cid, headers={"X-Cart-Id": c.cid}))
            if a.outcome == ACK:
                self._compare_view(c, a)

    def _ack(self, c):
        c.acked += 1
        c.last_ack = time.monotonic()

    def _closed_unexpectedly(self, c, a):
        if a.status == 409 and a.code == "cart_closed":
            if c.status == "open":
                self._bad("cart_closed for a cart whose checkout never committed as far as the client knows: %r" % a)
            c.status = None  # learn the order through a checkout retry

    def _after_view(self, c, a, pid, lines):
        if a.outcome == ACK:
            v = a.resp.json
            if v.get("cart_id") != c.cid or not isinstance(v.get("items"), list):
                self._bad("not this cart's view: %r" % a)
                return
            c.from_view(v)
            self._ack(c)
        elif a.outcome == REFUSED:
            self._closed_unexpectedly(c, a)
        else:
            c.unsure_lines.add(pid)
            c.unsure_holds.add(pid)

    def _after_hold(self, c, a, pid):
        if a.outcome == ACK:
            j = a.resp.json
            if j.get("cart_id") != c.cid or j.get("product_id") != pid or not isinstance(j.get("reserved"), int):
                self._bad("not this cart's hold: %r" % a)
                return
            if j["reserved"] > 0:
                c.holds[pid] = j["reserved"]
            else:
                c.holds.pop(pid, None)
            c.unsure_holds.discard(pid)
            c.status = "open"
            self._ack(c)
        elif a.outcome == REFUSED:
            self._closed_unexpectedly(c, a)
        else:
            c.unsure_holds.add(pid)

    def _checkout(self, c):
        c.checkout_attempted = True
        pending = c.status is None
        a = self._send("checkout", c.cid, None, lambda: lib.checkout(c.cid))
        if pending and (a.outcome == ACK or a.status == 409 and a.code in ("cart_empty", "insufficient_stock")):
            with self.lock:
                # 200: the unanswered one had committed; 201 or a 409 on an open cart: it had not
                self.resolved["committed" if a.status == 200 else "not_committed"] += 1
        if a.outcome == ACK:
            o = a.resp.json
            got = {"order_id": o.get("order_id"), "items": o.get("items"), "total_cents": o.get("total_cents")}
            if c.order is not None and c.order["order_id"] != got["order_id"]:
                self._bad("cart %s answered two orders: %s and %r" % (c.cid, c.order, a))
            if a.status == 200 and c.order is None and c.status == "open":
                self._bad("a repeated-checkout 200 for a cart never checked out: %r" % a)
            c.order = got
            c.status = "checked_out"
            c.holds = {}
            c.unsure_holds.clear()
            self._ack(c)
        elif a.outcome == REFUSED:
            if a.status == 409 and a.code in ("cart_empty", "insufficient_stock"):
                if c.status is None:
                    c.status = "open"  # the unanswered checkout never committed: nothing changed
            else:
                self._closed_unexpectedly(c, a)
        else:
            c.status = None

    def _compare_view(self, c, a):
        """A cart read while no request of ours is in flight on it: every known fact must show."""
        v = a.resp.json
        if c.status is not None and v.get("status") != c.status:
            self._bad("cart %s reads %s, the client knows it %s" % (c.cid, v.get("status"), c.status))
            return
        lines = {it["product_id"]: it["quantity"] for it in v["items"]}
        holds = {it["product_id"]: it["reserved"] for it in v["items"]}
        for pid in self.products:
            if pid not in c.unsure_lines and lines.get(pid, 0) != c.lines.get(pid, 0):
                self._bad("cart %s product %d: line %d read, %d acknowledged" % (
                    c.cid, pid, lines.get(pid, 0), c.lines.get(pid, 0)))
            if c.status == "open" and pid not in c.unsure_holds and holds.get(pid, 0) != c.holds.get(pid, 0):
                self._bad("cart %s product %d: hold %d read, %d acknowledged" % (
                    c.cid, pid, holds.get(pid, 0), c.holds.get(pid, 0)))

    # --- figures --------------------------------------------------------------

    def counts(self, since=None, until=None):
        by = collections.Counter()
        with self.lock:
            for a in self.answers:
                if since is not None and a.t0 < since or until is not None and a.t0 > until:
                    continue
                by[(a.status, a.code) if a.exc is None else ("no answer", type(a.exc).__name__)] += 1
        return by

    def figures(self):
        with self.lock:
            ans = list(self.answers)
        writes = [a for a in ans if a.kind in ("add", "remove", "reserve", "release", "checkout", "create")]
        return {
            "requests": len(ans),
            "writes": len(writes),
            "acked_writes": sum(1 for a in writes if a.outcome == ACK),
            "refused": sum(1 for a in ans if a.outcome == REFUSED),
            "unanswered": sum(1 for a in ans if a.outcome == UNSURE),
            "http_502": sum(1 for a in ans if a.status == 502),
            "http_503": sum(1 for a in ans if a.status == 503),
            "no_answer": sum(1 for a in ans if a.exc is not None),
            "carts": len(self.carts),
            "orders_acked": sum(1 for c in self.carts.values() if c.order is not None),
            "unanswered_checkouts_committed": self.resolved["committed"],
            "unanswered_checkouts_not_committed": self.resolved["not_committed"],
        }


# --- checks against the database ---------------------------------------------------

def _chunks(xs, n=400):
    xs = list(xs)
    for i in range(0, len(xs), n):
        yield xs[i:i + n]


def _rows(sql_fmt, cids):
    out = []
    for part in _chunks(cids):
        out += lib.db(sql_fmt % ",".join("'%s'" % c for c in part))
    return out


def verify(load, initial_stock):
    """Compare the ledger with the tables and recompute the invariants. Returns (problems, figures)."""
    problems = list(load.bad)
    carts = dict(load.carts)
    cids = list(carts)
    pids = load.products
    status = {r[0]: r[1] for r in _rows("SELECT id, status FROM carts WHERE id IN (%s)", cids)}
    lines = collections.defaultdict(dict)
    for cid, pid, q in _rows("SELECT cart_id, product_id, quantity FROM cart_items WHERE cart_id IN (%s)", cids):
        lines[cid][int(pid)] = int(q)
    holds = collections.defaultdict(dict)
    for cid, pid, q in _rows("SELECT cart_id, product_id, quantity FROM stock_holds WHERE cart_id IN (%s)", cids):
        holds[cid][int(pid)] = int(q)
    orders = {}
    for oid, cid, total in _rows("SELECT id, cart_id, total_cents FROM orders WHERE cart_id IN (%s)", cids):
        orders[cid] = {"order_id": int(oid), "total_cents": int(total), "items": []}
    by_oid = {o["order_id"]: o for o in orders.values()}
    if by_oid:
        for part in _chunks(by_oid):
            for oid, pid, q, price in lib.db("SELECT order_id, product_id, quantity, price_cents FROM order_items "
                                             "WHERE order_id IN (%s) ORDER BY order_id, product_id"
                                             % ",".join(str(x) for x in part)):
                by_oid[int(oid)]["items"].append({"product_id": int(pid), "quantity": int(q),
                                                  "price_cents": int(price)})
    facts = {"carts_checked": 0, "lines_checked": 0, "holds_checked": 0, "orders_checked": 0,
             "unsure_facts_skipped": 0}
    for cid, c in carts.items():
        facts["carts_checked"] += 1
        st = status.get(cid)
        if st is None:
            problems.append("cart %s: acknowledged as created, not in the database" % cid)
            continue
        o = orders.get(cid)
        # half-applied checkouts, either way round
        if o is not None:
            if st != "checked_out":
                problems.append("cart %s: order %d exists but the cart is %s" % (cid, o["order_id"], st))
            if not o["items"]:
                problems.append("cart %s: order %d has no lines" % (cid, o["order_id"]))
            sold = {it["product_id"]: it["quantity"] for it in o["items"]}
            if sold != lines[cid]:
                problems.append("cart %s: order %d sold %s, the cart's lines are %s" % (cid, o["order_id"], sold,
                                                                                      lines[cid]))
            total = sum(it["quantity"] * it["price_cents"] for it in o["items"])
            if total != o["total_cents"]:
                problems.append("cart %s: order %d total %d, lines add up to %d" % (cid, o["order_id"],
                                                                                    o["total_cents"], total))
            if holds[cid]:
                problems.append("cart %s: checked out but still holds %s" % (cid, holds[cid]))
            if not c.checkout_attempted:
                problems.append("cart %s: order %d exists, the client never asked for a checkout" % (
                    cid, o["order_id"]))
        elif st == "checked_out":
            problems.append("cart %s: checked out without an order" % cid)
        # the ledger
        if c.order is not None:
            facts["orders_checked"] += 1
            if o is None:
                problems.append("cart %s: acknowledged order %s is missing" % (cid, c.order))
            else:
                want = sorted(c.order["items"] or [], key=lambda it: it["product_id"])
                if (o["order_id"], o["items"], o["total_cents"]) != (c.order["order_id"], want,
                                                                     c.order["total_cents"]):
                    problems.append("cart %s: acknowledged order %s, the database has %s" % (cid, c.order, o))
        if c.status is not None and st != c.status:
            problems.append("cart %s: acknowledged %s, the database says %s" % (cid, c.status, st))
        for pid in pids:
            if pid in c.unsure_lines:
                facts["unsure_facts_skipped"] += 1
            else:
                facts["lines_checked"] += 1
                if lines[cid].get(pid, 0) != c.lines.get(pid, 0):
                    problems.append("cart %s product %d: line %d acknowledged, %d in the database" % (
                        cid, pid, c.lines.get(pid, 0), lines[cid].get(pid, 0)))
            if c.status == "open" and pid not in c.unsure_holds:
                facts["holds_checked"] += 1
                if holds[cid].get(pid, 0) != c.holds.get(pid, 0):
                    problems.append("cart %s product %d: hold %d acknowledged, %d in the database" % (
                        cid, pid, c.holds.get(pid, 0), holds[cid].get(pid, 0)))
            elif c.status is None or pid in c.unsure_holds:
                facts["unsure_facts_skipped"] += 1
    # no order at all for a cart the client never checked out (also for carts it lost track of)
    # and the products: invariants 1-3 recomputed from the tables, and every unit sold went to an order of ours
    problems += lib.db_consistency(pids)
    for pid in pids:
        stock = lib.db_int("SELECT stock FROM products WHERE id=%d" % pid)
        sold = lib.db_int("SELECT COALESCE(SUM(quantity),0) FROM order_items WHERE product_id=%d" % pid)
        ours = sum(it["quantity"] for o in orders.values() for it in o["items"] if it["product_id"] == pid)
        received = lib.db_int("SELECT COALESCE(SUM(delta),0) FROM stock_receipts WHERE product_id=%d" % pid)
        if received != initial_stock:
            problems.append("product %d: receipts %d, only %d were ever received" % (pid, received, initial_stock))
        if stock != initial_stock - sold:
            problems.append("product %d: stock %d, but %d received - %d sold = %d" % (pid, stock, initial_stock,
                                                                                      sold, initial_stock - sold))
        if sold != ours:
            problems.append("product %d: %d units sold, %d of them in orders of this load's carts" % (pid, sold, ours))
    a = lib.audit()
    if a.get("ok") is not True or a.get("problems"):
        problems.append("audit: %s" % str(a)[:2000])
    facts["audit_ok"] = a.get("ok") is True
    acked_changes = sum(c.acked for c in carts.values())
    facts["acked_changes"] = acked_changes
    facts["orders_in_db"] = len(orders)
    return problems, facts
