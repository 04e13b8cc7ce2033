/*
 * upgrade.c - binary upgrade without a dropped connection (nginx's USR2
 * model), the old process's side; the new process's side is a few lines of
 * server.c (adopting sockets, pidfile and the report pipe).
 *
 * DESIGN
 * On SIGUSR2 the control loop (signals.c) calls upgrade_run, which:
 *  1. collects the listening descriptors of every listener pool (the
 *     network actors' SO_REUSEPORT sockets, one per actor and address, and
 *     the admin socket: net_listen_fds) and the pidfile's descriptor;
 *  2. builds the new environment before forking (nothing but async-signal-
 *     safe calls may run between fork and exec in a threaded process):
 *     ours, minus any earlier upgrade's variables, plus the descriptor
 *     list (NET_INHERIT_ENV), the report pipe (UPGRADE_REPORT_ENV) and the
 *     pidfile (UPGRADE_PIDFILE_ENV);
 *  3. forks; the child unblocks every signal, clears close-on-exec on
 *     exactly those descriptors and execs the binary at the path resolved
 *     at start (realpath of /proc/self/exe), with the arguments server.c
 *     gives (ours, the configuration path made absolute);
 *  4. waits on the report pipe for at most upgrade_timeout_ms: "OK" means
 *     the new process serves (it adopted the sockets, wrote its pid into
 *     the pidfile and told systemd MAINPID); the pipe closing without "OK"
 *     (it exited, "ERR reason", or "EXEC errno" from a failed execve) or
 *     the timeout means it failed: it is stopped (SIGTERM, then SIGKILL
 *     after UPGRADE_KILL_MS) or, if it exited by itself, reaped and its
 *     exit status or signal named in the reason; the pidfile gets our pid
 *     again, and we keep serving. SIGTERM meanwhile stops the child and
 *     drains us as usual; a SIGHUP meanwhile is done once we know we keep
 *     serving (if the new process serves, it read the file itself).
 * On success the caller drains gently (NET_MSG_HANDOVER) and exits: both
 * processes accept from the same sockets until our listeners close, so
 * no connection is ever refused, and our connections finish in place.
 *
 * Counters (actord_upgrade_*): attempts, failures; the admin endpoint and
 * `actorctl upgrade` read them.
 *
 * Thread: the controlling thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "upgrade.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "admin/admin.h"
#include "base/clock.h"
#include "base/counter.h"
#include "base/fdio.h"
#include "config/config.h"
#include "net/net.h"

#define UPGRADE_MAX_FDS 1024
#define UPGRADE_KILL_MS 2000     /* SIGTERM -> SIGKILL for a failed child */
#define UPGRADE_EXIT_MS 500      /* a child that closed its pipe: to be reaped */

extern char **environ;

/* Owner: the controlling thread; the counters are read by the admin actor. */
struct upgrade {
	struct actor_system *sys;
	char exe[PATH_MAX];           /* "" if it could not be resolved */
	char **argv;                  /* ours, as given */
	counter_t attempts_total;
	counter_t failures_total;
};

static void collect(struct metrics_out *o, void *ctx)
{
	struct upgrade *u = ctx;

	metrics_counter(o, "upgrade_attempts_total", "Binary upgrades started (SIGUSR2).", NULL,
			counter_get(&u->attempts_total));
	metrics_counter(o, "upgrade_failures_total",
			"Binary upgrades whose new process did not become ready (it was "
			"stopped; this process kept serving).", NULL,
			counter_get(&u->failures_total));
}

struct upgrade *upgrade_create(struct actor_system *sys, char **argv)
{
	struct upgrade *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->sys = sys;
	u->argv = argv;
	/* Resolved now: later the file may be replaced (that is the point),
	 * and /proc/self/exe would then name the deleted one. */
	if (realpath("/proc/self/exe", u->exe) == NULL &&
	    realpath(argv[0], u->exe) == NULL)
		u->exe[0] = '\0';
	if (metrics_register(collect, u) != 0) {
		free(u);
		return NULL;
	}
	return u;
}

void upgrade_destroy(struct upgrade *u)
{
	free(u);
}

