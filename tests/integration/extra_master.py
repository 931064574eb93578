"""A stockd master of the test's own beside the stack's, against the stack's database.

Its own unix socket, pid file and log under the stack directory; settings from the
stack's conf file, overridden by `env`. Requests go to it straight over FastCGI
(test_fastcgi_raw's encoder): nginx knows nothing of it.
"""

import json
import os
import subprocess

import test_fastcgi_raw as raw
from lib import DB_NAME, DB_SOCKET, STACK_DIR, STOCKD_CONF, stop_process, wait_until

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOCKD_BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))


class ExtraMaster:
    def __init__(self, name, env=None, workers=1):
        run = os.path.join(STACK_DIR, "run")
        self.sock = os.path.join(run, name + ".sock")
        self.log = os.path.join(STACK_DIR, "log", name + ".log")
        if os.path.exists(self.log):
            os.unlink(self.log)
        e = dict(os.environ)
        e.update({"DB_SOCKET": DB_SOCKET, "DB_USER": "stockd", "DB_PASSWORD": "stockd", "DB_NAME": DB_NAME,
                  "STOCKD_CONF": STOCKD_CONF, "LISTEN": "unix:" + self.sock,
                  "PID_FILE": os.path.join(run, name + ".pid"), "LOG_FILE": self.log, "ACCESS_LOG": "",
                  "WORKERS": str(workers)})
        e.update(env or {})
        self.err = open(os.path.join(STACK_DIR, "log", name + ".stderr"), "ab")
        self.proc = subprocess.Popen([STOCKD_BIN, "serve"], env=e, stdout=self.err, stderr=self.err,
                                     start_new_session=True)
        try:
            wait_until(lambda: os.path.exists(self.sock) and self.ask("GET", "/healthz")[0] == 200, 20, 0.1,
                       "%s serving on its socket" % name)
        except BaseException:
            self.stop()
            raise

    def ask(self, method, path, body=None):
        """(status, parsed JSON body or raw bytes) of one request, or (None, how it ended)."""
        data = json.dumps(body).encode() if body is not None else b""
        old, raw.SOCK = raw.SOCK, self.sock
        try:
            got, how = raw.exchange(raw.well_formed(method, path, body=data,
                                                    content_type="application/json" if body is not None else None),
                                    timeout=15)
        except OSError as e:
            return None, str(e)
        finally:
            raw.SOCK = old
        if not got:
            return None, how
        status, _, out, _ = raw.http_response(got)
        try:
            return status, json.loads(out)
        except ValueError:
            return status, out

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        stop_process(self.proc)
        self.err.close()
