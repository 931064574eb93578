#ifndef STK_PACE_H
#define STK_PACE_H
#include <stdint.h>

/* When a periodic job that reads a whole table (the audit, the live-holds
 * gauge) may start again: one period after its last start, but never
 * sooner than it keeps its work to share_pct of the time. A job that took
 * d ms waits d * (100 - share_pct) / share_pct ms after it ended, so its cost
 * stays a bounded share of the database however large the tables grow,
 * and it runs less often instead of back to back. Monotonic milliseconds;
 * 0 < share_pct <= 100. */
int64_t pace_next_start(int64_t started_ms, int64_t ended_ms, int64_t period_ms, int share_pct);

#endif
