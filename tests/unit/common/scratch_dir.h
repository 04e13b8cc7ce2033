/*
 * scratch_dir.h - a scratch directory for the tests of the daemon, the log
 * and signals: made by the group setup, removed with everything in it by
 * the group teardown, and a way to read back a file written there.
 *
 * Thread: the test thread, or one thread at a time (scratch_slurp shares
 * one buffer).
 */
#ifndef ACTORD_TEST_SCRATCH_DIR_H
#define ACTORD_TEST_SCRATCH_DIR_H

/* /tmp/actord-PROGRAM-XXXXXX once made (PROGRAM: this test program). */
extern char scratch_dir[64];

/* cmocka group setup: make scratch_dir. 0, or -1 with nothing made. */
int scratch_dir_setup(void **state);
/* cmocka group teardown: remove scratch_dir and everything in it. */
int scratch_dir_teardown(void **state);

/* The contents of `path` (at most 1 MiB), "" if it cannot be read. The
 * buffer is overwritten by the next call. */
char *scratch_slurp(const char *path);

#endif
