"""Worker lifecycle: recycling after MAX_REQUESTS, the hard REQUEST_TIMEOUT, and a child that cannot set
itself up."""

import os
import shutil
import subprocess
import tempfile
import time

from lib import (STACK_DIR, StockdTest, app_pid, conf, db_lock_product, get, make_product, metric, metrics,
                 new_cart, ok, product, reserve, snapshot, stop_process, wait_until, worker_pids)

# prctl(PR_SET_PDEATHSIG) fails; every other prctl goes to the kernel.
FAIL_PDEATHSIG = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a[4];
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_PDEATHSIG) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_prctl, option, a[0], a[1], a[2], a[3]);
}
"""


class Recycle(StockdTest):
    def test_workers_recycle_without_failing_a_request(self):
        before = metric(metrics(), "stockd_worker_restarts_total", cause="recycle")
        crashes = metric(metrics(), "stockd_worker_restarts_total", cause="crash")
        pid = make_product(stock=5)["id"]
        with conf(MAX_REQUESTS=10):
            pids_before = set(worker_pids())
            # 120 requests over 4 workers: each worker must go round several times.
            for _ in range(120):
                ok(get("/api/products/%d" % pid))
            wait_until(lambda: metric(metrics(), "stockd_worker_restarts_total", cause="recycle") >= before + 4,
                       10, what="recycled workers")
            self.assertTrue(set(worker_pids()) - pids_before, "no worker was replaced")
        self.assertEqual(metric(metrics(), "stockd_worker_restarts_total", cause="crash"), crashes,
                         "a recycle was counted as a crash")


class RequestTimeout(StockdTest):
    def test_stuck_request_kills_its_worker_and_changes_nothing(self):
        pid = make_product(stock=5)["id"]
        cid = new_cart()
        with conf(REQUEST_TIMEOUT=400):
            before = metric(metrics(), "stockd_worker_restarts_total", cause="timeout")
            snap = snapshot([pid], [cid])
            locker = db_lock_product(pid, 3)
            try:
                time.sleep(0.3)  # the row lock is held from now on
                started = time.monotonic()
                r = reserve(cid, pid, 1)
                took = time.monotonic() - started
            finally:
                locker.wait(10)
            # The worker was killed mid-request: nginx answers 502 in JSON, well before the lock went away.
            self.assertEqual(r.status, 502, r)
            self.assertEqual(r.error["code"], "bad_gateway")
            self.assertLess(took, 2.5)
            wait_until(lambda: metric(metrics(), "stockd_worker_restarts_total", cause="timeout") == before + 1,
                       5, what="timeout restart counted")
            # The killed transaction was rolled back by the database.
            self.assertEqual(snapshot([pid], [cid]), snap)
            self.assertEqual(product(pid)["reserved"], 0)
            # And the pool is whole again.
            ok(reserve(cid, pid, 1))


class IdempotencyAfterCrash(StockdTest):
    def test_key_of_a_killed_request_runs_once_after_the_timeout(self):
        """A worker killed before its change committed leaves the key claimed but unanswered: retries get 409
        until REQUEST_TIMEOUT has passed, then the request runs once, and later retries replay its answer."""
        pid = make_product(stock=5)["id"]
        cid = new_cart()
        key = {"Idempotency-Key": "crash-" + cid}
        with conf(REQUEST_TIMEOUT=500):
            locker = db_lock_product(pid, 2)
            try:
                time.sleep(0.3)
                killed = reserve(cid, pid, 2, headers=key)
            finally:
                locker.wait(10)
            self.assertEqual(killed.status, 502, killed)
            self.assertEqual(product(pid)["reserved"], 0, "the killed request changed stock")
            # The claim outlived its worker by more than REQUEST_TIMEOUT: taken over, run once.
            time.sleep(0.6)
            first = reserve(cid, pid, 2, headers=key)
            self.assertEqual(first.status, 200, first)
            again = reserve(cid, pid, 2, headers=key)
            self.assertEqual((again.status, again.body), (first.status, first.body))
            self.assertEqual(product(pid)["reserved"], 2)


class ChildSetup(StockdTest):
    def test_a_child_that_cannot_die_with_its_master_does_not_serve(self):
        """A worker whose prctl(PR_SET_PDEATHSIG) failed would outlive its master and serve with stale config:
        it must exit instead. A second master runs beside the stack's, on its own socket, with prctl failing."""
        tmp = tempfile.mkdtemp(prefix="child-setup-", dir=STACK_DIR)
        proc = None
        try:
            shim = os.path.join(tmp, "fail_pdeathsig.so")
            with open(os.path.join(tmp, "shim.c"), "w") as f:
                f.write(FAIL_PDEATHSIG)
            subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, os.path.join(tmp, "shim.c")], check=True,
                           capture_output=True, timeout=60)
            master = app_pid()
            with open("/proc/%d/environ" % master, "rb") as f:
                env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
            env = {k.decode(): v.decode() for k, v in env.items()}
            log = os.path.join(tmp, "stockd.log")
            env.update(LISTEN="unix:" + os.path.join(tmp, "s.sock"), PID_FILE=os.path.join(tmp, "pid"), LOG_FILE=log,
                       ACCESS_LOG=os.path.join(tmp, "access.log"), WORKERS="1", LD_PRELOAD=shim)
            # The ASan build wants its runtime first in the library list; the shim comes before it here.
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
            exe = os.readlink("/proc/%d/exe" % master).replace(" (deleted)", "")
            proc = subprocess.Popen([exe, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def refused():
                try:
                    with open(log) as f:
                        text = f.read()
                except OSError:
                    return False
                return text.count("prctl(PR_SET_PDEATHSIG) failed") >= 2 and "exited with status 1" in text
            # The master replaces a worker that exits (a crash, with back-off): two refusals show the loop.
            wait_until(refused, 15, 0.2, "two workers refusing to run without PR_SET_PDEATHSIG (log: %s)" % log)
        finally:
            if proc is not None:
                stop_process(proc)
            shutil.rmtree(tmp, ignore_errors=True)
