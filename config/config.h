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
 * Live settings: actors read limits, timeouts, the log level and backend
 * settings from config_current() once per request (or per connection
 * attempt), never caching a pointer across requests. SIGHUP publishes a new
 * snapshot with config_publish(); the pointer swap is a single atomic store,
 * so a request sees either the old or the new snapshot, never a mix.
 * Settings fixed at start-up (listen addresses, the counts of pools that
 * cannot be resized, mailboxes, pidfile, admin address) keep their running
 * values in every later snapshot: config_carry_fixed() copies them and
 * reports what would need a restart. The counts of the resizable pools
 * (net, handler, cache, mysql) change on a reload: the composition root
 * resizes those pools (server/server.c).
 *
 * Secrets come from the environment when set: ACTORD_<KEY_PATH> (upper case,
 * '.' -> '_'), or ACTORD_<KEY_PATH>_FILE naming a file that holds the value.
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
/* The most actors of one kind (actors.<kind>.count); resizable pools
 * reserve this many addresses (actors/actor.h). */
#define CONFIG_MAX_ACTORS 64
/* Workers block by design (sleeping threads cost no CPU): up to the pool
 * mailbox's consumer limit. */
#define CONFIG_MAX_WORKERS 256
#define CONFIG_HOST_MAX 256
#define CONFIG_MAX_SENTINELS 8
#define CONFIG_PATH_MAX 1024
#define CONFIG_SECRET_MAX 256
#define CONFIG_URL_MAX 512
#define CONFIG_MAX_PROXY 16
#define CONFIG_PREFIX_MAX 128
#define CONFIG_MAX_NEAR_PREFIX 16
#define CONFIG_MAX_STATIC 16
#define CONFIG_KEYS_MAX 1024

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
	uint64_t max_stream_body_bytes; /* a body a route reads piece by piece
				       * (ROUTE_STREAM_BODY); 0: no limit */
	uint32_t header_timeout_ms;   /* absolute deadline for the header block */
	uint32_t body_timeout_ms;     /* idle I/O timeout while reading a body */
	uint32_t body_min_rate;       /* bytes/s a body must keep up; 0: off */
	uint32_t keepalive_timeout_ms;/* idle time between requests */
	uint32_t write_timeout_ms;    /* a client that does not read is dropped */
	uint32_t request_timeout_ms;  /* handler deadline -> 504 */
	uint32_t max_connections;     /* whole process; past it, stop accepting */
	uint32_t backlog;             /* listen(2) backlog */
	uint32_t output_high_water;   /* bytes unsent before reads pause */
	uint32_t max_pipeline;        /* requests in flight per connection */
	uint32_t slow_handler_ms;     /* one message holding a handler longer is
				       * logged (rate-limited); 0: off */
};

enum config_log_format { CONFIG_LOG_AUTO, CONFIG_LOG_JSON, CONFIG_LOG_TEXT };
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };

struct config_log {
	enum config_log_level level;
	enum config_log_format format;
	char file[CONFIG_PATH_MAX];   /* "" or "-": stderr */
	char access_log[CONFIG_PATH_MAX]; /* "": off; "-": stderr */
};

/* Backends (the storage actors read these per connection attempt). */
struct config_redis {
	char host[CONFIG_HOST_MAX];
	uint16_t port;
	char password[CONFIG_SECRET_MAX]; /* "": no AUTH; env ACTORD_REDIS_PASSWORD */
	uint32_t database;            /* SELECT n */
	uint32_t connect_timeout_ms;
	uint32_t command_timeout_ms;  /* a reply later than this fails the call */
	uint32_t pipeline_max;        /* commands written per batch */
	uint32_t reconnect_max_ms;    /* longest wait between connection attempts */
	/* Sentinel (storage/sentinel.h): with nsentinels > 0 the primary of
	 * `sentinel_master` is asked of these and host/port are not used. */
	struct config_addr sentinels[CONFIG_MAX_SENTINELS];
	unsigned nsentinels;
	char sentinel_master[128];
};

struct config_mysql {
	char host[CONFIG_HOST_MAX];
	uint16_t port;
	char user[128];
	char password[CONFIG_SECRET_MAX]; /* env ACTORD_MYSQL_PASSWORD */
	char database[128];
	uint32_t connect_timeout_ms;
	uint32_t query_timeout_ms;
	uint32_t reconnect_max_ms;    /* longest wait between connection attempts */
	uint32_t statement_cache;     /* prepared statements kept per connection */
};

