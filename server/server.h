/*
 * server.h - the composition root: what actord is made of and in which
 * order it starts and stops.
 *
 * DESIGN
 * server_main is the whole daemon: it parses the command line, loads the
 * configuration, detaches if asked, builds every pool (log, storage,
 * upstream, workers, jobs, the scheduler, handlers with the application's routes, network, admin),
 * starts them, reports readiness, runs the signal loop and stops everything
 * in order. The application is a parameter, so the shipped binary (main.c)
 * and the test suite's (tests/app/, with its extra routes) are the same
 * server around different route lists.
 *
 * Thread: the controlling (main) thread.
 */
#ifndef ACTORD_SERVER_H
#define ACTORD_SERVER_H

#include <stdbool.h>

#include "handler/handler_api.h"
#include "storage/job_type.h"
#include "worker/sched.h"

/* The application a server runs. Every array must outlive the server. */
struct server_app {
	const handler_routes_fn *routes;  /* route modules, in matching order */
	unsigned nroutes;
	const struct job_type *job_types; /* what the job actors can run */
	unsigned njob_types;
	const sched_setup_fn *sched;      /* periodic tasks and queues, registered at start */
	unsigned nsched;
	bool test_routes;                 /* has routes behind config test_routes */
};

/* Run actord with `app`; returns the process exit status (0 after a
 * drain, 1 when it cannot start, 2 on a usage error). */
int server_main(int argc, char **argv, const struct server_app *app);

#endif
