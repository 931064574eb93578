"""The production layout, live: deploy/install into a temp root, then a second stockd master started from the
installed binary with the installed conf (TRUST_LOOPBACK=false) and the installed tokens (as systemd's
EnvironmentFile= hands them over), and an nginx serving the installed site in front of it. The app uses the test
stack's database; its socket and nginx are its own, so nothing of the stack's configuration changes.

Used by test_php_neighbour and test_trusted_proxy. Not a test module itself.
"""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

import test_deploy_files as deploy_files
from lib import DB_NAME, DB_SOCKET, free_port, metric, wait_until

SHARE = deploy_files.SHARE


def read(path):
    with open(path) as f:
        return f.read()


def parse_tokens(path):
    out = {}
    for line in read(path).splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text)
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def header_all(self, name):
        return [v for k, v in self.raw_headers if k.lower() == name.lower()]

    @property
    def error(self):
        j = self.json
        return j.get("error") if isinstance(j, dict) and isinstance(j.get("error"), dict) else None

    def __repr__(self):
        return "<%s %s>" % (self.status, self.text[:300])


def http_request(port, method, path, body=None, headers=None, source=None, tls=False, host="127.0.0.1"):
    """One request to 127.0.0.1:port (from `source`, a loopback address); Answer."""
    src = (source, 0) if source else None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
        conn = http.client.HTTPSConnection(host, port, timeout=30, source_address=src, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30, source_address=src)
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        a = Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        a.raw_headers = r.getheaders()
        return a
    finally:
        conn.close()


