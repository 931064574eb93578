/* core/peers.h: LISTEN_ALLOW, the web servers a TCP listener serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/un.h>
#include <cmocka.h>

#include "core/peers.h"

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &sa.sin_addr), 1);
	return sa;
}

static void listed_peers_only(void **state)
{
	(void)state;
	peers p;
	char err[128];
	assert_int_equal(peers_parse(" 10.0.0.1 , 10.0.0.2", &p, err, sizeof err), 0);
	assert_int_equal(p.n, 2);
	struct sockaddr_in a = v4("10.0.0.2"), b = v4("10.0.0.3");
	assert_true(peers_allow(&p, (struct sockaddr *)&a));
	assert_false(peers_allow(&p, (struct sockaddr *)&b));
	/* not IPv4 at all: refused when a list is set */
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	assert_false(peers_allow(&p, (struct sockaddr *)&u));
}

static void an_empty_list_allows_all(void **state)
{
	(void)state;
	peers p;
	char err[128];
	assert_int_equal(peers_parse("", &p, err, sizeof err), 0);
	assert_int_equal(peers_parse("  ", &p, err, sizeof err), 0);
	assert_int_equal(p.n, 0);
	struct sockaddr_in a = v4("192.0.2.7");
	assert_true(peers_allow(&p, (struct sockaddr *)&a));
}

static void mistakes_are_named(void **state)
{
	(void)state;
	peers p;
	char err[128];
	const char *bad[] = { "10.0.0.1,", "10.0.0.256", "web1", "10.0.0.1,,10.0.0.2", "::1", "10.0.0.1/24" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(peers_parse(bad[i], &p, err, sizeof err), -1);
		assert_non_null(strstr(err, "bad address"));
	}
	assert_int_equal(peers_parse("web1", &p, err, sizeof err), -1);
	assert_string_equal(err, "bad address 'web1' (IPv4, e.g. 10.0.0.1)");
	char many[512] = "";
	for (int i = 0; i <= PEERS_MAX; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%s10.0.0.%d", i ? "," : "", i + 1);
	assert_int_equal(peers_parse(many, &p, err, sizeof err), -1);
	assert_string_equal(err, "at most 16 addresses");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listed_peers_only),
		cmocka_unit_test(an_empty_list_allows_all),
		cmocka_unit_test(mistakes_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
