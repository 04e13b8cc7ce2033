/*
 * port_registry.c - see port_registry.h. The same algorithm as free_port() in
 * tests/e2e/conftest.py: keep the two in step.
 */
#include "port_registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

enum { PORT_LO = 17000, PORT_HI = 22999 };

static int port_bindable(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

uint16_t port_registry_take(void)
{
	char path[256], buf[16] = "";
	const char *env = getenv("ACTORD_TEST_PORTS_FILE");
	uint16_t port = 0;
	long cursor;
	ssize_t n;
	int fd;

	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "/tmp/actord-test-ports-%u", (unsigned)getuid());
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		fprintf(stderr, "port_registry: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	cursor = n > 0 ? strtol(buf, NULL, 10) : PORT_LO;
	for (int tries = 0; tries <= PORT_HI - PORT_LO; tries++) {
		cursor = cursor >= PORT_HI || cursor < PORT_LO ? PORT_LO : cursor + 1;
		if (port_bindable((uint16_t)cursor)) {
			port = (uint16_t)cursor;
			break;
		}
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", cursor);
	if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) != 0)
		fprintf(stderr, "port_registry: %s: %s\n", path, strerror(errno));
	close(fd); /* releases the lock */
	if (!port)
		fprintf(stderr, "port_registry: no free port in %d-%d\n", PORT_LO, PORT_HI);
	return port;
}
