"""deploy/stack as `make run` meets it the first time: a new directory with no conf file serves, and a step
that fails stops the start with a non-zero exit instead of carrying on to say "up"."""

import os
import shutil
import subprocess
import tempfile
import urllib.request

from lib import STACK, StockdTest, free_ports


class FirstStart(StockdTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="stockd-stack-")
        os.chmod(self.dir, 0o755)
        http_port, db_port = free_ports(2)
        self.env = dict(os.environ, HTTP_PORT=str(http_port), DB_PORT=str(db_port))
        for k in ("STOCKD_CONF", "DB_SOCKET", "DB_NAME"):  # the suite's stack, not this one
            self.env.pop(k, None)

    def tearDown(self):
        try:
            subprocess.run([STACK, "stop", self.dir], env=self.env, capture_output=True, timeout=120)
            shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            super().tearDown()

    def start(self, **env):
        return subprocess.run([STACK, "start", self.dir], env=dict(self.env, **env), capture_output=True,
                              text=True, timeout=300)

    def test_a_new_directory_without_a_conf_file_serves(self):
        r = self.start()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "etc", "stockd.conf")), "no conf file made")
        url = "http://127.0.0.1:%s/api/products/1" % self.env["HTTP_PORT"]
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.status, 200)
            self.assertIn(b'"sku"', resp.read())

    def test_a_failing_step_stops_the_start(self):
        r = self.start(STOCKD_BIN="/bin/false")  # the migration step fails
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("the migrations failed", r.stderr)
        self.assertNotIn("stack: up:", r.stderr)
