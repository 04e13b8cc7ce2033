/*
 * file_actor.c - the file actor pool (file_actor.h).
 *
 * DESIGN
 * Each message: open the mount's directory (O_PATH), open the file
 * beneath it with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), fstat
 * it, and then (see file_actor.h) report it unchanged, read it with its
 * compressed variants, or hand back the descriptor. Kernels without
 * openat2 (before 5.6) get the same guarantee from realpath(3): the
 * resolved path must stay under the directory's real path.
 *
 * Members block in the file system by design, like the MariaDB actors;
 * each flushes its batched replies before it starts (mbox_flush).
 *
 * Thread: file_add_pool on the controlling thread; the rest on the file
 * actors' threads, except file_req_new and the message's free_fn (the
 * caller's).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compress.h"
#include "file_actor.h"
#include "actors/log.h"
#include "base/clock.h"
#include "config/config.h"

/* Static variants are made once per cached file: the best ratio pays. */
#define STATIC_GZIP_LEVEL 9
#define STATIC_BROTLI_QUALITY 9

const struct actor_kind file_kind = { "file" };

static void free_file_req(struct msg *m)
{
	struct file_req *q = (struct file_req *)(void *)m;

	if (q->fd >= 0)
		close(q->fd);
	free(q->data);
	free(q->gz);
	free(q->br);
	free(q);
}

struct file_req *file_req_new(const char *dir, const char *rel)
{
	struct file_req *q;

	if (strlen(dir) >= FILE_PATH_MAX || strlen(rel) + 4 >= FILE_PATH_MAX)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	call_msg_init(&q->c, FILE_MSG_REQ, free_file_req, 0);
	memcpy(q->dir, dir, strlen(dir) + 1);
	memcpy(q->rel, rel, strlen(rel) + 1);
	q->fd = -1;
	return q;
}

/* open `rel` beneath `dirfd` (named `dir`) for reading. fd or -errno. */
static int open_beneath(int dirfd, const char *dir, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	char path[PATH_MAX], real[PATH_MAX];
	size_t dlen = strlen(dir);
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return errno == EXDEV || errno == ELOOP ? -ENOENT : -errno;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path) ||
	    realpath(path, real) == NULL)
		return -ENOENT;
	if (strncmp(real, dir, dlen) != 0 || (real[dlen] != '/' && real[dlen] != '\0'))
		return -ENOENT;   /* resolved outside the directory */
	fd = open(real, (int)how.flags);
	return fd >= 0 ? (int)fd : -errno;
}

static void stamp_of(const struct stat *st, struct file_stamp *stamp)
{
	stamp->dev = (uint64_t)st->st_dev;
	stamp->ino = (uint64_t)st->st_ino;
	stamp->size = (uint64_t)st->st_size;
	stamp->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Read all `size` bytes of `fd` into a new buffer. */
static int read_all(int fd, uint64_t size, char **out)
{
	char *buf = malloc(size > 0 ? size : 1);
	size_t got = 0;

	if (buf == NULL)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;   /* shrank while we read */
		}
		got += (size_t)n;
	}
	*out = buf;
	return 0;
}

/* The precompressed sibling `rel` + ".gz" / ".br" if it is a regular
 * file: its descriptor and stamp, or -1 and a zero stamp. */
static int open_sibling(int dirfd, const char *dir, const char *rel, enum wp_coding c,
			struct file_stamp *stamp)
{
	char path[FILE_PATH_MAX + 4];
	struct stat st;
	int fd;

	memset(stamp, 0, sizeof(*stamp));
	snprintf(path, sizeof(path), "%s.%s", rel, c == WP_GZIP ? "gz" : "br");
	fd = open_beneath(dirfd, dir, path);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	stamp_of(&st, stamp);
	return fd;
}

/* A variant of the file just read: its precompressed sibling (`sfd`, or
 * -1 for none), else compressed here; kept only when smaller. */
