/* metrics - counters and histograms for /metrics, in the Prometheus text
 * format. Updates are lock-free atomics, so request threads can count
 * without contention; a service declares its metrics once at start. */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CS_HIST_MAX_BUCKETS 16

typedef struct {
    const char *name; /* e.g. "callsync_webhooks_total" */
    const char *help;
    const char *labels; /* e.g. "outcome=\"stored\"", or NULL */
    atomic_uint_least64_t value;
} cs_counter_t;

typedef struct {
    const char *name;
    const char *help;
    int nbuckets;
    double bounds[CS_HIST_MAX_BUCKETS]; /* upper bounds, seconds, ascending */
    atomic_uint_least64_t buckets[CS_HIST_MAX_BUCKETS];
    atomic_uint_least64_t count;
    atomic_uint_least64_t sum_ns;
} cs_histogram_t;

static inline void cs_counter_inc(cs_counter_t *c)
{
    atomic_fetch_add(&c->value, 1);
}

static inline void cs_counter_add(cs_counter_t *c, uint64_t n)
{
    atomic_fetch_add(&c->value, n);
}

void cs_histogram_observe(cs_histogram_t *h, double seconds);

/* Renders the metrics into a new malloc'd string (caller frees). Counters
 * sharing a name must be adjacent so HELP/TYPE is printed once. */
char *cs_metrics_render(cs_counter_t *const *counters, size_t ncounters,
                        cs_histogram_t *const *histograms, size_t nhistograms);

#endif
