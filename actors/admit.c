/*
 * admit.c - CoDel admission for one queue consumer (see admit.h).
 *
 * DESIGN
 * A handful of integer comparisons per item on the consumer's own state;
 * the counters are single-writer (base/counter.h). One log line when
 * shedding starts, at most one a second per consumer, so an operator sees
 * overload in the log without a line per shed request (the counters have
 * every one).
 *
 * Thread: the consumer's (admit_collect: the renderer's).
 */
#include <stdio.h>

#include "admit.h"
#include "log.h"
#include "base/clock.h"

#define ADMIT_LOG_EVERY_NS NS_PER_S

void admit_init(struct admit *a, struct admit_stats *stats, const char *name)
{
	*a = (struct admit){ .stats = stats, .name = name };
}

static void start_shedding(struct admit *a, uint64_t now_ns, const struct config_admission *cfg)
{
	a->shedding = true;
	a->first_above_ns = 0;
	counter_set(&a->stats->shedding, 1);
	counter_add(&a->stats->shedding_total, 1);
	if (a->logged_ns == 0 || now_ns - a->logged_ns >= ADMIT_LOG_EVERY_NS) {
		a->logged_ns = now_ns;
		log_warn("%s: overloaded: requests waited more than %u ms (admission.target_ms) "
			 "for %u ms (admission.interval_ms): shedding the oldest with 503",
			 a->name, cfg->target_ms, cfg->interval_ms);
	}
}

int admit_check(struct admit *a, uint64_t sojourn_ns, uint64_t now_ns,
		const struct config_admission *cfg)
{
	uint64_t target = (uint64_t)cfg->target_ms * NS_PER_MS;
	uint64_t interval = (uint64_t)cfg->interval_ms * NS_PER_MS;
	enum admit_reason why;

	if (sojourn_ns <= target) {
		a->first_above_ns = 0;
		if (a->shedding) {
			a->shedding = false;
			a->left_ns = now_ns;
			counter_set(&a->stats->shedding, 0);
		}
		return ADMIT_RUN;
	}
	why = sojourn_ns > target + interval ? ADMIT_SHED_LATE : ADMIT_SHED_TARGET;
	if (!a->shedding && why == ADMIT_SHED_TARGET) {
		bool recent = a->left_ns != 0 && now_ns - a->left_ns < interval;

		if (a->first_above_ns == 0 && !recent) {
			a->first_above_ns = now_ns + interval;
			return ADMIT_RUN;
		}
		if (!recent && now_ns < a->first_above_ns)
			return ADMIT_RUN;
	}
	if (!a->shedding)
		start_shedding(a, now_ns, cfg);
	counter_add(&a->stats->shed_total[why], 1);
	return (int)why;
}

void admit_count(struct admit_stats *s, enum admit_reason why)
{
	counter_add(&s->shed_total[why], 1);
}

const char *admit_reason_name(enum admit_reason why)
{
	static const char *const names[ADMIT_REASONS] = { "target", "late", "mailbox_full" };

	return (unsigned)why < ADMIT_REASONS ? names[why] : "?";
}

void admit_collect(struct metrics_out *o, const char *labels, const struct admit_stats *s)
{
	char more[256];

	for (unsigned i = 0; i < ADMIT_REASONS; i++) {
		snprintf(more, sizeof(more), "%s,reason=\"%s\"", labels,
			 admit_reason_name((enum admit_reason)i));
		metrics_counter(o, "requests_shed_total",
				"Requests answered 503 without being run, by reason: waited above "
				"admission.target_ms in a standing queue (target), waited above "
				"target + interval (late), met a full mailbox (mailbox_full).",
				more, counter_get(&s->shed_total[i]));
	}
	metrics_gauge(o, "admission_shedding",
		      "1 while the queue's consumer sheds (its queue stood above "
		      "admission.target_ms for admission.interval_ms), else 0.", labels,
		      (double)counter_get(&s->shedding));
	metrics_counter(o, "admission_shedding_started_total",
			"Times the queue's consumer started shedding.", labels,
			counter_get(&s->shedding_total));
}
