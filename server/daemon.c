/*
 * daemon.c - double fork with a start-up report pipe, the locked pidfile,
 * readiness, and sd_notify without libsystemd.
 *
 * DESIGN
 * Start-up report: the original process keeps the read end of a pipe and
 * reads it to EOF; the daemon writes "OK" and closes it, or writes
 * "ERR <reason>" and keeps it until it exits, so a failed start returns
 * only once the daemon is gone (pidfile removed, port free). If the daemon
 * dies without a word, the parent reads EOF and says so. The pipe is
 * close-on-exec and owned by the controlling thread.
 *
 * Pidfile: open the path (creating it) and flock it; a lock held elsewhere
 * means a live instance. Then write the pid into a temporary file in the
 * same directory, lock that too, and rename it over the path, so a reader
 * never sees a half-written pid. Both descriptors stay open (and locked)
 * until exit: an instance that opened the old inode just before the
 * rename finds it locked as well.
 *
 * Not here: signal handling (signals.c), what "listening" means (main.c
 * calls daemon_report_ready after actor_system_start succeeded).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "actors/metrics.h"
#include "base/fdio.h"

static int report_fd = -1;              /* daemon side of the start-up pipe */
static bool upgraded;                   /* started by a binary upgrade */
static int pid_fd = -1;                 /* the pidfile as we first opened it */
static int pid_new_fd = -1;             /* the file we renamed into place */
static char pid_path[1024];
/* Written by the controlling thread, read by the admin endpoint: a plain
 * flag, relaxed is enough (no data hangs off it). */

/* Original process: wait for the daemon's verdict. */
static int wait_for_report(int fd, char *err, size_t errlen)
{
	char buf[1024];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (strcmp(buf, "OK") == 0)
		err[0] = '\0';
	else if (strncmp(buf, "ERR ", 4) == 0)
		snprintf(err, errlen, "%s", buf + 4);
	else
		snprintf(err, errlen, "the daemon exited during start-up");
	return 1;
}

static int redirect_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return -errno;
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0)
			return -errno;
	if (fd > 2)
		close(fd);
	return 0;
}

int daemon_detach(char *err, size_t errlen)
{
	int pfd[2], rc, status;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return rc;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid > 0) {
		close(pfd[1]);
		/* The middle child exits at once; reap it so it is no zombie. */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return wait_for_report(pfd[0], err, errlen);
	}
	close(pfd[0]);
	report_fd = pfd[1];
	/* A new session leaves the controlling terminal behind; the second
	 * fork makes sure we can never acquire one again. */
	if (setsid() < 0)
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid > 0)
		_exit(0);      /* the middle child: its only job was the fork */
	if (chdir("/") < 0)
		goto fail;
	rc = redirect_stdio();
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot detach: %s", strerror(errno));
	daemon_report_failure(err);
	_exit(1);
}

void daemon_report_ready(void)
{
	char state[64];

	metrics_set_serving(true);
	if (report_fd >= 0) {
		fd_write_all(report_fd, "OK", 2);
		close(report_fd);
		report_fd = -1;
	}
	/* After an upgrade systemd must follow us: the old main process is
	 * about to exit (needs NotifyAccess=all, config/actord.service). */
	if (upgraded)
		snprintf(state, sizeof(state), "MAINPID=%ld\nREADY=1", (long)getpid());
	else
		snprintf(state, sizeof(state), "READY=1");
	daemon_sd_notify(state);
}

void daemon_upgrade_child(int fd)
{
	upgraded = true;
	report_fd = fd;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void daemon_report_failure(const char *reason)
{
	if (report_fd < 0)
		return;
	fd_write_all(report_fd, "ERR ", 4);
	fd_write_all(report_fd, reason, strlen(reason));
	/* Left open: the parent reads until EOF, which comes when this
	 * process has exited, its pidfile and listeners gone. */
}

static pid_t read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)atol(buf);
}

/* Write our pid into a fresh locked file renamed over `path`, so a reader
 * never sees a half-written pid; the descriptor stays open (and locked). */
static int write_pidfile(const char *path, int *out, char *err, size_t errlen)
{
	char tmp[sizeof(pid_path) + 16], line[32];
	int nfd, rc, len;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	nfd = mkostemp(tmp, O_CLOEXEC);
	if (nfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "pidfile %s: %s", tmp, strerror(errno));
		return rc;
	}
	len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	/* A fresh file nobody else can know yet: this lock cannot fail. */
	if (flock(nfd, LOCK_EX | LOCK_NB) < 0 || write(nfd, line, (size_t)len) != len ||
	    fchmod(nfd, 0644) < 0 || rename(tmp, path) < 0) {
		rc = -errno;
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		unlink(tmp);
		close(nfd);
		return rc;
	}
	*out = nfd;
	return 0;
}

/* `fd` is the locked file at `path`: write our pid through a new file
 * renamed over it, then keep both (the lock lives on `fd`). Closes `fd`
 * on failure. */
static int hold_pidfile(const char *path, int fd, char *err, size_t errlen)
{
	int nfd, rc = write_pidfile(path, &nfd, err, errlen);

	if (rc != 0) {
		close(fd);
		return rc;
	}
	pid_fd = fd;
	pid_new_fd = nfd;
	snprintf(pid_path, sizeof(pid_path), "%s", path);
	return 0;
}

int daemon_pidfile_acquire(const char *path, char *err, size_t errlen)
{
	int fd, rc;
	pid_t other;

	if (strlen(path) >= sizeof(pid_path)) {
		snprintf(err, errlen, "pidfile: path too long");
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EEXIST : -errno;
		other = read_pid(fd);
		if (rc == -EEXIST)
			snprintf(err, errlen, "already running (pid %ld, pidfile %s)",
				 (long)other, path);
		else
			snprintf(err, errlen, "pidfile %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	return hold_pidfile(path, fd, err, errlen);
}

int daemon_pidfile_fd(void)
{
	return pid_new_fd;
}

int daemon_pidfile_adopt(const char *path, int fd, char *err, size_t errlen)
{
	struct stat a, b;

	fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* The old process's file, still at `path`: its lock (shared with the
	 * old process through the inherited descriptor) keeps others out. */
	if (strlen(path) >= sizeof(pid_path) || fstat(fd, &a) != 0 || stat(path, &b) != 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		close(fd);
		return daemon_pidfile_acquire(path, err, errlen);
	}
	return hold_pidfile(path, fd, err, errlen);
}

void daemon_pidfile_rewrite(void)
{
	char err[256];
	int nfd;

	if (pid_new_fd < 0)
		return;
	if (write_pidfile(pid_path, &nfd, err, sizeof(err)) != 0)
		return;
	close(pid_new_fd);
	pid_new_fd = nfd;
}

void daemon_pidfile_handover(void)
{
	if (pid_new_fd < 0)
		return;
	close(pid_new_fd);
	close(pid_fd);
	pid_new_fd = pid_fd = -1;
}

void daemon_pidfile_release(void)
{
	if (pid_new_fd < 0)
		return;
	unlink(pid_path);
	close(pid_new_fd);
	close(pid_fd);
	pid_new_fd = pid_fd = -1;
}

void daemon_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';          /* abstract socket */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* Best effort: systemd's timeout reports a lost READY=1. */
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}
