/*
 * scratch_dir.c - see scratch_dir.h. The directory is named after the
 * program (program_invocation_short_name), so a leftover one says which
 * test made it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "scratch_dir.h"

char scratch_dir[64];

int scratch_dir_setup(void **state)
{
	(void)state;
	snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/actord-%s-XXXXXX",
		 program_invocation_short_name);
	return mkdtemp(scratch_dir) == NULL ? -1 : 0;
}

int scratch_dir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch_dir);
	return system(cmd) == 0 ? 0 : -1;
}

char *scratch_slurp(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}