static bool ours(const char *var)
{
	static const char *const names[] = { NET_INHERIT_ENV "=", UPGRADE_REPORT_ENV "=",
					     UPGRADE_PIDFILE_ENV "=" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(var, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

/* Our environment without an earlier upgrade's variables, plus `add`. */
static char **build_env(char *const *add, size_t nadd)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + nadd + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!ours(environ[i]))
			env[k++] = environ[i];
	for (size_t i = 0; i < nadd; i++)
		env[k++] = add[i];
	return env;
}

static char *fd_list(const char *name, const int *fds, unsigned n)
{
	size_t cap = strlen(name) + 2 + (size_t)n * 12;
	char *s = malloc(cap);
	size_t at;

	if (s == NULL)
		return NULL;
	at = (size_t)snprintf(s, cap, "%s=", name);
	for (unsigned i = 0; i < n; i++)
		at += (size_t)snprintf(s + at, cap - at, "%s%d", i > 0 ? "," : "", fds[i]);
	return s;
}

/* Between fork and exec: async-signal-safe calls only. A failed execve
 * reports "EXEC <errno>" on the report pipe (`rfd`), for the old process
 * to say why. */
static void exec_child(const char *exe, char **argv, char **env, const int *keep, unsigned nkeep,
		       int rfd)
{
	char msg[16] = "EXEC ", digits[8];
	size_t n = 5, k = 0;
	sigset_t none;
	int e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (unsigned i = 0; i < nkeep; i++)
		fcntl(keep[i], F_SETFD, 0);
	execve(exe, argv, env);
	e = errno;
	do {
		digits[k++] = (char)('0' + e % 10);
		e /= 10;
	} while (e > 0 && k < sizeof(digits));
	while (k > 0)
		msg[n++] = digits[--k];
	fd_write_all(rfd, msg, n);
	_exit(127);
}

/* Wait up to `ms` for the child to exit by itself. True once reaped. */
static bool reap_within(pid_t pid, uint32_t ms, int *status)
{
	uint64_t deadline = clock_now_ns() + (uint64_t)ms * NS_PER_MS;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return true;
		if (clock_now_ns() >= deadline)
			return false;
		poll(NULL, 0, 10);
	}
}

/* Stop and reap a failed child. `gone`: it closed its report pipe, so it
 * is exiting by itself: give it a moment first, to learn how it ended.
 * Returns its wait status if it ended by itself, else -1. */
