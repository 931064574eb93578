#!/usr/bin/env python3
"""Seed a stack through its API, as a shop would: products with
POST /api/admin/products (loopback is an operator while TRUST_LOOPBACK is
true, the default) and carts with POST /api/cart, from a thread pool of
keep-alive connections.

  bench/seed.py BASE_URL PRODUCTS CARTS PRODUCT_FILE CART_FILE [STOCK]

Writes the new ids, one a line. Exits non-zero on any answer but 201."""
import concurrent.futures
import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid

base, nproducts, ncarts, pfile, cfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
stock = int(sys.argv[6]) if len(sys.argv) > 6 else 1_000_000_000
u = urllib.parse.urlsplit(base)
local = threading.local()
run = uuid.uuid4().hex[:8]


def post(path, body):
    for attempt in range(2):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            local.conn.request("POST", path, body=json.dumps(body) if body is not None else None,
                               headers={"Content-Type": "application/json"})
            r = local.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                local.conn.close()
                del local.conn
            if r.status != 201:
                raise SystemExit("seed: %s answered %d: %s" % (path, r.status, data[:200]))
            return json.loads(data)
        except (http.client.HTTPException, ConnectionError):
            # nginx closed a kept-alive connection (keepalive_requests): once more.
            local.conn.close()
            del local.conn
            if attempt:
                raise


def product(i):
    return post("/api/admin/products", {"sku": "BENCH-%s-%d" % (run, i), "name": "Bench product %d" % i,
                                        "price_cents": 100, "stock": stock})["id"]


def cart(_):
    return post("/api/cart", None)["cart_id"]


t0 = time.time()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    pids = list(pool.map(product, range(nproducts)))
    cids = list(pool.map(cart, range(ncarts)))
with open(pfile, "w") as f:
    f.write("".join("%d\n" % p for p in pids))
with open(cfile, "w") as f:
    f.write("".join("%s\n" % c for c in cids))
print("seeded %d products and %d carts through the API in %.1f s" % (nproducts, ncarts, time.time() - t0))
