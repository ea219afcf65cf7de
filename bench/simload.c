/* simload - call setups per second through callsync-sim: dials N calls
 * over keep-alive connections (libcurl multi) and counts the webhooks the
 * sim delivers to a receiver of its own (libmicrohttpd, answers 200 at
 * once), so the sim is measured, not a webhook consumer.
 *
 *   simload --sim-port P --receiver-port R --calls N --connections C
 *
 * The sim must deliver to http://127.0.0.1:R/ and have +15550199999
 * scripted (scripts/bench.sh sets it: answers at once, hangs up after
 * 200 ms: three webhooks per call). */
#include <curl/curl.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_long s_hooks;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result s_receive(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s_hooks, 1);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static size_t s_discard(void *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

int main(int argc, char **argv)
{
    int sim_port = 8090, recv_port = 0, calls = 5000, conns = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sim-port"))
            sim_port = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--receiver-port"))
            recv_port = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--calls"))
            calls = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--connections"))
            conns = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (recv_port <= 0 || calls <= 0 || conns <= 0 || conns > 256) {
        fprintf(stderr, "usage: see the top of bench/simload.c\n");
        return 2;
    }
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)recv_port, NULL,
                         NULL, s_receive, NULL, MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "simload: cannot listen on %d\n", recv_port);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/calls", sim_port);
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer sim-key");
    curl_slist_append(h, "Content-Type: application/json");
    curl_slist_append(h, "Expect:");
    static const char *body =
        "{\"connection_id\":\"1001\",\"to\":\"+15550199999\",\"from\":\"+15550009999\"}";
    int next = 0, done = 0, failed = 0;
    double t0 = s_now();
    for (int i = 0; i < conns && next < calls; i++, next++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_discard);
        curl_multi_add_handle(multi, e);
    }
    while (done < calls) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            failed += m->data.result != CURLE_OK || status != 200;
            done++;
            curl_multi_remove_handle(multi, m->easy_handle);
            if (next < calls) {
                next++;
                curl_multi_add_handle(multi, m->easy_handle);
            } else {
                curl_easy_cleanup(m->easy_handle);
            }
        }
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double dial_s = s_now() - t0;
    long want = 3L * calls;
    while (atomic_load(&s_hooks) < want && s_now() - t0 < dial_s + 30)
        curl_multi_poll(multi, NULL, 0, 20, NULL);
    double all_s = s_now() - t0;
    long hooks = atomic_load(&s_hooks);
    printf("sim: %d call setups in %.2f s = %.0f setups/s over %d connections (%d failed); "
           "%ld/%ld webhooks delivered in %.2f s = %.0f webhooks/s, %.0f calls/s end to end\n",
           calls, dial_s, calls / dial_s, conns, failed, hooks, want, all_s, hooks / all_s,
           (double)hooks / 3 / all_s);
    curl_slist_free_all(h);
    curl_multi_cleanup(multi);
    MHD_stop_daemon(d);
    return failed || hooks < want ? 1 : 0;
}
