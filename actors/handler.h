/*
 * handler.h - the handler actors: run the routes.
 *
 * Thread: handler_add_pool runs on the controlling thread before
 * actor_system_start(). The C handler API for writing routes is in
 * actors/handler_api.h; docs/HANDLERS.md explains it.
 */
#ifndef ACTORD_HANDLER_H
#define ACTORD_HANDLER_H

#include <stddef.h>

#include "actor.h"
#include "../config/config.h"

/* Add the "handler" pool with the shipped routes registered.
 * `cfg` must outlive the system. Returns 0 or -errno with a reason. */
int handler_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		     char *err, size_t errlen);

#endif
