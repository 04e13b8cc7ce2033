/*
 * config_json.h - a configuration as JSON, with its secrets redacted.
 *
 * DESIGN
 * What GET /admin/config shows: the effective configuration (every key,
 * defaults and environment overrides applied) in the shape of the file,
 * so an operator can compare it with what they wrote. Secrets never leave
 * the process: admin_token, redis.password, mysql.password and
 * cookies.secret_keys read "<redacted>" when set ("" when not, which is
 * worth knowing; a generated cookie key shows as ""), and the
 * credentials inside mongo.uri (user:password@, and query options that
 * carry secrets) are replaced by "<redacted>" too.
 *
 * It reads a struct and builds JSON; it does not parse or validate
 * (config.c does).
 *
 * Thread: any (a loaded config is immutable).
 */
#ifndef ACTORD_CONFIG_JSON_H
#define ACTORD_CONFIG_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"

#define CONFIG_REDACTED "<redacted>"

/* A new JSON object for `cfg`, or NULL on ENOMEM. The caller frees it
 * with cJSON_Delete. */
cJSON *config_to_json(const struct ad_config *cfg);

/* Copy the MongoDB URI `uri` into `out` with its credentials redacted.
 * Returns `out` (always NUL-terminated). */
const char *config_redact_uri(char *out, size_t outlen, const char *uri);

#endif
