"""A trusted front end, and cookies that follow it (issue 13, item 2), on the installed layout live
(installed_layout.py).

The test nginx trusts one proxy, 127.0.0.2 (its real-ip.conf says `set_real_ip_from 127.0.0.2;`), so the same
nginx shows both sides: a client on 127.0.0.1 is an untrusted peer whose X-Forwarded-For and X-Forwarded-Proto are
ignored, a client on 127.0.0.2 is the trusted proxy. Also: the Secure attribute from the FastCGI param HTTPS, and
the TLS server block of docs/operations.md run with a self-signed certificate.
"""

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import nginx_copy
import test_fastcgi_raw as raw
import test_deploy_files as deploy_files
from installed_layout import SHARE, Layout, free_port, http_request, read
from lib import audit_ok, free_ports, wait_until

TRUSTED = "127.0.0.2"
UNTRUSTED = "127.0.0.1"
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCS = os.path.join(TOP, "docs", "operations.md")


def cookie(a):
    """The cart_id Set-Cookie of an answer."""
    cookies = [c for c in a.header_all("Set-Cookie") if c.startswith("cart_id=")]
    assert len(cookies) == 1, "one cart_id cookie expected: %r %r" % (a.header_all("Set-Cookie"), a)
    return cookies[0]


def attributes(set_cookie):
    return [p.strip() for p in set_cookie.split(";")[1:]]


