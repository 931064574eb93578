#include "store/migrate.h"

#include <dirent.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/connect.h"

static MYSQL *connect_multi(const stk_config *c)
{
	unsigned no;
	char err[512];
	/* Migrations are trusted files of several statements each, and may run
	 * long (a table rebuild): no read timeout. */
	MYSQL *m = store_connect(c, 5, 0, CLIENT_MULTI_STATEMENTS, &no, err, sizeof err);
	if (m == NULL)
		log_error("migrate: cannot connect: %s", err);
	return m;
}

/* Run text (maybe several statements) and drain every result. */
static int run_all(MYSQL *m, const char *text, size_t len)
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

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* NNNN_something.sql */
static int migration_version(const char *name)
{
	size_t n = strlen(name);
	if (n < 9 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	for (int i = 0; i < 4; i++)
		if (name[i] < '0' || name[i] > '9')
			return -1;
	return atoi(name);
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

static int record(MYSQL *m, int version, const char *name)
{
	static const char sql[] = "INSERT INTO schema_migrations (version, name) VALUES (?, ?)";
	MYSQL_STMT *st = mysql_stmt_init(m);
	if (st == NULL)
		return -1;
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
	mysql_stmt_close(st);
	return rc;
}

static int apply_pending(MYSQL *m, const char *dir, int upto)
{
	static const char create[] =
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,"
		" applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB";
	long current;
	if (run_all(m, create, strlen(create)) != 0 ||
	    query_int(m, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &current) != 0) {
		log_error("migrate: %s", mysql_error(m));
		return -1;
	}
	DIR *d = opendir(dir);
	if (d == NULL) {
		log_error("migrate: cannot open %s", dir);
		return -1;
	}
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 256)
		if (migration_version(e->d_name) > 0 && (names[n] = strdup(e->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof names[0], by_name);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int v = migration_version(names[i]);
		if (v <= current || (upto > 0 && v > upto))
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		size_t len = 0;
		char *sql = slurp(path, &len);
		if (sql == NULL) {
			log_error("migrate: cannot read %s", path);
			rc = -1;
			break;
		}
		if (run_all(m, sql, len) != 0) {
			log_error("migrate: %s failed: %s", names[i], mysql_error(m));
			rc = -1;
		} else {
			if (record(m, v, names[i]) != 0) {
				log_error("migrate: cannot record %s: %s", names[i], mysql_error(m));
				rc = -1;
			} else {
				log_info("migrate: applied %s", names[i]);
			}
		}
		free(sql);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return rc;
}

int migrate_apply(const stk_config *cfg, const char *dir, int upto)
{
	MYSQL *m = connect_multi(cfg);
	if (m == NULL)
		return -1;
	long got = 0;
	/* Two runners (two deploys, two hosts) wait for each other here. */
	if (query_int(m, "SELECT GET_LOCK('stockd_migrate', 120)", &got) != 0 || got != 1) {
		log_error("migrate: could not take the migration lock");
		mysql_close(m);
		return -1;
	}
	int rc = apply_pending(m, dir, upto);
	long released;
	if (query_int(m, "SELECT RELEASE_LOCK('stockd_migrate')", &released) != 0)
		log_warn("migrate: lock release failed (it goes with the connection)");
	mysql_close(m);
	return rc;
}

int schema_version(const stk_config *cfg)
{
	MYSQL *m = connect_multi(cfg);
	if (m == NULL)
		return -1;
	long v = 0;
	if (query_int(m, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &v) != 0)
		v = mysql_errno(m) == 1146 ? 0 : -1; /* no table yet: nothing applied */
	mysql_close(m);
	return (int)v;
}
