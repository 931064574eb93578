#include "store/migrate.h"

#include <dirent.h>
#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/connect.h"
#include "store/migrate_plan.h"

#define MAX_STEPS 1000

typedef struct {
	int version;
	enum mig_kind kind;
	char name[256];
	char *sql; /* the whole file, owned */
	size_t len;
} step;

/* An operator runs `stockd migrate` by hand and must see what happened even
 * when LOG_FILE is set (deploy/stack, the systemd unit): every line goes to
 * the log and, unless the log is already stderr, to stdout (err: stderr). */
static void say(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int err, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_msg(err ? "error" : "info", "%s", line);
	if (!log_is_stderr()) {
		fprintf(err ? stderr : stdout, "%s\n", line);
		fflush(err ? stderr : stdout);
	}
}

static MYSQL *connect_migrate(const stk_config *c)
{
	unsigned no;
	char err[512];
	/* Migrations may run long (a table rebuild): no read timeout. */
	MYSQL *m = store_connect(c, 5, 0, 0, &no, err, sizeof err);
	if (m == NULL)
		say(1, "migrate: cannot connect: %s", err);
	return m;
}

/* Run one statement and drain whatever it returns. */
static int run_one(MYSQL *m, const char *text, size_t len)
{
	if (mysql_real_query(m, text, (unsigned long)len) != 0)
		return -1;
	for (;;) {
		MYSQL_RES *res = mysql_store_result(m);
		if (res != NULL)
			mysql_free_result(res);
		else if (mysql_field_count(m) != 0)
			return -1;
		int more = mysql_next_result(m);
		if (more > 0)
			return -1;
		if (more < 0)
			return 0;
	}
}

static int run_text(MYSQL *m, const char *text) { return run_one(m, text, strlen(text)); }

static int query_int(MYSQL *m, const char *sql, long *out)
{
	if (mysql_query(m, sql) != 0)
		return -1;
	MYSQL_RES *res = mysql_store_result(m);
	if (res == NULL)
		return -1;
	MYSQL_ROW row = mysql_fetch_row(res);
	*out = row && row[0] ? strtol(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return 0;
}

static int by_version(const void *a, const void *b)
{
	const step *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
			if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
				free(buf);
				buf = NULL;
			} else {
				buf[n] = '\0';
				*len = (size_t)n;
			}
		}
	}
	fclose(f);
	return buf;
}

static void free_steps(step *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].sql);
	free(s);
}

/* Every NNNN_name.sql of dir, read and sorted. A file without its kind
 * header, or two files with one version, stop everything before anything
 * runs: the operator learns it before the database changes. */
static step *load_steps(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		say(1, "migrate: cannot open %s", dir);
		return NULL;
	}
	step *s = calloc(MAX_STEPS, sizeof *s);
	size_t n = 0;
	int bad = s == NULL;
	struct dirent *e;
	while (!bad && (e = readdir(d)) != NULL) {
		int v = mig_file_version(e->d_name);
		if (v <= 0)
			continue;
		if (n == MAX_STEPS || strlen(e->d_name) >= sizeof s[n].name) {
			say(1, "migrate: %s: too many files or too long a name", dir);
			bad = 1;
			break;
		}
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		step *st = &s[n];
		st->version = v;
		snprintf(st->name, sizeof st->name, "%s", e->d_name);
		st->sql = slurp(path, &st->len);
		if (st->sql == NULL) {
			say(1, "migrate: cannot read %s", path);
			bad = 1;
			break;
		}
		n++;
		st->kind = mig_file_kind(st->sql, st->len);
		if (st->kind == MIG_KIND_NONE) {
			say(1, "migrate: %s: its first line must be `-- stockd-migration: expand` or "
			       "`-- stockd-migration: contract` (docs/migrations.md); nothing was applied",
			    st->name);
			bad = 1;
		}
	}
	closedir(d);
	if (s != NULL && !bad) {
		qsort(s, n, sizeof *s, by_version);
		for (size_t i = 1; i < n && !bad; i++)
			if (s[i].version == s[i - 1].version) {
				say(1, "migrate: %s and %s have the same version; nothing was applied", s[i - 1].name,
				    s[i].name);
				bad = 1;
			}
	}
	if (bad) {
		if (s != NULL)
			free_steps(s, n);
		return NULL;
	}
	*count = n;
	return s;
}

