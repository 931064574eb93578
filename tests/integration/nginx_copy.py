"""A second nginx made from the bundled stack's own nginx.conf: its own pid, logs, temp paths and port in a
temporary folder, and whatever else a test substitutes (its upstream, its locations). The configuration
under test stays the project's; only the parts that would collide with the running stack change."""

import os
import re
import signal
import subprocess
import time

from lib import STACK_DIR, wait_until

LOCATIONS_INCLUDE = r"include (\S+/stockd-locations\.conf);"


def stack_text(name="nginx.conf"):
    with open(os.path.join(STACK_DIR, "nginx", name)) as f:
        return f.read()


def locations_text():
    """The stockd-locations.conf the stack includes, as text."""
    with open(re.search(LOCATIONS_INCLUDE, stack_text()).group(1)) as f:
        return f.read()


def substitute(text, subs, what):
    """Each (pattern, replacement, n) must match exactly n times: a config that changed shape fails loudly
    instead of leaving the copy pointing at the stack's files."""
    for pat, rep, n in subs:
        text, got = re.subn(pat, rep, text)
        assert got == n, "%s: %d matches of %s, expected %d" % (what, got, pat, n)
    return text


def start(tmp, port, subs=(), locations=None):
    """Starts the copy in tmp (an empty folder) on 127.0.0.1:port. subs: more (pattern, replacement, n) for
    nginx.conf; locations: the text of stockd-locations.conf to include instead of the stack's."""
    own = [
        (r"(?m)^pid\s+\S+;", "pid %s/nginx.pid;" % tmp, 1),
        (r"(?m)^error_log\s+\S+", "error_log %s/error.log" % tmp, 1),
        (r"(?m)^(\s*)access_log\s+\S+", r"\1access_log %s/access.log" % tmp, 1),
        (r"(?m)^(\s*)(\w+_temp_path)\s+\S+;", r"\1\2 %s/temp/\2;" % tmp, 5),
        (r"(?m)^(\s*)listen\s+127\.0\.0\.1:\d+;", r"\1listen 127.0.0.1:%d;" % port, 1),
    ]
    if locations is not None:
        with open(os.path.join(tmp, "stockd-locations.conf"), "w") as f:
            f.write(locations)
        own.append((LOCATIONS_INCLUDE, "include %s/stockd-locations.conf;" % tmp, 1))
    text = substitute(stack_text(), own + list(subs), "nginx.conf")
    os.makedirs(os.path.join(tmp, "temp"), exist_ok=True)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(text)
    subprocess.run(["nginx", "-p", tmp, "-c", conf, "-q", "-t"], check=True, capture_output=True)
    subprocess.run(["nginx", "-p", tmp, "-c", conf], check=True, capture_output=True)
    wait_until(lambda: os.path.exists(os.path.join(tmp, "nginx.pid")), 10, 0.05, "the second nginx")
    return conf


def stop(tmp):
    """SIGQUIT (finish what runs, then exit), SIGKILL after 10 s; its workers go with it."""
    try:
        with open(os.path.join(tmp, "nginx.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
            time.sleep(0.05)
        if os.path.exists("/proc/%d" % pid):
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