static int stop_child(pid_t pid, bool gone)
{
	int status = 0;

	if (gone && reap_within(pid, UPGRADE_EXIT_MS, &status))
		return status;
	kill(pid, SIGTERM);
	if (!reap_within(pid, UPGRADE_KILL_MS, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return -1;
}

/* Append how the child ended to `why`. */
static void say_how_it_ended(char *why, size_t whylen, int status)
{
	size_t n = strlen(why);

	if (WIFEXITED(status))
		snprintf(why + n, whylen - n, " (exit status %d)", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(why + n, whylen - n, " (killed by signal %d, %s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
}

/* W_GONE: the child closed its report pipe without "OK" (it exited). */
enum wait_outcome { W_READY, W_FAILED, W_GONE, W_STOP };

/* Read the child's report until "OK", EOF or the deadline; serve signals
 * meanwhile (a SIGHUP sets *reload: it is done after the wait). */
static enum wait_outcome wait_ready(int rfd, int sfd, uint32_t timeout_ms, const char *exe,
				    bool *reload, char *why, size_t whylen)
{
	uint64_t deadline = clock_now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
	char buf[512];
	size_t got = 0;

	for (;;) {
		struct pollfd pfd[2] = { { rfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		uint64_t now = clock_now_ns();
		struct signalfd_siginfo si;
		ssize_t n;

		if (now >= deadline) {
			snprintf(why, whylen, "not ready within upgrade_timeout_ms (%u ms)",
				 timeout_ms);
			return W_FAILED;
		}
		if (poll(pfd, 2, (int)((deadline - now + 999999) / 1000000)) < 0 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return W_FAILED;
		}
		if ((pfd[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				return W_STOP;
			if (si.ssi_signo == SIGUSR1)
				log_reopen();
			else if (si.ssi_signo == SIGHUP)
				*reload = true;
			else
				log_info("signal %u ignored while an upgrade waits", si.ssi_signo);
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(rfd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strcmp(buf, "OK") == 0)
				return W_READY;
			if (got < sizeof(buf) - 1)
				continue;
		}
		buf[got] = '\0';
		if (strncmp(buf, "ERR ", 4) == 0)
			snprintf(why, whylen, "%s", buf + 4);
		else if (strncmp(buf, "EXEC ", 5) == 0)
			snprintf(why, whylen, "cannot execute %.400s: %s", exe,
				 strerror(atoi(buf + 5)));
		else
			snprintf(why, whylen, "it exited during start-up");
		return W_GONE;
	}
}

enum signals_upgrade upgrade_run(void *ctx, int sfd)
{
	struct upgrade *u = ctx;
	int fds[UPGRADE_MAX_FDS], keep[UPGRADE_MAX_FDS + 2], pipefd[2] = { -1, -1 };
	char *add[3] = { NULL, NULL, NULL };
	char **env = NULL, why[600] = "";
	unsigned nfds, nkeep = 0, nadd = 0;
	uint32_t timeout_ms = config_current()->upgrade_timeout_ms;
	enum wait_outcome w = W_FAILED;
	int pidfd = daemon_pidfile_fd();
	bool reload = false;
	pid_t pid = -1;

	counter_add(&u->attempts_total, 1);
	if (u->exe[0] == '\0') {
		snprintf(why, sizeof(why), "the binary's path could not be resolved at start");
		goto failed;
	}
	nfds = net_listen_fds(u->sys, &net_kind, fds, UPGRADE_MAX_FDS);
	nfds += net_listen_fds(u->sys, &admin_kind, fds + nfds, UPGRADE_MAX_FDS - nfds);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(why, sizeof(why), "pipe: %s", strerror(errno));
		goto failed;
	}
	memcpy(keep, fds, sizeof(int) * nfds);
	nkeep = nfds;
	keep[nkeep++] = pipefd[1];
	add[nadd++] = fd_list(NET_INHERIT_ENV, fds, nfds);
	add[nadd++] = fd_list(UPGRADE_REPORT_ENV, &pipefd[1], 1);
	if (pidfd >= 0) {
		keep[nkeep++] = pidfd;
		add[nadd++] = fd_list(UPGRADE_PIDFILE_ENV, &pidfd, 1);
	}
	for (unsigned i = 0; i < nadd; i++)
		if (add[i] == NULL)
			goto oom;
	env = build_env(add, nadd);
	if (env == NULL)
		goto oom;
	log_info("upgrade: starting %s with %u listening socket(s); waiting up to %u ms",
		 u->exe, nfds, timeout_ms);
	pid = fork();
	if (pid == 0)
		exec_child(u->exe, u->argv, env, keep, nkeep, pipefd[1]);
	if (pid < 0) {
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		goto failed;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	w = wait_ready(pipefd[0], sfd, timeout_ms, u->exe, &reload, why, sizeof(why));
	goto done;
oom:
	snprintf(why, sizeof(why), "out of memory");
failed:
	w = W_FAILED;
done:
	for (unsigned i = 0; i < nadd; i++)
		free(add[i]);
	free(env);
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	if (w == W_READY) {
		log_info("upgrade: new process %ld serves; this one (%ld) hands over and exits",
			 (long)pid, (long)getpid());
		daemon_pidfile_handover();
		return SIGNALS_UPGRADE_READY;
	}
	if (pid > 0) {
		int status = stop_child(pid, w == W_GONE);

		if (status >= 0 && strncmp(why, "cannot execute ", 15) != 0)
			say_how_it_ended(why, sizeof(why), status);
	}
	if (w == W_STOP) {
		log_info("upgrade: abandoned (SIGTERM): new process %ld stopped", (long)pid);
		daemon_pidfile_rewrite();
		return SIGNALS_UPGRADE_STOP;
	}
	counter_add(&u->failures_total, 1);
	daemon_pidfile_rewrite();
	log_error("upgrade failed, still serving as pid %ld: %s", (long)getpid(), why);
	/* A reload asked for meanwhile is ours to do after all: queued again
	 * for the control loop (the signal is blocked, so it waits there). */
	if (reload)
		kill(getpid(), SIGHUP);
	return SIGNALS_UPGRADE_FAILED;
}
