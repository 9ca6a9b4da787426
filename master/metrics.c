/*
 * metrics.c: counters, gauges and labelled families for GET /metrics
 * (Prometheus text exposition format 0.0.4). Everything here is touched
 * only from the loop thread.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "master/metrics.h"

#define METRICS_MAX_GAUGES 32

/* Latency buckets, seconds (upper bounds, +Inf implied). */
static const double metrics_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001,
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
#define METRICS_NBUCKETS (sizeof(metrics_buckets) / sizeof(metrics_buckets[0]))

struct metrics_counters metrics_counters;

static const struct metrics_counter_info {
	const char *mc_name;
	const char *mc_type;
	const char *mc_help;
	size_t mc_offset;
} metrics_counter_table[] = {
#define X(name, type, help) \
	{ "wspool_" #name, type, help, offsetof(struct metrics_counters, name) },
	METRICS_COUNTERS(X)
#undef X
};

struct metrics_route {
	char *mr_name;
	uint64_t mr_calls[METRICS_MAX_OUTCOMES];
	UT_hash_handle hh;
};

struct metrics_label {
	char ml_name[32];
	uint64_t ml_count;
	UT_hash_handle hh;
};

static struct {
	struct {
		const char *mg_name;
		const char *mg_help;
		const char *mg_type;
		metrics_gauge_fn mg_fn;
	} gauges[METRICS_MAX_GAUGES];
	unsigned ngauges;
	const char *const *outcomes;
	unsigned noutcomes;
	struct metrics_route *routes;
	struct metrics_route *last;  /* the route counted last: most calls
	                                count where the one before did */
	const char *last_name;       /* the name it was looked up by */
	struct metrics_label *deaths;
	struct metrics_label *refused;
	uint64_t buckets[METRICS_NBUCKETS + 1];
	uint64_t count;
	double sum;
} metrics;

static int
metrics_add_fn(const char *name, const char *help, const char *type,
    metrics_gauge_fn fn)
{
	if (metrics.ngauges == METRICS_MAX_GAUGES)
		return -1;
	metrics.gauges[metrics.ngauges].mg_name = name;
	metrics.gauges[metrics.ngauges].mg_help = help;
	metrics.gauges[metrics.ngauges].mg_type = type;
	metrics.gauges[metrics.ngauges].mg_fn = fn;
	metrics.ngauges++;
	return 0;
}

int
metrics_gauge(const char *name, const char *help, metrics_gauge_fn fn)
{
	return metrics_add_fn(name, help, "gauge", fn);
}

int
metrics_counter_cb(const char *name, const char *help, metrics_gauge_fn fn)
{
	return metrics_add_fn(name, help, "counter", fn);
}

void
metrics_outcomes(const char *const *names, unsigned n)
{
	metrics.outcomes = names;
	metrics.noutcomes = n < METRICS_MAX_OUTCOMES ? n : METRICS_MAX_OUTCOMES;
}

static void
metrics_label_inc(struct metrics_label **table, const char *name)
{
	struct metrics_label *l;

	HASH_FIND_STR(*table, name, l);
	if (l == NULL) {
		if ((l = calloc(1, sizeof(*l))) == NULL)
			return;
		snprintf(l->ml_name, sizeof(l->ml_name), "%s", name);
		HASH_ADD_STR(*table, ml_name, l);
	}
	l->ml_count++;
}

void
metrics_call_end(const char *route, unsigned outcome, uint64_t usec)
{
	struct metrics_route *r;
	double secs = (double)usec / 1e6;
	size_t i;

	/* The same name at the same address is the same route, as long as
	 * the name still reads the same (a freed table's name may be reused). */
	if (route == metrics.last_name && metrics.last != NULL &&
	    strcmp(metrics.last->mr_name, route) == 0)
		r = metrics.last;
	else
		HASH_FIND_STR(metrics.routes, route, r);
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL ||
		    (r->mr_name = strdup(route)) == NULL) {
			free(r);
			return;
		}
		HASH_ADD_KEYPTR(hh, metrics.routes, r->mr_name, strlen(r->mr_name), r);
	}
	metrics.last = r;
	metrics.last_name = route;
	if (outcome < metrics.noutcomes)
		r->mr_calls[outcome]++;
	for (i = 0; i < METRICS_NBUCKETS && secs > metrics_buckets[i]; i++)
		;
	metrics.buckets[i]++;
	metrics.count++;
	metrics.sum += secs;
}

