#ifndef STK_REQUEST_H
#define STK_REQUEST_H
#include <stddef.h>

#include <fcgiapp.h>

#include "core/result.h"

/* Bodies larger than this are refused with 413 (contract: 64 KiB). */
#define HTTP_MAX_BODY 65536
/* Bytes drained from a refused body, so nginx is never cut off mid-send;
 * nginx's client_max_body_size stops anything larger before it gets here. */
#define HTTP_MAX_DRAIN (1024 * 1024)

/* One request, as nginx passed it. Strings point into libfcgi's parameter
 * storage (valid until FCGX_Finish_r) and are never NULL; body is owned. */
typedef struct {
	const char *method;
	const char *path;           /* DOCUMENT_URI: decoded and normalised by nginx */
	const char *query;          /* QUERY_STRING */
	const char *content_type;
	const char *content_length;
	const char *idempotency_key;
	int has_idempotency_key;
	const char *authorization;
	const char *remote_addr;
	int https;                  /* HTTPS=on: the client's connection is TLS (nginx's $stockd_https) */
	const char *request_id;     /* nginx's $request_id */
	const char *stock_mode;     /* the mode nginx's routing chose */
	const char *origin;         /* Origin: the page's origin, "" without one */
	const char *cors_request_method; /* Access-Control-Request-Method (preflight) */
	int has_cors_request_method;
	char *body;                 /* NUL-terminated for convenience; may hold NULs */
	size_t body_len;
	int body_status;            /* BODY_* from reading it */
} http_request;

/* Outcome of reading the body (the api answers 413 and 400 for them). */
enum { BODY_OK = 0, BODY_TOO_LARGE = 2001, BODY_BAD };
_Static_assert(RC_BODY(BODY_TOO_LARGE) && RC_BODY(BODY_BAD), "BODY_* in their range (core/result.h)");

void http_request_init(http_request *r, FCGX_Request *fr);
/* Reads the body per CONTENT_LENGTH: BODY_OK, BODY_TOO_LARGE or BODY_BAD
 * (malformed length, or fewer bytes than announced). */
int http_request_read_body(http_request *r, FCGX_Request *fr);
void http_request_free(http_request *r);

/* Strict CONTENT_LENGTH: digits only. 0 ok, 1 over max, -1 malformed.
 * An empty or absent value is 0 bytes. */
int http_parse_content_length(const char *s, size_t max, size_t *out);

/* 1 if the FastCGI param HTTPS says the request came over TLS ("on"). */
int http_https_param(const char *v);

/* 0 if the Content-Type is acceptable for a JSON body (absent, or
 * application/json with no charset or charset=utf-8), -1 if not. */
int http_check_json_type(const char *content_type);

#endif
