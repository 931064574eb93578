/* stockd: the stock-managed cart service, a pre-forked FastCGI server.
 *
 *   stockd serve          run the master (config: env over $STOCKD_CONF over defaults)
 *   stockd migrate DIR [--to N | N] [--expand-only] | --status | --baseline
 *                         apply the migrations in DIR (up to N; without the
 *                         contract steps), list them, or adopt an existing
 *                         shop database (docs/migrations.md), then exit
 *   stockd audit          check the stock invariants of the configured database, then exit
 *   stockd --check-config check the config as a reload would (env over $STOCKD_CONF
 *                         over defaults): "config ok" and 0, or the error and 1
 *   stockd --version      print the release (the VERSION file it was built from)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/version.h"
#include "server/audit_cmd.h"
#include "server/master.h"
#include "store/migrate.h"

static int usage(void)
{
	fprintf(stderr, "usage: stockd serve | stockd migrate DIR [--to N | N] [--expand-only] | "
			"stockd migrate DIR --status | stockd migrate DIR --baseline | stockd audit | "
			"stockd --check-config | stockd --version\n");
	return 2;
}

/* A version on the command line: digits only, 1..9999 (the NNNN of a file). */
static int parse_version(const char *s)
{
	int v = 0;
	if (s == NULL || *s == '\0' || strlen(s) > 4)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v > 0 ? v : -1;
}

/* stockd migrate DIR [N] [--to N] [--expand-only] [--status] [--baseline].
 * The positional N is the older spelling of --to N (scripts and tests use
 * it). 0: parsed; -1: a usage error. */
static int parse_migrate(int argc, char **argv, migrate_opts *o)
{
	memset(o, 0, sizeof *o);
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--to") == 0 && i + 1 < argc && o->to == 0)
			o->to = parse_version(argv[++i]);
		else if (strncmp(a, "--to=", 5) == 0 && o->to == 0)
			o->to = parse_version(a + 5);
		else if (strcmp(a, "--expand-only") == 0)
			o->expand_only = true;
		else if (strcmp(a, "--status") == 0)
			o->status = true;
		else if (strcmp(a, "--baseline") == 0)
			o->baseline = true;
		else if (a[0] != '-' && o->to == 0)
			o->to = parse_version(a);
		else
			return -1;
		if (o->to < 0)
			return -1;
	}
	/* --status and --baseline each stand alone: neither applies steps. */
	if ((o->status || o->baseline) && (o->to || o->expand_only || (o->status && o->baseline)))
		return -1;
	return 0;
}

/* The app refuses a schema that lacks an expand step it needs: the tables
 * and columns it uses would be missing. Contract steps (0003) may wait, so
 * what counts is which steps are applied, not the highest one. A database
 * still starting gets a few seconds. */
static int check_schema(const stk_config *cfg)
{
	for (int i = 0; i < 100; i++) {
		int missing[SCHEMA_REQUIRED];
		int n = schema_missing(cfg, missing, SCHEMA_REQUIRED);
		if (n == 0)
			return 0;
		if (n > 0) {
			char list[SCHEMA_REQUIRED * 8 + 1] = "";
			for (int k = 0; k < n; k++) {
				size_t l = strlen(list);
				snprintf(list + l, sizeof list - l, "%s%04d", k ? ", " : "", missing[k]);
			}
			log_error("the schema lacks step%s %s, which this build needs (every expand step up to %04d; "
				  "contract steps may wait): run `stockd migrate DIR --expand-only` (or without "
				  "--expand-only to apply everything)",
				  n == 1 ? "" : "s", list, SCHEMA_REQUIRED);
			return -1;
		}
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	log_error("database unreachable: cannot check the schema version");
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	/* Before the config: a binary kept for rollback answers without one. */
	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return printf("stockd %s\n", stockd_version()) < 0 ? 1 : 0;
	const char *conf_path = getenv("STOCKD_CONF");
	stk_config cfg;
	char err[400];
	int loaded = config_load(&cfg, conf_path, err, sizeof err);
	/* systemd's ExecReload runs this before the HUP, so a refused file
	 * fails `systemctl reload` instead of only being logged by the master.
	 * The same config_load as master.c's reload(), and nothing more: no
	 * log file, no database. */
	if (argc == 2 && strcmp(argv[1], "--check-config") == 0) {
		if (loaded != 0) {
			fprintf(stderr, "stockd: config refused: %s\n", err);
			return 1;
		}
		return printf("config ok\n") < 0 ? 1 : 0;
	}
	if (loaded != 0) {
		fprintf(stderr, "stockd: %s\n", err);
		return 1;
	}
	if (log_open(cfg.log_file) != 0) {
		fprintf(stderr, "stockd: cannot open log %s\n", cfg.log_file);
		return 1;
	}
	if (strcmp(argv[1], "migrate") == 0 && argc >= 3) {
		migrate_opts mo;
		if (parse_migrate(argc, argv, &mo) != 0)
			return usage();
		return migrate_run(&cfg, argv[2], &mo) == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "audit") == 0 && argc == 2)
		return audit_command(&cfg);
	if (strcmp(argv[1], "serve") == 0 && argc == 2) {
		if (check_schema(&cfg) != 0)
			return 1;
		return master_run(&cfg, conf_path);
	}
	return usage();
}
