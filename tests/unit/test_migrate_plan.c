/* store/migrate_plan.h: what the migration runner reads from a file (its
 * version, kind and statements), which steps the app still lacks, and the
 * baseline's column comparison; and sql/ itself agrees with this build's
 * list of deferrable contract steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate.h"
#include "store/migrate_plan.h"

static void file_version(void **state)
{
	(void)state;
	assert_int_equal(mig_file_version("0001_legacy_cart.sql"), 1);
	assert_int_equal(mig_file_version("0042_x.sql"), 42);
	assert_int_equal(mig_file_version("9999_x.sql"), 9999);
	assert_int_equal(mig_file_version("0000_x.sql"), -1);   /* versions start at 1 */
	assert_int_equal(mig_file_version("0001_.sql"), -1);    /* a name is needed */
	assert_int_equal(mig_file_version("001_x.sql"), -1);
	assert_int_equal(mig_file_version("00a1_x.sql"), -1);
	assert_int_equal(mig_file_version("0001_x.sql.orig"), -1);
	assert_int_equal(mig_file_version("0001-x.sql"), -1);
	assert_int_equal(mig_file_version("seed"), -1);
}

static enum mig_kind kind_of(const char *s) { return mig_file_kind(s, strlen(s)); }

static void file_kind(void **state)
{
	(void)state;
	assert_int_equal(kind_of("-- stockd-migration: expand\nALTER TABLE t ADD x INT;"), MIG_EXPAND);
	assert_int_equal(kind_of("-- stockd-migration: contract\n"), MIG_CONTRACT);
	assert_int_equal(kind_of("-- stockd-migration:contract"), MIG_CONTRACT); /* no newline, no blank */
	assert_int_equal(kind_of("-- stockd-migration: expand  \r\n"), MIG_EXPAND);
	/* Anything else is refused: the marker must be the first line, spelt exactly. */
	assert_int_equal(kind_of(""), MIG_KIND_NONE);
	assert_int_equal(kind_of("-- a comment\n-- stockd-migration: expand\n"), MIG_KIND_NONE);
	assert_int_equal(kind_of("-- stockd-migration: Expand\n"), MIG_KIND_NONE);
	assert_int_equal(kind_of("-- stockd-migration: expanded\n"), MIG_KIND_NONE);
	assert_int_equal(kind_of("-- stockd-migration: expand contract\n"), MIG_KIND_NONE);
	assert_int_equal(kind_of("-- stockd-migration: \n"), MIG_KIND_NONE);
	assert_int_equal(kind_of(" -- stockd-migration: expand\n"), MIG_KIND_NONE);
	assert_string_equal(mig_kind_name(MIG_EXPAND), "expand");
	assert_string_equal(mig_kind_name(MIG_CONTRACT), "contract");
}

/* The statements of text, each as its own string, into out[]; their count. */
static size_t split(const char *text, char out[][200], size_t cap)
{
	mig_cursor cur = MIG_CURSOR_INIT;
	size_t a, b, n = 0, len = strlen(text);
	while (n < cap && mig_next_statement(text, len, &cur, &a, &b)) {
		snprintf(out[n], 200, "%.*s", (int)(b - a), text + a);
		n++;
	}
	return n;
}

