/*
 * app.c - the list of the shipped application's route modules (app.h).
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
	ws_routes,
};

const unsigned app_nmodules = sizeof(app_modules) / sizeof(app_modules[0]);