/* The versions recorded in schema_migrations, into a[] (cap); -1 on error,
 * 0 rows when the table does not exist yet. */
static int applied_versions(MYSQL *m, int *a, size_t cap, size_t *n)
{
	*n = 0;
	if (mysql_query(m, "SELECT version FROM schema_migrations ORDER BY version") != 0)
		return mysql_errno(m) == 1146 ? 0 : -1; /* ER_NO_SUCH_TABLE: nothing applied */
	MYSQL_RES *res = mysql_store_result(m);
	if (res == NULL)
		return -1;
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res)) != NULL && *n < cap)
		if (row[0] != NULL)
			a[(*n)++] = atoi(row[0]);
	mysql_free_result(res);
	return 0;
}

static bool has_version(const int *a, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/* Why it failed goes into why: the statement's own error, which is gone
 * once the statement is closed (the connection's says nothing). */
static int record(MYSQL *m, int version, const char *name, char *why, size_t whylen)
{
	static const char sql[] = "INSERT INTO schema_migrations (version, name) VALUES (?, ?)";
	MYSQL_STMT *st = mysql_stmt_init(m);
	if (st == NULL) {
		snprintf(why, whylen, "%s", mysql_error(m));
		return -1;
	}
	long long v = version;
	unsigned long len = (unsigned long)strlen(name);
	MYSQL_BIND b[2];
	memset(b, 0, sizeof b);
	b[0].buffer_type = MYSQL_TYPE_LONGLONG;
	b[0].buffer = &v;
	b[1].buffer_type = MYSQL_TYPE_STRING;
	b[1].buffer = (void *)name;
	b[1].buffer_length = len;
	b[1].length = &len;
	int rc = (mysql_stmt_prepare(st, sql, sizeof sql - 1) == 0 && mysql_stmt_bind_param(st, b) == 0 &&
		  mysql_stmt_execute(st) == 0) ? 0 : -1;
	if (rc != 0)
		snprintf(why, whylen, "%u %s", mysql_stmt_errno(st), mysql_stmt_error(st));
	mysql_stmt_close(st);
	return rc;
}

static int create_ledger(MYSQL *m)
{
	static const char create[] =
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,"
		" applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB";
	return run_text(m, create);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

static size_t count_statements(const step *s)
{
	mig_cursor cur = MIG_CURSOR_INIT;
	size_t a, b, n = 0;
	while (mig_next_statement(s->sql, s->len, &cur, &a, &b))
		n++;
	return n;
}

/* Run a step statement by statement. MariaDB's DDL is not transactional:
 * what ran before a failure stays. Every step is written to be re-run
 * (IF NOT EXISTS forms, backfills that skip what they already did), so the
 * report says exactly that and the operator runs the same command again. */
static int apply_step(MYSQL *m, const step *s)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mig_cursor cur = MIG_CURSOR_INIT;
	size_t total = count_statements(s), a, b, k = 0;
	while (mig_next_statement(s->sql, s->len, &cur, &a, &b)) {
		k++;
		if (run_one(m, s->sql + a, b - a) != 0) {
			char what[100], done[64];
			mig_statement_summary(s->sql + a, b - a, what, sizeof what);
			if (k == 1)
				snprintf(done, sizeof done, "no statement of it was applied");
			else
				snprintf(done, sizeof done, "statements 1..%zu were applied and stay", k - 1);
			say(1,
			    "migrate: %s failed at statement %zu of %zu (%s): %s; %s; version %d is not recorded. "
			    "Fix the cause and run the same command again: every step is safe to re-run.",
			    s->name, k, total, what, mysql_error(m), done, s->version);
			return -1;
		}
	}
	char why[300];
	if (record(m, s->version, s->name, why, sizeof why) != 0) {
		say(1,
		    "migrate: %s: all %zu statements were applied but version %d could not be recorded: %s. "
		    "Run the same command again: every step is safe to re-run.",
		    s->name, total, s->version, why);
		return -1;
	}
	say(0, "migrate: applied %s (%s, %zu statement%s, %ld ms)", s->name, mig_kind_name(s->kind), total,
	    total == 1 ? "" : "s", ms_since(&t0));
	return 0;
}

/* --- baseline: adopt an existing shop database ------------------------------ */

static int table_exists(MYSQL *m, const char *table, bool *yes)
{
	static const char sql[] = "SELECT COUNT(*) FROM information_schema.TABLES "
				  "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";
	MYSQL_STMT *st = mysql_stmt_init(m);
	if (st == NULL)
		return -1;
	unsigned long len = (unsigned long)strlen(table);
	long long n = 0;
	MYSQL_BIND p, r;
	memset(&p, 0, sizeof p);
	memset(&r, 0, sizeof r);
	p.buffer_type = MYSQL_TYPE_STRING;
	p.buffer = (void *)table;
	p.buffer_length = len;
	p.length = &len;
	r.buffer_type = MYSQL_TYPE_LONGLONG;
	r.buffer = &n;
	int rc = (mysql_stmt_prepare(st, sql, sizeof sql - 1) == 0 && mysql_stmt_bind_param(st, &p) == 0 &&
		  mysql_stmt_execute(st) == 0 && mysql_stmt_bind_result(st, &r) == 0 && mysql_stmt_fetch(st) == 0)
			 ? 0 : -1;
	mysql_stmt_close(st);
	*yes = n > 0;
	return rc;
}

/* The columns of schema `have_db`'s tables that also exist in `want_db`
 * (so a shop's other tables are never looked at), sorted by table and
 * position, into a growing array. */
static int fetch_columns(MYSQL *m, const char *have_db, const char *want_db, mig_column **out, size_t *n)
{
	static const char sql[] =
		"SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLLATION_NAME, ''), COLUMN_KEY "
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN "
		"(SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) "
		"ORDER BY TABLE_NAME, ORDINAL_POSITION";
	*out = NULL;
	*n = 0;
	MYSQL_STMT *st = mysql_stmt_init(m);
	if (st == NULL)
		return -1;
	unsigned long l0 = (unsigned long)strlen(have_db), l1 = (unsigned long)strlen(want_db);
	MYSQL_BIND p[2];
	memset(p, 0, sizeof p);
	p[0].buffer_type = p[1].buffer_type = MYSQL_TYPE_STRING;
	p[0].buffer = (void *)have_db;
	p[0].buffer_length = l0;
	p[0].length = &l0;
	p[1].buffer = (void *)want_db;
	p[1].buffer_length = l1;
	p[1].length = &l1;
	mig_column c;
	unsigned long lens[6];
	my_bool nulls[6];
	char *bufs[6] = { c.table, c.column, c.type, c.nullable, c.collation, c.key };
	size_t caps[6] = { sizeof c.table, sizeof c.column, sizeof c.type, sizeof c.nullable, sizeof c.collation,
			   sizeof c.key };
	MYSQL_BIND r[6];
	memset(r, 0, sizeof r);
	for (int i = 0; i < 6; i++) {
		r[i].buffer_type = MYSQL_TYPE_STRING;
		r[i].buffer = bufs[i];
		r[i].buffer_length = caps[i] - 1;
		r[i].length = &lens[i];
		r[i].is_null = &nulls[i];
	}
	int rc = -1;
	size_t cap = 0;
	if (mysql_stmt_prepare(st, sql, sizeof sql - 1) != 0 || mysql_stmt_bind_param(st, p) != 0 ||
	    mysql_stmt_execute(st) != 0 || mysql_stmt_bind_result(st, r) != 0)
		goto done;
	for (;;) {
		memset(&c, 0, sizeof c);
		int f = mysql_stmt_fetch(st);
		if (f == MYSQL_NO_DATA)
			break;
		if (f != 0 && f != MYSQL_DATA_TRUNCATED) /* a cut type still compares */
			goto done;
		for (int i = 0; i < 6; i++)
			bufs[i][nulls[i] ? 0 : (lens[i] < caps[i] - 1 ? lens[i] : caps[i] - 1)] = '\0';
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			mig_column *grown = realloc(*out, ncap * sizeof **out);
			if (grown == NULL)
				goto done;
			*out = grown;
			cap = ncap;
		}
		(*out)[(*n)++] = c;
	}
	rc = 0;
done:
	mysql_stmt_close(st);
	return rc;
}

