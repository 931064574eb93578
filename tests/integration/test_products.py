"""Products and stock reads: GET /api/products/{id}, GET /api/stock?ids=."""

from lib import (MAX_ID, StockdTest, api_error, get, make_product, new_cart, ok, product, reserve)

PRODUCT_KEYS = {"id", "sku", "name", "price_cents", "stock", "reserved", "available"}
STOCK_KEYS = {"product_id", "stock", "reserved", "available"}


class Products(StockdTest):
    def test_get_product(self):
        p = make_product(stock=7, price_cents=1999)
        ok(reserve(new_cart(), p["id"], 3))
        for mode in (None, "legacy", "stock"):  # the same view in both modes
            got = product(p["id"], mode=mode)
            self.assertEqual(set(got), PRODUCT_KEYS)
            self.assertEqual(got, dict(p, reserved=3, available=4))

    def test_unknown_or_malformed_id_is_404(self):
        # a malformed id in a path is a 404 like an unknown one, never a 400
        for bad in [str(MAX_ID), "abc", "0", "-1", "1.5", "1e3", "99999999999999999999999999",
                    str(MAX_ID + 1), "%20"]:
            with self.subTest(id=bad):
                api_error(get("/api/products/" + bad), 404, "product_not_found")


class Stock(StockdTest):
    def test_stock_list(self):
        a, b = make_product(stock=5), make_product(stock=9)
        ok(reserve(new_cart(), b["id"], 4))
        # unknown ids are left out, whatever their position
        r = ok(get("/api/stock?ids=%d,%d,%d" % (MAX_ID, a["id"], b["id"])))
        self.assertEqual(set(r), {"items"})
        for it in r["items"]:
            self.assertEqual(set(it), STOCK_KEYS)
        got = {it["product_id"]: it for it in r["items"]}
        self.assertEqual(got, {
            a["id"]: {"product_id": a["id"], "stock": 5, "reserved": 0, "available": 5},
            b["id"]: {"product_id": b["id"], "stock": 9, "reserved": 4, "available": 5},
        })
        # a single id; only unknown ids -> empty list
        self.assertEqual(ok(get("/api/stock?ids=%d" % a["id"]))["items"],
                         [{"product_id": a["id"], "stock": 5, "reserved": 0, "available": 5}])
        self.assertEqual(ok(get("/api/stock?ids=%d" % MAX_ID))["items"], [])

    def test_at_most_100_ids(self):
        a = make_product(stock=1)
        ids = [a["id"]] + [MAX_ID - i for i in range(99)]
        r = ok(get("/api/stock?ids=" + ",".join(map(str, ids))))
        self.assertEqual([it["product_id"] for it in r["items"]], [a["id"]])
        ids.append(MAX_ID - 100)  # 101 ids
        api_error(get("/api/stock?ids=" + ",".join(map(str, ids))), 400, "invalid_request", "ids")

    def test_bad_ids(self):
        for q in ["", "?ids=", "?ids=abc", "?ids=1,,2", "?ids=1,", "?ids=,1", "?ids=1;2", "?ids=1.5",
                  "?ids=0", "?ids=-1", "?ids=%d" % (MAX_ID + 1), "?ids=1%202", "?other=1"]:
            with self.subTest(query=q):
                api_error(get("/api/stock" + q), 400, "invalid_request", "ids")
