/*
 * main.c - actord-test: the same server as build/actord (server/server.h)
 * with the shipped application's routes and, behind config test_routes,
 * the test suite's (test_app.h). The end-to-end tests run this binary; the
 * shipped one refuses test_routes.
 *
 * Thread: the controlling (main) thread.
 */
#include <stdio.h>

#include "test_app.h"
#include "app/app.h"
#include "server/server.h"

#define MAX_MODULES 64

/* The test suite's route modules, before the shipped ones. */
static const handler_routes_fn test_modules[] = {
	test_routes,
	mongo_test_routes,
	near_test_routes,
	upstream_test_routes,
	worker_test_routes,
	web_test_routes,
	ws_test_routes,
};

#define NTEST (sizeof(test_modules) / sizeof(test_modules[0]))

int main(int argc, char **argv)
{
	static handler_routes_fn routes[MAX_MODULES];
	static sched_setup_fn sched[MAX_MODULES];
	unsigned n = 0, ns = 0;

	if (app_nmodules + NTEST > MAX_MODULES || app_nsched + 1 > MAX_MODULES) {
		fprintf(stderr, "actord-test: more than %d route modules\n", MAX_MODULES);
		return 1;
	}
	/* The test routes first: the shipped GET / (seed_demo.c) matches
	 * nothing under /_test/, but the order should not depend on it. */
	for (unsigned i = 0; i < NTEST; i++)
		routes[n++] = test_modules[i];
	for (unsigned i = 0; i < app_nmodules; i++)
		routes[n++] = app_modules[i];
	for (unsigned i = 0; i < app_nsched; i++)
		sched[ns++] = app_sched[i];
	sched[ns++] = worker_test_sched;

	const struct server_app app = {
		.routes = routes,
		.nroutes = n,
		.job_types = app_job_types,
		.njob_types = app_njob_types,
		.sched = sched,
		.nsched = ns,
		.test_routes = true,
	};

	return server_main(argc, argv, &app);
}
