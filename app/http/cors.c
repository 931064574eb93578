#include "http/cors.h"

#include <string.h>

#include "core/origins.h"

bool cors_path(const char *path)
{
	if (strncmp(path, "/api/", 5) != 0)
		return false;
	return strcmp(path, "/api/admin") != 0 && strncmp(path, "/api/admin/", 11) != 0;
}

bool cors_allowed(const char *allowed_origins, const http_request *r)
{
	return allowed_origins[0] != '\0' && r->origin[0] != '\0' && cors_path(r->path) &&
	       origins_match(allowed_origins, r->origin, strlen(r->origin));
}

bool cors_is_preflight(const http_request *r)
{
	return strcmp(r->method, "OPTIONS") == 0 && r->origin[0] != '\0' && r->has_cors_request_method;
}
