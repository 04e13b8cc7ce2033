/*
 * server.c - the composition root: command line, configuration, daemon
 * mode, the actor system and the control loop (server.h).
 *
 * DESIGN
 * The only file that sees every layer; the application it serves (route
 * modules, job types) is given by the caller (main.c: the shipped app;
 * tests/app/: the shipped app plus the test suite's routes). Start-up order: load and validate the
 * configuration (nothing starts on a bad file), detach if asked, take the
 * pidfile, raise the file descriptor limit (fdlimit.h; the listen backlog
 * the kernel grants is logged once listening, backlog.h), block signals
 * (so every actor thread inherits the mask), then
 * build the actor pools, check that every listen and admin address is
 * free (check_bindable), and start them: the log actor first, the storage
 * and service actors next, the handlers, and the network and admin
 * listeners last, so nothing is accepted before something can answer it.
 * Only then is readiness reported (the -d parent, systemd).
 * Stopping runs the other way round: listeners drain first (signals.c),
 * then handlers, services, and the log actor last.
 *
 * Thread: the controlling (main) thread.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backlog.h"
#include "daemon.h"
#include "fdlimit.h"
#include "server.h"
#include "signals.h"
#include "upgrade.h"
#include "actors/actor.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "admin/admin.h"
#include "base/clock.h"
#include "config/config.h"
#include "handler/file_actor.h"
#include "handler/handler.h"
#include "net/net.h"
#include "net/upstream.h"
#include "storage/cache.h"
#include "storage/cache_lock.h"
#include "storage/job.h"
#include "storage/mongo.h"
#include "storage/near.h"
#include "storage/pubsub.h"
#include "storage/sql.h"
#include "storage/storage.h"
#include "worker/sched.h"
#include "worker/worker.h"

#define DEFAULT_CONFIG "/etc/actord/actord.json"
/* Past the drain's deadline, how long stopping each kind of actor may
 * still wait for a thread inside a task or a blocking driver call before
 * leaving it (the log actor writing what it holds needs a moment). */
#define STOP_MIN_MS 200u

/* Stop order: what accepts work first, what everyone logs to last. */
static const struct actor_kind *const stop_order[] = {
	&admin_kind, &net_kind, &handler_kind, &file_kind, &sched_kind, &job_kind,
	&pubsub_kind, &upstream_kind, &worker_kind, &cache_kind, &near_kind, &sql_kind,
	&mongo_kind, &log_kind,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: actord [-c FILE] [-t | -d]\n"
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
		"Signals: SIGTERM or SIGINT drain and exit 0 (a second one exits at once),\n"
		"SIGHUP reloads the configuration file (actor counts included), SIGUSR1\n"
		"reopens the log files, SIGUSR2 upgrades the binary without downtime.\n"
		"Every configuration key: docs/CONFIG.md.\n");
}

/* Bind `addr` once without SO_REUSEPORT and let go. The network actors
 * bind with SO_REUSEPORT, which the kernel grants to every socket of the
 * same user that asks for it: a second actord on the same port would start
 * and silently share its traffic. A socket without the option is refused
 * while anyone listens there, so a busy address fails start-up here, with
 * its name. SO_REUSEADDR keeps TIME_WAIT leftovers of a restart out. */
static int check_bindable(const char *key, const struct config_addr *addr,
			  char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char port[8];
	int fd, one = 1, rc;

	snprintf(port, sizeof(port), "%u", addr->port);
	rc = getaddrinfo(addr->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s %s:%u: %s", key, addr->host, addr->port,
			 gai_strerror(rc));
		return -EADDRNOTAVAIL;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	rc = fd < 0 ? -errno : 0;
	if (rc == 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
			bind(fd, res->ai_addr, res->ai_addrlen) < 0))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	/* With nothing listening, a client's connection from that very port
	 * (an ephemeral one, net.ipv4.ip_local_port_range) lingering in
	 * TIME-WAIT refuses the bind too, for up to a minute. */
	if (rc == -EADDRINUSE)
		snprintf(err, errlen, "%s %s:%u: %s (another process listens there, or a "
			 "connection from that port lingers in TIME-WAIT: ss -tan 'sport = :%u')",
			 key, addr->host, addr->port, strerror(-rc), addr->port);
	else if (rc != 0)
		snprintf(err, errlen, "%s %s:%u: %s", key, addr->host, addr->port, strerror(-rc));
	return rc;
}

/* An address whose socket the process we replace handed over is ours
 * already (it listens there, so the check would fail). */
