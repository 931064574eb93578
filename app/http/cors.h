#ifndef STK_CORS_H
#define STK_CORS_H
#include <stdbool.h>

#include "http/request.h"

/* CORS for the shop's pages on other origins (ALLOWED_ORIGINS). */

/* What a page may read and send. Credentials are never allowed: a page on
 * another origin names its cart with X-Cart-Id, not with cookies, which
 * browsers increasingly refuse to send across sites anyway. */
#define CORS_EXPOSE_HEADERS "X-Stock-Mode, X-Request-Id"
#define CORS_ALLOW_HEADERS "Content-Type, Idempotency-Key, X-Cart-Id"
/* Seconds a browser may keep a preflight's answer: short enough that a
 * removed origin stops working within minutes. */
#define CORS_MAX_AGE "600"

/* Whether the shop API at this path is open to CORS at all: /api/ except
 * the operator routes under /api/admin, which no shop page calls. */
bool cors_path(const char *path);

/* The request's Origin is in the normalised list and the path is open to
 * CORS. An empty list allows nothing. */
bool cors_allowed(const char *allowed_origins, const http_request *r);

/* A preflight: OPTIONS with Origin and Access-Control-Request-Method. */
bool cors_is_preflight(const http_request *r);

#endif