/* `name` quoted as an identifier: backticks, a backtick inside doubled. */
static int quote_ident(const char *name, char *out, size_t cap)
{
	size_t o = 0;
	if (cap < 3)
		return -1;
	out[o++] = '`';
	for (const char *p = name; *p; p++) {
		if (o + 4 > cap)
			return -1;
		if (*p == '`')
			out[o++] = '`';
		out[o++] = *p;
	}
	out[o++] = '`';
	out[o] = '\0';
	return 0;
}

/* A DDL statement about one database (CREATE/DROP DATABASE, USE): an
 * identifier cannot be a placeholder, so the quoted name is appended to a
 * fixed prefix. The name is the configured database's, plus a suffix. */
static int run_on_db(MYSQL *m, const char *prefix, const char *quoted)
{
	char text[400];
	size_t a = strlen(prefix), b = strlen(quoted);
	if (a + b + 1 > sizeof text)
		return -1;
	memcpy(text, prefix, a);
	memcpy(text + a, quoted, b + 1);
	return run_one(m, text, a + b);
}

static void print_difference(void *arg, const char *line)
{
	(void)arg;
	say(1, "migrate: baseline:   %s", line);
}

/* Create 0001 in a scratch database next to this one, so that what is
 * compared is the file itself and cannot drift from it; compare; drop it. */
