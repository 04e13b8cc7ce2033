/*
 * upgrade.h - binary upgrade on SIGUSR2 (upgrade.c has the design).
 *
 * DESIGN
 * The old process starts the binary at the path it was started from, as a
 * new process that inherits every listening socket, the report pipe and
 * the pidfile through descriptors named in environment variables; it waits
 * for "OK" on the pipe, then drains and exits. The new process finds the
 * same variables at start (server.c) and adopts what they name.
 *
 * Thread: the controlling thread.
 */
#ifndef ACTORD_UPGRADE_H
#define ACTORD_UPGRADE_H

#include "signals.h"
#include "actors/actor.h"

/* The write end of the report pipe ("OK" or "ERR reason", like -d's). */
#define UPGRADE_REPORT_ENV "ACTORD_UPGRADE_FD"
/* The locked pidfile's descriptor. */
#define UPGRADE_PIDFILE_ENV "ACTORD_PIDFILE_FD"

struct upgrade;

/* Resolve the binary's path now (realpath of /proc/self/exe, else of
 * argv[0]) and register the upgrade counters. `argv` must outlive it. */
struct upgrade *upgrade_create(struct actor_system *sys, char **argv);
void upgrade_destroy(struct upgrade *u);

/* signals_drain.upgrade: start the new process and wait for it. */
enum signals_upgrade upgrade_run(void *ctx, int sfd);

#endif
