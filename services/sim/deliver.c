/* deliver - see deliver.h. */
#include "deliver.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "text.h"
#include "timestamp.h"

#define S_MAX_ATTEMPTS 5
#define S_LOG_MAX 20000
#define S_MAX_INFLIGHT 64 /* requests at once; the rest wait their turn */

typedef struct {
    json_t *event; /* the "data" object */
    char url[512], failover[512];
    int attempt; /* attempts made on the current URL */
    int total;   /* attempts made in all: meta.attempt */
    int on_failover;
    int64_t due;
    uint64_t seq; /* ties on due time go first come, first served */
    CURL *easy;
    struct curl_slist *headers;
    char *body;
} s_job_t;

struct sim_deliver {
    unsigned char pk[32], sk[64];
    char pk_b64[64];
    pthread_t thread;
    pthread_mutex_t lock;
    int stop;
    CURLM *multi;
    s_job_t **pending; /* min-heap on (due, seq) */
    size_t npending, cap;
    uint64_t seq;
    s_job_t *flying[S_MAX_INFLIGHT]; /* being sent */
    int inflight;
    CURL *idle[S_MAX_INFLIGHT]; /* easy handles to reuse */
    int nidle;
    json_t *log[S_LOG_MAX]; /* ring of the last attempts */
    size_t log_head, log_count;
    double duplicate_rate;
    long reorder_ms, delay_ms, fail_first;
    long delivered, failed;
};

static void s_job_free(s_job_t *job)
{
    if (!job)
        return;
    json_decref(job->event);
    curl_slist_free_all(job->headers);
    free(job->body);
    free(job);
}

static void s_log(sim_deliver_t *self, const s_job_t *job, long status, const char *outcome)
{
    const json_t *payload = json_object_get(job->event, "payload");
    const char *ccid = json_string_value(json_object_get(payload, "call_control_id"));
    json_t *entry =
        (json_pack("{s:s, s:s, s:s?, s:s, s:i, s:I, s:s, s:I}", "event_id",
                   json_string_value(json_object_get(job->event, "id")), "event_type",
                   json_string_value(json_object_get(job->event, "event_type")), "call_control_id",
                   ccid, "url", job->url, "attempt", job->total, "status", (json_int_t)status,
                   "outcome", outcome, "at", (json_int_t)cs_ts_now_ms()));
    size_t slot = (self->log_head + self->log_count) % S_LOG_MAX;
    if (self->log_count == S_LOG_MAX) {
        json_decref(self->log[self->log_head]);
        self->log_head = (self->log_head + 1) % S_LOG_MAX;
    } else {
        self->log_count++;
    }
    self->log[slot] = entry;
}

static int s_before(const s_job_t *a, const s_job_t *b)
{
    return a->due != b->due ? a->due < b->due : a->seq < b->seq;
}

/* Under the lock. */
static void s_queue(sim_deliver_t *self, s_job_t *job)
{
    if (self->npending == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        s_job_t **p = realloc(self->pending, cap * sizeof *p);
        if (!p) {
            if (job->easy)
                curl_easy_cleanup(job->easy);
            s_job_free(job);
            return;
        }
        self->pending = p;
        self->cap = cap;
    }
    job->seq = self->seq++;
    size_t i = self->npending++;
    while (i > 0 && s_before(job, self->pending[(i - 1) / 2])) {
        self->pending[i] = self->pending[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->pending[i] = job;
}

/* Under the lock; the heap must not be empty. */
static s_job_t *s_unqueue(sim_deliver_t *self)
{
    s_job_t *top = self->pending[0], *last = self->pending[--self->npending];
    size_t i = 0, n = self->npending;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_before(self->pending[c + 1], self->pending[c]))
            c++;
        if (!s_before(self->pending[c], last))
            break;
        self->pending[i] = self->pending[c];
        i = c;
    }
    if (n)
        self->pending[i] = last;
    return top;
}

/* A job is done with its easy handle: keep the handle for the next one. */
static void s_release(sim_deliver_t *self, s_job_t *job)
{
    if (!job->easy)
        return;
    if (self->nidle < S_MAX_INFLIGHT) {
        curl_easy_reset(job->easy);
        self->idle[self->nidle++] = job->easy;
    } else {
        curl_easy_cleanup(job->easy);
    }
    job->easy = NULL;
}

static int64_t s_jitter(long max_ms)
{
    return max_ms > 0 ? (int64_t)randombytes_uniform((uint32_t)max_ms + 1) : 0;
}

