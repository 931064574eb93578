#!/usr/bin/env python3
"""The tables of make bench, in Markdown, from the TSV files bench/lib.sh's
bench_wrk writes (TAG req/s p50 p99 requests non2xx socket_errors
mariadbd_us audit; TAG is fields joined by '|').

  report.py ratios TSV META       issue 11's goals against the lean path
  report.py curve TSV META        req/s and p99 against WORKERS x connections
  report.py scale TSV META SVG    growth table; SVG drawn with gnuplot
"""
import collections
import math
import os
import statistics
import subprocess
import sys


def rows(path):
    out = []
    with open(path) as f:
        for line in f:
            tag, rps, p50, p99, n, bad, sock, us, audit = line.rstrip("\n").split("\t")
            out.append(dict(tag=tag.split("|"), rps=float(rps), p50=float(p50), p99=float(p99), n=int(n),
                            bad=int(bad), sock=int(sock), us=float(us), audit=audit))
    return out


def merge(runs):
    """The mean of a path's runs; invalid if any of them is."""
    return dict(rps=statistics.mean(r["rps"] for r in runs), p50=statistics.mean(r["p50"] for r in runs),
                p99=statistics.mean(r["p99"] for r in runs), us=statistics.mean(r["us"] for r in runs),
                bad=sum(r["bad"] for r in runs), sock=sum(r["sock"] for r in runs),
                audit="ok" if all(r["audit"] in ("ok", "-") for r in runs) else "FAILED",
                each=" / ".join("%.0f" % r["rps"] for r in runs))


def valid(m):
    return m["bad"] == 0 and m["sock"] == 0 and m["audit"] == "ok"


# Issue 11: stockd reserve >= 0.9x the best lean C, add >= 0.8x; p99 at most
# 1.2x the lean path's; at least 1.4x PHP-FPM doing the lean reserve.
GOALS = {"stockd reserve": 0.9, "stockd add": 0.8}
P99_GOAL, PHP_GOAL = 1.2, 1.4


def goal_figure(r, met, at_least):
    """A ratio against its goal, bold when met, and rounded towards missing
    it: 0.897 against 0.9 shows as 0.89, 1.204 against 1.2 as 1.21, so that
    no figure on the page reads as meeting a goal the verdict says it
    missed."""
    x = round(r * 100, 6)  # 0.29 * 100 is 28.999...: not 0.28
    hundredths = math.floor(x) if at_least else math.ceil(x)
    return ("**%.2f**" if met else "%.2f") % (hundredths / 100)


