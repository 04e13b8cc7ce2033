/*
 * static_files.h - serving the files of configured directories
 * (static.mounts in the configuration; docs/HANDLERS.md, "Static files").
 *
 * DESIGN
 * Each mount becomes a `GET <prefix>*path` route (HEAD included). The
 * route never touches the file system itself: a per-handler cache keeps
 * files up to static.cache_file_bytes in memory (with their gzip and
 * brotli variants), trusted for static.revalidate_ms after the file actor
 * last looked at them (bounded staleness); anything else, and every
 * revalidation, is a call to the file actors (file_actor.h). Larger files
 * come back as a descriptor the network actor sends with sendfile(2); the
 * cache keeps it open (at most STATIC_MAX_FDS per handler) and sends a
 * duplicate per request, within the same staleness bound (nginx's
 * open_file_cache).
 *
 * Answers: Content-Type from the extension; ETag and Last-Modified, with
 * 304 for If-None-Match / If-Modified-Since; one Range -> 206 (several:
 * the whole file; past the end: 416); Accept-Encoding -> the br or gzip
 * variant with `Vary: Accept-Encoding` (never for a range); an index file
 * for "dir/" when the mount names one; no directory listing. A path with
 * "." or ".." segments (percent-encoded too), an empty segment or a
 * dotfile -> 404; a NUL byte or a bad escape -> 400; symlinks leading out
 * of the directory -> 404 (openat2 RESOLVE_BENEATH).
 *
 * Thread: the handler actor serving the request.
 */
#ifndef ACTORD_STATIC_FILES_H
#define ACTORD_STATIC_FILES_H

#include <stddef.h>

#include "handler_api.h"

/* The routes of every mount in cfg->static_files (a handler_routes_fn:
 * list it in the application's modules). */
int static_files_routes(struct route_table *t, const struct ad_config *cfg,
			char *err, size_t errlen);

/* The Content-Type for file name `name` (by extension); text types carry
 * "; charset=utf-8". application/octet-stream if unknown. */
const char *static_content_type(const char *name);

#endif
