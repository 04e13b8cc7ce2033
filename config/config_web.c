/*
 * config_web.c - the settings of web applications: static-file mounts,
 * compression, request bodies, cookie signing keys and sessions.
 *
 * DESIGN
 * Mount directories are resolved once, at load, with realpath(3): a mount
 * names an existing directory (a typo fails the load, not every request),
 * and the static-file actors open files beneath that real path only.
 *
 * Signing keys are a comma-separated list, newest first: the newest signs,
 * every key verifies (rotation without logging anybody out). With none
 * configured, a random key is drawn for this process (keys_generated) and
 * carried across reloads by config_carry_web, so a SIGHUP logs nobody out
 * either; signed cookies then do not survive a restart, and the server
 * says so at start.
 *
 * Thread: the controlling thread (realpath and getrandom may block).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "config_internal.h"

#define KEY_MIN_BYTES 16      /* a shorter HMAC key is a mistake */

void config_web_defaults(struct ad_config *cfg)
{
	cfg->static_files.revalidate_ms = 1000;
	cfg->static_files.cache_bytes = 64u << 20;
	cfg->static_files.cache_file_bytes = 256u << 10;
	cfg->compress.enabled = true;
	cfg->compress.min_bytes = 512;
	cfg->compress.gzip_level = 6;
	cfg->compress.brotli_quality = 4;
	cfg->forms.max_parts = 64;
	cfg->forms.max_field_bytes = 64u << 10;
	cfg->forms.max_file_bytes = 8u << 20;
	snprintf(cfg->session.cookie, sizeof(cfg->session.cookie), "sid");
	snprintf(cfg->session.prefix, sizeof(cfg->session.prefix), "session:");
	cfg->session.idle_s = 1800;
	cfg->session.max_age_s = 7u * 86400u;
	cfg->app.demo_pbkdf2_iterations = 100000;
}

/* A static mount's keys, for the "did you mean" of an unknown one. */
static int unknown_mount_key(struct config_ctx *c, const char *key, const char *name)
{
	static const char *const keys[] = { "prefix", "dir", "index", "max_age_s", "compress" };

	return cfg_unknown_key(c, key, name, keys, sizeof(keys[0]), sizeof(keys) / sizeof(keys[0]));
}

/* One mount object: {"prefix", "dir", "index", "max_age_s", "compress"}. */
static int parse_mount(struct config_ctx *c, const char *key, const cJSON *e,
		       struct config_static_mount *m)
{
	char sub[KEY_MAX + 32], dir[CONFIG_PATH_MAX], real[PATH_MAX];
	bool have_prefix = false, have_dir = false;
	const cJSON *f;
	uint64_t v;
	int rc;

	if (!cJSON_IsObject(e))
		return cfg_fail(c, key, "expected an object, got %s", cfg_json_type(e));
	m->compress = true;
	cJSON_ArrayForEach(f, e) {
		snprintf(sub, sizeof(sub), "%s.%s", key, f->string);
		for (const cJSON *k = e->child; k != f; k = k->next)
			if (strcmp(k->string, f->string) == 0)
				return cfg_fail(c, sub, "duplicate key");
		if (strcmp(f->string, "max_age_s") == 0) {
			rc = cfg_get_uint(c, sub, f, 0, 10u * 365u * 86400u, &v);
			m->max_age_s = (uint32_t)v;
		} else if (strcmp(f->string, "compress") == 0) {
			rc = cJSON_IsBool(f) ? 0 : cfg_fail(c, sub, "expected true or false, got %s",
							   cfg_json_type(f));
			m->compress = cJSON_IsTrue(f);
		} else if (!cJSON_IsString(f)) {
			rc = strcmp(f->string, "prefix") == 0 || strcmp(f->string, "dir") == 0 ||
			     strcmp(f->string, "index") == 0
				? cfg_fail(c, sub, "expected a string, got %s", cfg_json_type(f))
				: unknown_mount_key(c, sub, f->string);
		} else if (strcmp(f->string, "prefix") == 0) {
			rc = cfg_copy_str(c, sub, f->valuestring, m->prefix, sizeof(m->prefix));
			if (rc == 0)
				rc = cfg_check_prefix(c, sub, m->prefix);
			have_prefix = true;
		} else if (strcmp(f->string, "dir") == 0) {
			rc = f->valuestring[0] == '\0' ? cfg_fail(c, sub, "must not be empty")
				: cfg_set_path(c, sub, f->valuestring, dir, sizeof(dir));
			if (rc == 0 && realpath(dir, real) == NULL)
				rc = cfg_fail(c, sub, "'%s': %s", dir, strerror(errno));
			else if (rc == 0) {
				struct stat st;

				if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
					rc = cfg_fail(c, sub, "'%s' is not a directory", real);
				else
					rc = cfg_copy_str(c, sub, real, m->dir, sizeof(m->dir));
			}
			have_dir = true;
		} else if (strcmp(f->string, "index") == 0) {
			rc = cfg_copy_str(c, sub, f->valuestring, m->index, sizeof(m->index));
			if (rc == 0 && (strchr(m->index, '/') != NULL || strcmp(m->index, ".") == 0 ||
					strcmp(m->index, "..") == 0))
				rc = cfg_fail(c, sub, "'%s': a file name, without '/'", m->index);
		} else {
			rc = unknown_mount_key(c, sub, f->string);
		}
		if (rc != 0)
			return rc;
	}
	if (!have_prefix || !have_dir)
		return cfg_fail(c, key, "needs both \"prefix\" and \"dir\"");
	return 0;
}

