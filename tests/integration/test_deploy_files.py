"""The files a real server gets: deploy/install into a scratch root, then the
installed systemd units, nginx site, routing include and logrotate file checked
by the real tools (systemd-analyze verify, nginx -t, deploy/routing, logrotate).

Touches neither the stack nor the system: everything lives in a temp dir, and
absolute paths of the installed files are rewritten to it where a tool would
otherwise read the real /etc or /usr/local.
"""

import http.client
import os
import pwd
import re
import shutil
import signal
import sys
import stat
import subprocess
import tempfile
import time
import unittest

from lib import STACK_DIR, free_port

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARE = "/usr/local/share/stockd"
UNITS = ["stockd.service", "stockd-migrate.service"]


def run(args, **kw):
    kw.setdefault("timeout", 60)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def http_get(port, path, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        r = conn.getresponse()
        return r.status, r.getheader("X-Stock-Mode"), r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def doc_links(path):
    """[(target, anchor)] of the relative links of a Markdown file: [text](target#anchor), URLs left out;
    target is "" for an anchor in the same file."""
    out = []
    for m in re.finditer(r"\]\(([^)\s]+)\)", read(path)):
        link = m.group(1)
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", link):
            continue
        target, _, anchor = link.partition("#")
        out.append((target, anchor))
    return out


def md_anchors(path):
    """The #anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as -,
    a repeated one numbered."""
    out, count = set(), {}
    fenced = False
    for line in read(path).splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = count.get(slug, 0)
        count[slug] = n + 1
        out.add(slug if n == 0 else "%s-%d" % (slug, n))
    return out


def install(root):
    r = run([os.path.join(TOP, "deploy", "install"), "--root", root])
    assert r.returncode == 0, "deploy/install --root %s failed (%d):\n%s" % (root, r.returncode, r.stdout)
    return r


class DeployFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stockd-deploy-")
        cls.root = os.path.join(cls.tmp, "root")
        install(cls.root)
        cls.site = os.path.join(cls.root, "etc/nginx/sites-available/stockd")
        cls.routing = os.path.join(cls.root, "etc/stockd/nginx/routing.conf")
        cls.routing_script = os.path.join(cls.root, SHARE.lstrip("/"), "deploy/routing")
        cls._nginx_setup()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _nginx_setup(cls):
        t = cls.ngx = os.path.join(cls.tmp, "nginx")
        cls.nginx_conf, cls.test_routing = cls.nginx_tree(t)

    @classmethod
    def nginx_tree(cls, t, port=None, upstream=None, user="", real_ip=None):
        """A minimal nginx.conf in directory t that includes the installed site within http{}, as Debian's
        nginx.conf includes sites-enabled/*. The site and the routing include are copies with their absolute
        paths pointed into the temp root; the installed files stay as shipped. With port, the site listens on
        127.0.0.1:port instead of port 80; with upstream, its upstream is that unix socket; with real_ip, that
        text replaces the installed real-ip.conf (the trusted proxies). Returns the paths of nginx.conf and of
        the routing include."""
        os.makedirs(os.path.join(t, "log"))
        os.makedirs(os.path.join(t, "temp"))
        test_routing = os.path.join(t, "routing.conf")
        share = cls.root + SHARE
        routing = read(cls.routing).replace("include %s/" % SHARE, "include %s/" % share)
        write(test_routing, routing)
        shutil.copy(os.path.join(cls.root, "etc/stockd/nginx/tester.conf"), os.path.join(t, "tester.conf"))
        shutil.copy(cls.routing[:-len(".conf")] + ".state", os.path.join(t, "routing.state"))
        test_real_ip = os.path.join(t, "real-ip.conf")
        write(test_real_ip, read(os.path.join(cls.root, "etc/stockd/nginx/real-ip.conf")) if real_ip is None
              else real_ip)
        site = (read(cls.site)
                .replace("/etc/stockd/nginx/routing.conf", test_routing)
                .replace("/etc/stockd/nginx/real-ip.conf", test_real_ip)
                .replace("/etc/stockd/nginx/tester.conf", os.path.join(t, "tester.conf"))
                .replace(SHARE + "/", share + "/")
                .replace("/var/log/nginx/", t + "/log/"))
        if port is not None:
            site, n = re.subn(r"(?m)^    listen 80;\n    listen \[::\]:80;.*$", "    listen 127.0.0.1:%d;" % port, site)
            assert n == 1, "the site's listen lines changed: update this test"
        if upstream is not None:
            site = site.replace("server unix:/run/stockd/stockd.sock;", "server unix:%s;" % upstream)
        write(os.path.join(t, "sites-enabled", "stockd"), site)
        # Nothing the test nginx reads may still come from the real /etc/stockd or /usr/local: only
        # /etc/nginx/fastcgi_params (the distribution's) is left as it is.
        for text in (site, routing, read(os.path.join(share, "conf/nginx/stockd-locations.conf"))):
            for path in re.findall(r"^\s*(?:include|access_log|error_log)\s+(/[^\s;]+)", text, re.M):
                assert path.startswith(cls.tmp) or path == "/etc/nginx/fastcgi_params", path
        nginx_conf = os.path.join(t, "nginx.conf")
        write(nginx_conf, """{user}\npid {t}/nginx.pid;
error_log {t}/log/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {t}/log/access.log;
    client_body_temp_path {t}/temp/body;
    fastcgi_temp_path {t}/temp/fastcgi;
    proxy_temp_path {t}/temp/proxy;
    uwsgi_temp_path {t}/temp/uwsgi;
    scgi_temp_path {t}/temp/scgi;
    include {t}/sites-enabled/*;
}}
""".format(t=t, user=user))
        return nginx_conf, test_routing

    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    # --- deploy/install --------------------------------------------------------

    def test_install_layout(self):
        """Every file where the units, the site and the scripts expect it; the routing include starts on old
        routes and names the installed routing-keys.conf by its final path; secrets are not world-readable."""
        for rel in ["usr/local/bin/stockd", SHARE + "/deploy/routing", SHARE + "/deploy/upgrade",
                    SHARE + "/deploy/admin", "usr/local/sbin/stockd-migrate"]:
            self.assertTrue(os.access(self.path(rel), os.X_OK), rel)
        for rel in [SHARE + "/sql/0001_legacy_cart.sql", SHARE + "/sql/0002_stock_management.sql",
                    SHARE + "/conf/nginx/stockd-locations.conf", SHARE + "/conf/nginx/routing-keys.conf",
                    "etc/systemd/system/stockd.service", "etc/systemd/system/stockd-migrate.service",
                    "etc/stockd/stockd.env", "etc/stockd/stockd.conf", "etc/nginx/sites-available/stockd",
                    "etc/logrotate.d/stockd", "etc/stockd/tokens", "etc/stockd/nginx/real-ip.conf",
                    SHARE + "/conf/nginx/forwarded.conf"]:
            self.assertTrue(os.path.isfile(self.path(rel)), rel)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("etc/stockd/stockd.env")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("etc/stockd/stockd.conf")).st_mode) & 0o007, 0)
        # The tokens: random, distinct, long, readable by root and its group only; the service reads them.
        self.assertEqual(stat.S_IMODE(os.stat(self.path("etc/stockd/tokens")).st_mode), 0o640)
        toks = dict(ln.split("=", 1) for ln in read(self.path("etc/stockd/tokens")).splitlines()
                    if ln and not ln.startswith("#"))
        self.assertEqual(sorted(toks), ["ADMIN_TOKEN", "METRICS_TOKEN"])
        for v in toks.values():
            self.assertRegex(v, r"^[0-9a-f]{64}$")
        self.assertNotEqual(toks["ADMIN_TOKEN"], toks["METRICS_TOKEN"])
        other = os.path.join(self.tmp, "tokens-other")
        install(other)
        self.assertNotEqual(read(os.path.join(other, "etc/stockd/tokens")), read(self.path("etc/stockd/tokens")))
        # The production conf trusts no loopback caller.
        conf_lines = [ln.split("#")[0].strip() for ln in read(self.path("etc/stockd/stockd.conf")).splitlines()]
        self.assertIn("TRUST_LOOPBACK=false", conf_lines)
        routing = read(self.routing)
        self.assertIn("include %s/conf/nginx/routing-keys.conf;" % SHARE, routing)
        self.assertIn('$stock_routing_state { default "old"; }', routing)
        self.assertEqual(read(self.path("etc/stockd/nginx/routing.state")).strip(), "old")
        # The tester override's guard: installed with TESTER_TOKEN unset (the override never counts),
        # readable by nginx's master only, next to a script that writes one with a token.
        tester = read(self.path("etc/stockd/nginx/tester.conf"))
        self.assertIn("map $cookie_stock_tester $stock_tester_ok { default 0; }", tester)
        self.assertNotRegex(tester, r"(?m)^\s*\S+\s+1;")
        self.assertEqual(stat.S_IMODE(os.stat(self.path("etc/stockd/nginx/tester.conf")).st_mode), 0o640)
        self.assertTrue(os.access(self.path(SHARE + "/deploy/tester-conf"), os.X_OK))
        # The units find what they name.
        svc = read(self.path("etc/systemd/system/stockd.service"))
        self.assertIn("ExecStart=/usr/local/bin/stockd serve\n", svc)
        # A reload is acknowledged only for a conf file the master takes: the check runs first, and systemd
        # stops at the first ExecReload= that fails.
        self.assertEqual(re.findall(r"(?m)^ExecReload=(.*)$", svc),
                         ["/usr/local/bin/stockd --check-config", "/bin/kill -HUP $MAINPID"])
        self.assertIn("EnvironmentFile=/etc/stockd/stockd.env\n", svc)
        self.assertIn("EnvironmentFile=/etc/stockd/tokens\n", svc)
        mig = read(self.path("etc/systemd/system/stockd-migrate.service"))
        self.assertIn("ExecStart=/usr/local/bin/stockd migrate %s/sql\n" % SHARE, mig)
        # The by-hand wrapper runs the same binary on the same directory, as the same user with the same env.
        wrapper = read(self.path("usr/local/sbin/stockd-migrate"))
        self.assertIn("/usr/local/bin/stockd migrate \"$sql\" \"$@\"", wrapper)
        self.assertIn("sql=${STOCKD_SQL_DIR:-%s/sql}" % SHARE, wrapper)
        self.assertIn("-p User=stockd -p Group=stockd -p EnvironmentFile=/etc/stockd/stockd.env", wrapper)
        self.assertNotIn("ExecStartPre", svc)
        # The env file pins nothing an operator flips with a reload, and sets no key to an empty value
        # (an empty number is refused at start).
        env = [ln for ln in read(self.path("etc/stockd/stockd.env")).splitlines() if ln and not ln.startswith("#")]
        keys = {ln.split("=", 1)[0]: ln.split("=", 1)[1] for ln in env}
        self.assertNotIn("ENABLE_STOCK_MANAGEMENT", keys)
        self.assertEqual(keys.get("LISTEN"), "unix:/run/stockd/stockd.sock")
        self.assertEqual(keys.get("STOCKD_CONF"), "/etc/stockd/stockd.conf")
        self.assertEqual([k for k, v in keys.items() if v == ""], [])

    def test_install_has_every_doc_operations_links_to(self):
        """docs/operations.md is installed with every file it links to, and what those link to (API.md links
        openapi.yaml...), so that on a server without the source tree each relative link of an installed doc
        resolves, its #anchor included."""
        docs = os.path.join(self.root, SHARE.lstrip("/"), "docs")
        direct = doc_links(os.path.join(TOP, "docs", "operations.md"))
        self.assertGreaterEqual(len({t for t, _ in direct}), 3, "links of docs/operations.md: %s" % direct)
        todo, seen = [os.path.join(docs, "operations.md")], set()
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            self.assertTrue(os.path.isfile(f), "%s is linked to but not installed" % os.path.relpath(f, self.root))
            if not f.endswith(".md"):
                continue
            for target, anchor in doc_links(f):
                path = os.path.normpath(os.path.join(os.path.dirname(f), target)) if target else f
                with self.subTest(doc=os.path.basename(f), link=target + ("#" + anchor if anchor else "")):
                    self.assertTrue(path.startswith(self.root + SHARE + "/"), path)
                    self.assertTrue(os.path.isfile(path), "%s: %s is not installed" % (f, path))
                    if anchor and path.endswith(".md"):
                        self.assertIn(anchor, md_anchors(path), "%s: no heading #%s in %s" % (f, anchor, path))
                todo.append(path)
        installed = sorted(os.path.relpath(f, docs) for f in seen)
        for name in ("operations.md", "API.md", "monitoring.md", "openapi.yaml"):
            self.assertIn(name, installed)

    def test_reinstall_keeps_operator_files(self):
        """A second install (an upgrade) replaces the shipped files but keeps the operator's: settings, site,
        and above all the live routing state."""
        root = os.path.join(self.tmp, "again")
        install(root)
        mine = {"etc/stockd/stockd.env": "DB_PASSWORD=mine\n", "etc/stockd/stockd.conf": "WORKERS=3\n",
                "etc/stockd/tokens": "ADMIN_TOKEN=mine\n", "etc/stockd/nginx/real-ip.conf": "# mine\n",
                "etc/nginx/sites-available/stockd": "# mine\n", "etc/stockd/nginx/routing.conf": "# canary 10\n"}
        for rel, text in mine.items():
            write(os.path.join(root, rel), text)
        os.unlink(os.path.join(root, "usr/local/bin/stockd"))
        install(root)
        for rel, text in mine.items():
            self.assertEqual(read(os.path.join(root, rel)), text, rel)
        self.assertTrue(os.access(os.path.join(root, "usr/local/bin/stockd"), os.X_OK))

    # --- systemd ---------------------------------------------------------------

    def test_units_verify(self):
        """systemd-analyze verify: no unknown keys, bad values or missing binaries. It checks that ExecStart=
        exists, and its --root does not apply to verify on systemd 252 (it then wants a whole systemd tree in
        the root), so it verifies copies whose /usr/local/bin/stockd names the installed binary."""
        exe = shutil.which("systemd-analyze")
        self.assertIsNotNone(exe, "systemd-analyze missing (package systemd)")
        d = os.path.join(self.tmp, "units")
        os.makedirs(d)
        paths = []
        for u in UNITS:
            text = read(self.path("etc/systemd/system/" + u))
            self.assertIn("/usr/local/bin/stockd ", text)
            p = os.path.join(d, u)
            write(p, text.replace("/usr/local/bin/stockd ", self.path("usr/local/bin/stockd") + " "))
            paths.append(p)
        r = run([exe, "verify"] + paths)
        about = [ln for ln in r.stdout.splitlines() if "stockd" in ln]
        self.assertEqual((r.returncode, about), (0, []), r.stdout)

    # --- nginx -----------------------------------------------------------------

    def test_nginx_site(self):
        """nginx -t on an nginx.conf that includes the installed site inside http{}: the site's top part
        (upstream, routing include, map, log_format, rate-limit zones) is valid at http level, the shared
        locations inside server{}."""
        r = run(["nginx", "-p", self.ngx, "-c", self.nginx_conf, "-t"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotRegex(r.stdout, r"\[(warn|emerg|alert|crit|error)\]")
        site = read(self.site)
        self.assertIn("include /etc/stockd/nginx/routing.conf;", site)
        self.assertIn("include /etc/stockd/nginx/tester.conf;", site)
        self.assertIn("include %s/conf/nginx/stockd-locations.conf;" % SHARE, site)
        # the routing include and upstream are at http level, before the server block
        head = site[:site.index("\nserver {")]
        for directive in ("upstream stockd", "include /etc/stockd/nginx/routing.conf;",
                          "include /etc/stockd/nginx/tester.conf;", "log_format stockd",
                          "include %s/conf/nginx/limits.conf;" % SHARE):
            self.assertIn(directive, head)

    def test_bad_routing_argument(self):
        """deploy/routing (the installed copy) refuses `canary 101` against the temp nginx: non-zero exit,
        the routing include byte for byte unchanged, no stray temp or backup file next to it."""
        before = read(self.test_routing)
        listing = sorted(os.listdir(self.ngx))
        r = run([self.routing_script, "--nginx-conf", self.nginx_conf, "--routing-file", self.test_routing,
                 "canary", "101"])
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("0..100", r.stdout)
        self.assertEqual(read(self.test_routing), before)
        self.assertEqual(sorted(os.listdir(self.ngx)), listing)
        # and the file it left is still one nginx accepts
        self.assertEqual(run(["nginx", "-p", self.ngx, "-c", self.nginx_conf, "-t"]).returncode, 0)

    def test_live_site_and_routing_switch(self):
        """The documented switch on a running nginx serving the installed site, its upstream pointed at the
        test stack's app: deploy/routing with --nginx-conf, --routing-file and --url (no pid file: it reloads
        with nginx -s reload) goes old -> canary 10 -> old, each confirmed by nginx itself, and requests reach
        the app through the site's locations in the mode the routing include gives."""
        sock = os.path.join(STACK_DIR, "run", "stockd.sock") if STACK_DIR else ""
        if not sock or not os.path.exists(sock):
            self.skipTest("no test stack (run through tests/run-all)")
        # As on a real server, nginx's workers run as www-data, the socket's group (when we are root and
        # www-data can reach the stack's socket; deploy/stack makes the same choice).
        user = ""
        if os.geteuid() == 0:
            reach = run(["runuser", "-u", "www-data", "--", "test", "-x", os.path.dirname(sock)])
            user = "user www-data www-data;" if reach.returncode == 0 else "user root root;"
        for attempt in range(3):  # a free port may be taken by another process before nginx binds it
            port = free_port()
            t = os.path.join(self.tmp, "nginx-live-%d" % attempt)
            conf, routing = self.nginx_tree(t, port=port, upstream=sock, user=user)
            r = run(["nginx", "-c", conf])
            if "Address already in use" not in r.stdout:
                break
        self.assertEqual(r.returncode, 0, r.stdout)
        url = "http://127.0.0.1:%d" % port
        pid_file = os.path.join(t, "nginx.pid")

        def routing_cmd(*args):
            return run([self.routing_script, "--nginx-conf", conf, "--routing-file", routing, "--url", url]
                       + list(args))

        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(routing_cmd("status").stdout.strip(), "old")
            self.assertEqual(http_get(port, "/_stockd/routing")[2], "old")
            status, mode, body = http_get(port, "/healthz")
            self.assertEqual((status, mode), (200, "legacy"), body)
            # the site gives the app /api/ and the service routes only: the rest stays the shop's
            status, mode, body = http_get(port, "/api/nope")
            self.assertEqual((status, mode), (404, "legacy"), body)
            self.assertIn('"code":"not_found"', body)
            for path in ("/", "/index.php", "/api", "/healthzz"):
                status, mode, body = http_get(port, path)
                self.assertIsNone(mode, "%s reached the app: %d %s" % (path, status, body))
                self.assertLess(status, 500, body)
            # TESTER_TOKEN unset (as installed): the stock_mode cookie never counts, with any stock_tester
            for cookie in ("stock_mode=stock", "stock_mode=stock; stock_tester=", "stock_tester=; stock_mode=stock",
                           "stock_mode=stock; stock_tester=x"):
                self.assertEqual(http_get(port, "/healthz", cookie=cookie)[:2], (200, "legacy"), cookie)
            # the documented way to set one: deploy/tester-conf TOKEN, nginx -t, reload
            token = "T0k-" + os.urandom(12).hex()
            r = run([os.path.join(self.root, SHARE.lstrip("/"), "deploy/tester-conf"), token])
            self.assertEqual(r.returncode, 0, r.stdout)
            write(os.path.join(t, "tester.conf"), r.stdout)
            self.assertEqual(run(["nginx", "-c", conf, "-t"]).returncode, 0)
            self.reload_nginx(conf, pid_file)
            self.assertEqual(http_get(port, "/healthz", cookie="stock_mode=stock; stock_tester=" + token)[:2],
                             (200, "stock"))
            for cookie in ("stock_mode=stock", "stock_mode=stock; stock_tester=" + token.upper(),
                           "stock_mode=stock; stock_tester=" + token[:-1], "stock_mode=stock; stock_tester=x" + token,
                           "stock_mode=stock; stock_tester="):
                self.assertEqual(http_get(port, "/healthz", cookie=cookie)[:2], (200, "legacy"), cookie)
            # the production site has no tester page (the bundled stack's /cart/test)
            status, _, body = http_get(port, "/cart/test?token=" + token)
            self.assertEqual(status, 404, body)
            for state in (["canary", "10"], ["old"]):
                want = " ".join(state)
                r = routing_cmd(*state)
                self.assertEqual(r.returncode, 0, r.stdout)
                if r.stdout.strip().count("\n"):  # it recovered from a slow reload: show what it said
                    print("\n  deploy/routing %s said: %s" % (want, r.stdout.strip()), file=sys.stderr)
                self.assertEqual(r.stdout.strip().splitlines()[-1], want)
                self.assertEqual(http_get(port, "/_stockd/routing")[2], want)
                self.assertEqual(routing_cmd("status").stdout.strip(), want)
            # the access log never shows a cart id
            http_get(port, "/api/cart/" + "ab" * 16)
        finally:
            try:
                with open(pid_file) as f:
                    pid = int(f.read().strip())
                os.kill(pid, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass
        access = read(os.path.join(t, "log", "stockd-access.log"))
        self.assertIn('"GET /api/cart/:cart_id"', access)
        self.assertNotIn("ab" * 16, access)

    @staticmethod
    def reload_nginx(conf, pid_file):
        """nginx -s reload, then wait until every worker of the old generation is gone: from then on every
        request is served with the new configuration."""
        with open(pid_file) as f:
            master = int(f.read().strip())

        def workers():
            r = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
            return {int(x) for x in r.stdout.split()}
        old = workers()
        r = run(["nginx", "-c", conf, "-s", "reload"])
        assert r.returncode == 0, r.stdout
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = workers()
            if now and not (now & old):
                return
            time.sleep(0.05)
        raise AssertionError("nginx's old workers %s still run after the reload" % sorted(old & workers()))

    # --- logrotate -------------------------------------------------------------

    def test_logrotate(self):
        """logrotate reads the installed file and rotates a log in a directory owned by another user (like
        /var/log/stockd, owner stockd, 0755) without an `su` line. The log path is moved into the temp dir and,
        where no stockd user exists, the file's owner is given to daemon."""
        exe = shutil.which("logrotate")
        if exe is None:
            self.skipTest("logrotate is not installed (deploy/install-deps)")
        if os.geteuid() != 0:
            self.skipTest("needs root: the log directory is given to another user, as in production")
        text = read(self.path("etc/logrotate.d/stockd"))
        self.assertIn("/var/log/stockd/*.log {", text)
        self.assertIn("create 0640 stockd adm", text)
        self.assertRegex(text, r"postrotate\s+systemctl kill (-s|--signal=)USR1 --kill-who=main stockd\.service")
        logdir = os.path.join(self.tmp, "log", "stockd")
        os.makedirs(logdir)
        try:
            pwd.getpwnam("stockd")
            owner = "stockd"
        except KeyError:
            owner = "daemon"
        text = text.replace("/var/log/stockd/", logdir + "/").replace("create 0640 stockd ", "create 0640 %s " % owner)
        # the postrotate script is not the point here: logrotate only has to run it
        text = re.sub(r"(?s)postrotate.*?endscript", "postrotate\n\t\ttrue\n\tendscript", text)
        conf = os.path.join(self.tmp, "logrotate.conf")
        write(conf, text)
        write(os.path.join(logdir, "stockd.log"), "a line\n")
        uid = pwd.getpwnam(owner).pw_uid
        os.chown(logdir, uid, -1)
        os.chmod(logdir, 0o755)
        r = run([exe, "-f", "-s", os.path.join(self.tmp, "logrotate.state"), conf])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(read(os.path.join(logdir, "stockd.log.1")), "a line\n")
        st = os.stat(os.path.join(logdir, "stockd.log"))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o640, uid))


if __name__ == "__main__":
    unittest.main()
