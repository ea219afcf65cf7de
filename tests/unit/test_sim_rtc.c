/* The sim's telnyx_rtc side without a socket or media: frames in through
 * sim_rtc_message, frames out captured, the Call Control model real, the
 * clock ours. Covers what each kind of bad input gets, the ordering rules
 * of the signaling reference (§3: result before ringing/media/answer,
 * media before answer), causes on bye, reconnect and reattach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "model.h"
#include "rtc.h"

#define T0 1764000000000LL
#define MAX_FRAMES 256

static sim_model_t *s_m;
static sim_creds_t *s_c;
static sim_rtc_t *s_r;
static json_t *s_frames[MAX_FRAMES];
static uint64_t s_frame_conn[MAX_FRAMES];
static int s_nframes;
static uint64_t s_dropped;
static char s_token[1024], s_user[64];

static int s_send(void *arg, uint64_t conn, const char *text, size_t len)
{
    (void)arg;
    assert_true(s_nframes < MAX_FRAMES);
    s_frame_conn[s_nframes] = conn;
    s_frames[s_nframes++] = json_loadb(text, len, 0, NULL);
    return 0;
}

static void s_close(void *arg, uint64_t conn, int abrupt)
{
    (void)arg;
    assert_true(abrupt);
    s_dropped = conn;
}

static void s_clear(void)
{
    for (int i = 0; i < s_nframes; i++)
        json_decref(s_frames[i]);
    s_nframes = 0;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    s_m = sim_model_new("1001", "http://127.0.0.1:9/hooks", NULL);
    s_c = sim_creds_new("1001");
    sim_rtc_io_t io = {.send = s_send, .close = s_close};
    s_r = sim_rtc_new(s_m, s_c, NULL, "1001", &io);
    json_t *body = json_pack("{s:s}", "connection_id", "1001"), *data = NULL;
    sim_error_t err;
    if (sim_creds_create(s_c, body, T0, &data, &err))
        return -1;
    json_decref(body);
    snprintf(s_user, sizeof s_user, "%s", json_string_value(json_object_get(data, "sip_username")));
    char *jwt = NULL;
    if (sim_creds_token(s_c, json_string_value(json_object_get(data, "id")), T0, &jwt, &err))
        return -1;
    snprintf(s_token, sizeof s_token, "%s", jwt);
    free(jwt);
    json_decref(data);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    s_clear();
    sim_rtc_destroy(&s_r);
    sim_creds_destroy(&s_c);
    sim_model_destroy(&s_m);
    return 0;
}

static void s_in(uint64_t conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_in(uint64_t conn, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    sim_rtc_message(s_r, conn, text, strlen(text), T0);
}

/* The i-th frame's method ("result" for a reply, "error" for an error). */
static const char *s_kind(int i)
{
    json_t *f = s_frames[i];
    if (json_object_get(f, "error"))
        return "error";
    if (json_object_get(f, "result"))
        return "result";
    return json_string_value(json_object_get(f, "method"));
}

static long s_error_code(int i)
{
    return (long)json_integer_value(json_object_get(json_object_get(s_frames[i], "error"), "code"));
}

static int s_find(const char *kind)
{
    for (int i = 0; i < s_nframes; i++)
        if (strcmp(s_kind(i), kind) == 0)
            return i;
    return -1;
}

static const char *s_param(int i, const char *key)
{
    return json_string_value(json_object_get(json_object_get(s_frames[i], "params"), key));
}

static void s_login(uint64_t conn, const char *extra)
{
    s_in(conn,
         "{\"jsonrpc\":\"2.0\",\"id\":\"l1\",\"method\":\"login\",\"params\":{\"login_token\":\"%"
         "s\"%s}}",
         s_token, extra ? extra : "");
}