static int baseline(MYSQL *m, const step *first, const int *applied, size_t n_applied)
{
	if (first == NULL || first->version != 1) {
		say(1, "migrate: baseline: no 0001 file in the directory");
		return -1;
	}
	if (has_version(applied, n_applied, 1)) {
		say(0, "migrate: baseline: version 1 is already recorded; nothing to do");
		return 0;
	}
	if (n_applied > 0) {
		say(1, "migrate: baseline: schema_migrations already records later versions but not 1; refusing");
		return -1;
	}
	char db[200], scratch[260], q_db[600], q_scratch[600];
	MYSQL_RES *res;
	MYSQL_ROW row;
	if (mysql_query(m, "SELECT DATABASE()") != 0 || (res = mysql_store_result(m)) == NULL) {
		say(1, "migrate: baseline: %s", mysql_error(m));
		return -1;
	}
	row = mysql_fetch_row(res);
	snprintf(db, sizeof db, "%s", row && row[0] ? row[0] : "");
	mysql_free_result(res);
	snprintf(scratch, sizeof scratch, "%s_baseline", db);
	if (db[0] == '\0' || strlen(scratch) > 64 || quote_ident(db, q_db, sizeof q_db) != 0 ||
	    quote_ident(scratch, q_scratch, sizeof q_scratch) != 0) {
		say(1, "migrate: baseline: no usable database name (%s)", db);
		return -1;
	}
	int rc = -1;
	mig_column *want = NULL, *have = NULL;
	size_t n_want = 0, n_have = 0;
	if (run_on_db(m, "DROP DATABASE IF EXISTS ", q_scratch) != 0 ||
	    run_on_db(m, "CREATE DATABASE ", q_scratch) != 0) {
		say(1, "migrate: baseline: cannot create the scratch database %s to build 0001 in: %s "
		       "(the user needs CREATE and DROP on it, docs/migrations.md)",
		    scratch, mysql_error(m));
		return -1;
	}
	if (run_on_db(m, "USE ", q_scratch) != 0)
		goto fail;
	mig_cursor cur = MIG_CURSOR_INIT;
	size_t a, b;
	while (mig_next_statement(first->sql, first->len, &cur, &a, &b))
		if (run_one(m, first->sql + a, b - a) != 0)
			goto fail;
	if (run_on_db(m, "USE ", q_db) != 0 || fetch_columns(m, scratch, scratch, &want, &n_want) != 0 ||
	    fetch_columns(m, db, scratch, &have, &n_have) != 0)
		goto fail;
	size_t diffs = 0;
	if (n_want == 0) {
		say(1, "migrate: baseline: %s creates no table", first->name);
		diffs = 1;
	} else {
		diffs = mig_compare_columns(want, n_want, have, n_have, print_difference, NULL);
	}
	char baseline_why[300];
	if (diffs > 0) {
		say(1, "migrate: baseline: %s does not match %s (%zu difference%s above); nothing was changed",
		    db, first->name, diffs, diffs == 1 ? "" : "s");
		rc = -1;
	} else if (create_ledger(m) != 0) {
		say(1, "migrate: baseline: cannot create schema_migrations: %s", mysql_error(m));
		rc = -1;
	} else if (record(m, 1, first->name, baseline_why, sizeof baseline_why) != 0) {
		say(1, "migrate: baseline: cannot record version 1: %s", baseline_why);
		rc = -1;
	} else {
		say(0, "migrate: baseline: %zu columns of %s match %s; version 1 recorded without running it. "
		       "`stockd migrate` applies the next steps.",
		    n_want, db, first->name);
		rc = 0;
	}
	goto done;
fail:
	say(1, "migrate: baseline: building %s in %s failed: %s; nothing was changed", first->name, scratch,
	    mysql_error(m));
done:
	run_on_db(m, "USE ", q_db);
	if (run_on_db(m, "DROP DATABASE IF EXISTS ", q_scratch) != 0)
		say(1, "migrate: baseline: could not drop %s: %s", scratch, mysql_error(m));
	free(want);
	free(have);
	return rc;
}

