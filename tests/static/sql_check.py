"""SQL only through prepared statements, checked on clang's syntax tree of the C sources.

clang parses each file (as the build does: same -I and -D) and dumps its tree as JSON; the rules are
checked on call expressions and declarations, so comments, strings, macros and formatting cannot fool
them. Over app/**/*.c and tests/tools/*.c:

 (a) db_exec, db_read, db_simple and the raw MariaDB calls appear only in app/store/, app/domain/ (the
     layers that own SQL) and tests/tools/ (test tools that drive the database directly);
 (b) db_exec's (and db_read's) SQL argument names a `static const char NAME[]` initialised by a string literal with no
     printf-style conversion -- or is a parameter of a static function of the same file whose every
     call passes such a name (a pass-through like audit_rows);
 (c) db_simple's SQL argument is a string literal, or a choice between two (`x ? "ROLLBACK" : "COMMIT"`),
     with no printf-style conversion;
 (d) mysql_query, mysql_real_query, mysql_send_query and mysql_stmt_prepare appear only in
     the connection layer (app/store/db.c and app/store/connect.c) and app/store/migrate.c (the trusted
     migration files); in db.c a raw query runs only db_simple's own parameter or an element of a
     static const array of string literals, in connect.c only a string literal (a node's readiness);
 (e) no printf-family call has a format that reads like an SQL statement.

(b)-(d) leave a database call no way to receive text built at run time, so the old check's search for
buffers written by snprintf/strcat and then executed is not needed: such a buffer is refused where it
is passed. Each problem is "file:line: what".
"""

import glob
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RAW = ("mysql_query", "mysql_real_query", "mysql_send_query")
PREPARE = "mysql_stmt_prepare"
RAW_ALLOWED = ("app/store/db.c", "app/store/connect.c", "app/store/migrate.c")
SQL_LAYERS = ("app/store/", "app/domain/", "tests/tools/")
FORMATTERS = ("printf", "fprintf", "dprintf", "snprintf", "sprintf", "vsnprintf", "vsprintf", "asprintf",
              "vasprintf", "log_msg")
PRINTF_CONV = re.compile(r"%[-+ #0]*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|j|z|t|L)?[diouxXeEfFgGaAcsnp]")
SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO|CALL|DO|SET\s+\w+\s*=)\b|"
                      r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b", re.S | re.I)
STATIC_STATEMENT_TYPE = re.compile(r"const char ?\[\d+\]$")


def clang_flags():
    cflags = subprocess.run(["pkg-config", "--cflags", "libmariadb", "json-c"], capture_output=True,
                            text=True).stdout.split()
    # The version the Makefile passes from the VERSION file (app/core/version.c refuses to build without it).
    with open(os.path.join(TOP, "VERSION")) as f:
        version = f.read().strip()
    return (["-fsyntax-only", "-std=c11", "-D_GNU_SOURCE", "-DSTOCKD_VERSION=\"%s\"" % version,
             "-I" + os.path.join(TOP, "app")] + cflags)


def strip(e):
    """The expression under implicit conversions and parentheses (an explicit cast is kept: it is
    never needed to pass a statement)."""
    while e.get("kind") in ("ImplicitCastExpr", "ParenExpr") and e.get("inner"):
        e = e["inner"][0]
    return e


def literal(e):
    """The text of a string literal expression (its C spelling, quotes dropped), or None."""
    e = strip(e)
    if e.get("kind") != "StringLiteral":
        return None
    v = e.get("value", "")
    return v[1:-1] if v.startswith('"') and v.endswith('"') else v