static int check_addresses(const struct ad_config *cfg, char *err, size_t errlen)
{
	char key[32];
	int rc = 0;

	if (net_inherit_count(&cfg->admin_listen) == 0)
		rc = check_bindable("admin_listen", &cfg->admin_listen, err, errlen);
	for (unsigned i = 0; i < cfg->nlisten && rc == 0; i++) {
		snprintf(key, sizeof(key), "listen[%u]", i);
		if (net_inherit_count(&cfg->listen[i]) == 0)
			rc = check_bindable(key, &cfg->listen[i], err, errlen);
	}
	return rc;
}

/* The pools whose count a reload changes live, with their config key. */
struct resizable {
	const struct actor_kind *kind;
	size_t off;                   /* of its struct config_actors */
};

static const struct resizable resizable[] = {
	{ &net_kind, offsetof(struct ad_config, net) },
	{ &handler_kind, offsetof(struct ad_config, handler) },
	{ &cache_kind, offsetof(struct ad_config, cache) },
	{ &sql_kind, offsetof(struct ad_config, mysql_actor) },
	{ &worker_kind, offsetof(struct ad_config, worker) },
	{ &file_kind, offsetof(struct ad_config, file_actor) },
};

/* What the control loop drives besides signals: pool sizes on a reload,
 * the binary upgrade. Owner: the controlling thread. */
struct server_ctl {
	struct actor_system *sys;
	struct upgrade *up;
};

static unsigned count_of(const struct ad_config *cfg, size_t off)
{
	return ((const struct config_actors *)(const void *)((const char *)cfg + off))->count;
}

/* SIGHUP with changed counts: the same as POST /admin/actors/KIND. */
static void on_reloaded(void *ctx, const struct ad_config *prev, const struct ad_config *next)
{
	struct server_ctl *ctl = ctx;
	char err[256];

	for (size_t i = 0; i < sizeof(resizable) / sizeof(resizable[0]); i++) {
		unsigned was = count_of(prev, resizable[i].off), now = count_of(next, resizable[i].off);

		if (was == now || now == 0)
			continue;
		if (actor_system_resize(ctl->sys, resizable[i].kind, now, err, sizeof(err)) != 0)
			log_error("reload: actors.%s.count %u -> %u: %s", resizable[i].kind->name,
				  was, now, err);
		else
			log_info("reload: %s actors %u -> %u", resizable[i].kind->name, was, now);
	}
}

static enum signals_upgrade on_upgrade(void *ctx, int sfd)
{
	struct server_ctl *ctl = ctx;

	return upgrade_run(ctl->up, sfd);
}

/* Started by a binary upgrade: the old process's report pipe, pidfile and
 * listening sockets are ours to adopt. */
static int adopt_inherited(const struct ad_config *cfg, char *err, size_t errlen)
{
	const char *pid = getenv(UPGRADE_PIDFILE_ENV);
	const char *fds = getenv(NET_INHERIT_ENV);
	int rc = 0;

	if (fds != NULL)
		rc = net_inherit_load(fds, err, errlen);
	if (rc == 0 && cfg->pidfile[0] != '\0')
		rc = pid != NULL ? daemon_pidfile_adopt(cfg->pidfile, atoi(pid), err, errlen)
				 : daemon_pidfile_acquire(cfg->pidfile, err, errlen);
	return rc;
}

/* The lock "once per cluster" periodic tasks take: Redis, through the
 * cache actors (storage/ and worker/ never include each other: this file
 * joins them). */
static const struct sched_lock redis_lock = {
	.kind = &cache_kind,
	.acquire = cache_lock_acquire,
	.acquired = cache_lock_acquired,
	.release = cache_lock_release,
};

/* Every pool after the log actor's. `conn_cap`: public connections the
 * file descriptors allow (fdlimit.h), 0: no cap. */
static int build(struct actor_system *sys, const struct ad_config *cfg,
		 const struct server_app *app, uint32_t conn_cap, char *err, size_t errlen)
{
	struct net_body_routes bodies = { 0 };
	int rc = metrics_register(log_collect, NULL);

	if (rc == 0)
		rc = metrics_register_check("serving", metrics_serving_check, NULL);
	if (rc == 0)
		rc = storage_add_pools(sys, cfg, err, errlen);
	if (rc == 0)
		rc = pubsub_add_pool(sys, cfg, &net_kind, err, errlen);
	if (rc == 0)
		rc = mongo_add_pool(sys, cfg, err, errlen);
	if (rc == 0)
		rc = upstream_add_pool(sys, cfg, err, errlen);
	if (rc == 0)
		rc = worker_add_pool(sys, cfg, err, errlen);
	if (rc == 0)
		rc = job_add_pool(sys, cfg, app->job_types, app->njob_types, err, errlen);
	if (rc == 0)
		rc = file_add_pool(sys, cfg, err, errlen);
	if (rc == 0)
		rc = sched_add_pool(sys, cfg, app->sched, app->nsched,
				    cfg->cache.count > 0 ? &redis_lock : NULL, err, errlen);
	if (rc == 0)
		rc = handler_add_pool(sys, cfg, app->routes, app->nroutes, &bodies, err, errlen);
	if (rc == 0)
		rc = net_add_pools(sys, cfg, &handler_kind, conn_cap, &bodies, err, errlen);
	if (rc == 0)
		rc = admin_add_pool(sys, cfg, err, errlen);
	return rc;
}

