"""SQL only through prepared statements (sql_check.py), on the real tree and on planted violations."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sql_check  # noqa: E402

PREAMBLE = '#include <stdio.h>\n#include <string.h>\n#include <mysql.h>\n#include "store/db.h"\n'
FIRST = PREAMBLE.count("\n")  # sample line n is file line FIRST + n

SAMPLES = {
    # a formatted buffer handed to db_exec, and an SQL printf format
    "app/domain/built.c": r'''
static const char SQL_OK[] = "SELECT id FROM products WHERE id = ?";
int lookup(db *d, const char *sku)
{
	char buf[256];
	snprintf(buf, sizeof buf, "SELECT id FROM products WHERE sku = '%s'", sku);
	return db_exec(d, buf, NULL, 0, NULL) + db_exec(d, SQL_OK, NULL, 0, NULL);
}
''',
    # a built buffer handed to db_read (the read that reruns on a new connection)
    "app/domain/read.c": r'''
static const char SQL_OK[] = "SELECT id FROM products WHERE id = ?";
int lookup(db *d, const char *sku)
{
	char buf[256];
	strcpy(buf, sku);
	return db_read(d, buf, NULL, 0, NULL) + db_read(d, SQL_OK, NULL, 0, NULL);
}
''',
    # a built string handed to db_simple
    "app/domain/simple.c": r'''
int lock_it(db *d, const char *name)
{
	char q[200] = "SELECT GET_LOCK('";
	strcat(q, name);
	strcat(q, "', 0)");
	return db_simple(d, q);
}
''',
    # a printf conversion inside a named statement
    "app/domain/format.c": r'''
static const char SQL_BY_SKU[] = "SELECT id FROM products"
	" WHERE sku = '%s'";
int by_sku(db *d) { return db_exec(d, SQL_BY_SKU, NULL, 0, NULL); }
''',
    # a pass-through that one caller feeds with input
    "app/domain/pass.c": r'''
static const char SQL_A[] = "SELECT 1";
static int run(db *d, const char *sql) { return db_exec(d, sql, NULL, 0, NULL); }
int one(db *d) { return run(d, SQL_A); }
int two(db *d, const char *user_text) { return run(d, user_text); }
''',
    # a raw query outside the connection layer (comments and strings that mention calls are not calls)
    "app/domain/raw.c": r'''
int peek(MYSQL *m, const char *where)
{
	/* a comment that mentions mysql_query(m, x) is fine */
	const char *s = "mysql_query(m, in a string) is fine too";
	(void)s;
	return mysql_real_query(m, where, strlen(where));
}
''',
    # ... and in db.c a raw query of anything but db_simple's argument
    "app/store/db.c": r'''
int peek(MYSQL *m, const char *where)
{
	return mysql_real_query(m, where, strlen(where));
}
''',
    # ... and in connect.c anything but a literal (its node readiness check is one)
    "app/store/connect.c": r'''
int ready(MYSQL *m) { return mysql_query(m, "SHOW GLOBAL STATUS LIKE 'wsrep_ready'"); }
int peek(MYSQL *m, const char *where) { return mysql_query(m, where); }
''',
    # SQL in a layer that must not hold any (server/, api/): even a proper statement
    "app/server/layer.c": r'''
static const char SQL_LOCK[] = "SELECT GET_LOCK('x', 0)";
int take(db *d) { return db_exec(d, SQL_LOCK, NULL, 0, NULL); }
int ping(db *d) { return db_simple(d, "DO 1"); }
''',
    # all fine: a named statement (a % inside SQL is no conversion), a pass-through fed only names,
    # a choice of literals, a format that is not SQL, a macro around a call
    "app/domain/good.c": r'''
#define EXEC(d, s) db_exec((d), (s), NULL, 0, NULL)
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
	rc = rows(d, SQL_ONE) || rows(d, SQL_TWO) || EXEC(d, SQL_ONE);
	return db_simple(d, rc ? "ROLLBACK" : "COMMIT");
}
''',
}


def at(path, line):
    return "%s:%d: " % (path, FIRST + line)


class SqlPrepared(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sql-check-")
        for path, text in SAMPLES.items():
            os.makedirs(os.path.join(cls.tmp, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(cls.tmp, path), "w") as f:
                f.write(PREAMBLE + text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def sample(self, path):
        problems, _ = sql_check.check([path], top=self.tmp)
        return problems

    def test_the_sources_hand_the_database_only_static_statements(self):
        files = sql_check.source_files()
        self.assertGreater(len(files), 20, "found too few C files")
        problems, checker = sql_check.check(files)
        self.assertEqual(problems, [], "\n" + "\n".join(problems))
        # Guard against a check that passes because it matches nothing.
        self.assertGreaterEqual(checker.seen["db_exec"], 30, checker.seen)
        self.assertGreaterEqual(checker.seen["db_read"], 4, checker.seen)
        self.assertGreaterEqual(checker.seen["db_simple"], 6, checker.seen)

    def test_a_built_buffer_is_refused(self):
        p = self.sample("app/domain/built.c")
        self.assertIn(at("app/domain/built.c", 7) + "db_exec(buf): not a static const char[] statement", p)
        self.assertTrue(any(x.startswith(at("app/domain/built.c", 6) + "snprintf formats SQL text") for x in p), p)
        self.assertEqual(len(p), 2, p)

    def test_db_read_takes_only_static_statements(self):
        p = self.sample("app/domain/read.c")
        self.assertEqual(p, [at("app/domain/read.c", 7) + "db_read(buf): not a static const char[] statement"])

    def test_db_simple_takes_only_literals(self):
        p = self.sample("app/domain/simple.c")
        self.assertEqual(p, [at("app/domain/simple.c", 7) +
                             "db_simple must be passed a string literal (or a choice between two)"])

    def test_a_conversion_in_a_statement_is_refused(self):
        p = self.sample("app/domain/format.c")
        self.assertEqual(len(p), 1, p)
        self.assertTrue(p[0].startswith(at("app/domain/format.c", 4) + "db_exec(SQL_BY_SKU): holds a printf-style"), p)

    def test_a_pass_through_fed_with_input_is_refused(self):
        p = self.sample("app/domain/pass.c")
        # `two` hands run() its own parameter: text from outside the file.
        self.assertEqual(p, [at("app/domain/pass.c", 5) + "run(user_text): a parameter of a function other files "
                             "can call"])

    def test_raw_queries_stay_in_the_connection_layer(self):
        p = self.sample("app/domain/raw.c")
        self.assertEqual(p, [at("app/domain/raw.c", 7) + "mysql_real_query outside app/store/db.c and "
                             "app/store/connect.c and app/store/migrate.c: SQL goes through db_exec (prepared) "
                             "or db_simple (literal)"])
        p = self.sample("app/store/db.c")
        self.assertEqual(p, [at("app/store/db.c", 4) + "mysql_real_query in db.c runs neither db_simple's "
                             "argument nor an element of a static const array of literals"])
        p = self.sample("app/store/connect.c")
        self.assertEqual(p, [at("app/store/connect.c", 3) + "mysql_query in connect.c runs something other than "
                             "a string literal"])

    def test_no_sql_outside_store_and_domain(self):
        p = self.sample("app/server/layer.c")
        self.assertEqual(p, [at("app/server/layer.c", 3) + "db_exec outside app/store/, app/domain/, tests/tools/: "
                             "SQL belongs to the store and domain layers",
                             at("app/server/layer.c", 4) + "db_simple outside app/store/, app/domain/, "
                             "tests/tools/: SQL belongs to the store and domain layers"])

    def test_good_code_passes(self):
        self.assertEqual(self.sample("app/domain/good.c"), [])


if __name__ == "__main__":
    unittest.main()
