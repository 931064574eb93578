/* domain/domain.h DOM_REQUIRE: the domain's entry points refuse what their
 * callers must never pass (a cart id that is not CART_ID_LEN characters, a
 * product id or quantity out of range) by stopping the process, before
 * anything is copied into a fixed buffer or sent to the database. Each case
 * runs in a child, with no database at all: the check must come first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain/domain.h"

#define HEX32 "0123456789abcdef0123456789abcdef"
#define LONG64 HEX32 HEX32

typedef enum { OP_VIEW, OP_ADD, OP_REMOVE, OP_RESERVE, OP_RELEASE, OP_CHECKOUT } op_kind;

static void call(op_kind op, const char *cart_id, int64_t product_id, int64_t quantity)
{
	stk_config cfg;
	config_defaults(&cfg);
	dom_ctx c = { .db = NULL, .cfg = &cfg };
	cart_view v;
	dom_refusal why;
	hold_state h;
	order o;
	bool repeated;
	switch (op) {
	case OP_VIEW: dom_cart_view(&c, cart_id, &v); break;
	case OP_ADD: dom_cart_add(&c, MODE_STOCK, cart_id, product_id, quantity, true, &v, &why); break;
	case OP_REMOVE: dom_cart_remove(&c, MODE_STOCK, cart_id, product_id, quantity, true, &v); break;
	case OP_RESERVE: dom_reserve(&c, cart_id, product_id, quantity, &h, &why); break;
	case OP_RELEASE: dom_release(&c, cart_id, product_id, quantity, &h); break;
	case OP_CHECKOUT: dom_checkout(&c, cart_id, &o, &repeated, &why); break;
	}
}

/* The signal the call died of in a child; 0 if it returned. */
static int dies_of(op_kind op, const char *cart_id, int64_t product_id, int64_t quantity)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The failure is logged to stderr: keep the test output clean. */
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		call(op, cart_id, product_id, quantity);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	return 0;
}

static void bad_cart_ids_stop_every_entry(void **state)
{
	(void)state;
	const char *bad[] = { "", "0123456789abcdef", HEX32 "0", LONG64, NULL };
	for (op_kind op = OP_VIEW; op <= OP_CHECKOUT; op++)
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			int sig = dies_of(op, bad[i], 1, 1);
			if (sig != SIGABRT)
				fail_msg("op %d with cart id %s: signal %d, not the precondition's SIGABRT", (int)op,
					 bad[i] ? bad[i] : "NULL", sig);
		}
}

static void bad_numbers_stop_the_entry(void **state)
{
	(void)state;
	assert_int_equal(dies_of(OP_ADD, HEX32, 0, 1), SIGABRT);
	assert_int_equal(dies_of(OP_ADD, HEX32, 1, 0), SIGABRT);
	assert_int_equal(dies_of(OP_ADD, HEX32, -1, 1), SIGABRT);
	assert_int_equal(dies_of(OP_REMOVE, HEX32, 1, -1), SIGABRT);
	assert_int_equal(dies_of(OP_RESERVE, HEX32, 1, 0), SIGABRT);
	assert_int_equal(dies_of(OP_RELEASE, HEX32, 0, 0), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_cart_ids_stop_every_entry),
		cmocka_unit_test(bad_numbers_stop_the_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
