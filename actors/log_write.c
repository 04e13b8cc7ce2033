/*
 * log_write.c - the log's writes to its files: whole, or counted as lost
 * (docs in log.c's DESIGN: a failed write is not retried; a pipe, socket
 * or terminal is written in whole lines up to PIPE_BUF, each once poll(2)
 * says it fits, and a reader that takes nothing for LOG_STALL_MS loses the
 * lines).
 *
 * Thread: the log actor while it runs, else the thread writing a line
 * itself; the counters are atomics any thread reads.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "log_internal.h"
#include "base/fdio.h"

/* Lines a failed write(2) lost, and the last such errno. Written by the
 * log actor, or by any thread while it does not run; relaxed: a count and
 * a reason for a warning, nothing hangs off them. */
static _Atomic uint64_t g_lost;
static _Atomic int g_lost_errno;
/* The descriptor whose reader last let LOG_STALL_MS pass without taking
 * anything (-1: none): later writes to it do not wait again until one
 * gets through, so a stalled reader costs one wait, not one per flush.
 * Relaxed: a hint for a timeout. */
static _Atomic int g_stalled_fd = -1;

uint64_t log_lost_total(void)
{
	return atomic_load_explicit(&g_lost, memory_order_relaxed);
}

int log_lost_errno(void)
{
	return atomic_load_explicit(&g_lost_errno, memory_order_relaxed);
}

unsigned log_count_lines(const char *p, size_t len)
{
	unsigned n = 0;

	for (const char *nl; (nl = memchr(p, '\n', len)) != NULL; n++) {
		len -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	return n;
}

bool log_is_stream(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
}

size_t log_write_bytes(int fd, const char *p, size_t len, bool stream)
{
	size_t done = 0;

	if (!stream)
		return fd_write_all(fd, p, len);
	/* One write(2) per poll(2): a second could block on what the first
	 * left no room for. */
	while (done < len) {
		size_t chunk = len - done;
		struct pollfd pfd = { fd, POLLOUT, 0 };
		bool stalled = atomic_load_explicit(&g_stalled_fd, memory_order_relaxed) == fd;
		int r = poll(&pfd, 1, stalled ? 0 : LOG_STALL_MS);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0) {
				atomic_store_explicit(&g_stalled_fd, fd, memory_order_relaxed);
				errno = ETIMEDOUT;
			}
			break;
		}
		if (stalled)
			atomic_store_explicit(&g_stalled_fd, -1, memory_order_relaxed);
		if (chunk > PIPE_BUF) {
			/* Whole lines, so that another writer of the same pipe (the
			 * other process during an upgrade) never lands inside one:
			 * writes up to PIPE_BUF are atomic. */
			const char *nl = memrchr(p + done, '\n', PIPE_BUF);

			chunk = nl != NULL ? (size_t)(nl + 1 - (p + done)) : PIPE_BUF;
		}
		n = fd_write_once(fd, p + done, chunk);
		if (n < 0 && errno == EINTR)
			continue;       /* poll again: the next write could block */
		if (n < 0)
			break;
		done += (size_t)n;
	}
	return done;
}

void log_lose(unsigned lines, int err)
{
	atomic_store_explicit(&g_lost_errno, err, memory_order_relaxed);
	atomic_fetch_add_explicit(&g_lost, lines, memory_order_relaxed);
}

size_t log_write_lines(int fd, const char *p, size_t len, bool stream)
{
	size_t done = log_write_bytes(fd, p, len, stream);

	if (done < len)
		log_lose(log_count_lines(p + done, len - done), errno);
	return done;
}
