/*
 * The service manager's side doors, spoken without libsystemd: socket
 * activation (listening sockets passed as descriptors 3, 4, ... with
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, as sd_listen_fds(3) documents)
 * and readiness (datagrams to NOTIFY_SOCKET, as sd_notify(3) documents).
 * Without a service manager every function here does nothing.
 */
#ifndef SOCKBROKER_SYSTEMD_H
#define SOCKBROKER_SYSTEMD_H

#include <stddef.h>

/* The first descriptor the service manager passes. */
#define SYSTEMD_LISTEN_FDS_START 3

/* How many listening sockets were passed to this process (LISTEN_PID is
 * ours): 0 when none. */
unsigned systemd_listen_count(void);

/* The name of passed socket `index` (FileDescriptorName=), or "" when it
 * has none. The result lives in `buf`. */
const char *systemd_listen_name(unsigned index, char *buf, size_t len);

/* Forget the passed sockets' variables, so that children do not inherit
 * them. */
void systemd_listen_done(void);

/* Tell the service manager `state` ("READY=1", "STOPPING=1", "STATUS=...").
 * Returns 0, or -errno when NOTIFY_SOCKET is set but cannot be told. */
int systemd_notify(const char *state);

#endif
