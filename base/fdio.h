/*
 * fdio.h - write(2) until everything is written, retrying interrupted
 * calls, for the few places that write a descriptor directly (the log
 * sink, the daemon's start-up pipe). A write that fails is abandoned:
 * there is nowhere left to report it. Async-signal-safe.
 *
 * Thread: any.
 */
#ifndef ACTORD_BASE_FDIO_H
#define ACTORD_BASE_FDIO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

static inline void fd_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

#endif
