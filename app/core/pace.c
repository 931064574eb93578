#include "core/pace.h"

#include <assert.h>

int64_t pace_next_start(int64_t started_ms, int64_t ended_ms, int64_t period_ms, int share_pct)
{
	assert(share_pct > 0 && share_pct <= 100 && ended_ms >= started_ms && period_ms >= 0);
	int64_t took = ended_ms - started_ms;
	int64_t by_period = started_ms + period_ms;
	int64_t by_share = ended_ms + took * (100 - share_pct) / share_pct;
	return by_period > by_share ? by_period : by_share;
}
