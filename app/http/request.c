#include "http/request.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *param(FCGX_Request *fr, const char *name)
{
	const char *v = FCGX_GetParam(name, fr->envp);
	return v ? v : "";
}

void http_request_init(http_request *r, FCGX_Request *fr)
{
	memset(r, 0, sizeof *r);
	r->method = param(fr, "REQUEST_METHOD");
	r->path = param(fr, "DOCUMENT_URI");
	r->query = param(fr, "QUERY_STRING");
	r->content_type = param(fr, "CONTENT_TYPE");
	r->content_length = param(fr, "CONTENT_LENGTH");
	r->has_idempotency_key = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", fr->envp) != NULL;
	r->idempotency_key = param(fr, "HTTP_IDEMPOTENCY_KEY");
	r->authorization = param(fr, "HTTP_AUTHORIZATION");
	r->remote_addr = param(fr, "REMOTE_ADDR");
	r->request_id = param(fr, "REQUEST_ID");
	r->stock_mode = param(fr, "STOCK_MODE");
	r->origin = param(fr, "HTTP_ORIGIN");
	r->has_cors_request_method = FCGX_GetParam("HTTP_ACCESS_CONTROL_REQUEST_METHOD", fr->envp) != NULL;
	r->cors_request_method = param(fr, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
}

void http_request_free(http_request *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

int http_parse_content_length(const char *s, size_t max, size_t *out)
{
	*out = 0;
	if (s == NULL || *s == '\0')
		return 0;
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		/* Stop counting once past max: no overflow, whatever the length. */
		if (n <= max)
			n = n * 10 + (size_t)(*p - '0');
	}
	if (n > max)
		return 1;
	*out = n;
	return 0;
}

static void drain(FCGX_Request *fr)
{
	char buf[8192];
	size_t total = 0;
	int n;
	while (total < HTTP_MAX_DRAIN && (n = FCGX_GetStr(buf, sizeof buf, fr->in)) > 0)
		total += (size_t)n;
}

int http_request_read_body(http_request *r, FCGX_Request *fr)
{
	size_t len;
	int rc = http_parse_content_length(r->content_length, HTTP_MAX_BODY, &len);
	if (rc < 0)
		return BODY_BAD;
	if (rc > 0) {
		drain(fr);
		return BODY_TOO_LARGE;
	}
	r->body = malloc(len + 1);
	if (r->body == NULL)
		abort();
	size_t got = 0;
	while (got < len) {
		int n = FCGX_GetStr(r->body + got, (int)(len - got), fr->in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	r->body[got] = '\0';
	r->body_len = got;
	return got == len ? BODY_OK : BODY_BAD;
}

static int token_eq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

int http_check_json_type(const char *ct)
{
	if (ct == NULL || *ct == '\0')
		return 0; /* contract: a missing Content-Type is read as JSON */
	const char *end = ct + strcspn(ct, ";");
	const char *a = ct, *b = end;
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if (!token_eq(a, (size_t)(b - a), "application/json"))
		return -1;
	/* Parameters: only charset, and only UTF-8. */
	while (*end == ';') {
		const char *p = end + 1;
		end = p + strcspn(p, ";");
		while (p < end && isspace((unsigned char)*p))
			p++;
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			return -1;
		const char *k2 = eq;
		while (k2 > p && isspace((unsigned char)k2[-1]))
			k2--;
		if (!token_eq(p, (size_t)(k2 - p), "charset"))
			continue; /* other parameters do not change the encoding */
		const char *v = eq + 1, *ve = end;
		while (v < ve && isspace((unsigned char)*v))
			v++;
		while (ve > v && isspace((unsigned char)ve[-1]))
			ve--;
		if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
			v++, ve--;
		if (!token_eq(v, (size_t)(ve - v), "utf-8") && !token_eq(v, (size_t)(ve - v), "utf8"))
			return -1;
	}
	return 0;
}