class Layout:
    """deploy/install --root into tmp, the app and nginx of the installed layout. real_ip: the text of
    /etc/stockd/nginx/real-ip.conf for the test nginx (default: the installed one, which trusts no proxy)."""

    def __init__(self, real_ip=None, workers=2):
        self.tmp = tempfile.mkdtemp(prefix="stockd-layout-")
        os.chmod(self.tmp, 0o755)  # www-data reaches the socket through it, as nginx's workers do
        self.root = os.path.join(self.tmp, "root")
        self.app = None
        self.nginx_pid_file = None
        try:
            deploy_files.install(self.root)
            self.tokens = parse_tokens(os.path.join(self.root, "etc/stockd/tokens"))
            self.admin_token, self.metrics_token = self.tokens["ADMIN_TOKEN"], self.tokens["METRICS_TOKEN"]
            self.conf = os.path.join(self.root, "etc/stockd/stockd.conf")
            self._start_app(workers)
            self._start_nginx(real_ip)
        except BaseException:
            self.close()
            raise

    # --- the app -----------------------------------------------------------------

    def _start_app(self, workers):
        run = os.path.join(self.tmp, "run")
        os.makedirs(run)
        os.chmod(run, 0o755)  # as RuntimeDirectoryMode=0755
        os.makedirs(os.path.join(self.tmp, "log"))
        self.sock = os.path.join(run, "stockd.sock")
        self.app_pid_file = os.path.join(run, "stockd.pid")
        self.app_stderr = os.path.join(self.tmp, "log", "stockd.stderr")
        self.app_log = os.path.join(self.tmp, "log", "stockd.log")
        # What stockd.service gives the master: stockd.env's kind of keys, then the tokens file. Nothing from
        # the caller's environment but the sanitizer options of an ASan build.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STOCKD_CONF": self.conf,
               "DB_SOCKET": DB_SOCKET, "DB_USER": "stockd", "DB_PASSWORD": "stockd", "DB_NAME": DB_NAME,
               "LISTEN": "unix:" + self.sock, "PID_FILE": self.app_pid_file, "LOG_FILE": self.app_log,
               "WORKERS": str(workers)}
        if os.geteuid() == 0:
            env["LISTEN_GROUP"] = "www-data"
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        env.update(self.tokens)
        self.workers = workers
        with open(self.app_stderr, "ab") as err:
            self.app = subprocess.Popen([os.path.join(self.root, "usr/local/bin/stockd"), "serve"], env=env,
                                        stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)

        def up():
            if self.app.poll() is not None:
                raise AssertionError("the installed app exited (%s): %s" % (self.app.returncode,
                                                                            read(self.app_stderr)[-2000:]))
            return os.path.exists(self.sock) and os.path.exists(self.app_pid_file)
        wait_until(up, 20, 0.05, "the installed app's socket")

    def app_pid(self):
        return self.app.pid

    def worker_pids(self):
        r = subprocess.run(["pgrep", "-P", str(self.app.pid)], capture_output=True, text=True)
        return sorted(int(x) for x in r.stdout.split())

    # --- nginx -------------------------------------------------------------------

    def _start_nginx(self, real_ip):
        user = "user www-data www-data;" if os.geteuid() == 0 else ""
        for attempt in range(3):  # a free port may be taken before nginx binds it
            self.port = free_port()
            self.ngx = os.path.join(self.tmp, "nginx-%d" % attempt)
            self.nginx_conf, _ = deploy_files.DeployFiles.nginx_tree.__func__(
                self, self.ngx, port=self.port, upstream=self.sock, user=user, real_ip=real_ip)
            r = subprocess.run(["nginx", "-c", self.nginx_conf], capture_output=True, text=True, timeout=30)
            if "Address already in use" not in r.stderr:
                break
        if r.returncode != 0:
            raise AssertionError("nginx did not start: %s" % r.stderr)
        self.nginx_pid_file = os.path.join(self.ngx, "nginx.pid")
        self.access_log = os.path.join(self.ngx, "log", "stockd-access.log")
        wait_until(lambda: self._healthy(), 20, 0.1, "the installed site to answer /healthz")

    # nginx_tree (test_deploy_files) reads these, as DeployFiles' class attributes.
    @property
    def site(self):
        return os.path.join(self.root, "etc/nginx/sites-available/stockd")

    @property
    def routing(self):
        return os.path.join(self.root, "etc/stockd/nginx/routing.conf")

    def _healthy(self):
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    # --- clients -----------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, token=None, source=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        return http_request(self.port, method, path, body=body, headers=h, source=source)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def metrics(self):
        a = self.get("/metrics", token=self.metrics_token)
        assert a.status == 200, "metrics with the metrics token: %r" % a
        from lib import _LABEL_RE, _METRIC_RE
        out = {}
        for line in a.text.splitlines():
            m = _METRIC_RE.match(line)
            if line.startswith("#") or not m:
                continue
            labels = sorted(_LABEL_RE.findall(m.group(3) or ""))
            key = m.group(1) + ("{%s}" % ",".join('%s="%s"' % kv for kv in labels) if labels else "")
            out[key] = float(m.group(4))
        return out

    def pool_whole(self):
        m = self.metrics()
        return metric(m, "stockd_workers_idle") + metric(m, "stockd_workers_busy") == self.workers

    def restarts(self):
        m = self.metrics()
        return {c: metric(m, "stockd_worker_restarts_total", cause=c) for c in ("crash", "recycle", "timeout")}

    def sanitizer_reports(self):
        text = read(self.app_stderr) if os.path.exists(self.app_stderr) else ""
        return re.findall(r".*(?:ERROR: (?:Address|Undefined|Leak)Sanitizer|runtime error:).*", text)

    def set_conf(self, key, value, timeout=20):
        """Change one key of the installed conf file and reload the app (SIGHUP), as `systemctl reload stockd`
        would; returns once every worker runs the new generation."""
        lines = [ln for ln in read(self.conf).splitlines() if not ln.startswith(key + "=")]
        with open(self.conf + ".tmp", "w") as f:
            f.write("\n".join(lines + ["%s=%s" % (key, value)]) + "\n")
        os.replace(self.conf + ".tmp", self.conf)
        gen = metric(self.metrics(), "stockd_config_generation")
        os.kill(self.app.pid, signal.SIGHUP)

        def done():
            m = self.metrics()
            return (metric(m, "stockd_config_generation") > gen and m.get("stockd_reload_in_progress") == 0
                    and self.pool_whole())
        wait_until(done, timeout, 0.1, "the installed app to reload with %s=%s" % (key, value))

    # --- teardown ----------------------------------------------------------------

    def close(self):
        if self.nginx_pid_file and os.path.exists(self.nginx_pid_file):
            try:
                pid = int(read(self.nginx_pid_file).strip())
                os.kill(pid, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass
        if self.app is not None and self.app.poll() is None:
            self.app.send_signal(signal.SIGTERM)
            try:
                self.app.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.app.pid, signal.SIGKILL)
                self.app.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)
