"""nginx routing: the three states, the sticky canary, the tester cookie and its TESTER_TOKEN guard, the
/cart/test page, bad input, and the app flag.

Every test that switches the routing state puts `new` back in tearDown: the other modules assume it.
"""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from lib import (STACK, STACK_DIR, TESTER_TOKEN, StockdTest, api_error, conf, get, make_product, new_cart, ok, post,
                 product, request)

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.dirname(STACK) if STACK else os.path.join(HERE, "..", "..", "deploy")
ROUTING = os.path.join(DEPLOY, "routing")
TESTER_CONF_CMD = os.path.join(DEPLOY, "tester-conf")
TESTER_CONF = os.path.join(STACK_DIR, "nginx", "tester.conf")
UPGRADE = os.path.join(DEPLOY, "upgrade")


# --- helpers, also used by test_migration_path --------------------------------------

def routing_cmd(*args, timeout=120):
    """Run deploy/routing against the test stack; return the CompletedProcess."""
    return subprocess.run([ROUTING, "--stack", STACK_DIR] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


def routing_status():
    r = routing_cmd("status")
    assert r.returncode == 0, "routing status failed: rc %d, %s" % (r.returncode, r.stderr)
    return r.stdout.strip()


def switch(*state):
    """Switch the live state; assert the command succeeded and printed it."""
    want = " ".join(str(s) for s in state)
    r = routing_cmd(*state)
    assert r.returncode == 0, "routing %s failed: rc %d\nstdout: %s\nstderr: %s" % (
        want, r.returncode, r.stdout, r.stderr)
    if r.stderr.strip():  # a slow reload it recovered from: worth seeing in a green run too
        print("\n  deploy/routing %s said: %s" % (want, r.stderr.strip().replace("\n", "\n    ")), file=sys.stderr)
    assert r.stdout.strip().splitlines()[-1:] == [want], "routing %s printed %r" % (want, r.stdout)
    return want


def nginx_state():
    """What nginx itself answers on its loopback-only routing endpoint."""
    r = get("/_stockd/routing")
    assert r.status == 200, r
    return r.text


def restore_new():
    if routing_status() != "new" or nginx_state() != "new":
        switch("new")


def call(method, path, body=None, cid=None, via="header", mode=None, tester=True):
    """One request naming cart `cid` the way a client does: the X-Cart-Id header only, or the cart_id cookie
    only (as a browser would). mode/tester: the tester cookies (lib.request)."""
    if via == "cookie":
        return request(method, path, body=body, cookies={"cart_id": cid} if cid else None, mode=mode, tester=tester)
    return request(method, path, body=body, headers={"X-Cart-Id": cid} if cid else None, mode=mode, tester=tester)


def mode_of(r):
    m = r.header("X-Stock-Mode")
    assert m in ("legacy", "stock"), "X-Stock-Mode %r in %r" % (m, r)
    return m


def pmap(fn, items, n=8):
    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(fn, items))


class RoutingTest(StockdTest):
    def tearDown(self):
        try:
            restore_new()
        finally:
            super().tearDown()


