/*
 * redis_server.h - a throwaway redis-server (Debian's package) for the
 * storage tests: its own directory under /tmp, a free port on 127.0.0.1,
 * nothing persisted. It can be killed and started again on the same port,
 * so a test can watch a server die and come back.
 *
 * Thread: the test thread only. Failures fail the running cmocka test.
 */
#ifndef ACTORD_TEST_REDIS_SERVER_H
#define ACTORD_TEST_REDIS_SERVER_H

#include <sys/types.h>

/* Owner: the test thread. */
struct redis_server {
	pid_t pid;          /* 0: not running */
	int port;
	char dir[64];       /* holds redis.log */
};

/* Make the directory /tmp/actord-test-NAME-XXXXXX, pick a free port and
 * start the server; returns once it accepts connections. */
void redis_server_init(struct redis_server *rs, const char *name);
/* Start it again after redis_server_kill(): same port, same directory. */
void redis_server_start(struct redis_server *rs);
/* SIGKILL the server and reap it. */
void redis_server_kill(struct redis_server *rs);
/* Kill it if it runs, then remove its log and directory. */
void redis_server_dispose(struct redis_server *rs);

#endif
