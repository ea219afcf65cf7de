/* metrics - see metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_histogram_observe(cs_histogram_t *h, double seconds)
{
    for (int i = 0; i < h->nbuckets; i++)
        if (seconds <= h->bounds[i]) {
            atomic_fetch_add(&h->buckets[i], 1);
            break;
        }
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_ns, (uint64_t)(seconds * 1e9));
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} s_out_t;

static void s_printf(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_printf(s_out_t *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

char *cs_metrics_render(cs_counter_t *const *counters, size_t ncounters,
                        cs_histogram_t *const *histograms, size_t nhistograms)
{
    s_out_t o = {malloc(4096), 0, 4096, 0};
    if (!o.buf)
        return NULL;
    o.buf[0] = '\0';
    for (size_t i = 0; i < ncounters; i++) {
        const cs_counter_t *c = counters[i];
        if (i == 0 || strcmp(counters[i - 1]->name, c->name) != 0)
            s_printf(&o, "# HELP %s %s\n# TYPE %s counter\n", c->name, c->help, c->name);
        s_printf(&o, "%s%s%s%s %llu\n", c->name, c->labels ? "{" : "", c->labels ? c->labels : "",
                 c->labels ? "}" : "", (unsigned long long)atomic_load(&c->value));
    }
    for (size_t i = 0; i < nhistograms; i++) {
        cs_histogram_t *h = histograms[i];
        s_printf(&o, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
        uint64_t cum = 0;
        for (int b = 0; b < h->nbuckets; b++) {
            cum += atomic_load(&h->buckets[b]);
            s_printf(&o, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->bounds[b],
                     (unsigned long long)cum);
        }
        s_printf(&o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", h->name,
                 (unsigned long long)atomic_load(&h->count), h->name,
                 (double)atomic_load(&h->sum_ns) / 1e9, h->name,
                 (unsigned long long)atomic_load(&h->count));
    }
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