class States(RoutingTest):
    def check_mode(self, want):
        """A cart's whole life in one routing state: every answer is in `want` mode."""
        p = make_product(stock=20)
        pid = p["id"]
        r = post("/api/cart")
        self.assertEqual(mode_of(r), want, r)
        cid = ok(r, 201)["cart_id"]
        for via in ("header", "cookie"):
            with self.subTest(via=via):
                r = call("GET", "/api/cart/" + cid, cid=cid, via=via)
                ok(r)
                self.assertEqual(mode_of(r), want, r)
                r = call("POST", "/api/cart/add", {"cart_id": cid, "product_id": pid, "quantity": 2,
                                                     "decrease_stock": True}, cid=cid, via=via)
                ok(r)
                self.assertEqual(mode_of(r), want, r)
                r = call("POST", "/api/stock/reserve", {"cart_id": cid, "product_id": pid, "quantity": 1},
                         cid=cid, via=via)
                self.assertEqual(mode_of(r), want, r)
                if want == "legacy":
                    api_error(r, 503, "stock_management_disabled")
                else:
                    ok(r)
                r = call("POST", "/api/stock/release", {"cart_id": cid, "product_id": pid, "quantity": 1},
                         cid=cid, via=via)
                self.assertEqual(mode_of(r), want, r)
                if want == "legacy":
                    api_error(r, 503, "stock_management_disabled")
                else:
                    ok(r)
                r = call("DELETE", "/api/cart/remove", {"cart_id": cid, "product_id": pid, "quantity": 1,
                                                         "increase_stock": True}, cid=cid, via=via)
                ok(r)
                self.assertEqual(mode_of(r), want, r)
        # legacy mode never holds stock; stock mode held 2 per add and gave 1 back per remove
        got = product(pid)
        self.assertEqual(got["reserved"], 0 if want == "legacy" else 2, got)
        r = call("POST", "/api/cart/checkout", {"cart_id": cid}, cid=cid, via="cookie")
        order = ok(r, 201)
        self.assertEqual(mode_of(r), want, r)
        self.assertEqual(order["items"], [{"product_id": pid, "quantity": 2, "price_cents": p["price_cents"]}])
        got = product(pid)
        self.assertEqual((got["stock"], got["reserved"]), (18, 0), got)
        # responses that name no cart carry the mode too
        self.assertEqual(mode_of(get("/api/products/%d" % pid)), want)

    def test_old_new_and_status(self):
        self.assertEqual(routing_status(), "new", "the suite runs in state new")
        self.assertEqual(switch("old"), "old")
        self.assertEqual(routing_status(), "old")
        self.assertEqual(nginx_state(), "old")
        self.check_mode("legacy")

        self.assertEqual(switch("canary", 25), "canary 25")
        self.assertEqual(routing_status(), "canary 25")
        self.assertEqual(nginx_state(), "canary 25")

        self.assertEqual(switch("new"), "new")
        self.assertEqual(routing_status(), "new")
        self.assertEqual(nginx_state(), "new")
        self.check_mode("stock")

        # back to old and new once more: the switch works in both directions, repeatedly
        switch("old")
        self.assertEqual(routing_status(), "old")
        self.assertEqual(mode_of(get("/api/cart/" + new_cart(), headers={"X-Cart-Id": None})), "legacy")
        switch("new")
        self.assertEqual(routing_status(), "new")
        self.assertEqual(mode_of(post("/api/cart")), "stock")


class Canary(RoutingTest):
    N = 200

    def three_calls(self, cid, pid, via):
        """GET the cart, add to it, reserve for it: the three answers' modes (with the reserve's own check)."""
        modes = []
        r = call("GET", "/api/cart/" + cid, cid=cid, via=via)
        ok(r)
        modes.append(mode_of(r))
        r = call("POST", "/api/cart/add", {"cart_id": cid, "product_id": pid, "quantity": 1}, cid=cid, via=via)
        ok(r)
        modes.append(mode_of(r))
        r = call("POST", "/api/stock/reserve", {"cart_id": cid, "product_id": pid, "quantity": 1}, cid=cid, via=via)
        m = mode_of(r)
        if m == "legacy":
            api_error(r, 503, "stock_management_disabled")
        else:
            self.assertEqual(ok(r)["cart_id"], cid)
        modes.append(m)
        return modes

    def test_sticky_per_cart_header_and_cookie(self):
        pid = make_product(stock=5000)["id"]
        switch("canary", 30)
        self.assertEqual(routing_status(), "canary 30")
        carts = pmap(lambda i: ok(post("/api/cart"), 201)["cart_id"], range(self.N))
        self.assertEqual(len(set(carts)), self.N)
        by = {}
        for via in ("header", "cookie"):
            got = pmap(lambda c: self.three_calls(c, pid, via), carts)
            by[via] = {}
            for cid, modes in zip(carts, got):
                self.assertEqual(len(set(modes)), 1, "cart %s got modes %s across routes via %s" % (cid, modes, via))
                by[via][cid] = modes[0]
            share = sum(m == "stock" for m in by[via].values()) / self.N
            self.assertTrue(0.15 <= share <= 0.45, "stock share %.3f via %s at canary 30" % (share, via))
        differ = [c for c in carts if by["header"][c] != by["cookie"][c]]
        self.assertEqual(differ, [], "carts whose mode differs between the cookie and the header")
        # a later call, cookie and header together, still agrees
        again = pmap(lambda c: mode_of(request("GET", "/api/cart/" + c, cookies={"cart_id": c},
                                               headers={"X-Cart-Id": c})), carts[:50])
        self.assertEqual(again, [by["cookie"][c] for c in carts[:50]])
        # stock carts hold what they reserved (1 per call, twice); legacy carts hold nothing
        stock = sum(m == "stock" for m in by["cookie"].values())
        self.assertEqual(product(pid)["reserved"], 2 * stock)

    def test_raising_canary_moves_only_legacy_carts(self):
        carts = pmap(lambda i: new_cart(), range(self.N))

        def modes():
            return dict(zip(carts, pmap(lambda c: mode_of(call("GET", "/api/cart/" + c, cid=c)), carts)))

        switch("canary", 10)
        at10 = modes()
        switch("canary", 50)
        at50 = modes()
        stock10 = {c for c, m in at10.items() if m == "stock"}
        stock50 = {c for c, m in at50.items() if m == "stock"}
        self.assertTrue(5 <= len(stock10) <= 45, "%d of %d carts stock at canary 10" % (len(stock10), self.N))
        self.assertTrue(60 <= len(stock50) <= 140, "%d of %d carts stock at canary 50" % (len(stock50), self.N))
        self.assertEqual(sorted(stock10 - stock50), [], "carts that were stock at canary 10 but not at 50")
        # and back down: lowering the canary moves exactly the carts that came over
        switch("canary", 10)
        self.assertEqual(modes(), at10)


