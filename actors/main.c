/*
 * main.c - actord's entry point: command line, configuration, daemon mode,
 * the actor system and the control loop.
 *
 * DESIGN
 * The only file that sees every part. Start-up order: load and validate the
 * configuration (nothing starts on a bad file), detach if asked, take the
 * pidfile, block signals (so every actor thread inherits the mask), then
 * build the actor pools and start them: the log actor first, the storage
 * and service actors next, the handlers, and the network and admin
 * listeners last, so nothing is accepted before something can answer it.
 * Stopping runs the other way round: listeners drain first (signals.c),
 * then handlers, services, and the log actor last.
 *
 * Thread: the controlling (main) thread.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor.h"
#include "app/app.h"
#include "daemon.h"
#include "handler.h"
#include "log.h"
#include "signals.h"
#include "../config/config.h"
#include "../net/net.h"
#include "../storage/job.h"
#include "../storage/storage.h"

#define DEFAULT_CONFIG "/etc/actord/actord.json"

/* Stop order: what accepts work first, what everyone logs to last. */
static const char *const stop_order[] = {
	"admin", "net", "handler", "job", "upstream", "cache", "mysql", "mongo", "log",
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: actord [-c FILE] [-t] [-d]\n"
		"\n"
		"An actor-model HTTP application server.\n"
		"\n"
		"  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration file and exit\n"
		"  -d, --daemon       run in the background (double fork, pidfile);\n"
		"                     returns once actord listens, non-zero if it cannot\n"
		"  -v, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"Signals: TERM/INT drain and exit (twice: exit now), HUP reload the\n"
		"configuration, USR1 reopen log files. See docs/CONFIG.md.\n");
}

static int build(struct actor_system *sys, const struct ad_config *cfg,
		 char *err, size_t errlen)
{
	int rc = log_add_pool(sys, cfg, err, errlen);

	if (rc == 0)
		rc = storage_add_pools(sys, cfg, err, errlen);
	if (rc == 0)
		rc = job_add_pool(sys, cfg, app_job_types, app_njob_types, err, errlen);
	if (rc == 0)
		rc = handler_add_pool(sys, cfg, app_modules, app_nmodules, err, errlen);
	if (rc == 0)
		rc = net_add_pools(sys, cfg, err, errlen);
	return rc;
}

static void stop_all(struct actor_system *sys)
{
	for (size_t i = 0; i < sizeof(stop_order) / sizeof(stop_order[0]); i++)
		actor_system_stop_kind(sys, stop_order[i]);
	actor_system_destroy(sys);
}

static void log_listening(const struct ad_config *cfg)
{
	char addrs[512] = "";
	size_t n = 0;

	for (unsigned i = 0; i < cfg->nlisten && n < sizeof(addrs); i++) {
		int w = snprintf(addrs + n, sizeof(addrs) - n, "%s%s:%u", i > 0 ? ", " : "",
				 cfg->listen[i].host, cfg->listen[i].port);

		if (w > 0)
			n += (size_t)w;
	}
	log_info("actord %s ready: http on %s, %u network and %u handler actor(s)",
		 ACTORD_VERSION, addrs, cfg->net.count, cfg->handler.count);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	char abspath[PATH_MAX], err[1024];
	bool test_only = false, detach = false;
	struct ad_config *cfg;
	struct actor_system *sys;
	const struct signals_drain drain = { .kind = "net", .msg_type = NET_MSG_DRAIN };
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:tdvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': test_only = true; break;
		case 'd': detach = true; break;
		case 'v': printf("actord %s\n", ACTORD_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "actord: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* Daemon mode runs from "/": SIGHUP must find the same file. */
	if (realpath(path, abspath) != NULL)
		path = abspath;
	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "actord: %s\n", err);
		return 1;
	}
	if (test_only) {
		printf("actord: configuration file %s is valid\n", path);
		config_free(cfg);
		return 0;
	}
	if (detach) {
		rc = daemon_detach(err, sizeof(err));
		if (rc != 0) {
			if (rc < 0 || err[0] != '\0')
				fprintf(stderr, "actord: %s\n", err);
			config_free(cfg);
			return rc == 1 && err[0] == '\0' ? 0 : 1;
		}
	}
	if (cfg->pidfile[0] != '\0' &&
	    daemon_pidfile_acquire(cfg->pidfile, err, sizeof(err)) != 0) {
		fprintf(stderr, "actord: %s\n", err);
		daemon_report_failure(err);
		config_free(cfg);
		return 1;
	}
	rc = signals_block_all();
	if (rc != 0) {
		snprintf(err, sizeof(err), "cannot block signals: %s", strerror(-rc));
		goto fail;
	}
	config_publish(cfg);
	sys = actor_system_create();
	if (sys == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	rc = build(sys, cfg, err, sizeof(err));
	if (rc == 0)
		rc = actor_system_start(sys, err, sizeof(err));
	if (rc != 0) {
		stop_all(sys);
		goto fail;
	}
	log_listening(cfg);
	daemon_report_ready();
	if (signals_run(sys, path, &drain) == SIGNALS_FORCED) {
		daemon_pidfile_release();
		_exit(1);
	}
	stop_all(sys);
	log_info("actord stopped");
	log_shutdown();
	config_retire_all();
	daemon_pidfile_release();
	return 0;

fail:
	log_error("cannot start: %s", err);
	/* The log may be a file: the operator at the terminal needs it too. */
	if (cfg->log.file[0] != '\0' && strcmp(cfg->log.file, "-") != 0)
		fprintf(stderr, "actord: cannot start: %s\n", err);
	daemon_report_failure(err);
	log_shutdown();
	daemon_pidfile_release();
	return 1;
}
