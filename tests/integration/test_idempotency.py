"""Idempotency-Key: replays answer the first answer and change nothing; misuse is refused."""

import json
import threading
import time
import uuid

from lib import (DbSession, StockdTest, add, admin_stock, api_error, cart, checkout, conf, db, db_int, db_lock_product,
                 db_trigger, hold_qty, line_qty, make_product, new_cart, now_ms, ok, post, product, refuse_answers,
                 release, remove, request, reserve, run_threads, snapshot, wait_until)


def key():
    return "k-" + uuid.uuid4().hex


def K(k):
    return {"Idempotency-Key": k}


class Replays(StockdTest):
    def same(self, a, b):
        self.assertEqual((a.status, a.body), (b.status, b.body), "replay differs: %r vs %r" % (a, b))

    def test_create_cart_replay(self):
        k = key()
        carts = db_int("SELECT COUNT(*) FROM carts")
        first = post("/api/cart", headers=K(k))
        ok(first, 201)
        second = post("/api/cart", headers=K(k))
        self.same(first, second)
        self.assertEqual(second.set_cookies, first.set_cookies)
        self.assertTrue(any(c.startswith("cart_id=%s;" % first.json["cart_id"]) for c in second.set_cookies))
        self.assertEqual(db_int("SELECT COUNT(*) FROM carts"), carts + 1, "one cart created")
        # another key is another cart
        self.assertNotEqual(ok(post("/api/cart", headers=K(key())), 201)["cart_id"], first.json["cart_id"])

    def test_add_replay_changes_nothing(self):
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        first = add(cid, p["id"], 2, dec=True, headers=K(k))
        ok(first)
        after = snapshot([p["id"]], [cid])
        for _ in range(3):
            self.same(first, add(cid, p["id"], 2, dec=True, headers=K(k)))
        self.assertEqual(snapshot([p["id"]], [cid]), after)
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"]), product(p["id"])["reserved"]), (2, 2, 2))
        # without the key the same body is a new request
        ok(add(cid, p["id"], 2, dec=True))
        self.assertEqual(line_qty(cid, p["id"]), 4)

    def test_every_write_endpoint_replays(self):
        p = make_product(stock=10)
        cid = new_cart()
        ok(add(cid, p["id"], 5))
        for name, call in [("reserve", lambda h: reserve(cid, p["id"], 2, headers=h)),
                           ("release", lambda h: release(cid, p["id"], 1, headers=h)),
                           ("remove", lambda h: remove(cid, p["id"], 1, inc=True, headers=h)),
                           ("admin stock", lambda h: post("/api/admin/products/%d/stock" % p["id"], {"delta": 3},
                                                          headers=h))]:
            with self.subTest(name):
                k = key()
                first = call(K(k))
                ok(first)
                after = snapshot([p["id"]], [cid])
                self.same(first, call(K(k)))
                self.assertEqual(snapshot([p["id"]], [cid]), after)
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"]), product(p["id"])["stock"]), (4, 0, 13))

    def test_admin_create_replay(self):
        k = key()
        body = {"sku": "I-" + uuid.uuid4().hex, "name": "idem", "price_cents": 5, "stock": 3}
        first = post("/api/admin/products", body, headers=K(k))
        ok(first, 201)
        n = db_int("SELECT COUNT(*) FROM products")
        second = post("/api/admin/products", body, headers=K(k))
        self.same(first, second)  # 201 again, not 409 sku_exists
        self.assertEqual(db_int("SELECT COUNT(*) FROM products"), n)

    def test_checkout_replay_is_first_answer(self):
        p = make_product(stock=10)
        cid = new_cart()
        ok(add(cid, p["id"], 3, dec=True))
        k = key()
        first = checkout(cid, headers=K(k))
        ok(first, 201)
        self.same(first, checkout(cid, headers=K(k)))  # the stored 201, not the 200 of a repeat
        self.assertEqual(ok(checkout(cid), 200), first.json)
        self.assertEqual(product(p["id"])["stock"], 7)

    def test_4xx_is_stored(self):
        p = make_product(stock=1)
        cid = new_cart()
        k = key()
        first = reserve(cid, p["id"], 2, headers=K(k))
        api_error(first, 409, "insufficient_stock")
        ok(admin_stock(p["id"], delta=5))  # now it would succeed...
        second = reserve(cid, p["id"], 2, headers=K(k))
        self.same(first, second)  # ...but the key answers the first answer
        self.assertEqual(hold_qty(cid, p["id"]), 0)
        ok(reserve(cid, p["id"], 2, headers=K(key())))
        self.assertEqual(hold_qty(cid, p["id"]), 2)

    def test_other_body_is_422(self):
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        ok(add(cid, p["id"], 1, headers=K(k)))
        before = snapshot([p["id"]], [cid])
        body = json.dumps({"cart_id": cid, "product_id": p["id"], "quantity": 1})
        for other in [json.dumps({"cart_id": cid, "product_id": p["id"], "quantity": 2}),
                      body.replace(", ", ","),  # byte-identical is the rule: same JSON, other bytes
                      body + "\n"]:
            with self.subTest(other=other):
                api_error(request("POST", "/api/cart/add", raw=other,
                                  headers=dict(K(k), **{"Content-Type": "application/json"})),
                          422, "idempotency_key_reused")
        self.assertEqual(snapshot([p["id"]], [cid]), before)

    def test_scope_is_key_method_path(self):
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        ok(add(cid, p["id"], 1, headers=K(k)))
        # the same key on other paths is a different key: processed, not 422, not a replay
        r = ok(reserve(cid, p["id"], 1, headers=K(k)))
        self.assertEqual(r["reserved"], 1)
        r = ok(release(cid, p["id"], 1, headers=K(k)))
        self.assertEqual(r["reserved"], 0)
        ok(remove(cid, p["id"], headers=K(k)))
        self.assertEqual(cart(cid)["items"], [])
        self.assertEqual(ok(post("/api/cart", headers=K(k)), 201)["status"], "open")

    def test_invalid_keys(self):
        p = make_product(stock=10)
        cid = new_cart()
        before = snapshot([p["id"]], [cid])
        carts = db_int("SELECT COUNT(*) FROM carts")
        for bad in ["", "a" * 65, "a b", "caf\u00e9".encode("utf-8"), "a\x7f", "a\tb"]:
            with self.subTest(key=bad):
                api_error(add(cid, p["id"], 1, dec=True, headers=K(bad)), 400, "invalid_request", "Idempotency-Key")
                api_error(post("/api/cart", headers=K(bad)), 400, "invalid_request", "Idempotency-Key")
        self.assertEqual(snapshot([p["id"]], [cid]), before)
        self.assertEqual(db_int("SELECT COUNT(*) FROM carts"), carts)
        # the whole allowed alphabet (0x21-0x7E) and the maximum length are fine; keys live 24 h,
        # so each run uses fresh ones
        alphabet = "".join(chr(c) for c in range(0x21, 0x7F))
        for i in (0, 32, 62):
            good = uuid.uuid4().hex + alphabet[i:i + 32]
            with self.subTest(key=good):
                self.assertEqual(len(good), 64)
                ok(add(cid, p["id"], 1, headers=K(good)))
        self.assertEqual(line_qty(cid, p["id"]), 3)

    def test_concurrent_same_key(self):
        # one execution: every other attempt is the replay or 409 in progress
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        results = []
        run_threads(8, lambda i: results.append(add(cid, p["id"], 1, dec=True, headers=K(k))))
        oks = [r for r in results if r.status == 200]
        self.assertGreaterEqual(len(oks), 1, results)
        self.assertEqual(len({r.body for r in oks}), 1, "all successes are the same answer")
        for r in results:
            if r.status != 200:
                api_error(r, 409, "idempotency_key_in_progress")
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"])), (1, 1))

    def test_in_progress_409(self):
        # the first request waits on the product row lock; a retry meanwhile is 409 in progress
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        lock = db_lock_product(p["id"], 1.5)
        time.sleep(0.3)
        first = []
        t = threading.Thread(target=lambda: first.append(reserve(cid, p["id"], 1, headers=K(k))))
        t.start()
        time.sleep(0.4)
        api_error(reserve(cid, p["id"], 1, headers=K(k)), 409, "idempotency_key_in_progress")
        t.join()
        lock.wait()
        ok(first[0])
        self.assertEqual(reserve(cid, p["id"], 1, headers=K(k)).body, first[0].body)
        self.assertEqual(hold_qty(cid, p["id"]), 1)


