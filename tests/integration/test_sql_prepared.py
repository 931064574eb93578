"""SQL only through prepared statements: a static check of the C sources.

Over app/**/*.c and tests/tools/*.c:
 (a) mysql_query, mysql_real_query, mysql_send_query and mysql_stmt_prepare
     appear only in app/store/db.c (the connection layer: db_simple, the
     session set-up, the statement cache) and app/store/migrate.c (the
     trusted migration files and literal queries); in db.c a raw query runs
     only db_simple's own argument or an element of a static const array
     of string literals; and every db_simple( call passes a string literal
     (or a choice between two: `failed ? "ROLLBACK" : "COMMIT"`);
 (b) every db_exec( call's SQL argument names a `static const char NAME[] =`
     string literal of the same file with no printf-style conversion in it --
     or is a `const char *` parameter of a static function of that file every
     caller of which passes such a name (a pass-through like audit_rows);
 (c) no snprintf/sprintf/strcat/... writes into a buffer that the same
     function then hands to db_exec, db_simple or a raw query, and no
     snprintf/sprintf format anywhere reads like an SQL statement.
Each failure names file:line. Needs no stack: it reads the source tree.
"""

import glob
import os
import re
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RAW = ("mysql_query", "mysql_real_query", "mysql_send_query")
PREPARE = "mysql_stmt_prepare"
RAW_ALLOWED = ("app/store/db.c", "app/store/migrate.c")
BUILDERS = ("snprintf", "sprintf", "vsnprintf", "vsprintf", "strcat", "strncat", "strcpy", "strncpy", "stpcpy",
            "stpncpy", "memcpy", "memmove", "asprintf", "vasprintf", "strlcat", "strlcpy")
