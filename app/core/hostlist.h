#ifndef STK_HOSTLIST_H
#define STK_HOSTLIST_H
#include <stddef.h>

/* DB_HOST: one database server, or the ordered nodes of a cluster
 * ("10.0.0.11,10.0.0.12:3307,[fd00::13]"). Every app host that lists the
 * nodes in the same order writes to one node at a time (docs/scaling.md):
 * the first that answers and is ready, on every (re)connect. */

#define HOSTLIST_MAX 8

typedef struct {
	char host[256];
	unsigned port;
} host_entry;

/* Split list into out[0..max): entries separated by commas, blanks around
 * them ignored, each "host", "host:port", "[v6]" or "[v6]:port"; an entry
 * without a port gets default_port. The count (at least 1), or -1 with a
 * message naming the bad entry in err: an empty entry, a bad port, more
 * than max entries, a host too long. */
int hostlist_parse(const char *list, unsigned default_port, host_entry *out, size_t max, char *err, size_t errlen);

#endif
