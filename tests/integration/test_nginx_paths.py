"""Which paths nginx gives the app: /api/ and the service routes only (conf/nginx/stockd-locations.conf), so
that the snippet fits in a shop's server block and the bundled stack can serve the storefront at /."""

from lib import StockdTest, api_error, check_json_ct, get, post, request

# Every route of app/http/router.c outside /api/.
SERVICE = ["/healthz", "/readyz", "/metrics", "/status"]


def from_app(r):
    """The app sets X-Stock-Mode on every answer; nginx's own pages outside its locations do not."""
    return r.header("X-Stock-Mode") in ("legacy", "stock")


class Paths(StockdTest):
    def test_api_and_service_routes_reach_the_app(self):
        for path in SERVICE:
            with self.subTest(path=path):
                r = get(path)
                self.assertEqual(r.status, 200, r)
                self.assertTrue(from_app(r), r)
        for path in ("/api/products/1", "/api/products", "/api/stock?ids=1"):
            with self.subTest(path=path):
                r = get(path)
                self.assertEqual(r.status, 200, r)
                self.assertTrue(from_app(r), r)
                check_json_ct(r)
        # unknown API paths are the app's JSON 404, whatever they look like
        for path in ("/api/nope", "/api/", "/api/x.php", "/api/index.html", "/api/healthz", "/api/a/b/c"):
            with self.subTest(path=path):
                r = get(path)
                api_error(r, 404, "not_found")
                self.assertTrue(from_app(r), r)
        # the query string does not change the location
        self.assertTrue(from_app(get("/status?full")))

    def test_other_paths_are_not_the_apps(self):
        for method, path in [("GET", "/"), ("GET", "/nope"), ("GET", "/api"), ("GET", "/API/products/1"),
                             ("GET", "/healthz/"), ("GET", "/healthzz"), ("GET", "/metrics/x"), ("GET", "/statusx"),
                             ("GET", "/xstatus"), ("GET", "/index.php"), ("GET", "/apix/products"),
                             ("POST", "/cart/add"), ("GET", "/products/1")]:
            with self.subTest(method=method, path=path):
                r = request(method, path, raw="{}" if method == "POST" else None)
                self.assertFalse(from_app(r), r)
                self.assertNotEqual(r.status // 100, 5, r)
                err = r.error
                self.assertFalse(err and err.get("code") == "not_found", "the app's 404 for %s: %r" % (path, r))

    def test_nginx_error_pages_stay_on_the_api(self):
        """The JSON error pages belong to the app's locations: a 413 on the API is JSON, while elsewhere nginx
        keeps its own page (the shop's)."""
        big = b"x" * (2 * 1024 * 1024)
        r = request("POST", "/api/cart/add", raw=big, headers={"Content-Type": "application/json"})
        api_error(r, 413, "payload_too_large")
        r = post("/nope", raw=big)
        self.assertEqual(r.status, 413, r)
        self.assertIsNone(r.error, r)
