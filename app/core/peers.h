#ifndef STK_PEERS_H
#define STK_PEERS_H
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* LISTEN_ALLOW: the web servers that may open a FastCGI connection to a
 * TCP listener, as IPv4 addresses ("10.0.0.1,10.0.0.2"). FastCGI has no
 * authentication and the app trusts the parameters its peer sends
 * (REMOTE_ADDR among them), so a listener off loopback must know its peers. */

#define PEERS_MAX 16

typedef struct {
	size_t n;
	struct in_addr addr[PEERS_MAX];
} peers;

/* Parse list (blanks around commas ignored). 0, or -1 with a message naming
 * the bad entry in err. An empty list parses to no peers. */
int peers_parse(const char *list, peers *out, char *err, size_t errlen);

/* Whether a connection from sa may be served: any peer when the list is
 * empty (a loopback or unix listener), else an IPv4 peer on the list. */
bool peers_allow(const peers *p, const struct sockaddr *sa);

#endif
