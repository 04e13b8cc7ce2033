/*
 * backlog.h - the listen backlog the kernel really grants.
 *
 * DESIGN
 * listen(2) silently caps http.backlog at net.core.somaxconn (4096 on
 * Debian 12, against the shipped 65535), and the difference decides what
 * a burst of new connections meets: beyond the backlog the kernel drops
 * their SYNs and clients retry after 1 s, then 3 s. So at start actord
 * says what it got and the sysctl that raises it, as Redis does for its
 * tcp-backlog.
 *
 * Thread: the controlling thread, at start.
 */
#ifndef ACTORD_BACKLOG_H
#define ACTORD_BACKLOG_H

#include <stdint.h>

/* Log (info) that `configured` (http.backlog) is capped, with the
 * numbers, when net.core.somaxconn is lower; nothing otherwise. */
void backlog_log(uint32_t configured);

#endif
