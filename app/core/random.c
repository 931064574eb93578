#include "core/random.h"

#include <errno.h>
#include <sys/random.h>

int random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int random_cart_id(char out[CART_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	if (random_bytes(raw, sizeof raw) != 0)
		return -1;
	for (size_t i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

uint32_t random_below(uint32_t bound)
{
	uint32_t v = 0;
	if (bound == 0 || random_bytes(&v, sizeof v) != 0)
		return 0;
	return v % bound;
}
