/* loadgen - posts distinct, signed Telnyx webhooks to one or more
 * ingestors over keep-alive connections and reports throughput and ack
 * latency; also measures one core's Ed25519 verify rate, in the same run,
 * as the yardstick. Used by scripts/bench.sh.
 *
 *   loadgen --ports 8081[,8082] --calls N --connections C --seed-file F
 *           [--first-call K] [--rate R] [--redis-port P] [--verify-only] [--public-key]
 *   loadgen --ports P --bodies FILE [--rate R] [--connections C] [--sent-log FILE]
 *   loadgen --seed-file F --calls N [--first-call K] [--window W] --write-bodies FILE
 *
 * Without --rate it is a closed loop (each connection sends as soon as its
 * last answer came: the saturation throughput). With --rate R requests
 * start on a fixed schedule of R per second and latency counts from the
 * scheduled start, so a server that falls behind is charged for the wait
 * (no coordinated omission).
 *
 * Each call is six events (two legs: initiated x2, answered, bridged,
 * hangup x2) with ids as long as Telnyx's; events are sent round-robin
 * over calls so one call's events are spread in time, as in production.
 * --window W (default: all calls) takes the calls W at a time: every event
 * of a window's calls is sent before the next window's first, so W calls
 * are in progress at once, and a long run does not need its whole call
 * set in the ingestor's cache.
 * All bodies are signed before the clock starts.
 *
 * With --bodies, the webhooks are another tool's, signed ahead of time
 * (bench/relayload.mjs): one per line, "<timestamp>\t<base64 signature>\t
 * <body>". --sent-log writes one line per webhook, in file order: "<sent>
 * <acked> <status>", CLOCK_MONOTONIC ns (the scheduled start when paced),
 * so the tool that reads the far end of the path (a WS frame) can time it
 * on the same clock (node's process.hrtime is CLOCK_MONOTONIC too).
 *
 * --write-bodies signs the calls and writes them in the --bodies form
 * instead of sending them, for a leaner sender (wrk, see
 * bench/wrk-bodies.lua) that leaves the ingestor more of the machine.
 *
 * The sender shares the machine with what it measures: it asks libcurl for
 * no signal handling per request (each one cost two sigaction calls) and
 * keeps every connection alive. libcurl's socket interface on an epoll,
 * with the schedule on a timerfd, was tried and cost more per request here
 * (an epoll_ctl per state change, a wakeup per start), so the loop polls. */
#include <curl/curl.h>
#include <hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timestamp.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    char *body;
    struct curl_slist *headers;
} s_hook_t;

static char *s_body(int call, int ev, int64_t t0)
{
    static const char *types[] = {"call.initiated", "call.initiated", "call.answered",
                                  "call.bridged",   "call.hangup",    "call.hangup"};
    static const int leg_of[] = {0, 1, 1, 0, 1, 0};
    static const int64_t dt[] = {0, 150, 1250, 1260, 61250, 61300};
    char at[CS_TS_LEN];
    cs_ts_format(t0 + dt[ev], at, sizeof at);
    int leg = leg_of[ev];
    char extra[256] = "";
    if (ev <= 1)
        snprintf(extra, sizeof extra, ",\"direction\":\"outgoing\",\"state\":\"%s\"",
                 ev == 0 ? "parked" : "bridging");
    if (ev >= 4)
        snprintf(extra, sizeof extra,
                 ",\"hangup_cause\":\"normal_clearing\",\"hangup_source\":\"%s\","
                 "\"sip_hangup_cause\":\"200\",\"state\":\"hangup\"",
                 ev == 4 ? "callee" : "caller");
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{\"data\":{\"event_type\":\"%s\",\"id\":\"%08x-%04x-4f0e-9d8e-0c5d5b1a7e11\","
             "\"occurred_at\":\"%s\",\"record_type\":\"event\",\"payload\":{"
             "\"call_control_id\":\"v3:%08x%c-70CTEjlUq3tDM0CxKXIt5-5N4iP4wo7_-PfH-qub97Sk4EqO\","
             "\"call_leg_id\":\"%08x-c81c-11f0-afbb-0242%08x\",\"call_session_id\":\"%08x-c81c-"
             "11f0-abac-02420aef93a0\",\"calling_party_type\":\"%s\",\"client_state\":null,"
             "\"connection_id\":\"2811212257810187875\",\"from\":\"+15550009999\","
             "\"to\":\"+15550100001\",\"start_time\":\"%s\"%s}},\"meta\":{\"attempt\":1,"
             "\"delivered_to\":\"http://127.0.0.1/webhooks/telnyx\"}}",
             types[ev], (unsigned)call, ev, at, (unsigned)call, leg ? 'C' : 'A', (unsigned)call,
             leg, (unsigned)call, leg ? "pstn" : "sip", at, extra);
    return out;
}

