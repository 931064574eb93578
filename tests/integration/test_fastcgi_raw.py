"""Raw FastCGI against the app's socket, nginx left out.

Only a peer that can write to the app's socket can send FastCGI, so the
socket must be a unix socket of mode 0660 with no TCP listener beside it
(DESIGN.md §3). Whatever such a peer sends -- malformed records, the
CVE-2025-23016 huge parameter lengths, truncated streams, garbage -- a worker
may die of it (libfcgi, not our code, reads the records), but the master
replaces it, counts it as a crash, and the service keeps answering.

The module prints how many of the malformed inputs killed a worker.
"""

import http.client
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
import uuid

from lib import (STACK_DIR, StockdTest, app_pid, db_lock_product, free_port, get, make_product, metric, metrics,
                 new_cart, sighup_and_wait, wait_until, worker_pids)

SOCK = os.path.join(STACK_DIR, "run", "stockd.sock")

# FastCGI 1.0 (the spec's names)
VERSION_1 = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, DATA = 1, 2, 3, 4, 5, 6, 7, 8
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3
KEEP_CONN = 1
REQUEST_COMPLETE = 0

# name -> True if that input killed a worker; printed at the end of the module.
OUTCOMES = {}


def record(rtype, content=b"", req_id=1, version=VERSION_1, declared=None, padding=0):
    """One record: the 8-byte header, then the content (declared may lie about its length)."""
    length = len(content) if declared is None else declared
    return struct.pack(">BBHHBB", version, rtype, req_id, length, padding, 0) + content + b"\0" * padding


def begin(role=RESPONDER, flags=0, req_id=1):
    return record(BEGIN_REQUEST, struct.pack(">HB5x", role, flags), req_id)


