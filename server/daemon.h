/*
 * daemon.h - daemon mode, the pidfile, readiness and service-manager
 * notifications.
 *
 * DESIGN
 * daemon_detach() double-forks: the original process stays in the
 * foreground until the daemon reports, through a pipe, that it is serving
 * (daemon_report_ready) or why it could not start (daemon_report_failure),
 * so `actord -d` exits 0 only once the daemon listens. The pidfile is
 * locked for the daemon's lifetime (flock), which is what makes a second
 * instance refuse to start; a stale file from a crashed run is taken over.
 * daemon_report_ready also raises the "serving" flag (actors/metrics.h).
 *
 * Thread: the controlling thread.
 */
#ifndef ACTORD_DAEMON_H
#define ACTORD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

/* Detach from the terminal: fork, setsid, fork again, chdir("/"), stdio to
 * /dev/null. Call before any thread exists.
 * Returns 0 in the daemon; 1 in the original process once the daemon
 * reported, with `err` holding its failure reason ("" when it is ready);
 * -errno if nothing could be forked (reason in `err`). */
int daemon_detach(char *err, size_t errlen);

/* Tell whoever waits that start-up succeeded: the parent of daemon_detach
 * (it exits 0) and systemd (READY=1 on $NOTIFY_SOCKET). Sets readiness. */
void daemon_report_ready(void);

/* Tell the parent of daemon_detach why start-up failed: it prints `reason`
 * and exits non-zero once this process has exited. No-op in the
 * foreground. */
void daemon_report_failure(const char *reason);

/* Create and lock the pidfile; write our pid atomically (temporary file
 * renamed over it). Fails with -EEXIST and "already running (pid N)" if
 * another live instance holds it. */
int daemon_pidfile_acquire(const char *path, char *err, size_t errlen);

/* Binary upgrade. The descriptor of the pidfile to hand to the new
 * process (-1: none). Thread: controlling. */
int daemon_pidfile_fd(void);
/* New process: take over the pidfile the old one passed as `fd` (its lock
 * stays held throughout) and write our pid into it; if `path` is another
 * file now, acquire that instead. */
int daemon_pidfile_adopt(const char *path, int fd, char *err, size_t errlen);
/* Old process: the new one failed after it may have written its pid:
 * write ours again. */
void daemon_pidfile_rewrite(void);
/* Old process: the new one serves and owns the pidfile: let go of it
 * without unlinking it. */
void daemon_pidfile_handover(void);
/* New process: report start-up through `fd` (like daemon_detach's pipe)
 * and tell systemd our pid (MAINPID) with READY=1. */
void daemon_upgrade_child(int fd);

/* Unlink the pidfile if we hold it. Async-signal-safe: also used on the
 * forced-exit path. */
void daemon_pidfile_release(void);

/* Send `state` ("STOPPING=1", "RELOADING=1", "READY=1", ...) to systemd if
 * it started us with Type=notify; no-op otherwise. */
void daemon_sd_notify(const char *state);

#endif
