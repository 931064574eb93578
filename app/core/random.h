#ifndef STK_RANDOM_H
#define STK_RANDOM_H
#include <stddef.h>
#include <stdint.h>

/* Fill buf from the OS random source; 0 on success, -1 on failure. */
int random_bytes(void *buf, size_t len);
/* A cart id: 128 random bits as CART_ID_LEN lowercase hex characters. */
#define CART_ID_LEN 32
/* A new cart id + NUL. */
int random_cart_id(char out[CART_ID_LEN + 1]);
/* A uniform-ish value in [0, bound) for jitter; not for secrets. */
uint32_t random_below(uint32_t bound);

#endif
