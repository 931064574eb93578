"""deploy/prometheus: the alerting and recording rules pass promtool's checks and their unit tests.

promtool comes with Debian's `prometheus` package (deploy/install-deps). Without it these tests fail: rules
nobody checked are not shipped. Besides promtool, two checks of our own: every alert has `for:`, a
severity and both annotations, and every rule has a unit test; and every stockd_* metric the rules use
is one the app exports (a renamed metric would leave an alert that can never fire).
"""

import os
import re
import shutil
import subprocess
import unittest

from lib import get

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = "deploy/prometheus/stockd.rules.yml"
TESTS = "deploy/prometheus/stockd.rules.test.yml"


def promtool():
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool not found: install Debian's `prometheus` package (deploy/install-deps)")
    return path


def run(*args):
    return subprocess.run([promtool()] + list(args), cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)


def read(rel):
    with open(os.path.join(TOP, rel)) as f:
        return f.read()


def rules():
    """[(kind, name, text of the rule)] from the rules file, by its layout: one `- alert:`/`- record:` a rule."""
    text = read(RULES)
    starts = [(m.start(), m.group(1), m.group(2)) for m in
              re.finditer(r"^\s*- (alert|record):\s*(\S+)\s*$", text, re.M)]
    ends = [s for s, _, _ in starts[1:]] + [len(text)]
    return [(kind, name, text[s:e]) for (s, kind, name), e in zip(starts, ends)]


def code(block):
    """The rule without its comment lines (a comment may name a metric the rule does not use)."""
    return "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))


class PrometheusRules(unittest.TestCase):
    def test_promtool_check_rules(self):
        r = run("check", "rules", RULES)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("SUCCESS", r.stdout)

    def test_promtool_unit_tests(self):
        r = run("test", "rules", TESTS)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("SUCCESS", r.stdout)

    def test_every_rule_is_complete_and_tested(self):
        found = rules()
        alerts = [(n, b) for k, n, b in found if k == "alert"]
        records = [(n, b) for k, n, b in found if k == "record"]
        self.assertGreaterEqual(len(alerts), 7, [n for n, _ in alerts])
        names = [n for _, n, _ in found]
        self.assertEqual(len(names), len(set(names)), "a rule name twice: %s" % names)
        tests = read(TESTS)
        for name, block in alerts:
            with self.subTest(alert=name):
                self.assertRegex(block, r"\n\s+for: \d+[smh]\n")
                self.assertRegex(block, r"\n\s+severity: (critical|warning)\n")
                self.assertRegex(block, r"\n\s+summary: \S")
                self.assertRegex(block, r"\n\s+description: \S")
                # a test that expects it to fire, and (the same test or another) one that expects nothing
                self.assertRegex(tests, r"alertname: %s\n\s+eval_time: \S+\n\s+exp_alerts:\n\s+- exp_labels:"
                                 % re.escape(name))
                self.assertRegex(tests, r"alertname: %s\n\s+eval_time: \S+\n\s+exp_alerts: \[\]" % re.escape(name))
        # the five key metrics and what the alerts use, each with an exact expected value
        for key in ("stockd:cart_abandonment:", "stockd:cart_add_success:", "stockd:api_request_duration_seconds:p50",
                    "stockd:api_request_duration_seconds:p99", "stockd:requests_errors:", "stockd:stock_accuracy:"):
            self.assertTrue(any(n.startswith(key) for n, _ in records), "no recording rule %s*" % key)
        for name, _ in records:
            with self.subTest(record=name):
                self.assertRegex(name, r"^stockd:[a-z0-9_]+:[a-z0-9_]+$", "level:metric:operations")
                self.assertRegex(tests, r"- expr: %s\n\s+eval_time: \S+\n\s+exp_samples:\n\s+- labels: '%s\{"
                                 % (re.escape(name), re.escape(name)))

    def test_rules_use_only_exported_metrics(self):
        r = get("/metrics")
        self.assertEqual(r.status, 200, r)
        families = set(re.findall(r"^# TYPE (\S+) (counter|gauge|histogram)$", r.text, re.M))
        exported = set()
        for name, kind in families:
            exported.add(name)
            if kind == "histogram":
                exported.update(name + s for s in ("_bucket", "_sum", "_count"))
        used = set()
        for _, _, block in rules():
            used.update(re.findall(r"\b(stockd_[a-z0-9_]+)", code(block)))
        self.assertTrue(used, "no stockd_* metric found in the rules")
        self.assertEqual(sorted(used - exported), [], "metrics the rules use but /metrics does not export")
        # every label value the rules match on exists in the app's vocabulary
        text = code(read(RULES))
        for label, values in (("result", {"ok", "insufficient_stock", "error", "failure"}),
                              ("cause", {"crash", "recycle", "timeout"})):
            for v in re.findall(r'\b%s="([^"]*)"' % label, text):
                self.assertIn(v, values, "%s=%r" % (label, v))
        # the route names of the app's routing table (the `route` label of /metrics)
        table = read("app/http/router.c")
        routes = set(re.findall(r'\{ ROUTE_[A-Z_]+, "[A-Z]+", "[^"]*", "([a-z_]+)", [01] \}', table))
        self.assertIn("cart_add", routes, "routing table not found in app/http/router.c")
        for alt in re.findall(r'route[!=]~"([^"]*)"', text):
            for part in alt.split("|"):
                if ".*" not in part:
                    self.assertIn(part, routes, "route %r in the rules is no route of the app" % part)


if __name__ == "__main__":
    unittest.main()
