/*
 * admit.c - CoDel admission for one queue consumer (see admit.h).
 *
 * DESIGN
 * A handful of integer comparisons per item on the consumer's own state;
 * the counters are single-writer (base/counter.h). One log line when an
 * overload starts, at most one a second per consumer, so an operator sees
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

static int shed(struct admit *a, enum admit_reason why, uint64_t now_ns,
		const struct config_admission *cfg)
{
	if (!a->overloaded) {
		a->overloaded = true;
		counter_set(&a->stats->overloaded, 1);
		counter_add(&a->stats->overloads_total, 1);
		if (a->logged_ns == 0 || now_ns - a->logged_ns >= ADMIT_LOG_EVERY_NS) {
			a->logged_ns = now_ns;
			log_warn("%s: overloaded: a request waited more than %u ms "
				 "(admission.target_ms): answering 503 to those that wait more "
				 "than %u ms until %u ms (admission.interval_ms) pass without one",
				 a->name, cfg->target_ms, cfg->target_ms / 2, cfg->interval_ms);
		}
	}
	a->last_shed_ns = now_ns;
	counter_add(&a->stats->shed_total[why], 1);
	return (int)why;
}

static int run(struct admit *a, uint64_t sojourn_ns)
{
	counter_add(&a->stats->run_wait_hist[mbox_hist_bucket(sojourn_ns)], 1);
	counter_add(&a->stats->run_wait_sum_ns, (int64_t)sojourn_ns);
	return ADMIT_RUN;
}

int admit_check(struct admit *a, uint64_t sojourn_ns, uint64_t now_ns,
		const struct config_admission *cfg)
{
	uint64_t target = (uint64_t)cfg->target_ms * NS_PER_MS;
	uint64_t interval = (uint64_t)cfg->interval_ms * NS_PER_MS;

	if (sojourn_ns > target)
		return shed(a, ADMIT_SHED_LATE, now_ns, cfg);
	if (!a->overloaded)
		return run(a, sojourn_ns);
	if (sojourn_ns > target / 2)
		return shed(a, ADMIT_SHED_OVERLOAD, now_ns, cfg);
	if (now_ns - a->last_shed_ns >= interval) {
		/* A whole interval without shedding: the queue is good again. */
		a->overloaded = false;
		counter_set(&a->stats->overloaded, 0);
	}
	return run(a, sojourn_ns);
}

void admit_count(struct admit_stats *s, enum admit_reason why)
{
	counter_add(&s->shed_total[why], 1);
}

const char *admit_reason_name(enum admit_reason why)
{
	static const char *const names[ADMIT_REASONS] = { "overload", "late", "mailbox_full" };

	return (unsigned)why < ADMIT_REASONS ? names[why] : "?";
}

void admit_collect(struct metrics_out *o, const char *labels, const struct admit_stats *s)
{
	uint64_t hist[MBOX_HIST_BUCKETS];
	char more[256];

	for (unsigned i = 0; i < ADMIT_REASONS; i++) {
		snprintf(more, sizeof(more), "%s,reason=\"%s\"", labels,
			 admit_reason_name((enum admit_reason)i));
		metrics_counter(o, "requests_shed_total",
				"Requests answered 503 without being run, by reason: waited more "
				"than admission.target_ms (late), more than half of it while "
				"overloaded (overload), met a full mailbox (mailbox_full).",
				more, counter_get(&s->shed_total[i]));
	}
	metrics_gauge(o, "admission_overloaded",
		      "1 while the queue's consumer is overloaded (a request waited more "
		      "than admission.target_ms, and admission.interval_ms has not passed "
		      "without shedding since), else 0.", labels,
		      (double)counter_get(&s->overloaded));
	metrics_counter(o, "admission_overloads_total",
			"Times the queue's consumer became overloaded.", labels,
			counter_get(&s->overloads_total));
	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++)
		hist[b] = counter_get(&s->run_wait_hist[b]);
	metrics_histogram(o, "admission_wait_seconds",
			  "What the requests that were run (not shed) had waited when their "
			  "consumer took them.", labels, hist, counter_get(&s->run_wait_sum_ns));
}
