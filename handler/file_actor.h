/*
 * file_actor.h - the file actors: open, stat and read static files off
 * the request path (kind `file`, actors.file.count members).
 *
 * DESIGN
 * Opening and reading a file may wait for the disk, and nothing may
 * block a network or handler actor; so the static-file route asks a file
 * actor (hreq_call with a struct file_req) and answers from the reply:
 *  - a file up to `cache_max` bytes comes back whole in memory, with its
 *    gzip and brotli variants (a precompressed `file.gz` / `file.br`
 *    beside it when present, else compressed here once), for the
 *    handler's cache (static_files.c);
 *  - a larger file comes back as an open descriptor, read ahead
 *    (POSIX_FADV_WILLNEED) so the network actor's sendfile finds its
 *    pages cached; with `accept` set, the precompressed sibling of the
 *    best accepted coding is opened instead when it exists;
 *  - with `known` set (a cached file being revalidated), an unchanged
 *    file (and unchanged siblings) is reported `unchanged` without being
 *    read again.
 * Files are opened with openat2(RESOLVE_BENEATH) under the mount's
 * directory: "..", absolute paths and symlinks that lead out of it fail
 * in the kernel, whatever the route let through.
 *
 * The members share one pool mailbox (a slow disk read holds one member,
 * not the pool) and may block, like the MariaDB actors.
 *
 * Ownership: the caller allocates a file_req (file_req_new) and owns it
 * until hreq_call; the file actor fills the reply fields, which the
 * message owns (free_fn frees the buffers and closes `fd`) until a
 * continuation detaches them (sets them to NULL / -1).
 *
 * Thread: file_add_pool on the controlling thread; the message on the
 * file actor; the rest on the caller's thread.
 */
#ifndef ACTORD_FILE_ACTOR_H
#define ACTORD_FILE_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webparse.h"
#include "actors/actor.h"
#include "actors/call.h"

struct ad_config;

extern const struct actor_kind file_kind;

#define FILE_MSG_REQ 0x46494c01u
#define FILE_PATH_MAX 4096

/* What identifies one file on disk; all zero: no such file. */
struct file_stamp {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};

/* What identifies a version of a file: the file itself and, when
 * `compress` is asked for, its precompressed siblings file.gz and file.br,
 * whose bytes the variants are, so that a changed, new or removed sibling
 * makes a changed version (revalidation reads it again, the variant's
 * ETag changes). */
struct file_id {
	struct file_stamp file;
	struct file_stamp sibling[2];   /* [WP_GZIP - 1], [WP_BR - 1] */
};

/* Crosses mailboxes: handler -> file actor -> handler. */
struct file_req {
	struct call_msg c;            /* MUST be first */
	/* Request (the caller). */
	char dir[FILE_PATH_MAX];      /* the mount's directory (absolute) */
	char rel[FILE_PATH_MAX];      /* the file beneath it, no leading '/' */
	uint64_t cache_max;           /* read files up to this many bytes */
	uint32_t min_compress;        /* compress read files at least this big */
	bool compress;                /* make / look for gzip and br variants */
	unsigned accept;              /* large files: codings the client takes,
				       * 1 << WP_GZIP | 1 << WP_BR, best first br */
	bool revalidate;              /* `known` is set */
	struct file_id known;
	/* Reply (the file actor); c.status 0, -ENOENT (also: not beneath the
	 * directory, not a regular file), -EISDIR (a directory), -EACCES,
	 * -EIO. */
	struct file_id id;
	bool unchanged;               /* revalidation: same file, nothing read */
	int fd;                       /* a large file (or its sibling): open; -1 */
	enum wp_coding fd_coding;     /* what `fd` holds */
	uint64_t fd_len;
	char *data, *gz, *br;         /* a small file and its variants (malloc) */
	size_t len, gz_len, br_len;
};
_Static_assert(offsetof(struct file_req, c) == 0,
	       "struct file_req is used through a pointer to its c");

/* A request for `rel` under `dir`. NULL on ENOMEM or a path too long.
 * Thread: the caller. */
struct file_req *file_req_new(const char *dir, const char *rel);

/* Add the file actor pool (none when actors.file.count is 0).
 * Thread: controlling, before the system starts. */
int file_add_pool(struct actor_system *sys, const struct ad_config *cfg,
		  char *err, size_t errlen);

#endif