class CookieOverride(RoutingTest):
    def test_stock_mode_cookie_wins_in_every_state(self):
        """With the stack's TESTER_TOKEN in stock_tester (lib sends it with every mode= request)."""
        pid = make_product(stock=1000)["id"]
        carts = [new_cart() for _ in range(20)]
        for state in (("old",), ("new",), ("canary", 50)):
            switch(*state)
            natural = {c: mode_of(call("GET", "/api/cart/" + c, cid=c)) for c in carts}
            if state == ("canary", 50):
                self.assertEqual(set(natural.values()), {"legacy", "stock"}, "both modes occur at canary 50")
            for forced in ("legacy", "stock"):
                for via in ("header", "cookie"):
                    for c in carts:
                        with self.subTest(state=state, forced=forced, via=via, cart=c):
                            r = call("GET", "/api/cart/" + c, cid=c, via=via, mode=forced)
                            ok(r)
                            self.assertEqual(mode_of(r), forced, r)
                            r = call("POST", "/api/stock/reserve", {"cart_id": c, "product_id": pid, "quantity": 1},
                                     cid=c, via=via, mode=forced)
                            self.assertEqual(mode_of(r), forced, r)
                            if forced == "legacy":
                                api_error(r, 503, "stock_management_disabled")
                            else:
                                ok(r)
                # a cart creation (no cart key yet) obeys the cookie too
                r = post("/api/cart", mode=forced)
                ok(r, 201)
                self.assertEqual(mode_of(r), forced, r)
            # without the cookie the cart is back on its routed mode
            self.assertEqual({c: mode_of(call("GET", "/api/cart/" + c, cid=c)) for c in carts}, natural)