/* Load the file at `path` made absolute into `abspath` (a daemon runs
 * from "/", and SIGHUP must open the same name, symlinks followed anew),
 * after anchoring the relative ACTORD_*_FILE names the same way. NULL
 * with the reason in `err`. */
static struct ad_config *load_config(const char *path, const struct server_app *app,
				     char *abspath, size_t abslen, char *err, size_t errlen)
{
	int rc = config_absolute_path(path, abspath, abslen);

	if (rc != 0) {
		snprintf(err, errlen, "%s: (file): %s", path, strerror(-rc));
		return NULL;
	}
	if (config_anchor_secret_files(err, errlen) != 0)
		return NULL;
	config_set_test_routes_available(app->test_routes);
	config_set_driver_check(mongo_check_config);
	return config_load(abspath, err, errlen);
}

/* -t, like nginx -t: a file a start would write must be writable now (or
 * its directory, for a file yet to be made). `dir_only`: the pidfile,
 * which is replaced by a file renamed into its directory. */
static int check_writable(const struct ad_config *cfg, const char *key, const char *path,
			  bool dir_only, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int rc = -ENOENT;

	if (path[0] == '\0' || strcmp(path, "-") == 0)
		return 0;
	if (!dir_only) {
		if (access(path, W_OK) == 0)
			return 0;
		rc = -errno;
	}
	if (rc == -ENOENT) {
		/* Loaded paths are absolute: there is a slash. */
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
		if (access(dir, W_OK) == 0)
			return 0;
		rc = -errno;
	}
	/* Both names bounded: the message fits err whatever their lengths. */
	snprintf(err, errlen, "%.400s: %s: cannot write '%.400s': %s", cfg->path, key, path,
		 strerror(-rc));
	return rc;
}

static int check_files(const struct ad_config *cfg, char *err, size_t errlen)
{
	int rc = check_writable(cfg, "log.file", cfg->log.file, false, err, errlen);

	if (rc == 0)
		rc = check_writable(cfg, "log.access_log", cfg->log.access_log, false, err, errlen);
	if (rc == 0)
		rc = check_writable(cfg, "pidfile", cfg->pidfile, true, err, errlen);
	return rc;
}

/* The new process of a binary upgrade gets our options with the absolute
 * configuration path: it starts in our working directory, "/" for a
 * daemon. `out` has room for 5 pointers and must outlive the upgrade. */
static char **upgrade_argv(char *argv0, bool detach, char *abspath, char **out)
{
	unsigned n = 0;

	out[n++] = argv0;
	if (detach)
		out[n++] = "-d";
	out[n++] = "-c";
	out[n++] = abspath;
	out[n] = NULL;
	return out;
}

/* Stop every pool in order, waiting for threads until `deadline_ns` (0:
 * as long as it takes; each kind gets STOP_MIN_MS even past it). Returns
 * the threads left behind: still inside a task or a blocking driver call,
 * which nothing interrupts. Then nothing is freed (they still use it):
 * the caller ends the process. */
static unsigned stop_all(struct actor_system *sys, uint64_t deadline_ns)
{
	unsigned left = 0;

	for (size_t i = 0; i < sizeof(stop_order) / sizeof(stop_order[0]); i++) {
		uint64_t soon = clock_now_ns() + (uint64_t)STOP_MIN_MS * 1000000u;

		left += actor_system_stop_kind_by(sys, stop_order[i],
						  deadline_ns == 0 || deadline_ns > soon ?
						  deadline_ns : soon);
	}
	if (left == 0)
		actor_system_destroy(sys);
	return left;
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
	log_info("actord %s ready: http on %s, admin on %s:%u, %u network, %u handler and "
		 "%u worker actor(s)", ACTORD_VERSION, addrs, cfg->admin_listen.host,
		 cfg->admin_listen.port, cfg->net.count, cfg->handler.count, cfg->worker.count);
}

