/* libFuzzer target: GET /api/stock?ids=... (app/api/stock.c) and GET
 * /api/products?after=&limit= (app/api/products.c): the data is
 * the QUERY_STRING nginx passes, NUL-terminated as libfcgi gives it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define MAX_IDS 100 /* STOCK_LIST_MAX */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	char *q = malloc(size + 1);
	CHECK(q != NULL);
	memcpy(q, data, size);
	q[size] = '\0';
	/* Exactly MAX_IDS slots, heap-allocated: ASan sees a write past them. */
	int64_t *ids = malloc(MAX_IDS * sizeof *ids);
	CHECK(ids != NULL);
	int n = parse_id_list(q, "ids", ids, MAX_IDS);
	CHECK(n >= -1 && n <= MAX_IDS);
	for (int i = 0; i < n; i++)
		CHECK(ids[i] >= 1);
	/* Another name, as a second caller would use it. */
	n = parse_id_list(q, "product_ids", ids, 3);
	CHECK(n >= -1 && n <= 3);
	free(ids);
	/* The product list's numbers: in range when accepted, untouched when not. */
	int64_t v = -7;
	int rc = query_int(q, "after", 0, INT64_MAX, &v);
	CHECK(rc == FIELD_OK ? v >= 0 : v == -7);
	v = -7;
	rc = query_int(q, "limit", 1, 100, &v);
	CHECK(rc == FIELD_OK ? v >= 1 && v <= 100 : v == -7);
	CHECK(rc == FIELD_OK || rc == FIELD_MISSING || rc == FIELD_BAD);
	free(q);
	return 0;
}
