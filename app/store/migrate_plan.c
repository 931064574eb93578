#include "store/migrate_plan.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "store/migrate.h"

/* 0003 (the two-column CHECK) copies products while it runs: a live shop
 * may run it later, in a quiet minute, so the app must not need it. The
 * unit tests check this list against the headers of sql/. */
static const int deferrable[] = { 3 };

bool mig_deferrable(int version)
{
	for (size_t i = 0; i < sizeof deferrable / sizeof deferrable[0]; i++)
		if (deferrable[i] == version)
			return true;
	return false;
}

int mig_file_version(const char *name)
{
	size_t n = strlen(name);
	if (n < 10 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	int v = 0;
	for (int i = 0; i < 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v > 0 ? v : -1;
}

enum mig_kind mig_file_kind(const char *text, size_t len)
{
	static const char tag[] = "-- stockd-migration:";
	size_t eol = 0;
	while (eol < len && text[eol] != '\n')
		eol++;
	if (eol < sizeof tag - 1 || memcmp(text, tag, sizeof tag - 1) != 0)
		return MIG_KIND_NONE;
	size_t i = sizeof tag - 1;
	while (i < eol && (text[i] == ' ' || text[i] == '\t'))
		i++;
	size_t w = i;
	while (w < eol && islower((unsigned char)text[w]))
		w++;
	/* Only blanks (or the CR of a CRLF file) may follow the word. */
	for (size_t j = w; j < eol; j++)
		if (text[j] != ' ' && text[j] != '\t' && text[j] != '\r')
			return MIG_KIND_NONE;
	if (w - i == 6 && memcmp(text + i, "expand", 6) == 0)
		return MIG_EXPAND;
	if (w - i == 8 && memcmp(text + i, "contract", 8) == 0)
		return MIG_CONTRACT;
	return MIG_KIND_NONE;
}

const char *mig_kind_name(enum mig_kind k)
{
	return k == MIG_EXPAND ? "expand" : k == MIG_CONTRACT ? "contract" : "none";
}

/* Past a comment starting at i, or i itself if none starts there. */
static size_t skip_comment(const char *t, size_t len, size_t i)
{
	if (t[i] == '#' || (t[i] == '-' && i + 1 < len && t[i + 1] == '-' &&
			    (i + 2 >= len || isspace((unsigned char)t[i + 2])))) {
		while (i < len && t[i] != '\n')
			i++;
		return i;
	}
	if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
		/* MariaDB runs the text of an executable comment (slash-star-bang,
		 * slash-star-M-bang): it is part of the statement, not blank. */
		if ((i + 2 < len && t[i + 2] == '!') || (i + 3 < len && t[i + 2] == 'M' && t[i + 3] == '!'))
			return i;
		i += 2;
		while (i + 1 < len && !(t[i] == '*' && t[i + 1] == '/'))
			i++;
		return i + 1 < len ? i + 2 : len;
	}
	return i;
}

static size_t skip_blank(const char *t, size_t len, size_t i)
{
	for (;;) {
		while (i < len && isspace((unsigned char)t[i]))
			i++;
		if (i >= len)
			return len;
		size_t j = skip_comment(t, len, i);
		if (j == i)
			return i;
		i = j;
	}
}

static bool at_delim(const char *t, size_t len, size_t i, const char *delim)
{
	size_t n = strlen(delim);
	return i + n <= len && memcmp(t + i, delim, n) == 0;
}

/* A `DELIMITER x` line at i: the new delimiter into cur and the offset past
 * the line, or 0 when there is none (a malformed one is left to the server
 * as a statement, which refuses it). */
static size_t delimiter_line(const char *t, size_t len, size_t i, mig_cursor *cur)
{
	static const char kw[] = "DELIMITER";
	size_t k = sizeof kw - 1;
	if (i + k >= len || strncasecmp(t + i, kw, k) != 0 || (t[i + k] != ' ' && t[i + k] != '\t'))
		return 0;
	size_t a = i + k;
	while (a < len && (t[a] == ' ' || t[a] == '\t'))
		a++;
	size_t b = a;
	while (b < len && !isspace((unsigned char)t[b]))
		b++;
	size_t e = b;
	while (e < len && (t[e] == ' ' || t[e] == '\t' || t[e] == '\r'))
		e++;
	if (b == a || b - a >= sizeof cur->delim || (e < len && t[e] != '\n'))
		return 0;
	memcpy(cur->delim, t + a, b - a);
	cur->delim[b - a] = '\0';
	return e < len ? e + 1 : len;
}

bool mig_next_statement(const char *text, size_t len, mig_cursor *cur, size_t *start, size_t *end)
{
	for (;;) {
		size_t i = skip_blank(text, len, cur->pos);
		if (i >= len) {
			cur->pos = len;
			return false;
		}
		size_t dl = strlen(cur->delim);
		if (at_delim(text, len, i, cur->delim)) { /* an empty statement */
			cur->pos = i + dl;
			continue;
		}
		size_t past = delimiter_line(text, len, i, cur);
		if (past > 0) {
			cur->pos = past;
			continue;
		}
		*start = i;
		size_t last = i; /* one past the last byte that is not blank or comment */
		while (i < len && !at_delim(text, len, i, cur->delim)) {
			size_t j = skip_comment(text, len, i);
			if (j != i) {
				i = j;
				continue;
			}
			char q = text[i];
			if (q == '\'' || q == '"' || q == '`') {
				i++;
				while (i < len && text[i] != q) {
					if (text[i] == '\\' && q != '`' && i + 1 < len)
						i++;
					i++;
				}
				i = i < len ? i + 1 : len;
				last = i;
				continue;
			}
			if (!isspace((unsigned char)q))
				last = i + 1;
			i++;
		}
		*end = last;
		cur->pos = i < len ? i + dl : len;
		return true;
	}
}

void mig_statement_summary(const char *stmt, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return;
	size_t o = 0, i = skip_blank(stmt, len, 0);
	bool space = false, cut = false;
	while (i < len) {
		size_t j = skip_comment(stmt, len, i);
		if (j != i || isspace((unsigned char)stmt[i])) {
			i = j != i ? j : i + 1;
			space = true;
			continue;
		}
		size_t need = (space ? 2 : 1);
		if (o + need > cap - 1) {
			cut = true;
			break;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = stmt[i++];
	}
	if (cut && cap > 4) {
		if (o > cap - 4)
			o = cap - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Case-insensitive keyword at t[*i], followed by a blank; moves past it. */
static bool keyword(const char *t, size_t len, size_t *i, const char *kw)
{
	size_t k = strlen(kw);
	if (*i + k >= len || strncasecmp(t + *i, kw, k) != 0 || !isspace((unsigned char)t[*i + k]))
		return false;
	*i = skip_blank(t, len, *i + k);
	return true;
}

bool mig_created_table(const char *stmt, size_t len, char *out, size_t cap)
{
	size_t i = skip_blank(stmt, len, 0);
	if (!keyword(stmt, len, &i, "CREATE") || !keyword(stmt, len, &i, "TABLE"))
		return false;
	size_t save = i;
	if (!(keyword(stmt, len, &i, "IF") && keyword(stmt, len, &i, "NOT") && keyword(stmt, len, &i, "EXISTS")))
		i = save;
	bool quoted = i < len && stmt[i] == '`';
	if (quoted)
		i++;
	size_t o = 0;
	while (i < len && o + 1 < cap) {
		char c = stmt[i];
		if (quoted ? c == '`' : !(isalnum((unsigned char)c) || c == '_' || c == '$'))
			break;
		out[o++] = c;
		i++;
	}
	out[o] = '\0';
	return o > 0;
}

size_t mig_missing_required(const int *applied, size_t n_applied, int *missing, size_t cap)
{
	size_t n = 0;
	for (int v = 1; v <= SCHEMA_REQUIRED; v++) {
		if (mig_deferrable(v))
			continue;
		bool have = false;
		for (size_t i = 0; i < n_applied && !have; i++)
			have = applied[i] == v;
		if (!have && n < cap)
			missing[n++] = v;
	}
	return n;
}

static const mig_column *find_column(const mig_column *cols, size_t n, const char *table, const char *column)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(cols[i].table, table) == 0 && (column == NULL || strcmp(cols[i].column, column) == 0))
			return &cols[i];
	return NULL;
}

static void differ(void (*report)(void *, const char *), void *arg, size_t *n, const mig_column *w,
		   const char *what, const char *have, const char *want)
{
	char line[700];
	snprintf(line, sizeof line, "%s.%s: %s is %s, 0001 has %s", w->table, w->column, what,
		 have[0] ? have : "(none)", want[0] ? want : "(none)");
	report(arg, line);
	(*n)++;
}

size_t mig_compare_columns(const mig_column *want, size_t n_want, const mig_column *have, size_t n_have,
			   void (*report)(void *arg, const char *line), void *arg)
{
	size_t n = 0;
	char line[700];
	for (size_t i = 0; i < n_want; i++) {
		const mig_column *w = &want[i];
		bool first_of_table = i == 0 || strcmp(want[i - 1].table, w->table) != 0;
		if (find_column(have, n_have, w->table, NULL) == NULL) {
			if (first_of_table) {
				snprintf(line, sizeof line, "table %s: missing", w->table);
				report(arg, line);
				n++;
			}
			continue;
		}
		const mig_column *h = find_column(have, n_have, w->table, w->column);
		if (h == NULL) {
			snprintf(line, sizeof line, "%s.%s: missing (0001 has %s %s)", w->table, w->column, w->type,
				 strcmp(w->nullable, "NO") == 0 ? "NOT NULL" : "NULL");
			report(arg, line);
			n++;
			continue;
		}
		if (strcmp(h->type, w->type) != 0)
			differ(report, arg, &n, w, "type", h->type, w->type);
		if (strcmp(h->nullable, w->nullable) != 0)
			differ(report, arg, &n, w, "nullable", h->nullable, w->nullable);
		if (strcmp(h->collation, w->collation) != 0)
			differ(report, arg, &n, w, "collation", h->collation, w->collation);
		if (strcmp(h->key, w->key) != 0)
			differ(report, arg, &n, w, "key", h->key, w->key);
	}
	for (size_t i = 0; i < n_have; i++) {
		const mig_column *h = &have[i];
		if (find_column(want, n_want, h->table, NULL) != NULL &&
		    find_column(want, n_want, h->table, h->column) == NULL) {
			snprintf(line, sizeof line, "%s.%s: not in 0001 (%s)", h->table, h->column, h->type);
			report(arg, line);
			n++;
		}
	}
	return n;
}