void sim_deliver_push(sim_deliver_t *self, json_t *outbox)
{
    size_t i;
    json_t *item;
    int64_t now = cs_ts_now_ms();
    pthread_mutex_lock(&self->lock);
    json_array_foreach(outbox, i, item)
    {
        int copies = 1 + (self->duplicate_rate > 0 &&
                          randombytes_uniform(1000000) < (uint32_t)(self->duplicate_rate * 1e6));
        for (int c = 0; c < copies; c++) {
            s_job_t *job = calloc(1, sizeof *job);
            if (!job)
                break;
            job->event = json_incref(json_object_get(item, "event"));
            CS_COPY(job->url, json_string_value(json_object_get(item, "url")));
            CS_COPY(job->failover, json_string_value(json_object_get(item, "failover")));
            job->due = now + self->delay_ms + s_jitter(self->reorder_ms);
            s_queue(self, job);
        }
    }
    pthread_mutex_unlock(&self->lock);
    json_decref(outbox);
    curl_multi_wakeup(self->multi);
}

static size_t s_discard(void *data, size_t size, size_t n, void *user)
{
    (void)data;
    (void)user;
    return size * n;
}

/* Builds, signs and starts one attempt. Under the lock. */
static void s_send(sim_deliver_t *self, s_job_t *job)
{
    job->attempt++;
    job->total++;
    json_t *env = json_pack("{s:O, s:{s:i, s:s}}", "data", job->event, "meta", "attempt",
                            job->total, "delivered_to", job->url);
    free(job->body);
    job->body = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    char ts[24], sig64[128], h_sig[160], h_ts[48];
    snprintf(ts, sizeof ts, "%lld", (long long)(cs_ts_now_ms() / 1000));
    size_t tslen = strlen(ts), len = strlen(job->body);
    unsigned char *msg = malloc(tslen + 1 + len), sig[64];
    memcpy(msg, ts, tslen);
    msg[tslen] = '|';
    memcpy(msg + tslen + 1, job->body, len);
    crypto_sign_detached(sig, NULL, msg, tslen + 1 + len, self->sk);
    free(msg);
    sodium_bin2base64(sig64, sizeof sig64, sig, 64, sodium_base64_VARIANT_ORIGINAL);
    snprintf(h_sig, sizeof h_sig, "telnyx-signature-ed25519: %s", sig64);
    snprintf(h_ts, sizeof h_ts, "telnyx-timestamp: %s", ts);
    curl_slist_free_all(job->headers);
    job->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_slist_append(job->headers, "User-Agent: telnyx-webhooks");
    curl_slist_append(job->headers, h_sig);
    curl_slist_append(job->headers, h_ts);
    curl_slist_append(job->headers, "Expect:");
    if (!job->easy)
        job->easy = self->nidle ? self->idle[--self->nidle] : curl_easy_init();
    CURL *e = job->easy;
    curl_easy_setopt(e, CURLOPT_URL, job->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, job);
    self->flying[self->inflight++] = job;
    curl_multi_add_handle(self->multi, e);
}

/* Under the lock. */
static void s_landed(sim_deliver_t *self, s_job_t *job)
{
    for (int i = 0; i < self->inflight; i++)
        if (self->flying[i] == job) {
            self->flying[i] = self->flying[--self->inflight];
            break;
        }
}

/* After a failed attempt: retry, fail over, or give up. Under the lock. */
static void s_after_failure(sim_deliver_t *self, s_job_t *job, long status, const char *why)
{
    int retriable = status == 0 || status == 408 || status == 429 || status >= 500;
    s_release(self, job);
    if (retriable && job->attempt < S_MAX_ATTEMPTS) {
        s_log(self, job, status, why);
        job->due = cs_ts_now_ms() + (200LL << (job->attempt - 1));
        s_queue(self, job);
        return;
    }
    if (job->failover[0] && !job->on_failover) {
        s_log(self, job, status, "failover");
        job->on_failover = 1;
        job->attempt = 0;
        memmove(job->url, job->failover, sizeof job->url);
        job->due = cs_ts_now_ms();
        s_queue(self, job);
        return;
    }
    s_log(self, job, status, "failed");
    self->failed++;
    cs_warn("webhook %s to %s failed after %d attempts (last status %ld)",
            json_string_value(json_object_get(job->event, "id")), job->url, job->total, status);
    s_job_free(job);
}

