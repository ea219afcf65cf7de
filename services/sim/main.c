/* callsync-sim - a local Telnyx: the Call Control REST API under /v2,
 * signed webhook delivery, scripted far ends, and /sim/... controls for
 * tests (ARCHITECTURE §5). One web thread (common/web.c: HTTP and the
 * WebSocket on one port; every request is in memory), one timer thread
 * that moves calls on, one delivery thread (deliver.c); the model
 * (model.c) is behind one lock. */
#include <czmq.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "creds.h"
#include "deliver.h"
#include "log.h"
#include "media.h"
#include "model.h"
#include "phone.h"
#include "rtc.h"
#include "service.h"
#include "text.h"
#include "timestamp.h"
#include "web.h"

#define S_MAX_BODY (64 * 1024)

#ifdef __SANITIZE_ADDRESS__
/* Under `make SANITIZE=address`, whoever starts the sim: GLib (loaded with
 * GStreamer) allocates 16 KiB in a library constructor and keeps it for the
 * life of the process with no pointer LeakSanitizer can see. Only
 * allocations made under the dynamic loader's init are forgiven, never one
 * of ours; matching that frame needs full stacks (the fast unwinder stops
 * inside GLib). */
__attribute__((used)) const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}
__attribute__((used)) const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
    /* libcrypto: OpenSSL's per-thread state (error queue, random
     * generator) made in GStreamer's DTLS streaming threads; only
     * OPENSSL_thread_stop() frees it, and GLib's thread pool never calls
     * it. The sim itself makes no libcrypto call. */
    return "leak:_dl_init\nleak:libcrypto.so\n";
}
#endif

typedef struct {
    sim_model_t *model;
    sim_creds_t *creds;
    sim_deliver_t *deliver;
    sim_media_t *media;
    sim_rtc_t *rtc;
    pthread_mutex_t lock; /* the model and the rtc side */
    pthread_cond_t wake;  /* the timer thread: a timer may be due sooner */
    int stop;
    cs_web_t *web;
    char api_key[256];
    long requests, refused;
} s_sim_t;

/* Under the lock: turns the model's changes into telnyx_rtc frames, hands
 * new webhooks to the delivery thread, wakes the timer thread. */
static void s_flush(s_sim_t *sim)
{
    sim_rtc_apply(sim->rtc, cs_ts_now_ms());
    json_t *out = sim_model_outbox(sim->model);
    if (json_array_size(out))
        sim_deliver_push(sim->deliver, out);
    else
        json_decref(out);
    pthread_cond_signal(&sim->wake);
}

