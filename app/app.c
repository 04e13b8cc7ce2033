/*
 * app.c - the lists of the shipped application's route modules and
 * scheduler set-ups (app.h).
 */
#include "app.h"

const handler_routes_fn app_modules[] = {
	hello_routes,
	mongo_app_routes,
	upstream_routes,
	world_routes,
	fortunes_routes,
	wallpaper_routes,
	jobs_routes,
	/* The static-file mounts (static.mounts) and the login demo. */
	static_files_routes,
	demo_routes,
	ws_routes,
	/* Last: its GET / must not shadow anything. */
	seed_demo_routes,
};

const unsigned app_nmodules = sizeof(app_modules) / sizeof(app_modules[0]);

const sched_setup_fn app_sched[] = {
	seed_sched,
};

const unsigned app_nsched = sizeof(app_sched) / sizeof(app_sched[0]);
