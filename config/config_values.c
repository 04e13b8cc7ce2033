/*
 * config_values.c - reading the configuration values that need more than a
 * type check: integers in range, strings that must fit, paths anchored at
 * the file's directory, listen addresses that must resolve, upstream URLs
 * and proxy routes. Error messages: `FILE: key.path: what is wrong`.
 *
 * Thread: the controlling thread (getaddrinfo may block on DNS).
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config_internal.h"

int cfg_fail(struct config_ctx *c, const char *key, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s: %s", c->file, key, what);
	return -EINVAL;
}

const char *cfg_json_type(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsArray(j))
		return "an array";
	return "an object";
}

int cfg_get_uint(struct config_ctx *c, const char *key, const cJSON *j,
		 uint64_t lo, uint64_t hi, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(j))
		return cfg_fail(c, key, "expected an integer, got %s", cfg_json_type(j));
	d = j->valuedouble;
	/* Every double past 2^53 is integral: a large number is out of range,
	 * not "not an integer" (every bound is below 2^53, so the cast below
	 * is exact). */
	if (d != floor(d))
		return cfg_fail(c, key, "expected an integer, got %g", d);
	if (d < (double)lo || d > (double)hi)
		return cfg_fail(c, key, "%.17g is out of range [%llu, %llu]", d,
			    (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)d;
	return 0;
}

int cfg_copy_str(struct config_ctx *c, const char *key, const char *s,
		 char *dst, size_t size)
{
	size_t n = strlen(s);

	if (n >= size)
		return cfg_fail(c, key, "longer than %zu bytes", size - 1);
	/* Zero the tail too: config_carry_fixed compares fields bytewise. */
	memset(dst, 0, size);
	memcpy(dst, s, n);
	return 0;
}

/* "" and "-" mean stderr; anything relative is anchored at the config dir. */
int cfg_set_path(struct config_ctx *c, const char *key, const char *s, char *dst, size_t size)
{
	if (s[0] == '\0' || strcmp(s, "-") == 0 || s[0] == '/')
		return cfg_copy_str(c, key, s, dst, size);
	memset(dst, 0, size);
	if ((size_t)snprintf(dst, size, "%s/%s", c->dir, s) >= size)
		return cfg_fail(c, key, "path longer than %zu bytes", size - 1);
	return 0;
}

int config_absolute_path(const char *path, char *out, size_t outlen)
{
	char cwd[CONFIG_PATH_MAX];

	if (path[0] == '/') {
		if (strlen(path) >= outlen)
			return -ENAMETOOLONG;
		memcpy(out, path, strlen(path) + 1);
		return 0;
	}
	/* getcwd names the directory itself (the kernel keeps no link
	 * names); only `path`'s own links must survive. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if ((size_t)snprintf(out, outlen, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
			     path) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int cfg_resolve(struct config_ctx *c, const char *key, const char *host, const char *port,
		bool passive)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if (port != NULL)
		hints.ai_flags |= AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return cfg_fail(c, key, "cannot resolve '%s': %s", host,
			    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	freeaddrinfo(res);
	return 0;
}

/* "host:port" or "[v6]:port"; the host must resolve. */
int cfg_parse_addr(struct config_ctx *c, const char *key, const cJSON *j,
		   struct config_addr *out)
{
	const char *s, *colon, *host = NULL;
	size_t hostlen;
	char *end;
	unsigned long port;

	if (!cJSON_IsString(j))
		return cfg_fail(c, key, "expected a \"host:port\" string, got %s", cfg_json_type(j));
	s = j->valuestring;
	colon = strrchr(s, ':');
	if (colon == NULL)
		return cfg_fail(c, key, "'%s' is not \"host:port\"", s);
	if (s[0] == '[') {
		if (colon == s || colon[-1] != ']')
			return cfg_fail(c, key, "'%s' is not \"[address]:port\"", s);
		host = s + 1;
		hostlen = (size_t)(colon - 1 - host);
	} else {
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return cfg_fail(c, key, "'%s': write IPv6 addresses as \"[address]:port\"", s);
		host = s;
		hostlen = (size_t)(colon - s);
	}
	if (hostlen == 0)
		return cfg_fail(c, key, "'%s' has no host", s);
	if (hostlen >= sizeof(out->host))
		return cfg_fail(c, key, "host longer than %zu bytes", sizeof(out->host) - 1);
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port == 0 || port > 65535)
		return cfg_fail(c, key, "'%s': port must be 1..65535", s);
	memset(out->host, 0, sizeof(out->host));
	memcpy(out->host, host, hostlen);
	out->port = (uint16_t)port;
	return cfg_resolve(c, key, out->host, colon + 1, true);
}

