/*
 * metrics.c - collector registry, sample buffer, the Prometheus renderer
 * and the readiness checks (see metrics.h).
 *
 * DESIGN
 * Collectors append samples to a growable array; rendering walks families
 * in the order they first appeared and, for each, every sample of that
 * family, so HELP and TYPE are written once per family and its samples stay
 * together (what the text format and promtool require). The grouping hashes
 * family names: linear in samples, whatever the number of families. Label text is
 * copied into the sample; names and help texts are literals.
 *
 * Thread: registration on the controlling thread before start (the tables
 * are then read-only); a metrics_out belongs to the thread rendering it.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "metrics.h"
#include "mailbox/mbox.h"

#define MAX_REG 64
#define LABELS_MAX 256

enum sample_type { S_COUNTER, S_GAUGE, S_HISTOGRAM };

struct sample {
	const char *name;
	const char *help;
	enum sample_type type;
	char labels[LABELS_MAX];
	double value;
	uint64_t buckets[MBOX_HIST_BUCKETS];
	uint64_t sum_ns;
};

struct metrics_out {
	struct sample *s;
	size_t n, cap;
};

static struct { metrics_collect_fn fn; void *ctx; } collectors[MAX_REG];
static unsigned ncollectors;
static struct { const char *name; metrics_check_fn fn; void *ctx; bool required; } checks[MAX_REG];
static unsigned nchecks;

/* Relaxed: a flag read by probes; nothing else is published through it. */
static _Atomic bool serving;
static _Atomic bool drained;           /* was serving once, is not any more */

void metrics_set_serving(bool on)
{
	if (!on && atomic_load_explicit(&serving, memory_order_relaxed))
		atomic_store_explicit(&drained, true, memory_order_relaxed);
	atomic_store_explicit(&serving, on, memory_order_relaxed);
}

bool metrics_serving(void)
{
	return atomic_load_explicit(&serving, memory_order_relaxed);
}

bool metrics_serving_check(void *ctx, char *reason, size_t len)
{
	(void)ctx;
	if (metrics_serving())
		return true;
	snprintf(reason, len, "%s", atomic_load_explicit(&drained, memory_order_relaxed) ?
		 "draining: shutting down" : "starting up");
	return false;
}

int metrics_register(metrics_collect_fn fn, void *ctx)
{
	if (ncollectors == MAX_REG)
		return -ENOSPC;
	collectors[ncollectors].fn = fn;
	collectors[ncollectors++].ctx = ctx;
	return 0;
}

int metrics_add_pool(struct actor_system *sys, const struct actor_pool_spec *spec,
		     metrics_collect_fn collect, char *err, size_t errlen)
{
	if (actor_system_add_pool(sys, spec, err, errlen) == ACTOR_ADDR_NONE) {
		if (spec->dispose != NULL)
			spec->dispose(spec->user);
		return -EINVAL;
	}
	if (metrics_register(collect, spec->user) != 0) {
		snprintf(err, errlen, "%s: too many metrics registrations", spec->kind->name);
		return -ENOSPC;
	}
	return 0;
}

static int add_check(const char *name, metrics_check_fn fn, void *ctx, bool required)
{
	if (nchecks == MAX_REG)
		return -ENOSPC;
	checks[nchecks].name = name;
	checks[nchecks].fn = fn;
	checks[nchecks].required = required;
	checks[nchecks++].ctx = ctx;
	return 0;
}

int metrics_register_check(const char *name, metrics_check_fn fn, void *ctx)
{
	return add_check(name, fn, ctx, true);
}

int metrics_register_optional_check(const char *name, metrics_check_fn fn, void *ctx)
{
	return add_check(name, fn, ctx, false);
}

void metrics_reset(void)
{
	ncollectors = 0;
	nchecks = 0;
}

struct metrics_out *metrics_out_create(void)
{
	return calloc(1, sizeof(struct metrics_out));
}

void metrics_out_destroy(struct metrics_out *o)
{
	if (o == NULL)
		return;
	free(o->s);
	free(o);
}

