#include "http/response.h"

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
	http_response_free(r);
	http_response_init(r);
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

int http_send(FCGX_Request *fr, http_response *r, const char *request_id, const char *mode)
{
	size_t len;
	const char *body = resp_body_text(r, &len);
	if (r->status >= 400)
		r->set_cookie[0] = '\0'; /* whatever the path to an error answer */
	/* libfcgi's own printf knows few formats: build the head with ours. */
	char head[1024];
	int n = snprintf(head, sizeof head, "Status: %d %s\r\nContent-Type: %s\r\nX-Stock-Mode: %s\r\n%s%s%s%s%s%s%s%s%s"
			 "Content-Length: %zu\r\n\r\n",
			 r->status, http_status_text(r->status), r->content_type, mode,
			 safe_token(request_id) ? "X-Request-Id: " : "", safe_token(request_id) ? request_id : "",
			 safe_token(request_id) ? "\r\n" : "", r->set_cookie[0] ? "Set-Cookie: " : "", r->set_cookie,
			 r->set_cookie[0] ? "\r\n" : "", r->allow[0] ? "Allow: " : "", r->allow, r->allow[0] ? "\r\n" : "",
			 len);
	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	if (FCGX_PutStr(head, n, fr->out) != n)
		return -1;
	if (len > 0 && FCGX_PutStr(body, (int)len, fr->out) != (int)len)
		return -1;
	return 0;
}
