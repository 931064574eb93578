"""Releases: one version (the VERSION file) in `stockd --version`, /status and /metrics; deploy/install keeps the
binary it replaces and rolls back to it; it installs runtime packages only."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from lib import get, metrics, metric

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
INSTALL = os.path.join(TOP, "deploy", "install")
# The development toolchain (deploy/install-deps): none of it belongs on a production host.
DEV_ONLY = re.compile(r"(-dev$|^build-essential$|^gcc|^clang|^libclang|^valgrind$|^cmocka|^libcmocka|^wrk$|"
                      r"^prometheus|^mtail$|^pkg-config$|^mariadb-server$|^chromium|^debootstrap$|^php)")


def version_file():
    with open(os.path.join(TOP, "VERSION")) as f:
        return f.read().strip()


def run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, **kw)


class Release(unittest.TestCase):
    def test_version_everywhere(self):
        v = version_file()
        self.assertRegex(v, r"^\d+\.\d+\.\d+$")
        # --version needs no conf file and no database (a kept binary answers anywhere)
        r = run([BIN, "--version"], env={"PATH": os.environ["PATH"], "STOCKD_CONF": "/nonexistent"})
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "stockd %s\n" % v, ""))
        s = get("/status")
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.json["version"], v)
        m = metrics()
        self.assertEqual(metric(m, "stockd_build_info", version=v), 1)
        self.assertEqual(len([k for k in m if k.startswith("stockd_build_info{")]), 1, "one build_info series")
        with open(os.path.join(TOP, "CHANGELOG.md")) as f:
            self.assertIn("## %s" % v, f.read(), "CHANGELOG.md has no section for the current version")
        with open(os.path.join(TOP, "LICENSE")) as f:
            self.assertIn("MIT License", f.read())

    def test_install_keeps_the_previous_binary_and_rolls_back(self):
        tmp = tempfile.mkdtemp(prefix="stockd-release-")
        try:
            root = os.path.join(tmp, "root")
            # two different builds: the real one, and the same plus a byte (still a runnable ELF)
            old, new = os.path.join(tmp, "old"), os.path.join(tmp, "new")
            shutil.copy(BIN, old)
            shutil.copy(BIN, new)
            with open(new, "ab") as f:
                f.write(b"\0")
            installed = os.path.join(root, "usr/local/bin/stockd")
            previous = installed + ".previous"

            def install(binary, *extra):
                r = run([INSTALL, "--root", root] + list(extra), env=dict(os.environ, STOCKD_BIN=binary))
                self.assertEqual(r.returncode, 0, r.stderr)
                return r

            def same(a, b):
                return run(["cmp", "-s", a, b]).returncode == 0

            install(old)
            self.assertTrue(same(installed, old))
            share = os.path.join(root, "usr/local/share/stockd")
            for rel in ("deploy/backup", "deploy/install", "monitoring/stockd.rules.yml", "monitoring/prometheus.yml",
                        "monitoring/alertmanager.yml", "monitoring/nginx-stockd.mtail", "monitoring/stockd.json"):
                self.assertTrue(os.path.isfile(os.path.join(share, rel)), rel)
            self.assertFalse(os.path.exists(previous), "a first install has nothing to keep")
            r = install(new)
            self.assertTrue(same(installed, new))
            self.assertTrue(same(previous, old), "the replaced binary is kept")
            self.assertIn("stockd.previous (stockd %s)" % version_file(), r.stderr)
            # the same build twice: the rollback target stays the older build, not a copy of the current one
            install(new)
            self.assertTrue(same(installed, new))
            self.assertTrue(same(previous, old))
            # the rollback, with the installed script (no source tree on a production host), no rebuild
            script = os.path.join(root, "usr/local/share/stockd/deploy/install")
            r = run([script, "--rollback", "--root", root])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(same(installed, old))
            self.assertTrue(same(previous, new), "a rollback can be rolled forward")
            self.assertTrue(os.access(installed, os.X_OK))
            self.assertEqual(run([installed, "--version"]).stdout, "stockd %s\n" % version_file())
            self.assertIn("USR2", r.stderr)
            # nothing to roll back to
            r = run([INSTALL, "--rollback", "--root", os.path.join(tmp, "empty")])
            self.assertEqual(r.returncode, 2)
            self.assertIn("no previous binary", r.stderr)
        finally:
            shutil.rmtree(tmp)

    def test_install_names_runtime_packages_only(self):
        r = run([INSTALL, "--packages"])
        self.assertEqual(r.returncode, 0, r.stderr)
        pkgs = r.stdout.split()
        self.assertEqual([p for p in pkgs if DEV_ONLY.search(p)], [], "development packages in deploy/install")
        for p in ("nginx", "mariadb-client"):
            self.assertIn(p, pkgs)
        # every library the binary links comes from a package it installs (or from libc6, libssl3, zlib1g,
        # which those packages depend on)
        # the production build, also when the suite runs a sanitized one (STOCKD_BIN), which links libasan
        ldd = run(["ldd", os.path.join(TOP, "app", "build", "stockd")]).stdout
        libs = re.findall(r"=> (/\S+)", ldd)
        self.assertTrue(libs, ldd)
        base = {"libc6", "libssl3", "zlib1g", "libgcc-s1", "libstdc++6", "libzstd1", "libgnutls30"}
        for lib in libs:
            owner = run(["dpkg", "-S", os.path.realpath(lib)])
            if owner.returncode != 0:
                owner = run(["dpkg", "-S", lib])
            self.assertEqual(owner.returncode, 0, "%s: %s" % (lib, owner.stderr))
            pkg = owner.stdout.split(":")[0]
            self.assertTrue(pkg in pkgs or pkg in base, "%s (from %s) is not installed by deploy/install" % (pkg, lib))
        # the installer's own apt-get line is the only one, and uses that list
        with open(INSTALL) as f:
            text = f.read()
        self.assertEqual(len(re.findall(r"apt-get install", text)), 1)
        self.assertIn('"${missing[@]}"', text)


if __name__ == "__main__":
    unittest.main()