static struct sample *add(struct metrics_out *o, const char *name, const char *help,
			  enum sample_type type, const char *labels)
{
	struct sample *s;

	if (o->n == o->cap) {
		size_t cap = o->cap > 0 ? o->cap * 2 : 256;
		struct sample *grown = realloc(o->s, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;   /* the sample is left out; rendering goes on */
		o->s = grown;
		o->cap = cap;
	}
	s = &o->s[o->n++];
	s->name = name;
	s->help = help;
	s->type = type;
	snprintf(s->labels, sizeof(s->labels), "%s", labels != NULL ? labels : "");
	s->value = 0;
	s->sum_ns = 0;
	return s;
}

void metrics_counter(struct metrics_out *o, const char *name, const char *help,
		     const char *labels, uint64_t value)
{
	struct sample *s = add(o, name, help, S_COUNTER, labels);

	if (s != NULL)
		s->value = (double)value;
}

void metrics_counter_seconds(struct metrics_out *o, const char *name, const char *help,
			     const char *labels, uint64_t ns)
{
	struct sample *s = add(o, name, help, S_COUNTER, labels);

	if (s != NULL)
		s->value = (double)ns / 1e9;
}

void metrics_gauge(struct metrics_out *o, const char *name, const char *help,
		   const char *labels, double value)
{
	struct sample *s = add(o, name, help, S_GAUGE, labels);

	if (s != NULL)
		s->value = value;
}

void metrics_histogram(struct metrics_out *o, const char *name, const char *help,
		       const char *labels, const uint64_t *buckets, uint64_t sum_ns)
{
	struct sample *s = add(o, name, help, S_HISTOGRAM, labels);

	if (s == NULL)
		return;
	memcpy(s->buckets, buckets, sizeof(s->buckets));
	s->sum_ns = sum_ns;
}

const char *metrics_label_value(char *out, size_t outlen, const char *value)
{
	size_t o = 0;

	for (const char *p = value; *p != '\0' && o + 3 < outlen; p++) {
		if (*p == '\\' || *p == '"') {
			out[o++] = '\\';
			out[o++] = *p;
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *p;
		}
	}
	if (outlen > 0)
		out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

void metrics_collect_all(struct metrics_out *o)
{
	for (unsigned i = 0; i < ncollectors; i++)
		collectors[i].fn(o, collectors[i].ctx);
}

/* ---- Prometheus text ---- */

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n;
		char *grown = realloc(t->p, cap);

		if (grown == NULL) {
			t->oom = true;
			return;
		}
		t->p = grown;
		t->cap = cap;
	}
}

static const char *type_name(enum sample_type t)
{
	return t == S_COUNTER ? "counter" : t == S_GAUGE ? "gauge" : "histogram";
}

/* Sample indices grouped by family: families in the order they first
 * appeared, each family's samples in collection order. One hash lookup per
 * sample: comparing every sample's name with every earlier one cost
 * O(samples x families) strcmp calls, 0.2 s of the admin thread per scrape
 * with the pools at their largest (36,000 lines). Returns a malloc'd array
 * of o->n indices and each sample's family in *fam_out (malloc'd), or NULL. */
