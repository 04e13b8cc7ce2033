/*
 * main.c - actord: the server (server.h) running the shipped application
 * (app/app.h).
 *
 * Thread: the controlling (main) thread.
 */
#include "server.h"
#include "app/app.h"

int main(int argc, char **argv)
{
	const struct server_app app = {
		.routes = app_modules,
		.nroutes = app_nmodules,
		.job_types = app_job_types,
		.njob_types = app_njob_types,
		.sched = app_sched,
		.nsched = app_nsched,
	};

	return server_main(argc, argv, &app);
}
