#include "http/response.h"
#include "http/cors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/json; charset=utf-8"

void http_response_init(http_response *r)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
	r->content_type = JSON_TYPE;
}

void http_response_free(http_response *r)
{
	if (r->json != NULL)
		json_object_put(r->json);
	free(r->text);
	r->json = NULL;
	r->text = NULL;
}

void http_response_reset(http_response *r)
{
	/* The CORS marks describe the request (its Origin), not the answer:
	 * a rerun answer is as readable to the page as the first. */
	const char *origin = r->cors_origin;
	int vary = r->vary_origin;
	http_response_free(r);
	http_response_init(r);
	r->cors_origin = origin;
	r->vary_origin = vary;
}

void resp_json(http_response *r, int status, json_object *body)
{
	if (r->json != NULL)
		json_object_put(r->json);
	free(r->text);
	r->text = NULL;
	r->json = body;
	r->status = status;
	r->content_type = JSON_TYPE;
}

json_object *resp_error(http_response *r, int status, const char *code, const char *message)
{
	json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object *top = json_object_new_object();
	json_object_object_add(top, "error", err);
	resp_json(r, status, top);
	/* An error never sets a cookie: a handler may have named a cart that
	 * the failed commit then never made. */
	r->set_cookie[0] = '\0';
	return err;
}

void resp_error_field(http_response *r, const char *field, const char *message)
{
	json_object *err = resp_error(r, 400, "invalid_request", message);
	json_object_object_add(err, "field", json_object_new_string(field));
}

const char *resp_body_text(http_response *r, size_t *len)
{
	if (r->text == NULL && r->json != NULL) {
		size_t n;
		const char *s = json_object_to_json_string_length(r->json, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
		r->text = malloc(n + 1);
		if (r->text == NULL)
			abort();
		memcpy(r->text, s, n + 1);
		r->text_len = n;
	}
	*len = r->text_len;
	return r->text ? r->text : "";
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

int resp_set_cookie(http_response *r, const char *name, const char *value, int secure)
{
	int n = snprintf(r->set_cookie, sizeof r->set_cookie, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", name, value,
			 secure ? "; Secure" : "");
	if (n < 0 || (size_t)n >= sizeof r->set_cookie) {
		r->set_cookie[0] = '\0';
		return -1;
	}
	return 0;
}

/* Only echo what looks like nginx's $request_id: never let a header value
 * carry anything else into the response. */
static int safe_token(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-')
			return 0;
	return n > 0 && n <= 64;
}

/* Append "Name: value\r\n" to head; -1 once it does not fit. */
static int put_header(char *head, size_t cap, size_t *used, const char *name, const char *value)
{
	if (*used >= cap)
		return -1;
	int n = snprintf(head + *used, cap - *used, "%s: %s\r\n", name, value);
	if (n < 0 || (size_t)n >= cap - *used) {
		*used = cap;
		return -1;
	}
	*used += (size_t)n;
	return 0;
}

int http_send(FCGX_Request *fr, http_response *r, const char *request_id, const char *mode)
{
	size_t len;
	const char *body = resp_body_text(r, &len);
	if (r->status >= 400)
		r->set_cookie[0] = '\0'; /* whatever the path to an error answer */
	/* libfcgi's own printf knows few formats: build the head with ours. */
	/* Echoed values are bounded: an Origin is echoed only when it is one of
	 * ALLOWED_ORIGINS (at most 2 KiB), request ids are at most 64 bytes. */
	char head[4096];
	size_t used = 0;
	char status[64], length[24];
	snprintf(status, sizeof status, "%d %s", r->status, http_status_text(r->status));
	snprintf(length, sizeof length, "%zu", len);
	int rc = put_header(head, sizeof head, &used, "Status", status);
	/* 204 has no body, so nothing to type. */
	if (r->status != 204)
		rc |= put_header(head, sizeof head, &used, "Content-Type", r->content_type);
	rc |= put_header(head, sizeof head, &used, "X-Stock-Mode", mode);
	if (safe_token(request_id))
		rc |= put_header(head, sizeof head, &used, "X-Request-Id", request_id);
	if (r->set_cookie[0])
		rc |= put_header(head, sizeof head, &used, "Set-Cookie", r->set_cookie);
	if (r->allow[0])
		rc |= put_header(head, sizeof head, &used, "Allow", r->allow);
	if (r->vary_origin)
		rc |= put_header(head, sizeof head, &used, "Vary", "Origin");
	if (r->cors_origin != NULL) {
		rc |= put_header(head, sizeof head, &used, "Access-Control-Allow-Origin", r->cors_origin);
		rc |= put_header(head, sizeof head, &used, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
		if (r->cors_methods[0]) {
			rc |= put_header(head, sizeof head, &used, "Access-Control-Allow-Methods", r->cors_methods);
			rc |= put_header(head, sizeof head, &used, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
			rc |= put_header(head, sizeof head, &used, "Access-Control-Max-Age", CORS_MAX_AGE);
		}
	}
	rc |= put_header(head, sizeof head, &used, "Content-Length", length);
	if (rc != 0 || used + 2 > sizeof head)
		return -1;
	memcpy(head + used, "\r\n", 2);
	used += 2;
	if (FCGX_PutStr(head, (int)used, fr->out) != (int)used)
		return -1;
	if (len > 0 && FCGX_PutStr(body, (int)len, fr->out) != (int)len)
		return -1;
	return 0;
}