class Claims(StockdTest):
    def test_takeover_of_a_running_claim_changes_once(self):
        # A runs past REQUEST_TIMEOUT (here: it waits on a product lock this test holds, and its claim is
        # made as old as such a stall makes it); B, a client's retry with the same key, takes the key over
        # and runs. Whatever the order after the lock goes, the change is made once and the key answers
        # the run that committed.
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        with conf(RETRY_ATTEMPTS=10, TXN_BUDGET_MS=30000):  # both runs outlast the lock waits, however slow
            self.run_a_and_b(p, cid, k)

    def run_a_and_b(self, p, cid, k):
        lock = DbSession()
        try:
            lock.run("SET SESSION innodb_lock_wait_timeout=50; BEGIN; SELECT id FROM products WHERE id=%d FOR UPDATE"
                     % p["id"])
            first = []
            t = threading.Thread(target=lambda: first.append(add(cid, p["id"], 1, dec=True, headers=K(k))))
            t.start()
            wait_until(lambda: db_int("SELECT COUNT(*) FROM idempotency_keys WHERE idem_key='%s'" % k) == 1, 5,
                       0.02, "A's claim")
            db("UPDATE idempotency_keys SET created_ms = created_ms - 3600000 WHERE idem_key='%s'" % k)
            second = []
            t2 = threading.Thread(target=lambda: second.append(add(cid, p["id"], 1, dec=True, headers=K(k))))
            t2.start()
            # B's takeover is in the row (a fresh created_ms) before A can go on
            wait_until(lambda: db_int("SELECT created_ms FROM idempotency_keys WHERE idem_key='%s'" % k)
                       > now_ms() - 60000, 5, 0.02, "B's takeover")
        finally:
            lock.run("COMMIT")
            lock.close()
        t.join()
        t2.join()
        a, b = first[0], second[0]
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"]), product(p["id"])["reserved"]), (1, 1, 1),
                         "applied once: A %r, B %r" % (a, b))
        ok(b)
        # A lost its claim: its change rolled back and it says the key's request is running
        api_error(a, 409, "idempotency_key_in_progress")
        self.assertEqual(add(cid, p["id"], 1, dec=True, headers=K(k)).body, b.body, "the key answers B's run")
        self.assertEqual(line_qty(cid, p["id"]), 1)

    def test_failed_run_does_not_release_the_claim_that_took_over(self):
        # As above, but A then fails (5xx, here: the database refuses A's hold, by A's connection). A's
        # failure must release only its own claim: B's claim stays, so C, a third try with the key, does
        # not run beside B: it gets 409 in progress or B's answer.
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        with conf(RETRY_ATTEMPTS=10, TXN_BUDGET_MS=30000):
            lock = DbSession()
            trigger = None
            try:
                lock.run("SET SESSION innodb_lock_wait_timeout=50; BEGIN; "
                         "SELECT id FROM products WHERE id=%d FOR UPDATE" % p["id"])
                first = []
                t = threading.Thread(target=lambda: first.append(add(cid, p["id"], 1, dec=True, headers=K(k))))
                t.start()
                a_conn = wait_until(lambda: db_int("SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX"
                                                   " WHERE trx_state = 'LOCK WAIT'"), 5, 0.02, "A waiting")
                trigger = db_trigger("itest_refuse_a", "stock_holds", "BEFORE INSERT",
                                     "IF CONNECTION_ID() = %d THEN SIGNAL SQLSTATE '45000' "
                                     "SET MESSAGE_TEXT = 'itest: A fails'; END IF;" % a_conn)
                trigger.__enter__()
                db("UPDATE idempotency_keys SET created_ms = created_ms - 3600000 WHERE idem_key='%s'" % k)
                second = []
                t2 = threading.Thread(target=lambda: second.append(add(cid, p["id"], 1, dec=True, headers=K(k))))
                t2.start()
                wait_until(lambda: db_int("SELECT created_ms FROM idempotency_keys WHERE idem_key='%s'" % k)
                           > now_ms() - 60000, 5, 0.02, "B's takeover")
                lock.run("COMMIT")
                t.join()
                api_error(first[0], 500, "internal_error")  # A failed, and released what it could
                third = add(cid, p["id"], 1, dec=True, headers=K(k))
                t2.join()
            finally:
                lock.close()
                if trigger is not None:
                    trigger.__exit__(None, None, None)
        b = second[0]
        ok(b)
        if third.status == 409:
            api_error(third, 409, "idempotency_key_in_progress")
        else:
            self.assertEqual((third.status, third.body), (b.status, b.body), "C replays B's answer")
        self.assertEqual((line_qty(cid, p["id"]), hold_qty(cid, p["id"]), product(p["id"])["reserved"]), (1, 1, 1),
                         "applied once: B %r, C %r" % (b, third))

    def test_failed_answer_rolls_back_and_sets_no_cookie(self):
        # the change ran, then storing its answer failed: a 5xx, nothing made, no Set-Cookie for the
        # cart that does not exist, and the key is free for the retry
        k = "fail-answer-" + uuid.uuid4().hex
        carts = db_int("SELECT COUNT(*) FROM carts")
        with refuse_answers("fail-answer-"):
            r = post("/api/cart", headers=K(k))
        api_error(r, 500, "internal_error")
        self.assertEqual(r.set_cookies, [], "an error answer sets no cookie: %r" % r)
        self.assertEqual(db_int("SELECT COUNT(*) FROM carts"), carts, "no cart made")
        self.assertEqual(db_int("SELECT COUNT(*) FROM idempotency_keys WHERE idem_key='%s'" % k), 0, "key released")
        again = post("/api/cart", headers=K(k))
        ok(again, 201)
        self.assertTrue(any(c.startswith("cart_id=%s;" % again.json["cart_id"]) for c in again.set_cookies), again)
        self.assertEqual(db_int("SELECT COUNT(*) FROM carts"), carts + 1)

    def test_conflict_on_storing_the_answer_reruns_the_whole_transaction(self):
        # The answer's row is locked (as by a conflicting transaction, or a Galera certification failure at
        # COMMIT) when the change tries to store its answer: the lock wait times out there, after the change
        # ran. The retry reruns the change, the answer and the COMMIT together: one 200, the change made once.
        p = make_product(stock=10)
        cid = new_cart()
        k = key()
        with conf(RETRY_ATTEMPTS=10, TXN_BUDGET_MS=10000):
            product_lock, answer_lock = DbSession(), DbSession()
            try:
                product_lock.run("SET SESSION innodb_lock_wait_timeout=50; BEGIN; "
                                 "SELECT id FROM products WHERE id=%d FOR UPDATE" % p["id"])
                first = []
                t = threading.Thread(target=lambda: first.append(reserve(cid, p["id"], 2, headers=K(k))))
                t.start()
                wait_until(lambda: db_int("SELECT COUNT(*) FROM idempotency_keys WHERE idem_key='%s'" % k) == 1,
                           5, 0.02, "the claim")
                answer_lock.run("SET SESSION innodb_lock_wait_timeout=50; BEGIN; "
                                "SELECT status FROM idempotency_keys WHERE idem_key='%s' FOR UPDATE" % k)
                product_lock.run("COMMIT")  # the change runs now; storing its answer waits on answer_lock
                time.sleep(2.5)  # past one lock wait (1 s)
            finally:
                product_lock.close()
                answer_lock.run("COMMIT")
                answer_lock.close()
            t.join()
        ok(first[0])
        self.assertEqual(first[0].json["reserved"], 2)
        self.assertEqual((hold_qty(cid, p["id"]), product(p["id"])["reserved"]), (2, 2), "made once")
        self.assertEqual(reserve(cid, p["id"], 2, headers=K(k)).body, first[0].body, "stored with the change")
