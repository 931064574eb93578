/* legacy_load: the shop's old backend, as a load on the legacy schema.
 *
 *   legacy_load SECONDS CLIENTS
 *
 * CLIENTS processes, each with its own connection (DB_* from the
 * environment, as the app reads them), loop for SECONDS over what the legacy
 * cart code did: read a product, create a cart with a line, and check out
 * (lock the product, decrement stock, write the order). Every statement
 * that fails is counted. Prints "legacy_load: statements N failed M" and
 * exits 1 if any failed. Used to show that migration 0002 applies under a
 * live legacy load without a failed query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/random.h"
#include "store/db.h"

static const char SQL_READ[] = "SELECT id, sku, name, price_cents, stock FROM products WHERE id = ?";
static const char SQL_CART[] = "INSERT INTO carts (id) VALUES (?)";
static const char SQL_LINE[] = "INSERT INTO cart_items (cart_id, product_id, quantity) VALUES (?, ?, 1)";
static const char SQL_LOCK[] = "SELECT stock, price_cents FROM products WHERE id = ? FOR UPDATE";
static const char SQL_SELL[] = "UPDATE products SET stock = stock - 1 WHERE id = ?";
static const char SQL_ORDER[] = "INSERT INTO orders (cart_id, total_cents) VALUES (?, ?)";
static const char SQL_ORDER_LINE[] =
	"INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES (?, ?, 1, ?)";
static const char SQL_CLOSE[] = "UPDATE carts SET status = 'checked_out' WHERE id = ?";

typedef struct {
	db *d;
	long ok, failed;
} client;

static int step(client *c, int rc)
{
	if (rc == DB_OK)
		c->ok++;
	else
		c->failed++;
	return rc;
}

/* The legacy checkout: one product, one unit, no idea of holds. */
static void checkout(client *c, int64_t product)
{
	char cart[33];
	if (random_cart_id(cart) != 0)
		return;
	db_param id[] = { P_STR(cart, 32) };
	db_param line[] = { P_STR(cart, 32), P_I64(product) };
	if (step(c, db_exec(c->d, SQL_CART, id, 1, NULL)) != DB_OK ||
	    step(c, db_exec(c->d, SQL_LINE, line, 2, NULL)) != DB_OK)
		return;
	long failed_before = c->failed;
	if (step(c, db_simple(c->d, "START TRANSACTION")) != DB_OK)
		return;
	db_param p[] = { P_I64(product) };
	db_rows r;
	int rc = step(c, db_exec(c->d, SQL_LOCK, p, 1, &r));
	if (rc == DB_OK && r.nrows == 1 && db_at(&r, 0, 0)->i > 0) {
		int64_t price = db_at(&r, 0, 1)->i;
		db_rows o;
		db_param ord[] = { P_STR(cart, 32), P_I64(price) };
		if (step(c, db_exec(c->d, SQL_SELL, p, 1, NULL)) == DB_OK &&
		    step(c, db_exec(c->d, SQL_ORDER, ord, 2, &o)) == DB_OK) {
			db_param ol[] = { P_I64((int64_t)o.insert_id), P_I64(product), P_I64(price) };
			db_rows_free(&o);
			if (step(c, db_exec(c->d, SQL_ORDER_LINE, ol, 3, NULL)) == DB_OK)
				step(c, db_exec(c->d, SQL_CLOSE, id, 1, NULL));
		}
	}
	if (rc == DB_OK)
		db_rows_free(&r);
	step(c, db_simple(c->d, c->failed > failed_before ? "ROLLBACK" : "COMMIT"));
}

static int run_client(const stk_config *cfg, int64_t seconds, int64_t products)
{
	client c = { db_new(cfg), 0, 0 };
	if (c.d == NULL || db_ensure(c.d) != DB_OK) {
		printf("0 1\n");
		return 1;
	}
	int64_t end = clock_mono_ms() + seconds * 1000;
	while (clock_mono_ms() < end) {
		int64_t product = 1 + (int64_t)random_below((uint32_t)products);
		if (random_below(4) == 0) {
			checkout(&c, product);
		} else {
			db_param p[] = { P_I64(product) };
			db_rows r;
			if (step(&c, db_exec(c.d, SQL_READ, p, 1, &r)) == DB_OK)
				db_rows_free(&r);
		}
	}
	printf("%ld %ld\n", c.ok, c.failed);
	fflush(stdout);
	db_free(c.d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: legacy_load SECONDS CLIENTS\n");
		return 2;
	}
	stk_config cfg;
	char err[300];
	if (config_load(&cfg, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "legacy_load: %s\n", err);
		return 2;
	}
	int64_t seconds = atol(argv[1]), clients = atol(argv[2]);
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	for (int64_t i = 0; i < clients; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(fds[0]);
			if (dup2(fds[1], STDOUT_FILENO) < 0)
				_exit(1);
			_exit(run_client(&cfg, seconds, 100));
		}
	}
	close(fds[1]);
	FILE *in = fdopen(fds[0], "r");
	long ok = 0, failed = 0, a, b;
	while (in != NULL && fscanf(in, "%ld %ld", &a, &b) == 2)
		ok += a, failed += b;
	while (wait(NULL) > 0)
		;
	printf("legacy_load: statements %ld failed %ld\n", ok + failed, failed);
	return failed == 0 ? 0 : 1;
}
