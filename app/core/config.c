#include "core/config.h"
#include "core/hostlist.h"
#include "core/origins.h"
#include "core/peers.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KEY_BOOL, KEY_LONG, KEY_STR, KEY_ORIGINS, KEY_HOSTS, KEY_PEERS } key_type;

typedef struct {
	const char *name;
	key_type type;
	size_t offset;
	size_t size; /* KEY_STR: buffer size */
	long min, max;
} key_def;

#define LONG_KEY(n, f, lo, hi) { n, KEY_LONG, offsetof(stk_config, f), 0, lo, hi }
#define STR_KEY(n, f) { n, KEY_STR, offsetof(stk_config, f), sizeof(((stk_config *)0)->f), 0, 0 }
#define ORIGINS_KEY(n, f) { n, KEY_ORIGINS, offsetof(stk_config, f), sizeof(((stk_config *)0)->f), 0, 0 }
#define HOSTS_KEY(n, f) { n, KEY_HOSTS, offsetof(stk_config, f), sizeof(((stk_config *)0)->f), 0, 0 }
#define PEERS_KEY(n, f) { n, KEY_PEERS, offsetof(stk_config, f), sizeof(((stk_config *)0)->f), 0, 0 }

static const key_def keys[] = {
	{ "ENABLE_STOCK_MANAGEMENT", KEY_BOOL, offsetof(stk_config, enable_stock), 0, 0, 0 },
	{ "METRICS", KEY_BOOL, offsetof(stk_config, metrics), 0, 0, 0 },
	{ "TRUST_LOOPBACK", KEY_BOOL, offsetof(stk_config, trust_loopback), 0, 0, 0 },
	{ "DB_CAUSAL_READS", KEY_BOOL, offsetof(stk_config, db_causal_reads), 0, 0, 0 },
	LONG_KEY("STOCK_RESERVATION_TIMEOUT", reservation_timeout_ms, 1, 7L * 24 * 3600 * 1000),
	LONG_KEY("RETRY_ATTEMPTS", retry_attempts, 0, 10),
	LONG_KEY("SWEEP_INTERVAL", sweep_interval_ms, 100, 3600 * 1000),
	LONG_KEY("WORKERS", workers, 1, CONFIG_WORKERS_MAX),
	LONG_KEY("MAX_HOLD_PER_PRODUCT", max_hold_per_product, 1, 1000),
	LONG_KEY("MAX_CART_LINES", max_cart_lines, 1, 10000),
	LONG_KEY("MAX_REQUESTS", max_requests, 0, 1000000000),
	LONG_KEY("REQUEST_TIMEOUT", request_timeout_ms, 100, 3600 * 1000),
	LONG_KEY("STOP_TIMEOUT", stop_timeout_ms, 100, 3600 * 1000),
	LONG_KEY("TXN_BUDGET_MS", txn_budget_ms, 100, 60 * 1000),
	LONG_KEY("AUDIT_INTERVAL", audit_interval_ms, 1000, 24L * 3600 * 1000),
	LONG_KEY("SLOW_REQUEST_MS", slow_request_ms, 1, 3600 * 1000),
	LONG_KEY("CART_RETENTION_DAYS", cart_retention_days, 0, 36500),
	STR_KEY("ADMIN_TOKEN", admin_token),
	STR_KEY("METRICS_TOKEN", metrics_token),
	ORIGINS_KEY("ALLOWED_ORIGINS", allowed_origins),
	HOSTS_KEY("DB_HOST", db_host),
	LONG_KEY("DB_PORT", db_port, 0, 65535),
	STR_KEY("DB_SOCKET", db_socket),
	STR_KEY("DB_USER", db_user),
	STR_KEY("DB_PASSWORD", db_password),
	STR_KEY("DB_NAME", db_name),
	STR_KEY("LISTEN", listen),
	STR_KEY("LISTEN_GROUP", listen_group),
	PEERS_KEY("LISTEN_ALLOW", listen_allow),
	STR_KEY("PID_FILE", pid_file),
	STR_KEY("LOG_FILE", log_file),
	STR_KEY("ACCESS_LOG", access_log),
};