static void statements(void **state)
{
	(void)state;
	char s[8][200];
	assert_int_equal(split("", s, 8), 0);
	assert_int_equal(split("  -- only a comment\n/* and another */ # and one more\n ;; \n", s, 8), 0);
	assert_int_equal(split("SELECT 1", s, 8), 1); /* no final ';' */
	assert_string_equal(s[0], "SELECT 1");
	assert_int_equal(split("-- head\nCREATE TABLE a (x INT); -- tail\n\nALTER TABLE a ADD y INT;\n", s, 8), 2);
	assert_string_equal(s[0], "CREATE TABLE a (x INT)");
	assert_string_equal(s[1], "ALTER TABLE a ADD y INT");
	/* A ';' inside quotes or comments does not end a statement. */
	assert_int_equal(split("INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`); SELECT 2", s, 8), 2);
	assert_string_equal(s[0], "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`)");
	assert_int_equal(split("SELECT 1 -- x; y\n, 2; /* ; */ SELECT 3 # ;\n", s, 8), 2);
	assert_string_equal(s[0], "SELECT 1 -- x; y\n, 2");
	assert_string_equal(s[1], "SELECT 3");
	/* DELIMITER lines, as in the mariadb client: a procedure's body is one
	 * statement, and ';' is back after `DELIMITER ;`. */
	assert_int_equal(split("SELECT 1;\ndelimiter //\nCREATE PROCEDURE p() BEGIN SELECT 2; SELECT 3; END //\n"
			       "DELIMITER ;\nSELECT 4;", s, 8), 3);
	assert_string_equal(s[0], "SELECT 1");
	assert_string_equal(s[1], "CREATE PROCEDURE p() BEGIN SELECT 2; SELECT 3; END");
	assert_string_equal(s[2], "SELECT 4");
	/* The delimiter inside quotes does not end the statement either. */
	assert_int_equal(split("DELIMITER $$\nSELECT '$$'; SELECT 5$$", s, 8), 1);
	assert_string_equal(s[0], "SELECT '$$'; SELECT 5");
	/* Not a DELIMITER line (no delimiter, one too long, text after it, a
	 * longer word): statement text, left to the server to refuse. */
	assert_int_equal(split("DELIMITER \nSELECT 6;", s, 8), 1);
	assert_string_equal(s[0], "DELIMITER \nSELECT 6");
	assert_int_equal(split("DELIMITER 12345678\nSELECT 7;", s, 8), 1);
	assert_int_equal(split("DELIMITER // x\nSELECT 8;", s, 8), 1);
	assert_int_equal(split("DELIMITERS //\nSELECT 9;", s, 8), 1);
	assert_int_equal(split("SELECT 'it''s; fine', 'a\\';b'; SELECT 4", s, 8), 2);
	assert_string_equal(s[0], "SELECT 'it''s; fine', 'a\\';b'");
	/* "--" without a blank after it is minus minus, not a comment. */
	assert_int_equal(split("SELECT 1--1; SELECT 5", s, 8), 2);
	assert_string_equal(s[0], "SELECT 1--1");
	/* An executable comment is text MariaDB runs: never skipped as blank. */
	assert_int_equal(split("/*!40101 SET NAMES utf8mb4 */; /*M!100100 SELECT 7 */", s, 8), 2);
	assert_string_equal(s[0], "/*!40101 SET NAMES utf8mb4 */");
	assert_string_equal(s[1], "/*M!100100 SELECT 7 */");
	/* An unterminated quote or comment ends the text without running past it. */
	assert_int_equal(split("SELECT 'open", s, 8), 1);
	assert_int_equal(split("SELECT 6 /* open", s, 8), 1);
	assert_string_equal(s[0], "SELECT 6");
}

static void summary(void **state)
{
	(void)state;
	char out[40];
	const char *st = "ALTER TABLE carts\n  -- why\n  ADD COLUMN x INT,\n  ALGORITHM=INSTANT";
	mig_statement_summary(st, strlen(st), out, sizeof out);
	assert_string_equal(out, "ALTER TABLE carts ADD COLUMN x INT, ..."); /* 39 bytes */
	assert_true(strlen(out) < sizeof out);
	mig_statement_summary("SELECT  1", 9, out, sizeof out);
	assert_string_equal(out, "SELECT 1");
}

static void created_table(void **state)
{
	(void)state;
	char t[64];
	const char *a = "CREATE TABLE IF NOT EXISTS products (id INT)";
	assert_true(mig_created_table(a, strlen(a), t, sizeof t));
	assert_string_equal(t, "products");
	const char *b = "create  table `order items` (id INT)";
	assert_true(mig_created_table(b, strlen(b), t, sizeof t));
	assert_string_equal(t, "order items");
	const char *c = "CREATE TABLE carts(id INT)";
	assert_true(mig_created_table(c, strlen(c), t, sizeof t));
	assert_string_equal(t, "carts");
	const char *d = "ALTER TABLE products ADD x INT";
	assert_false(mig_created_table(d, strlen(d), t, sizeof t));
	const char *e = "CREATE INDEX i ON t (x)";
	assert_false(mig_created_table(e, strlen(e), t, sizeof t));
}

static void missing_required(void **state)
{
	(void)state;
	int missing[16];
	/* Everything but the deferrable contract step 0003: nothing is missing. */
	int all_but_3[SCHEMA_REQUIRED];
	size_t n = 0;
	for (int v = 1; v <= SCHEMA_REQUIRED; v++)
		if (v != 3)
			all_but_3[n++] = v;
	assert_true(mig_deferrable(3));
	assert_int_equal(mig_missing_required(all_but_3, n, missing, 16), 0);
	/* Nothing applied: every expand step, 0003 not among them. */
	size_t m = mig_missing_required(NULL, 0, missing, 16);
	assert_int_equal(m, SCHEMA_REQUIRED - 1);
	for (size_t i = 0; i < m; i++)
		assert_int_not_equal(missing[i], 3);
	/* Up to 2 plus 3 (the old MAX(version) check would call this 3, "enough" for a build needing 2). */
	int upto3[] = { 1, 2, 3 };
	m = mig_missing_required(upto3, 3, missing, 16);
	assert_int_equal(m, SCHEMA_REQUIRED - 3);
	assert_int_equal(missing[0], 4);
	/* A later step applied does not stand in for an earlier one. */
	int gap[] = { 1, 2, 3, 5 };
	m = mig_missing_required(gap, 4, missing, 16);
	assert_int_equal(m, SCHEMA_REQUIRED == 5 ? 1 : (size_t)(SCHEMA_REQUIRED - 4));
	assert_int_equal(missing[0], 4);
}

