#ifndef STK_LISTEN_H
#define STK_LISTEN_H

/* Open the listening socket the workers share. spec: "unix:/path" (mode
 * 0660, group `group` if given) or "ADDRESS:port" on one IPv4 address,
 * never all of them; off loopback only with LISTEN_ALLOW's peers (allow),
 * which the workers check on every connection (core/peers.h). Returns the
 * fd or -1 with a message in err. */
int listen_open(const char *spec, const char *group, const char *allow, char *err, unsigned errlen);
/* listen_open's checks of spec and allow, without opening anything: for a
 * socket inherited from the master before an upgrade. */
int listen_check(const char *spec, const char *allow, char *err, unsigned errlen);
/* Remove a unix socket's path at shutdown. */
void listen_cleanup(const char *spec);

#endif
