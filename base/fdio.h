/*
 * fdio.h - write(2) until everything is written, retrying interrupted
 * calls, for the few places that write a descriptor directly (the log
 * files, the daemon's start-up pipe). A write that fails is abandoned
 * (the caller learns how much went out). Async-signal-safe.
 *
 * Thread: any.
 */
#ifndef ACTORD_BASE_FDIO_H
#define ACTORD_BASE_FDIO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* One write(2): the bytes taken (> 0), or -1 with errno set (EIO for a
 * write that took nothing; EINTR is left to the caller, which may want to
 * wait again before it writes again). */
static inline ssize_t fd_write_once(int fd, const char *p, size_t len)
{
	ssize_t n = write(fd, p, len);

	if (n == 0)
		errno = EIO;
	return n > 0 ? n : -1;
}

/* Returns the bytes written: fewer than `len` with errno set (EIO for a
 * write that took nothing) when a write failed. */
static inline size_t fd_write_all(int fd, const char *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = fd_write_once(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	return done;
}

#endif