static size_t s_discard(void *data, size_t size, size_t n, void *user)
{
    (void)data;
    (void)user;
    return size * n;
}

static struct curl_slist *s_headers(const char *ts, const char *sig_b64)
{
    char h[200];
    snprintf(h, sizeof h, "telnyx-signature-ed25519: %s", sig_b64);
    struct curl_slist *l = curl_slist_append(NULL, h);
    snprintf(h, sizeof h, "telnyx-timestamp: %s", ts);
    curl_slist_append(l, h);
    curl_slist_append(l, "Content-Type: application/json");
    curl_slist_append(l, "Expect:");
    return l;
}

/* Reads --bodies: "<ts>\t<sig>\t<body>" lines. The count, or 0. */
static size_t s_read_bodies(const char *path, s_hook_t **out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0, cap = 0;
    s_hook_t *hooks = NULL;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    while ((len = getline(&line, &linecap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char *sig = strchr(line, '\t'), *body = sig ? strchr(sig + 1, '\t') : NULL;
        if (!body)
            continue;
        *sig++ = '\0';
        *body++ = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            hooks = realloc(hooks, cap * sizeof *hooks);
        }
        hooks[n].body = strdup(body);
        hooks[n].headers = s_headers(line, sig);
        n++;
    }
    free(line);
    fclose(f);
    *out = hooks;
    return n;
}

/* Signs calls x 6 webhooks (see the top), round-robin over calls. With
 * dump set, each is also written there as a --bodies line. */
static size_t s_sign_calls(int calls, int first, int window, const unsigned char *sk, FILE *dump,
                           s_hook_t **out)
{
    size_t total = (size_t)calls * 6;
    s_hook_t *hooks = calloc(total, sizeof *hooks);
    int64_t t0 = cs_ts_now_ms() - 120000;
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)(cs_ts_now_ms() / 1000));
    size_t k = 0;
    for (int w = 0; w < calls; w += window)
        for (int ev = 0; ev < 6; ev++)
            for (int c = w; c < calls && c < w + window; c++, k++) {
                hooks[k].body = s_body(first + c, ev, t0 + c);
                size_t len = strlen(hooks[k].body), tslen = strlen(ts);
                unsigned char *msg = malloc(tslen + 1 + len), sig[64];
                memcpy(msg, ts, tslen);
                msg[tslen] = '|';
                memcpy(msg + tslen + 1, hooks[k].body, len);
                crypto_sign_detached(sig, NULL, msg, tslen + 1 + len, sk);
                free(msg);
                char b64[128];
                sodium_bin2base64(b64, sizeof b64, sig, 64, sodium_base64_VARIANT_ORIGINAL);
                hooks[k].headers = s_headers(ts, b64);
                if (dump)
                    fprintf(dump, "%s\t%s\t%s\n", ts, b64, hooks[k].body);
            }

    *out = hooks;
    return total;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_verify_only(const unsigned char *pk, const unsigned char *sk)
{
    char *body = s_body(1, 2, cs_ts_now_ms());
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "1764000000|%s", body);
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (unsigned char *)msg, (unsigned long long)n, sk);
    int count = 0;
    double t0 = s_now();
    while (s_now() - t0 < 2.0)
        for (int i = 0; i < 100; i++)
            count += crypto_sign_verify_detached(sig, (unsigned char *)msg, (unsigned long long)n,
                                                 pk) == 0;
    printf("verify_only: %.0f verifies/s on one core\n", count / (s_now() - t0));
    free(body);
}