static void make_variant(struct file_req *q, int sfd, enum wp_coding c, char **out,
			 size_t *outlen)
{
	uint64_t size = q->id.sibling[c - 1].size;
	char *buf = NULL;
	size_t len = 0;

	if (sfd >= 0) {
		if (size <= q->cache_max && read_all(sfd, size, &buf) == 0)
			len = (size_t)size;
	} else if (compress_buf(c, c == WP_GZIP ? STATIC_GZIP_LEVEL : STATIC_BROTLI_QUALITY,
				q->data, q->len, &buf, &len) != 0) {
		buf = NULL;
	}
	if (buf != NULL && len < q->len) {
		*out = buf;
		*outlen = len;
	} else {
		free(buf);
	}
}

static int serve(struct file_req *q)
{
	struct stat st;
	int dirfd, fd, rc = 0, sfd[2] = { -1, -1 };   /* gz, br siblings */

	dirfd = open(q->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -ENOENT;
	fd = open_beneath(dirfd, q->dir, q->rel);
	if (fd < 0) {
		close(dirfd);
		return fd == -ENOTDIR ? -ENOENT : fd;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		rc = -ENOENT;   /* devices, fifos, sockets: never served */
	}
	if (rc != 0) {
		close(fd);
		close(dirfd);
		return rc;
	}
	stamp_of(&st, &q->id.file);
	/* The siblings are part of the version (file_id): looked at on every
	 * call, revalidation included, and read from these descriptors. */
	for (int k = WP_GZIP; q->compress && k <= WP_BR; k++)
		sfd[k - 1] = open_sibling(dirfd, q->dir, q->rel, (enum wp_coding)k,
					  &q->id.sibling[k - 1]);
	if (q->revalidate && memcmp(&q->id, &q->known, sizeof(q->id)) == 0) {
		q->unchanged = true;
	} else if (q->id.file.size <= q->cache_max) {
		rc = read_all(fd, q->id.file.size, &q->data);
		q->len = (size_t)q->id.file.size;
		if (rc == 0 && q->compress && q->len >= q->min_compress) {
			make_variant(q, sfd[0], WP_GZIP, &q->gz, &q->gz_len);
			make_variant(q, sfd[1], WP_BR, &q->br, &q->br_len);
		}
	} else {
		enum wp_coding c = WP_IDENTITY;

		q->fd_len = q->id.file.size;
		for (int k = WP_BR; k >= WP_GZIP; k--) {
			if (sfd[k - 1] >= 0 && (q->accept & (1u << k))) {
				close(fd);
				fd = sfd[k - 1];
				sfd[k - 1] = -1;
				q->fd_len = q->id.sibling[k - 1].size;
				c = (enum wp_coding)k;
				break;
			}
		}
		posix_fadvise(fd, 0, (off_t)q->fd_len, POSIX_FADV_WILLNEED);
		q->fd_coding = c;
		q->fd = fd;
		fd = -1;
	}
	for (int k = 0; k < 2; k++)
		if (sfd[k] >= 0)
			close(sfd[k]);
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return rc;
}

static void file_message(struct actor *a, struct msg *m)
{
	struct file_req *q = (struct file_req *)(void *)m;

	(void)a;
	if (m->type != FILE_MSG_REQ) {
		log_warn("unexpected message type %#x dropped", m->type);
		msg_free(m);
		return;
	}
	/* Replies sent before must not wait for the disk. */
	mbox_flush();
	call_reply(&q->c, call_expired(&q->c, clock_now_ns()) ? -ETIMEDOUT : serve(q));
}

static int file_start(struct actor *a)
{
	(void)a;
	return 0;
}

static void file_stop(struct actor *a)
{
	(void)a;
}

static const struct actor_ops file_ops = {
	.start = file_start,
	.message = file_message,
	.stop = file_stop,
};

int file_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		  char *err, size_t errlen)
{
	struct actor_pool_spec spec = {
		.kind = &file_kind,
		.count = cfg->file_actor.count,
		.max = CONFIG_MAX_ACTORS,   /* stateless: resizable live */
		.mbox_capacity = cfg->file_actor.mailbox,
		.shared_mailbox = true,
		.ops = &file_ops,
	};

	if (cfg->file_actor.count == 0)
		return 0;
	return actor_system_add_pool(sys, &spec, err, errlen) == ACTOR_ADDR_NONE ? -EINVAL : 0;
}
