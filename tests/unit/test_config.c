/* core/config.h: the contract's defaults, one-key validation, the conf file
 * format (all or nothing) and the precedence environment > file > default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

static const char *all_keys[] = {
	"ENABLE_STOCK_MANAGEMENT", "STOCK_RESERVATION_TIMEOUT", "RETRY_ATTEMPTS", "SWEEP_INTERVAL", "WORKERS",
	"MAX_HOLD_PER_PRODUCT", "MAX_CART_LINES", "MAX_REQUESTS", "REQUEST_TIMEOUT", "STOP_TIMEOUT",
	"TXN_BUDGET_MS", "ADMIN_TOKEN", "DB_HOST", "DB_PORT", "DB_SOCKET", "DB_USER", "DB_PASSWORD", "DB_NAME",
	"LISTEN", "LISTEN_GROUP", "PID_FILE", "LOG_FILE", "ALLOWED_ORIGINS", "METRICS_TOKEN", "TRUST_LOOPBACK",
	"LISTEN_ALLOW", "DB_CAUSAL_READS",
};

/* The caller's environment must not leak into config_load. */
static int clean_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof all_keys / sizeof all_keys[0]; i++)
		unsetenv(all_keys[i]);
	return 0;
}

/* Field by field: struct padding makes memcmp meaningless. */
static void assert_same_config(const stk_config *a, const stk_config *b)
{
	assert_int_equal(a->enable_stock, b->enable_stock);
	assert_int_equal(a->reservation_timeout_ms, b->reservation_timeout_ms);
	assert_int_equal(a->retry_attempts, b->retry_attempts);
	assert_int_equal(a->sweep_interval_ms, b->sweep_interval_ms);
	assert_int_equal(a->workers, b->workers);
	assert_int_equal(a->max_hold_per_product, b->max_hold_per_product);
	assert_int_equal(a->max_cart_lines, b->max_cart_lines);
	assert_int_equal(a->max_requests, b->max_requests);
	assert_int_equal(a->request_timeout_ms, b->request_timeout_ms);
	assert_int_equal(a->stop_timeout_ms, b->stop_timeout_ms);
	assert_int_equal(a->txn_budget_ms, b->txn_budget_ms);
	assert_int_equal(a->db_port, b->db_port);
	assert_string_equal(a->admin_token, b->admin_token);
	assert_string_equal(a->metrics_token, b->metrics_token);
	assert_int_equal(a->trust_loopback, b->trust_loopback);
	assert_string_equal(a->allowed_origins, b->allowed_origins);
	assert_string_equal(a->db_host, b->db_host);
	assert_string_equal(a->db_socket, b->db_socket);
	assert_string_equal(a->db_user, b->db_user);
	assert_string_equal(a->db_password, b->db_password);
	assert_string_equal(a->db_name, b->db_name);
	assert_string_equal(a->listen, b->listen);
	assert_string_equal(a->listen_group, b->listen_group);
	assert_string_equal(a->listen_allow, b->listen_allow);
	assert_int_equal(a->db_causal_reads, b->db_causal_reads);
	assert_string_equal(a->pid_file, b->pid_file);
	assert_string_equal(a->log_file, b->log_file);
}

static void contract_defaults(void **state)
{
	(void)state;
	stk_config c;
	config_defaults(&c);
	assert_true(c.enable_stock);
	assert_int_equal(c.reservation_timeout_ms, 1800000);
	assert_int_equal(c.retry_attempts, 3);
	assert_int_equal(c.sweep_interval_ms, 5000);
	assert_int_equal(c.max_hold_per_product, 1000);
	assert_int_equal(c.max_cart_lines, 100);
	assert_int_equal(c.max_requests, 10000);
	assert_int_equal(c.request_timeout_ms, 30000);
	assert_int_equal(c.cart_retention_days, 30);
	assert_int_equal(c.workers, CONFIG_WORKERS_DEFAULT); /* the measured choice */
	assert_int_equal(CONFIG_WORKERS_DEFAULT, 16);
	assert_string_equal(c.admin_token, "");
	assert_string_equal(c.metrics_token, ""); /* unset: not accepted */
	assert_true(c.trust_loopback);            /* the contract: loopback, or the token */
	assert_true(c.db_causal_reads);           /* on Galera: no stale reads across nodes */
	assert_string_equal(c.listen_allow, "");
	assert_string_equal(c.log_file, "");
}