/* [{"prefix": "/static/", "dir": "public", "index": "index.html"}, ...] */
int cfg_parse_static_list(struct config_ctx *c, const char *key, const cJSON *j,
			  struct ad_config *cfg)
{
	struct config_static *s = &cfg->static_files;
	char sub[KEY_MAX + 32];
	const cJSON *e;
	unsigned n = 0;
	int rc;

	if (!cJSON_IsArray(j))
		return cfg_fail(c, key, "expected an array of {\"prefix\", \"dir\"} objects, got %s",
			    cfg_json_type(j));
	memset(s->mount, 0, sizeof(s->mount));
	cJSON_ArrayForEach(e, j) {
		snprintf(sub, sizeof(sub), "%s[%u]", key, n);
		if (n == CONFIG_MAX_STATIC)
			return cfg_fail(c, key, "more than %d mounts", CONFIG_MAX_STATIC);
		rc = parse_mount(c, sub, e, &s->mount[n]);
		if (rc != 0)
			return rc;
		for (unsigned i = 0; i < n; i++)
			if (strcmp(s->mount[i].prefix, s->mount[n].prefix) == 0)
				return cfg_fail(c, sub, "prefix '%s' already used by %s[%u]",
					    s->mount[n].prefix, key, i);
		n++;
	}
	s->nmount = n;
	return 0;
}

static int check_keys(struct config_ctx *c, struct config_cookies *k)
{
	const char *p = k->secret_keys;
	unsigned i = 0;

	if (*p == '\0') {
		unsigned char raw[32];

		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
			return cfg_fail(c, "cookies.secret_keys", "no key set and no random "
				    "bytes to draw one: %s", strerror(errno));
		for (size_t b = 0; b < sizeof(raw); b++)
			snprintf(k->secret_keys + 2 * b, 3, "%02x", raw[b]);
		k->keys_generated = true;
		return 0;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		for (size_t b = 0; b < n; b++)
			if (p[b] <= ' ' || p[b] > '~')
				return cfg_fail(c, "cookies.secret_keys", "key %u: printable ASCII "
					    "without spaces, keys separated by ','", i + 1);
		if (n < KEY_MIN_BYTES)
			return cfg_fail(c, "cookies.secret_keys", "key %u is %zu bytes: at least "
				    "%d", i + 1, n, KEY_MIN_BYTES);
		p += n;
		if (*p == ',')
			p++;
		i++;
	}
	k->keys_generated = false;
	return 0;
}

int cfg_check_web(struct config_ctx *c, struct ad_config *cfg)
{
	if (cfg->static_files.cache_file_bytes > cfg->static_files.cache_bytes)
		return cfg_fail(c, "static.cache_file_bytes", "%u is larger than "
			    "static.cache_bytes (%llu)", cfg->static_files.cache_file_bytes,
			    (unsigned long long)cfg->static_files.cache_bytes);
	if (cfg->static_files.nmount > 0 && cfg->file_actor.count == 0)
		return cfg_fail(c, "actors.file.count", "0, but static.mounts has %u mount(s): "
			    "the file actors open the files", cfg->static_files.nmount);
	return check_keys(c, &cfg->cookies);
}

void config_carry_web(struct ad_config *next, const struct ad_config *running)
{
	if (next->cookies.keys_generated && running->cookies.keys_generated)
		memcpy(next->cookies.secret_keys, running->cookies.secret_keys,
		       sizeof(next->cookies.secret_keys));
}
