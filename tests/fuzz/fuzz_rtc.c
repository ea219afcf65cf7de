/* libFuzzer: any bytes as a telnyx_rtc frame from a logged-in SDK, then a
 * second frame on a socket that never logged in. The sim's rtc side must
 * answer every one (a result or a JSON-RPC error), never crash or leak,
 * and the model must stay usable. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "model.h"
#include "rtc.h"

static long s_sent;

static int s_send(void *arg, uint64_t conn, const char *text, size_t len)
{
    (void)arg;
    (void)conn;
    (void)text;
    (void)len;
    s_sent++;
    return 0;
}

static void s_close(void *arg, uint64_t conn, int abrupt)
{
    (void)arg;
    (void)conn;
    (void)abrupt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sim_model_t *model;
    static sim_creds_t *creds;
    static sim_rtc_t *rtc;
    static int64_t now = 1764000000000LL;
    if (!rtc) {
        if (sodium_init() < 0)
            abort();
        model = sim_model_new("1001", "http://127.0.0.1:9/hooks", NULL);
        creds = sim_creds_new("1001");
        sim_rtc_io_t io = {.send = s_send, .close = s_close};
        rtc = sim_rtc_new(model, creds, NULL, "1001", &io);
        json_t *body = json_pack("{s:s}", "connection_id", "1001"), *cred = NULL;
        sim_error_t err;
        if (sim_creds_create(creds, body, now, &cred, &err))
            abort();
        char *jwt = NULL;
        if (sim_creds_token(creds, json_string_value(json_object_get(cred, "id")), now, &jwt, &err))
            abort();
        char login[1024];
        snprintf(login, sizeof login,
                 "{\"id\":1,\"method\":\"login\",\"params\":{\"login_token\":\"%s\"}}", jwt);
        sim_rtc_message(rtc, 1, login, strlen(login), now);
        free(jwt);
        json_decref(body);
        json_decref(cred);
    }
    now += 10;
    /* an ack (an object with a result or error, no method) gets no answer */
    json_t *msg = json_loadb((const char *)data, size, 0, NULL);
    int ack = json_is_object(msg) && !json_object_get(msg, "method") &&
              (json_object_get(msg, "result") || json_object_get(msg, "error"));
    json_decref(msg);
    long before = s_sent;
    sim_rtc_message(rtc, 1, (const char *)data, size, now);
    json_decref(sim_model_outbox(model));
    /* a request object always gets an answer; an ack or a result none */
    sim_rtc_message(rtc, 2, (const char *)data, size, now);
    if (!ack && s_sent == before)
        abort();
    sim_model_tick(model, now);
    sim_rtc_apply(rtc, now);
    json_decref(sim_model_outbox(model));
    return 0;
}
