/*
 * app.h - the application shipped with actord: its route modules.
 *
 * DESIGN
 * Each module is a file with one registration function (handler_api.h)
 * that adds its routes; app.c lists them in the order their routes are
 * matched. A user adds a module by writing its file in this folder,
 * declaring its function here and listing it in app.c (docs/HANDLERS.md).
 * The test suite's own routes (/_test/...) live in tests/app/.
 *
 * Thread: the registration functions run on each handler actor.
 */
#ifndef ACTORD_APP_H
#define ACTORD_APP_H

#include "handler/handler_api.h"
#include "storage/job_type.h"

/* The route modules, in matching order. */
extern const handler_routes_fn app_modules[];
extern const unsigned app_nmodules;

/* /plaintext and /json (TechEmpower's first two test types). */
int hello_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* /mongo/db, /mongo/queries, /mongo/updates, /mongo/fortunes: TechEmpower's
 * database test types on MongoDB (503 while MongoDB is not configured). */
int mongo_app_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen);
/* GET /upstream and the reverse-proxy routes of upstream.proxy: calls to
 * other HTTP services through the upstream actors (net/upstream.h). */
int upstream_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		    size_t errlen);
/* TechEmpower's database test types: /db, /queries, /updates (MariaDB)
 * and /cached-queries (Redis, filled from MariaDB). */
int world_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* TechEmpower's /fortunes (MariaDB, HTML). */
int fortunes_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		    size_t errlen);
/* The seed's /client/v3/wallpaper_4d/wallpaperList.json (Redis cache-aside
 * over MariaDB). */
int wallpaper_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen);
/* The job queue: POST /jobs and GET /jobs/:id (storage/job.h). */
int jobs_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* GET /ws/echo and GET /ws/chat/:room (WebSocket; app.websocket). */
int ws_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* The job types the job actors run (job_types.c), given to job_add_pool. */
extern const struct job_type app_job_types[];
extern const unsigned app_njob_types;

#endif