static void *s_timers(void *arg)
{
    s_sim_t *sim = arg;
    pthread_mutex_lock(&sim->lock);
    while (!sim->stop) {
        int64_t now = cs_ts_now_ms();
        int64_t next = sim_model_tick(sim->model, now);
        int64_t rtc_next = sim_rtc_tick(sim->rtc, now);
        if (rtc_next && (!next || rtc_next < next))
            next = rtc_next;
        sim_rtc_apply(sim->rtc, now);
        json_t *out = sim_model_outbox(sim->model);
        if (json_array_size(out))
            sim_deliver_push(sim->deliver, out);
        else
            json_decref(out);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t wait_ms = next ? next - cs_ts_now_ms() : 1000;
        if (wait_ms > 1000)
            wait_ms = 1000;
        if (wait_ms > 0) {
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (wait_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&sim->wake, &sim->lock, &until);
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return NULL;
}

/* {"data": data} (data stolen) with ok_status, or Telnyx's error shape
 * with the error's status. */
static void s_reply(cs_web_response_t *res, int rc, int ok_status, json_t *data,
                    const sim_error_t *err)
{
    json_t *body;
    int status = ok_status;
    if (rc == 0) {
        body = json_pack("{s:o}", "data", data ? data : json_object());
    } else {
        status = err->status;
        char url[128];
        snprintf(url, sizeof url, "https://developers.telnyx.com/docs/overview/errors/%s",
                 err->code);
        json_t *e = json_pack("{s:s, s:s, s:s, s:{s:s}}", "code", err->code, "title", err->title,
                              "detail", err->detail, "meta", "url", url);
        if (err->pointer[0])
            json_object_set_new(e, "source", json_pack("{s:s}", "pointer", err->pointer));
        body = json_pack("{s:[o]}", "errors", e);
    }
    res->status = status;
    res->content_type = "application/json";
    res->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
}

static void s_text(cs_web_response_t *res, int status, const char *type, const char *text)
{
    res->status = status;
    res->content_type = type;
    res->body = strdup(text);
}

static int s_authorized(s_sim_t *sim, const char *auth)
{
    return auth && strncmp(auth, "Bearer ", 7) == 0 &&
           sodium_memcmp(auth + 7, sim->api_key, strlen(sim->api_key)) == 0 &&
           strlen(auth + 7) == strlen(sim->api_key);
}

static void s_metrics(s_sim_t *sim, cs_web_response_t *res)
{
    long legs, alive, hooks, delivered, failed, pending;
    pthread_mutex_lock(&sim->lock);
    sim_model_counts(sim->model, &legs, &alive, &hooks);
    long requests = sim->requests, refused = sim->refused;
    long sessions, rtc_calls, frames, rtc_refused;
    sim_rtc_counts(sim->rtc, &sessions, &rtc_calls, &frames, &rtc_refused);
    pthread_mutex_unlock(&sim->lock);
    long media = sim_media_count(sim->media);
    sim_deliver_counts(sim->deliver, &delivered, &failed, &pending);
    char text[2048];
    snprintf(text, sizeof text,
             "# TYPE callsync_sim_legs_total counter\ncallsync_sim_legs_total %ld\n"
             "# TYPE callsync_sim_legs_alive gauge\ncallsync_sim_legs_alive %ld\n"
             "# TYPE callsync_sim_webhooks_total counter\ncallsync_sim_webhooks_total %ld\n"
             "# TYPE callsync_sim_webhooks_delivered_total counter\n"
             "callsync_sim_webhooks_delivered_total %ld\n"
             "# TYPE callsync_sim_webhooks_failed_total counter\n"
             "callsync_sim_webhooks_failed_total %ld\n"
             "# TYPE callsync_sim_webhooks_pending gauge\ncallsync_sim_webhooks_pending %ld\n"
             "# TYPE callsync_sim_requests_total counter\ncallsync_sim_requests_total %ld\n"
             "# TYPE callsync_sim_requests_refused_total counter\n"
             "callsync_sim_requests_refused_total %ld\n"
             "# TYPE callsync_sim_rtc_sessions gauge\ncallsync_sim_rtc_sessions %ld\n"
             "# TYPE callsync_sim_rtc_calls gauge\ncallsync_sim_rtc_calls %ld\n"
             "# TYPE callsync_sim_rtc_frames_total counter\ncallsync_sim_rtc_frames_total %ld\n"
             "# TYPE callsync_sim_rtc_refused_total counter\n"
             "callsync_sim_rtc_refused_total %ld\n"
             "# TYPE callsync_sim_media_calls gauge\ncallsync_sim_media_calls %ld\n",
             legs, alive, hooks, delivered, failed, pending, requests, refused, sessions, rtc_calls,
             frames, rtc_refused, media);
    s_text(res, 200, "text/plain; version=0.0.4", text);
}

static void s_dispatch(s_sim_t *sim, const cs_web_request_t *req, json_t *body,
                       cs_web_response_t *res)
{
    sim_error_t err = {0};
    json_t *data = NULL;
    char id[128];
    const char *rest, *url = req->path, *method = req->method;
    int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    int64_t now = cs_ts_now_ms();

    if (get && strcmp(url, "/healthz") == 0)
        return s_text(res, 200, "application/json", "{\"status\":\"ok\"}");
    if (get && strcmp(url, "/metrics") == 0)
        return s_metrics(sim, res);
    if (get && strcmp(url, "/phone") == 0)
        return s_text(res, 200, "text/html; charset=utf-8", sim_phone_html);
    if (get && strcmp(url, "/sim/public-key") == 0)
        return s_text(res, 200, "text/plain", sim_deliver_public_key(sim->deliver));
    if (get && strcmp(url, "/sim/deliveries") == 0) {
        char cc[128];
        int has = cs_web_query_arg(req->query, "call_control_id", cc, sizeof cc) == 0;
        return s_reply(res, 0, 200, sim_deliver_log(sim->deliver, has ? cc : NULL), NULL);
    }
    if (post && strcmp(url, "/sim/faults") == 0) {
        unsigned refuse;
        int rc = sim_model_refusals_parse(body, &refuse, &err);
        if (!rc)
            rc = sim_deliver_faults(sim->deliver, body, &err);
        if (!rc) { /* both parts were valid: commands too */
            pthread_mutex_lock(&sim->lock);
            sim_model_refuse(sim->model, refuse);
            pthread_mutex_unlock(&sim->lock);
        }
        return s_reply(res, rc, 200, rc ? NULL : json_pack("{s:s}", "result", "ok"), &err);
    }

    int rc = -2, ok_status = 200;
    char *token = NULL;
    pthread_mutex_lock(&sim->lock);
    if (strncmp(url, "/v2/", 4) == 0 && !s_authorized(sim, req->authorization)) {
        sim->refused++;
        rc = -1;
        err = (sim_error_t){401, "10009", "Authentication failed",
                            "The API key in the Authorization header is missing or invalid.", ""};
    } else if (post && strcmp(url, "/v2/calls") == 0) {
        rc = sim_model_dial(sim->model, body, now, &data, &err);
    } else if (cs_web_path_id(url, "/v2/calls/", id, sizeof id, &rest)) {
        if (get && !*rest)
            rc = sim_model_status(sim->model, id, now, &data, &err);
        else if ((post || strcmp(method, "PUT") == 0) && strncmp(rest, "/actions/", 9) == 0)
            rc = sim_model_action(sim->model, id, rest + 9, body, now, &data, &err);
    } else if (post && strcmp(url, "/v2/telephony_credentials") == 0) {
        rc = sim_creds_create(sim->creds, body, now, &data, &err);
        ok_status = 201;
    } else if (cs_web_path_id(url, "/v2/telephony_credentials/", id, sizeof id, &rest)) {
        if (get && !*rest)
            rc = sim_creds_get(sim->creds, id, now, &data, &err);
        else if (post && strcmp(rest, "/token") == 0)
            rc = sim_creds_token(sim->creds, id, now, &token, &err);
    } else if (post && strcmp(url, "/sim/calls") == 0) {
        rc = sim_model_inbound(sim->model, body, now, &data, &err);
    } else if (post && strcmp(url, "/sim/rtc/drop") == 0) {
        /* For tests: the network under a logged-in SDK drops. */
        const char *user = json_string_value(json_object_get(body, "user"));
        rc = user && sim_rtc_drop(sim->rtc, user) == 0 ? 0 : -1;
        data = rc ? NULL : json_pack("{s:s}", "result", "ok");
        if (rc)
            err = (sim_error_t){404, "10005", "Resource not found",
                                "no logged-in session for that user", "/user"};
    } else if (post && strcmp(url, "/sim/numbers") == 0) {
        rc = sim_model_set_number(sim->model, body, &err);
        data = rc ? NULL : json_pack("{s:s}", "result", "ok");
    } else if (get && cs_web_path_id(url, "/sim/calls/", id, sizeof id, &rest) && !*rest) {
        data = sim_model_leg_json(sim->model, id);
        rc = data ? 0 : -1;
        json_t *browser = data ? sim_rtc_leg_json(sim->rtc, id) : NULL;
        if (browser)
            json_object_set_new(data, "webrtc", browser);
        if (!data)
            err = (sim_error_t){404, "10005", "Resource not found", "no such call", ""};
    }
    if (rc == -2) {
        rc = -1;
        err = (sim_error_t){404, "10005", "Resource not found", "no such path or method", ""};
    }
    sim->requests++;
    if (rc)
        sim->refused++;
    s_flush(sim);
    pthread_mutex_unlock(&sim->lock);
    if (rc)
        cs_info("%s %s -> %d %s", method, url, err.status, err.code);
    if (token) { /* the token endpoint answers 201 with the bare JWT */
        res->status = 201;
        res->content_type = "text/plain";
        res->body = token;
        return;
    }
    s_reply(res, rc, ok_status, data, &err);
}

/* Bad input: a body over 64 KiB gets 413, one that is not JSON 400, both
 * in Telnyx's error shape; nothing reaches the model. */
static void s_http(void *arg, const cs_web_request_t *req, cs_web_response_t *res)
{
    s_sim_t *sim = arg;
    sim_error_t err = {0};
    if (req->too_large) {
        err = (sim_error_t){413, "10015", "Invalid value", "body over 64 KiB", ""};
        return s_reply(res, -1, 200, NULL, &err);
    }
    json_t *body = NULL;
    if (req->len) {
        json_error_t jerr;
        body = json_loadb(req->body, req->len, 0, &jerr);
        if (!body) {
            err = (sim_error_t){400, "10015", "Invalid value", "", ""};
            snprintf(err.detail, sizeof err.detail, "body is not JSON: %s", jerr.text);
            return s_reply(res, -1, 200, NULL, &err);
        }
    }
    if (!body)
        body = json_object(); /* no body: as an empty object */
    s_dispatch(sim, req, body, res);
    json_decref(body);
}

static void s_ws_open(void *arg, uint64_t conn, const char *path, const char *query)
{
    (void)path;
    (void)query; /* voice_sdk_id and friends: the login says who it is */
    s_sim_t *sim = arg;
    pthread_mutex_lock(&sim->lock);
    sim_rtc_open(sim->rtc, conn, cs_ts_now_ms());
    pthread_mutex_unlock(&sim->lock);
}

static void s_ws_message(void *arg, uint64_t conn, const char *text, size_t len)
{
    s_sim_t *sim = arg;
    pthread_mutex_lock(&sim->lock);
    sim_rtc_message(sim->rtc, conn, text, len, cs_ts_now_ms());
    s_flush(sim);
    pthread_mutex_unlock(&sim->lock);
}

static void s_ws_close(void *arg, uint64_t conn)
{
    s_sim_t *sim = arg;
    pthread_mutex_lock(&sim->lock);
    sim_rtc_closed(sim->rtc, conn, cs_ts_now_ms());
    s_flush(sim);
    pthread_mutex_unlock(&sim->lock);
}

static int s_rtc_send(void *arg, uint64_t conn, const char *text, size_t len)
{
    s_sim_t *sim = arg;
    return cs_web_send(sim->web, conn, text, len);
}

static void s_rtc_close(void *arg, uint64_t conn, int abrupt)
{
    s_sim_t *sim = arg;
    cs_web_close(sim->web, conn, abrupt);
}

/* media.c's threads: an answer or offer is ready. */
static void s_media_sdp(void *arg, const char *leg, const char *sdp)
{
    s_sim_t *sim = arg;
    pthread_mutex_lock(&sim->lock);
    if (sim->rtc) {
        sim_rtc_local_sdp(sim->rtc, leg, sdp, cs_ts_now_ms());
        s_flush(sim);
    }
    pthread_mutex_unlock(&sim->lock);
}

static int s_is_sdk(void *arg, const char *user)
{
    s_sim_t *sim = arg;
    return sim_creds_has_user(sim->creds, user);
}

static int s_is_phone(void *arg, const char *number)
{
    s_sim_t *sim = arg;
    return sim->rtc && sim_rtc_is_phone(sim->rtc, number);
}

static void *s_web_loop(void *arg)
{
    cs_web_run(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    static const char *const vars[] = {"CALLSYNC_SIM_PORT",          "CALLSYNC_SIM_WEBHOOK_URL",
                                       "CALLSYNC_SIM_FAILOVER_URL",  "CALLSYNC_SIM_API_KEY",
                                       "CALLSYNC_SIM_CONNECTION_ID", "CALLSYNC_SIM_SIGNING_SEED",
                                       "CALLSYNC_LOG_LEVEL",         NULL};
    int rc;
    cs_config_t *cfg =
        cs_service_config("callsync-sim", "sim", "a local Telnyx Call Control for offline runs",
                          vars, argc, argv, &rc);
    if (!cfg)
        return rc;
    char err[256];
    rc = 1;
    long port;
    s_sim_t sim = {0};
    pthread_t timers, web;
    int timers_up = 0, web_up = 0;
    unsigned char seed[32];
    if (sodium_init() < 0 ||
        cs_config_int(cfg, "CALLSYNC_SIM_PORT", 1, 65535, &port, err, sizeof err)) {
        cs_error("%s", err);
        goto out;
    }
    const char *seed64 = cs_config_get(cfg, "CALLSYNC_SIM_SIGNING_SEED");
    size_t seedlen = 0;
    if (!seed64) {
        randombytes_buf(seed, sizeof seed);
    } else if (sodium_base642bin(seed, sizeof seed, seed64, strlen(seed64), NULL, &seedlen, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0 ||
               seedlen != 32) {
        cs_error("CALLSYNC_SIM_SIGNING_SEED must be base64 of 32 bytes");
        goto out;
    }
    CS_COPY(sim.api_key, cs_config_get(cfg, "CALLSYNC_SIM_API_KEY"));
    sigset_t sigs;
    cs_service_signals(&sigs);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sim.model = sim_model_new(cs_config_get(cfg, "CALLSYNC_SIM_CONNECTION_ID"),
                              cs_config_get(cfg, "CALLSYNC_SIM_WEBHOOK_URL"),
                              cs_config_get(cfg, "CALLSYNC_SIM_FAILOVER_URL"));
    sim.creds = sim_creds_new(cs_config_get(cfg, "CALLSYNC_SIM_CONNECTION_ID"));
    sim.deliver = sim_deliver_new(seed);
    sodium_memzero(seed, sizeof seed);
    pthread_mutex_init(&sim.lock, NULL);
    pthread_cond_init(&sim.wake, NULL);
    sim.media = sim_media_new(s_media_sdp, &sim);
    sim_rtc_io_t io = {.arg = &sim, .send = s_rtc_send, .close = s_rtc_close};
    sim.rtc = sim_rtc_new(sim.model, sim.creds, sim.media,
                          cs_config_get(cfg, "CALLSYNC_SIM_CONNECTION_ID"), &io);
    if (sim.model && sim.creds)
        sim_model_set_browsers(sim.model, s_is_sdk, s_is_phone, &sim);
    if (!sim.model || !sim.creds || !sim.deliver || !sim.media || !sim.rtc ||
        pthread_create(&timers, NULL, s_timers, &sim) != 0)
        goto out;
    timers_up = 1;
    cs_web_handlers_t handlers = {.arg = &sim,
                                  .http = s_http,
                                  .ws_open = s_ws_open,
                                  .ws_message = s_ws_message,
                                  .ws_close = s_ws_close};
    sim.web = cs_web_new((int)port, S_MAX_BODY, &handlers, err, sizeof err);
    if (!sim.web) {
        cs_error("%s", err);
        goto out;
    }
    if (pthread_create(&web, NULL, s_web_loop, sim.web) != 0)
        goto out;
    web_up = 1;
    cs_info("listening on :%ld; webhooks to %s; public key %s", port,
            cs_config_get(cfg, "CALLSYNC_SIM_WEBHOOK_URL"), sim_deliver_public_key(sim.deliver));
    int sig;
    sigwait(&sigs, &sig);
    cs_info("signal %d: stopping", sig);
    rc = 0;
out:
    if (web_up) {
        cs_web_stop(sim.web);
        pthread_join(web, NULL);
    }
    if (timers_up) {
        pthread_mutex_lock(&sim.lock);
        sim.stop = 1;
        pthread_cond_signal(&sim.wake);
        pthread_mutex_unlock(&sim.lock);
        pthread_join(timers, NULL);
    }
    /* media first: its last callbacks still reach the rtc side */
    sim_media_destroy(&sim.media);
    pthread_mutex_lock(&sim.lock);
    sim_rtc_destroy(&sim.rtc);
    pthread_mutex_unlock(&sim.lock);
    sim_deliver_destroy(&sim.deliver);
    sim_model_destroy(&sim.model);
    sim_creds_destroy(&sim.creds);
    cs_web_destroy(&sim.web);
    cs_config_destroy(&cfg);
    curl_global_cleanup();
    return rc;
}
