"""bench/report.py's ratios table: the verdict against issue 11's goals, and
figures that never read as meeting a goal the verdict says was missed."""

import os
import sys
import tempfile
import unittest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "bench"))
import report  # noqa: E402


def report_of(rows):
    """report.ratios on TSV rows (tag, req/s, p99), two passes each."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        for tag, rps, p99 in rows:
            for p in (0, 1):
                f.write("%s|spread|%d\t%s\t20\t%s\t1000\t0\t0\t300\tok\n" % (tag, p, rps, p99))
    try:
        return report.ratios(f.name, "meta")
    finally:
        os.unlink(f.name)


def table(rows):
    """stockd's rows of report_of(rows), by path, split into cells."""
    out = report_of(rows)
    return {line.split(" | ")[0][2:]: line.split(" | ") for line in out.splitlines() if line.startswith("| stockd")}


class GoalFigure(unittest.TestCase):
    def test_rounds_towards_missing(self):
        self.assertEqual(report.goal_figure(0.897, False, True), "0.89")
        self.assertEqual(report.goal_figure(1.204, False, False), "1.21")
        self.assertEqual(report.goal_figure(0.9, True, True), "**0.90**")
        self.assertEqual(report.goal_figure(1.2, True, False), "**1.20**")


class Ratios(unittest.TestCase):
    def test_a_hair_under_the_goal_is_a_miss_and_shows_as_one(self):
        t = table([("stockd reserve", 2243, 40), ("stockd add", 2000, 48.4),
                   ("lean C 16w", 2500, 40), ("PHP-FPM 16w", 1400, 60)])
        reserve, add = t["stockd reserve"], t["stockd add"]
        self.assertEqual(reserve[3], "0.89")  # 0.8972
        self.assertIn("no (0.9x lean)", reserve[-1])
        self.assertEqual(add[6], "1.21")  # p99 1.21x
        self.assertIn("no (p99)", add[-1])
        self.assertEqual(add[3], "**0.80**")

    def test_the_lean_add_is_not_the_goals_yardstick(self):
        rows = [("stockd add", 2000, 40), ("lean C 16w", 2500, 40), ("lean add C 16w", 1600, 50),
                ("PHP-FPM 16w", 1400, 60)]
        t = table(rows)
        self.assertEqual(t["stockd add"][3], "**0.80**")  # against lean C 16w, not the lean add
        out = report_of(rows)
        self.assertIn("stockd add against the lean add C (the add in plain statements, at the same workers): "
                      "spread 1.25x, p99 0.80x.", out)

    def test_every_goal_met(self):
        t = table([("stockd reserve", 2400, 40), ("lean C 16w", 2500, 40), ("PHP-FPM 16w", 1400, 60)])
        self.assertTrue(t["stockd reserve"][-1].startswith("**yes**"))


if __name__ == "__main__":
    unittest.main()
