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

int main(int argc, char **argv)
{
	static handler_routes_fn routes[MAX_MODULES];
	unsigned n = 0;

	if (app_nmodules + 3 > MAX_MODULES) {
		fprintf(stderr, "actord-test: more than %d route modules\n", MAX_MODULES - 3);
		return 1;
	}
	for (unsigned i = 0; i < app_nmodules; i++)
		routes[n++] = app_modules[i];
	routes[n++] = test_routes;
	routes[n++] = mongo_test_routes;
	routes[n++] = ws_test_routes;

	const struct server_app app = {
		.routes = routes,
		.nroutes = n,
		.job_types = app_job_types,
		.njob_types = app_njob_types,
		.test_routes = true,
	};

	return server_main(argc, argv, &app);
}
