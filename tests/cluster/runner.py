#!/usr/bin/env python3
"""Start the cluster bed (bed.py), run the scenarios against it in ORDER, tear it all down.

    python3 tests/cluster/runner.py [-k PATTERN]... [-v] [-x]

Prints each scenario's figures, then "scenarios: N passed, N failed". KEEP_BED=1 keeps the temp dir.
"""

import argparse
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import bed as bedmod  # noqa: E402

ORDER = ["test_oversell_race", "test_idempotent_commit", "test_two_sweepers", "test_two_migrators", "test_node_kill", "test_partition", "test_app_kill"]


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("-x", "--failfast", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("runner.py: the bed makes network namespaces: run as root", file=sys.stderr)
        print("scenarios: 0 passed, 1 failed")
        return 1
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    t0 = time.monotonic()
    b = bedmod.Bed(writers="single")
    counts = {"pass": 0, "fail": 1, "skip": 0}
    try:
        b.start()
        import clusterlib
        clusterlib.BED = b
        import run as integration_run  # after the bed exported BASE_URL and DB_SOCKET: lib reads them
        present = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
        names = [n for n in ORDER if n in present] + [n for n in present if n not in ORDER]
        counts = integration_run.run_suite(names, args.k, args.failfast, 2)
        ff = clusterlib.figures_file()
        if os.path.exists(ff):
            print("figures:")
            with open(ff) as f:
                for line in f:
                    print("  " + json.dumps(json.loads(line)))
    except KeyboardInterrupt as e:
        print("runner.py: interrupted (%s); tearing the bed down" % e, file=sys.stderr)
        counts["fail"] = max(counts["fail"], 1)
    except Exception as e:  # the bed did not start: say why, count it as a failure
        print("runner.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        counts["fail"] = max(counts["fail"], 1)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the teardown short
        b.stop()
    print("cluster: wall time %.1fs" % (time.monotonic() - t0))
    line = "scenarios: %d passed, %d failed" % (counts["pass"], counts["fail"])
    if counts["skip"]:
        line += ", %d skipped" % counts["skip"]
    print(line)
    return 0 if counts["fail"] == 0 and counts["pass"] > 0 and counts["skip"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