/* A shop database with the legacy tables and no record of 0001 is adopted
 * with --baseline, which checks them first; running 0001 over them (its
 * CREATE TABLE IF NOT EXISTS) would take them unchecked. Some but not all
 * present is an earlier run of 0001 that stopped halfway: it goes on. */
static int refuse_unrecorded_legacy(MYSQL *m, const step *s)
{
	mig_cursor cur = MIG_CURSOR_INIT;
	size_t a, b, n = 0, present = 0;
	char table[128], names[600] = "";
	while (mig_next_statement(s->sql, s->len, &cur, &a, &b)) {
		if (!mig_created_table(s->sql + a, b - a, table, sizeof table))
			continue;
		bool yes = false;
		if (table_exists(m, table, &yes) != 0) {
			say(1, "migrate: %s", mysql_error(m));
			return -1;
		}
		n++;
		if (yes) {
			present++;
			size_t l = strlen(names);
			snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", table);
		}
	}
	if (n == 0 || present < n)
		return 0;
	say(1, "migrate: the tables %s already exist but %s is not recorded: to adopt an existing shop "
	       "database, run `stockd migrate DIR --baseline` (it checks them against %s, then records it); "
	       "nothing was applied",
	    names, s->name, s->name);
	return -1;
}

static void print_status(const step *s, size_t n, const int *applied, size_t n_applied)
{
	printf("%-34s %-8s %-7s %s\n", "step", "kind", "state", "this build");
	for (size_t i = 0; i < n; i++) {
		const char *need = s[i].version > SCHEMA_REQUIRED ? "not needed (newer)"
				   : s[i].kind == MIG_CONTRACT || mig_deferrable(s[i].version) ? "optional"
												 : "needed";
		printf("%-34s %-8s %-7s %s\n", s[i].name, mig_kind_name(s[i].kind),
		       has_version(applied, n_applied, s[i].version) ? "applied" : "pending", need);
	}
	for (size_t i = 0; i < n_applied; i++) {
		bool known = false;
		for (size_t j = 0; j < n && !known; j++)
			known = s[j].version == applied[i];
		if (!known)
			printf("%04d (no file here)                 %-8s applied\n", applied[i], "?");
	}
	fflush(stdout);
}