int server_main(int argc, char **argv, const struct server_app *app)
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
	char abspath[PATH_MAX], err[1024], *up_argv[5];
	bool test_only = false, detach = false, logging = false;
	struct ad_config *cfg;
	struct actor_system *sys;
	struct server_ctl ctl = { 0 };
	const struct signals_drain drain = {
		.kind = &net_kind, .msg_type = NET_MSG_DRAIN,
		.handover_type = NET_MSG_HANDOVER, .handover_also = &admin_kind,
		.reloaded = on_reloaded, .upgrade = on_upgrade, .ctx = &ctl,
	};
	const char *report = getenv(UPGRADE_REPORT_ENV);
	enum signals_outcome out;
	unsigned left;
	struct fdlimit fds;
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
	/* A binary upgrade's new process is already detached (or under
	 * systemd) like the old one: it reports through the old one's pipe,
	 * from here on, so that even a refused file's reason reaches it. */
	if (report != NULL)
		daemon_upgrade_child(atoi(report));
	cfg = load_config(path, app, abspath, sizeof(abspath), err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "actord: %s\n", err);
		daemon_report_failure(err);
		return 1;
	}
	if (test_only) {
		rc = check_files(cfg, err, sizeof(err));
		if (rc == 0)
			printf("actord: configuration file %s is valid\n", abspath);
		else
			fprintf(stderr, "actord: %s\n", err);
		config_free(cfg);
		return rc == 0 ? 0 : 1;
	}
	if (detach && report == NULL) {
		if (cfg->log.file[0] == '\0' || strcmp(cfg->log.file, "-") == 0)
			fprintf(stderr, "actord: note: log.file is not set: a daemon's stderr, "
				"and so its log, is /dev/null\n");
		rc = daemon_detach(err, sizeof(err));
		if (rc != 0) {
			if (rc < 0 || err[0] != '\0')
				fprintf(stderr, "actord: %s\n", err);
			config_free(cfg);
			return rc == 1 && err[0] == '\0' ? 0 : 1;
		}
	}
	if (adopt_inherited(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "actord: %s\n", err);
		daemon_report_failure(err);
		config_free(cfg);
		return 1;
	}
	config_publish(cfg);
	fdlimit_raise(cfg, &fds);
	rc = signals_block_all();
	if (rc != 0) {
		snprintf(err, sizeof(err), "cannot block signals: %s", strerror(-rc));
		goto fail;
	}
	sys = actor_system_create();
	if (sys == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	rc = log_add_pool(sys, cfg, err, sizeof(err));
	logging = rc == 0;
	if (rc == 0)
		rc = build(sys, cfg, app, fds.conn_cap, err, sizeof(err));
	if (rc == 0)
		rc = check_addresses(cfg, err, sizeof(err));
	ctl.sys = sys;
	if (rc == 0 && (ctl.up = upgrade_create(sys, upgrade_argv(argv[0], detach, abspath,
								    up_argv))) == NULL) {
		snprintf(err, sizeof(err), "upgrade: out of memory");
		rc = -ENOMEM;
	}
	if (rc == 0)
		rc = actor_system_start(sys, err, sizeof(err));
	if (rc != 0) {
		stop_all(sys, 0);
		upgrade_destroy(ctl.up);
		goto fail;
	}
	net_inherit_close_unused();
	fdlimit_log(&fds, cfg);
	backlog_log(cfg->http.backlog);
	log_listening(cfg);
	if (cfg->cookies.keys_generated)
		log_warn("cookies.secret_keys is not set: signed cookies and sessions use a "
			 "random key of this process and end when it stops "
			 "(set ACTORD_COOKIES_SECRET_KEYS)");
	daemon_report_ready();
	out = signals_run(sys, abspath, &drain);
	if (out == SIGNALS_FORCED) {
		daemon_pidfile_release();
		_exit(1);
	}
	if (signals_force_exit_on_next() != 0)
		log_warn("cannot watch for signals while stopping: only SIGKILL ends a stuck stop");
	/* The drain ended (drained, or its time is up): stopping may take
	 * what is left of drain_timeout_ms (a queued task finishing), not
	 * the rest of a 20 s task. */
	left = stop_all(sys, signals_drain_deadline_ns());
	if (left > 0) {
		log_warn("actord stopped, leaving %u thread(s) inside a task or a driver call", left);
		log_shutdown();
		daemon_pidfile_release();
		_exit(0);
	}
	signals_force_exit_off();
	upgrade_destroy(ctl.up);
	log_info(out == SIGNALS_HANDED_OVER ? "actord stopped (handed over to its new process)"
					    : "actord stopped");
	log_shutdown();
	config_retire_all();
	daemon_pidfile_release();
	return 0;

fail:
	if (logging)
		log_error("cannot start: %s", err);
	/* The log may be a file: the operator at the terminal needs it too. */
	if (!logging || (cfg->log.file[0] != '\0' && strcmp(cfg->log.file, "-") != 0))
		fprintf(stderr, "actord: cannot start: %s\n", err);
	daemon_report_failure(err);
	log_shutdown();
	config_retire_all();
	daemon_pidfile_release();
	return 1;
}