static void test_bad_input(void **state)
{
    (void)state;
    s_clear();
    s_in(1, "not json");
    s_in(1, "[1,2]");
    s_in(1, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"telnyx_rtc.invite\",\"params\":{}}");
    s_in(1, "{\"jsonrpc\":\"2.0\",\"id\":\"y\",\"method\":\"login\",\"params\":{\"login_token\":"
            "\"a.b.c\"}}");
    s_in(1, "{\"jsonrpc\":\"2.0\",\"id\":\"z\",\"method\":\"login\",\"params\":[]}");
    assert_int_equal(s_nframes, 5);
    assert_int_equal(s_error_code(0), -32700);
    assert_int_equal(s_error_code(1), -32600);
    assert_int_equal(s_error_code(2), -32000); /* not logged in: the SDK logs in again */
    assert_int_equal(s_error_code(3), -32001); /* refused: LOGIN_FAILED, no retry loop */
    assert_int_equal(s_error_code(4), -32602);
    /* a password login with the wrong password is refused the same way */
    s_clear();
    s_in(1, "{\"id\":1,\"method\":\"login\",\"params\":{\"login\":\"%s\",\"passwd\":\"no\"}}",
         s_user);
    assert_int_equal(s_error_code(0), -32001);

    s_clear();
    s_login(1, NULL);
    assert_string_equal(s_kind(0), "result");
    assert_string_equal(s_kind(1), "telnyx_rtc.clientReady");
    assert_non_null(json_object_get(s_frames[0], "voice_sdk_id"));
    s_clear();
    s_in(1, "{\"id\":2,\"method\":\"telnyx_rtc.nope\",\"params\":{}}");
    s_in(1, "{\"id\":3,\"method\":\"telnyx_rtc.invite\",\"params\":{\"dialogParams\":{}}}");
    s_in(1, "{\"id\":4,\"method\":\"telnyx_rtc.modify\",\"params\":{\"action\":\"hold\","
            "\"dialogParams\":{\"callID\":\"unknown\"}}}");
    s_in(1, "{\"id\":5,\"method\":\"telnyx_rtc.gatewayState\",\"params\":{}}");
    s_in(1, "{\"id\":6,\"method\":\"telnyx_rtc.ping\",\"params\":{}}");
    s_in(1, "{\"id\":7,\"method\":\"telnyx_rtc.bye\",\"params\":{\"dialogParams\":{\"callID\":"
            "\"unknown\"}}}");
    s_in(1, "{\"jsonrpc\":\"2.0\",\"id\":1001,\"result\":{\"method\":\"telnyx_rtc.ringing\"}}");
    assert_int_equal(s_nframes, 6); /* the ack gets nothing */
    assert_int_equal(s_error_code(0), -32601);
    assert_int_equal(s_error_code(1), -32602);
    assert_int_equal(s_error_code(2), -32602);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(s_frames[3], "result"), "params"), "state")),
        "REGED");
    assert_string_equal(s_kind(4), "result");
    assert_string_equal(s_kind(5), "result"); /* an unknown call's bye still ends it */
    json_decref(sim_model_outbox(s_m));
    json_t *none = sim_model_outbox(s_m);
    assert_int_equal(json_array_size(none), 0); /* nothing reached the model */
    json_decref(none);
}

/* An outbound call from conn through park → transfer to `to`; returns the
 * parked leg's call control id. */
static const char *s_outbound(uint64_t conn, const char *call_id, const char *to)
{
    static char ccid[128];
    s_in(conn,
         "{\"id\":\"i-%s\",\"method\":\"telnyx_rtc.invite\",\"params\":{\"sdp\":\"v=0\\r\\n\","
         "\"dialogParams\":{\"callID\":\"%s\",\"destination_number\":\"%s\","
         "\"caller_id_number\":\"+15550009999\",\"clientState\":\"eyJjcyI6MX0=\"}}}",
         call_id, call_id, to);
    int r = s_find("result"), ring = s_find("telnyx_rtc.ringing");
    assert_true(r >= 0 && ring > r); /* the result first (§3) */
    snprintf(ccid, sizeof ccid, "%s", s_param(ring, "telnyx_call_control_id"));
    json_t *out = sim_model_outbox(s_m);
    json_t *ev = json_object_get(json_array_get(out, 0), "event");
    json_t *p = json_object_get(ev, "payload");
    assert_string_equal(json_string_value(json_object_get(ev, "event_type")), "call.initiated");
    assert_string_equal(json_string_value(json_object_get(p, "state")), "parked");
    assert_string_equal(json_string_value(json_object_get(p, "client_state")), "eyJjcyI6MX0=");
    assert_string_equal(json_string_value(json_object_get(p, "call_control_id")), ccid);
    json_decref(out);
    char path[64];
    snprintf(path, sizeof path, "transfer");
    json_t *body = json_pack("{s:s}", "to", to), *data = NULL;
    sim_error_t err;
    assert_int_equal(sim_model_action(s_m, ccid, path, body, T0, &data, &err), 0);
    json_decref(body);
    json_decref(data);
    sim_rtc_apply(s_r, T0);
    return ccid;
}

