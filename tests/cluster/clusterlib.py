"""What every cluster scenario shares: the running bed, figures, and the checks on every node.

The runner (runner.py) starts one bed (bed.Bed) for the whole run, exports the environment that
tests/integration/lib.py and tests/faults/load.py read (BASE_URL: the bed's nginx; DB_SOCKET: db1), and
then imports the scenarios. Each scenario leaves the cluster whole (3 nodes Synced) and uses products of
its own, so their checks never see another scenario's rows.
"""

import json
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import bed as bedmod  # noqa: E402
import lib  # noqa: E402
from load import Load, verify  # noqa: E402,F401  (the fault suite's load and ledger, reused as they are)

BED = None  # the runner's bed.Bed


def bed():
    assert BED is not None, "no bed: run the scenarios through tests/cluster/run"
    return BED


def figures_file():
    return os.path.join(bed().dir, "figures.jsonl")


def report(scenario, **figures):
    """Print this scenario's figures and keep them for the runner's summary."""
    line = ", ".join("%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v) for k, v in figures.items())
    print("\n  figures[%s]: %s" % (scenario, line), flush=True)
    with open(figures_file(), "a") as f:
        f.write(json.dumps({"scenario": scenario, **figures}) + "\n")


def on_node(n):
    """Point lib's SQL helpers (and so load.verify's table checks) at node n's socket."""
    lib.DB_SOCKET = n.sock


def cert_total(before, after):
    return sum(after[k] - before[k] for k in after)


def verify_everywhere(load, initial_stock):
    """The fault suite's verify() (ledger against the tables, invariants recomputed from them, and the
    API's audit through nginx) run against each of the three nodes' tables in turn; then `stockd audit`
    (the audit of GET /api/admin/audit, app/domain/audit.c) against each node over TCP, and the app's
    tables checksummed on each node: all three must be identical. Returns (problems, facts of db1)."""
    b = bed()
    b.wait_synced(60)
    problems, facts1 = [], None
    try:
        for n in b.dbs:
            on_node(n)
            p, facts = verify(load, initial_stock)
            problems += ["%s: %s" % (n.name, x) for x in p]
            print("  verify on %s: %s" % (n.name, facts), flush=True)
            facts1 = facts1 or facts
    finally:
        on_node(b.dbs[0])
    problems += audit_everywhere()
    return problems, facts1


def audit_everywhere():
    b = bed()
    problems = []
    for n in b.dbs:
        ok, out = b.stockd_audit(n)
        if not ok:
            problems.append("%s: stockd audit: %s" % (n.name, out[-1500:]))
    digests = {n.name: b.table_digest(n) for n in b.dbs}
    if len({json.dumps(d, sort_keys=True) for d in digests.values()}) != 1:
        problems.append("the nodes' tables differ: %s" % json.dumps(digests, sort_keys=True))
    a = lib.audit()
    if a.get("ok") is not True or a.get("problems"):
        problems.append("API audit: %s" % str(a)[:1500])
    return problems


class ClusterTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        b = bed()
        b.wait_synced(60)
        for a in b.apps:
            self.assertIsNotNone(a.master(), "%s has no master at the start of %s" % (a.name, self.id()))

    def assertNoProblems(self, problems, what):
        self.assertEqual(problems[:20], [], "%s: %d problems" % (what, len(problems)))


class SingleWriterTest(ClusterTest):
    """A scenario on single-writer app hosts, restarted whatever they were: a worker only moves to another
    node when its own connection breaks, so after an earlier scenario's fault the app hosts (even the workers
    of one) may sit on different nodes."""

    @classmethod
    def setUpClass(cls):
        bed().set_writers("single")


class MultiWriterTest(ClusterTest):
    """A scenario on multi-writer app hosts (app1 writes through db1, app2 through db2)."""

    @classmethod
    def setUpClass(cls):
        if bed().writers != "multi":
            bed().set_writers("multi")


def node_fault_load(stock=3000):
    """The fault suite's load on 3 hot products, started, for a scenario that takes a node away: returns
    (products, victim, used, others, load). The victim is the node the app hosts use (used) when there is
    one; only then are the contract's 503s allowed."""
    products = hot_products(3, stock)
    victim, used = victim_node()
    others = [n for n in bed().dbs if n is not victim]
    load = Load(products, threads=8, max_seconds=120)
    if used:
        load.extra_allowed = {(503, "database_unavailable")}
    load.start()
    return products, victim, used, others, load


def now():
    return time.monotonic()


# --- what the fault scenarios share -------------------------------------------------------------------

def victim_node():
    """The node a DB fault hits. Once DB_HOST takes a list (bed.DB_HOST_LISTS), the node both app hosts use
    first (db1 in single-writer): they must move to the next one. Before that an app host cannot move, so
    the fault hits a node no app host uses (the cluster must carry on around it without a single error)."""
    b = bed()
    used = [a.nodes[0] for a in b.apps]
    if bedmod.DB_HOST_LISTS:
        return used[0], True
    return [n for n in b.dbs if n not in used][0], False


def hot_products(n=3, stock=3000, price_cents=250):
    return [lib.make_product(stock=stock, price_cents=price_cents)["id"] for _ in range(n)]


def failed(load, since=None, until=None):
    """The load's answers that failed (5xx or no answer), sent in [since, until] (monotonic) if given."""
    with load.lock:
        ans = list(load.answers)
    return [a for a in ans if (a.exc is not None or a.status >= 500)
            and (since is None or a.t1 >= since) and (until is None or a.t0 <= until)]


def wait_status(n, pred, timeout, what):
    """Until node n's wsrep status satisfies pred; returns the seconds it took."""
    t0 = time.monotonic()
    bedmod.wait_until(lambda: pred(n.status()), timeout, 0.1, "%s: %s" % (n.name, what))
    return time.monotonic() - t0


def app_servers():
    """{app host: {node: connections of the app's DB user from that host}}, from each running node's process
    list (over its unix socket, so also while it is cut off): where every worker and the sweeper is connected."""
    b = bed()
    by_addr = {a.addr: a.name for a in b.apps}
    out = {a.name: {} for a in b.apps}
    for n in b.dbs:
        if not n.running():
            continue
        rows = n.sql("SELECT host FROM information_schema.PROCESSLIST WHERE user='%s'" % bedmod.DB_USER,
                     timeout=10, check=False) or []
        for r in rows:
            app = by_addr.get(r[0].rsplit(":", 1)[0])
            if app:
                out[app][n.name] = out[app].get(n.name, 0) + 1
    return out


def on_other_node(victim):
    """Every worker of every app host is connected to another node than victim: each app host has at least
    WORKERS connections elsewhere (a worker holds one). The sweeper's connections are not counted: they are
    reported apart (left_on())."""
    s = app_servers()
    return all(sum(c for node, c in conns.items() if node != victim.name) >= bed().workers for conns in s.values())


def left_on(victim):
    """How many of the app hosts' connections are still on victim."""
    return sum(conns.get(victim.name, 0) for conns in app_servers().values())


def access_log(app):
    return os.path.join(app.dir, "access.log")


def access_offsets():
    """{app host: size of its access log}: where to read from for what is served after now."""
    return {a.name: bedmod.Bed.size(access_log(a)) for a in bed().apps}


def served(offsets=None):
    """{request_id: (app host, entry)} from the app hosts' own access logs (one JSON line per request the app
    answered: request_id, route, status, mode, pid), read from offsets (default: the whole files). The
    X-Request-Id of an answer through nginx names the line, so the host and the worker that served it."""
    out = {}
    for a in bed().apps:
        for line in bedmod.Bed.lines_since(access_log(a), (offsets or {}).get(a.name, 0)):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict) and e.get("request_id"):
                out[e["request_id"]] = (a.name, e)
    return out


def nginx_upstream_trouble(err_offset, acc_offset):
    """What nginx saw go wrong with the app hosts since the offsets: error-log lines about an upstream (a
    refused or reset connection, a host marked down) and access-log lines where one request went to two
    app hosts (nginx's next_upstream: the first one failed it). Either would hide a refusal behind a 2xx."""
    b = bed()
    errs = [x for x in b.lines_since(b.log_path("error"), err_offset) if "upstream" in x]
    retried = [x for x in b.lines_since(b.log_path("access"), acc_offset) if re.search(r"upstream=\S+, ", x)]
    return errs, retried


def wait_moved(victim, timeout=15):
    """Until every app host's workers left victim (a worker moves when its own connection fails, at its next
    request); returns (seconds it took, True) or (timeout, False)."""
    t0 = time.monotonic()
    try:
        bedmod.wait_until(lambda: on_other_node(victim), timeout, 0.2, "app hosts off %s" % victim.name)
        return time.monotonic() - t0, True
    except AssertionError:
        return time.monotonic() - t0, False
