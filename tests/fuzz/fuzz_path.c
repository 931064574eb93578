/* libFuzzer target: the routing table and the path parameters.
 * First byte: the method (GET, POST, DELETE by its value mod 3); the rest:
 * DOCUMENT_URI, NUL-terminated as libfcgi gives it. A route with a {}
 * segment hands its parameter to parse_product_id (products, admin stock)
 * and valid_cart_id (GET /api/cart/{id}), as the handlers do. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "http/router.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 20)
		return 0;
	static const char *methods[] = { "GET", "POST", "DELETE" };
	const char *method = methods[data[0] % 3];
	size_t len = size - 1;
	char *path = malloc(len + 1);
	CHECK(path != NULL);
	memcpy(path, data + 1, len);
	path[len] = '\0';
	size_t plen = strlen(path); /* an embedded NUL ends the C string */

	route_match m = router_match(method, path);
	CHECK(m.status == 0 || m.status == 404 || m.status == 405);
	CHECK(memchr(m.allow, '\0', sizeof m.allow) != NULL);
	if (m.status == 405)
		CHECK(m.allow[0] != '\0');
	if (m.status == 0) {
		CHECK(m.id < ROUTE_COUNT);
		CHECK(strcmp(route_method(m.id), method) == 0);
		CHECK(route_name(m.id)[0] != '\0');
		(void)route_is_operator(m.id);
		(void)route_is_write(m.id);
		if (m.param != NULL) {
			CHECK(m.param >= path && m.param + m.param_len <= path + plen);
			CHECK(m.param_len > 0 && memchr(m.param, '/', m.param_len) == NULL);
			int64_t id = 0;
			if (parse_product_id(m.param, m.param_len, &id))
				CHECK(id >= 1);
			(void)valid_cart_id(m.param, m.param_len);
		} else {
			CHECK(m.param_len == 0);
		}
	}
	free(path);
	return 0;
}
