#ifndef STK_NOTIFY_H
#define STK_NOTIFY_H

/* systemd's readiness protocol (Type=notify), without libsystemd: one
 * datagram to $NOTIFY_SOCKET. A no-op when not run by systemd. The master
 * sends READY=1 once its workers accept, RELOADING=1 / READY=1 around a
 * reload, STOPPING=1, and on a binary upgrade the new master sends
 * MAINPID= so systemd follows it (NotifyAccess=all). */
void notify_systemd(const char *state);

#endif