#define LONG_FIELD(f) offsetof(stk_config, f)

static void set_valid_values(void **state)
{
	(void)state;
	static const struct { const char *key, *value; size_t field; long want; } longs[] = {
		{ "STOCK_RESERVATION_TIMEOUT", "1000", LONG_FIELD(reservation_timeout_ms), 1000 },
		{ "RETRY_ATTEMPTS", "0", LONG_FIELD(retry_attempts), 0 },
		{ "RETRY_ATTEMPTS", "10", LONG_FIELD(retry_attempts), 10 },
		{ "SWEEP_INTERVAL", "500", LONG_FIELD(sweep_interval_ms), 500 },
		{ "WORKERS", "4", LONG_FIELD(workers), 4 },
		{ "MAX_HOLD_PER_PRODUCT", "1", LONG_FIELD(max_hold_per_product), 1 },
		{ "MAX_HOLD_PER_PRODUCT", "1000", LONG_FIELD(max_hold_per_product), 1000 },
		{ "MAX_CART_LINES", "5", LONG_FIELD(max_cart_lines), 5 },
		{ "MAX_REQUESTS", "1", LONG_FIELD(max_requests), 1 },
		{ "REQUEST_TIMEOUT", "60000", LONG_FIELD(request_timeout_ms), 60000 },
		{ "DB_PORT", "3306", LONG_FIELD(db_port), 3306 },
		{ "CART_RETENTION_DAYS", "0", LONG_FIELD(cart_retention_days), 0 },
		{ "CART_RETENTION_DAYS", "36500", LONG_FIELD(cart_retention_days), 36500 },
	};
	for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
		stk_config c;
		config_defaults(&c);
		char err[200] = "";
		if (config_set(&c, longs[i].key, longs[i].value, err, sizeof err) != 0)
			fail_msg("%s=%s refused: %s", longs[i].key, longs[i].value, err);
		long got;
		memcpy(&got, (char *)&c + longs[i].field, sizeof got);
		assert_int_equal(got, longs[i].want);
	}

	static const struct { const char *value; bool want; } bools[] = {
		{ "true", true }, { "false", false }, { "1", true }, { "0", false },
		{ "yes", true }, { "no", false }, { "TRUE", true }, { "False", false },
	};
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		stk_config c;
		config_defaults(&c);
		c.enable_stock = !bools[i].want;
		char err[200] = "";
		if (config_set(&c, "ENABLE_STOCK_MANAGEMENT", bools[i].value, err, sizeof err) != 0)
			fail_msg("ENABLE_STOCK_MANAGEMENT=%s refused: %s", bools[i].value, err);
		assert_int_equal(c.enable_stock, bools[i].want);
	}

	stk_config c;
	config_defaults(&c);
	char err[200];
	assert_int_equal(config_set(&c, "ADMIN_TOKEN", "s3cret", err, sizeof err), 0);
	assert_string_equal(c.admin_token, "s3cret");
	assert_int_equal(config_set(&c, "ADMIN_TOKEN", "", err, sizeof err), 0);
	assert_string_equal(c.admin_token, "");
	assert_int_equal(config_set(&c, "METRICS_TOKEN", "read-only", err, sizeof err), 0);
	assert_string_equal(c.metrics_token, "read-only");
	assert_int_equal(config_set(&c, "TRUST_LOOPBACK", "false", err, sizeof err), 0);
	assert_false(c.trust_loopback);
	assert_int_equal(config_set(&c, "TRUST_LOOPBACK", "on", err, sizeof err), 0);
	assert_true(c.trust_loopback);
	/* A typo must not silently leave loopback trusted (or not). */
	assert_int_equal(config_set(&c, "TRUST_LOOPBACK", "nope", err, sizeof err), -1);
	assert_true(c.trust_loopback);
	assert_non_null(strstr(err, "TRUST_LOOPBACK"));
}