static void s_memory(int redis_port)
{
    redisContext *c = redisConnect("127.0.0.1", redis_port);
    if (!c || c->err)
        return;
    redisReply *ids = redisCommand(c, "ZRANGE cs:calls 0 199");
    double sum = 0, sum_rec = 0, sum_hist = 0, sum_seen = 0;
    long long max = 0;
    size_t n = 0;
    for (size_t i = 0; ids && i < ids->elements; i++) {
        redisReply *a = redisCommand(c, "MEMORY USAGE cs:call:%s", ids->element[i]->str);
        redisReply *b = redisCommand(c, "MEMORY USAGE cs:hist:%s", ids->element[i]->str);
        /* its dedupe marks: bookkeeping that expires, reported beside */
        redisReply *d = redisCommand(c, "MEMORY USAGE cs:seen:%s", ids->element[i]->str);
        if (d && d->type == REDIS_REPLY_INTEGER)
            sum_seen += (double)d->integer;
        freeReplyObject(d);
        if (a && b && a->type == REDIS_REPLY_INTEGER && b->type == REDIS_REPLY_INTEGER) {
            long long t = a->integer + b->integer;
            sum += (double)t;
            sum_rec += (double)a->integer;
            sum_hist += (double)b->integer;
            max = t > max ? t : max;
            n++;
        }
        freeReplyObject(a);
        freeReplyObject(b);
    }
    if (n)
        printf("memory: finished call record+history avg %.0f B (record %.0f + history %.0f), "
               "max %lld B (%zu calls sampled); its dedupe marks (cs:seen, expiring) %.0f B\n",
               sum / (double)n, sum_rec / (double)n, sum_hist / (double)n, max, n,
               sum_seen / (double)n);
    freeReplyObject(ids);
    redisFree(c);
}