static void *s_run(void *arg)
{
    sim_deliver_t *self = arg;
    for (;;) {
        pthread_mutex_lock(&self->lock);
        if (self->stop) {
            pthread_mutex_unlock(&self->lock);
            break;
        }
        int64_t now = cs_ts_now_ms(), next = 0;
        while (self->npending && self->inflight < S_MAX_INFLIGHT && self->pending[0]->due <= now) {
            s_job_t *job = s_unqueue(self);
            if (job->total < self->fail_first) { /* a fault: this attempt is lost */
                job->attempt++;
                job->total++;
                s_after_failure(self, job, 0, "dropped_by_fault");
                continue;
            }
            s_send(self, job);
        }
        if (self->npending && self->inflight < S_MAX_INFLIGHT)
            next = self->pending[0]->due;
        pthread_mutex_unlock(&self->lock);

        int running;
        curl_multi_perform(self->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(self->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            s_job_t *job;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&job);
            long status = 0;
            if (m->data.result == CURLE_OK)
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(self->multi, m->easy_handle);
            pthread_mutex_lock(&self->lock);
            s_landed(self, job);
            if (status >= 200 && status < 300) {
                s_log(self, job, status, "delivered");
                self->delivered++;
                s_release(self, job);
                s_job_free(job);
            } else {
                s_after_failure(self, job, status, status ? "retry" : "retry_no_response");
            }
            pthread_mutex_unlock(&self->lock);
        }
        int wait = 200;
        if (next) {
            int64_t until = next - cs_ts_now_ms();
            wait = until <= 0 ? 0 : until < 200 ? (int)until : 200;
        }
        curl_multi_poll(self->multi, NULL, 0, wait, NULL);
    }
    return NULL;
}

sim_deliver_t *sim_deliver_new(const unsigned char seed[32])
{
    sim_deliver_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    crypto_sign_seed_keypair(self->pk, self->sk, seed);
    sodium_bin2base64(self->pk_b64, sizeof self->pk_b64, self->pk, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    pthread_mutex_init(&self->lock, NULL);
    self->multi = curl_multi_init();
    curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        curl_multi_cleanup(self->multi);
        free(self);
        return NULL;
    }
    return self;
}

void sim_deliver_destroy(sim_deliver_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_deliver_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    pthread_mutex_unlock(&self->lock);
    curl_multi_wakeup(self->multi);
    pthread_join(self->thread, NULL);
    for (size_t i = 0; i < self->npending; i++) {
        if (self->pending[i]->easy)
            curl_easy_cleanup(self->pending[i]->easy);
        s_job_free(self->pending[i]);
    }
    for (int i = 0; i < self->inflight; i++) {
        curl_multi_remove_handle(self->multi, self->flying[i]->easy);
        curl_easy_cleanup(self->flying[i]->easy);
        s_job_free(self->flying[i]);
    }
    for (int i = 0; i < self->nidle; i++)
        curl_easy_cleanup(self->idle[i]);
    curl_multi_cleanup(self->multi);
    free(self->pending);
    for (size_t i = 0; i < self->log_count; i++)
        json_decref(self->log[(self->log_head + i) % S_LOG_MAX]);
    sodium_memzero(self->sk, sizeof self->sk);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int sim_deliver_faults(sim_deliver_t *self, const json_t *body, sim_error_t *err)
{
    const json_t *dup = json_object_get(body, "duplicate_rate");
    const json_t *reorder = json_object_get(body, "reorder_ms");
    const json_t *delay = json_object_get(body, "delay_ms");
    const json_t *fail = json_object_get(body, "fail_first_attempts");
    if (!json_is_object(body) ||
        (dup &&
         (!json_is_number(dup) || json_number_value(dup) < 0 || json_number_value(dup) > 1)) ||
        (reorder && (!json_is_integer(reorder) || json_integer_value(reorder) < 0 ||
                     json_integer_value(reorder) > 60000)) ||
        (delay && (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
                   json_integer_value(delay) > 60000)) ||
        (fail && (!json_is_integer(fail) || json_integer_value(fail) < 0 ||
                  json_integer_value(fail) > S_MAX_ATTEMPTS))) {
        err->status = 422;
        CS_COPY(err->code, "10015");
        CS_COPY(err->title, "Invalid value");
        CS_COPY(err->detail, "duplicate_rate 0..1; reorder_ms, delay_ms 0..60000; "
                             "fail_first_attempts 0..5");
        err->pointer[0] = '\0';
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    self->duplicate_rate = dup ? json_number_value(dup) : 0;
    self->reorder_ms = reorder ? (long)json_integer_value(reorder) : 0;
    self->delay_ms = delay ? (long)json_integer_value(delay) : 0;
    self->fail_first = fail ? (long)json_integer_value(fail) : 0;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

json_t *sim_deliver_log(sim_deliver_t *self, const char *ccid)
{
    json_t *out = json_array();
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->log_count; i++) {
        json_t *entry = self->log[(self->log_head + i) % S_LOG_MAX];
        const char *c = json_string_value(json_object_get(entry, "call_control_id"));
        if (!ccid || (c && strcmp(c, ccid) == 0))
            json_array_append(out, entry);
    }
    pthread_mutex_unlock(&self->lock);
    return out;
}

const char *sim_deliver_public_key(const sim_deliver_t *self)
{
    return self->pk_b64;
}

void sim_deliver_counts(sim_deliver_t *self, long *delivered, long *failed, long *pending)
{
    pthread_mutex_lock(&self->lock);
    *delivered = self->delivered;
    *failed = self->failed;
    *pending = (long)self->npending + self->inflight;
    pthread_mutex_unlock(&self->lock);
}
