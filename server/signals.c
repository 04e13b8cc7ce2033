/*
 * signals.c - the control loop on the main thread: reload, log reopening,
 * graceful drain.
 *
 * DESIGN
 * One signalfd for SIGHUP, SIGUSR1, SIGTERM and SIGINT (blocked everywhere
 * by signals_block_all), one eventfd the drain messages' free function
 * writes when the last drain completes, and poll(2) on both. Everything a
 * signal triggers therefore runs here as ordinary code.
 *
 * Drain completion travels with the messages themselves: each drain
 * message is allocated here with drain_msg_free as its free_fn, and the
 * receiver frees it when it has drained. The free function runs on the
 * receiver's thread: it only frees, decrements an atomic and writes the
 * eventfd, all safe from any thread.
 *
 * Not here: what draining means for a connection (the network actors), the
 * stop order after a drain (main.c).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon.h"
#include "signals.h"
#include "actors/log.h"
#include "actors/metrics.h"
#include "base/clock.h"
#include "config/config.h"

#define DRAIN_RETRY_MS 20       /* resend to a full mailbox this often */
#define MAX_DRAIN_ACTORS 1024

static int drain_efd = -1;
/* Drain messages not yet freed by their receivers. Decremented on actor
 * threads; the thread that takes it to zero wakes the control loop. */
static _Atomic unsigned drain_pending;
/* When the last drain's time is up (clock_now_ns). Control thread only. */
static uint64_t drain_deadline_ns;

uint64_t signals_drain_deadline_ns(void)
{
	return drain_deadline_ns;
}

int signals_block_all(void)
{
	sigset_t set;

	sigfillset(&set);
	/* Faults are delivered to the thread that caused them; blocking them
	 * is undefined behaviour, and crashes must still crash. */
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGTRAP);
	sigdelset(&set, SIGABRT);
	/* A write to a closed socket must fail with EPIPE, not kill us; a
	 * blocked SIGPIPE would stay pending forever, so ignore it instead. */
	signal(SIGPIPE, SIG_IGN);
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static const char *sig_name(uint32_t signo)
{
	switch (signo) {
	case SIGHUP: return "SIGHUP";
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGUSR1: return "SIGUSR1";
	case SIGUSR2: return "SIGUSR2";
	default: return "signal";
	}
}

static void drain_msg_free(struct msg *m)
{
	uint64_t one = 1;

	free(m);
	if (atomic_fetch_sub_explicit(&drain_pending, 1, memory_order_acq_rel) == 1) {
		/* Fails only on counter overflow, when the loop is awake anyway. */
		ssize_t rc = write(drain_efd, &one, sizeof(one));

		(void)rc;
	}
}

static void reload(const char *path, const struct signals_drain *drain)
{
	char err[1024], changed[512], state[64];
	const struct ad_config *running = config_current();
	struct ad_config *next;

	/* systemd >= 253 (Type=notify-reload) wants the time with it; older
	 * ones ignore the field. */
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)(clock_now_ns() / 1000u));
	daemon_sd_notify(state);
	next = config_load(path, err, sizeof(err));
	if (next == NULL) {
		log_error("reload failed, still running the previous configuration: %s", err);
	} else {
		config_carry_fixed(next, running, changed, sizeof(changed));
		if (changed[0] != '\0')
			log_warn("reload: %s changed; that takes a restart, kept as running",
				 changed);
		if (config_publish_reload(next)) {
			log_apply(next);
			log_info("configuration reloaded from %s", path);
			if (drain->reloaded != NULL)
				drain->reloaded(drain->ctx, running, next);
		} else {
			/* Nothing new to publish (the snapshot is kept, no memory
			 * spent); the log files are reopened as on any reload. */
			log_apply(running);
			log_info("configuration reloaded from %s: unchanged", path);
		}
	}
	daemon_sd_notify("READY=1");
}

/* Send a drain message to every actor of the drain kind still owed one.
 * `owed[i]` turns false once the actor has its message. */
static unsigned send_drains(struct actor_system *sys, actor_addr_t first, unsigned n,
			    uint32_t type, bool *owed)
{
	unsigned unsent = 0;

	for (unsigned i = 0; i < n; i++) {
		struct msg *m;
		int rc;

		if (!owed[i])
			continue;
		m = malloc(sizeof(*m));
		if (m == NULL) {
			unsent++;
			continue;
		}
		msg_init(m, type, drain_msg_free);
		rc = actor_send(sys, first + i, m);
		if (rc == -EAGAIN) {
			free(m);            /* full: try again shortly */
			unsent++;
			continue;
		}
		owed[i] = false;
		if (rc != 0)
			msg_free(m);        /* stopped or gone: nothing to drain */
	}
	return unsent;
}

static void bare_msg_free(struct msg *m)
{
	free(m);
}

/* A bare message to every live actor of `kind`, freed by its receiver;
 * nobody waits for it. */
static void notify_kind(struct actor_system *sys, const struct actor_kind *kind, uint32_t type)
{
	unsigned n = 0;
	actor_addr_t first = actor_system_find_kind(sys, kind, &n);

	for (unsigned i = 0; first != ACTOR_ADDR_NONE && i < n; i++) {
		struct msg *m = malloc(sizeof(*m));

		if (m == NULL)
			continue;
		msg_init(m, type, bare_msg_free);
		if (actor_send(sys, first + i, m) != 0)
			free(m);
	}
}