void config_defaults(stk_config *c)
{
	memset(c, 0, sizeof *c);
	c->enable_stock = true;
	c->metrics = true;
	c->trust_loopback = true;
	c->db_causal_reads = true;
	c->reservation_timeout_ms = 1800000;
	c->retry_attempts = 3;
	c->sweep_interval_ms = 5000;
	c->workers = CONFIG_WORKERS_DEFAULT;
	c->max_hold_per_product = 1000;
	c->max_cart_lines = 100;
	c->max_requests = 10000;
	c->request_timeout_ms = 30000;
	c->stop_timeout_ms = 10000;
	c->txn_budget_ms = 2000;
	c->audit_interval_ms = 30000;
	c->slow_request_ms = 1000;
	c->cart_retention_days = 30;
	snprintf(c->db_host, sizeof c->db_host, "127.0.0.1");
	c->db_port = 3307;
	snprintf(c->db_user, sizeof c->db_user, "stockd");
	snprintf(c->db_name, sizeof c->db_name, "stockd");
	snprintf(c->listen, sizeof c->listen, "unix:/run/stockd/stockd.sock");
}

static const key_def *key_find(const char *name)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "true", "1", "yes", "on" };
	static const char *no[] = { "false", "0", "no", "off" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
	if (*v == '\0')
		return -1;
	for (const char *p = v; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	errno = 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

int config_set(stk_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	const key_def *k = key_find(key);
	if (k == NULL && strcmp(key, "TESTER_TOKEN") == 0) {
		/* The contract lists it with the app's settings, but nginx enforces
		 * it: say where it goes instead of "unknown". */
		snprintf(err, errlen, "TESTER_TOKEN is nginx's setting, not the app's: write it with deploy/tester-conf "
			 "into tester.conf (docs/operations.md)");
		return -1;
	}
	if (k == NULL) {
		snprintf(err, errlen, "unknown setting %s", key);
		return -1;
	}
	char *field = (char *)c + k->offset;
	if (k->type == KEY_HOSTS && *value != '\0') {
		/* A typo in a cluster's node list would show only when a node
		 * fails over to it: check every entry now. */
		host_entry hosts[HOSTLIST_MAX];
		char why[256];
		if (hostlist_parse(value, 1, hosts, HOSTLIST_MAX, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s", key, why);
			return -1;
		}
	}
	if (k->type == KEY_PEERS) {
		peers p;
		char why[128];
		if (peers_parse(value, &p, why, sizeof why) != 0) {
			snprintf(err, errlen, "%s: %s", key, why);
			return -1;
		}
	}
	switch (k->type) {
	case KEY_BOOL: {
		bool b;
		if (parse_bool(value, &b) != 0) {
			snprintf(err, errlen, "%s must be true or false", key);
			return -1;
		}
		*(bool *)field = b;
		return 0;
	}
	case KEY_LONG: {
		long n;
		if (parse_long(value, k->min, k->max, &n) != 0) {
			snprintf(err, errlen, "%s must be an integer in %ld..%ld", key, k->min, k->max);
			return -1;
		}
		*(long *)field = n;
		return 0;
	}
	case KEY_ORIGINS: {
		/* A list with a typo would silently refuse the shop's own pages:
		 * a malformed entry is a config error, like a bad number. */
		char list[sizeof c->allowed_origins];
		if (origins_normalize(value, list, sizeof list, err, errlen) != 0)
			return -1;
		memcpy(field, list, strlen(list) + 1);
		return 0;
	}
	case KEY_HOSTS: /* checked above, stored as written */
	case KEY_PEERS:
	case KEY_STR:
		if (strlen(value) >= k->size) {
			snprintf(err, errlen, "%s is too long (at most %zu bytes)", key, k->size - 1);
			return -1;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	}
	return -1;
}

static bool is_key_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

int config_parse(stk_config *c, const char *text, size_t len, bool (*pinned)(const char *key),
		 char *err, size_t errlen)
{
	stk_config next = *c; /* all or nothing: a bad file changes nothing */
	size_t pos = 0;
	int lineno = 0;
	while (pos < len) {
		size_t start = pos;
		while (pos < len && text[pos] != '\n')
			pos++;
		size_t end = pos;
		pos++; /* skip the newline */
		lineno++;
		while (start < end && isspace((unsigned char)text[start]))
			start++;
		while (end > start && isspace((unsigned char)text[end - 1]))
			end--;
		if (start == end || text[start] == '#')
			continue;
		char key[64], value[2100]; /* the longest value: ALLOWED_ORIGINS */
		size_t k = start;
		while (k < end && is_key_char(text[k]))
			k++;
		size_t klen = k - start;
		if (klen == 0 || klen >= sizeof key || k >= end || text[k] != '=') {
			snprintf(err, errlen, "line %d: expected KEY=VALUE", lineno);
			return -1;
		}
		memcpy(key, text + start, klen);
		key[klen] = '\0';
		size_t v = k + 1, vend = end;
		if (vend - v >= 2 && text[v] == '"' && text[vend - 1] == '"') {
			v++;
			vend--;
		} else {
			/* Unquoted: " #" starts a comment, so a value never silently
			 * swallows the note written after it. Quote to keep a '#'. */
			for (size_t i = v; i < vend; i++)
				if (text[i] == '#' && i > v && isspace((unsigned char)text[i - 1])) {
					vend = i;
					break;
				}
			while (vend > v && isspace((unsigned char)text[vend - 1]))
				vend--;
		}
		if (vend - v >= sizeof value || memchr(text + v, '\0', vend - v) != NULL) {
			snprintf(err, errlen, "line %d: value too long or not text", lineno);
			return -1;
		}
		memcpy(value, text + v, vend - v);
		value[vend - v] = '\0';
		if (pinned != NULL && pinned(key))
			continue;
		char why[200];
		if (config_set(&next, key, value, why, sizeof why) != 0) {
			snprintf(err, errlen, "line %d: %s", lineno, why);
			return -1;
		}
	}
	*c = next;
	return 0;
}

static bool env_pins(const char *key) { return getenv(key) != NULL; }

static int read_file(const char *path, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int rc = -1;
	if (buf == NULL)
		goto done;
	for (;;) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			if (cap >= 1 << 20)
				goto done; /* a config file this big is a mistake */
			char *bigger = realloc(buf, cap * 2);
			if (bigger == NULL)
				goto done;
			buf = bigger;
			cap *= 2;
		}
	}
	if (ferror(f))
		goto done;
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
done:
	free(buf);
	fclose(f);
	return rc;
}

int config_load(stk_config *c, const char *path, char *err, size_t errlen)
{
	stk_config next;
	config_defaults(&next);
	if (path != NULL && path[0] != '\0') {
		char *text;
		size_t len;
		/* A file that was named and is missing is an error: running on
		 * the defaults (another database port, no tokens) would be a
		 * silent surprise. No file named means defaults and environment. */
		if (read_file(path, &text, &len) != 0) {
			snprintf(err, errlen, "cannot read the conf file %s: %s", path, strerror(errno));
			return -1;
		}
		char why[300];
		int rc = config_parse(&next, text, len, env_pins, why, sizeof why);
		free(text);
		if (rc != 0) {
			snprintf(err, errlen, "%s: %s", path, why);
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = getenv(keys[i].name);
		if (v == NULL)
			continue;
		if (config_set(&next, keys[i].name, v, err, errlen) != 0)
			return -1;
	}
	*c = next;
	return 0;
}
