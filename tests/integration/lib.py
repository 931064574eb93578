"""Shared helpers for the stockd integration tests.

Everything talks to a running stack: nginx at $BASE_URL in front of the app,
MariaDB on $DB_SOCKET (for checks behind the service's back), the app's conf
file $STOCKD_CONF and master pid file $APP_PID_FILE. Python stdlib only.
"""

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import unittest
import urllib.parse
import uuid

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8080")
_u = urllib.parse.urlsplit(BASE_URL)
HOST, PORT = _u.hostname, _u.port or 80
DB_SOCKET = os.environ.get("DB_SOCKET", "")
DB_NAME = os.environ.get("DB_NAME", "stockd")
STOCKD_CONF = os.environ.get("STOCKD_CONF", "")
APP_PID_FILE = os.environ.get("APP_PID_FILE", "")
STACK = os.environ.get("STACK", "")
STACK_DIR = os.environ.get("STACK_DIR", "")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def _stack_tester_token():
    """The test stack's TESTER_TOKEN (deploy/stack keeps it in the stack directory); "" if none."""
    try:
        with open(os.path.join(STACK_DIR, "tester_token")) as f:
            return f.read().strip()
    except OSError:
        return ""


TESTER_TOKEN = _stack_tester_token()

MAX_ID = 2**63 - 1
HEX32 = re.compile(r"[0-9a-f]{32}")
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
JSON_CT = "application/json; charset=utf-8"

# Opt-in: with STOCKD_RECORD set (run.py sets it to a file under $STACK_DIR),
# every answer request() gets is appended there as one JSON line (method,
# path, status, error code), so that run.py can check at the end that no route
# answered a status docs/openapi.yaml does not list.
_record_lock = threading.Lock()


def record(method, path, status, body, content_type=None):
    """Append one answer to $STOCKD_RECORD, if set. Tests that talk HTTP without request() may call it too."""
    target = os.environ.get("STOCKD_RECORD")
    if not target or status is None:
        return
    code = None
    try:
        err = json.loads(body.decode("utf-8")).get("error")
        code = err.get("code") if isinstance(err, dict) else None
    except (ValueError, UnicodeDecodeError, AttributeError):
        pass
    line = json.dumps({"method": method, "path": path, "status": status, "code": code,
                       "type": content_type}) + "\n"
    with _record_lock, open(target, "a", encoding="utf-8") as f:
        f.write(line)


# --- HTTP --------------------------------------------------------------------

class Resp:
    """One HTTP answer: status, case-insensitive headers, raw body, parsed JSON."""

    def __init__(self, method, path, status, headers, body, elapsed):
        self.method, self.path, self.status = method, path, status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive
        self.body = body
        self.elapsed = elapsed
        self.json = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            pass

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    @property
    def set_cookies(self):
        return self.header_all("Set-Cookie")

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def error(self):
        j = self.json
        return j.get("error") if isinstance(j, dict) and isinstance(j.get("error"), dict) else None

    def __repr__(self):
        return "<%s %s -> %s %s>" % (self.method, self.path, self.status, self.text[:600])


def request(method, path, body=None, raw=None, headers=None, cookies=None,
            mode=None, tester=True, timeout=30):
    """Send one request on a fresh connection.

    body: a JSON value to send (Content-Type application/json unless headers
    override it); raw: bytes sent as they are (no Content-Type unless given).
    headers: dict; a value of None removes that header. cookies: dict.
    mode: 'legacy'|'stock' sets the stock_mode tester cookie, with the stock_tester cookie that makes it count:
    the stack's TESTER_TOKEN (tester=True), another value (tester='...'), or none (tester=None).
    """
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    elif raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
    jar = dict(cookies or {})
    if mode:
        jar["stock_mode"] = mode
        if tester is True:
            assert TESTER_TOKEN, "the stack has no TESTER_TOKEN (%s/tester_token)" % STACK_DIR
            jar["stock_tester"] = TESTER_TOKEN
        elif tester is not None:
            jar["stock_tester"] = tester
    if jar:
        hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in jar.items())
    for k, v in (headers or {}).items():
        for old in [h for h in hdrs if h.lower() == k.lower()]:
            del hdrs[old]
        if v is not None:
            hdrs[k] = v
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if data is not None or method in ("POST", "PUT", "DELETE", "PATCH"):
            conn.putheader("Content-Length", str(len(data or b"")))
        conn.endheaders(data)
        r = conn.getresponse()
        payload = r.read()
        record(method, path, r.status, payload, r.getheader("Content-Type"))
        return Resp(method, path, r.status, r.msg, payload, time.monotonic() - t0)
    finally:
        conn.close()


