/*
 * fdlimit.h - file descriptors: raise RLIMIT_NOFILE at start to what the
 * configuration needs, as Redis does, and tell how many public
 * connections fit in what was obtained.
 *
 * DESIGN
 * A shell's default soft limit (1024) is far below http.max_connections,
 * and accept(2) failing with EMFILE also starves everything else that
 * opens descriptors (a reconnect to MariaDB, a reopened log). So at start
 * actord asks for http.max_connections + admin.max_connections + what
 * its own threads and backends hold (fdlimit_reserve): first soft and
 * hard together (allowed with CAP_SYS_RESOURCE, e.g. as root), else the
 * soft limit up to the hard one. If that still falls short, the public
 * connection budget becomes what fits (net_add_pools' `conn_cap`): past
 * it actord stops accepting, so new connections wait in the kernel's
 * backlog instead of failing, and the reserve stays free for the rest.
 *
 * Thread: the controlling thread, before any actor starts.
 */
#ifndef ACTORD_FDLIMIT_H
#define ACTORD_FDLIMIT_H

#include <stdint.h>

#include "config/config.h"

struct fdlimit {
	uint64_t before;        /* soft limit found at start */
	uint64_t hard;          /* hard limit after the attempt */
	uint64_t need;          /* what the configuration asks for */
	uint64_t got;           /* soft limit now */
	uint64_t reserve;       /* of `need`: threads, listeners, backends, files */
	uint32_t conn_cap;      /* public connections that fit; 0: no cap needed */
};

/* Descriptors actord holds besides client connections, for `cfg`. */
uint64_t fdlimit_reserve(const struct ad_config *cfg);

/* Raise the limit for `cfg` and fill `out`. Never fails: what could not
 * be obtained shows in out->got and out->conn_cap. */
void fdlimit_raise(const struct ad_config *cfg, struct fdlimit *out);

/* One log line: info when enough was obtained, a warning with the numbers
 * when not. Thread: any (after the log actor started). */
void fdlimit_log(const struct fdlimit *f, const struct ad_config *cfg);

#endif