static void test_outbound_order(void **state)
{
    (void)state;
    s_clear();
    s_login(2, NULL);
    s_clear();
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_outbound(2, "call-a", "+15550100001"));
    /* the far end rings with early media, but media waits for the SDP */
    assert_int_equal(s_find("telnyx_rtc.media"), -1);
    sim_rtc_local_sdp(s_r, ccid, "v=0\r\nanswer\r\n", T0 + 30);
    int media = s_find("telnyx_rtc.media");
    assert_true(media >= 0);
    assert_string_equal(s_param(media, "callID"), "call-a");
    assert_string_equal(s_param(media, "sdp"), "v=0\r\nanswer\r\n");
    /* the answer after it, with the ids */
    sim_model_tick(s_m, T0 + 1000);
    sim_rtc_apply(s_r, T0 + 1000);
    int answer = s_find("telnyx_rtc.answer");
    assert_true(answer > media);
    assert_string_equal(s_param(answer, "telnyx_call_control_id"), ccid);
    /* DTMF from the page lands on the customer's leg */
    json_decref(sim_model_outbox(s_m));
    s_in(2, "{\"id\":9,\"method\":\"telnyx_rtc.info\",\"params\":{\"dtmf\":\"7\","
            "\"dialogParams\":{\"callID\":\"call-a\"}}}");
    json_t *out = sim_model_outbox(s_m);
    json_t *ev = json_object_get(json_array_get(out, 0), "event");
    assert_string_equal(json_string_value(json_object_get(ev, "event_type")), "call.dtmf.received");
    const char *on =
        json_string_value(json_object_get(json_object_get(ev, "payload"), "call_control_id"));
    assert_string_equal(on, sim_model_peer(s_m, ccid));
    json_decref(out);
    /* hold: holdState and a webhook; a repeat changes nothing */
    s_clear();
    s_in(2, "{\"id\":10,\"method\":\"telnyx_rtc.modify\",\"params\":{\"action\":\"hold\","
            "\"dialogParams\":{\"callID\":\"call-a\"}}}");
    s_in(2, "{\"id\":11,\"method\":\"telnyx_rtc.modify\",\"params\":{\"action\":\"hold\","
            "\"dialogParams\":{\"callID\":\"call-a\"}}}");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s_frames[0], "result"), "holdState")),
        "held");
    out = sim_model_outbox(s_m);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    /* the page hangs up: one call.hangup from the caller, no bye back */
    s_clear();
    s_in(2, "{\"id\":12,\"method\":\"telnyx_rtc.bye\",\"params\":{\"cause\":\"NORMAL_CLEARING\","
            "\"dialogParams\":{\"callID\":\"call-a\"}}}");
    assert_int_equal(s_find("telnyx_rtc.bye"), -1);
    out = sim_model_outbox(s_m);
    int hangups = 0;
    size_t i;
    json_t *item;
    json_array_foreach(out, i, item)
    {
        json_t *e = json_object_get(item, "event");
        json_t *p = json_object_get(e, "payload");
        if (strcmp(json_string_value(json_object_get(e, "event_type")), "call.hangup") == 0 &&
            strcmp(json_string_value(json_object_get(p, "call_control_id")), ccid) == 0) {
            hangups++;
            assert_string_equal(json_string_value(json_object_get(p, "hangup_source")), "caller");
        }
    }
    assert_int_equal(hangups, 1);
    json_decref(out);
}

/* The other way Call Control connects a parked browser leg: dial the
 * customer linked to it and bridge on answer (or bridge by hand). */
static void test_dial_linked_and_bridge(void **state)
{
    (void)state;
    s_clear();
    s_login(7, NULL);
    s_clear();
    s_in(7, "{\"id\":\"i-d\",\"method\":\"telnyx_rtc.invite\",\"params\":{\"sdp\":\"v=0\\r\\n\","
            "\"dialogParams\":{\"callID\":\"call-d\",\"destination_number\":\"+15550100001\"}}}");
    int ring = s_find("telnyx_rtc.ringing");
    assert_true(ring >= 0);
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_param(ring, "telnyx_call_control_id"));
    sim_rtc_local_sdp(s_r, ccid, "v=0\r\nanswer\r\n", T0);
    json_decref(sim_model_outbox(s_m));
    json_t *body =
               json_pack("{s:s, s:s, s:s, s:s, s:b}", "connection_id", "1001", "to", "+15550100001",
                         "from", "+15550009999", "link_to", ccid, "bridge_on_answer", 1),
           *data = NULL;
    sim_error_t err;
    assert_int_equal(sim_model_dial(s_m, body, T0 + 10, &data, &err), 0);
    json_decref(body);
    json_decref(data);
    sim_rtc_apply(s_r, T0 + 10);
    assert_true(s_find("telnyx_rtc.media") >= 0); /* its ringing is the browser's early media */
    sim_model_tick(s_m, T0 + 1010);
    sim_rtc_apply(s_r, T0 + 1010);
    int answer = s_find("telnyx_rtc.answer");
    assert_true(answer > s_find("telnyx_rtc.media"));
    assert_non_null(sim_model_peer(s_m, ccid));
    json_decref(sim_model_outbox(s_m));
    /* Call Control hangs the customer up: the bridge takes the browser's leg */
    json_t *none = json_object();
    assert_int_equal(
        sim_model_action(s_m, sim_model_peer(s_m, ccid), "hangup", none, T0 + 2000, &data, &err),
        0);
    json_decref(none);
    json_decref(data);
    sim_rtc_apply(s_r, T0 + 2000);
    int bye = s_find("telnyx_rtc.bye");
    assert_true(bye >= 0);
    assert_string_equal(s_param(bye, "cause"), "NORMAL_CLEARING");
    json_decref(sim_model_outbox(s_m));
}