def nginx_reload_and_wait():
    """HUP the stack's nginx, then wait until every worker of the old generation is gone: from then on every
    request is served with the new configuration."""
    with open(os.path.join(STACK_DIR, "run", "nginx.pid")) as f:
        master = int(f.read().strip())

    def workers():
        r = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        return {int(x) for x in r.stdout.split()}
    old = workers()
    os.kill(master, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = workers()
        if now and not (now & old):
            return
        time.sleep(0.05)
    raise AssertionError("nginx's old workers %s still run after the reload" % sorted(old & workers()))


def set_tester_token(token):
    """Write the stack's tester.conf for this TESTER_TOKEN ("" = unset) as deploy/stack does; reload nginx."""
    r = subprocess.run([TESTER_CONF_CMD] + ([token] if token else []), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    with open(TESTER_CONF, "w") as f:
        f.write(r.stdout)
    nginx_reload_and_wait()


def wrong_tokens():
    """stock_tester values that are not the token: near misses of every kind, and nothing at all."""
    t = TESTER_TOKEN
    return [None, "", t.upper() if t != t.upper() else t.lower(), t[:-1], t + "0", "x" + t, '"%s"' % t,
            os.urandom(16).hex()]


class TesterGuard(RoutingTest):
    """The stock_mode cookie counts only with stock_tester=$TESTER_TOKEN (contract, nginx routing)."""

    def tearDown(self):
        try:
            with open(TESTER_CONF) as f:
                if TESTER_TOKEN not in f.read():
                    set_tester_token(TESTER_TOKEN)
        finally:
            super().tearDown()

    def test_override_needs_the_token_in_every_state(self):
        self.assertTrue(TESTER_TOKEN, "the test stack has a TESTER_TOKEN")
        pid = make_product(stock=1000)["id"]
        carts = [new_cart() for _ in range(12)]
        for state in (("old",), ("new",), ("canary", 50)):
            switch(*state)
            natural = {c: mode_of(call("GET", "/api/cart/" + c, cid=c)) for c in carts}
            want_natural = {("old",): {"legacy"}, ("new",): {"stock"}, ("canary", 50): {"legacy", "stock"}}[state]
            self.assertEqual(set(natural.values()), want_natural, state)
            for forced in ("legacy", "stock"):
                for bad in wrong_tokens():
                    with self.subTest(state=state, forced=forced, tester=bad):
                        got = {c: mode_of(call("GET", "/api/cart/" + c, cid=c, via="cookie", mode=forced,
                                               tester=bad)) for c in carts}
                        self.assertEqual(got, natural, "stock_mode=%s with stock_tester=%r" % (forced, bad))
                        # a cart creation (keyed on the address) obeys the routing, not the cookie
                        r = post("/api/cart", mode=forced, tester=bad)
                        ok(r, 201)
                        if state != ("canary", 50):
                            self.assertEqual(mode_of(r), natural[carts[0]], r)
                with self.subTest(state=state, forced=forced, tester="the token"):
                    got = {c: mode_of(call("GET", "/api/cart/" + c, cid=c, via="cookie", mode=forced))
                           for c in carts}
                    self.assertEqual(set(got.values()), {forced})
            if state == ("old",):
                # old is every cart legacy: no visitor can hold stock by setting a cookie
                for bad in wrong_tokens():
                    r = call("POST", "/api/stock/reserve", {"cart_id": carts[0], "product_id": pid, "quantity": 1},
                             cid=carts[0], mode="stock", tester=bad)
                    api_error(r, 503, "stock_management_disabled")
                    r = call("POST", "/api/cart/add", {"cart_id": carts[0], "product_id": pid, "quantity": 1,
                                                        "decrease_stock": True}, cid=carts[0], mode="stock", tester=bad)
                    ok(r)
                    self.assertEqual(mode_of(r), "legacy", r)
                self.assertEqual(product(pid)["reserved"], 0)
                # the tester holds
                r = call("POST", "/api/stock/reserve", {"cart_id": carts[0], "product_id": pid, "quantity": 1},
                         cid=carts[0], mode="stock")
                self.assertEqual(ok(r)["reserved"], 1)

    def test_override_never_counts_without_a_token(self):
        set_tester_token("")
        carts = [new_cart() for _ in range(6)]
        for state in (("old",), ("new",), ("canary", 50)):
            switch(*state)
            natural = {c: mode_of(call("GET", "/api/cart/" + c, cid=c)) for c in carts}
            for forced in ("legacy", "stock"):
                for tester in [TESTER_TOKEN] + wrong_tokens():
                    with self.subTest(state=state, forced=forced, tester=tester):
                        got = {c: mode_of(call("GET", "/api/cart/" + c, cid=c, via="cookie", mode=forced,
                                               tester=tester)) for c in carts}
                        self.assertEqual(got, natural)
        # and the tester page refuses every token, the former one included
        for q in ("?token=" + TESTER_TOKEN, "?token=", ""):
            with self.subTest(query=q):
                r = get("/cart/test" + q)
                self.assertEqual(r.status, 403, r)
                self.assertEqual(r.set_cookies, [], r)
        # back with the token: honoured again
        set_tester_token(TESTER_TOKEN)
        switch("old")
        self.assertEqual(mode_of(call("GET", "/api/cart/" + carts[0], cid=carts[0], mode="stock")), "stock")


class TesterPage(RoutingTest):
    TOKEN_COOKIE = "stock_tester=%s; Path=/; HttpOnly; SameSite=Lax"

    def test_cart_test_sets_the_cookies_only_with_the_token(self):
        r = get("/cart/test?token=" + TESTER_TOKEN)
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.header("Location"), "/", r)
        self.assertEqual(sorted(r.set_cookies), sorted([self.TOKEN_COOKIE % TESTER_TOKEN,
                                                        "stock_mode=stock; Path=/; SameSite=Lax"]), r)
        r = get("/cart/test?mode=legacy&token=" + TESTER_TOKEN)
        self.assertEqual(r.status, 302, r)
        self.assertEqual(sorted(r.set_cookies), sorted([self.TOKEN_COOKIE % TESTER_TOKEN,
                                                        "stock_mode=legacy; Path=/; SameSite=Lax"]), r)
        for q in ["", "?token=", "?token", "?tok=" + TESTER_TOKEN, "?mode=stock"] + [
                "?token=" + t for t in wrong_tokens() if t] + ["?token=x&token=" + TESTER_TOKEN]:
            with self.subTest(query=q):
                r = get("/cart/test" + q)
                self.assertEqual(r.status, 403, r)
                self.assertEqual(r.set_cookies, [], r)
                self.assertIsNone(r.header("Location"), r)
                api_error(r, 403, "forbidden")

    def test_a_browser_with_the_page_cookies_is_a_tester(self):
        """What a browser does: open /cart/test with the token, keep the cookies, use the shop. In `old` its carts
        are in stock mode and hold stock; a visitor who sets stock_mode=stock by hand stays legacy."""
        r = get("/cart/test?token=" + TESTER_TOKEN)
        self.assertEqual(r.status, 302, r)
        jar = dict(c.split(";", 1)[0].split("=", 1) for c in r.set_cookies)
        self.assertEqual(set(jar), {"stock_tester", "stock_mode"})
        pid = make_product(stock=5)["id"]
        switch("old")
        r = request("POST", "/api/cart", cookies=jar)
        cid = ok(r, 201)["cart_id"]
        self.assertEqual(mode_of(r), "stock", r)
        jar["cart_id"] = cid
        r = request("POST", "/api/cart/add", body={"cart_id": cid, "product_id": pid, "quantity": 2,
                                                  "decrease_stock": True}, cookies=jar)
        ok(r)
        self.assertEqual(mode_of(r), "stock", r)
        self.assertEqual(product(pid)["reserved"], 2)
        visitor = request("POST", "/api/cart", cookies={"stock_mode": "stock"})
        self.assertEqual(mode_of(visitor), "legacy", visitor)


class BadInput(RoutingTest):
    BAD = [("canary", "101"), ("canary", "x"), ("canary",), ("canary", "-1"), ("sideways",), ("new", "extra")]

    def check_bad_inputs(self, state):
        """Every bad argument exits non-zero with a message and changes nothing: not the state deploy/routing
        reports, not what nginx answers, not the include, not the mode a cart is served in."""
        carts = [new_cart() for _ in range(10)]
        before = {c: mode_of(call("GET", "/api/cart/" + c, cid=c)) for c in carts}
        if state == "old":
            self.assertEqual(set(before.values()), {"legacy"})
        if state == "new":
            self.assertEqual(set(before.values()), {"stock"})
        routing_file = os.path.join(STACK_DIR, "nginx", "routing.conf")
        with open(routing_file) as f:
            include = f.read()
        for args in self.BAD:
            with self.subTest(state=state, args=args):
                r = routing_cmd(*args)
                self.assertNotEqual(r.returncode, 0, "routing %s succeeded: %r" % (" ".join(args), r.stdout))
                self.assertTrue(r.stderr.strip(), "routing %s exited %d without a message" % (
                    " ".join(args), r.returncode))
                self.assertEqual(routing_status(), state)
                self.assertEqual(nginx_state(), state)
                with open(routing_file) as f:
                    self.assertEqual(f.read(), include, "the routing include changed")
                for c in carts[:3]:
                    r = call("GET", "/api/cart/" + c, cid=c, via="cookie")
                    ok(r)
                    self.assertEqual(mode_of(r), before[c], r)
        self.assertEqual({c: mode_of(call("GET", "/api/cart/" + c, cid=c)) for c in carts}, before)

    def test_bad_arguments_leave_the_state(self):
        switch("old")
        self.check_bad_inputs("old")
        switch("canary", 40)
        self.check_bad_inputs("canary 40")
        switch("new")
        self.check_bad_inputs("new")


class SlowReload(RoutingTest):
    def test_a_reload_nginx_takes_late_is_waited_for_without_a_gap(self):
        """nginx's master stopped (SIGSTOP) while deploy/routing switches: the reload signal stays pending,
        the old workers keep answering the old state (deploy/routing's fallback must not QUIT them while no
        new worker runs), the reload is sent again after 5 s, and once the master runs again the switch is
        confirmed and reported as slow."""
        with open(os.path.join(STACK_DIR, "run", "nginx.pid")) as f:
            master = int(f.read().strip())
        self.assertEqual(nginx_state(), "new")
        os.kill(master, signal.SIGSTOP)
        try:
            proc = subprocess.Popen([ROUTING, "--stack", STACK_DIR, "canary", "20"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(6.5)  # past the first re-send at 5 s
            self.assertIsNone(proc.poll(), "deploy/routing returned while nginx could not have reloaded")
            # the old workers still serve, in the old state
            self.assertEqual(nginx_state(), "new")
            self.assertEqual(ok(get("/healthz"))["status"], "ok")
        finally:
            os.kill(master, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.strip().splitlines()[-1:], ["canary 20"], out)
        self.assertRegex(err, r"nginx took the reload after \d+ s and \d+ more reload signal")
        self.assertNotIn("QUIT", err)
        self.assertEqual(nginx_state(), "canary 20")
        self.assertEqual(routing_status(), "canary 20")


class AppFlag(RoutingTest):
    def test_enable_stock_management_false_wins(self):
        self.assertEqual(routing_status(), "new")
        pid = make_product(stock=10)["id"]
        cid = new_cart()
        with conf(ENABLE_STOCK_MANAGEMENT="false"):
            self.assertEqual(routing_status(), "new", "the app flag needs no nginx change")
            for forced in (None, "stock"):
                with self.subTest(cookie=forced):
                    r = post("/api/cart", mode=forced)
                    ok(r, 201)
                    self.assertEqual(mode_of(r), "legacy", r)
                    r = call("GET", "/api/cart/" + cid, cid=cid, mode=forced)
                    ok(r)
                    self.assertEqual(mode_of(r), "legacy", r)
                    r = call("POST", "/api/cart/add", {"cart_id": cid, "product_id": pid, "quantity": 1,
                                                         "decrease_stock": True}, cid=cid, via="cookie", mode=forced)
                    ok(r)
                    self.assertEqual(mode_of(r), "legacy", r)
                    for path in ("/api/stock/reserve", "/api/stock/release"):
                        r = call("POST", path, {"cart_id": cid, "product_id": pid, "quantity": 1}, cid=cid,
                                 mode=forced)
                        self.assertEqual(mode_of(r), "legacy", r)
                        api_error(r, 503, "stock_management_disabled")
            self.assertEqual(product(pid)["reserved"], 0, "legacy mode held nothing")
        r = call("GET", "/api/cart/" + cid, cid=cid)
        ok(r)
        self.assertEqual(mode_of(r), "stock")
        r = call("POST", "/api/stock/reserve", {"cart_id": cid, "product_id": pid, "quantity": 1}, cid=cid)
        self.assertEqual(mode_of(r), "stock", r)
        self.assertEqual(ok(r)["reserved"], 1)
        self.assertEqual(product(pid)["reserved"], 1)