/* MongoDB: uri "" (the default) means not configured. The uri and the
 * timeouts are fixed at start (they shape the driver's client pool);
 * database is read per call. */
struct config_mongo {
	char uri[CONFIG_PATH_MAX];    /* env ACTORD_MONGO_URI (may hold credentials) */
	char database[128];
	uint32_t connect_timeout_ms;
	uint32_t query_timeout_ms;    /* socket timeout: a reply later fails the call */
	uint32_t server_selection_timeout_ms; /* longest wait for a usable server */
};

/* The admin endpoint (docs/ADMIN.md). */
struct config_admin {
	uint32_t max_connections;     /* admin connections open at once (live) */
};

/* An http:// or https:// URL, parsed once. Names are resolved at run
 * time by the upstream actors (dns/dns.h), never here. */
struct config_url {
	char url[CONFIG_URL_MAX];     /* as written; "" when unset */
	char host[CONFIG_HOST_MAX];   /* name or address, without [] */
	uint16_t port;                /* 80 (443 for https) when the URL names none */
	bool tls;                     /* https:// */
	char target[CONFIG_URL_MAX];  /* path and query, at least "/" */
	uint8_t family;               /* AF_INET or AF_INET6 for an address
				       * literal; 0: a name */
	uint8_t addr[16];             /* the literal's address */
};

/* A reverse-proxy route: requests under `prefix` go to `to`. The TLS
 * files apply to an https:// `to` only; "" keeps upstream.ca_file (or the
 * system's CA store) and sends no client certificate. */
struct config_proxy {
	char prefix[CONFIG_PREFIX_MAX]; /* "/proxy/": starts and ends with '/' */
	struct config_url to;           /* prefix is replaced by to.target */
	char ca_file[CONFIG_PATH_MAX];  /* PEM CAs that replace upstream.ca_file */
	char cert_file[CONFIG_PATH_MAX]; /* PEM client certificate (chain) */
	char key_file[CONFIG_PATH_MAX]; /* its key; "": in cert_file */
};

/* Upstream HTTP client actors (net/upstream.h); every value is live. */
struct config_upstream {
	struct config_url url;        /* what GET /upstream fetches; "": off */
	struct config_proxy proxy[CONFIG_MAX_PROXY];
	unsigned nproxy;
	uint32_t connect_timeout_ms;
	uint32_t response_timeout_ms; /* request written -> response complete */
	uint64_t max_response_bytes;  /* decoded body; larger -> 502 */
	uint64_t proxy_buffer_bytes;  /* proxy bodies over it stream; 0: never */
	uint64_t proxy_max_body_bytes; /* a streamed request body; 0: no limit */
	uint32_t max_connections;     /* per host:port and upstream actor */
	uint32_t max_queue;           /* requests waiting for a connection */
	uint32_t idle_timeout_ms;     /* idle keep-alive connections close */
	uint32_t retries;             /* resends of idempotent requests */
	uint32_t first_byte_timeout_ms; /* request written -> first response byte */
	uint32_t read_timeout_ms;     /* a streamed response body: longest silence
				       * between two reads (nginx's proxy_read_timeout) */
	uint32_t send_timeout_ms;     /* a streamed request body: longest no write progress */
	uint32_t max_redirects;       /* redirects GET /upstream follows */
	char ca_file[CONFIG_PATH_MAX]; /* PEM CAs for https; "": the system's store */
	/* Run-time DNS (fixed at start: each upstream actor's resolver). */
	char resolver[CONFIG_HOST_MAX]; /* "ip[:port],...": DNS servers; "": resolv.conf */
	uint32_t dns_ttl_min_ms;      /* an answer is kept at least this long */
	uint32_t dns_ttl_max_ms;      /* and at most this long */
	uint32_t fail_timeout_ms;     /* an address whose connect failed is skipped this long */
};

/* WebSocket (net/ws_conn.c, docs/HANDLERS.md "WebSocket"); every value
 * is live except where docs/CONFIG.md says otherwise. */
enum config_ws_slow {
	CONFIG_WS_SLOW_CLOSE,         /* close the connection 1008 */
	CONFIG_WS_SLOW_DROP,          /* drop the frame that does not fit */
};

#define CONFIG_WORDS_MAX 1024

