#ifndef STK_LISTEN_H
#define STK_LISTEN_H

/* Open the listening socket the workers share. spec: "unix:/path" (mode
 * 0660, group `group` if given) or "127.0.0.1:port" (loopback only: the
 * FastCGI socket must never face the network). Returns the fd or -1 with a
 * message in err. */
int listen_open(const char *spec, const char *group, char *err, unsigned errlen);
/* Remove a unix socket's path at shutdown. */
void listen_cleanup(const char *spec);

#endif
