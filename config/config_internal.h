/*
 * config_internal.h - what the configuration loader's files share: the
 * error context and the readers of one value. Not a public header.
 *
 * config.c walks the field table; config_values.c reads the values that
 * need more than a type check (addresses, URLs, proxy routes, paths);
 * config_text.c turns the file's text into strict JSON and reports syntax
 * errors with a line and column. Every reader reports its first problem
 * with cfg_fail (`FILE: key.path: what is wrong`) and returns -EINVAL.
 *
 * Thread: the controlling thread.
 */
#ifndef ACTORD_CONFIG_INTERNAL_H
#define ACTORD_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"

#define KEY_MAX 128           /* longest key path in a message */

/* Where we are in the file, for messages. */
struct config_ctx {
	const char *file;
	char dir[CONFIG_PATH_MAX];    /* base for relative paths */
	char *err;
	size_t errlen;
};

/* config_values.c */
__attribute__((format(printf, 3, 4)))
int cfg_fail(struct config_ctx *c, const char *key, const char *fmt, ...);
const char *cfg_json_type(const cJSON *j);
int cfg_get_uint(struct config_ctx *c, const char *key, const cJSON *j,
		 uint64_t lo, uint64_t hi, uint64_t *out);
int cfg_copy_str(struct config_ctx *c, const char *key, const char *s,
		 char *dst, size_t size);
int cfg_set_path(struct config_ctx *c, const char *key, const char *s, char *dst, size_t size);
/* Resolve `host` (and numeric `port`, may be NULL): 0, or -EINVAL with
 * "cannot resolve" and the resolver's reason. */
int cfg_resolve(struct config_ctx *c, const char *key, const char *host, const char *port,
		bool passive);
int cfg_parse_addr(struct config_ctx *c, const char *key, const cJSON *j,
		   struct config_addr *out);
/* An array of "host:port" strings into out[min..max]; its length in *count. */
int cfg_parse_addr_list(struct config_ctx *c, const char *key, const cJSON *j,
			struct config_addr *out, unsigned min, unsigned max, unsigned *count);
int cfg_parse_url(struct config_ctx *c, const char *key, const cJSON *j, struct config_url *out);
int cfg_parse_proxy_list(struct config_ctx *c, const char *key, const cJSON *j,
			 struct ad_config *cfg);
/* ["world:", "wallpaperList:"]: at most CONFIG_MAX_NEAR_PREFIX, none a
 * prefix of another (Redis refuses overlapping BCAST prefixes); [] or
 * [""]: every key. */
int cfg_parse_near_prefixes(struct config_ctx *c, const char *key, const cJSON *j,
			    struct config_near_cache *out);
bool cfg_host_is_loopback(const char *host);
int cfg_check_prefix(struct config_ctx *c, const char *key, const char *p);

/* config_check.c: rules across keys, after the environment; the first
 * broken one fails the load. */
int cfg_check_config(struct config_ctx *c, struct ad_config *cfg);

/* config_web.c: static mounts, compression, forms, cookies, sessions. */
void config_web_defaults(struct ad_config *cfg);
int cfg_parse_static_list(struct config_ctx *c, const char *key, const cJSON *j,
			  struct ad_config *cfg);
/* Signing keys (a random one when none is set), cross-field rules. */
int cfg_check_web(struct config_ctx *c, struct ad_config *cfg);

/* config_text.c */
int cfg_blank_comments(struct config_ctx *c, char *text);
int cfg_syntax_error(struct config_ctx *c, const char *text, const char *at);
/* Refuse a "\u0000" escape in any key or string of `text`, naming the key
 * (`root`: cJSON's tree of `text`). */
int cfg_refuse_nul(struct config_ctx *c, const char *text, const cJSON *root);
/* "unknown key", with the closest of the `n` names `known` (stride bytes
 * apart, each a `const char *` at the start of its element; NULL ends the
 * list early) when one is a likely typo of `name`. */
int cfg_unknown_key(struct config_ctx *c, const char *key, const char *name,
		    const void *known, size_t stride, size_t n);

#endif
