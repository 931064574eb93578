#ifndef STK_ACCESS_H
#define STK_ACCESS_H
#include <stdbool.h>

#include "core/config.h"
#include "http/router.h"

/* Who may call an operator route (route_is_operator), the one place that
 * decides it:
 *   - Authorization: Bearer ADMIN_TOKEN: every operator route;
 *   - Bearer METRICS_TOKEN: /metrics and /status only (read-only, for a
 *     Prometheus on another host);
 *   - a loopback REMOTE_ADDR without a token: only while TRUST_LOOPBACK is
 *     on. Beside PHP-FPM (same user as nginx's workers) or behind a proxy on
 *     the same host, loopback says nothing about who is calling, so the
 *     production layout turns it off (docs/operations.md).
 * An unset (empty) token never matches. Token comparisons take constant
 * time in the length of the token. */
bool access_operator_allowed(const stk_config *cfg, route_id route, const char *remote_addr,
			     const char *authorization);

/* Whether a FastCGI REMOTE_ADDR is a loopback address (127/8, ::1, and
 * 127/8 mapped into IPv6). */
bool access_is_loopback(const char *addr);

#endif
