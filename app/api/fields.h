#ifndef STK_FIELDS_H
#define STK_FIELDS_H
#include <stdbool.h>

#include "api/api.h"

/* Body fields the cart and stock routes share, read into c->cmd. Each
 * returns API_GO_ON, or API_ANSWERED after answering 400 invalid_request
 * naming the field. */
int need_cart_id(api_ctx *c);
int need_product_id(api_ctx *c);
/* required: missing is an error; otherwise missing leaves quantity 0. */
int need_quantity(api_ctx *c, bool required);
int opt_moves_stock(api_ctx *c, const char *name);

#endif