PRINTF_CONV = re.compile(r"%[-+ #0]*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|j|z|t|L)?[diouxXeEfFgGaAcsnp]")
SQL_FORMAT = re.compile(r"^\s*(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO|CALL|DO|SET\s+\w+\s*=)\b|"
                        r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b", re.S)
IDENT = re.compile(r"[A-Za-z_]\w*")


# --- a small C reader: comments and preprocessor lines blanked, literals masked --------------------

class Source:
    """One C file. `code` has the same length and line breaks as the text, with comments and
    preprocessor lines turned into spaces and every string or character literal's inside into 'S':
    brackets, commas and names in it can be searched without tripping over text. `literals` maps a
    string literal's opening-quote offset to its (unescaped enough) text."""

    def __init__(self, path, text):
        self.path, self.text = path, text
        self.literals = {}
        self.code = self._mask(text)
        self.depth = self._depths()
        self.functions = self._functions()
        self.sql_consts = self._sql_consts()
        self.literal_arrays = self._literal_arrays()

    def _mask(self, t):
        out = []
        i, n = 0, len(t)
        line_start = True
        while i < n:
            c = t[i]
            if line_start and c in " \t":
                out.append(c)
                i += 1
                continue
            if line_start and c == "#":  # a preprocessor line, with its continuations
                j = i
                while j < n and t[j] != "\n":
                    if t[j] == "\\" and j + 1 < n and t[j + 1] == "\n":
                        j += 2
                        continue
                    j += 1
                out.append(re.sub(r"[^\n]", " ", t[i:j]))
                i = j
                continue
            line_start = False
            if t.startswith("/*", i):
                j = t.find("*/", i + 2)
                j = n if j < 0 else j + 2
                out.append(re.sub(r"[^\n]", " ", t[i:j]))
                i = j
            elif t.startswith("//", i):
                j = t.find("\n", i)
                j = n if j < 0 else j
                out.append(" " * (j - i))
                i = j
            elif c in "\"'":
                j = i + 1
                while j < n and t[j] != c and t[j] != "\n":
                    j += 2 if t[j] == "\\" else 1
                j = min(j, n - 1)
                if c == '"':
                    self.literals[len("".join(out))] = t[i + 1:j]
                out.append(c + "S" * (j - i - 1) + c)
                i = j + 1
            else:
                if c == "\n":
                    line_start = True
                out.append(c)
                i += 1
        code = "".join(out)
        assert len(code) == len(t), self.path
        return code

    def _depths(self):
        """Brace depth before each offset (0: file scope)."""
        depth, d = [], 0
        for c in self.code:
            depth.append(d)
            if c == "{":
                d += 1
            elif c == "}":
                d = max(0, d - 1)
        return depth

    def line(self, off):
        return self.text.count("\n", 0, off) + 1

    def where(self, off):
        return "%s:%d" % (self.path, self.line(off))

    def _functions(self):
        """[(name, params [(type, name)], is_static, body start, body end, header offset)]."""
        out = []
        code = self.code
        i = 0
        last_end = 0
        while i < len(code):
            if code[i] == "{" and self.depth[i] == 0:
                end = self._match(i, "{", "}")
                header = code[last_end:i]
                m = re.search(r"(\w+)\s*\(((?:[^()]|\([^()]*\))*)\)\s*$", header)
                if m and not re.search(r"=\s*$", header):
                    params = []
                    for p in m.group(2).split(","):
                        p = p.strip()
                        names = IDENT.findall(p)
                        if names and p != "void":
                            params.append((p[:p.rfind(names[-1])].strip(), names[-1]))
                    head = header[:m.start()].split(";")[-1].split("}")[-1]
                    out.append((m.group(1), params, bool(re.search(r"\bstatic\b", head)), i, end,
                                last_end + m.start(1)))
                i = end + 1
                last_end = i
                continue
            if code[i] == ";" and self.depth[i] == 0:
                last_end = i + 1
            i += 1
        return out

    def _match(self, i, open_, close):
        d = 0
        for j in range(i, len(self.code)):
            if self.code[j] == open_:
                d += 1
            elif self.code[j] == close:
                d -= 1
                if d == 0:
                    return j
        return len(self.code) - 1

    def function_at(self, off):
        for f in self.functions:
            if f[3] < off <= f[4]:
                return f
        return None

    def literal_text(self, masked, start):
        """The text of an expression made of adjacent string literals only, or None."""
        m = re.fullmatch(r'\s*((?:"S*"\s*)+)', masked)
        if not m:
            return None
        parts, k = [], start + m.start(1)
        for lm in re.finditer(r'"S*"', m.group(1)):
            parts.append(self.literals.get(k + lm.start(), ""))
        return "".join(parts)

    def _sql_consts(self):
        """static const char NAME[] = "..." "...";  (file scope or inside a function)"""
        out = {}
        for m in re.finditer(r"\bstatic\s+const\s+char\s+(\w+)\s*\[\s*\]\s*=\s*((?:\"S*\"\s*)+);", self.code):
            out[m.group(1)] = (self.literal_text(m.group(2), m.start(2)), m.start(1))
        return out

    def _literal_arrays(self):
        """static const char *const NAME[] = { "...", "...", };"""
        out = set()
        for m in re.finditer(r"\bstatic\s+const\s+char\s*\*\s*const\s+(\w+)\s*\[\s*\]\s*=\s*\{([^{}]*)\}\s*;",
                             self.code):
            items = [x for x in m.group(2).split(",") if x.strip()]
            if items and all(re.fullmatch(r'\s*(?:"S*"\s*)+', x) for x in items):
                out.add(m.group(1))
        return out

    def calls(self, name):
        """Calls of name inside function bodies: [(offset of the name, [(arg masked text, arg offset)])]."""
        out = []
        for m in re.finditer(r"(?<![\w.>])%s\s*\(" % re.escape(name), self.code):
            if self.depth[m.start()] == 0:
                continue  # a declaration or the definition
            open_ = m.end() - 1
            close = self._match(open_, "(", ")")
            args, start, d = [], open_ + 1, 0
            for j in range(open_ + 1, close + 1):
                c = self.code[j]
                if c in "([{":
                    d += 1
                elif c in ")]}":
                    if d == 0:
                        args.append((self.code[start:j], start))
                        break
                    d -= 1
                elif c == "," and d == 0:
                    args.append((self.code[start:j], start))
                    start = j + 1
            out.append((m.start(), args))
        return out


# --- the rules --------------------------------------------------------------------------------------

def _base_ident(expr):
    """The buffer an SQL argument names: `buf`, `q.text` -> q, `(char *)b` -> b, `&x[0]` -> x."""
    e = re.sub(r"^\s*(\(\s*(const\s+)?char\s*\*\s*\)\s*)?[&*(\s]*", "", expr)
    m = IDENT.match(e)
    return m.group(0) if m else None


def _is_literal_choice(masked):
    lit = r'(?:\s*"S*"\s*)+'
    return bool(re.fullmatch(lit, masked) or re.fullmatch(r"[^?]*\?%s:%s" % (lit, lit), masked))


def _printf_free(text):
    return text is not None and not PRINTF_CONV.search(text)


def check_source(path, text):
    """Problems in one file, each 'path:line: what'."""
    src = Source(path, text)
    problems = []
    sinks = []  # (offset, function, expression) of every SQL text handed to the database

    # (a) raw queries only in the connection layer and the migration runner
    for fn in RAW + (PREPARE,):
        for off, args in src.calls(fn):
            if len(args) < 2:
                continue
            sinks.append((off, fn, args[1][0]))
            if path not in RAW_ALLOWED:
                problems.append("%s: %s outside %s: SQL goes through db_exec (prepared) or db_simple (literal)"
                                % (src.where(off), fn, " and ".join(RAW_ALLOWED)))
                continue
            if path == "app/store/db.c" and fn in RAW:
                f = src.function_at(off)
                arg = args[1][0].strip()
                own = f is not None and f[0] == "db_simple" and arg in [p[1] for p in f[1]]
                elem = re.fullmatch(r"(\w+)\s*\[[^\]]*\]", arg)
                if not own and not (elem and elem.group(1) in src.literal_arrays):
                    problems.append("%s: %s(%s) in db.c runs neither db_simple's argument nor an element of a "
                                    "static const array of literals" % (src.where(off), fn, arg))

    for off, args in src.calls("db_simple"):
        if len(args) < 2:
            problems.append("%s: db_simple call without an SQL argument" % src.where(off))
            continue
        sinks.append((off, "db_simple", args[1][0]))
        if not _is_literal_choice(args[1][0]):
            problems.append("%s: db_simple must be passed a string literal, got `%s`"
                            % (src.where(off), src.text[args[1][1]:args[1][1] + len(args[1][0])].strip()))
            continue
        for lm in re.finditer(r'"S*"', args[1][0]):
            t = src.literals.get(args[1][1] + lm.start(), "")
            if PRINTF_CONV.search(t):
                problems.append("%s: db_simple literal holds a printf-style %% conversion: %r"
                                % (src.where(off), t))

    # (b) db_exec runs a named static statement
    for off, args in src.calls("db_exec"):
        if len(args) < 2:
            problems.append("%s: db_exec call without an SQL argument" % src.where(off))
            continue
        expr = args[1][0]
        sinks.append((off, "db_exec", expr))
        name = expr.strip()
        shown = src.text[args[1][1]:args[1][1] + len(expr)].strip()
        if not IDENT.fullmatch(name):
            problems.append("%s: db_exec's SQL must be the name of a static const char[] statement, got `%s`"
                            % (src.where(off), shown))
            continue
        if name in src.sql_consts:
            sql, _ = src.sql_consts[name]
            if not _printf_free(sql):
                problems.append("%s: statement %s holds a printf-style %% conversion: %r"
                                % (src.where(off), name, sql))
            continue
        f = src.function_at(off)
        pnames = [p[1] for p in f[1]] if f else []
        if f is None or name not in pnames:
            problems.append("%s: db_exec(%s): not a static const char[] statement of %s"
                            % (src.where(off), name, path))
            continue
        # A pass-through: a static function whose every caller passes a static statement.
        idx = pnames.index(name)
        ptype = f[1][idx][0]
        if not f[2] or not re.fullmatch(r"const\s+char\s*\*", ptype):
            problems.append("%s: db_exec(%s): %s passes on its parameter %s but is not a static function "
                            "taking `const char *`" % (src.where(off), name, f[0], name))
            continue
        callers = src.calls(f[0])
        if not callers:
            problems.append("%s: db_exec(%s): %s is never called in %s" % (src.where(off), name, f[0], path))
        for coff, cargs in callers:
            carg = cargs[idx][0].strip() if len(cargs) > idx else ""
            if carg not in src.sql_consts:
                problems.append("%s: %s(... %s ...) passes `%s` as SQL to db_exec at line %d: not a static "
                                "const char[] statement" % (src.where(coff), f[0], name, carg, src.line(off)))
            elif not _printf_free(src.sql_consts[carg][0]):
                problems.append("%s: statement %s holds a printf-style %% conversion"
                                % (src.where(coff), carg))

    # (c) no SQL text built in a buffer
    for off, fn, expr in sinks:
        buf = _base_ident(expr)
        f = src.function_at(off)
        if buf is None or f is None or buf in src.sql_consts:
            continue
        body = src.code[f[3]:f[4]]
        for b in BUILDERS:
            for bm in re.finditer(r"(?<![\w.>])%s\s*\(\s*[&(]?\s*%s\b" % (b, re.escape(buf)), body):
                problems.append("%s: %s writes into `%s`, which %s runs as SQL at line %d"
                                % (src.where(f[3] + bm.start()), b, buf, fn, src.line(off)))
    for b in ("snprintf", "sprintf", "asprintf", "vsnprintf", "vsprintf"):
        fmt_arg = {"snprintf": 2, "sprintf": 1, "asprintf": 1, "vsnprintf": 2, "vsprintf": 1}[b]
        for off, args in src.calls(b):
            if len(args) <= fmt_arg:
                continue
            fmt = src.literal_text(args[fmt_arg][0], args[fmt_arg][1])
            if fmt is not None and SQL_FORMAT.search(fmt):
                problems.append("%s: %s formats SQL text: %r" % (src.where(off), b, fmt[:80]))
    return problems


def source_files(top=TOP):
    files = sorted(glob.glob(os.path.join(top, "app", "**", "*.c"), recursive=True))
    files += sorted(glob.glob(os.path.join(top, "tests", "tools", "*.c")))
    return [f for f in files if "/build/" not in f.replace(os.sep, "/")]


def check_tree(top=TOP):
    problems = []
    for f in source_files(top):
        rel = os.path.relpath(f, top).replace(os.sep, "/")
        with open(f, encoding="utf-8", errors="replace") as fh:
            problems += check_source(rel, fh.read())
    return problems


# --- the tests --------------------------------------------------------------------------------------

BAD_BUILT = r'''
#include <stdio.h>
static const char SQL_OK[] = "SELECT id FROM products WHERE id = ?";
int lookup(db *d, const char *sku)
{
	char buf[256];
	snprintf(buf, sizeof buf, "SELECT id FROM products WHERE sku = '%s'", sku);
	return db_exec(d, buf, NULL, 0, NULL);
}
'''

BAD_SIMPLE = r'''
int lock_it(db *d, const char *name)
{
	char q[200] = "SELECT GET_LOCK('";
	strcat(q, name);
	strcat(q, "', 0)");
	return db_simple(d, q);
}
'''

BAD_FORMAT_CONST = r'''
static const char SQL_BY_SKU[] = "SELECT id FROM products"
	" WHERE sku = '%s'";
int by_sku(db *d) { return db_exec(d, SQL_BY_SKU, NULL, 0, NULL); }
'''

BAD_PASS_THROUGH = r'''
static const char SQL_A[] = "SELECT 1";
static int run(db *d, const char *sql) { return db_exec(d, sql, NULL, 0, NULL); }
int one(db *d) { return run(d, SQL_A); }
int two(db *d, const char *user_text) { return run(d, user_text); }
'''

BAD_RAW = r'''
int peek(MYSQL *m, const char *where)
{
	/* a comment that mentions mysql_query(m, x) is fine */
	const char *s = "mysql_query(m, in a string) is fine too";
	(void)s;
	return mysql_real_query(m, where, strlen(where));
}
'''

GOOD = r'''
#define P_I64(v) ((db_param){ .type = DBP_I64, .i = (int64_t)(v) })
/* db_exec(d, buf, ...) in a comment is not a call */
static const char SQL_GET[] = "SELECT id, name FROM products WHERE id = ?"
	" AND name LIKE CONCAT(?, '%')";
static const char SQL_ONE[] = "SELECT 1";
static const char SQL_TWO[] = "SELECT 2";
static int rows(db *d, const char *sql) { return db_exec(d, sql, NULL, 0, NULL); }
int get(db *d, int64_t id)
{
	char log[64];
	snprintf(log, sizeof log, "product %lld", (long long)id);
	db_param p[] = { P_I64(id) };
	int rc = db_simple(d, "START TRANSACTION");
	rc = db_exec(d, SQL_GET, p, 1, NULL);
	rc = rows(d, SQL_ONE) || rows(d, SQL_TWO);
	return db_simple(d, rc ? "ROLLBACK" : "COMMIT");
}
'''


class SqlPrepared(unittest.TestCase):
    maxDiff = None

    def test_sources_build_no_sql_from_input(self):
        files = source_files()
        self.assertGreater(len(files), 20, "found too few C files under %s" % TOP)
        problems = check_tree()
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_the_check_sees_real_calls(self):
        # Guard against a check that passes because it matches nothing.
        with open(os.path.join(TOP, "app", "domain", "cart.c")) as f:
            src = Source("app/domain/cart.c", f.read())
        self.assertGreaterEqual(len(src.calls("db_exec")), 3)
        self.assertTrue(all(a[1][0].strip() in src.sql_consts for _, a in src.calls("db_exec")))
        # Transaction control (db_begin/db_commit/db_rollback) passes literals to db_simple.
        with open(os.path.join(TOP, "app", "store", "db.c")) as f:
            self.assertGreaterEqual(len(Source("app/store/db.c", f.read()).calls("db_simple")), 3)

    def test_the_check_fails_on_bad_samples(self):
        p = check_source("app/domain/bad.c", BAD_BUILT)
        self.assertTrue(any(x.startswith("app/domain/bad.c:8: db_exec's SQL") or
                            x.startswith("app/domain/bad.c:8: db_exec(buf)") for x in p), p)
        self.assertTrue(any(x.startswith("app/domain/bad.c:7: snprintf writes into `buf`") for x in p), p)
        self.assertTrue(any("snprintf formats SQL text" in x for x in p), p)

        p = check_source("app/domain/bad.c", BAD_SIMPLE)
        self.assertTrue(any(x.startswith("app/domain/bad.c:7: db_simple must be passed a string literal") for x in p), p)
        self.assertTrue(any(x.startswith("app/domain/bad.c:5: strcat writes into `q`") for x in p), p)

        p = check_source("app/domain/bad.c", BAD_FORMAT_CONST)
        self.assertTrue(any("app/domain/bad.c:4: statement SQL_BY_SKU holds a printf-style" in x for x in p), p)

        p = check_source("app/domain/bad.c", BAD_PASS_THROUGH)
        self.assertEqual(len(p), 1, p)
        self.assertTrue(p[0].startswith("app/domain/bad.c:5: run(... sql ...) passes `user_text`"), p)

        p = check_source("app/domain/bad.c", BAD_RAW)
        self.assertEqual(len(p), 1, p)
        self.assertTrue(p[0].startswith("app/domain/bad.c:7: mysql_real_query outside"), p)
        # ... and in db.c a raw query of anything but db_simple's argument is refused too.
        p = check_source("app/store/db.c", BAD_RAW)
        self.assertTrue(any("app/store/db.c:7: mysql_real_query(where) in db.c" in x for x in p), p)

        p = check_source("app/domain/good.c", GOOD)
        self.assertEqual(p, [])