/* Every refusal leaves the config as it was and says why. */
static void set_invalid_values(void **state)
{
	(void)state;
	static char long_token[300], max_token[256];
	memset(long_token, 'x', 256); /* admin_token holds 255 + NUL */
	memset(max_token, 'x', 255);
	static const struct { const char *key, *value; } rows[] = {
		{ "NO_SUCH_KEY", "1" }, { "retry_attempts", "3" }, { "", "1" },
		{ "RETRY_ATTEMPTS", "abc" }, { "RETRY_ATTEMPTS", "" }, { "RETRY_ATTEMPTS", "-1" },
		{ "RETRY_ATTEMPTS", "+1" }, { "RETRY_ATTEMPTS", "1.5" }, { "RETRY_ATTEMPTS", " 1" },
		{ "RETRY_ATTEMPTS", "1 " }, { "RETRY_ATTEMPTS", "0x3" }, { "RETRY_ATTEMPTS", "11" },
		{ "RETRY_ATTEMPTS", "99999999999999999999999" },
		{ "STOCK_RESERVATION_TIMEOUT", "0" }, { "SWEEP_INTERVAL", "0" }, { "WORKERS", "0" },
		{ "MAX_HOLD_PER_PRODUCT", "0" }, { "MAX_HOLD_PER_PRODUCT", "1001" }, { "MAX_CART_LINES", "0" },
		{ "REQUEST_TIMEOUT", "0" }, { "DB_PORT", "65536" },
		{ "CART_RETENTION_DAYS", "-1" }, { "CART_RETENTION_DAYS", "36501" },
		{ "ENABLE_STOCK_MANAGEMENT", "2" }, { "ENABLE_STOCK_MANAGEMENT", "" },
		{ "ENABLE_STOCK_MANAGEMENT", "enabled" }, { "ENABLE_STOCK_MANAGEMENT", "true " },
		{ "ADMIN_TOKEN", long_token },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		stk_config c, before;
		config_defaults(&c);
		config_defaults(&before);
		char err[200] = "";
		if (config_set(&c, rows[i].key, rows[i].value, err, sizeof err) != -1)
			fail_msg("%s=\"%.20s\" accepted", rows[i].key, rows[i].value);
		assert_true(err[0] != '\0');
		assert_same_config(&c, &before);
	}
	/* The longest string that fits is fine. */
	stk_config c;
	config_defaults(&c);
	char err[200];
	assert_int_equal(config_set(&c, "ADMIN_TOKEN", max_token, err, sizeof err), 0);
	assert_int_equal(strlen(c.admin_token), 255);
}