def nv_len(n):
    """A name or value length: one byte below 128, else four with the top bit set."""
    return struct.pack("B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def nv_pair(name, value):
    return nv_len(len(name)) + nv_len(len(value)) + name + value


def stream(rtype, payload, req_id=1):
    """A stream: records of at most 65535 bytes, then the empty record that ends it."""
    out = b""
    for i in range(0, len(payload), 65535):
        out += record(rtype, payload[i:i + 65535], req_id)
    return out + record(rtype, b"", req_id)


def http_params(method="GET", path="/healthz", query="", body=b"", content_length=None, content_type=None):
    """What nginx passes (its fastcgi_params plus ours), encoded as name-value pairs."""
    p = {
        "QUERY_STRING": query, "REQUEST_METHOD": method, "CONTENT_TYPE": content_type or "",
        "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
        "SCRIPT_NAME": path, "REQUEST_URI": path + ("?" + query if query else ""), "DOCUMENT_URI": path,
        "DOCUMENT_ROOT": "/nonexistent", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "raw-fastcgi-test", "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80", "SERVER_NAME": "localhost",
        "REDIRECT_STATUS": "200", "REQUEST_ID": uuid.uuid4().hex, "STOCK_MODE": "stock",
    }
    return b"".join(nv_pair(k.encode(), v.encode()) for k, v in p.items())


def well_formed(method="GET", path="/healthz", body=b"", req_id=1, **kw):
    return (begin(req_id=req_id) + stream(PARAMS, http_params(method, path, body=body, **kw), req_id)
            + stream(STDIN, body, req_id))


def exchange(data, timeout=10.0, half_close=True, chunks=None):
    """Connect to the app socket, send data (or each of chunks), optionally shut our side, and read
    until the app closes or timeout passes. Returns (bytes read, how it ended)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    got = b""
    try:
        s.connect(SOCK)
        try:
            for c in (chunks if chunks is not None else [data]):
                s.sendall(c)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return got, "reset while sending"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                return got, "timeout"
            except ConnectionResetError:
                return got, "reset"
            if not b:
                return got, "closed"
            got += b
        return got, "timeout"
    finally:
        s.close()


def parse_records(data):
    """[(type, request id, content)] and the bytes left over after the last whole record."""
    out = []
    i = 0
    while len(data) - i >= 8:
        version, rtype, req_id, length, padding, _ = struct.unpack(">BBHHBB", data[i:i + 8])
        if len(data) - i < 8 + length + padding:
            break
        out.append((rtype, req_id, data[i + 8:i + 8 + length]))
        i += 8 + length + padding
    return out, data[i:]


def http_response(data):
    """(status, {lower-case header: value}, body, END_REQUEST content or None) from the app's records."""
    recs, rest = parse_records(data)
    assert rest == b"", "trailing bytes after the records: %r" % rest[:64]
    out = b"".join(c for t, _, c in recs if t == STDOUT)
    end = [c for t, _, c in recs if t == END_REQUEST]
    head, _, body = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    status = int(headers.get("status", "200").split()[0]) if head else None
    return status, headers, body, (end[0] if end else None)


def asan_app_reports_huge_malloc():
    """True if the app is the ASan build (make test-asan) without allocator_may_return_null=1: then the
    allocation libfcgi attempts for an overflowing parameter length is an ASan report in the app's log (which
    fails tests/run-all) instead of the NULL and abort of the production build."""
    pid = app_pid()
    try:
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" not in f.read():
                return False
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return False
    return not any(e.startswith(b"ASAN_OPTIONS=") and b"allocator_may_return_null=1" in e for e in env)


def configured_workers(m):
    return int(metric(m, "stockd_workers"))


def pool_whole(m):
    return metric(m, "stockd_workers_idle") + metric(m, "stockd_workers_busy") == configured_workers(m)


def restarts(m):
    return {c: metric(m, "stockd_worker_restarts_total", cause=c) for c in ("crash", "recycle", "timeout")}


def healthy():
    try:
        return get("/healthz", timeout=5).status == 200
    except OSError:
        return False


class FastCGIRaw(StockdTest):
    def survive(self, name, data=None, chunks=None, half_close=True, timeout=5.0):
        """Send one malformed input; then the service must answer through nginx, the pool must be whole
        again, and every child that went must be counted (a crash under cause="crash")."""
        m0 = metrics()
        self.assertTrue(pool_whole(m0), "pool not whole before %s" % name)
        before = set(worker_pids())
        r0 = restarts(m0)
        got, how = exchange(data, timeout=timeout, half_close=half_close, chunks=chunks)
        # Whatever the app sent back must at least be records, never raw bytes.
        recs, _ = parse_records(got)
        for t, _, _ in recs:
            self.assertIn(t, (STDOUT, STDERR, END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE),
                          "%s: unexpected record type %d" % (name, t))
        time.sleep(0.3)  # let a dying worker be reaped before we look
        wait_until(healthy, 10, 0.2, "%s: GET /healthz 200 through nginx" % name)

        def settled():
            m = metrics()
            gone = before - set(worker_pids())
            r = restarts(m)
            counted = sum(r[c] - r0[c] for c in r)
            return (m, gone, r) if pool_whole(m) and counted == len(gone) else None
        m1, gone, r1 = wait_until(settled, 20, 0.2,
                                  "%s: the pool back to WORKERS and every replaced child counted" % name)
        killed = r1["crash"] - r0["crash"]
        self.assertLessEqual(killed, len(gone))
        self.assertEqual(configured_workers(m1), configured_workers(m0))
        self.assertEqual(m1.get("stockd_workers_idle", 0) + m1.get("stockd_workers_busy", 0),
                         configured_workers(m1))
        self.assertTrue(healthy(), "%s: /healthz after the pool came back" % name)
        OUTCOMES[name] = killed > 0
        print("\n  fastcgi_raw: %-44s %-20s %s" % (name, how, "KILLED a worker" if killed else "worker survived"),
              end="", flush=True)
        return got

    # (a) the client works
    def test_a_well_formed_request(self):
        got, how = exchange(well_formed("GET", "/healthz"), half_close=False)
        status, headers, body, end = http_response(got)
        self.assertEqual(status, 200, got[:500])
        self.assertIn(headers.get("x-stock-mode"), ("stock", "legacy"), headers)
        self.assertIn(b'"status"', body)
        self.assertIsNotNone(end, "no END_REQUEST record")
        app_status, proto = struct.unpack(">IB3x", end)
        self.assertEqual((app_status, proto), (0, REQUEST_COMPLETE))
        self.assertEqual(how, "closed")  # without KEEP_CONN the app closes after the answer
        # And a POST with a body, read per CONTENT_LENGTH.
        got, _ = exchange(well_formed("POST", "/api/cart", b"", content_type="application/json"), half_close=False)
        status, headers, body, end = http_response(got)
        self.assertEqual(status, 201, got[:500])
        self.assertIn(b'"cart_id"', body)

    # (b) CVE-2025-23016: a PARAMS record declaring absurd name/value lengths (the 4-byte form)
    def test_b_huge_param_lengths(self):
        # libfcgi allocates name length + value length + 2 in an int: past INT_MAX it overflows.
        # A few bytes of name follow the lengths, then the stream ends: nothing more is ever written.
        cases = [(0x7FFFFFFF, 0x7FFFFFFF), (0x7FFFFFFF, 1), (1, 0x7FFFFFFF), (0x7FFFFFFE, 0x7FFFFFFE),
                 (0x7FFFFF00, 0x100), (0x40000000, 0x40000000), (0x3FFFFFFF, 0x3FFFFFFF)]
        skip_overflow = asan_app_reports_huge_malloc()
        for n, v in cases:
            name = "params name=%#x value=%#x" % (n, v)
            if skip_overflow and n + v + 2 > 0x7FFFFFFF:
                print("\n  fastcgi_raw: %-44s skipped: ASan build without allocator_may_return_null=1" % name,
                      end="", flush=True)
                continue
            with self.subTest(name):
                self.survive(name, begin() + record(PARAMS, nv_len(n) + nv_len(v) + b"AAAA") + record(PARAMS, b""))

    # (c) truncated records
    def test_c_truncated(self):
        full = well_formed("GET", "/healthz")
        self.survive("truncated: header cut at 3 bytes", begin()[:3])
        self.survive("truncated: params header cut mid-way", begin() + record(PARAMS, b"x" * 10)[:5])
        self.survive("truncated: params content shorter than declared",
                     begin() + record(PARAMS, http_params()[:40], declared=1000))
        self.survive("truncated: stdin shorter than declared",
                     begin() + stream(PARAMS, http_params("POST", "/api/cart/add", content_length="100",
                                                          content_type="application/json"))
                     + record(STDIN, b'{"cart_id":', declared=100))
        self.survive("truncated: whole request cut in half", full[:len(full) // 2])
        # Declared more than sent, and the peer keeps the connection open without sending more:
        # the worker waits; when we give up and close, it must go back to work.
        self.survive("truncated: params declared, peer idles then closes",
                     begin() + record(PARAMS, b"\x05", declared=200), half_close=False, timeout=2)

    # (d) an unknown record type and a wrong version
    def test_d_unknown_type_and_version(self):
        self.survive("record type 200 before BEGIN_REQUEST", record(200, b"x" * 8) + well_formed())
        self.survive("record type 200 inside a request", begin() + record(200, b"zz") + stream(
            PARAMS, http_params()) + stream(STDIN, b""))
        self.survive("GET_VALUES management record", record(GET_VALUES, nv_pair(b"FCGI_MPXS_CONNS", b""), req_id=0))
        self.survive("version 2 BEGIN_REQUEST", record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0),
                                                      version=2) + stream(PARAMS, http_params()) + stream(STDIN, b""))
        self.survive("version 0 params", begin() + record(PARAMS, http_params()[:100], version=0))

    # (e) BEGIN_REQUEST with a bogus role
    def test_e_bogus_role(self):
        for role in (0, AUTHORIZER, FILTER, 0xFFFF):
            self.survive("BEGIN_REQUEST role %d" % role,
                         begin(role=role) + stream(PARAMS, http_params()) + stream(STDIN, b""))
        self.survive("BEGIN_REQUEST with 2 content bytes", record(BEGIN_REQUEST, b"\x00\x01"))

    # (f) garbage bytes
    def test_f_garbage(self):
        self.survive("garbage: an HTTP request", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.survive("garbage: 64 KiB of 0xff", b"\xff" * 65536)
        self.survive("garbage: pseudo-random bytes", bytes((i * 7919 + 13) % 251 for i in range(20000)))
        self.survive("garbage: NUL bytes", b"\0" * 4096)

    # (g) STDIN longer and shorter than CONTENT_LENGTH
    def test_g_stdin_length_mismatch(self):
        cid_body = b'{"cart_id":"0123456789abcdef0123456789abcdef"}'
        # Longer: the app reads CONTENT_LENGTH bytes, a whole body (an unknown cart: 404), and ignores the rest.
        got = self.survive("stdin longer than CONTENT_LENGTH", well_formed(
            "POST", "/api/cart/checkout", cid_body + b" " * 5000 + b"garbage",
            content_length=str(len(cid_body)), content_type="application/json"))
        self.assertEqual(http_response(got)[0], 404, got[:300])
        # Shorter: a body that ends early is refused (400), never read as what arrived.
        got = self.survive("stdin shorter than CONTENT_LENGTH", well_formed(
            "POST", "/api/cart/checkout", cid_body[:10], content_length=str(len(cid_body)),
            content_type="application/json"))
        self.assertEqual(http_response(got)[0], 400, got[:300])
        got = self.survive("stdin with CONTENT_LENGTH 2^64", well_formed(
            "POST", "/api/cart/checkout", cid_body, content_length="18446744073709551616",
            content_type="application/json"))
        self.assertEqual(http_response(got)[0], 413, got[:300])
        self.survive("stdin never ended, peer closes", begin() + stream(
            PARAMS, http_params("POST", "/api/cart/checkout", content_length="64", content_type="application/json"))
            + record(STDIN, b"{" * 10), half_close=False, timeout=2)

    # the socket itself
    def test_socket_is_unix_0660_and_no_tcp_listener(self):
        st = os.stat(SOCK)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % SOCK)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660, "mode %o" % stat.S_IMODE(st.st_mode))
        # No TCP (v4 or v6) listening socket belongs to the master or any of its children.
        pids = [app_pid()] + worker_pids()
        inodes = set()
        for pid in pids:
            fd_dir = "/proc/%d/fd" % pid
            try:
                for fd in os.listdir(fd_dir):
                    try:
                        target = os.readlink(os.path.join(fd_dir, fd))
                    except OSError:
                        continue
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except OSError:
                continue
        self.assertTrue(inodes, "no sockets found for the app's processes %s" % pids)
        listening = []
        for table in ("tcp", "tcp6"):
            try:
                with open("/proc/%d/net/%s" % (app_pid(), table)) as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: TCP_LISTEN
                    listening.append("%s %s" % (table, cols[1]))
        self.assertEqual(listening, [], "the app listens on TCP")
        # Cross-check with ss where it is installed: nothing of stockd's among the TCP listeners.
        try:
            r = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            r = None
        if r is not None and r.returncode == 0:
            mine = [ln for ln in r.stdout.splitlines()
                    if any("pid=%d," % p in ln for p in pids)]
            self.assertEqual(mine, [], "ss shows a TCP listener of stockd")
            r = subprocess.run(["ss", "-lxpH"], capture_output=True, text=True, timeout=30)
            self.assertIn(SOCK, r.stdout, "ss -lx does not list the app socket")