struct config_websocket {
	uint64_t max_message_bytes;   /* a larger message closes 1009 */
	uint32_t max_queue_messages;  /* frames waiting per connection */
	uint64_t max_queue_bytes;     /* bytes waiting per connection */
	enum config_ws_slow slow_consumer;
	uint32_t idle_timeout_ms;     /* no input this long: close 1001 */
	uint32_t ping_interval_ms;    /* no input this long: ping; 0: never */
	uint32_t close_timeout_ms;    /* longest close handshake */
	char origins[CONFIG_WORDS_MAX];      /* allowed Origin values, one space
					      * between; "": any */
	char subprotocols[CONFIG_WORDS_MAX]; /* offered subprotocols, in
					      * preference order; "": none */
	bool redis;                   /* fan channels out through Redis */
	char redis_prefix[64];        /* Redis channel = prefix ":" channel (fixed) */
};

/* Admission by time waited (actors/admit.h): CoDel on the queues a
 * request waits in before work starts on it (handler actors, the mysql
 * pool). Live on reload. */
struct config_admission {
	uint32_t target_ms;           /* longest wait before work starts */
	uint32_t interval_ms;         /* an overload ends after this long without shedding */
};

/* The shipped application's own settings (app/). */
struct config_app {
	uint32_t world_cache_ttl_ms;  /* /cached-queries rows in Redis */
	uint32_t wallpaper_cache_ttl_ms; /* the wallpaper list in Redis */
	bool world_near_cache;        /* /cached-queries reads through the near cache */
	bool wallpaper_near_cache;    /* the wallpaper list reads through it */
	bool demo;                    /* the /demo login pages (app/demo*.c) */
	uint32_t demo_pbkdf2_iterations; /* password hashing cost */
	/* The seed's demo routes (app/seed_demo.c): GET /, GET /queue, POST /hash. */
	uint32_t demo_work_ms;        /* the blocking work of GET / and /queue */
	uint32_t queue_capacity;      /* /queue items waiting; more -> 503 (start-up) */
	uint32_t queue_concurrency;   /* /queue items run at once on workers (start-up) */
	uint32_t queue_max_attempts;  /* runs of a failing item before it is dropped (start-up) */
	uint32_t hash_max_iterations; /* POST /hash: larger -> 400 */
	uint32_t period_ms;           /* the demo periodic task; 0: off (start-up) */
	bool period_once_per_cluster; /* ... under a Redis lock (start-up) */
	bool websocket;               /* GET /ws/echo, GET /ws/chat/:room */
};

/* The near cache (storage/near.h): values read from Redis kept in each
 * handler actor's memory, invalidated by Redis (client-side caching,
 * BCAST on `prefixes`). enabled, max_bytes and prefixes are fixed at
 * start; ttl_ms and heartbeat_ms are live. */
struct config_near_cache {
	bool enabled;
	uint64_t max_bytes;           /* per handler actor: keys, values, entries */
	uint32_t ttl_ms;              /* longest life of an entry */
	uint32_t heartbeat_ms;        /* period of the invalidation path's probe */
	char prefixes[CONFIG_MAX_NEAR_PREFIX][CONFIG_PREFIX_MAX]; /* tracked key prefixes */
	unsigned nprefixes;
};

/* ---- Web applications (handler/web*.c, docs/HANDLERS.md) ---- */

/* A static-file mount: GET/HEAD under `prefix` serve files below `dir`. */
struct config_static_mount {
	char prefix[CONFIG_PREFIX_MAX]; /* "/static/": starts and ends with '/' */
	char dir[CONFIG_PATH_MAX];      /* absolute once loaded */
	char index[64];                 /* served for ".../"; "": none (404) */
	uint32_t max_age_s;             /* Cache-Control: max-age; 0: no header */
	bool compress;                  /* gzip/br negotiation for this mount */
};

struct config_static {
	struct config_static_mount mount[CONFIG_MAX_STATIC];
	unsigned nmount;
	uint32_t revalidate_ms;         /* a cached file is trusted this long */
	uint64_t cache_bytes;           /* per handler actor */
	uint32_t cache_file_bytes;      /* larger files are sent with sendfile */
};

struct config_compress {
	bool enabled;
	uint32_t min_bytes;             /* smaller bodies are sent as they are */
	uint32_t gzip_level;            /* 1..9, dynamic responses */
	uint32_t brotli_quality;        /* 0..11, dynamic responses */
};

struct config_forms {
	uint32_t max_parts;             /* multipart parts; more -> 413 */
	uint32_t max_field_bytes;       /* a non-file field; larger -> 413 */
	uint64_t max_file_bytes;        /* one uploaded file; larger -> 413 */
};

