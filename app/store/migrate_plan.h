#ifndef STK_MIGRATE_PLAN_H
#define STK_MIGRATE_PLAN_H

/* The pure side of the migration runner (store/migrate.c): reading a file's
 * name, kind and statements, deciding which versions the app still lacks,
 * and comparing a database's columns with the ones 0001 defines. No
 * database here, so the unit tests drive all of it. */

#include <stdbool.h>
#include <stddef.h>

/* What a step does to the running release (docs/migrations.md): an expand
 * step only adds what the old and the new release both tolerate; a contract
 * step tightens or removes, and this build does not depend on it. */
enum mig_kind {
	MIG_KIND_NONE = 0, /* no valid `-- stockd-migration:` header: the runner refuses the file */
	MIG_EXPAND = 1,
	MIG_CONTRACT = 2,
};

/* NNNN_name.sql: the version (1..9999), or -1 for any other file name. */
int mig_file_version(const char *name);

/* The kind named by the file's first line, `-- stockd-migration: expand`
 * or `-- stockd-migration: contract` (trailing blanks and CR allowed). */
enum mig_kind mig_file_kind(const char *text, size_t len);
const char *mig_kind_name(enum mig_kind k);

/* Where the splitter is in a file: the offset of what is left, and the
 * statement delimiter, ";" until a `DELIMITER` line changes it (as in the
 * mariadb client, so a file with a stored procedure runs there as it is). */
typedef struct {
	size_t pos;
	char delim[8];
} mig_cursor;
#define MIG_CURSOR_INIT { 0, ";" }

/* The next statement of text from cur: [*start, *end) holds it without its
 * delimiter and without leading blanks and comments. Splits on the
 * delimiter outside quotes ('', "", ``) and comments (-- , #, slash-star;
 * an executable slash-star-bang comment is statement text, and a delimiter
 * inside one ends the statement, so migrations keep them out). A line
 * `DELIMITER x` (x: 1 to 7 bytes, no blank) is no statement: it makes x the
 * delimiter from there on, so that a compound statement (a procedure's
 * BEGIN ... END with inner ';') is one statement. Returns false when only
 * blanks and comments are left. */
bool mig_next_statement(const char *text, size_t len, mig_cursor *cur, size_t *start, size_t *end);

/* The statement on one line for a report: blanks and comments collapsed to
 * one space, cut to cap-1 bytes with "..." when longer. */
void mig_statement_summary(const char *stmt, size_t len, char *out, size_t cap);

/* If stmt is CREATE TABLE [IF NOT EXISTS] name, the name (backticks
 * dropped) in out and true. */
bool mig_created_table(const char *stmt, size_t len, char *out, size_t cap);

/* The versions this build needs (1..SCHEMA_REQUIRED, minus the deferrable
 * contract steps) that are not among applied[0..n_applied): written to
 * missing[] (at most cap), their count returned. */
size_t mig_missing_required(const int *applied, size_t n_applied, int *missing, size_t cap);

/* Contract steps this build knows of and does not depend on. */
bool mig_deferrable(int version);

/* One column as information_schema.COLUMNS describes it. */
typedef struct {
	char table[65];
	char column[65];
	char type[256];      /* COLUMN_TYPE, e.g. varchar(64), enum('open','checked_out') */
	char nullable[4];    /* YES / NO */
	char collation[65];  /* "" for non-text columns */
	char key[4];         /* PRI / UNI / MUL / "" */
} mig_column;

/* Compare the columns of a database (have) with those 0001 defines (want;
 * both sorted by table, then position). Tables absent from want are not
 * looked at. Every difference is passed to report (one line of text);
 * returns the number of differences. */
size_t mig_compare_columns(const mig_column *want, size_t n_want, const mig_column *have, size_t n_have,
			   void (*report)(void *arg, const char *line), void *arg);

#endif