def exchange(sock, data, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    got = b""
    try:
        s.connect(sock)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                return got
            got += b
    finally:
        s.close()


class TrustedProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The shipped real-ip.conf (what deploy/install puts in /etc/stockd/nginx) with one trusted proxy
        # added, as an operator would.
        shipped = read(os.path.join(TOP, "deploy", "nginx", "real-ip.conf"))
        assert not re.search(r"(?m)^\s*set_real_ip_from", shipped), "the shipped real-ip.conf must trust nobody"
        cls.layout = Layout(real_ip=shipped + "set_real_ip_from %s;\n" % TRUSTED)

    @classmethod
    def tearDownClass(cls):
        cls.layout.close()

    def tearDown(self):
        self.assertEqual(self.layout.sanitizer_reports(), [])
        audit_ok()

    def logged_address(self, a):
        """The client address nginx's access log shows for the request that got answer a."""
        rid = a.header("X-Request-Id")
        self.assertTrue(rid, a)
        # nginx writes the log line when it finalizes the request, which may be just after the client has
        # read the answer: wait for it (2 s at most).
        deadline = time.monotonic() + 2
        while True:
            lines = [ln for ln in read(self.layout.access_log).splitlines() if " %s " % rid in ln]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(len(lines), 1, "access log lines for %s: %r" % (rid, lines))
        return lines[0].split(" ", 1)[0]

    def test_a_forwarded_for_only_from_a_trusted_peer(self):
        L = self.layout
        for source, xff, want in [(UNTRUSTED, "203.0.113.7", UNTRUSTED), (UNTRUSTED, None, UNTRUSTED),
                                  (TRUSTED, "203.0.113.7", "203.0.113.7"),
                                  # recursive: the rightmost address that is not a trusted proxy
                                  (TRUSTED, "198.51.100.1, 203.0.113.7, 127.0.0.2", "203.0.113.7"),
                                  (TRUSTED, None, TRUSTED)]:
            with self.subTest(source=source, xff=xff):
                a = L.get("/api/products/1", source=source, headers={"X-Forwarded-For": xff} if xff else {})
                self.assertEqual(a.status, 200, a)
                self.assertEqual(self.logged_address(a), want)

    def test_b_rate_limits_key_on_the_real_client(self):
        """Cart creation is limited per client address (burst 20, 30 a minute), loopback exempt. Through the
        trusted proxy the key is the forwarded client: limited. From an untrusted loopback peer a forged
        X-Forwarded-For changes nothing: still loopback, still exempt."""
        L = self.layout
        out = [L.post("/api/cart", source=TRUSTED, headers={"X-Forwarded-For": "203.0.113.8"}) for _ in range(30)]
        statuses = collections.Counter(a.status for a in out)
        self.assertEqual(set(statuses), {201, 429}, statuses)
        self.assertLessEqual(statuses[201], 20 + 1 + 2, statuses)  # the burst, plus what 30/min refills
        limited = [a for a in out if a.status == 429]
        self.assertEqual(limited[0].error["code"], "rate_limited")
        self.assertEqual(self.logged_address(limited[0]), "203.0.113.8")
        # another forwarded client has its own budget
        self.assertEqual(L.post("/api/cart", source=TRUSTED, headers={"X-Forwarded-For": "203.0.113.9"}).status, 201)
        out = [L.post("/api/cart", source=UNTRUSTED, headers={"X-Forwarded-For": "203.0.113.8"}) for _ in range(30)]
        statuses = collections.Counter(a.status for a in out)
        self.assertEqual(statuses, {201: 30}, statuses)
        self.assertEqual(self.logged_address(out[-1]), UNTRUSTED)

    def test_c_the_apps_operator_check_sees_the_real_client(self):
        """The app's own rule: with TRUST_LOOPBACK=true a loopback REMOTE_ADDR opens operator routes, so it
        must be the real client's; with TRUST_LOOPBACK=false (the production layout) no address does."""
        L = self.layout
        L.set_conf("TRUST_LOOPBACK", "true")
        try:
            # an untrusted peer's X-Forwarded-For is ignored: the app sees the peer, which is loopback
            a = L.get("/api/admin/audit", source=UNTRUSTED, headers={"X-Forwarded-For": "203.0.113.7"})
            self.assertEqual(a.status, 200, a)
            # the trusted proxy's own request
            self.assertEqual(L.get("/api/admin/audit", source=TRUSTED).status, 200)
            # a client behind the trusted proxy is that client, not loopback
            a = L.get("/api/admin/audit", source=TRUSTED, headers={"X-Forwarded-For": "203.0.113.7"})
            self.assertEqual((a.status, a.error["code"]), (403, "forbidden"), a)
        finally:
            L.set_conf("TRUST_LOOPBACK", "false")
        for source, h in [(UNTRUSTED, {}), (TRUSTED, {}), (TRUSTED, {"X-Forwarded-For": "127.0.0.1"}),
                          (UNTRUSTED, {"X-Forwarded-For": "127.0.0.1"})]:
            with self.subTest(source=source, headers=h):
                a = L.get("/api/admin/audit", source=source, headers=h)
                self.assertEqual((a.status, a.error["code"]), (403, "forbidden"), a)
        a = L.get("/api/admin/audit", source=TRUSTED, headers={"X-Forwarded-For": "203.0.113.7"},
                  token=L.admin_token)
        self.assertEqual(a.status, 200, a)

    def test_d_secure_cookie_from_the_https_param(self):
        """The app sets Secure exactly when nginx says HTTPS=on (raw FastCGI, nginx left out)."""
        for value, secure in [(None, False), ("on", True), ("ON", True), ("off", False), ("", False)]:
            with self.subTest(HTTPS=value):
                params = raw.http_params("POST", "/api/cart")
                if value is not None:
                    params += raw.nv_pair(b"HTTPS", value.encode())
                got = exchange(self.layout.sock, raw.begin() + raw.stream(raw.PARAMS, params)
                               + raw.stream(raw.STDIN, b""))
                status, headers, body, _ = raw.http_response(got)
                self.assertEqual(status, 201, body)
                c = headers["set-cookie"]
                self.assertRegex(c, r"^cart_id=[0-9a-f]{32}; ")
                self.assertEqual(attributes(c), ["Path=/", "HttpOnly", "SameSite=Lax"] + (["Secure"] if secure else []))

    def test_e_secure_cookie_from_a_trusted_proxys_forwarded_proto(self):
        L = self.layout
        for source, h, secure in [
                (TRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, True),
                (TRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "HTTPS"}, True),
                (TRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}, False),
                (TRUSTED, {"X-Forwarded-For": "203.0.113.7"}, False),
                (TRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https|1|2"}, False),
                (UNTRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, False),
                (UNTRUSTED, {"X-Forwarded-Proto": "https"}, False)]:
            with self.subTest(source=source, headers=h):
                a = L.post("/api/cart", source=source, headers=h)
                self.assertEqual(a.status, 201, a)
                self.assertEqual("Secure" in attributes(cookie(a)), secure, cookie(a))

    def test_f_tls_server_block_of_the_docs(self):
        """The TLS example of docs/operations.md, as written (only ports, certificate and paths moved into a temp
        dir): nginx -t passes; over HTTPS the answer has HSTS and the cart cookie Secure; plain HTTP from the
        network is redirected; the loopback server for local tools serves plain HTTP without Secure."""
        L = self.layout
        docs = read(DOCS)
        blocks = [b for b in re.findall(r"```nginx\n(.*?)```", docs, re.S) if "listen 443 ssl" in b]
        self.assertEqual(len(blocks), 1, "one nginx block with `listen 443 ssl` in docs/operations.md")
        block = blocks[0]
        self.assertIn('add_header Strict-Transport-Security "max-age=31536000" always;', block)
        t = os.path.join(L.tmp, "tls")
        user = "user www-data www-data;" if os.geteuid() == 0 else ""
        p80, plocal, p443 = free_ports(3)
        conf, _ = deploy_files.DeployFiles.nginx_tree.__func__(L, t, port=p80, upstream=L.sock, user=user)
        cert, key = os.path.join(t, "cert.pem"), os.path.join(t, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=shop.example.com"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        subs = [("listen 127.0.0.1:80;", "listen 127.0.0.1:%d;" % plocal),
                ("listen 80;", "listen 127.0.0.1:%d;" % p80),
                ("listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % p443),
                ("/etc/letsencrypt/live/shop.example.com/fullchain.pem", cert),
                ("/etc/letsencrypt/live/shop.example.com/privkey.pem", key),
                ("/var/log/nginx/", os.path.join(t, "log") + "/"),
                ("/etc/stockd/nginx/real-ip.conf", os.path.join(t, "real-ip.conf")),
                (SHARE + "/", L.root + SHARE + "/")]
        for old, new in subs:
            self.assertIn(old, block)
            block = block.replace(old, new)
        block = "\n".join(ln for ln in block.splitlines() if "listen [::]" not in ln)
        site_path = os.path.join(t, "sites-enabled", "stockd")
        site = read(site_path)
        head = site[:site.index("\nserver {")]
        with open(site_path, "w") as f:
            f.write(head + "\n" + block)
        r = subprocess.run(["nginx", "-c", conf, "-t"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotRegex(r.stderr, r"\[(warn|emerg|alert|crit|error)\]")
        r = subprocess.run(["nginx", "-c", conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        pid_file = os.path.join(t, "nginx.pid")
        try:
            wait_until(lambda: os.path.exists(pid_file), 10, 0.05, "the TLS nginx")

            def up():
                try:
                    return http_request(p443, "GET", "/healthz", tls=True).status == 200
                except OSError:
                    return False
            wait_until(up, 10, 0.1, "the TLS server to answer")
            a = http_request(p443, "POST", "/api/cart", tls=True)
            self.assertEqual(a.status, 201, a)
            self.assertIn("Secure", attributes(cookie(a)))
            self.assertEqual(a.header("Strict-Transport-Security"), "max-age=31536000")
            a = http_request(p443, "GET", "/api/products/999999999", tls=True)  # an error answer: HSTS too
            self.assertEqual((a.status, a.header("Strict-Transport-Security")), (404, "max-age=31536000"), a)
            a = http_request(p80, "GET", "/api/products/1", headers={"Host": "shop.example.com"})
            self.assertEqual((a.status, a.header("Location")), (301, "https://shop.example.com/api/products/1"), a)
            a = http_request(plocal, "POST", "/api/cart")
            self.assertEqual(a.status, 201, a)
            self.assertNotIn("Secure", attributes(cookie(a)))
            self.assertIsNone(a.header("Strict-Transport-Security"))
        finally:
            try:
                pid = int(read(pid_file).strip())
                os.kill(pid, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass


class TesterCookies(unittest.TestCase):
    """The cookies the bundled stack's /cart/test sets (nginx, not the app) follow the client's HTTPS the same way:
    a copy of the stack's nginx.conf that trusts 127.0.0.2 as a proxy, in front of the stack's app."""

    @classmethod
    def setUpClass(cls):
        from lib import STACK_DIR, TESTER_TOKEN
        if not TESTER_TOKEN:
            raise AssertionError("the stack has no TESTER_TOKEN")
        cls.token = TESTER_TOKEN
        cls.tmp = tempfile.mkdtemp(prefix="stockd-tester-nginx.")
        os.chmod(cls.tmp, 0o755)
        text = read(os.path.join(STACK_DIR, "nginx", "nginx.conf"))
        for _ in range(3):
            cls.port = free_port()
            subs = [(r"(?m)^pid\s+\S+;", "pid %s/nginx.pid;" % cls.tmp, 1),
                    (r"(?m)^error_log\s+\S+", "error_log %s/error.log" % cls.tmp, 1),
                    (r"(?m)^(\s*)access_log\s+\S+", r"\1access_log %s/access.log" % cls.tmp, 1),
                    (r"(?m)^(\s*)(\w+_temp_path)\s+\S+;", r"\1\2 %s/temp/\2;" % cls.tmp, 5),
                    (r"(?m)^(\s*)listen\s+127\.0\.0\.1:\d+;",
                     r"\1listen 127.0.0.1:%d;\n\1set_real_ip_from %s;\n\1real_ip_header X-Forwarded-For;"
                     % (cls.port, TRUSTED), 1)]
            conf = text
            for pat, rep, n in subs:
                conf, got = re.subn(pat, rep, conf)
                assert got == n, "nginx.conf: %d matches of %s, expected %d" % (got, pat, n)
            os.makedirs(os.path.join(cls.tmp, "temp"), exist_ok=True)
            cls.conf = os.path.join(cls.tmp, "nginx.conf")
            with open(cls.conf, "w") as f:
                f.write(conf)
            r = subprocess.run(["nginx", "-p", cls.tmp, "-c", cls.conf], capture_output=True, text=True, timeout=30)
            if "Address already in use" not in r.stderr:
                break
        assert r.returncode == 0, r.stderr
        wait_until(lambda: os.path.exists(os.path.join(cls.tmp, "nginx.pid")), 10, 0.05, "the tester nginx")

    @classmethod
    def tearDownClass(cls):
        nginx_copy.stop(cls.tmp)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_tester_cookies_secure_with_https(self):
        path = "/cart/test?token=%s&mode=legacy" % self.token
        for source, h, secure in [(TRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, True),
                                  (TRUSTED, {"X-Forwarded-For": "203.0.113.7"}, False),
                                  (UNTRUSTED, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, False),
                                  (UNTRUSTED, {}, False)]:
            with self.subTest(source=source, headers=h):
                a = http_request(self.port, "GET", path, headers=h, source=source)
                self.assertEqual(a.status, 302, a)
                cookies = a.header_all("Set-Cookie")
                self.assertEqual(sorted(c.split("=", 1)[0] for c in cookies), ["stock_mode", "stock_tester"], cookies)
                for c in cookies:
                    self.assertEqual("Secure" in attributes(c), secure, c)
                    self.assertIn("SameSite=Lax", attributes(c))
        # a wrong token still sets nothing, Secure or not
        a = http_request(self.port, "GET", "/cart/test?token=nope", source=TRUSTED,
                         headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
        self.assertEqual((a.status, a.header_all("Set-Cookie")), (403, []), a)


if __name__ == "__main__":
    unittest.main()
