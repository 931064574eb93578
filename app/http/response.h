#ifndef STK_RESPONSE_H
#define STK_RESPONSE_H
#include <stddef.h>

#include <fcgiapp.h>
#include <json-c/json.h>

/* What a handler answers. The body is either a JSON object (json, owned) or
 * ready text (text, owned, e.g. Prometheus), never both. */
typedef struct {
	int status;
	json_object *json;
	char *text;
	size_t text_len;
	const char *content_type; /* static; default JSON */
	char set_cookie[128];
	char allow[48];           /* 405: the methods the route takes */
	/* CORS (http/cors.c). cors_origin: the request's Origin when it is
	 * allowed, echoed in Access-Control-Allow-Origin (it points into the
	 * request, which outlives the answer); NULL sends no CORS header. */
	const char *cors_origin;
	int vary_origin;          /* the answer depends on Origin: Vary: Origin */
	char cors_methods[48];    /* preflight: Access-Control-Allow-Methods */
} http_response;

void http_response_init(http_response *r);
void http_response_free(http_response *r);
/* Back to the state of init, freeing the body: a request run again. */
void http_response_reset(http_response *r);

/* Replace the body with a JSON object (takes ownership). */
void resp_json(http_response *r, int status, json_object *body);

/* The one error shape: {"error":{"code","message",...}}. Returns the error
 * object so callers can add details ("field", "available", "items"). An
 * error answer never carries a Set-Cookie (this drops one set before). */
json_object *resp_error(http_response *r, int status, const char *code, const char *message);
void resp_error_field(http_response *r, const char *field, const char *message);

/* Serialise the body to text (once): the form that is sent and stored. */
const char *resp_body_text(http_response *r, size_t *len);

const char *http_status_text(int status);

/* Set the answer's cookie: name=value with the attributes every stockd
 * cookie carries (Path=/; HttpOnly; SameSite=Lax), plus Secure when the
 * request came over HTTPS, so that a browser never sends it back over plain
 * HTTP. 0, or -1 (nothing set) if it does not fit. */
int resp_set_cookie(http_response *r, const char *name, const char *value, int secure);

/* Write status, headers and body to nginx. */
int http_send(FCGX_Request *fr, http_response *r, const char *request_id, const char *mode);

#endif
