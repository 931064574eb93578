#include "core/utf8.h"

size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t v;
	if (c < 0x80)
		n = 1, v = c;
	else if ((c & 0xe0) == 0xc0)
		n = 2, v = c & 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, v = c & 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, v = c & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || (v >= 0xd800 && v <= 0xdfff) ||
	    v > 0x10ffff)
		return 0;
	*cp = v;
	return n;
}
