/*
 * redis_server.c - see redis_server.h. The server is a child process
 * (fork + exec of redis-server from PATH); readiness is a successful
 * connect to its port, polled every millisecond for at most 5 s.
 */
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_server.h"
#include "tests/unit/common/port_registry.h"

static int port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

void redis_server_init(struct redis_server *rs, const char *name)
{
	rs->pid = 0;
	snprintf(rs->dir, sizeof(rs->dir), "/tmp/actord-test-%s-XXXXXX", name);
	assert_non_null(mkdtemp(rs->dir));
	rs->port = port_registry_take();
	assert_int_not_equal(rs->port, 0);
	redis_server_start(rs);
}

void redis_server_start(struct redis_server *rs)
{
	char port[16], log[96];

	snprintf(port, sizeof(port), "%d", rs->port);
	snprintf(log, sizeof(log), "%s/redis.log", rs->dir);
	rs->pid = fork();
	assert_true(rs->pid >= 0);
	if (rs->pid == 0) {
		execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port,
		       "--dir", rs->dir, "--save", "", "--appendonly", "no",
		       "--logfile", log, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 5000 && !port_open(rs->port); i++)
		usleep(1000);
	assert_true(port_open(rs->port));
}

void redis_server_kill(struct redis_server *rs)
{
	kill(rs->pid, SIGKILL);
	waitpid(rs->pid, NULL, 0);
	rs->pid = 0;
}

void redis_server_dispose(struct redis_server *rs)
{
	char log[96];

	if (rs->pid > 0)
		redis_server_kill(rs);
	snprintf(log, sizeof(log), "%s/redis.log", rs->dir);
	unlink(log);
	rmdir(rs->dir);
}