/* The thread of signals_force_exit_on_next: every other thread blocks the
 * signals, so a SIGTERM or SIGINT now comes here. SIGRTMIN, sent by
 * signals_force_exit_off to this thread alone, ends it: a thread still
 * running at exit costs a second under TSan (atexit_sleep_ms) and is
 * untidy anyway. */
static pthread_t force_thread;
static bool force_running;            /* control thread only */

static void *on_stopping_signal(void *arg)
{
	sigset_t set;
	int sig = 0;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGRTMIN);
	while (sigwait(&set, &sig) != 0)
		;
	if (sig == SIGRTMIN)
		return NULL;
	log_bypass_actor();
	log_warn("%s while stopping: exiting now", sig_name((uint32_t)sig));
	daemon_pidfile_release();
	_exit(1);
}

int signals_force_exit_on_next(void)
{
	int rc = pthread_create(&force_thread, NULL, on_stopping_signal, NULL);

	force_running = rc == 0;
	return -rc;
}

void signals_force_exit_off(void)
{
	if (!force_running)
		return;
	pthread_kill(force_thread, SIGRTMIN);
	pthread_join(force_thread, NULL);
	force_running = false;
}

static enum signals_outcome drain_now(struct actor_system *sys, int sfd,
				      const struct signals_drain *drain, bool handover)
{
	bool owed[MAX_DRAIN_ACTORS];
	uint32_t timeout_ms = config_current()->drain_timeout_ms;
	uint64_t deadline = clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned n = 0, unsent;
	actor_addr_t first = actor_system_find_kind(sys, drain->kind, &n);
	struct signalfd_siginfo si;
	uint64_t now, v;
	uint32_t type;

	drain_deadline_ns = deadline;
	metrics_set_serving(false);
	/* After a hand-over systemd follows the new MAINPID: we are not
	 * stopping the service. */
	if (!handover)
		daemon_sd_notify("STOPPING=1");
	if (handover && drain->handover_also != NULL)
		notify_kind(sys, drain->handover_also, drain->handover_type);
	if (n > MAX_DRAIN_ACTORS)
		n = MAX_DRAIN_ACTORS;
	log_info("draining: %u %s actor(s), at most %u ms", n, drain->kind->name, timeout_ms);
	atomic_store_explicit(&drain_pending, n, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		owed[i] = true;
	type = handover ? drain->handover_type : drain->msg_type;
	unsent = first == ACTOR_ADDR_NONE ? 0 : send_drains(sys, first, n, type, owed);
	while (atomic_load_explicit(&drain_pending, memory_order_acquire) > 0) {
		struct pollfd pfd[2] = { { sfd, POLLIN, 0 }, { drain_efd, POLLIN, 0 } };
		uint64_t wait_ms;

		now = clock_now_ns();
		if (now >= deadline) {
			log_warn("drain deadline (%u ms) passed with %u %s actor(s) still busy",
				 timeout_ms, atomic_load(&drain_pending), drain->kind->name);
			return handover ? SIGNALS_HANDED_OVER : SIGNALS_DRAINED;
		}
		wait_ms = (deadline - now + 999999) / 1000000;
		if (unsent > 0 && wait_ms > DRAIN_RETRY_MS)
			wait_ms = DRAIN_RETRY_MS;
		if (poll(pfd, 2, (int)wait_ms) < 0 && errno != EINTR)
			break;
		if ((pfd[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				/* The caller _exit()s next: write the reason now. */
				log_bypass_actor();
				log_warn("second %s while draining: exiting now",
					 sig_name(si.ssi_signo));
				return SIGNALS_FORCED;
			}
			if (si.ssi_signo == SIGUSR1)
				log_reopen();
			else
				log_info("%s ignored while draining", sig_name(si.ssi_signo));
		}
		if ((pfd[1].revents & POLLIN) && read(drain_efd, &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			break;
		if (unsent > 0)
			unsent = send_drains(sys, first, n, type, owed);
	}
	log_info("drained");
	return handover ? SIGNALS_HANDED_OVER : SIGNALS_DRAINED;
}

enum signals_outcome signals_run(struct actor_system *sys, const char *config_path,
				 const struct signals_drain *drain)
{
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (drain_efd < 0)
		drain_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || drain_efd < 0) {
		/* Without them we cannot be controlled: stop like on SIGTERM. */
		log_error("cannot wait for signals: %s; shutting down", strerror(errno));
		if (sfd >= 0)
			close(sfd);
		return SIGNALS_DRAINED;
	}
	for (;;) {
		ssize_t n = read(sfd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			log_error("reading signals failed: %s; shutting down", strerror(errno));
			close(sfd);
			return SIGNALS_DRAINED;
		}
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(config_path, drain);
			break;
		case SIGUSR1:
			log_reopen();
			break;
		case SIGUSR2: {
			enum signals_upgrade up;
			enum signals_outcome out;

			if (drain->upgrade == NULL) {
				log_info("SIGUSR2 ignored: this program cannot upgrade");
				break;
			}
			up = drain->upgrade(drain->ctx, sfd);
			if (up == SIGNALS_UPGRADE_FAILED)
				break;
			if (up == SIGNALS_UPGRADE_READY)
				log_info("handing over to the new process: draining gently");
			else
				log_info("shutting down gracefully");
			out = drain_now(sys, sfd, drain, up == SIGNALS_UPGRADE_READY);
			close(sfd);
			return out;
		}
		default: {
			enum signals_outcome out;

			log_info("%s: shutting down gracefully", sig_name(si.ssi_signo));
			out = drain_now(sys, sfd, drain, false);
			close(sfd);
			return out;
		}
		}
	}
}
