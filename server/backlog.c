/*
 * backlog.c - the listen backlog the kernel really grants (backlog.h).
 *
 * Thread: the controlling thread.
 */
#include <stdio.h>

#include "backlog.h"
#include "actors/log.h"

#define SOMAXCONN_PATH "/proc/sys/net/core/somaxconn"

/* net.core.somaxconn, or -1 when /proc does not say. */
static long somaxconn(void)
{
	FILE *f = fopen(SOMAXCONN_PATH, "re");
	long v = -1;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld", &v) != 1 || v < 0)
		v = -1;
	fclose(f);
	return v;
}

void backlog_log(uint32_t configured)
{
	long max = somaxconn();

	if (max < 0 || (unsigned long)max >= configured)
		return;
	log_info("listen backlog: %ld, not http.backlog %u: the kernel caps it at "
		 "net.core.somaxconn; beyond %ld connections not yet accepted, a burst's "
		 "SYNs are dropped and retried after 1 s, 3 s (raise it: sysctl -w "
		 "net.core.somaxconn=%u)", max, configured, max, configured);
}