static void test_busy_bye_cause(void **state)
{
    (void)state;
    s_clear();
    s_login(3, NULL);
    s_clear();
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_outbound(3, "call-b", "+15550100002"));
    sim_model_tick(s_m, T0 + 400); /* busy */
    sim_rtc_apply(s_r, T0 + 400);
    json_t *body = json_object(), *data = NULL;
    sim_error_t err;
    assert_int_equal(sim_model_action(s_m, ccid, "hangup", body, T0 + 500, &data, &err), 0);
    json_decref(body);
    json_decref(data);
    sim_rtc_apply(s_r, T0 + 500);
    int bye = s_find("telnyx_rtc.bye");
    assert_true(bye >= 0);
    assert_string_equal(s_param(bye, "cause"), "USER_BUSY");
    json_t *p = json_object_get(s_frames[bye], "params");
    assert_int_equal(json_integer_value(json_object_get(p, "causeCode")), 17);
    assert_int_equal(json_integer_value(json_object_get(p, "sipCode")), 486);
    json_decref(sim_model_outbox(s_m));
}

static void test_reconnect_and_attach(void **state)
{
    (void)state;
    s_clear();
    s_login(4, NULL);
    const char *sessid =
        json_string_value(json_object_get(json_object_get(s_frames[0], "result"), "sessid"));
    char old[64];
    snprintf(old, sizeof old, "%s", sessid);
    s_clear();
    char ccid[128];
    snprintf(ccid, sizeof ccid, "%s", s_outbound(4, "call-c", "+15550100001"));
    sim_rtc_local_sdp(s_r, ccid, "v=0\r\n", T0);
    sim_model_tick(s_m, T0 + 1000);
    sim_rtc_apply(s_r, T0 + 1000);
    /* the network drops; the SDK comes back with its sessid */
    assert_int_equal(sim_rtc_drop(s_r, s_user), 0);
    assert_int_equal(s_dropped, 4);
    sim_rtc_closed(s_r, 4, T0 + 2000);
    s_clear();
    char extra[128];
    snprintf(extra, sizeof extra, ",\"reconnection\":true,\"sessid\":\"%s\"", old);
    s_login(5, extra);
    int ready = s_find("telnyx_rtc.clientReady");
    json_t *list =
        json_object_get(json_object_get(s_frames[ready], "params"), "reattached_sessions");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "call-c");
    /* a reload: a new session for the same user gets an attach once the
     * fresh offer is ready */
    sim_rtc_closed(s_r, 5, T0 + 3000);
    s_clear();
    s_login(6, NULL);
    ready = s_find("telnyx_rtc.clientReady");
    list = json_object_get(json_object_get(s_frames[ready], "params"), "reattached_sessions");
    assert_int_equal(json_array_size(list), 0);
    assert_int_equal(s_find("telnyx_rtc.attach"), -1);
    sim_rtc_local_sdp(s_r, ccid, "v=0\r\noffer\r\n", T0 + 3100);
    int attach = s_find("telnyx_rtc.attach");
    assert_true(attach >= 0);
    assert_string_equal(s_param(attach, "callID"), "call-c");
    assert_int_equal(s_frame_conn[attach], 6);
    /* nobody comes back for a minute: the call ends */
    sim_rtc_closed(s_r, 6, T0 + 4000);
    json_decref(sim_model_outbox(s_m));
    assert_true(sim_rtc_tick(s_r, T0 + 5000) > 0);
    sim_rtc_tick(s_r, T0 + 4000 + 60 * 1000);
    json_t *out = sim_model_outbox(s_m);
    int ended = 0;
    size_t i;
    json_t *item;
    json_array_foreach(out, i, item)
    {
        json_t *e = json_object_get(item, "event");
        if (strcmp(json_string_value(json_object_get(e, "event_type")), "call.hangup") == 0)
            ended++;
    }
    assert_int_equal(ended, 2); /* the browser's leg and the customer's */
    json_decref(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_outbound_order),
        cmocka_unit_test(test_dial_linked_and_bridge),
        cmocka_unit_test(test_busy_bye_cause),
        cmocka_unit_test(test_reconnect_and_attach),
    };
    return cmocka_run_group_tests_name("sim_rtc", tests, setup, teardown);
}
