"""A reload that is refused is visible (issue 13): a conf file with a mistake leaves the running config in place,
and /metrics, /status and `stockd --check-config` (the unit's first ExecReload=) say so, not only the log."""

import os
import signal
import subprocess
import time

from lib import (STOCKD_CONF, StockdTest, _write_conf, app_pid, get, metric, metrics, ok, read_conf, restore_conf,
                 ts_ms, wait_until)
from openapi_doc import Doc

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))


def check_config(path):
    """`stockd --check-config` as systemd's ExecReload runs it: the conf file from STOCKD_CONF, nothing from the
    caller's environment (which could pin keys)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STOCKD_CONF": path}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return subprocess.run([BIN, "--check-config"], env=env, capture_output=True, text=True, timeout=30)


def status():
    return ok(get("/status"))


class ReloadRefused(StockdTest):
    def test_refused_reload_is_counted_shown_and_changes_nothing(self):
        orig = read_conf()
        m0, s0 = metrics(), status()
        self.assertEqual(s0["reload"]["refused"], metric(m0, "stockd_reload_refused_total"))
        gen, workers = metric(m0, "stockd_config_generation"), metric(m0, "stockd_workers")
        # A valid change before the mistake: were the file taken in part, the pool would shrink.
        changed = int(workers) - 1 if workers > 1 else 2
        lines = orig.rstrip("\n").split("\n")
        bad_line = len(lines) + 2
        bad = orig.rstrip("\n") + "\nWORKERS=%d\nMAX_CART_LINES=lots\n" % changed
        try:
            _write_conf(bad)
            t0 = time.time()
            os.kill(app_pid(), signal.SIGHUP)
            m1 = wait_until(lambda: (lambda m: m if metric(m, "stockd_reload_refused_total") >
                                     metric(m0, "stockd_reload_refused_total") else None)(metrics()),
                            10, 0.1, "the refusal to be counted")
            self.assertEqual(metric(m1, "stockd_reload_refused_total") - metric(m0, "stockd_reload_refused_total"), 1)
            self.assertEqual(m1["stockd_last_reload_ok"], 0)
            # nothing of the file was taken: same generation, same pool, same workers still serving
            self.assertEqual(metric(m1, "stockd_config_generation"), gen)
            self.assertEqual(metric(m1, "stockd_workers"), workers)
            self.assertEqual(m1["stockd_reload_in_progress"], 0)
            for _ in range(20):
                ok(get("/api/products/1"))
            procs = ok(get("/status?full"))["processes"]
            self.assertEqual({w["generation"] for w in procs}, {gen}, "a refused reload starts no worker")
            # the status page says when and why, as docs/openapi.yaml describes it
            r = get("/status")
            self.assertEqual(Doc().check("GET", "/status", r.status, r.headers, r.body), [])
            s1 = ok(r)
            self.assertIs(s1["reload"]["last_ok"], False)
            self.assertEqual(s1["reload"]["refused"], s0["reload"]["refused"] + 1)
            last = s1["reload"]["last_refused"]
            self.assertIsInstance(last, dict, s1)
            self.assertEqual(last["message"], "%s: line %d: MAX_CART_LINES must be an integer in 1..10000"
                             % (STOCKD_CONF, bad_line))
            self.assertLessEqual(abs(ts_ms(last["time"]) - t0 * 1000), 5000, last)
            # the check systemd runs before the HUP says the same, and fails
            r = check_config(STOCKD_CONF)
            self.assertEqual(r.returncode, 1, r)
            self.assertEqual(r.stdout, "")
            self.assertIn(last["message"], r.stderr)
        finally:
            _write_conf(orig)
        # the file as it was: the check passes, and the next reload is taken and clears the flag
        r = check_config(STOCKD_CONF)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "config ok\n", ""))
        restore_conf(orig)  # read_conf() == orig already: only the HUP and the wait
        m2, s2 = metrics(), status()
        self.assertEqual(m2["stockd_last_reload_ok"], 1)
        self.assertEqual(metric(m2, "stockd_reload_refused_total"), metric(m1, "stockd_reload_refused_total"))
        self.assertGreater(metric(m2, "stockd_config_generation"), gen)
        self.assertIs(s2["reload"]["last_ok"], True)
        self.assertEqual(s2["reload"]["last_refused"], last, "the last refusal stays on the page")

    def test_check_config_messages(self):
        """--check-config reads the file a reload would, with the same code: every kind of mistake is named with
        its line, a missing file is an error, and it needs no database (a bogus DB_HOST changes nothing)."""
        d = os.path.join(os.environ.get("STACK_DIR") or "/tmp", "check-config")
        os.makedirs(d, exist_ok=True)
        cases = [("WORKERS=4\nSWEEP_INTERVAL=500\nDB_HOST=db.invalid\n", 0, "config ok"),
                 ("WORKERS=0\n", 1, "line 1: WORKERS must be an integer in 1..256"),
                 ("# a comment\nWORKER=4\n", 1, "line 2: unknown setting WORKER"),
                 ("WORKERS 4\n", 1, "line 1: expected KEY=VALUE"),
                 ("ALLOWED_ORIGINS=https://shop.example/\n", 1, "line 1: "),
                 ("TESTER_TOKEN=abc\n", 1, "TESTER_TOKEN is nginx's setting")]
        for i, (text, rc, want) in enumerate(cases):
            with self.subTest(conf=text):
                path = os.path.join(d, "case%d.conf" % i)
                with open(path, "w") as f:
                    f.write(text)
                r = check_config(path)
                self.assertEqual(r.returncode, rc, r)
                self.assertIn(want, r.stdout if rc == 0 else r.stderr)
                if rc:
                    self.assertIn(path, r.stderr)
        r = check_config(os.path.join(d, "missing.conf"))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("cannot read the conf file", r.stderr)
