"""Scenario 2: idempotent COMMIT across certification failures.

Multi-writer (app1 on db1, app2 on db2). Client threads add to their own carts on one hot product, every
request with a fresh Idempotency-Key (docs/API.md, "Retries"). A 5xx is retried with the same key until
it answers below 500, as the contract tells a client to. Each answered request is replayed at once with
the same key and body (nginx sends the replay to either app host, so often to the other node than the
first answer's), and once more at the end: every replay must give the very status and body of the first
answer (a 503 of a replay is retried like any 5xx: nothing is stored for it), never
409 idempotency_key_in_progress (the first request has answered: no claim may still look unanswered). Then the ledger: every
acknowledged cart view is what every node holds, the product's reserved is their sum, no key of ours is
left claimed without an answer on any node, and the audit is clean everywhere.
"""

import random
import threading
import time
import uuid

import clusterlib
from clusterlib import MultiWriterTest, bed, lib, report

THREADS = 8
CARTS_PER_THREAD = 3
SECONDS = 12
STOCK = 1500


class IdempotentCommit(MultiWriterTest):

    def test_replays_answer_the_first_answer(self):
        b = bed()
        pid = lib.make_product(stock=STOCK, price_cents=1250)["id"]
        carts = [[lib.new_cart() for _ in range(CARTS_PER_THREAD)] for _ in range(THREADS)]
        b.wait_synced(60)
        cert0 = b.cert_failures()
        lock = threading.Lock()
        firsts = []          # (key, body, status, response body)
        final = {}           # cart -> the last acknowledged view's (quantity, reserved) of pid
        bad = []
        n = {"sent": 0, "retried_5xx": 0, "acked": 0, "out_of_stock": 0, "replays": 0, "replay_5xx": 0}
        deadline = time.monotonic() + SECONDS

        def send(cid, key, body, count="retried_5xx"):
            """POST /api/cart/add with the key; a 5xx (nothing stored: docs/API.md) is retried with the same key,
            as the contract tells a client to (bounded). A 409 is an answer and is never retried."""
            for attempt in range(40):
                r = lib.post("/api/cart/add", body, headers={"X-Cart-Id": cid, "Idempotency-Key": key})
                if r.status < 500:
                    return r, attempt
                with lock:
                    n[count] += 1
                time.sleep(0.05)
            raise AssertionError("key %s: 40 answers of 5xx in a row (last %r)" % (key, r))

        def client(i):
            rnd = random.Random(1000 + i)
            while time.monotonic() < deadline:
                cid = rnd.choice(carts[i])
                body = {"cart_id": cid, "product_id": pid, "quantity": rnd.randint(1, 2), "decrease_stock": True}
                key = "c12-" + uuid.uuid4().hex
                r, _ = send(cid, key, body)
                with lock:
                    n["sent"] += 1
                if r.status == 200 or r.status == 201:
                    it = lib.item(r.json, pid) or {"quantity": 0, "reserved": 0}
                    with lock:
                        final[cid] = (it["quantity"], it["reserved"])
                        n["acked"] += 1
                elif r.status == 409 and r.error and r.error.get("code") == "insufficient_stock":
                    with lock:
                        n["out_of_stock"] += 1
                else:
                    with lock:
                        bad.append("first answer outside the contract: %r" % r)
                    continue
                with lock:
                    firsts.append((cid, key, body, r.status, r.body))
                # the replay, at once: whichever app host (and node) nginx picks
                r2, _ = send(cid, key, body, "replay_5xx")
                with lock:
                    n["replays"] += 1
                    if (r2.status, r2.body) != (r.status, r.body):
                        bad.append("replay of %s answered %r, the first answer was %r" % (key, r2, r))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
        self.assertFalse(any(t.is_alive() for t in threads), "clients still running")
        b.wait_synced(60)
        cert = b.cert_failures()
        # every key once more, now that every node has applied everything
        late = 0
        for cid, key, body, status, rbody in firsts:
            r, _ = send(cid, key, body, "replay_5xx")
            late += 1
            if (r.status, r.body) != (status, rbody):
                bad.append("late replay of %s answered %r, the first answer was %d %r" % (key, r, status,
                                                                                         rbody[:200]))
        kinds = {}
        for x in bad:
            k = x.split(" answered ")[0].split(" of ")[0] + " -> " + (x.split(" answered <POST /api/cart/add -> ")[1][:60]
                                                                    if " answered <POST" in x else "?")
            kinds[k] = kinds.get(k, 0) + 1
        report("idempotent_commit", requests=n["sent"], acked=n["acked"], out_of_stock=n["out_of_stock"],
               retried_5xx=n["retried_5xx"], replay_5xx_retried=n["replay_5xx"], replays=n["replays"] + late, bad=len(bad),
               bad_kinds="; ".join("%s x%d" % kv for kv in sorted(kinds.items())),
               cert_failures=clusterlib.cert_total(cert0, cert),
               cert_failures_by_node=",".join("%s:%d" % (k, cert[k] - cert0[k]) for k in sorted(cert)))
        self.assertGreater(n["acked"], 50, "the load made too few changes to prove anything")
        self.assertEqual(bad[:10], [], "%d answers broke the idempotency contract" % len(bad))
        # the ledger, on every node
        problems = []
        all_carts = [c for cs in carts for c in cs]
        held = sum(r for _q, r in final.values())
        for node in b.dbs:
            rows = node.sql("SELECT c.id, COALESCE(i.quantity,0), COALESCE(h.quantity,0) FROM carts c "
                            "LEFT JOIN cart_items i ON i.cart_id=c.id AND i.product_id=%d "
                            "LEFT JOIN stock_holds h ON h.cart_id=c.id AND h.product_id=%d WHERE c.id IN (%s)"
                            % (pid, pid, ",".join("'%s'" % c for c in all_carts)), db="stockd")
            have = {r[0]: (int(r[1]), int(r[2])) for r in rows}
            for c in all_carts:
                if have.get(c, (0, 0)) != final.get(c, (0, 0)):
                    problems.append("%s: cart %s has %s, acknowledged %s" % (node.name, c, have.get(c),
                                                                             final.get(c, (0, 0))))
            prod = node.sql("SELECT stock, reserved_stock FROM products WHERE id=%d" % pid, db="stockd")
            if prod != [[str(STOCK), str(held)]]:
                problems.append("%s: product (stock, reserved) %s, acknowledged holds add up to %d" % (
                    node.name, prod, held))
            stuck = node.sql("SELECT COUNT(*) FROM idempotency_keys WHERE idem_key LIKE 'c12-%' AND status IS NULL",
                             db="stockd")
            if stuck != [["0"]]:
                problems.append("%s: %s keys claimed without an answer" % (node.name, stuck))
            stored = int(node.sql("SELECT COUNT(*) FROM idempotency_keys WHERE idem_key LIKE 'c12-%'",
                                  db="stockd")[0][0])
            if stored != len(firsts):
                problems.append("%s: %d keys stored, %d first answers" % (node.name, stored, len(firsts)))
        problems += clusterlib.audit_everywhere()
        self.assertNoProblems(problems, "the ledger and the audit")