void
metrics_call_refused(int code)
{
	char name[16];

	snprintf(name, sizeof(name), "%d", code);
	metrics_label_inc(&metrics.refused, name);
}

void
metrics_worker_death(const char *reason)
{
	metrics_label_inc(&metrics.deaths, reason);
}

static void
metrics_put(msgpack_sbuffer *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_put(msgpack_sbuffer *out, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		msgpack_sbuffer_write(out, line, (size_t)n < sizeof(line) ?
		    (size_t)n : sizeof(line) - 1);
}

static void
metrics_head(msgpack_sbuffer *out, const char *name, const char *type,
    const char *help)
{
	metrics_put(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric without labels: its HELP, TYPE and value. */
static void
metrics_scalar(msgpack_sbuffer *out, const char *name, const char *type,
    const char *help, uint64_t value)
{
	metrics_head(out, name, type, help);
	metrics_put(out, "%s %llu\n", name, (unsigned long long)value);
}

int
metrics_render(msgpack_sbuffer *out)
{
	const struct metrics_counter_info *mc;
	struct metrics_route *r, *rtmp;
	struct metrics_label *l, *ltmp;
	uint64_t cum = 0, v;
	size_t i;

	for (i = 0; i < sizeof(metrics_counter_table) /
	    sizeof(metrics_counter_table[0]); i++) {
		mc = &metrics_counter_table[i];
		memcpy(&v, (const char *)&metrics_counters + mc->mc_offset,
		    sizeof(v));
		metrics_scalar(out, mc->mc_name, mc->mc_type, mc->mc_help, v);
	}
	for (i = 0; i < metrics.ngauges; i++)
		metrics_scalar(out, metrics.gauges[i].mg_name,
		    metrics.gauges[i].mg_type,
		    metrics.gauges[i].mg_help, metrics.gauges[i].mg_fn());
	metrics_head(out, "wspool_calls_total", "counter",
	    "Calls ended, by route and outcome.");
	HASH_ITER(hh, metrics.routes, r, rtmp)
		for (i = 0; i < metrics.noutcomes; i++)
			if (r->mr_calls[i] != 0)
				metrics_put(out, "wspool_calls_total{route=\"%s\",outcome=\"%s\"} %llu\n",
				    r->mr_name, metrics.outcomes[i],
				    (unsigned long long)r->mr_calls[i]);
	metrics_head(out, "wspool_calls_refused_total", "counter",
	    "Calls refused before reaching a worker, by error code.");
	HASH_ITER(hh, metrics.refused, l, ltmp)
		metrics_put(out, "wspool_calls_refused_total{code=\"%s\"} %llu\n",
		    l->ml_name, (unsigned long long)l->ml_count);
	metrics_head(out, "wspool_call_duration_seconds", "histogram",
	    "Time from a call's arrival to its end.");
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += metrics.buckets[i];
		metrics_put(out, "wspool_call_duration_seconds_bucket{le=\"%g\"} %llu\n",
		    metrics_buckets[i], (unsigned long long)cum);
	}
	cum += metrics.buckets[METRICS_NBUCKETS];
	metrics_put(out, "wspool_call_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)cum);
	metrics_put(out, "wspool_call_duration_seconds_sum %.6f\n", metrics.sum);
	metrics_put(out, "wspool_call_duration_seconds_count %llu\n",
	    (unsigned long long)metrics.count);
	metrics_head(out, "wspool_worker_deaths_total", "counter",
	    "Workers gone, by reason.");
	HASH_ITER(hh, metrics.deaths, l, ltmp)
		metrics_put(out, "wspool_worker_deaths_total{reason=\"%s\"} %llu\n",
		    l->ml_name, (unsigned long long)l->ml_count);
	return 0;
}

void
metrics_fini(void)
{
	struct metrics_route *r, *rtmp;
	struct metrics_label *l, *ltmp;

	HASH_ITER(hh, metrics.routes, r, rtmp) {
		HASH_DEL(metrics.routes, r);
		free(r->mr_name);
		free(r);
	}
	HASH_ITER(hh, metrics.deaths, l, ltmp) {
		HASH_DEL(metrics.deaths, l);
		free(l);
	}
	HASH_ITER(hh, metrics.refused, l, ltmp) {
		HASH_DEL(metrics.refused, l);
		free(l);
	}
	memset(&metrics, 0, sizeof(metrics));
}
