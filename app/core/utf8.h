#ifndef STK_UTF8_H
#define STK_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* The one UTF-8 decoder: the sequence at p (avail bytes there, avail >= 1).
 * Returns its length (1 to 4) and stores its code point in *cp, or 0 if it is
 * not valid UTF-8: truncated, a bad continuation byte, an overlong form, a
 * surrogate, or past U+10FFFF (RFC 3629). */
size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp);

#endif