struct config_cookies {
	/* Signing keys, newest first, comma-separated; env
	 * ACTORD_COOKIES_SECRET_KEYS. "" in the file: a random key for this
	 * process (keys_generated), kept across reloads. */
	char secret_keys[CONFIG_KEYS_MAX];
	bool keys_generated;
	bool secure;                    /* Secure on the cookies actord sets */
};

struct config_session {
	char cookie[64];                /* the session cookie's name */
	char prefix[64];                /* Redis key prefix */
	uint32_t idle_s;                /* sliding expiry */
	uint32_t max_age_s;             /* absolute lifetime of a session cookie */
};

/* The job queue (storage/job*.c, docs/JOBS.md). */
struct config_jobs {
	char instance[128];           /* consumer name stem; "": <hostname>:<listen[0] port> */
	char prefix[64];              /* Redis key prefix */
	char group[64];               /* Redis consumer group */
	uint32_t concurrency;         /* jobs run at once per job actor; 0: enqueue only */
	uint32_t max_attempts;        /* runs before a job goes to the dead-letter stream */
	uint32_t dead_max_jobs;       /* the dead-letter stream keeps the newest this many; 0: all */
	uint32_t backoff_base_ms;     /* retry n waits base * 2^(n-1), capped, with jitter */
	uint32_t backoff_max_ms;
	uint32_t backoff_jitter_pct;  /* up to this share of the wait is taken off at random */
	uint32_t timeout_ms;          /* a run longer than this fails */
	uint32_t reclaim_idle_ms;     /* a delivery idle this long is taken over (XAUTOCLAIM) */
	uint32_t block_ms;            /* XREADGROUP BLOCK */
	uint32_t retry_poll_ms;       /* longest wait before due retries are queued again */
	uint32_t max_payload_bytes;   /* larger payloads -> 400 */
	uint32_t result_ttl_s;        /* finished jobs' hashes expire after this; 0: never */
	uint32_t idempotency_ttl_s;   /* Idempotency-Key memory */
	uint32_t wait_replicas;       /* enqueue answers once this many replicas have it (WAIT); 0: off */
	uint32_t wait_timeout_ms;     /* how long the enqueue's WAIT may take */
	char sql_statement[1024];     /* the `sql` job's statement */
};

struct ad_config {
	char path[CONFIG_PATH_MAX];   /* the file it came from */
	struct config_addr listen[CONFIG_MAX_LISTEN];
	unsigned nlisten;
	struct config_addr admin_listen;
	char admin_token[CONFIG_SECRET_MAX]; /* "": admin open; env ACTORD_ADMIN_TOKEN.
					      * Required unless admin_listen is
					      * loopback only. */
	struct config_admin admin;
	struct config_actors net;
	struct config_actors handler;
	struct config_actors log_actor;
	struct config_actors cache;
	struct config_actors mysql_actor;
	struct config_actors mongo_actor;
	struct config_actors job;
	struct config_actors upstream_actor;
	struct config_actors file_actor;
	struct config_actors worker;      /* blocking and CPU-heavy tasks (worker/) */
	struct config_actors sched;       /* periodic tasks and task queues: 0 or 1 */
	struct config_actors pubsub;   /* storage/pubsub.h: 0 or 1 */
	struct config_http http;
	struct config_admission admission;
	struct config_log log;
	struct config_redis redis;
	struct config_mysql mysql;
	struct config_mongo mongo;
	struct config_upstream upstream;
	struct config_websocket websocket;
	struct config_app app;
	struct config_near_cache near_cache;
	struct config_jobs jobs;
	struct config_static static_files;
	struct config_compress compress;
	struct config_forms forms;
	struct config_cookies cookies;
	struct config_session session;
	char pidfile[CONFIG_PATH_MAX]; /* "": none */
	uint32_t drain_timeout_ms;
	uint32_t upgrade_timeout_ms;  /* SIGUSR2: longest wait for the new process */
	bool test_routes;             /* registers the /_test/ routes (tests only) */
};

/* Parse an "http[s]://host[:port][/path][?query]" URL into `out` without
 * resolving it (`family` is set only for an address literal). 0, or
 * -EINVAL with the reason in `why`. Thread: any. */
int config_url_parse(const char *s, struct config_url *out, char *why, size_t whylen);

