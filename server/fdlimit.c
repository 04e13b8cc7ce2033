/*
 * fdlimit.c - raising RLIMIT_NOFILE at start (fdlimit.h).
 *
 * DESIGN
 * The reserve counts what actord opens besides client connections:
 * per actor thread its epoll and eventfd descriptors (libev), the
 * listening sockets (one per address and network actor, plus admin), one
 * connection per cache and mysql actor, two per mongo and job actor,
 * upstream.max_connections per upstream actor, and a fixed margin for
 * stdio, the log and access-log files, the pidfile and libraries'
 * own descriptors (resolver sockets, /dev/urandom).
 *
 * Thread: the controlling thread.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "fdlimit.h"
#include "actors/log.h"

#define FD_PER_ACTOR 4       /* epoll, eventfd, and room for libev's own */
#define FD_MARGIN 64         /* stdio, log files, pidfile, libraries */
#define FD_MIN_CONNS 16      /* never less, whatever the limit says */

uint64_t fdlimit_reserve(const struct ad_config *cfg)
{
	/* +1: the admin actor. */
	uint64_t actors = cfg->net.count + cfg->handler.count + cfg->log_actor.count +
			  cfg->cache.count + cfg->mysql_actor.count + cfg->mongo_actor.count +
			  cfg->job.count + cfg->upstream_actor.count + 1;
	uint64_t listeners = (uint64_t)cfg->nlisten * cfg->net.count + 1;
	uint64_t backends = cfg->cache.count + cfg->mysql_actor.count +
			    2ull * cfg->mongo_actor.count + 2ull * cfg->job.count +
			    (uint64_t)cfg->upstream_actor.count * cfg->upstream.max_connections;

	return actors * FD_PER_ACTOR + listeners + backends + FD_MARGIN;
}

void fdlimit_raise(const struct ad_config *cfg, struct fdlimit *out)
{
	struct rlimit rl = { 0, 0 };
	uint64_t others;

	memset(out, 0, sizeof(*out));
	out->reserve = fdlimit_reserve(cfg);
	others = out->reserve + cfg->admin.max_connections;
	out->need = (uint64_t)cfg->http.max_connections + others;
	getrlimit(RLIMIT_NOFILE, &rl);
	out->before = rl.rlim_cur;
	out->hard = rl.rlim_max;
	out->got = rl.rlim_cur;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < out->need) {
		/* Both limits at once (privileged), never lowering the hard one. */
		struct rlimit want = { out->need,
				       rl.rlim_max == RLIM_INFINITY || rl.rlim_max > out->need ?
				       rl.rlim_max : out->need };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
			out->got = want.rlim_cur;
			out->hard = want.rlim_max;
		} else if (rl.rlim_max > rl.rlim_cur) {
			/* Unprivileged: the soft limit up to the hard one. */
			want = (struct rlimit){ rl.rlim_max, rl.rlim_max };
			if (setrlimit(RLIMIT_NOFILE, &want) == 0)
				out->got = rl.rlim_max;
		}
	}
	if (out->got != RLIM_INFINITY && out->got < out->need) {
		uint64_t fit = out->got > others ? out->got - others : 0;

		out->conn_cap = (uint32_t)(fit > FD_MIN_CONNS ? fit : FD_MIN_CONNS);
	}
}

void fdlimit_log(const struct fdlimit *f, const struct ad_config *cfg)
{
	if (f->conn_cap == 0) {
		if (f->got != f->before)
			log_info("file descriptors: limit raised from %llu to %llu (needed %llu: "
				 "http.max_connections %u + admin.max_connections %u + %llu for "
				 "threads, listeners and backends)", (unsigned long long)f->before,
				 (unsigned long long)f->got, (unsigned long long)f->need,
				 cfg->http.max_connections, cfg->admin.max_connections,
				 (unsigned long long)f->reserve);
		else
			log_info("file descriptors: limit %llu (needed %llu)",
				 (unsigned long long)f->got, (unsigned long long)f->need);
		return;
	}
	log_warn("file descriptors: limit %llu (hard %llu, was %llu) is below the %llu needed "
		 "for http.max_connections %u + admin.max_connections %u + %llu for threads, "
		 "listeners and backends: at most %u public connections at once, the others "
		 "wait in the listen backlog; raise the hard limit (ulimit -Hn, LimitNOFILE=) "
		 "or lower http.max_connections", (unsigned long long)f->got,
		 (unsigned long long)f->hard, (unsigned long long)f->before,
		 (unsigned long long)f->need, cfg->http.max_connections,
		 cfg->admin.max_connections, (unsigned long long)f->reserve, f->conn_cap);
}
