"""Products and stock reads: GET /api/products/{id}, GET /api/products?after=&limit=, GET /api/stock?ids=."""

from lib import (MAX_ID, StockdTest, api_error, db, get, make_product, new_cart, ok, post, product, reserve)

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


def page(query="", mode=None):
    """GET /api/products with this query; the parsed page, after checking its shape."""
    r = get("/api/products" + query, mode=mode)
    body = ok(r)
    assert set(body) == {"items", "next_after"}, r
    assert isinstance(body["items"], list), r
    for it in body["items"]:
        assert set(it) == PRODUCT_KEYS, r
    if mode is not None:
        assert r.header("X-Stock-Mode") == mode, r
    return body


def ids_of(body):
    return [it["id"] for it in body["items"]]


def db_ids(after=0, limit=None):
    sql = "SELECT id FROM products WHERE id > %d ORDER BY id" % after
    if limit is not None:
        sql += " LIMIT %d" % limit
    return [int(r[0]) for r in db(sql)]


class ProductList(StockdTest):
    def test_pages_follow_the_cursor(self):
        made = [make_product(stock=3 + i, price_cents=100 + i) for i in range(5)]
        ids = [p["id"] for p in made]
        self.assertEqual(ids, sorted(ids))
        # nobody else writes products meanwhile: the five are the newest and consecutive in id order
        self.assertEqual(db_ids(ids[0] - 1), ids)
        first = page("?after=%d&limit=2" % (ids[0] - 1))
        self.assertEqual(first, {"items": made[:2], "next_after": ids[1]})
        second = page("?after=%d&limit=2" % first["next_after"])
        self.assertEqual(second, {"items": made[2:4], "next_after": ids[3]})
        last = page("?after=%d&limit=2" % second["next_after"])
        self.assertEqual(last, {"items": made[4:], "next_after": None})
        # a page that ends exactly at the last product says so: no empty page to fetch
        self.assertEqual(page("?after=%d&limit=2" % ids[2]), {"items": made[3:], "next_after": None})
        self.assertEqual(page("?limit=1&after=%d" % ids[3]), {"items": made[4:], "next_after": None})
        # past the end, and at the largest id there can be
        self.assertEqual(page("?after=%d" % ids[4]), {"items": [], "next_after": None})
        self.assertEqual(page("?after=%d&limit=100" % MAX_ID), {"items": [], "next_after": None})
        # the cursor need not be an existing id
        db("DELETE FROM stock_receipts WHERE product_id = %d" % ids[2])
        db("DELETE FROM products WHERE id = %d" % ids[2])
        self.assertEqual(page("?after=%d&limit=2" % ids[1]), {"items": [made[3], made[4]], "next_after": None})
        self.assertEqual(page("?after=%d&limit=1" % ids[2]), {"items": [made[3]], "next_after": ids[3]})

    def test_defaults_and_limits(self):
        # enough products for a full page of 100 and a second one
        have = len(db_ids())
        for _ in range(max(0, 102 - have)):
            make_product(stock=1)
        all_ids = db_ids()
        self.assertGreaterEqual(len(all_ids), 102)
        # no parameters: after=0, limit=50
        body = page()
        self.assertEqual(ids_of(body), all_ids[:50])
        self.assertEqual(body["next_after"], all_ids[49])
        self.assertEqual(page("?after=0"), body)
        self.assertEqual(page("?limit=50"), body)
        body = page("?limit=100")
        self.assertEqual(ids_of(body), all_ids[:100])
        self.assertEqual(body["next_after"], all_ids[99])
        body = page("?limit=1")
        self.assertEqual((ids_of(body), body["next_after"]), ([all_ids[0]], all_ids[0]))
        # parameters the route does not know are ignored (as GET /api/stock does), in any order
        self.assertEqual(page("?utm_source=mail&limit=3&x&after=%d&after_x=9" % all_ids[5]),
                         page("?after=%d&limit=3" % all_ids[5]))
        # percent-encoded digits are the same numbers
        self.assertEqual(page("?after=%%3%s&limit=%%32" % str(all_ids[0])[0] + str(all_ids[0])[1:]),
                         page("?after=%d&limit=2" % all_ids[0]))

    def test_walk_the_whole_catalogue(self):
        """Following next_after from the start with limit 100 and with limit 7 lists every product once, in
        ascending id, each exactly as the database and GET /api/products/{id} have it."""
        p = make_product(stock=8)
        ok(reserve(new_cart(), p["id"], 3))
        want = db_ids()
        rows = {int(r[0]): r for r in db("SELECT id, sku, name, price_cents, stock, reserved_stock FROM products")}
        for limit in (100, 7):
            with self.subTest(limit=limit):
                seen, after, pages = [], 0, 0
                while True:
                    body = page("?after=%d&limit=%d" % (after, limit))
                    pages += 1
                    self.assertLessEqual(len(body["items"]), limit)
                    for it in body["items"]:
                        r = rows[it["id"]]
                        self.assertEqual((it["price_cents"], it["stock"], it["reserved"]),
                                         (int(r[3]), int(r[4]), int(r[5])), it)
                        # The mariadb client's text output escapes NUL, tabs, newlines and backslashes and
                        # may print characters outside its charset as '?' (other tests put them in names):
                        # such rows are compared with the app's single product instead.
                        strings = (r[1], r[2])
                        if not (r[1] + r[2]).isascii() or any(c in r[1] + r[2] for c in "\\?"):
                            one = product(it["id"])
                            strings = (one["sku"], one["name"])
                        self.assertEqual((it["sku"], it["name"]), strings, it)
                        self.assertEqual(it["available"], it["stock"] - it["reserved"], it)
                    seen += ids_of(body)
                    if body["next_after"] is None:
                        break
                    self.assertEqual(body["next_after"], body["items"][-1]["id"])
                    self.assertEqual(len(body["items"]), limit, "a page before the last one is full")
                    after = body["next_after"]
                self.assertEqual(seen, want)
                self.assertEqual(pages, max(1, -(-len(want) // limit)))
        # the held product reads the same in the list and on its own, in both modes
        for mode in ("legacy", "stock"):
            with self.subTest(mode=mode):
                listed = page("?after=%d&limit=1" % (p["id"] - 1), mode=mode)["items"]
                one = product(p["id"], mode=mode)
                self.assertEqual(listed, [one])
                self.assertEqual((one["stock"], one["reserved"], one["available"]), (8, 3, 5))

    def test_bad_parameters_are_400_naming_the_field(self):
        bad = ["", "-1", "+1", "abc", "1.5", "1e3", "0x10", "01", "00", "%20", "1%00", "%d" % (MAX_ID + 1),
               "99999999999999999999999999", "1,2", "1 2"]
        for v in bad:
            with self.subTest(after=v):
                api_error(get("/api/products?after=" + v.replace(" ", "%20")), 400, "invalid_request", "after")
        for v in bad + ["0", "101", "1000", "050"]:
            with self.subTest(limit=v):
                api_error(get("/api/products?limit=" + v.replace(" ", "%20")), 400, "invalid_request", "limit")
        for q in ["after", "after=1&after=1", "after=1&after=2"]:
            with self.subTest(query=q):
                api_error(get("/api/products?" + q), 400, "invalid_request", "after")
        for q in ["limit", "limit=5&limit=5", "after=0&limit"]:
            with self.subTest(query=q):
                api_error(get("/api/products?" + q), 400, "invalid_request", "limit")
        # both wrong: the first checked (after) is named
        api_error(get("/api/products?limit=0&after=x"), 400, "invalid_request", "after")
        # a write to the list is 405, not a 400
        r = post("/api/products", {})
        api_error(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "GET")
