"""stockd's nginx snippet inside a shop's own server block (issue 13): the server block of a PHP shop (its root,
`location /` with try_files to index.php, `location ~ \\.php$` to its own PHP-FPM pool, a named error location of
its own) includes conf/nginx/stockd-locations.conf as docs/operations.md says, with the http-level part of the
installed site beside it. The shop's pages must still answer from PHP, /api/ and the operator routes from stockd
(the test stack's app, through its socket) exactly as through the bundled stack's nginx, and the demo storefront
stays where the bundled stack puts it: not in the shop's server block.

Everything runs in a temp dir: deploy/install --root, a private PHP-FPM (as bench/baseline/php-fpm.conf.in) on its
own socket and a private nginx on a free port, both started and stopped here by their pid.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import test_deploy_files as deploy_files
from installed_layout import free_port, http_request, read
from lib import BASE_URL, STACK_DIR, get, wait_until

SHARE = deploy_files.SHARE
SNIPPET = os.path.join(deploy_files.TOP, "conf", "nginx", "stockd-locations.conf")

INDEX_PHP = """<?php
header("X-Shop: php");
header("Content-Type: text/plain");
echo "shop index: uri=" . $_SERVER["REQUEST_URI"] . " script=" . $_SERVER["SCRIPT_NAME"] . "\\n";
"""
OTHER_PHP = """<?php
header("X-Shop: php");
header("Content-Type: text/plain");
echo "shop other\\n";
"""

# The shop's server block, as a Debian LAMP host would have it, with stockd's snippet included first (so no regex
# location of the shop comes before the service routes'). {snippet}, {root}, {php}, {port} are filled in.
SERVER = """
server {{
    listen 127.0.0.1:{port};
    server_name shop.example localhost 127.0.0.1;
    root {root};
    index index.php index.html;
    # the shop's own error page when its PHP pool is down: a named location of its own
    error_page 502 @bad_gateway;
    access_log {log}/shop-access.log;
    access_log {log}/stockd-access.log stockd if=$stockd_route;

    include {snippet};

    location / {{
        try_files $uri $uri/ /index.php?$query_string;
    }}
    location ~ \\.php$ {{
        try_files $uri =404;
        fastcgi_split_path_info ^(.+\\.php)(/.+)$;
        include /etc/nginx/fastcgi.conf;
        fastcgi_pass unix:{php};
    }}
    # a page of the shop whose backend is gone: its 502 is the shop's page
    location = /legacy/down.php {{
        include /etc/nginx/fastcgi.conf;
        fastcgi_pass unix:{root}/no-such.sock;
    }}
    location @bad_gateway {{
        default_type text/plain;
        return 502 "the shop is down\\n";
    }}
}}
"""


def snippet_top_level(text):
    """The snippet's top-level statements (comments dropped): each a string up to its `;` or its block's `{`."""
    text = re.sub(r"#[^\n]*", "", text)
    out, depth, cur = [], 0, ""
    for ch in text:
        if depth == 0:
            cur += ch
        if ch == "{":
            if depth == 0:
                out.append(cur[:-1].strip())
                cur = ""
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            out.append(cur.strip())
            cur = ""
    assert depth == 0 and not cur.strip(), "unbalanced snippet"
    return out


def from_app(a):
    return a.header("X-Stock-Mode") in ("legacy", "stock")


class SnippetShape(unittest.TestCase):
    def test_snippet_is_locations_only(self):
        """Nothing at server level, no `location /` of any kind, named locations in stockd's own namespace: the
        snippet can sit in any server block without changing the shop's pages or clashing with its names."""
        tops = snippet_top_level(read(SNIPPET))
        self.assertTrue(tops)
        for stmt in tops:
            with self.subTest(stmt=stmt):
                self.assertRegex(stmt, r"^location\s", "a server-level directive in the snippet")
                self.assertNotRegex(stmt, r"^location\s+(=\s*|\^~\s*)?/\s*$", "the snippet takes the shop's /")
                m = re.match(r"^location\s+@(\S+)$", stmt)
                if m:
                    self.assertTrue(m.group(1).startswith("stockd_"), stmt)
                else:
                    # every path it takes is /api/, a service route or stockd's own /_stockd/
                    self.assertRegex(stmt, r"^location\s+(\^~ /api/|~ \^/\(healthz\|readyz\|metrics\|status\)\$|"
                                           r"= /_stockd/\S+)$")


