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

/* /_test/ routes: delay, block, bytes, silent, echo, params, sql-sleep,
 * sql-bad. */
int test_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* /_test/mongo/ routes: the storage/mongo.h calls no shipped route makes
 * (find with projection, insert, update, count). */
int mongo_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		      size_t errlen);
/* /_test/ws/ routes: a channel's publisher and listener (ws_test_routes.c). */
int ws_test_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		   size_t errlen);

#endif