class Tree:
    """One translation unit's tree, walked once: declarations by id, functions with a body, and every
    call with its callee's name, its node, the function it is in, and where it is."""

    def __init__(self, root):
        self.decls = {}
        self.calls = []
        self.functions = {}
        self.file, self.line = None, None
        self._walk(root, None)

    def _loc(self, loc):
        # clang writes a location's file and line only when they change: follow them in tree order.
        if not loc:
            return None
        if "spellingLoc" in loc:
            self._loc(loc["spellingLoc"])
            return self._loc(loc["expansionLoc"])
        if "file" in loc:
            self.file = loc["file"]
        if "line" in loc:
            self.line = loc["line"]
        return (self.file, self.line) if "offset" in loc else None

    def _walk(self, n, fn):
        pos = self._loc(n["loc"]) if "loc" in n else None
        if "range" in n:
            begin = self._loc(n["range"].get("begin"))
            self._loc(n["range"].get("end"))
            pos = pos or begin
        n["_pos"] = pos
        kind = n.get("kind")
        if kind in ("VarDecl", "ParmVarDecl", "FunctionDecl"):
            self.decls[n["id"]] = n
        if kind == "FunctionDecl" and any(c.get("kind") == "CompoundStmt" for c in n.get("inner", [])):
            fn = n
            self.functions[n["name"]] = n
        if kind == "CallExpr" and n.get("inner"):
            callee = strip(n["inner"][0])
            if callee.get("kind") == "DeclRefExpr":
                self.calls.append((callee["referencedDecl"].get("name"), n, fn))
        for c in n.get("inner", []):
            if isinstance(c, dict):
                self._walk(c, fn)

    def decl_of(self, e):
        e = strip(e)
        if e.get("kind") != "DeclRefExpr":
            return None
        return self.decls.get(e["referencedDecl"]["id"], e["referencedDecl"])


def args(call):
    return call["inner"][1:]


def params(fn):
    return [c for c in fn.get("inner", []) if c.get("kind") == "ParmVarDecl"]


class Checker:
    def __init__(self):
        self.rel = lambda f: f
        self.problems = set()
        self.seen = {"db_exec": 0, "db_read": 0, "db_simple": 0}

    def bad(self, node, what):
        pos = node.get("_pos")
        place = "%s:%s" % ((self.rel(pos[0]) or pos[0]), pos[1]) if pos else "?"
        self.problems.add("%s: %s" % (place, what))

    def static_statement(self, d):
        """None if d is a `static const char NAME[] = "..."` statement without printf conversions, else why."""
        if d.get("kind") != "VarDecl" or d.get("storageClass") != "static" or \
                not STATIC_STATEMENT_TYPE.search(d.get("type", {}).get("qualType", "")):
            return "not a static const char[] statement"
        init = d.get("inner", [])
        text = literal(init[0]) if init else None
        if text is None:
            return "not initialised by a string literal"
        if PRINTF_CONV.search(text):
            return "holds a printf-style %% conversion: %r" % text[:80]
        return None

    def check_sql_arg(self, tree, call, fn, index, callee, depth=0):
        """(b): the SQL argument at index of call (in fn) is a static statement, or a pass-through."""
        arg = args(call)[index]
        d = tree.decl_of(arg)
        if d is None:
            self.bad(call, "%s's SQL must name a static const char[] statement" % callee)
            return
        if d.get("kind") == "ParmVarDecl" and fn is not None:
            own = params(fn)
            ids = [p["id"] for p in own]
            if d["id"] not in ids or fn.get("storageClass") != "static" or depth > 3:
                self.bad(call, "%s(%s): a parameter of a function other files can call" % (callee, d.get("name")))
                return
            i = ids.index(d["id"])
            for name, c, f in tree.calls:
                if name == fn["name"] and len(args(c)) > i:
                    shown = tree.decl_of(args(c)[i])
                    if shown is None or (shown.get("kind") == "VarDecl" and self.static_statement(shown)):
                        self.bad(c, "%s(... %s ...) passes `%s`, which is not a static statement" % (
                            fn["name"], d.get("name"), (shown or {}).get("name", "an expression")))
                    else:
                        self.check_sql_arg(tree, c, f, i, fn["name"], depth + 1)
            return
        why = self.static_statement(d)
        if why:
            self.bad(call, "%s(%s): %s" % (callee, d.get("name"), why))

    def literal_array(self, d):
        """A static const array of string literals (db.c's session set-up)."""
        if d is None or d.get("kind") != "VarDecl" or d.get("storageClass") != "static":
            return False
        qt = d.get("type", {}).get("qualType", "")
        if not re.search(r"const char \*const ?\[\d*\]$", qt):
            return False
        init = d.get("inner", [])
        return bool(init) and init[0].get("kind") == "InitListExpr" and \
            all(literal(x) is not None for x in init[0].get("inner", []))

    def check_tree(self, tree, rel_of):
        self.rel = rel_of
        for name, call, fn in tree.calls:
            if fn is None or fn.get("_pos") is None:
                continue
            path = rel_of(fn["_pos"][0])
            if path is None:
                continue  # a system header
            if name in ("db_exec", "db_read", "db_simple") + RAW + (PREPARE,) and not path.startswith(SQL_LAYERS):
                self.bad(call, "%s outside %s: SQL belongs to the store and domain layers" % (
                    name, ", ".join(SQL_LAYERS)))
            if name in ("db_exec", "db_read") and len(args(call)) >= 2:
                self.seen[name] += 1
                self.check_sql_arg(tree, call, fn, 1, name)
            elif name == "db_simple" and len(args(call)) >= 2:
                self.seen["db_simple"] += 1
                a = strip(args(call)[1])
                texts = [literal(a)] if a.get("kind") != "ConditionalOperator" else \
                    [literal(x) for x in a.get("inner", [])[1:3]]
                if not texts or any(t is None for t in texts):
                    self.bad(call, "db_simple must be passed a string literal (or a choice between two)")
                elif any(PRINTF_CONV.search(t) for t in texts):
                    self.bad(call, "db_simple literal holds a printf-style %% conversion")
            elif name in RAW + (PREPARE,):
                if path not in RAW_ALLOWED:
                    self.bad(call, "%s outside %s: SQL goes through db_exec (prepared) or db_simple (literal)"
                             % (name, " and ".join(RAW_ALLOWED)))
                elif path == "app/store/connect.c" and (name not in RAW or len(args(call)) < 2 or
                                                         literal(args(call)[1]) is None):
                    self.bad(call, "%s in connect.c runs something other than a string literal" % name)
                elif path == "app/store/db.c" and name in RAW and len(args(call)) >= 2:
                    a = strip(args(call)[1])
                    d = tree.decl_of(a)
                    own = d is not None and d.get("kind") == "ParmVarDecl" and fn["name"] == "db_simple" and \
                        d["id"] in [p["id"] for p in params(fn)]
                    elem = a.get("kind") == "ArraySubscriptExpr" and \
                        self.literal_array(tree.decl_of(a["inner"][0]))
                    if not own and not elem:
                        self.bad(call, "%s in db.c runs neither db_simple's argument nor an element of a "
                                 "static const array of literals" % name)
            elif name in FORMATTERS:
                for a in args(call):
                    t = literal(a)
                    if t is not None and SQL_TEXT.search(t) and PRINTF_CONV.search(t):
                        self.bad(call, "%s formats SQL text: %r" % (name, t[:80]))


