#ifndef STK_ORIGINS_H
#define STK_ORIGINS_H
#include <stdbool.h>
#include <stddef.h>

/* ALLOWED_ORIGINS: the web origins whose pages may call the API from a
 * browser (CORS). A comma-separated list of serialised origins, exactly as
 * a browser sends them in its Origin header: scheme "://" host [":" port],
 * http or https, lowercase, no default port, no path, no wildcard. */

/* Check and normalise a list (spaces around commas dropped) into out. An
 * empty or all-blank list is valid and means none. 0, or -1 with a message
 * naming the first bad entry in err. */
int origins_normalize(const char *list, char *out, size_t outlen, char *err, size_t errlen);

/* Whether origin (len bytes, as the request carries it) is exactly one of
 * a normalised list's entries. Byte for byte: no case folding, no
 * trimming, since browsers send the serialised form. */
bool origins_match(const char *list, const char *origin, size_t len);

#endif