static mig_column col(const char *t, const char *c, const char *type, const char *nul, const char *coll,
		      const char *key)
{
	mig_column x;
	memset(&x, 0, sizeof x);
	snprintf(x.table, sizeof x.table, "%s", t);
	snprintf(x.column, sizeof x.column, "%s", c);
	snprintf(x.type, sizeof x.type, "%s", type);
	snprintf(x.nullable, sizeof x.nullable, "%s", nul);
	snprintf(x.collation, sizeof x.collation, "%s", coll);
	snprintf(x.key, sizeof x.key, "%s", key);
	return x;
}

static char lines[16][300];
static size_t n_lines;

static void collect(void *arg, const char *line)
{
	(void)arg;
	if (n_lines < 16)
		snprintf(lines[n_lines++], sizeof lines[0], "%s", line);
}

static void compare_columns(void **state)
{
	(void)state;
	mig_column want[] = {
		col("carts", "id", "char(32)", "NO", "ascii_bin", "PRI"),
		col("carts", "status", "enum('open','checked_out')", "NO", "utf8mb4_general_ci", ""),
		col("orders", "id", "bigint(20)", "NO", "", "PRI"),
		col("products", "id", "bigint(20)", "NO", "", "PRI"),
		col("products", "price_cents", "bigint(20)", "NO", "", ""),
		col("products", "sku", "varchar(64)", "NO", "utf8mb4_nopad_bin", "UNI"),
	};
	/* The same: no difference, whatever other tables the shop has. */
	mig_column same[] = { want[0], want[1], want[2], want[3], want[4], want[5],
			      col("wishlist", "id", "int(11)", "NO", "", "PRI") };
	n_lines = 0;
	assert_int_equal(mig_compare_columns(want, 6, same, 7, collect, NULL), 0);
	assert_int_equal(n_lines, 0);
	/* Every kind of difference, each reported. */
	mig_column have[] = {
		col("carts", "id", "char(32)", "NO", "ascii_bin", "PRI"),
		col("carts", "status", "varchar(20)", "YES", "utf8mb4_general_ci", ""),
		col("products", "id", "bigint(20)", "NO", "", "PRI"),
		col("products", "price_cents", "int(11)", "NO", "", ""),
		col("products", "sku", "varchar(64)", "NO", "utf8mb4_general_ci", ""),
		col("products", "note", "text", "YES", "utf8mb4_general_ci", ""),
	};
	n_lines = 0;
	assert_int_equal(mig_compare_columns(want, 6, have, 6, collect, NULL), 7);
	assert_string_equal(lines[0], "carts.status: type is varchar(20), 0001 has enum('open','checked_out')");
	assert_string_equal(lines[1], "carts.status: nullable is YES, 0001 has NO");
	assert_string_equal(lines[2], "table orders: missing");
	assert_string_equal(lines[3], "products.price_cents: type is int(11), 0001 has bigint(20)");
	assert_string_equal(lines[4], "products.sku: collation is utf8mb4_general_ci, 0001 has utf8mb4_nopad_bin");
	assert_string_equal(lines[5], "products.sku: key is (none), 0001 has UNI");
	assert_string_equal(lines[6], "products.note: not in 0001 (text)");
	/* A column dropped. */
	n_lines = 0;
	assert_int_equal(mig_compare_columns(want, 6, want, 5, collect, NULL), 1);
	assert_string_equal(lines[0], "products.sku: missing (0001 has varchar(64) NOT NULL)");
}

/* The files in sql/ (run-unit runs from the top of the tree) carry a kind,
 * and this build's deferrable list is exactly its contract steps up to
 * SCHEMA_REQUIRED: the docs' table, the files and the code agree. */
static void sql_dir_agrees(void **state)
{
	(void)state;
	DIR *d = opendir("sql");
	assert_non_null(d);
	struct dirent *e;
	int seen = 0, top = 0;
	while ((e = readdir(d)) != NULL) {
		int v = mig_file_version(e->d_name);
		if (v <= 0)
			continue;
		char path[512];
		snprintf(path, sizeof path, "sql/%s", e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		char head[200];
		size_t n = fread(head, 1, sizeof head, f);
		fclose(f);
		enum mig_kind k = mig_file_kind(head, n);
		if (k == MIG_KIND_NONE)
			fail_msg("%s has no `-- stockd-migration: expand|contract` first line", e->d_name);
		if (v <= SCHEMA_REQUIRED && (k == MIG_CONTRACT) != mig_deferrable(v))
			fail_msg("%s is %s but the build %s it", e->d_name, mig_kind_name(k),
				 mig_deferrable(v) ? "may go without" : "needs");
		if (k == MIG_EXPAND && v > top)
			top = v;
		seen++;
	}
	closedir(d);
	assert_true(seen >= 5);
	/* SCHEMA_REQUIRED names an expand step that exists. */
	assert_true(top >= SCHEMA_REQUIRED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_version),    cmocka_unit_test(file_kind),
		cmocka_unit_test(statements),      cmocka_unit_test(summary),
		cmocka_unit_test(created_table),   cmocka_unit_test(missing_required),
		cmocka_unit_test(compare_columns), cmocka_unit_test(sql_dir_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
