#ifndef STK_CONFIG_H
#define STK_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

/* The largest WORKERS accepted; the scoreboard sizes itself from it. */
#define CONFIG_WORKERS_MAX 256
/* The measured choice (docs/benchmarks.md, the WORKERS curve): on 2 cores
 * the add's throughput rises to 16 workers and flattens after, because a
 * worker mostly waits for its COMMIT's flush and more transactions in
 * flight share each flush (group commit). Not the CPU count: at 2 it was
 * 20% slower. */
#define CONFIG_WORKERS_DEFAULT 16

/* Per-process configuration. Precedence: environment over the conf file over
 * the defaults below. The master loads it at start and on SIGHUP; workers get
 * their copy by fork and never change it. */
typedef struct {
	bool enable_stock;            /* ENABLE_STOCK_MANAGEMENT */
	long reservation_timeout_ms;  /* STOCK_RESERVATION_TIMEOUT */
	long retry_attempts;          /* RETRY_ATTEMPTS */
	long sweep_interval_ms;       /* SWEEP_INTERVAL */
	long workers;                 /* WORKERS */
	long max_hold_per_product;    /* MAX_HOLD_PER_PRODUCT */
	long max_cart_lines;          /* MAX_CART_LINES */
	long max_requests;            /* MAX_REQUESTS: recycle a worker after this many */
	long request_timeout_ms;      /* REQUEST_TIMEOUT: kill a worker stuck this long */
	long stop_timeout_ms;         /* STOP_TIMEOUT: graceful stop, then KILL */
	long txn_budget_ms;           /* TXN_BUDGET_MS: all retries of one transaction */
	long audit_interval_ms;       /* AUDIT_INTERVAL: the sweeper's periodic audit */
	long slow_request_ms;         /* SLOW_REQUEST_MS: slower requests are logged */
	long cart_retention_days;     /* CART_RETENTION_DAYS: abandoned carts purged after; 0 keeps them */
	bool metrics;                 /* METRICS: false skips the per-request counters (for measuring their cost) */
	char admin_token[256];        /* ADMIN_TOKEN */
	char metrics_token[256];      /* METRICS_TOKEN: /metrics and /status only */
	bool trust_loopback;          /* TRUST_LOOPBACK: loopback opens operator routes without a token */
	char allowed_origins[2048];   /* ALLOWED_ORIGINS, normalised ("a,b"); empty: no CORS at all */
	bool db_causal_reads;         /* DB_CAUSAL_READS: on Galera, reads wait for the cluster's earlier commits */
	char db_host[1024];           /* DB_HOST: a server, or a cluster's ordered nodes (core/hostlist.h) */
	long db_port;
	char db_socket[512];
	char db_user[128];
	char db_password[256];
	char db_name[128];
	char listen[512];             /* LISTEN: unix:/path or IPv4:port (off loopback with LISTEN_ALLOW) */
	char listen_group[64];        /* LISTEN_GROUP: group owner of the unix socket */
	char listen_allow[512];       /* LISTEN_ALLOW: web servers that may connect (core/peers.h) */
	char pid_file[512];           /* PID_FILE */
	char log_file[512];           /* LOG_FILE; empty: stderr */
	char access_log[512];         /* ACCESS_LOG: JSON lines, one per request; empty: off */
} stk_config;

/* Defaults of the contract, before any file or environment. */
void config_defaults(stk_config *c);

/* Set one key from its text value. 0 on success; -1 with a message in err
 * for an unknown key or a bad value (the config is then unchanged). */
int config_set(stk_config *c, const char *key, const char *value, char *err, size_t errlen);

/* Parse conf file text: KEY=VALUE lines, '#' comments (also after an
 * unquoted value, following a space), blank lines, optional double quotes
 * around the value. Keys already pinned by `pinned` (the
 * environment) are skipped. 0, or -1 naming the bad line in err. */
int config_parse(stk_config *c, const char *text, size_t len, bool (*pinned)(const char *key),
		 char *err, size_t errlen);

/* Defaults, then the file at path (missing file is fine), then the
 * environment. 0, or -1 with err. */
int config_load(stk_config *c, const char *path, char *err, size_t errlen);

#endif