def parse(path, cwd=TOP):
    """clang's tree of one file (path relative to cwd), or raises with clang's complaint."""
    r = subprocess.run(["clang"] + clang_flags() + ["-Xclang", "-ast-dump=json", path], cwd=cwd,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("clang cannot parse %s:\n%s" % (path, r.stderr[-2000:]))
    return Tree(json.loads(r.stdout))


def rel_in(top):
    """A file name as clang wrote it -> its path relative to top, or None outside top (system headers)."""
    def rel(f):
        if f is None:
            return None
        p = os.path.relpath(f if os.path.isabs(f) else os.path.join(top, f), top).replace(os.sep, "/")
        return None if p.startswith("..") else p
    return rel


def source_files(top=TOP):
    files = sorted(glob.glob(os.path.join(top, "app", "**", "*.c"), recursive=True))
    files += sorted(glob.glob(os.path.join(top, "tests", "tools", "*.c")))
    return [os.path.relpath(f, top) for f in files if "/build/" not in f.replace(os.sep, "/")]


def check(files, top=TOP):
    """(problems, checker) over files (relative to top)."""
    sys.setrecursionlimit(20000)
    checker = Checker()
    with ThreadPoolExecutor(max_workers=2) as pool:
        trees = list(pool.map(lambda f: parse(f, top), files))
    for tree in trees:
        checker.check_tree(tree, rel_in(top))
    return sorted(checker.problems), checker


if __name__ == "__main__":
    problems, c = check(source_files())
    print("\n".join(problems) or "no problems; %d db_exec, %d db_read and %d db_simple calls checked" % (
        c.seen["db_exec"], c.seen["db_read"], c.seen["db_simple"]))
    sys.exit(1 if problems else 0)
