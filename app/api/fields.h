#ifndef STK_FIELDS_H
#define STK_FIELDS_H
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"

/* Body fields the cart and stock routes share. Each returns 0, or -1 after
 * answering 400 invalid_request naming the field. */
int need_cart_id(api_ctx *c, const char **cart_id);
int need_product_id(api_ctx *c, int64_t *id);
/* required: missing is an error; otherwise missing leaves *q = 0. */
int need_quantity(api_ctx *c, bool required, int64_t *q);
int opt_flag(api_ctx *c, const char *name, bool *flag);

#endif