def ratios(tsv, meta):
    groups = collections.OrderedDict()
    for r in rows(tsv):
        name, load, _ = r["tag"]
        groups.setdefault((name, load), []).append(r)
    m = {k: merge(v) for k, v in groups.items()}
    out = ["Run of " + meta, ""]
    out.append("| path | load | req/s (runs) | / best lean C | p50 ms | p99 ms | p99 / lean | / PHP | "
               "MariaDB CPU µs/ok | non-2xx | audit | goal met |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for load in ("spread", "hot"):
        leans = [(k, v) for k, v in m.items() if k[1] == load and k[0].startswith("lean C")]
        best = max(leans, key=lambda kv: kv[1]["rps"])[1] if leans else None
        php = m.get(("PHP-FPM 16w", load))
        for (name, l), v in m.items():
            if l != load:
                continue
            r_lean = v["rps"] / best["rps"] if best else float("nan")
            r_p99 = v["p99"] / best["p99"] if best else float("nan")
            r_php = v["rps"] / php["rps"] if php else float("nan")
            goal = "—"
            shown = ["%.2f" % r for r in (r_lean, r_p99, r_php)]
            if name in GOALS:
                # (ratio, goal, at least the goal rather than at most)
                checks = [(r_lean, GOALS[name], True), (r_p99, P99_GOAL, False), (r_php, PHP_GOAL, True)]
                met = [r >= g if at_least else r <= g for r, g, at_least in checks] + [valid(v)]
                goal = "**yes**" if all(met) else "no (%s)" % ", ".join(
                    w for w, ok in zip(("%.1fx lean" % GOALS[name], "p99", "%.1fx PHP" % PHP_GOAL, "valid run"), met)
                    if not ok)
                shown = [goal_figure(r, ok, at_least) for (r, _, at_least), ok in zip(checks, met)]
            elif not valid(v):
                goal = "invalid run"
            out.append("| %s | %s | %s (%s) | %s | %.1f | %.1f | %s | %s | %.0f | %d%s | %s | %s |" % (
                name, load, "{:,.0f}".format(v["rps"]), v["each"], shown[0], v["p50"], v["p99"],
                shown[1], shown[2], v["us"], v["bad"], " (+%d socket errors)" % v["sock"] if v["sock"] else "",
                v["audit"], goal))
    out.append("")
    out.append("Ratios are to the best of lean C at 4 and 16 workers on the same load (its p99 for the p99 "
               "ratio), and to PHP-FPM + PDO doing the lean reserve at 16 workers. MariaDB CPU is mariadbd's "
               "user + system time during the timed run divided by its 2xx answers. Bold: the ratio meets its "
               "goal; stockd's ratios are rounded towards missing it (0.897 shows as 0.89).")
    against = lean_add_ratios(m)
    if against:
        out.append("")
        out.append("stockd add against the lean add C (the add in plain statements, at the same workers): "
                   + "; ".join(against) + ".")
    return "\n".join(out)


def lean_add_ratios(m):
    """stockd's add over the lean add, by load: not a goal of issue 11 (its
    goals are against the lean reserve), the add's own yardstick."""
    out = []
    for load in ("spread", "hot"):
        add = m.get(("stockd add", load))
        lean = [v for k, v in m.items() if k[1] == load and k[0].startswith("lean add C")]
        if add and lean:
            out.append("%s %.2fx, p99 %.2fx" % (load, add["rps"] / lean[0]["rps"], add["p99"] / lean[0]["p99"]))
    return out


def curve(tsv, meta):
    groups = collections.OrderedDict()
    for r in rows(tsv):
        groups.setdefault((int(r["tag"][0]), int(r["tag"][1])), []).append(r)
    m = {k: merge(v) for k, v in groups.items()}
    ws = sorted({w for w, _ in m})
    cs = sorted({c for _, c in m})
    out = ["Run of " + meta, ""]
    out.append("| WORKERS | " + " | ".join("%d conn req/s (runs) | p99 ms" % c for c in cs) + " |")
    out.append("| ---: | " + " | ".join("---: | ---:" for _ in cs) + " |")
    for w in ws:
        cells = []
        for c in cs:
            v = m.get((w, c))
            if not v:
                cells.append("— | —")
                continue
            flag = "" if valid(v) else " (%d non-2xx, %d socket errors, audit %s)" % (v["bad"], v["sock"], v["audit"])
            cells.append("{:,.0f} ({}){} | {:.1f}".format(v["rps"], v["each"], flag, v["p99"]))
        out.append("| %d | %s |" % (w, " | ".join(cells)))
    best = {c: max(((w, m[(w, c)]) for w in ws if (w, c) in m), key=lambda wv: wv[1]["rps"]) for c in cs}
    out.append("")
    out.append("Most req/s per connection count: " + ", ".join(
        "%d connections: WORKERS=%d (%s req/s)" % (c, best[c][0], "{:,.0f}".format(best[c][1]["rps"])) for c in cs) + ".")
    return "\n".join(out)


def scale(tsv, meta, svg):
    # TAG: dimension|value|kind
    m = collections.OrderedDict()
    for r in rows(tsv):
        dim, value, kind = r["tag"]
        m.setdefault(dim, collections.OrderedDict()).setdefault(value, {})[kind] = r
    names = {"products": "products in the table", "holds": "live holds of other carts",
             "lines": "lines in each cart"}
    out = ["Run of " + meta, ""]
    out.append("| grows | to | add req/s | add p99 ms | add MariaDB µs/ok | cart view req/s | view p99 ms | view MariaDB µs/ok |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def cell(r):
        if not r:
            return "— | — | —"
        flag = "" if r["bad"] == 0 and r["sock"] == 0 and r["audit"] in ("ok", "-") else " (%d non-2xx)" % r["bad"]
        return "{:,.0f}{} | {:.1f} | {:.0f}".format(r["rps"], flag, r["p99"], r["us"])

    for dim, values in m.items():
        for value, kinds in values.items():
            out.append("| %s | %s | %s | %s |" % (names.get(dim, dim), "{:,}".format(int(value)),
                                                  cell(kinds.get("add")), cell(kinds.get("view"))))
    if svg:
        plot(m, names, svg)
        out.append("")
        out.append("![throughput as the tables grow](%s)" % os.path.basename(svg))
    return "\n".join(out)


def plot(m, names, svg):
    """Three panels (products, holds, cart lines), req/s of add and view on a
    log x axis; gnuplot draws it (Debian's gnuplot-nox)."""
    tmp = svg + ".d"
    os.makedirs(tmp, exist_ok=True)
    script = ["set terminal svg size 1200,380 dynamic font 'sans,11' background '#ffffff'",
              "set output '%s'" % svg, "set multiplot layout 1,3 title 'stockd: throughput as it grows (make bench)'",
              "set logscale x", "set format x '%.0s%c'", "set grid", "set key top right font ',9' samplen 2",
              "set offsets graph 0.08, graph 0.08, graph 0.25, 0", "set ylabel 'req/s'", "set yrange [0:*]"]
    for dim, values in m.items():
        data = os.path.join(tmp, dim + ".dat")
        with open(data, "w") as f:
            for value, kinds in values.items():
                x = max(int(value), 1) if dim != "holds" else max(int(value), 1000)
                f.write("%d %s %s\n" % (x, kinds["add"]["rps"] if "add" in kinds else "NaN",
                                        kinds["view"]["rps"] if "view" in kinds else "NaN"))
        label = names.get(dim, dim) + (" (0 at 1k)" if dim == "holds" else "")
        script += ["set xlabel '%s'" % label,
                   "plot '%s' using 1:2 with linespoints lw 2 title 'POST /api/cart/add' noenhanced, "
                   "'' using 1:3 with linespoints lw 2 title 'GET /api/cart/{id}' noenhanced" % data]
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "ratios":
        print(ratios(sys.argv[2], sys.argv[3]))
    elif what == "curve":
        print(curve(sys.argv[2], sys.argv[3]))
    elif what == "scale":
        print(scale(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
    else:
        sys.exit(__doc__)
