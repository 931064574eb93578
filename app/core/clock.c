#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t clock_read(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return 0; /* cannot fail for these clocks on Linux */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_now_ms(void) { return clock_read(CLOCK_REALTIME); }
int64_t clock_mono_ms(void) { return clock_read(CLOCK_MONOTONIC); }

int64_t clock_mono_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_format_ms(int64_t epoch_ms, char out[25])
{
	time_t secs = (time_t)(epoch_ms / 1000);
	int ms = (int)(epoch_ms % 1000);
	struct tm tm;
	if (epoch_ms < 0 || gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, 25, "1970-01-01T00:00:00.000Z");
		return;
	}
	/* Years past 9999 do not fit the 24 characters: clamp, never truncate mid-field. */
	char buf[64];
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900 > 9999 ? 9999 : tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	memcpy(out, buf, 24);
	out[24] = '\0';
}