static size_t *group_by_family(const struct metrics_out *o, size_t **fam_out)
{
	size_t cap = 16, nfam = 0;
	size_t *fam, *slot, *start, *order;

	while (cap < 2 * o->n)
		cap *= 2;
	fam = malloc(o->n * sizeof(*fam) + 1);
	slot = calloc(cap, sizeof(*slot));               /* family + 1; 0: empty */
	start = calloc(o->n + 1, sizeof(*start));
	order = malloc(o->n * sizeof(*order) + 1);
	if (fam == NULL || slot == NULL || start == NULL || order == NULL)
		goto fail;
	for (size_t i = 0; i < o->n; i++) {
		uint32_t h = 2166136261u;                /* FNV-1a */
		size_t k;

		for (const char *c = o->s[i].name; *c != '\0'; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		for (k = h & (cap - 1); slot[k] != 0; k = (k + 1) & (cap - 1))
			if (strcmp(o->s[order[slot[k] - 1]].name, o->s[i].name) == 0)
				break;
		if (slot[k] == 0) {
			order[nfam] = i;                 /* for now: the family's first sample */
			slot[k] = ++nfam;
		}
		fam[i] = slot[k] - 1;
		start[fam[i] + 1]++;
	}
	for (size_t f = 0; f < nfam; f++)
		start[f + 1] += start[f];
	for (size_t i = 0; i < o->n; i++)
		order[start[fam[i]]++] = i;
	free(slot);
	free(start);
	*fam_out = fam;
	return order;
fail:
	free(fam);
	free(slot);
	free(start);
	free(order);
	return NULL;
}

static void put_value(struct text *t, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		put(t, "%.0f\n", v);
	else
		put(t, "%.9g\n", v);
}

static void put_histogram(struct text *t, const struct sample *s)
{
	const char *sep = s->labels[0] != '\0' ? "," : "";
	uint64_t cum = 0;

	for (unsigned b = 0; b < MBOX_HIST_BUCKETS; b++) {
		cum += s->buckets[b];
		if (b + 1 == MBOX_HIST_BUCKETS)
			put(t, METRICS_PREFIX "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->name,
			    s->labels, sep, (unsigned long long)cum);
		else
			put(t, METRICS_PREFIX "%s_bucket{%s%sle=\"%.6g\"} %llu\n", s->name,
			    s->labels, sep, mbox_hist_bound_s(b), (unsigned long long)cum);
	}
	put(t, METRICS_PREFIX "%s_sum%s%s%s %.9f\n", s->name, s->labels[0] ? "{" : "",
	    s->labels, s->labels[0] ? "}" : "", (double)s->sum_ns / 1e9);
	put(t, METRICS_PREFIX "%s_count%s%s%s %llu\n", s->name, s->labels[0] ? "{" : "",
	    s->labels, s->labels[0] ? "}" : "", (unsigned long long)cum);
}

char *metrics_render_prometheus(const struct metrics_out *o, size_t *len)
{
	struct text t = { .cap = 16384 };
	size_t *order, *fam;

	t.p = malloc(t.cap);
	if (t.p == NULL)
		return NULL;
	t.p[0] = '\0';
	order = group_by_family(o, &fam);
	if (order == NULL) {
		free(t.p);
		return NULL;
	}
	for (size_t k = 0; k < o->n; k++) {
		const struct sample *s = &o->s[order[k]];

		if (k == 0 || fam[order[k]] != fam[order[k - 1]]) {
			put(&t, "# HELP " METRICS_PREFIX "%s %s\n", s->name, s->help);
			put(&t, "# TYPE " METRICS_PREFIX "%s %s\n", s->name, type_name(s->type));
		}
		if (s->type == S_HISTOGRAM) {
			put_histogram(&t, s);
			continue;
		}
		put(&t, METRICS_PREFIX "%s%s%s%s ", s->name, s->labels[0] ? "{" : "",
		    s->labels, s->labels[0] ? "}" : "");
		put_value(&t, s->value);
	}
	free(order);
	free(fam);
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	*len = t.len;
	return t.p;
}

bool metrics_run_checks(cJSON *out)
{
	bool all = true;

	for (unsigned i = 0; i < nchecks; i++) {
		char reason[256] = "";
		bool ok = checks[i].fn(checks[i].ctx, reason, sizeof(reason));

		all = all && (ok || !checks[i].required);
		if (out != NULL) {
			cJSON *c = cJSON_AddObjectToObject(out, checks[i].name);

			if (c != NULL) {
				cJSON_AddBoolToObject(c, "ok", ok);
				cJSON_AddBoolToObject(c, "required", checks[i].required);
				if (!ok)
					cJSON_AddStringToObject(c, "reason", reason);
			}
		}
	}
	return all;
}
