/*
 * net_timer.h - one lazily re-armed deadline timer per connection, shared
 * by the server side (net_io.c) and the upstream client (upstream_io.c).
 *
 * DESIGN
 * A connection's deadline moves on almost every read or write. Moving it
 * LATER never touches libev's timer heap: the timer fires at the old time,
 * the owner finds the new deadline and calls net_timer_arm again. Only an
 * EARLIER deadline (or a first one) restarts the timer.
 *
 * Owner: the connection's actor thread.
 */
#ifndef ACTORD_NET_TIMER_H
#define ACTORD_NET_TIMER_H

#include <stdint.h>

#include <ev.h>

/* Make `w` fire at `deadline_ns` (monotonic; 0: never). `armed_ns` holds
 * when the armed timer fires (0: unarmed) and is kept up to date. */
static inline void net_timer_arm(struct ev_loop *loop, ev_timer *w, uint64_t *armed_ns,
				 uint64_t deadline_ns, uint64_t now_ns)
{
	if (deadline_ns == 0) {
		ev_timer_stop(loop, w);
		*armed_ns = 0;
		return;
	}
	if (ev_is_active(w) && *armed_ns <= deadline_ns)
		return; /* fires earlier, finds the later deadline and re-arms */
	ev_timer_stop(loop, w);
	ev_timer_set(w, deadline_ns > now_ns ? (double)(deadline_ns - now_ns) / 1e9 : 0., 0.);
	ev_timer_start(loop, w);
	*armed_ns = deadline_ns;
}

#endif