class ShopServerBlock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sock = os.path.join(STACK_DIR, "run", "stockd.sock") if STACK_DIR else ""
        if not cls.sock or not os.path.exists(cls.sock):
            raise unittest.SkipTest("no test stack (run through tests/run-all)")
        cls.php_fpm = shutil.which("php-fpm8.2") or shutil.which("php-fpm")
        assert cls.php_fpm, "php-fpm not found: Debian's php8.2-fpm (deploy/install-deps)"
        cls.tmp = tempfile.mkdtemp(prefix="stockd-shop-")
        os.chmod(cls.tmp, 0o755)  # www-data (PHP-FPM's and nginx's workers) reaches the docroot and sockets
        cls.fpm = None
        cls.nginx_pid = None
        try:
            cls.root = os.path.join(cls.tmp, "root")
            deploy_files.install(cls.root)
            cls._shop()
            cls._start_php()
            cls._start_nginx()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.nginx_pid:
            try:
                os.kill(cls.nginx_pid, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and os.path.exists("/proc/%d" % cls.nginx_pid):
                    time.sleep(0.05)
            except OSError:
                pass
        if cls.fpm is not None and cls.fpm.poll() is None:
            cls.fpm.send_signal(signal.SIGQUIT)  # graceful
            try:
                cls.fpm.wait(15)
            except subprocess.TimeoutExpired:
                cls.fpm.kill()
                cls.fpm.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- set-up ------------------------------------------------------------------

    @classmethod
    def _shop(cls):
        cls.docroot = os.path.join(cls.tmp, "shop")
        os.makedirs(os.path.join(cls.docroot, "css"))
        for name, text in (("index.php", INDEX_PHP), ("other.php", OTHER_PHP), ("robots.txt", "User-agent: *\n"),
                           ("css/shop.css", "body { color: black }\n")):
            deploy_files.write(os.path.join(cls.docroot, name), text)
        for d, _, files in os.walk(cls.docroot):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)

    @classmethod
    def _start_php(cls):
        run = os.path.join(cls.tmp, "run")
        os.makedirs(run, exist_ok=True)
        os.chmod(run, 0o755)
        cls.php_sock = os.path.join(run, "php-fpm.sock")
        user = "user = www-data\ngroup = www-data\n" if os.geteuid() == 0 else ""
        conf = os.path.join(cls.tmp, "php-fpm.conf")
        deploy_files.write(conf, """[global]
pid = {t}/run/php-fpm.pid
error_log = {t}/php-fpm.log
daemonize = no

[shop]
{user}listen = {sock}
listen.mode = 0666
pm = static
pm.max_children = 2
""".format(t=cls.tmp, user=user, sock=cls.php_sock))
        cls.fpm = subprocess.Popen([cls.php_fpm, "-F", "-y", conf], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        def up():
            if cls.fpm.poll() is not None:
                raise AssertionError("php-fpm exited (%s): %s" % (
                    cls.fpm.returncode, read(os.path.join(cls.tmp, "php-fpm.log"))[-2000:]))
            return os.path.exists(cls.php_sock)
        wait_until(up, 20, 0.05, "PHP-FPM's socket")

    @classmethod
    def http_level(cls, t):
        """docs/operations.md's recipe: the installed site file above its `server {` is the http-level part (the
        upstream, the routing and tester includes, the log format, the rate-limit zones); paths moved into the
        temp dir, the upstream pointed at the test stack's app."""
        share = cls.root + SHARE
        # the command as docs/operations.md prints it, run on the installed copy
        m = re.search(r"^sed '([^']+)' %s/deploy/nginx/stockd-site\.conf >/etc/nginx/conf\.d/stockd\.conf$" % SHARE,
                      read(os.path.join(deploy_files.TOP, "docs", "operations.md")), re.M)
        assert m, "docs/operations.md lost its command for the http-level part of the site"
        r = subprocess.run(["sed", m.group(1), os.path.join(share, "deploy/nginx/stockd-site.conf")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        head = r.stdout
        assert "upstream stockd" in head and "server {" not in head, head
        routing = os.path.join(t, "routing.conf")
        deploy_files.write(routing, read(os.path.join(cls.root, "etc/stockd/nginx/routing.conf"))
                           .replace("include %s/" % SHARE, "include %s/" % share))
        shutil.copy(os.path.join(cls.root, "etc/stockd/nginx/tester.conf"), os.path.join(t, "tester.conf"))
        head = (head.replace("/etc/stockd/nginx/routing.conf", routing)
                .replace("/etc/stockd/nginx/tester.conf", os.path.join(t, "tester.conf"))
                .replace(SHARE + "/", share + "/")
                .replace("server unix:/run/stockd/stockd.sock;", "server unix:%s;" % cls.sock))
        self_check = head + read(routing)
        for path in re.findall(r"^\s*(?:include|access_log|error_log)\s+(/[^\s;]+)", self_check, re.M):
            assert path.startswith(cls.tmp), "the test nginx would read %s" % path
        return head

    @classmethod
    def _start_nginx(cls):
        user = ""
        if os.geteuid() == 0:
            reach = subprocess.run(["runuser", "-u", "www-data", "--", "test", "-x", os.path.dirname(cls.sock)])
            user = "user www-data www-data;" if reach.returncode == 0 else "user root root;"
        snippet = os.path.join(cls.root + SHARE, "conf/nginx/stockd-locations.conf")
        for attempt in range(3):  # a free port may be taken before nginx binds it
            cls.port = free_port()
            t = cls.ngx = os.path.join(cls.tmp, "nginx-%d" % attempt)
            os.makedirs(os.path.join(t, "log"))
            os.makedirs(os.path.join(t, "temp"))
            deploy_files.write(os.path.join(t, "conf.d", "stockd.conf"), cls.http_level(t))
            deploy_files.write(os.path.join(t, "sites-enabled", "shop"), SERVER.format(
                port=cls.port, root=cls.docroot, php=cls.php_sock, snippet=snippet, log=os.path.join(t, "log")))
            cls.nginx_conf = os.path.join(t, "nginx.conf")
            deploy_files.write(cls.nginx_conf, """{user}\npid {t}/nginx.pid;
error_log {t}/log/error.log notice;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {t}/log/access.log;
    client_body_temp_path {t}/temp/body;
    fastcgi_temp_path {t}/temp/fastcgi;
    proxy_temp_path {t}/temp/proxy;
    uwsgi_temp_path {t}/temp/uwsgi;
    scgi_temp_path {t}/temp/scgi;
    include {t}/conf.d/*.conf;
    include {t}/sites-enabled/*;
}}
""".format(t=t, user=user))
            cls.nginx_test = subprocess.run(["nginx", "-p", t, "-c", cls.nginx_conf, "-t"], capture_output=True,
                                            text=True, timeout=30)
            assert cls.nginx_test.returncode == 0, "nginx -t: %s" % cls.nginx_test.stderr
            r = subprocess.run(["nginx", "-p", t, "-c", cls.nginx_conf], capture_output=True, text=True, timeout=30)
            if "Address already in use" not in r.stderr:
                break
        assert r.returncode == 0, "nginx did not start: %s" % r.stderr
        pid_file = os.path.join(cls.ngx, "nginx.pid")
        wait_until(lambda: os.path.exists(pid_file) and read(pid_file).strip(), 10, 0.05, "nginx's pid file")
        cls.nginx_pid = int(read(pid_file).strip())
        wait_until(lambda: cls._answers(), 20, 0.1, "the shop's server block to answer")

    @classmethod
    def _answers(cls):
        try:
            return cls.get("/healthz").status == 200
        except OSError:
            return False

    @classmethod
    def get(cls, path, method="GET", body=None, headers=None):
        return http_request(cls.port, method, path, body=body, headers=headers)

    # --- the tests ---------------------------------------------------------------

    def test_nginx_t_is_clean(self):
        """The snippet in a server block beside the shop's own locations and named location: no duplicate, no
        warning."""
        self.assertNotRegex(self.nginx_test.stderr, r"\[(warn|emerg|alert|crit|error)\]", self.nginx_test.stderr)

    def test_shop_pages_answer_from_php(self):
        for path, script in (("/", "/index.php"), ("/index.php", "/index.php"), ("/some/shop/page", "/index.php"),
                             ("/some/shop/page?x=1", "/index.php"), ("/apix/products", "/index.php"),
                             ("/healthzz", "/index.php"), ("/statusx", "/index.php"),
                             ("/metrics/x", "/index.php"), ("/index.html", "/index.php")):
            with self.subTest(path=path):
                a = self.get(path)
                self.assertEqual((a.status, a.header("X-Shop")), (200, "php"), a)
                self.assertEqual(a.text, "shop index: uri=%s script=%s\n" % (path, script))
                self.assertFalse(from_app(a), a)
        # nginx's own rule for a prefix location ending in / that passes to FastCGI: /api alone is redirected
        # to /api/ (docs/operations.md says how a shop that serves /api itself keeps it)
        a = self.get("/api")
        self.assertEqual((a.status, a.header("Location")), (301, "http://127.0.0.1:%d/api/" % self.port), a)
        self.assertFalse(from_app(a), a)
        a = self.get("/other.php")
        self.assertEqual((a.status, a.header("X-Shop"), a.text), (200, "php", "shop other\n"))
        # the shop's static files, and its 404 for a PHP file it does not have
        a = self.get("/robots.txt")
        self.assertEqual((a.status, a.text), (200, "User-agent: *\n"))
        a = self.get("/css/shop.css")
        self.assertEqual(a.status, 200, a)
        self.assertTrue(a.header("Content-Type").startswith("text/css"), a.header("Content-Type"))
        # the shop's own named error page stays the shop's (nginx would silently take stockd's of the same name)
        a = self.get("/legacy/down.php")
        self.assertEqual((a.status, a.text), (502, "the shop is down\n"), a)
        self.assertFalse(from_app(a), a)
        a = self.get("/nope.php")
        self.assertEqual(a.status, 404, a)
        self.assertFalse(from_app(a), a)
        self.assertIsNone(a.json, "the shop's 404 is nginx's page, not stockd's JSON: %r" % a)
        # a big body to a shop page gets the shop's (nginx's) 413, not stockd's JSON one
        a = self.get("/index.php", method="POST", body=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "text/plain"})
        self.assertEqual(a.status, 413, a)
        self.assertIsNone(a.json, a)

    def test_api_answers_from_stockd(self):
        for path in ("/api/products/1", "/api/products?limit=1", "/api/stock?ids=1"):
            with self.subTest(path=path):
                a = self.get(path)
                self.assertEqual(a.status, 200, a)
                self.assertTrue(from_app(a), a)
                self.assertIsNone(a.header("X-Shop"), a)
                self.assertIsInstance(a.json, dict, a)
        # ^~: no regex of the shop (its \.php$) takes an API path; unknown API paths are the app's JSON 404
        for path in ("/api/x.php", "/api/index.php", "/api/nope", "/api/"):
            with self.subTest(path=path):
                a = self.get(path)
                self.assertEqual(a.status, 404, a)
                self.assertTrue(from_app(a), a)
                self.assertEqual((a.json or {}).get("error", {}).get("code"), "not_found", a)
        a = self.get("/api/cart", method="POST", body=b"", headers={"Content-Type": "application/json"})
        self.assertEqual(a.status, 201, a)
        self.assertRegex(a.json["cart_id"], r"^[0-9a-f]{32}$")
        # the snippet's JSON error pages on the API, whatever the shop's server block says for its own pages
        a = self.get("/api/cart/add", method="POST", body=b"x" * (2 * 1024 * 1024),
                     headers={"Content-Type": "application/json"})
        self.assertEqual(a.status, 413, a)
        self.assertEqual(a.json["error"]["code"], "payload_too_large", a)

    def test_operator_routes_as_in_the_shipped_config(self):
        """The service routes answer as they do through the bundled stack's nginx (the same app, the same
        snippet): same status, from the app; the routing probe answers the installed state."""
        for path in ("/healthz", "/readyz", "/metrics", "/status", "/status?full", "/api/admin/audit"):
            with self.subTest(path=path):
                a, b = self.get(path), get(path)
                self.assertEqual(a.status, b.status, (a, b))
                self.assertTrue(from_app(a), a)
                self.assertEqual(a.header("Content-Type"), b.header("Content-Type"))
                self.assertIsNone(a.header("X-Shop"), a)
        a = self.get("/_stockd/routing")
        self.assertEqual((a.status, a.text), (200, "old"))
        # the exact names only: neighbours stay the shop's
        for path in ("/healthz/", "/status/x", "/_stockd/other"):
            with self.subTest(path=path):
                a = self.get(path)
                self.assertFalse(from_app(a), a)
                self.assertEqual(a.header("X-Shop"), "php", a)

    def test_stockd_access_log_has_the_apps_requests_only(self):
        """`access_log ... stockd if=$stockd_route` in the shop's server block: the app's requests, in stockd's
        format (no cart id), and none of the shop's pages, whose 502s would otherwise count as the app's."""
        cart = "cd" * 16
        self.get("/api/cart/" + cart)
        self.get("/healthz")
        self.get("/shop/page-for-the-log")
        self.get("/legacy/down.php")
        log = os.path.join(self.ngx, "log", "stockd-access.log")
        text = wait_until(lambda: (lambda t: t if "/healthz" in t else None)(read(log) if os.path.exists(log) else ""),
                          10, 0.1, "the app's requests in stockd-access.log")
        self.assertIn('"GET /api/cart/:cart_id" ', text)
        self.assertNotIn(cart, text)
        self.assertNotIn("page-for-the-log", text)
        self.assertNotIn("down.php", text)
        self.assertRegex(text, r'"GET /healthz" 200 \d+ \S+ [0-9a-f]{32} mode=legacy')
        shop = read(os.path.join(self.ngx, "log", "shop-access.log"))
        self.assertIn("page-for-the-log", shop)

    def test_demo_pages_stay_in_the_bundled_stack(self):
        """The demo storefront is the bundled stack's (its own server block in conf/nginx/stack.conf.in), never the
        snippet's: in the shop's server block its paths are the shop's."""
        for path in ("/lib/safe-cart.js", "/config.js"):
            with self.subTest(path=path):
                stack = get(path)
                self.assertEqual(stack.status, 200, stack)
                self.assertRegex(stack.header("Content-Type"), r"^(application|text)/javascript")
                a = self.get(path)
                self.assertEqual((a.status, a.header("X-Shop")), (200, "php"), a)
        self.assertIn("<html", get("/").text.lower(), "the bundled stack serves its demo at %s/" % BASE_URL)


if __name__ == "__main__":
    unittest.main()
