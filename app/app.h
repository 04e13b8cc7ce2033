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
#include "handler/static_files.h"
#include "storage/job_type.h"
#include "worker/sched.h"

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
/* The seed's executor examples on the worker actors: GET / and GET /queue
 * with a {"job_id": N} body, POST /hash (PBKDF2 with OpenSSL). */
int seed_demo_routes(struct route_table *t, const struct ad_config *cfg, char *err,
		     size_t errlen);
/* PBKDF2-HMAC-SHA256 on a worker, for POST /hash and the `hash` job type:
 * the body's password, salt and iterations (1 to max_iterations), or
 * -EINVAL; a task for hreq_work / job_call (NULL on ENOMEM; the password
 * is wiped when it is freed); in the continuation, the 64 hex digits, or
 * NULL if the call failed. */
int seed_hash_check(const cJSON *body, uint32_t max_iterations, const char **password,
		    const char **salt, uint32_t *iterations);
struct worker_task *seed_hash_task(const char *password, const char *salt,
				   uint32_t iterations);
const char *seed_hash_hex(struct call_msg *reply);
/* Their schedule: the queue "collect" behind GET /queue and the periodic
 * task "seed-period" (app.period_ms). */
int seed_sched(struct sched_setup *s, const struct ad_config *cfg, char *err, size_t errlen);
/* The scheduler set-ups (worker/sched.h), given to sched_add_pool. */
extern const sched_setup_fn app_sched[];
extern const unsigned app_nsched;

/* The seed's login example (app.demo): /demo/register, /demo/login,
 * /demo/me, /demo/logout (demo.c). */
int demo_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* GET /ws/echo and GET /ws/chat/:room (WebSocket; app.websocket). */
int ws_routes(struct route_table *t, const struct ad_config *cfg, char *err, size_t errlen);
/* The job types the job actors run (job_types.c), given to job_add_pool. */
extern const struct job_type app_job_types[];
extern const unsigned app_njob_types;

#endif