static int run_locked(MYSQL *m, const step *s, size_t n, const migrate_opts *o)
{
	int applied[MAX_STEPS];
	size_t n_applied = 0;
	if (applied_versions(m, applied, MAX_STEPS, &n_applied) != 0) {
		say(1, "migrate: %s", mysql_error(m));
		return -1;
	}
	if (o->status) {
		print_status(s, n, applied, n_applied);
		return 0;
	}
	if (o->baseline)
		return baseline(m, n > 0 ? &s[0] : NULL, applied, n_applied);
	if (create_ledger(m) != 0) {
		say(1, "migrate: %s", mysql_error(m));
		return -1;
	}
	size_t done = 0;
	for (size_t i = 0; i < n; i++) {
		const step *st = &s[i];
		if (has_version(applied, n_applied, st->version) || (o->to > 0 && st->version > o->to) ||
		    (o->expand_only && st->kind == MIG_CONTRACT))
			continue;
		if (st->version == 1 && refuse_unrecorded_legacy(m, st) != 0)
			return -1;
		if (apply_step(m, st) != 0)
			return -1;
		done++;
	}
	/* Say what was left, so that a partial run is never mistaken for a full one. */
	char left[600] = "";
	for (size_t i = 0; i < n; i++) {
		if (has_version(applied, n_applied, s[i].version))
			continue;
		bool skipped = (o->to > 0 && s[i].version > o->to) || (o->expand_only && s[i].kind == MIG_CONTRACT);
		if (skipped) {
			size_t l = strlen(left);
			snprintf(left + l, sizeof left - l, "%s%s (%s)", l ? ", " : "", s[i].name,
				 mig_kind_name(s[i].kind));
		}
	}
	if (left[0])
		say(0, "migrate: %zu applied; left pending as asked: %s", done, left);
	return 0;
}

int migrate_run(const stk_config *cfg, const char *dir, const migrate_opts *opts)
{
	size_t n = 0;
	step *s = load_steps(dir, &n);
	if (s == NULL)
		return -1;
	MYSQL *m = connect_migrate(cfg);
	if (m == NULL) {
		free_steps(s, n);
		return -1;
	}
	long got = 0;
	int rc = -1;
	/* Two runners (two deploys, two hosts) wait for each other here. */
	if (query_int(m, "SELECT GET_LOCK('stockd_migrate', 120)", &got) != 0 || got != 1) {
		say(1, "migrate: could not take the migration lock");
	} else {
		rc = run_locked(m, s, n, opts);
		long released;
		if (query_int(m, "SELECT RELEASE_LOCK('stockd_migrate')", &released) != 0)
			log_warn("migrate: lock release failed (it goes with the connection)");
	}
	mysql_close(m);
	free_steps(s, n);
	return rc;
}

int schema_missing(const stk_config *cfg, int *missing, size_t cap)
{
	unsigned no;
	char err[512];
	MYSQL *m = store_connect(cfg, 5, 10, 0, &no, err, sizeof err);
	if (m == NULL)
		return -1;
	int applied[MAX_STEPS];
	size_t n_applied = 0;
	int rc = applied_versions(m, applied, MAX_STEPS, &n_applied);
	mysql_close(m);
	if (rc != 0)
		return -1;
	return (int)mig_missing_required(applied, n_applied, missing, cap);
}
