/* core/hostlist.h: DB_HOST, one server or a cluster's ordered nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/hostlist.h"

static host_entry h[HOSTLIST_MAX];
static char err[256];

static void one_host_takes_the_default_port(void **state)
{
	(void)state;
	assert_int_equal(hostlist_parse("127.0.0.1", 3307, h, HOSTLIST_MAX, err, sizeof err), 1);
	assert_string_equal(h[0].host, "127.0.0.1");
	assert_int_equal(h[0].port, 3307);
	assert_int_equal(hostlist_parse("db.example", 0, h, HOSTLIST_MAX, err, sizeof err), 1);
	assert_string_equal(h[0].host, "db.example");
	assert_int_equal(h[0].port, 0);
}

static void nodes_keep_their_order_and_ports(void **state)
{
	(void)state;
	assert_int_equal(hostlist_parse("10.0.0.11, 10.0.0.12:3310 ,[fd00::13]:3311,[fd00::14],fd00::15", 3306, h,
					HOSTLIST_MAX, err, sizeof err),
			 5);
	assert_string_equal(h[0].host, "10.0.0.11");
	assert_int_equal(h[0].port, 3306);
	assert_string_equal(h[1].host, "10.0.0.12");
	assert_int_equal(h[1].port, 3310);
	assert_string_equal(h[2].host, "fd00::13");
	assert_int_equal(h[2].port, 3311);
	assert_string_equal(h[3].host, "fd00::14");
	assert_int_equal(h[3].port, 3306);
	/* a bare IPv6 address has no port */
	assert_string_equal(h[4].host, "fd00::15");
	assert_int_equal(h[4].port, 3306);
}

static void mistakes_are_named(void **state)
{
	(void)state;
	const char *bad[] = { "", "a,,b", "a,", " , a", "a:", "a:0", "a:65536", "a:33x", "[fd00::1", "[fd00::1]x",
			      "[]:3306", "a b", ":3306" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(hostlist_parse(bad[i], 3306, h, HOSTLIST_MAX, err, sizeof err), -1);
		assert_non_null(strstr(err, "bad host entry"));
	}
	assert_int_equal(hostlist_parse("a:33x", 3306, h, HOSTLIST_MAX, err, sizeof err), -1);
	assert_string_equal(err, "bad host entry 'a:33x' (host, host:port or [v6]:port)");
}

static void too_many_nodes_are_refused(void **state)
{
	(void)state;
	assert_int_equal(hostlist_parse("a,b,c", 3306, h, 2, err, sizeof err), -1);
	assert_string_equal(err, "at most 2 hosts");
	assert_int_equal(hostlist_parse("a,b", 3306, h, 2, err, sizeof err), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_host_takes_the_default_port),
		cmocka_unit_test(nodes_keep_their_order_and_ports),
		cmocka_unit_test(mistakes_are_named),
		cmocka_unit_test(too_many_nodes_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