def get(path, **kw):
    return request("GET", path, **kw)


def post(path, body=None, **kw):
    return request("POST", path, body=body, **kw)


def delete(path, body=None, **kw):
    return request("DELETE", path, body=body, **kw)


def check_json_ct(resp):
    ct = (resp.header("Content-Type") or "").replace(" ", "").lower()
    assert ct == JSON_CT.replace(" ", ""), "Content-Type %r in %r" % (resp.header("Content-Type"), resp)


def ok(resp, status=200):
    """Assert a success status with a JSON body; return the parsed body."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    check_json_ct(resp)
    assert resp.json is not None, "no JSON in %r" % resp
    return resp.json


def api_error(resp, status, code, field=None):
    """Assert the one error shape with this status/code (and field); return the error object."""
    assert resp.status == status, "expected %d %s, got %r" % (status, code, resp)
    check_json_ct(resp)
    err = resp.error
    assert err is not None, "no error object in %r" % resp
    assert err.get("code") == code, "expected code %s, got %r" % (code, resp)
    assert isinstance(err.get("message"), str) and err["message"], "no message in %r" % resp
    if field is not None:
        assert err.get("field") == field, "expected field %r, got %r" % (field, resp)
    return err


# --- API shortcuts -------------------------------------------------------------

def _cart_hdr(cid):
    # Clients send X-Cart-Id on every cart and stock call (canary stickiness).
    return {"X-Cart-Id": cid} if isinstance(cid, str) else {}


def _body(**kw):
    return {k: v for k, v in kw.items() if v is not None}


def make_product(stock=10, price_cents=1000, sku=None, name=None):
    sku = sku if sku is not None else "T-" + uuid.uuid4().hex[:20]
    name = name if name is not None else "Test product " + sku
    r = post("/api/admin/products", {"sku": sku, "name": name, "price_cents": price_cents, "stock": stock})
    p = ok(r, 201)
    assert p["stock"] == stock and p["reserved"] == 0 and p["available"] == stock, r
    return p


def product(pid, mode=None):
    return ok(get("/api/products/%d" % pid, mode=mode))


def new_cart(mode=None):
    v = ok(post("/api/cart", mode=mode), 201)
    return v["cart_id"]


def cart(cid, mode=None):
    return ok(get("/api/cart/%s" % cid, mode=mode, headers=_cart_hdr(cid)))


def add(cid, pid, qty, dec=None, mode=None, headers=None):
    h = dict(_cart_hdr(cid), **(headers or {}))
    return post("/api/cart/add", _body(cart_id=cid, product_id=pid, quantity=qty, decrease_stock=dec),
                mode=mode, headers=h)


def remove(cid, pid, qty=None, inc=None, mode=None, headers=None):
    h = dict(_cart_hdr(cid), **(headers or {}))
    return delete("/api/cart/remove", _body(cart_id=cid, product_id=pid, quantity=qty, increase_stock=inc),
                  mode=mode, headers=h)


def reserve(cid, pid, qty, mode=None, headers=None):
    h = dict(_cart_hdr(cid), **(headers or {}))
    return post("/api/stock/reserve", _body(cart_id=cid, product_id=pid, quantity=qty), mode=mode, headers=h)


def release(cid, pid, qty=None, mode=None, headers=None):
    h = dict(_cart_hdr(cid), **(headers or {}))
    return post("/api/stock/release", _body(cart_id=cid, product_id=pid, quantity=qty), mode=mode, headers=h)


def checkout(cid, mode=None, headers=None):
    h = dict(_cart_hdr(cid), **(headers or {}))
    return post("/api/cart/checkout", {"cart_id": cid}, mode=mode, headers=h)


def admin_stock(pid, set=None, delta=None):
    return post("/api/admin/products/%d/stock" % pid, _body(set=set, delta=delta))


def item(view, pid):
    """The cart view's item for a product, or None."""
    for it in view["items"]:
        if it["product_id"] == pid:
            return it
    return None


def warned(view):
    """Product ids named by not_reserved warnings."""
    return sorted(w["product_id"] for w in view["warnings"] if w.get("code") == "not_reserved")


def audit():
    return ok(get("/api/admin/audit"))


