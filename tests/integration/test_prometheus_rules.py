"""deploy/prometheus: the alerting and recording rules pass promtool's checks and their unit tests.

promtool comes with Debian's `prometheus` package (deploy/install-deps). Without it these tests fail: rules
nobody checked are not shipped. Besides promtool, two checks of our own: every alert has `for:`, a
severity and both annotations, and every rule has a unit test; and every stockd_* metric the rules use
is one the app exports (a renamed metric would leave an alert that can never fire).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
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


# --- the scrape config, the Alertmanager route, the dashboard, the mtail program ---------------------

PROM_CONFIG = "deploy/prometheus/prometheus.yml"
AM_CONFIG = "deploy/prometheus/alertmanager.yml"
DASHBOARD = "deploy/grafana/stockd.json"
MTAIL_PROG = "deploy/prometheus/nginx-stockd.mtail"
# The ports of Debian's prometheus, prometheus-alertmanager (and its cluster port) and mtail units.
MONITORING_PORTS = (9090, 9093, 9094, 3903)
MONITORING_UNITS = ("prometheus.service", "prometheus-alertmanager.service", "mtail.service")

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "sum", "max", "min", "avg", "count", "inf", "nan"}


def exported_metrics():
    """Every series name GET /metrics of the running app exports (histograms with their suffixes)."""
    r = get("/metrics")
    if r.status != 200:
        raise AssertionError("GET /metrics: %s" % r)
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (counter|gauge|histogram)$", r.text, re.M):
        names.add(name)
        if kind == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


def mtail_metrics():
    return set(re.findall(r"^counter (\S+)", read(MTAIL_PROG), re.M))


def metric_names(expr):
    """The series names a PromQL expression selects: strings, label matchers, ranges and grouping
    clauses removed, then every identifier not called as a function and no keyword."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if re.match(r"\s*\(", e[m.end():]) or m.group(0).lower() in PROMQL_WORDS:
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # the unit of a duration or the exponent of a number
        names.add(m.group(0))
    return names


class MonitoringConfig(unittest.TestCase):
    def test_scrape_config_passes_promtool(self):
        text = read(PROM_CONFIG)
        jobs = re.findall(r"^\s+- job_name: (\S+)$", text, re.M)
        self.assertEqual(sorted(jobs), ["stockd", "stockd-nginx"])
        # the job names the rules select on are the scrape config's
        for job in set(re.findall(r'\bjob="([^"]+)"', code(read(RULES)))):
            self.assertIn(job, jobs, "the rules select job=%r, which prometheus.yml does not scrape" % job)
        self.assertRegex(text, r"authorization:\n\s+type: Bearer\n\s+credentials_file: /etc/prometheus/\S+")
        # promtool insists the token file exists: check a copy whose token file does, beside the rules
        with tempfile.TemporaryDirectory() as d:
            token = os.path.join(d, "stockd-metrics.token")
            with open(token, "w") as f:
                f.write("x" * 32 + "\n")
            conf = re.sub(r"credentials_file: \S+", "credentials_file: " + token, text)
            with open(os.path.join(d, "prometheus.yml"), "w") as f:
                f.write(conf)
            shutil.copy(os.path.join(TOP, RULES), os.path.join(d, "stockd.rules.yml"))
            r = subprocess.run([promtool(), "check", "config", os.path.join(d, "prometheus.yml")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("SUCCESS: 1 rule files found", r.stdout)

    def test_alertmanager_route_passes_amtool(self):
        amtool = shutil.which("amtool")
        self.assertIsNotNone(amtool, "amtool not found: Debian's prometheus-alertmanager (deploy/install-deps)")
        r = subprocess.run([amtool, "check-config", AM_CONFIG], cwd=TOP, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("SUCCESS", r.stdout)
        # every alert the route's matchers and inhibitions name is one of the rules
        alerts = {n for k, n, _ in rules() if k == "alert"}
        for alt in re.findall(r'alertname=~"([^"]*)"', read(AM_CONFIG)):
            for part in alt.split("|"):
                if ".*" not in part:
                    self.assertIn(part, alerts)
        # where amtool routes a critical and a warning alert (its last line: a warning may come first)
        for labels, receiver in ((["alertname=StockdDown", "severity=critical"], "oncall-pager"),
                                 (["alertname=StockdWorkersSaturated", "severity=warning"], "team-mail")):
            r = subprocess.run([amtool, "config", "routes", "test", "--config.file", AM_CONFIG] + labels, cwd=TOP,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
            self.assertEqual(r.stdout.strip().splitlines()[-1:], [receiver], r.stdout)

    def test_dashboard_loads_and_every_query_parses(self):
        with open(os.path.join(TOP, DASHBOARD)) as f:
            dash = json.load(f)
        panels = dash["panels"]
        titles = [p["title"] for p in panels]
        for key in ("Add-to-cart success", "Cart abandonment", "API latency", "Error rate", "Stock accuracy"):
            self.assertTrue(any(t.startswith(key) for t in titles), "no panel %r in %s" % (key, titles))
        variables = {v["name"] for v in dash["templating"]["list"]}
        exprs = []
        for p in panels:
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                used = set(re.findall(r"\$\{?(\w+)", t["expr"]))
                self.assertEqual(used - variables, set(), "%s: undefined variables" % p["title"])
                # Grafana substitutes the variables before Prometheus parses the query: so do we
                exprs.append((p["title"], t["expr"].replace("${job}", "stockd").replace("$job", "stockd")))
        # promtool's parser: one recording rule per query
        known = exported_metrics() | mtail_metrics() | {n for k, n, _ in rules() if k == "record"} | {"up"}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dashboard.rules.yml")
            with open(path, "w") as f:
                f.write("groups:\n  - name: dashboard\n    rules:\n")
                for i, (_, expr) in enumerate(exprs):
                    f.write("      - record: dashboard:query_%d:expr\n        expr: %s\n" % (i, json.dumps(expr)))
            r = subprocess.run([promtool(), "check", "rules", path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("SUCCESS: %d rules found" % len(exprs), r.stdout)
        for title, expr in exprs:
            with self.subTest(panel=title, expr=expr):
                names = metric_names(expr)
                self.assertTrue(names, "no metric found in %r" % expr)
                self.assertEqual(sorted(names - known), [], "metrics neither exported nor recorded")

    def test_metric_names_reads_promql(self):
        # the helper the dashboard test relies on
        self.assertEqual(metric_names('sum by (job, le) (rate(a_b{x="y(z)"}[5m])) / on (job) c:d:e offset 1h > 1e3'),
                         {"a_b", "c:d:e"})

    def test_mtail_counts_nginx_log_of_the_stack(self):
        mtail = shutil.which("mtail")
        self.assertIsNotNone(mtail, "mtail not found: Debian's mtail (deploy/install-deps)")
        stack = os.environ.get("STACK_DIR", "")
        self.assertTrue(stack, "STACK_DIR unset: run through tests/run-all")
        self.assertEqual(get("/api/products/1").status, 200)
        self.assertEqual(get("/api/products/999999999").status, 404)
        with open(os.path.join(stack, "log", "nginx-access.log")) as f:
            real = [line for line in f.read().splitlines() if line]
        self.assertTrue(real)
        # the 502 and 504 this stack's nginx would write, in its own format: a real line, status changed
        m = re.match(r'^(\S+ \[\S+\] "[A-Z]+ \S+") (\d{3}) (.*)$', real[-1])
        self.assertIsNotNone(m, "nginx's log line is not in the stockd format: %r" % real[-1])
        fake = ["%s %s %s" % (m.group(1), st, m.group(3)) for st in ("502", "502", "504")]
        # nginx logs the decoded path: a space in it (a request for /api/a%20b) is one line all the same
        fake.append('%s /api/a b" 404 %s' % (m.group(1).split(" ", 2)[0] + " " + m.group(1).split(" ", 2)[1] + ' "GET', m.group(3)))
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "progs"))
            shutil.copy(os.path.join(TOP, MTAIL_PROG), os.path.join(d, "progs"))
            log = os.path.join(d, "access.log")
            with open(log, "w") as f:
                f.write("\n".join(real + fake) + "\n")
            r = subprocess.run([mtail, "--one_shot", "--one_shot_format", "prometheus", "--progs",
                                os.path.join(d, "progs"), "--logs", log, "--logtostderr"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        counts = {}
        for st, n in re.findall(r'^nginx_stockd_responses_total\{[^}]*status="(\d+)"[^}]*\} (\d+)$', r.stdout, re.M):
            counts[st] = counts.get(st, 0) + int(n)
        # every line counted once, by its own status
        want = {}
        for line in real + fake:
            st = re.match(r'^\S+ \[\S+\] "[^"]*" (\d{3}) ', line).group(1)
            want[st] = want.get(st, 0) + 1
        self.assertEqual(counts, want, r.stdout)
        self.assertEqual(counts.get("502"), want.get("502"))
        self.assertGreaterEqual(counts.get("502", 0), 2)
        self.assertGreaterEqual(counts.get("404", 0), 1)

    def test_zz_no_monitoring_service_left(self):
        # after promtool, amtool and mtail ran: nothing of the monitoring packages serves or starts at boot
        out = subprocess.run(["ss", "-Hltn"], stdout=subprocess.PIPE, text=True, timeout=30).stdout
        ports = {int(m) for m in re.findall(r"\S+:(\d+)\s", out)}
        self.assertEqual(sorted(ports & set(MONITORING_PORTS)), [], out)
        systemd = os.path.isdir("/run/systemd/system")
        for unit in MONITORING_UNITS:
            with self.subTest(unit=unit):
                self.assertFalse(os.path.lexists("/etc/systemd/system/multi-user.target.wants/" + unit),
                                 "%s is enabled: deploy/install-deps disables it" % unit)
                if systemd:
                    r = subprocess.run(["systemctl", "is-enabled", unit], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, timeout=30)
                    self.assertNotIn(r.stdout.strip(), ("enabled", "enabled-runtime", "linked"), unit)


if __name__ == "__main__":
    unittest.main()
