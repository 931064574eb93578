/* core/scoreboard.h: the last refused reload, as the master records it and
 * the status page reads it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/scoreboard.h"

static void no_refusal_until_one_is_recorded(void **state)
{
	(void)state;
	scoreboard *sb = scoreboard_create();
	assert_non_null(sb);
	assert_int_equal(atomic_load(&sb->last_reload_ok), 1);
	int64_t at = -1;
	char msg[SB_NOTE_LEN] = "x";
	scoreboard_last_refusal(sb, &at, msg, sizeof msg);
	assert_int_equal(at, 0);
	assert_string_equal(msg, "");
}

static void the_last_refusal_wins(void **state)
{
	(void)state;
	scoreboard *sb = scoreboard_create();
	assert_non_null(sb);
	scoreboard_set_refusal(sb, 1000, "stockd.conf: line 2: WORKERS must be an integer in 1..256");
	scoreboard_set_refusal(sb, 2000, "stockd.conf: line 9: unknown setting WORKER");
	int64_t at;
	char msg[SB_NOTE_LEN];
	scoreboard_last_refusal(sb, &at, msg, sizeof msg);
	assert_int_equal(at, 2000);
	assert_string_equal(msg, "stockd.conf: line 9: unknown setting WORKER");
}

/* One line whatever the file named: no control character reaches the page
 * or systemd's STATUS=, and a long message is cut, never overrun. */
static void control_characters_and_length(void **state)
{
	(void)state;
	scoreboard *sb = scoreboard_create();
	assert_non_null(sb);
	scoreboard_set_refusal(sb, 1, "a\nb\tc\x7f" "d");
	int64_t at;
	char msg[SB_NOTE_LEN];
	scoreboard_last_refusal(sb, &at, msg, sizeof msg);
	assert_string_equal(msg, "a?b?c?d");

	char longer[SB_NOTE_LEN * 2];
	memset(longer, 'x', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	scoreboard_set_refusal(sb, 3, longer);
	scoreboard_last_refusal(sb, &at, msg, sizeof msg);
	assert_int_equal(strlen(msg), SB_NOTE_LEN - 1);
	char small[8];
	scoreboard_last_refusal(sb, &at, small, sizeof small);
	assert_string_equal(small, "xxxxxxx");
	assert_int_equal(at, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_refusal_until_one_is_recorded),
		cmocka_unit_test(the_last_refusal_wins),
		cmocka_unit_test(control_characters_and_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
