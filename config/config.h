/*
 * config.h - actord's configuration as plain data.
 *
 * DESIGN
 * The JSON file (comments allowed) is parsed and validated ONCE into a
 * `struct ad_config`; the rest of the program reads this struct and never the
 * JSON. Validation errors read `FILE: key.path: what is wrong`. A reload
 * builds a whole new struct and swaps it in as a read-only snapshot; nothing
 * mutates a config after config_load() returned it.
 *
 * Thread: config_load/config_free on the controlling thread; a loaded config
 * is immutable and may be read from any thread while it is alive.
 * Every key, its type, default and meaning: docs/CONFIG.md.
 */
#ifndef ACTORD_CONFIG_H
#define ACTORD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 8
#define CONFIG_HOST_MAX 256

struct config_addr {
	char host[CONFIG_HOST_MAX];   /* numeric or resolvable name */
	uint16_t port;
};

/* One actor kind: how many, and the size of each mailbox. */
struct config_actors {
	unsigned count;
	uint32_t mailbox;             /* power of two >= 4 */
};

struct config_http {
	uint32_t max_request_line;    /* bytes; longer -> 414 */
	uint32_t max_header_bytes;    /* bytes; larger -> 431 */
	uint32_t max_headers;         /* fields; more -> 431 */
	uint64_t max_body_bytes;      /* larger -> 413 before reading the body */
	uint32_t header_timeout_ms;   /* absolute deadline for the header block */
	uint32_t body_timeout_ms;     /* idle I/O timeout while reading a body */
	uint32_t keepalive_timeout_ms;/* idle time between requests */
	uint32_t write_timeout_ms;    /* a client that does not read is dropped */
	uint32_t request_timeout_ms;  /* handler deadline -> 504 */
	uint32_t max_connections;     /* whole process; past it, stop accepting */
	uint32_t backlog;             /* listen(2) backlog */
	uint32_t output_high_water;   /* bytes unsent before reads pause */
	uint32_t max_pipeline;        /* requests in flight per connection */
};

enum config_log_format { CONFIG_LOG_AUTO, CONFIG_LOG_JSON, CONFIG_LOG_TEXT };
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };

struct config_log {
	enum config_log_level level;
	enum config_log_format format;
	char file[1024];              /* "" or "-": stderr */
	char access_log[1024];        /* "": off */
};

struct ad_config {
	char path[1024];              /* the file it came from */
	struct config_addr listen[CONFIG_MAX_LISTEN];
	unsigned nlisten;
	struct config_addr admin_listen;
	struct config_actors net;
	struct config_actors handler;
	struct config_actors log_actor;
	struct config_http http;
	struct config_log log;
	char pidfile[1024];
	uint32_t drain_timeout_ms;
	bool test_routes;             /* registers /_test/* routes (tests only) */
};

/* Fill `cfg` with the built-in defaults (what an empty file means). */
void config_defaults(struct ad_config *cfg);

/* Parse and validate `path`. Returns a new config, or NULL with
 * "FILE: key.path: problem" in `err`. Thread: controlling. */
struct ad_config *config_load(const char *path, char *err, size_t errlen);

void config_free(struct ad_config *cfg);

#endif
