#!/usr/bin/env python3
"""Run the fault-injection scenarios against a running throwaway stack (tests/faults/run makes one).

    python3 tests/faults/runner.py [-k PATTERN]... [-v] [-x]

Same environment as the integration suite (BASE_URL, STACK_DIR, DB_SOCKET, DB_NAME, STOCKD_CONF,
APP_PID_FILE, STACK). Scenarios run in ORDER: the ones that restart parts of the stack last. Prints each
scenario's figures, then "scenarios: N passed, N failed".
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import run as integration_run  # noqa: E402  (its run_suite)

ORDER = ["test_worker_kill", "test_lock_storm", "test_sweeper", "test_db_restart", "test_db_crash",
         "test_master_kill"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("-x", "--failfast", action="store_true")
    args = ap.parse_args()
    missing = [v for v in ("BASE_URL", "STACK_DIR", "DB_SOCKET", "DB_NAME", "STOCKD_CONF", "APP_PID_FILE", "STACK")
               if not os.environ.get(v)]
    if missing:
        print("runner.py: missing environment: %s (tests/faults/run exports them)" % " ".join(missing),
              file=sys.stderr)
        print("scenarios: 0 passed, 1 failed")
        return 1
    import faultlib
    present = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    names = [n for n in ORDER if n in present] + [n for n in present if n not in ORDER]
    t0 = time.monotonic()
    counts = integration_run.run_suite(names, args.k, args.failfast, 2)
    if os.path.exists(faultlib.FIGURES):
        print("figures:")
        with open(faultlib.FIGURES) as f:
            for line in f:
                print("  " + json.dumps(json.loads(line)))
    print("faults: scenarios took %.1fs" % (time.monotonic() - t0))
    line = "scenarios: %d passed, %d failed" % (counts["pass"], counts["fail"])
    if counts["skip"]:
        line += ", %d skipped" % counts["skip"]
    print(line)
    return 0 if counts["fail"] == 0 and counts["pass"] > 0 and counts["skip"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
