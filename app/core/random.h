#ifndef STK_RANDOM_H
#define STK_RANDOM_H
#include <stddef.h>
#include <stdint.h>

/* Fill buf from the OS random source; 0 on success, -1 on failure. */
int random_bytes(void *buf, size_t len);
/* A new cart id: 128 random bits as 32 lowercase hex characters + NUL. */
int random_cart_id(char out[33]);
/* A uniform-ish value in [0, bound) for jitter; not for secrets. */
uint32_t random_below(uint32_t bound);

#endif