int main(int argc, char **argv)
{
    const char *ports = "8081", *seed_file = NULL, *bodies = NULL, *sent_log = NULL,
               *write_bodies = NULL;
    int calls = 10000, conns = 16, redis_port = 0, verify_only = 0, first = 0, window = 0;
    double rate = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ports") && i + 1 < argc)
            ports = argv[++i];
        else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--connections") && i + 1 < argc)
            conns = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed-file") && i + 1 < argc)
            seed_file = argv[++i];
        else if (!strcmp(argv[i], "--first-call") && i + 1 < argc)
            first = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--window") && i + 1 < argc)
            window = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--redis-port") && i + 1 < argc)
            redis_port = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--bodies") && i + 1 < argc)
            bodies = argv[++i];
        else if (!strcmp(argv[i], "--write-bodies") && i + 1 < argc)
            write_bodies = argv[++i];
        else if (!strcmp(argv[i], "--sent-log") && i + 1 < argc)
            sent_log = argv[++i];
        else if (!strcmp(argv[i], "--verify-only"))
            verify_only = 1;
        else if (!strcmp(argv[i], "--public-key"))
            calls = -1; /* print the key for the seed and stop */
        else {
            fprintf(stderr, "usage: see the top of bench/loadgen.c\n");
            return 2;
        }
    }
    if (sodium_init() < 0 || (!seed_file && !bodies) || calls == 0 || calls < -1 || conns < 1 ||
        conns > 512 || window < 0)
        return 2;
    int port_list[8], nports = 0;
    for (char *p = (char *)ports; *p && nports < 8;) {
        port_list[nports++] = (int)strtol(p, &p, 10);
        if (*p == ',')
            p++;
    }
    size_t total;
    s_hook_t *hooks;
    if (bodies) {
        total = s_read_bodies(bodies, &hooks);
        if (!total) {
            fprintf(stderr, "loadgen: no webhooks in %s\n", bodies);
            return 2;
        }
    } else {
        unsigned char seed[32], pk[32], sk[64];
        FILE *f = fopen(seed_file, "rb");
        if (!f || fread(seed, 1, 32, f) != 32)
            return 2;
        fclose(f);
        crypto_sign_seed_keypair(pk, sk, seed);
        if (verify_only) {
            s_verify_only(pk, sk);
            return 0;
        }
        if (calls == -1) {
            char b64[64];
            sodium_bin2base64(b64, sizeof b64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
            puts(b64);
            return 0;
        }
        FILE *dump = write_bodies ? fopen(write_bodies, "w") : NULL;
        if (write_bodies && !dump) {
            fprintf(stderr, "loadgen: cannot write %s\n", write_bodies);
            return 2;
        }
        total = s_sign_calls(calls, first, window ? window : calls, sk, dump, &hooks);
        if (dump) /* another tool sends them (bench/wrk-bodies.lua) */
            return fclose(dump) ? 2 : 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns);
    CURL **easy = calloc((size_t)conns, sizeof *easy);
    double *started = calloc((size_t)conns, sizeof *started);
    double *lat = calloc(total, sizeof *lat);
    double *sent_at = calloc(total, sizeof *sent_at), *acked_at = calloc(total, sizeof *acked_at);
    int *codes = calloc(total, sizeof *codes);
    size_t *which = calloc((size_t)conns, sizeof *which);
    size_t next = 0, done = 0, failed = 0;
    char url[8][96];
    for (int i = 0; i < nports; i++)
        snprintf(url[i], sizeof url[i], "http://127.0.0.1:%d/webhooks/telnyx", port_list[i]);
    double begin = s_now();
    /* When request k may start: now (closed loop) or on the schedule. */
#define S_SCHED(k) (rate > 0 ? begin + (double)(k) / rate : 0.0)
    int *idle = calloc((size_t)conns, sizeof *idle), nidle = 0;
    for (int i = 0; i < conns; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url[i % nports]);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, s_discard);
        curl_easy_setopt(easy[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        idle[nidle++] = i;
    }
    while (done < total) {
        double now = s_now();
        while (nidle && next < total && now >= S_SCHED(next)) {
            int i = idle[--nidle];
            curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, hooks[next].body);
            curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, hooks[next].headers);
            started[i] = rate > 0 ? S_SCHED(next) : now;
            which[i] = next++;
            curl_multi_add_handle(multi, easy[i]);
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *e = m->easy_handle;
            intptr_t i;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&i);
            long status = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK || status != 200)
                failed++;
            double now_done = s_now();
            lat[done++] = now_done - started[i];
            sent_at[which[i]] = started[i];
            acked_at[which[i]] = now_done;
            codes[which[i]] = m->data.result == CURLE_OK ? (int)status : 0;
            curl_multi_remove_handle(multi, e);
            idle[nidle++] = (int)i;
        }
        int wait_ms = 100;
        if (rate > 0 && nidle && next < total) {
            double until = S_SCHED(next) - s_now();
            wait_ms = until <= 0 ? 0 : (int)(until * 1000) + 1;
            wait_ms = wait_ms < 100 ? wait_ms : 100;
        }
        if (wait_ms > 0)
            curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
    free(idle);
    double elapsed = s_now() - begin;
    qsort(lat, total, sizeof *lat, s_cmp);
    printf("webhooks: %zu in %.2f s = %.0f/s (%s) over %d connections to %d ingestor(s); "
           "ack p50 %.2f ms, p99 %.2f ms, max %.2f ms; failed %zu\n",
           total, elapsed, (double)total / elapsed, rate > 0 ? "paced" : "closed loop", conns,
           nports, lat[total / 2] * 1000, lat[total * 99 / 100] * 1000, lat[total - 1] * 1000,
           failed);
    if (redis_port)
        s_memory(redis_port);
    FILE *log = sent_log ? fopen(sent_log, "w") : NULL;
    for (size_t e = 0; log && e < total; e++)
        fprintf(log, "%.0f %.0f %d\n", sent_at[e] * 1e9, acked_at[e] * 1e9, codes[e]);
    if (log)
        fclose(log);
    free(sent_at);
    free(acked_at);
    free(codes);
    for (int i = 0; i < conns; i++)
        if (easy[i])
            curl_easy_cleanup(easy[i]);
    curl_multi_cleanup(multi);
    for (size_t i = 0; i < total; i++) {
        free(hooks[i].body);
        curl_slist_free_all(hooks[i].headers);
    }
    free(hooks);
    free(easy);
    free(started);
    free(lat);
    free(which);
    return failed ? 1 : 0;
}