int cfg_parse_addr_list(struct config_ctx *c, const char *key, const cJSON *j,
			struct config_addr *out, unsigned min, unsigned max, unsigned *count)
{
	char sub[KEY_MAX + 16];
	const cJSON *e;
	unsigned n = 0;
	int rc;

	if (!cJSON_IsArray(j))
		return cfg_fail(c, key, "expected an array of \"host:port\" strings, got %s",
			    cfg_json_type(j));
	cJSON_ArrayForEach(e, j) {
		if (n == max)
			return cfg_fail(c, key, "more than %u addresses", max);
		snprintf(sub, sizeof(sub), "%s[%u]", key, n);
		rc = cfg_parse_addr(c, sub, e, &out[n]);
		if (rc != 0)
			return rc;
		n++;
	}
	if (n < min)   /* min is 0 or 1 */
		return cfg_fail(c, key, "needs at least one address");
	*count = n;
	return 0;
}

/* An http:// or https:// URL (names are resolved at run time); "" leaves
 * it unset. */
int cfg_parse_url(struct config_ctx *c, const char *key, const cJSON *j, struct config_url *out)
{
	char why[300];

	if (!cJSON_IsString(j))
		return cfg_fail(c, key, "expected an \"http[s]://host[:port]/path\" string, got %s",
			    cfg_json_type(j));
	if (j->valuestring[0] == '\0') {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	if (config_url_parse(j->valuestring, out, why, sizeof(why)) != 0)
		return cfg_fail(c, key, "%s", why);
	return 0;
}

/* A route prefix: "/", then segments of unreserved characters, each
 * followed by '/' (no empty segment, nothing the route table reads as a
 * parameter). */
int cfg_check_prefix(struct config_ctx *c, const char *key, const char *p)
{
	size_t n = strlen(p);

	if (n < 1 || p[0] != '/' || p[n - 1] != '/')
		return cfg_fail(c, key, "'%s' must start and end with '/'", p);
	for (size_t i = 1; i < n; i++) {
		char ch = p[i];

		if (ch == '/' && p[i - 1] == '/')
			return cfg_fail(c, key, "'%s' has an empty segment", p);
		if (ch != '/' && ch != '-' && ch != '.' && ch != '_' && ch != '~' &&
		    !(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9'))
			return cfg_fail(c, key, "'%s': only letters, digits, '-', '.', '_', '~' "
				    "and '/' are allowed", p);
	}
	return 0;
}

/* A proxy route's TLS file: a string, anchored at the config's directory. */
static int proxy_path(struct config_ctx *c, const char *key, const cJSON *m, char *dst,
		      size_t size)
{
	if (!cJSON_IsString(m))
		return cfg_fail(c, key, "expected a string, got %s", cfg_json_type(m));
	if (m->valuestring[0] == '\0') {
		dst[0] = '\0';
		return 0;
	}
	return cfg_set_path(c, key, m->valuestring, dst, size);
}

/* [{"prefix": "/proxy/", "to": "http://127.0.0.1:9000/", "ca_file": "",
 *   "cert_file": "", "key_file": ""}, ...] */
int cfg_parse_proxy_list(struct config_ctx *c, const char *key, const cJSON *j,
			 struct ad_config *cfg)
{
	struct config_upstream *u = &cfg->upstream;
	char sub[KEY_MAX + 32];
	const cJSON *e, *m;
	unsigned n = 0;
	int rc;

	if (!cJSON_IsArray(j))
		return cfg_fail(c, key, "expected an array of {\"prefix\", \"to\"} objects, got %s",
			    cfg_json_type(j));
	memset(u->proxy, 0, sizeof(u->proxy));
	cJSON_ArrayForEach(e, j) {
		struct config_proxy *px = &u->proxy[n];
		bool have_prefix = false, have_to = false;

		snprintf(sub, sizeof(sub), "%s[%u]", key, n);
		if (n == CONFIG_MAX_PROXY)
			return cfg_fail(c, key, "more than %d proxy routes", CONFIG_MAX_PROXY);
		if (!cJSON_IsObject(e))
			return cfg_fail(c, sub, "expected an object, got %s", cfg_json_type(e));
		cJSON_ArrayForEach(m, e) {
			snprintf(sub, sizeof(sub), "%s[%u].%s", key, n, m->string);
			for (const cJSON *k = e->child; k != m; k = k->next)
				if (strcmp(k->string, m->string) == 0)
					return cfg_fail(c, sub, "duplicate key");
			if (strcmp(m->string, "prefix") == 0) {
				if (!cJSON_IsString(m))
					return cfg_fail(c, sub, "expected a string, got %s", cfg_json_type(m));
				rc = cfg_copy_str(c, sub, m->valuestring, px->prefix, sizeof(px->prefix));
				if (rc == 0)
					rc = cfg_check_prefix(c, sub, px->prefix);
				have_prefix = true;
			} else if (strcmp(m->string, "to") == 0) {
				rc = cfg_parse_url(c, sub, m, &px->to);
				if (rc == 0 && px->to.url[0] == '\0')
					rc = cfg_fail(c, sub, "must not be empty");
				have_to = true;
			} else if (strcmp(m->string, "ca_file") == 0) {
				rc = proxy_path(c, sub, m, px->ca_file, sizeof(px->ca_file));
			} else if (strcmp(m->string, "cert_file") == 0) {
				rc = proxy_path(c, sub, m, px->cert_file, sizeof(px->cert_file));
			} else if (strcmp(m->string, "key_file") == 0) {
				rc = proxy_path(c, sub, m, px->key_file, sizeof(px->key_file));
			} else {
				static const char *const keys[] = { "prefix", "to", "ca_file",
								    "cert_file", "key_file" };

				rc = cfg_unknown_key(c, sub, m->string, keys, sizeof(keys[0]),
						     sizeof(keys) / sizeof(keys[0]));
			}
			if (rc != 0)
				return rc;
		}
		snprintf(sub, sizeof(sub), "%s[%u]", key, n);
		if (!have_prefix || !have_to)
			return cfg_fail(c, sub, "needs both \"prefix\" and \"to\"");
		if (px->key_file[0] != '\0' && px->cert_file[0] == '\0')
			return cfg_fail(c, sub, "key_file needs cert_file");
		for (unsigned i = 0; i < n; i++)
			if (strcmp(u->proxy[i].prefix, px->prefix) == 0)
				return cfg_fail(c, sub, "prefix '%s' already used by %s[%u]",
					    px->prefix, key, i);
		n++;
	}
	u->nproxy = n;
	return 0;
}

int cfg_parse_near_prefixes(struct config_ctx *c, const char *key, const cJSON *j,
			    struct config_near_cache *out)
{
	char sub[KEY_MAX + 16];
	const cJSON *e;
	unsigned n = 0;
	int rc;

	if (!cJSON_IsArray(j))
		return cfg_fail(c, key, "expected an array of key prefixes, got %s", cfg_json_type(j));
	memset(out->prefixes, 0, sizeof(out->prefixes));
	cJSON_ArrayForEach(e, j) {
		snprintf(sub, sizeof(sub), "%s[%u]", key, n);
		if (n == CONFIG_MAX_NEAR_PREFIX)
			return cfg_fail(c, key, "more than %d prefixes", CONFIG_MAX_NEAR_PREFIX);
		if (!cJSON_IsString(e))
			return cfg_fail(c, sub, "expected a string, got %s", cfg_json_type(e));
		for (const char *p = e->valuestring; *p != '\0'; p++)
			if (*p <= ' ' || *p > '~')
				return cfg_fail(c, sub, "'%s': use printable ASCII without spaces",
					    e->valuestring);
		rc = cfg_copy_str(c, sub, e->valuestring, out->prefixes[n], CONFIG_PREFIX_MAX);
		if (rc != 0)
			return rc;
		for (unsigned i = 0; i < n; i++) {
			const char *a = out->prefixes[i], *b = out->prefixes[n];

			if (strncmp(a, b, strlen(a)) == 0 || strncmp(a, b, strlen(b)) == 0)
				return cfg_fail(c, sub, "'%s' overlaps '%s' (%s[%u]): Redis tracks "
					    "prefixes that do not contain each other", b, a, key, i);
		}
		n++;
	}
	out->nprefixes = n;
	return 0;
}

/* Whether every address `host` resolves to is a loopback address. */
bool cfg_host_is_loopback(const char *host)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	bool all = true;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)ai->ai_addr;

			all = all && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)ai->ai_addr;

			all = all && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		} else {
			all = false;
		}
	}
	freeaddrinfo(res);
	return all;
}

