/*
 * log_internal.h - what log.c and log_write.c share: the writes to the
 * log files and the count of lines they lost.
 *
 * Thread: see log_write.c.
 */
#ifndef ACTORD_LOG_INTERNAL_H
#define ACTORD_LOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* A pipe, socket or terminal whose reader takes nothing for this long
 * loses the lines (ETIMEDOUT): the log actor must get on, and stop. */
#define LOG_STALL_MS 1000

/* Newlines in p[0..len). */
unsigned log_count_lines(const char *p, size_t len);
/* True if a write(2) to `fd` may block (not a regular file). */
bool log_is_stream(int fd);
/* Write all of `p` to `fd`. `stream`: log_is_stream(fd), so wait for room
 * at most LOG_STALL_MS per piece. Returns the bytes written; fewer than
 * `len` with errno set on failure. */
size_t log_write_bytes(int fd, const char *p, size_t len, bool stream);
/* Count `lines` lines lost to `err`. */
void log_lose(unsigned lines, int err);
/* log_write_bytes, counting the lines a failure loses. */
size_t log_write_lines(int fd, const char *p, size_t len, bool stream);
/* The errno of the last lost write (0: none yet). */
int log_lost_errno(void);

#endif