def answer_then_probe(data, timeout=5.0):
    """Send data without shutting our side, read the answer up to the app's EOF, then send one more byte.
    Returns (answer, seconds to the EOF, how the byte fared): "refused" if the app had closed the
    connection whole (EPIPE), "taken" if it had only shut its writing side and still reads (a lingering
    close, libfcgi's default), "no eof" if the answer never ended."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    got = b""
    try:
        s.connect(SOCK)
        t0 = time.monotonic()
        s.sendall(data)
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                return got, time.monotonic() - t0, "no eof"
            if not b:
                break
            got += b
        took = time.monotonic() - t0
        try:
            s.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            return got, took, "refused"
        return got, took, "taken"
    finally:
        s.close()


class Closing(StockdTest):
    """After the answer, a worker closes the connection at once when the peer has sent all of its request (the
    empty STDIN record that ends it, as nginx always sends): libfcgi's lingering close (shut the writing side,
    wait for the peer's close) would put it to sleep once more on every request. A peer that has not ended
    its input still gets its answer at once, and the lingering close."""

    def setUp(self):
        wait_until(lambda: pool_whole(metrics()), 20, 0.2, "the pool whole")

    def test_a_request_read_to_its_end_is_closed_at_once(self):
        body = b'{"cart_id":"0123456789abcdef0123456789abcdef"}'
        for name, data, want in (
                ("GET", well_formed("GET", "/healthz"), 200),
                ("POST with a body", well_formed("POST", "/api/cart/checkout", body,
                                                 content_type="application/json"), 404)):
            with self.subTest(name):
                got, took, probe = answer_then_probe(data)
                self.assertEqual(http_response(got)[0], want, got[:300])
                self.assertEqual(probe, "refused", "%s: the app still read after its answer" % name)

    def test_input_not_ended_still_answers_and_lingers(self):
        # The params end, the STDIN stream never does: the look for its end must not wait for it.
        got, took, probe = answer_then_probe(begin() + stream(PARAMS, http_params("GET", "/healthz")))
        status, _, _, end = http_response(got)
        self.assertEqual(status, 200, got[:300])
        self.assertIsNotNone(end, "no END_REQUEST record")
        self.assertLess(took, 1.5, "the answer waited for the end of the input")
        self.assertEqual(probe, "taken", "a peer whose input had not ended met a closed connection")


class KeptConnection:
    """One FastCGI connection kept open across requests, as nginx does with fastcgi_keep_conn on."""

    def __init__(self, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(SOCK)
        self.buf = b""

    def request(self, method="GET", path="/healthz", body=b"", req_id=1, **kw):
        """Send one request with FCGI_KEEP_CONN; return its records up to its END_REQUEST (or raise)."""
        self.s.sendall(begin(flags=KEEP_CONN, req_id=req_id) + stream(PARAMS, http_params(method, path, body=body, **kw),
                                                                      req_id) + stream(STDIN, body, req_id))
        return self.read_answer()

    def read_answer(self):
        while True:
            recs, rest = parse_records(self.buf)
            ends = [i for i, (t, _, _) in enumerate(recs) if t == END_REQUEST]
            if ends:
                # Everything up to and including the first END_REQUEST is this answer; keep the rest.
                raw, self.buf = self._split(ends[0] + 1)
                return raw
            b = self.s.recv(65536)  # socket.timeout: no answer
            if not b:
                raise ConnectionError("the app closed the kept connection; %d bytes unread" % len(self.buf))
            self.buf += b

    def _split(self, nrecs):
        i = 0
        for _ in range(nrecs):
            _, _, _, length, padding, _ = struct.unpack(">BBHHBB", self.buf[i:i + 8])
            i += 8 + length + padding
        return self.buf[:i], self.buf[i:]

    def closed_by_app(self, timeout):
        """True if the app closes its end within timeout (EOF), with nothing more sent."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def signal_blocked(pid, sig):
    """True if the process has sig blocked (its SigBlk mask in /proc)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    except OSError:
        pass
    return False


def gone(pids):
    """True once none of pids is a live process (a zombie not yet reaped counts as gone)."""
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                if f.read().rsplit(") ", 1)[1][0] != "Z":
                    return False
        except OSError:
            pass
    return True


class KeepConn(StockdTest):
    """FCGI_KEEP_CONN (nginx's fastcgi_keep_conn on): the worker serves request after request on one connection
    until the peer closes it, and a stop still finishes the current request, then closes."""

    def setUp(self):
        wait_until(lambda: pool_whole(metrics()), 20, 0.2, "the pool whole")

    def test_several_requests_on_one_connection(self):
        c = KeptConnection()
        try:
            cid = None
            for i in range(5):
                got = c.request("GET", "/healthz", req_id=1 + i % 2)
                status, headers, body, end = http_response(got)
                self.assertEqual(status, 200, got[:300])
                self.assertEqual(struct.unpack(">IB3x", end), (0, REQUEST_COMPLETE))
            # A write with a body, then a read of what it made, on the same connection.
            got = c.request("POST", "/api/cart", b"", content_type="application/json")
            status, _, body, _ = http_response(got)
            self.assertEqual(status, 201, got[:300])
            cid = body.split(b'"cart_id":"')[1][:32].decode()
            got = c.request("GET", "/api/cart/" + cid)
            self.assertEqual(http_response(got)[0], 200, got[:300])
            # The app keeps the connection: nothing more arrives, no EOF.
            self.assertFalse(c.closed_by_app(0.5), "the app closed a kept connection")
        finally:
            c.close()
        # Our close frees the worker for new connections: the whole pool answers through nginx.
        for _ in range(8):
            self.assertTrue(healthy())
        wait_until(lambda: pool_whole(metrics()), 10, 0.2, "the pool whole after the kept connection closed")

    def test_stop_while_idle_on_a_kept_connection(self):
        c = KeptConnection()
        try:
            self.assertEqual(http_response(c.request())[0], 200)
            pids = worker_pids()
            for p in pids:
                os.kill(p, signal.SIGTERM)
            # The worker holding the connection closes it at once, without waiting for nginx.
            self.assertTrue(c.closed_by_app(3), "the kept connection stayed open after SIGTERM")
            wait_until(lambda: gone(pids), 3, 0.05, "every signalled worker to exit")
        finally:
            c.close()
        wait_until(lambda: pool_whole(metrics()), 20, 0.2, "the pool whole again")

    def test_stop_during_a_request_on_a_kept_connection_finishes_it_then_closes(self):
        pid = make_product(stock=5)["id"]
        cid = new_cart()
        c = KeptConnection(timeout=15)
        lock = db_lock_product(pid, 1.0)
        try:
            self.assertEqual(http_response(c.request())[0], 200)
            time.sleep(0.3)  # the row lock is taken
            body = ('{"cart_id":"%s","product_id":%d,"quantity":1}' % (cid, pid)).encode()
            c.s.sendall(begin(flags=KEEP_CONN) + stream(PARAMS, http_params(
                "POST", "/api/stock/reserve", body=body, content_type="application/json")) + stream(STDIN, body))
            time.sleep(0.3)  # the reserve waits on the row lock inside the worker
            pids = worker_pids()
            for p in pids:
                os.kill(p, signal.SIGTERM)
            got = c.read_answer()
            self.assertEqual(http_response(got)[0], 200, got[:400])
            self.assertTrue(c.closed_by_app(3), "the kept connection stayed open after the stop")
            wait_until(lambda: gone(pids), 3, 0.05, "every signalled worker to exit")
        finally:
            c.close()
            lock.wait(30)
        wait_until(lambda: pool_whole(metrics()), 20, 0.2, "the pool whole again")


class StopAfterMalformed(StockdTest):
    def test_worker_hears_stop_after_a_malformed_connection(self):
        """libfcgi, after records it cannot parse, closes the connection and accepts the next one itself,
        with our stop signals blocked: that worker stayed deaf to SIGTERM until a new connection came."""
        wait_until(lambda: pool_whole(metrics()), 20, 0.2, "the pool whole")
        got, how = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(how, "closed")
        time.sleep(0.3)  # the worker that read it is waiting for work again
        pids = worker_pids()
        deaf = [p for p in pids if signal_blocked(p, signal.SIGTERM)]
        for p in pids:
            os.kill(p, signal.SIGTERM)
        # No connection is made until they are gone: a new one would wake the deaf worker.
        try:
            wait_until(lambda: gone(pids), 3, 0.05, "every signalled worker to exit (idle with SIGTERM blocked: %s)"
                       % deaf)
        finally:
            wait_until(lambda: pool_whole(metrics()), 20, 0.2, "the pool whole again")
        self.assertEqual(deaf, [], "an idle worker waited with SIGTERM blocked")


NGINX_KEEPALIVE = """
%(user)s
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    fastcgi_temp_path %(dir)s/fastcgi;
    proxy_temp_path %(dir)s/proxy;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    upstream app {
        server unix:%(sock)s;
        keepalive 2;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param REQUEST_ID $request_id;
            fastcgi_param STOCK_MODE stock;
            fastcgi_keep_conn on;
            fastcgi_pass app;
        }
    }
}
"""


class NginxKeepAlive(StockdTest):
    """A second nginx in front of the same app with upstream keepalive and fastcgi_keep_conn on: nginx keeps
    its FastCGI connections and sends request after request on them."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="nginx-keepalive-", dir=STACK_DIR)
        os.chmod(cls.dir, 0o755)
        cls.port = free_port()
        # The stack's nginx runs its workers as a user that can reach the app socket: the same here.
        with open(os.path.join(STACK_DIR, "nginx", "nginx.conf")) as f:
            user = next((ln for ln in f.read().splitlines() if ln.startswith("user ")), "")
        conf = os.path.join(cls.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_KEEPALIVE % {"user": user, "dir": cls.dir, "sock": SOCK, "port": cls.port})
        subprocess.run(["nginx", "-p", cls.dir, "-c", conf], check=True, capture_output=True, timeout=30)
        wait_until(lambda: os.path.exists(os.path.join(cls.dir, "nginx.pid")), 10, 0.1, "the keepalive nginx")

    @classmethod
    def tearDownClass(cls):
        try:
            with open(os.path.join(cls.dir, "nginx.pid")) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGQUIT)
            wait_until(lambda: not os.path.exists("/proc/%d" % pid), 20, 0.1, "the keepalive nginx to stop")
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_requests_share_connections(self):
        m0 = metrics()
        for _ in range(40):
            status, body = self.get("/healthz")
            self.assertEqual(status, 200, body)
        m1 = metrics()
        requests = metric(m1, "stockd_requests_accepted_total") - metric(m0, "stockd_requests_accepted_total")
        connections = (metric(m1, "stockd_fastcgi_connections_total")
                       - metric(m0, "stockd_fastcgi_connections_total"))
        # 40 through the keepalive nginx, plus the /metrics call that reads m1 (the stack's nginx does not
        # keep connections). At most 2 kept connections, and that call's own.
        self.assertGreaterEqual(requests, 41)
        self.assertLessEqual(connections, 3, "requests %d over %d connections" % (requests, connections))

    def test_reloads_under_load_on_kept_connections_drop_no_get(self):
        pid = make_product(stock=5)["id"]
        stop = threading.Event()
        results, lock = [], threading.Lock()

        def load():
            while not stop.is_set():
                try:
                    r = self.get("/api/products/%d" % pid)
                except Exception as e:  # a dropped connection is a failure too
                    r = (None, repr(e))
                with lock:
                    results.append(r)
        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            # Each reload retires every worker: those holding a kept connection close it when idle, or
            # after the request in hand.
            for _ in range(2):
                sighup_and_wait()
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        bad = [r for r in results if r[0] != 200]
        self.assertGreater(len(results), 20)
        self.assertEqual(bad, [], "%d of %d GETs failed across two reloads" % (len(bad), len(results)))


def tearDownModule():
    if not OUTCOMES:
        return
    killed = sorted(k for k, v in OUTCOMES.items() if v)
    print("\nfastcgi_raw: %d of %d malformed inputs killed a worker%s" % (
        len(killed), len(OUTCOMES), (": " + "; ".join(killed)) if killed else ""), flush=True)