static void parse_file_format(void **state)
{
	(void)state;
	static const char text[] =
		"# a comment\r\n"
		"\r\n"
		"   # an indented comment\n"
		"RETRY_ATTEMPTS=5\r\n"
		"  SWEEP_INTERVAL=700  \n"
		"ADMIN_TOKEN=\"tok en\"\r\n"
		"DB_NAME=\"\"\n"
		"ENABLE_STOCK_MANAGEMENT=\"false\"\r\n"
		"\t\n"
		"MAX_CART_LINES=7"; /* no final newline */
	stk_config c;
	config_defaults(&c);
	char err[200] = "";
	if (config_parse(&c, text, strlen(text), NULL, err, sizeof err) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(c.retry_attempts, 5);
	assert_int_equal(c.sweep_interval_ms, 700);
	assert_string_equal(c.admin_token, "tok en");
	assert_string_equal(c.db_name, "");
	assert_false(c.enable_stock);
	assert_int_equal(c.max_cart_lines, 7);
	assert_int_equal(c.max_hold_per_product, 1000); /* untouched keys keep their value */
}

/* One bad line: error names it, and nothing of the file is applied. */
static void parse_bad_line_applies_nothing(void **state)
{
	(void)state;
	static const struct { const char *text, *line; } rows[] = {
		{ "RETRY_ATTEMPTS=5\nSWEEP_INTERVAL=abc\n", "line 2" },
		{ "RETRY_ATTEMPTS=5\r\n# c\r\n\r\nNOPE=1\r\n", "line 4" },
		{ "RETRY_ATTEMPTS=5\njust words\n", "line 2" },
		{ "RETRY_ATTEMPTS=5\nretry_attempts=4\n", "line 2" },
		{ "=5\n", "line 1" },
		{ "RETRY_ATTEMPTS 5\n", "line 1" },
		{ "RETRY_ATTEMPTS=5\nMAX_HOLD_PER_PRODUCT=5000", "line 2" },
		{ "RETRY_ATTEMPTS=5\nENABLE_STOCK_MANAGEMENT=maybe\n", "line 2" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		stk_config c, before;
		config_defaults(&c);
		config_defaults(&before);
		char err[200] = "";
		if (config_parse(&c, rows[i].text, strlen(rows[i].text), NULL, err, sizeof err) != -1)
			fail_msg("row %zu accepted", i);
		if (strstr(err, rows[i].line) == NULL)
			fail_msg("row %zu: error \"%s\" does not name %s", i, err, rows[i].line);
		assert_same_config(&c, &before); /* RETRY_ATTEMPTS=5 was not kept */
	}
}

static bool pin_retry(const char *key) { return strcmp(key, "RETRY_ATTEMPTS") == 0; }

/* Pinned keys (set in the environment) are skipped, even if the file's value
 * would be refused: the environment wins whatever the file says. */
static void parse_skips_pinned(void **state)
{
	(void)state;
	static const char *texts[] = { "RETRY_ATTEMPTS=7\nSWEEP_INTERVAL=900\n",
				       "RETRY_ATTEMPTS=junk\nSWEEP_INTERVAL=900\n" };
	for (size_t i = 0; i < 2; i++) {
		stk_config c;
		config_defaults(&c);
		char err[200] = "";
		if (config_parse(&c, texts[i], strlen(texts[i]), pin_retry, err, sizeof err) != 0)
			fail_msg("text %zu refused: %s", i, err);
		assert_int_equal(c.retry_attempts, 3);
		assert_int_equal(c.sweep_interval_ms, 900);
	}
}

/* A conf file in /tmp, removed by the caller. */
static void write_conf(char path[64], const char *text)
{
	snprintf(path, 64, "/tmp/stockd-unit-conf.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void load_precedence(void **state)
{
	(void)state;
	char path[64], err[300] = "";
	write_conf(path, "RETRY_ATTEMPTS=5\nSWEEP_INTERVAL=700\n");
	setenv("RETRY_ATTEMPTS", "7", 1);
	stk_config c;
	int rc = config_load(&c, path, err, sizeof err);
	unsetenv("RETRY_ATTEMPTS");
	unlink(path);
	if (rc != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(c.retry_attempts, 7);      /* env over file */
	assert_int_equal(c.sweep_interval_ms, 700); /* file over default */
	assert_int_equal(c.max_cart_lines, 100);    /* default */
}

static void load_edge_cases(void **state)
{
	(void)state;
	char path[64], err[300];
	stk_config c, defaults;
	config_defaults(&defaults);

	/* A named file that is missing is an error that names it; no file
	 * named means the defaults. */
	assert_int_equal(config_load(&c, "/nonexistent/stockd.conf", err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/stockd.conf"));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(config_load(&c, NULL, err, sizeof err), 0);
	assert_same_config(&c, &defaults);

	/* The environment pins a key the file gets wrong: still loads. */
	write_conf(path, "RETRY_ATTEMPTS=junk\n");
	setenv("RETRY_ATTEMPTS", "2", 1);
	int rc = config_load(&c, path, err, sizeof err);
	unsetenv("RETRY_ATTEMPTS");
	assert_int_equal(rc, 0);
	assert_int_equal(c.retry_attempts, 2);

	/* Without the pin, the same file is an error naming the file and line;
	 * the config passed in is left alone. */
	c.retry_attempts = 9;
	err[0] = '\0';
	assert_int_equal(config_load(&c, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 1"));
	assert_int_equal(c.retry_attempts, 9);
	unlink(path);

	/* A bad environment value is an error too. */
	setenv("MAX_CART_LINES", "lots", 1);
	err[0] = '\0';
	rc = config_load(&c, NULL, err, sizeof err);
	unsetenv("MAX_CART_LINES");
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "MAX_CART_LINES"));
	assert_int_equal(c.retry_attempts, 9);
}

/* ALLOWED_ORIGINS: unset means no CORS; a good list is stored normalised; a
 * malformed one is refused (the previous value stays), from the file too. */
static void allowed_origins_key(void **state)
{
	(void)state;
	stk_config c;
	char err[300];
	config_defaults(&c);
	assert_string_equal(c.allowed_origins, "");
	assert_int_equal(config_set(&c, "ALLOWED_ORIGINS", " https://shop.example ,http://127.0.0.1:8081", err,
				    sizeof err), 0);
	assert_string_equal(c.allowed_origins, "https://shop.example,http://127.0.0.1:8081");
	static const char *bad[] = { "*", "https://shop.example/", "shop.example", "https://SHOP.example",
				     "https://a.example,,https://b.example", "https://a.example,", "null",
				     "https://shop.example:443", "ftp://shop.example" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (config_set(&c, "ALLOWED_ORIGINS", bad[i], err, sizeof err) != -1)
			fail_msg("ALLOWED_ORIGINS=%s accepted", bad[i]);
		assert_non_null(strstr(err, "ALLOWED_ORIGINS"));
		assert_string_equal(c.allowed_origins, "https://shop.example,http://127.0.0.1:8081");
	}
	assert_int_equal(config_set(&c, "ALLOWED_ORIGINS", "", err, sizeof err), 0);
	assert_string_equal(c.allowed_origins, "");
	/* TESTER_TOKEN belongs to nginx: refused, saying where it goes. */
	assert_int_equal(config_set(&c, "TESTER_TOKEN", "abcdefghijklmnop", err, sizeof err), -1);
	assert_non_null(strstr(err, "deploy/tester-conf"));

	/* In the file: a bad list fails the whole file, naming the line. */
	config_defaults(&c);
	long workers = c.workers;
	const char *file = "WORKERS=3\nALLOWED_ORIGINS=https://shop.example/\n";
	assert_int_equal(config_parse(&c, file, strlen(file), NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "line 2"));
	assert_int_equal(c.workers, workers);
	file = "ALLOWED_ORIGINS=\"https://a.example, https://b.example:8443\"\n";
	assert_int_equal(config_parse(&c, file, strlen(file), NULL, err, sizeof err), 0);
	assert_string_equal(c.allowed_origins, "https://a.example,https://b.example:8443");
}

/* DB_HOST: a server or a cluster's ordered nodes; a malformed entry is a
 * config error (the previous value stays), since it would show only when
 * a node fails over to it. */
static void db_host_list_key(void **state)
{
	(void)state;
	stk_config c;
	char err[300];
	config_defaults(&c);
	assert_int_equal(config_set(&c, "DB_HOST", "10.0.0.11,10.0.0.12:3310,[fd00::13]", err, sizeof err), 0);
	assert_string_equal(c.db_host, "10.0.0.11,10.0.0.12:3310,[fd00::13]");
	static const char *bad[] = { "10.0.0.11,", "a,,b", "a:0", "a:99999", "[fd00::1", "a,b,c,d,e,f,g,h,i" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		if (config_set(&c, "DB_HOST", bad[i], err, sizeof err) != -1)
			fail_msg("DB_HOST=%s accepted", bad[i]);
		assert_non_null(strstr(err, "DB_HOST: "));
		assert_string_equal(c.db_host, "10.0.0.11,10.0.0.12:3310,[fd00::13]");
	}
	/* empty: libmariadb's default host */
	assert_int_equal(config_set(&c, "DB_HOST", "", err, sizeof err), 0);

	/* LISTEN_ALLOW: IPv4 peers, checked the same way */
	assert_int_equal(config_set(&c, "LISTEN_ALLOW", "10.0.0.1, 10.0.0.2", err, sizeof err), 0);
	assert_string_equal(c.listen_allow, "10.0.0.1, 10.0.0.2");
	assert_int_equal(config_set(&c, "LISTEN_ALLOW", "web1", err, sizeof err), -1);
	assert_non_null(strstr(err, "LISTEN_ALLOW: bad address 'web1'"));
	assert_string_equal(c.listen_allow, "10.0.0.1, 10.0.0.2");
	assert_int_equal(config_set(&c, "DB_CAUSAL_READS", "off", err, sizeof err), 0);
	assert_false(c.db_causal_reads);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(contract_defaults),
		cmocka_unit_test(set_valid_values),
		cmocka_unit_test(set_invalid_values),
		cmocka_unit_test(parse_file_format),
		cmocka_unit_test(parse_bad_line_applies_nothing),
		cmocka_unit_test(parse_skips_pinned),
		cmocka_unit_test(load_precedence),
		cmocka_unit_test(load_edge_cases),
		cmocka_unit_test(allowed_origins_key),
		cmocka_unit_test(db_host_list_key),
	};
	return cmocka_run_group_tests_name("config", tests, clean_env, NULL);
}
