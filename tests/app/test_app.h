/*
 * test_app.h - the test suite's own routes, linked only into
 * build/actord-test (main.c here): the shipped application plus
 * deliberately slow, silent, echoing or blocking routes under /_test/,
 * registered only when the configuration says test_routes.
 *
 * Thread: the registration functions run on each handler actor.
 */
#ifndef ACTORD_TEST_APP_H
#define ACTORD_TEST_APP_H

#include "handler/handler_api.h"
#include "worker/sched.h"

/* /_test/ routes: delay, block, bytes, silent, echo, params, sql-sleep,
 * sql-bad. */
int test_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* /_test/mongo/ routes: the storage/mongo.h calls no shipped route makes
 * (find with projection, insert, update, count). */
int mongo_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		      size_t errlen);
/* /_test/fetch: the upstream client's per-call options (redirects, gzip,
 * timeouts) on any http(s) URL. */
int upstream_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
			 size_t errlen);

/* /_test/near/ routes: reads and writes through the near cache
 * (near_test_routes.c). */
int near_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen);

/* /_test/web/ routes: forms, JSON bodies, cookies, signed cookies,
 * redirects, compression, CSRF, sessions (web_test_routes.c). */
int web_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		    size_t errlen);

/* /_test/queue-flaky and its scheduler work: a queue whose runs fail
 * (retries), and the periodic task "test-tick" (worker_test_routes.c). */
int worker_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		       size_t errlen);
int worker_test_sched(struct sched_setup *s, const struct ad_config *cfg, char *err,
		      size_t errlen);

/* /_test/ws/ routes: a channel's publisher and listener (ws_test_routes.c). */
int ws_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		   size_t errlen);

#endif
