/* stockd: the stock-managed cart service, a pre-forked FastCGI server.
 *
 *   stockd serve          run the master (config: env over $STOCKD_CONF over defaults)
 *   stockd migrate DIR [VERSION]
 *                         apply the migrations in DIR (up to VERSION), then exit
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
	fprintf(stderr, "usage: stockd serve | stockd migrate DIR [VERSION] | stockd audit | stockd --check-config | "
			"stockd --version\n");
	return 2;
}

/* The app refuses a schema older than it needs: half the tables it uses
 * would be missing. A database still starting gets a few seconds. */
static int check_schema(const stk_config *cfg)
{
	for (int i = 0; i < 100; i++) {
		int v = schema_version(cfg);
		if (v >= SCHEMA_REQUIRED)
			return 0;
		if (v >= 0) {
			log_error("schema version %d is older than the %d this build needs: run `stockd migrate`", v,
				  SCHEMA_REQUIRED);
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
	if (strcmp(argv[1], "migrate") == 0 && (argc == 3 || argc == 4))
		return migrate_apply(&cfg, argv[2], argc == 4 ? atoi(argv[3]) : 0) == 0 ? 0 : 1;
	if (strcmp(argv[1], "audit") == 0 && argc == 2)
		return audit_command(&cfg);
	if (strcmp(argv[1], "serve") == 0 && argc == 2) {
		if (check_schema(&cfg) != 0)
			return 1;
		return master_run(&cfg, conf_path);
	}
	return usage();
}
