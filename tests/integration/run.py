#!/usr/bin/env python3
"""Run the stockd integration tests against a running stack.

    python3 tests/integration/run.py [-k PATTERN]... [-v] [-x]

Needs BASE_URL, STACK_DIR, DB_SOCKET, DB_NAME, STOCKD_CONF, APP_PID_FILE and
STACK in the environment (tests/run-all exports them). Runs every
tests/integration/test_*.py; test_db_outage and test_master run last because
they stop parts of the stack. The last line is "N passed, N failed" (plus
", N skipped" if any); the exit code is 0 only if nothing failed.
"""

import argparse
import glob
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Modules that disturb the stack run last, in this order.
LAST = ["test_db_outage", "test_master"]


class SafeStream:
    """Failure messages may quote raw bytes from the service (NUL, control characters, lone surrogates):
    escape them so the output stays text (grep must still find the summary line) and printing cannot fail."""

    _table = {c: "\\x%02x" % c for c in list(range(0x20)) + [0x7F] if c not in (0x09, 0x0A)}

    def __init__(self, raw):
        self.raw = raw

    def write(self, s):
        s = s.translate(self._table).encode("utf-8", "backslashreplace").decode("utf-8")
        return self.raw.write(s)

    def flush(self):
        self.raw.flush()

    def writeln(self, s=""):
        self.write(s + "\n")


class Result(unittest.TextTestResult):
    """Counts each test once: failed if its body, a subtest or tearDown failed."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.outcome = {}  # test id -> 'pass' | 'fail' | 'skip'
        self.started = {}

    def _set(self, test, what):
        tid = test.id()
        if what == "pass" and self.outcome.get(tid) in ("fail", "skip"):
            return
        self.outcome[tid] = what

    def startTest(self, test):
        self.started[test.id()] = time.monotonic()
        super().startTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, "fail")

    def addError(self, test, err):
        # also class/module fixture errors (an _ErrorHolder): counted as a failure
        super().addError(test, err)
        self._set(test, "fail")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, "skip")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set(test, "pass")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, "fail")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._set(test, "fail")

    def stopTest(self, test):
        super().stopTest(test)
        t0 = self.started.pop(test.id(), None)
        if t0 is not None and self.showAll:
            self.stream.writeln("    (%.2fs)" % (time.monotonic() - t0))


def run_suite(names, patterns, failfast, verbosity):
    """Run the named test modules (in this order), only tests matching any of patterns if given; return
    {"pass", "fail", "skip"} counts, each test counted once. The fault runner uses it too."""
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in patterns]
    suite = unittest.TestSuite()
    for n in names:
        suite.addTests(loader.loadTestsFromName(n))
    runner = unittest.TextTestRunner(stream=SafeStream(sys.stdout), verbosity=verbosity, resultclass=Result,
                                     failfast=failfast)
    result = runner.run(suite)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for v in result.outcome.values():
        counts[v] += 1
    return counts


# Answers the suite provokes on purpose that are not the service's API and so
# are not in docs/openapi.yaml: (method, status) -> why. Empty today.
UNDOCUMENTED_ON_PURPOSE = {}


def check_documented(seen_file):
    """No route answered a status docs/openapi.yaml does not list: map every recorded (method, path,
    status) to its path template (or to the document's catch-alls for non-routes and other methods) and
    name each pair the document does not list. True when there is none."""
    from openapi_doc import Doc
    doc = Doc()
    seen = {}
    with open(seen_file, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            base = (r.get("type") or "").split(";")[0].strip().lower() or None
            key = (r["method"], doc.template(r["path"]) or "(no route)", r["status"], r["code"], base)
            seen.setdefault(key, r["path"])
    problems = []
    for (method, tpl, status, code, base), example in sorted(seen.items(), key=str):
        if (method, status) in UNDOCUMENTED_ON_PURPOSE:
            continue
        e = "%s %s -> %d%s (e.g. %s %s)" % (method, tpl, status, " " + code if code else "", method, example[:120])
        _, responses = doc.allowed(method, example)
        resp = responses.get(str(status))
        if resp is None:
            problems.append("%s: status not in docs/openapi.yaml (it lists %s)" % (e, ", ".join(sorted(responses))))
            continue
        types = set(resp.get("content") or {})
        if base not in types and not (method == "HEAD" and base is not None):
            problems.append("%s: Content-Type %s, the description says %s" % (e, base, " or ".join(types) or "none"))
        codes = doc.error_codes(resp)
        if codes is not None and method != "HEAD" and code not in codes:
            problems.append("%s: error code %s not in docs/openapi.yaml (it lists %s)" % (
                e, code, ", ".join(sorted(codes))))
    print("openapi: %d answers recorded, %d distinct (method, route, status, code, type); %s" % (
        sum(1 for _ in open(seen_file, encoding="utf-8")), len(seen),
        "all documented" if not problems else "%d NOT documented:" % len(problems)))
    for p in problems:
        print("  " + p)
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="only tests whose module.Class.method matches (substring or fnmatch pattern)")
    ap.add_argument("-v", action="store_true", help="list every test")
    ap.add_argument("-x", "--failfast", action="store_true", help="stop at the first failure")
    args = ap.parse_args()

    missing = [v for v in ("BASE_URL", "STACK_DIR", "DB_SOCKET", "DB_NAME", "STOCKD_CONF", "APP_PID_FILE", "STACK")
               if not os.environ.get(v)]
    if missing:
        print("run.py: missing environment: %s (tests/run-all exports them)" % " ".join(missing), file=sys.stderr)

    names = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "test_*.py")))
    names = [n for n in names if n not in LAST] + [n for n in LAST if n in names]

    # Every answer the suite sees is recorded (lib.record) and checked at the end against docs/openapi.yaml.
    seen_file = os.path.join(os.environ.get("STACK_DIR") or "/tmp", "openapi-seen.%d.jsonl" % os.getpid())
    open(seen_file, "w").close()
    os.environ["STOCKD_RECORD"] = seen_file

    t0 = time.monotonic()
    counts = run_suite(names, args.k, args.failfast, 2 if args.v else 1)
    del os.environ["STOCKD_RECORD"]
    if check_documented(seen_file):
        counts["pass"] += 1
    else:
        counts["fail"] += 1
    line = "%d passed, %d failed" % (counts["pass"], counts["fail"])
    if counts["skip"]:
        line += ", %d skipped" % counts["skip"]
    print("integration: %.1fs" % (time.monotonic() - t0))
    print(line)
    return 0 if counts["fail"] == 0 and counts["pass"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