def audit_ok():
    a = audit()
    assert a.get("ok") is True and a.get("problems") == [], "audit not ok: %s" % json.dumps(a)[:2000]
    assert isinstance(a.get("products_checked"), int), a
    return a


def ts_ms(ts):
    """Parse an RFC 3339 UTC millisecond timestamp into epoch ms."""
    assert isinstance(ts, str) and TS_RE.fullmatch(ts), "bad timestamp %r" % (ts,)
    import calendar
    secs = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + int(ts[20:23])


def now_ms():
    return int(time.time() * 1000)


# --- database -----------------------------------------------------------------

def db(sql):
    """Run SQL with the mariadb CLI; return rows as lists of strings ('NULL' for NULL)."""
    r = subprocess.run(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", DB_NAME,
                        "-N", "-B", "-e", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("SQL failed: %s\n%s" % (sql, r.stderr))
    return [line.split("\t") for line in r.stdout.splitlines()]


def db_val(sql):
    rows = db(sql)
    return rows[0][0] if rows else None


def db_int(sql):
    v = db_val(sql)
    return None if v in (None, "NULL") else int(v)


def db_lock_product(pid, seconds):
    """Hold the product's row lock for `seconds` in a separate session (a Popen)."""
    sql = ("SET SESSION innodb_lock_wait_timeout=50; BEGIN; SELECT id FROM products WHERE id=%d FOR UPDATE; "
           "SELECT SLEEP(%s); COMMIT;" % (pid, seconds))
    return subprocess.Popen(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", DB_NAME,
                             "-N", "-B", "-e", sql], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class DbSession:
    """One MariaDB session fed statement by statement: holds a transaction (and its locks) open across
    the steps of a test. run() waits for the statements' last result line."""

    def __init__(self):
        self.p = subprocess.Popen(["mariadb", "--no-defaults", "--socket=" + DB_SOCKET, "-uroot", DB_NAME,
                                   "-N", "-B", "--unbuffered"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def run(self, sql):
        marker = "done-" + uuid.uuid4().hex
        self.p.stdin.write("%s; SELECT '%s';\n" % (sql.rstrip("; \n"), marker))
        self.p.stdin.flush()
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise AssertionError("SQL session ended: %s\n%s" % (sql, self.p.stderr.read()))
            if line.strip() == marker:
                return lines
            lines.append(line.rstrip("\n").split("\t"))

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=60)


@contextlib.contextmanager
def db_trigger(name, table, timing, body):
    """A trigger that exists for the duration of the block (a fault the test places in the database)."""
    db("DELIMITER //\nCREATE TRIGGER %s %s ON %s FOR EACH ROW BEGIN %s END//\nDELIMITER ;"
       % (name, timing, table, body))
    try:
        yield
    finally:
        db("DROP TRIGGER IF EXISTS %s" % name)


def refuse_answers(prefix):
    """With this block, storing the answer of a request whose key starts with prefix fails in the database: a request's
    change and its answer must then both be gone."""
    return db_trigger("itest_refuse_answer", "idempotency_keys", "BEFORE UPDATE",
                      "IF NEW.status IS NOT NULL AND NEW.idem_key LIKE '%s%%' THEN "
                      "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'itest: answer refused'; END IF;" % prefix)


def snapshot(pids=(), cids=()):
    """Everything a request could have changed about these products and carts."""
    p = ",".join(str(int(x)) for x in pids) or "NULL"
    c = ",".join("'%s'" % x for x in cids) or "NULL"
    sql = ";".join([
        "SELECT 'P', id, sku, name, price_cents, stock, reserved_stock FROM products WHERE id IN (%s) ORDER BY id" % p,
        "SELECT 'C', id, status FROM carts WHERE id IN (%s) ORDER BY id" % c,
        "SELECT 'I', cart_id, product_id, quantity FROM cart_items WHERE cart_id IN (%s) OR product_id IN (%s) "
        "ORDER BY cart_id, product_id" % (c, p),
        "SELECT 'H', cart_id, product_id, quantity, expires_at_ms FROM stock_holds WHERE cart_id IN (%s) "
        "OR product_id IN (%s) ORDER BY cart_id, product_id" % (c, p),
        "SELECT 'N', (SELECT COUNT(*) FROM carts), (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM orders), "
        "(SELECT COUNT(*) FROM order_items), (SELECT COUNT(*) FROM stock_receipts), "
        "(SELECT COALESCE(SUM(delta),0) FROM stock_receipts)",
    ])
    return db(sql)


def hold_qty(cid, pid):
    return db_int("SELECT quantity FROM stock_holds WHERE cart_id='%s' AND product_id=%d" % (cid, pid)) or 0


def line_qty(cid, pid):
    return db_int("SELECT quantity FROM cart_items WHERE cart_id='%s' AND product_id=%d" % (cid, pid)) or 0


def expire_holds(cid, pid=None, ago_ms=1000):
    """Make a cart's holds already expired, as if the clock had run on: the
    products' next_expiry_ms (a lower bound of their holds' expiries) moves
    back with them, or the service would rightly not look for them."""
    where = "cart_id='%s'" % cid + ("" if pid is None else " AND product_id=%d" % pid)
    back_dated_holds(where, now_ms() - ago_ms)


def back_dated_holds(where, expires_at_ms):
    """Set expires_at_ms of the holds WHERE (SQL) and keep each product's
    next_expiry_ms below it, the invariant the service keeps; returns how
    many holds changed. The products
    are named, not found by a subquery: an UPDATE's subquery would lock the
    hold rows it reads, against the service's lock order (product, then its
    holds), and deadlock with a sweep."""
    pids = [int(r[0]) for r in db("SELECT DISTINCT product_id FROM stock_holds WHERE %s" % where)]
    if pids:
        db("UPDATE products SET next_expiry_ms = LEAST(next_expiry_ms, %d) WHERE id IN (%s)"
           % (expires_at_ms, ",".join(str(p) for p in sorted(pids))))
    return int(db("UPDATE stock_holds SET expires_at_ms=%d WHERE %s; SELECT ROW_COUNT()"
                  % (expires_at_ms, where))[0][0])


def db_consistency(pids):
    """Recompute invariants 1-3 from the tables for these products; return a list of problems."""
    problems = []
    ids = ",".join(str(x) for x in pids)
    rows = db("SELECT p.id, p.stock, p.reserved_stock, "
              "(SELECT COALESCE(SUM(h.quantity),0) FROM stock_holds h WHERE h.product_id=p.id), "
              "(SELECT COALESCE(SUM(r.delta),0) FROM stock_receipts r WHERE r.product_id=p.id), "
              "(SELECT COALESCE(SUM(oi.quantity),0) FROM order_items oi WHERE oi.product_id=p.id) "
              "FROM products p WHERE p.id IN (%s)" % ids)
    for pid, stock, reserved, holds, received, sold in ([int(x) for x in r] for r in rows):
        if not 0 <= reserved <= stock:
            problems.append("product %d: reserved %d stock %d" % (pid, reserved, stock))
        if reserved != holds:
            problems.append("product %d: reserved %d != sum of holds %d" % (pid, reserved, holds))
        if received != stock + sold:
            problems.append("product %d: received %d != stock %d + sold %d" % (pid, received, stock, sold))
    return problems


# --- metrics, conf, processes ----------------------------------------------------

_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics():
    """GET /metrics parsed into {'name{k="v",...}': float}, labels sorted by key."""
    r = get("/metrics")
    assert r.status == 200, "metrics: %r" % r
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line)
        if not m:
            continue
        labels = sorted(_LABEL_RE.findall(m.group(3) or ""))
        key = m.group(1) + ("{%s}" % ",".join('%s="%s"' % kv for kv in labels) if labels else "")
        out[key] = float(m.group(4))
    return out


def metric(m, name, **labels):
    """Sum of the series called `name` whose labels include `labels` (0 if none)."""
    total = 0.0
    for key, v in m.items():
        n, _, rest = key.partition("{")
        if n != name:
            continue
        have = dict(_LABEL_RE.findall(rest))
        if all(have.get(k) == str(v2) for k, v2 in labels.items()):
            total += v
    return total


def read_conf():
    with open(STOCKD_CONF) as f:
        return f.read()


def conf_value(key, default=None):
    """The app's setting: environment over conf file over default (as the app reads it)."""
    if os.environ.get(key) is not None:
        return os.environ[key]
    val = default
    for line in read_conf().splitlines():
        s = line.strip()
        if s and not s.startswith("#") and "=" in s:
            k, v = s.split("=", 1)
            if k.strip() == key:
                val = v.strip()
    return val


def _write_conf(text):
    tmp = STOCKD_CONF + ".itest.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, STOCKD_CONF)


def app_pid():
    with open(APP_PID_FILE) as f:
        return int(f.read().strip())


def wchan(pid):
    """What the process is blocked in (kernel function name), "" if gone: tells an idle worker (accept),
    a busy one (waiting on MariaDB: poll) and the sweeper (asleep) apart."""
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def worker_pids():
    r = subprocess.run(["pgrep", "-P", str(app_pid())], capture_output=True, text=True)
    return sorted(int(x) for x in r.stdout.split())


def sighup_and_wait(timeout=20):
    """SIGHUP the master; wait until the generation moved on and every worker is replaced."""
    gen = metric(metrics(), "stockd_config_generation")
    os.kill(app_pid(), signal.SIGHUP)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = metrics()
            if (metric(last, "stockd_config_generation") > gen
                    and "stockd_reload_in_progress" in last and last["stockd_reload_in_progress"] == 0):
                return last
        except (AssertionError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError("reload did not finish in %ds (generation was %s; last metrics %s)" % (
        timeout, gen, {k: v for k, v in (last or {}).items() if "generation" in k or "reload" in k}))


def sweeper_asleep(master=None):
    """The sweeper of `master` (default: the stack's) while it sleeps between two rounds: the one child
    whose main thread is in nanosleep (a worker waits for connections and never sleeps). None otherwise."""
    r = subprocess.run(["pgrep", "-P", str(master or app_pid())], capture_output=True, text=True)
    kids = [int(k) for k in r.stdout.split() if "nanosleep" in wchan(int(k))]
    return kids[0] if len(kids) == 1 else None


def sweeper_replaced(old, timeout=30):
    """After a reload that changes the sweeper's settings. The reload is done once the workers are replaced
    (sighup_and_wait); the sweeper is replaced after them, and a new sweeper's first round runs as it starts.
    Waits until a sweeper other than `old` sleeps between rounds, so that round is over; returns its pid."""
    def new_one():
        p = sweeper_asleep()
        return p if p not in (None, old) else None
    return wait_until(new_one, timeout, 0.05, "a new sweeper past its first round (the old one was %s)" % old)


def reload_app(conf_changes):
    """Rewrite $STOCKD_CONF with these KEY=VALUE changes, SIGHUP, wait. Returns the original text."""
    orig = read_conf()
    lines = orig.splitlines()
    todo = {k: str(v) for k, v in conf_changes.items()}
    out = []
    for line in lines:
        s = line.strip()
        k = s.split("=", 1)[0].strip() if ("=" in s and not s.startswith("#")) else None
        if k in todo:
            out.append("%s=%s" % (k, todo[k]))
            todo[k] = None  # replaced once; drop later duplicates
            continue
        if k is not None and k in conf_changes:
            continue
        out.append(line)
    out += ["%s=%s" % (k, v) for k, v in todo.items() if v is not None]
    _write_conf("\n".join(out) + "\n")
    try:
        sighup_and_wait()
    except BaseException:
        restore_conf(orig)
        raise
    return orig


def restore_conf(text):
    if read_conf() != text:
        _write_conf(text)
    sighup_and_wait()


@contextlib.contextmanager
def conf(**changes):
    orig = reload_app(changes)
    try:
        yield
    finally:
        restore_conf(orig)


class Background:
    """Threads that run while a with-block does: a subclass fills self.threads, and its threads end once
    self.stop is set, which leaving the block does (then each is joined, join_timeout seconds at most)."""

    join_timeout = None

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(self.join_timeout)


def free_ports(n):
    """n distinct TCP ports on 127.0.0.1 that nothing is bound to now (a test's own nginx, master or
    MariaDB takes them next): deploy/free-ports, which holds them all until each is chosen."""
    out = subprocess.run([os.path.join(TOP, "deploy", "free-ports"), str(n)], check=True, capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def free_port():
    return free_ports(1)[0]


def stop_process(proc, grace=30):
    """SIGTERM (a master stops gracefully), then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_until(pred, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def stack(cmd):
    r = subprocess.run([STACK, cmd, STACK_DIR], capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise AssertionError("%s %s failed: %s" % (STACK, cmd, r.stderr[-2000:]))


def run_threads(n, fn):
    """Run fn(i) in n threads; re-raise the first exception."""
    errors = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


class StockdTest(unittest.TestCase):
    """Base class: every test ends with the service's own audit being clean."""

    maxDiff = None

    def tearDown(self):
        audit_ok()