/* Whether `s` is "" or a list of DNS servers "ip[:port],..." (IPv6 as
 * "[ip]:port"), as upstream.resolver takes. 0 or -EINVAL with the reason
 * in `why`. Thread: any. */
int config_resolver_check(const char *s, char *why, size_t whylen);

/* `path` made absolute against the working directory without resolving
 * symbolic links: a link swapped later (a Kubernetes ConfigMap, a
 * deployment's `current` link) is followed again at the next open, as
 * nginx and Redis do; leading "./" are dropped. 0, -ENAMETOOLONG, or
 * -errno of getcwd. Thread: any. */
int config_absolute_path(const char *path, char *out, size_t outlen);

/* Make every relative ACTORD_<KEY>_FILE of a secret key absolute (see
 * config_absolute_path), so that a reload after the daemon's chdir("/")
 * and a binary upgrade's new process read the same file. Calls setenv:
 * before any thread exists. 0, or -errno with "VAR: reason" in `err`.
 * Thread: controlling. */
int config_anchor_secret_files(char *err, size_t errlen);

/* Whether this binary links the routes `test_routes` registers (true
 * until told otherwise). When false, every later load refuses a file that
 * sets test_routes (FILE: test_routes: ...). Call before any thread
 * exists. Thread: controlling. */
void config_set_test_routes_available(bool available);

/* A check only a driver can make (the MongoDB driver's reading of
 * mongo.uri), which config/ cannot include. The composition root sets it
 * before any thread exists; every later load (start, -t, SIGHUP,
 * POST /admin/reload) runs it after its own checks, so a file a restart
 * would refuse is never accepted by a reload. It returns 0, or -EINVAL
 * with "FILE: key: why" in `err`. NULL: none. Thread: controlling. */
typedef int (*config_driver_check_fn)(const struct ad_config *cfg, char *err, size_t errlen);
void config_set_driver_check(config_driver_check_fn fn);

/* Fill `cfg` with the built-in defaults (what an empty file means).
 * Thread: any. */
void config_defaults(struct ad_config *cfg);

/* Parse and validate `path`, then apply the environment overrides.
 * Returns a new config, or NULL with "FILE: key.path: problem" in `err`.
 * Relative paths inside the file (log files, pidfile) are made absolute
 * against the directory of `path`. Thread: controlling. */
struct ad_config *config_load(const char *path, char *err, size_t errlen);

/* Same, from text in memory; `name` stands for FILE in messages and is
 * the base for relative paths. Thread: controlling. */
struct ad_config *config_parse(const char *name, const char *text,
			       char *err, size_t errlen);

void config_free(struct ad_config *cfg);

/* Copy into `next` the settings of `running` that cannot change without a
 * restart. Writes a comma-separated list of the keys that differed into
 * `changed` ("" if none). Thread: controlling. */
void config_carry_fixed(struct ad_config *next, const struct ad_config *running,
			char *changed, size_t changedlen);

/* Keep, in a reloaded `next`, the random signing key `running` drew when
 * neither names one (cookies.keys_generated). Thread: controlling. */
void config_carry_web(struct ad_config *next, const struct ad_config *running);

/* The live snapshot, or NULL before the first config_publish().
 * Thread: any; valid until config_retire_all(). */
const struct ad_config *config_current(void);

/* The live snapshot, or `fallback` (the configuration a pool was built
 * with) while none is published: unit tests build systems from a
 * configuration they never publish. Thread: any. */
const struct ad_config *config_current_or(const struct ad_config *fallback);

/* Make `cfg` the live snapshot. The previous one stays allocated (readers
 * take no reference), and is freed by config_retire_all(): about 112 KB
 * per published reload. Thread: controlling. */
void config_publish(struct ad_config *cfg);

/* A reload's publish: as config_publish, except that a `cfg` holding
 * exactly what the live snapshot holds (an unchanged file after
 * config_carry_fixed: configuration tools send SIGHUP every few minutes)
 * is freed and the live one kept, so such reloads cost no memory. Either
 * way the reload generation moves on. Returns whether `cfg` was published.
 * Thread: controlling. */
bool config_publish_reload(struct ad_config *cfg);

/* How many reloads (and the first publish) happened: what a reload
 * re-reads whatever the file says (the upstream TLS files) compares it,
 * not the snapshot's address, which an unchanged reload keeps.
 * Thread: any. */
uint64_t config_generation(void);

/* Free every snapshot ever published, the live one included. Only once no
 * actor runs any more. Thread: controlling. */
void config_retire_all(void);

#endif
