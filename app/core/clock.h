#ifndef STK_CLOCK_H
#define STK_CLOCK_H
#include <stddef.h>
#include <stdint.h>

/* Wall clock in epoch milliseconds: hold expiry is stored in this unit. */
int64_t clock_now_ms(void);
/* Monotonic milliseconds: for timeouts and durations, immune to clock steps. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T16:40:00.000Z; out >= 25 bytes. */
void clock_format_ms(int64_t epoch_ms, char out[25]);

#endif
