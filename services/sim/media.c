/* media - see media.h. */
#include "media.h"

#define GST_USE_UNSTABLE_API /* webrtcbin's headers ask for it */
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timestamp.h"

#define S_OPUS_PT 111   /* Chromium's; an offer's own Opus type wins */
#define S_LOUD_PEAK 328 /* -40 dBFS in 16-bit samples */

typedef enum { J_ANSWER, J_OFFER, J_REMOTE_ANSWER, J_TONE, J_CLOSE, J_LINK, J_QUIT } s_jkind_t;

typedef struct {
    s_jkind_t kind;
    char *leg, *sdp;
    sim_tone_t tone;
} s_job_t;

typedef struct s_call s_call_t;
struct s_call {
    atomic_int refs;
    sim_media_t *media;
    char *leg;
    GstElement *pipeline, *webrtc, *src, *sel, *peer_src;
    GMutex lock; /* everything below */
    sim_tone_t tone;
    int64_t tone_since;
    int connected, offering, delivered, closed;
    int linked;    /* sends the bridged leg's audio, not its tone */
    int want_peer; /* bridged: switch once the peer's audio has caps */
    long peer_buffers;
    GString *candidates; /* local candidates seen, in case the SDP lacks them */
    sim_media_stats_t stats;
};

struct sim_media {
    sim_media_sdp_fn on_sdp;
    void *arg;
    GThread *worker;
    GAsyncQueue *jobs;
    GMutex lock;       /* calls */
    GHashTable *calls; /* leg -> s_call_t (one reference) */
    GHashTable *links; /* leg -> the leg it is bridged with (both ways) */
    GstElement *warm_dtls, *warm_opus;
    int generation;
};

static s_call_t *s_ref(s_call_t *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void s_unref(gpointer p)
{
    s_call_t *c = p;
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    g_mutex_clear(&c->lock);
    if (c->candidates)
        g_string_free(c->candidates, TRUE);
    free(c->leg);
    free(c);
}

/* ---- SDP text ---- */

/* A candidate line we keep: UDP on 127.0.0.1 (reference points 1 and 2). */
static int s_candidate_ok(const char *line, size_t len)
{
    char buf[512];
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, line, len);
    buf[len] = '\0';
    /* candidate:<foundation> <component> <transport> <priority> <address> ... */
    char transport[16], address[64];
    if (sscanf(buf, "a=candidate:%*s %*s %15s %*s %63s", transport, address) != 2)
        return 0;
    return g_ascii_strcasecmp(transport, "udp") == 0 && strcmp(address, "127.0.0.1") == 0;
}

char *sim_media_loopback_sdp(const char *sdp)
{
    GString *out = g_string_sized_new(strlen(sdp));
    for (const char *p = sdp; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        size_t body = len;
        while (body && (p[body - 1] == '\n' || p[body - 1] == '\r'))
            body--;
        if (strncmp(p, "a=candidate:", 12) != 0 || s_candidate_ok(p, body))
            g_string_append_len(out, p, (gssize)len);
        p += len;
    }
    char *s = strdup(out->str);
    g_string_free(out, TRUE);
    return s;
}

/* The Opus payload type an offer uses (S_OPUS_PT when it has none). */
static int s_opus_pt(const char *sdp)
{
    const char *p = sdp;
    while ((p = strstr(p, "a=rtpmap:")) != NULL) {
        int pt;
        char name[16];
        if (sscanf(p, "a=rtpmap:%d %15[^/]", &pt, name) == 2 &&
            g_ascii_strcasecmp(name, "opus") == 0)
            return pt;
        p += 9;
    }
    return S_OPUS_PT;
}

/* webrtcbin writes "m=audio 9" and "c=IN IP4 0.0.0.0" even with candidates
 * inside (point 6); the candidate's address and port are tidier. */
static char *s_finish_sdp(s_call_t *c, const char *text)
{
    GString *out = g_string_new(NULL);
    const char *cands = c->candidates ? c->candidates->str : "";
    int has = strstr(text, "a=candidate:") != NULL;
    char port[16] = "";
    const char *first = strstr(has ? text : cands, "a=candidate:");
    if (first)
        sscanf(first, "a=candidate:%*s %*s %*s %*s %*s %15s", port);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (port[0] && strncmp(p, "m=audio 9 ", 10) == 0) {
            g_string_append_printf(out, "m=audio %s ", port);
            g_string_append_len(out, p + 10, (gssize)len - 10);
        } else if (port[0] && strncmp(p, "c=IN IP4 0.0.0.0", 16) == 0) {
            g_string_append(out, "c=IN IP4 127.0.0.1\r\n");
        } else {
            g_string_append_len(out, p, (gssize)len);
        }
        /* the candidates webrtcbin left out go after the m-line's attributes */
        p += len;
    }
    if (!has && cands[0])
        g_string_append(out, cands);
    char *loop = sim_media_loopback_sdp(out->str);
    g_string_free(out, TRUE);
    return loop;
}

/* ---- the pipeline's callbacks (GStreamer threads) ---- */

static void s_deliver(s_call_t *c, const char *sdp)
{
    g_mutex_lock(&c->lock);
    int skip = c->delivered || c->closed;
    c->delivered = 1;
    int64_t took = cs_ts_now_ms() - c->stats.created_at;
    g_mutex_unlock(&c->lock);
    if (skip)
        return;
    /* the reference measured 21-52 ms; much more means the call hears no
     * early media */
    cs_log(took > 250 ? CS_LOG_WARN : CS_LOG_DEBUG, "media %s: %s ready in %lld ms", c->leg,
           c->offering ? "offer" : "answer", (long long)took);
    c->media->on_sdp(c->media->arg, c->leg, sdp);
}

/* Gathering is done: the local description now has every candidate. */
static void s_maybe_deliver(s_call_t *c)
{
    GstWebRTCICEGatheringState state;
    g_object_get(c->webrtc, "ice-gathering-state", &state, NULL);
    if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
        return;
    GstWebRTCSessionDescription *local = NULL;
    g_object_get(c->webrtc, "local-description", &local, NULL);
    if (!local)
        return;
    gchar *text = gst_sdp_message_as_text(local->sdp);
    gst_webrtc_session_description_free(local);
    g_mutex_lock(&c->lock);
    char *sdp = s_finish_sdp(c, text);
    g_mutex_unlock(&c->lock);
    g_free(text);
    s_deliver(c, sdp);
    free(sdp);
}

static void s_on_gathering(GstElement *webrtc, GParamSpec *pspec, gpointer user)
{
    (void)webrtc;
    (void)pspec;
    s_maybe_deliver(user);
}

static void s_on_candidate(GstElement *webrtc, guint mline, gchar *candidate, gpointer user)
{
    (void)webrtc;
    (void)mline;
    s_call_t *c = user;
    g_mutex_lock(&c->lock);
    if (!c->candidates)
        c->candidates = g_string_new(NULL);
    g_string_append_printf(c->candidates, "a=%s\r\n", candidate);
    g_mutex_unlock(&c->lock);
}

static void s_on_connection(GstElement *webrtc, GParamSpec *pspec, gpointer user)
{
    (void)pspec;
    s_call_t *c = user;
    GstWebRTCPeerConnectionState state;
    g_object_get(webrtc, "connection-state", &state, NULL);
    if (state != GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED)
        return;
    g_mutex_lock(&c->lock);
    if (!c->connected) {
        c->connected = 1;
        c->stats.connected_at = cs_ts_now_ms();
    }
    g_mutex_unlock(&c->lock);
}

/* Raw tone buffers on their way to the encoder: dropped until DTLS is up
 * (point 5: else ~480 ms of backlog bursts out) and while silent, zeroed in
 * the ringback's off phase. */
static GstPadProbeReturn s_on_tone(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
    (void)pad;
    s_call_t *c = user;
    g_mutex_lock(&c->lock);
    int connected = c->connected;
    sim_tone_t tone = c->linked ? SIM_TONE_TALK : c->tone;
    int64_t since = c->tone_since, now = cs_ts_now_ms();
    if (connected && tone != SIM_TONE_SILENT && !c->stats.first_tx_at)
        c->stats.first_tx_at = now;
    if (connected && tone != SIM_TONE_SILENT)
        c->stats.tx_packets++;
    g_mutex_unlock(&c->lock);
    if (!connected || tone == SIM_TONE_SILENT)
        return GST_PAD_PROBE_DROP;
    if (tone == SIM_TONE_RINGBACK && (now - since) % 5000 >= 1000) {
        GstBuffer *b = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
        gst_buffer_memset(b, 0, 0, gst_buffer_get_size(b));
        GST_PAD_PROBE_INFO_DATA(info) = b;
    }
    return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn s_on_rtp(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
    (void)pad;
    s_call_t *c = user;
    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
    g_mutex_lock(&c->lock);
    int64_t now = cs_ts_now_ms();
    if (!c->stats.first_rx_at)
        c->stats.first_rx_at = now;
    c->stats.last_rx_at = now;
    c->stats.rx_packets++;
    c->stats.rx_bytes += (long)gst_buffer_get_size(b);
    g_mutex_unlock(&c->lock);
    return GST_PAD_PROBE_OK;
}

/* Chooses what a leg sends: its tone, or the linked leg's audio. */
static void s_select(s_call_t *c, int linked)
{
    g_mutex_lock(&c->lock);
    c->linked = linked;
    if (!linked)
        c->want_peer = 0;
    g_mutex_unlock(&c->lock);
    if (!c->sel)
        return;
    GstPad *pad = gst_element_get_static_pad(c->sel, linked ? "sink_1" : "sink_0");
    if (!pad)
        return;
    g_object_set(c->sel, "active-pad", pad, NULL);
    gst_object_unref(pad);
}

/* A bridge: what this leg's browser says goes into the linked leg's
 * pipeline (its appsrc), restamped there. That leg switches to it after
 * the first buffers, once its appsrc has sent caps: switching before makes
 * the selector forward a segment without caps. */
static void s_forward(s_call_t *c, GstBuffer *b)
{
    sim_media_t *self = c->media;
    g_mutex_lock(&self->lock);
    const char *peer = g_hash_table_lookup(self->links, c->leg);
    s_call_t *p = peer ? g_hash_table_lookup(self->calls, peer) : NULL;
    if (p && p->peer_src && !p->closed)
        s_ref(p);
    else
        p = NULL;
    g_mutex_unlock(&self->lock);
    if (!p)
        return;
    GstBuffer *copy = gst_buffer_copy(b);
    GST_BUFFER_PTS(copy) = GST_BUFFER_DTS(copy) = GST_CLOCK_TIME_NONE;
    GstFlowReturn ret;
    g_signal_emit_by_name(p->peer_src, "push-buffer", copy, &ret);
    gst_buffer_unref(copy);
    g_mutex_lock(&p->lock);
    int now_peer = p->want_peer && !p->linked && ++p->peer_buffers >= 3;
    g_mutex_unlock(&p->lock);
    if (now_peer)
        s_select(p, 1);
    s_unref(p);
}

static GstPadProbeReturn s_on_pcm(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
    (void)pad;
    s_call_t *c = user;
    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
    GstMapInfo map;
    if (!gst_buffer_map(b, &map, GST_MAP_READ))
        return GST_PAD_PROBE_OK;
    int peak = 0;
    const gint16 *s = (const gint16 *)map.data;
    for (size_t i = 0; i < map.size / 2; i++) {
        int v = s[i] < 0 ? -s[i] : s[i];
        if (v > peak)
            peak = v;
    }
    size_t samples = map.size / 2;
    gst_buffer_unmap(b, &map);
    g_mutex_lock(&c->lock);
    c->stats.last_peak_db = peak ? 20.0 * log10((double)peak / 32768.0) : -100.0;
    if (peak >= S_LOUD_PEAK)
        c->stats.loud_ms += (long)(samples * 1000 / 48000);
    g_mutex_unlock(&c->lock);
    s_forward(c, b);
    return GST_PAD_PROBE_OK;
}

/* The browser's audio: counted as RTP, then decoded to measure its level. */
static void s_on_pad(GstElement *webrtc, GstPad *pad, gpointer user)
{
    (void)webrtc;
    s_call_t *c = user;
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
        return;
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, s_on_rtp, c, NULL);
    GError *error = NULL;
    GstElement *bin = gst_parse_bin_from_description(
        "queue ! rtpopusdepay ! opusdec ! audioconvert ! audioresample ! "
        "audio/x-raw,format=S16LE,channels=1,rate=48000 ! "
        "fakesink name=ear sync=false async=false",
        TRUE, &error);
    if (!bin) {
        cs_warn("media %s: cannot decode: %s", c->leg, error ? error->message : "?");
        g_clear_error(&error);
        return;
    }
    GstElement *ear = gst_bin_get_by_name(GST_BIN(bin), "ear");
    GstPad *sink = gst_element_get_static_pad(ear, "sink");
    gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, s_on_pcm, c, NULL);
    gst_object_unref(sink);
    gst_object_unref(ear);
    gst_bin_add(GST_BIN(c->pipeline), bin);
    gst_element_sync_state_with_parent(bin);
    GstPad *in = gst_element_get_static_pad(bin, "sink");
    if (gst_pad_link(pad, in) != GST_PAD_LINK_OK)
        cs_warn("media %s: cannot link the browser's audio", c->leg);
    gst_object_unref(in);
}

/* libnice's UPnP holds gathering back 200 ms and multicasts on the LAN
 * (point 3): off, on every agent inside the bin. */
static void s_no_upnp(GstElement *bin)
{
    GstIterator *it = gst_bin_iterate_recurse(GST_BIN(bin));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
        GstElement *e = g_value_get_object(&item);
        if (g_object_class_find_property(G_OBJECT_GET_CLASS(e), "agent")) {
            GObject *agent = NULL;
            g_object_get(e, "agent", &agent, NULL);
            if (agent && g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp"))
                g_object_set(agent, "upnp", FALSE, NULL);
            if (agent)
                g_object_unref(agent);
        }
        g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
}

static void s_on_local_set(GstPromise *promise, gpointer user)
{
    s_call_t *c = user;
    gst_promise_unref(promise);
    s_maybe_deliver(c);
}

/* An offer or answer was created: make it ours; it is sent once gathering
 * completes (non-trickle, as the SDK expects). */
static void s_on_created(GstPromise *promise, gpointer user)
{
    s_call_t *c = user;
    const GstStructure *reply = gst_promise_get_reply(promise);
    GstWebRTCSessionDescription *desc = NULL;
    const char *field = c->offering ? "offer" : "answer";
    if (reply)
        gst_structure_get(reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL);
    gst_promise_unref(promise);
    if (!desc) {
        cs_warn("media %s: webrtcbin made no %s", c->leg, field);
        s_deliver(c, NULL);
        return;
    }
    s_no_upnp(c->webrtc);
    GstPromise *p = gst_promise_new_with_change_func(s_on_local_set, s_ref(c), s_unref);
    g_signal_emit_by_name(c->webrtc, "set-local-description", desc, p);
    gst_webrtc_session_description_free(desc);
}

static void s_on_remote_set(GstPromise *promise, gpointer user)
{
    s_call_t *c = user;
    gst_promise_unref(promise);
    if (c->offering)
        return; /* the browser's answer: media starts */
    GstPromise *p = gst_promise_new_with_change_func(s_on_created, s_ref(c), s_unref);
    g_signal_emit_by_name(c->webrtc, "create-answer", NULL, p);
}

static GstBusSyncReply s_on_bus(GstBus *bus, GstMessage *msg, gpointer user)
{
    (void)bus;
    s_call_t *c = user;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
        GError *error = NULL;
        gst_message_parse_error(msg, &error, NULL);
        cs_warn("media %s: %s", c->leg, error ? error->message : "error");
        g_clear_error(&error);
    }
    return GST_BUS_DROP;
}

/* ---- the worker ---- */

static void s_teardown(s_call_t *c)
{
    g_mutex_lock(&c->lock);
    c->closed = 1;
    g_mutex_unlock(&c->lock);
    if (c->pipeline) {
        /* Point 7: stop the pipeline, drop every handler, then the refs. */
        g_signal_handlers_disconnect_by_data(c->webrtc, c);
        gst_element_set_state(c->pipeline, GST_STATE_NULL);
        GstBus *bus = gst_element_get_bus(c->pipeline);
        gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
        gst_object_unref(bus);
        gst_object_unref(c->webrtc);
        gst_object_unref(c->src);
        gst_object_unref(c->sel);
        gst_object_unref(c->peer_src);
        gst_object_unref(c->pipeline);
        c->pipeline = c->webrtc = c->src = c->sel = c->peer_src = NULL;
    }
    s_unref(c);
}

static void s_close(sim_media_t *self, const char *leg)
{
    g_mutex_lock(&self->lock);
    gpointer key = NULL, value = NULL;
    s_call_t *c = g_hash_table_steal_extended(self->calls, leg, &key, &value) ? value : NULL;
    free(key);
    g_mutex_unlock(&self->lock);
    if (c)
        s_teardown(c);
}

static s_call_t *s_start(sim_media_t *self, const char *leg, int pt, sim_tone_t tone, int offering)
{
    s_close(self, leg);
    s_call_t *c = calloc(1, sizeof *c);
    atomic_init(&c->refs, 1);
    c->media = self;
    c->leg = strdup(leg);
    g_mutex_init(&c->lock);
    c->tone = tone;
    c->offering = offering;
    c->tone_since = c->stats.created_at = cs_ts_now_ms();
    c->stats.last_peak_db = -100.0;
    char desc[1024];
    /* What the far end sends: its tone (sink_0) or, once bridged with
     * another browser's leg, that leg's audio (sink_1). */
    snprintf(desc, sizeof desc,
             "webrtcbin name=w bundle-policy=max-bundle "
             "input-selector name=sel sync-streams=false ! audioconvert ! audioresample ! "
             "audio/x-raw,rate=48000,channels=1,format=S16LE ! "
             "opusenc name=enc ! rtpopuspay pt=%d ! "
             "application/x-rtp,media=audio,encoding-name=OPUS,payload=%d,clock-rate=48000,"
             "encoding-params=(string)2 ! w. "
             "audiotestsrc name=tone is-live=true wave=sine freq=%d volume=0.3 ! "
             "audio/x-raw,rate=48000,channels=1,format=S16LE ! sel.sink_0 "
             "appsrc name=peer is-live=true do-timestamp=true format=time max-bytes=96000 "
             "caps=audio/x-raw,rate=48000,channels=1,format=S16LE,layout=interleaved ! sel.sink_1",
             pt, pt, tone == SIM_TONE_TALK ? 1000 : 425);
    GError *error = NULL;
    c->pipeline = gst_parse_launch(desc, &error);
    if (!c->pipeline) {
        cs_warn("media %s: %s", leg, error ? error->message : "no pipeline");
        g_clear_error(&error);
        s_unref(c);
        return NULL;
    }
    c->webrtc = gst_bin_get_by_name(GST_BIN(c->pipeline), "w");
    c->src = gst_bin_get_by_name(GST_BIN(c->pipeline), "tone");
    c->sel = gst_bin_get_by_name(GST_BIN(c->pipeline), "sel");
    c->peer_src = gst_bin_get_by_name(GST_BIN(c->pipeline), "peer");
    GstElement *enc = gst_bin_get_by_name(GST_BIN(c->pipeline), "enc");
    GstPad *encin = gst_element_get_static_pad(enc, "sink");
    gst_pad_add_probe(encin, GST_PAD_PROBE_TYPE_BUFFER, s_on_tone, c, NULL);
    gst_object_unref(encin);
    gst_object_unref(enc);

    /* Point 1: libnice never gathers 127.0.0.1 by itself; no TCP. */
    GObject *ice = NULL;
    g_object_get(c->webrtc, "ice-agent", &ice, NULL);
    if (ice) {
        gboolean ok = FALSE;
        if (g_object_class_find_property(G_OBJECT_GET_CLASS(ice), "ice-tcp"))
            g_object_set(ice, "ice-tcp", FALSE, NULL);
        g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &ok);
        g_object_unref(ice);
    }
    g_signal_connect(c->webrtc, "notify::ice-gathering-state", G_CALLBACK(s_on_gathering), c);
    g_signal_connect(c->webrtc, "notify::connection-state", G_CALLBACK(s_on_connection), c);
    g_signal_connect(c->webrtc, "on-ice-candidate", G_CALLBACK(s_on_candidate), c);
    g_signal_connect(c->webrtc, "pad-added", G_CALLBACK(s_on_pad), c);
    GstBus *bus = gst_element_get_bus(c->pipeline);
    gst_bus_set_sync_handler(bus, s_on_bus, c, NULL);
    gst_object_unref(bus);

    g_mutex_lock(&self->lock);
    c->stats.generation = ++self->generation;
    g_hash_table_insert(self->calls, strdup(leg), c);
    c->want_peer = g_hash_table_contains(self->links, leg);
    g_mutex_unlock(&self->lock);
    if (gst_element_set_state(c->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        cs_warn("media %s: the pipeline does not start", leg);
        return NULL;
    }
    return c;
}

static void s_job_answer(sim_media_t *self, s_job_t *job)
{
    char *offer = sim_media_loopback_sdp(job->sdp);
    int pt = s_opus_pt(offer);
    GstSDPMessage *sdp = NULL;
    s_call_t *c = NULL;
    if (gst_sdp_message_new_from_text(offer, &sdp) != GST_SDP_OK) {
        cs_warn("media %s: the offer is not SDP", job->leg);
    } else {
        c = s_start(self, job->leg, pt, job->tone, 0);
    }
    free(offer);
    if (!c) {
        if (sdp)
            gst_sdp_message_free(sdp);
        self->on_sdp(self->arg, job->leg, NULL);
        return;
    }
    GstWebRTCSessionDescription *desc =
        gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
    GstPromise *p = gst_promise_new_with_change_func(s_on_remote_set, s_ref(c), s_unref);
    g_signal_emit_by_name(c->webrtc, "set-remote-description", desc, p);
    gst_webrtc_session_description_free(desc);
}

static void s_job_offer(sim_media_t *self, s_job_t *job)
{
    s_call_t *c = s_start(self, job->leg, S_OPUS_PT, job->tone, 1);
    if (!c) {
        self->on_sdp(self->arg, job->leg, NULL);
        return;
    }
    GstPromise *p = gst_promise_new_with_change_func(s_on_created, s_ref(c), s_unref);
    g_signal_emit_by_name(c->webrtc, "create-offer", NULL, p);
}

static void s_job_remote_answer(sim_media_t *self, s_job_t *job)
{
    g_mutex_lock(&self->lock);
    s_call_t *c = g_hash_table_lookup(self->calls, job->leg);
    if (c)
        s_ref(c);
    g_mutex_unlock(&self->lock);
    if (!c)
        return;
    char *answer = sim_media_loopback_sdp(job->sdp);
    GstSDPMessage *sdp = NULL;
    if (gst_sdp_message_new_from_text(answer, &sdp) == GST_SDP_OK) {
        GstWebRTCSessionDescription *desc =
            gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
        GstPromise *p = gst_promise_new_with_change_func(s_on_remote_set, s_ref(c), s_unref);
        g_signal_emit_by_name(c->webrtc, "set-remote-description", desc, p);
        gst_webrtc_session_description_free(desc);
    } else {
        cs_warn("media %s: the answer is not SDP", job->leg);
    }
    free(answer);
    s_unref(c);
}

/* Bridges two legs' media (b travels in the job's sdp field). */
static void s_link(sim_media_t *self, const char *a, const char *b)
{
    g_mutex_lock(&self->lock);
    g_hash_table_insert(self->links, strdup(a), strdup(b));
    g_hash_table_insert(self->links, strdup(b), strdup(a));
    s_call_t *ca = g_hash_table_lookup(self->calls, a), *cb = g_hash_table_lookup(self->calls, b);
    if (ca)
        s_ref(ca);
    if (cb)
        s_ref(cb);
    g_mutex_unlock(&self->lock);
    s_call_t *both[2] = {ca, cb};
    for (int i = 0; i < 2; i++) {
        if (!both[i])
            continue;
        g_mutex_lock(&both[i]->lock);
        both[i]->want_peer = 1;
        g_mutex_unlock(&both[i]->lock);
        s_unref(both[i]);
    }
}

/* A leg goes: the one it was bridged with goes back to its tone. */
static void s_unlink(sim_media_t *self, const char *leg)
{
    g_mutex_lock(&self->lock);
    char *peer = g_hash_table_lookup(self->links, leg);
    char *other = peer ? strdup(peer) : NULL;
    s_call_t *c = other ? g_hash_table_lookup(self->calls, other) : NULL;
    if (c)
        s_ref(c);
    g_hash_table_remove(self->links, leg);
    if (other)
        g_hash_table_remove(self->links, other);
    g_mutex_unlock(&self->lock);
    if (c) {
        s_select(c, 0);
        s_unref(c);
    }
    free(other);
}

static void s_tone(sim_media_t *self, const char *leg, sim_tone_t tone);

static gpointer s_worker(gpointer arg)
{
    sim_media_t *self = arg;
    for (;;) {
        s_job_t *job = g_async_queue_pop(self->jobs);
        s_jkind_t kind = job->kind;
        switch (kind) {
        case J_ANSWER:
            s_job_answer(self, job);
            break;
        case J_OFFER:
            s_job_offer(self, job);
            break;
        case J_REMOTE_ANSWER:
            s_job_remote_answer(self, job);
            break;
        case J_CLOSE:
            s_unlink(self, job->leg);
            s_close(self, job->leg);
            break;
        case J_LINK:
            s_link(self, job->leg, job->sdp);
            break;
        case J_TONE:
            s_tone(self, job->leg, job->tone);
            break;
        case J_QUIT:
            break;
        }
        free(job->leg);
        free(job->sdp);
        free(job);
        if (kind == J_QUIT)
            return NULL;
    }
}

static void s_push(sim_media_t *self, s_jkind_t kind, const char *leg, const char *sdp,
                   sim_tone_t tone)
{
    s_job_t *job = calloc(1, sizeof *job);
    job->kind = kind;
    job->leg = leg ? strdup(leg) : NULL;
    job->sdp = sdp ? strdup(sdp) : NULL;
    job->tone = tone;
    g_async_queue_push(self->jobs, job);
}

/* ---- the API ---- */

sim_media_t *sim_media_new(sim_media_sdp_fn on_sdp, void *arg)
{
    GError *error = NULL;
    if (!gst_init_check(NULL, NULL, &error)) {
        cs_error("GStreamer: %s", error ? error->message : "cannot start");
        g_clear_error(&error);
        return NULL;
    }
    static const char *const needed[] = {"webrtcbin",    "audiotestsrc",
                                         "opusenc",      "opusdec",
                                         "rtpopuspay",   "rtpopusdepay",
                                         "nicesrc",      "dtlsdec",
                                         "audioconvert", "audioresample",
                                         "fakesink",     "input-selector",
                                         "appsrc",       NULL};
    for (int i = 0; needed[i]; i++) {
        GstElementFactory *f = gst_element_factory_find(needed[i]);
        if (!f) {
            cs_error("GStreamer has no %s: install gstreamer1.0-plugins-{base,good,bad} and "
                     "gstreamer1.0-nice",
                     needed[i]);
            return NULL;
        }
        gst_object_unref(f);
    }
    sim_media_t *self = calloc(1, sizeof *self);
    self->on_sdp = on_sdp;
    self->arg = arg;
    g_mutex_init(&self->lock);
    self->calls = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
    self->links = g_hash_table_new_full(g_str_hash, g_str_equal, free, free);
    self->jobs = g_async_queue_new();
    /* Point 4: the DTLS certificate is made on the first dtlsdec (~200 ms
     * or more); pay for it now, not on the first call. */
    self->warm_dtls = gst_element_factory_make("dtlsdec", NULL);
    self->warm_opus = gst_element_factory_make("opusenc", NULL);
    if (self->warm_dtls)
        gst_object_ref_sink(self->warm_dtls);
    if (self->warm_opus)
        gst_object_ref_sink(self->warm_opus);
    self->worker = g_thread_new("sim-media", s_worker, self);
    return self;
}

void sim_media_destroy(sim_media_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_media_t *self = *self_p;
    s_push(self, J_QUIT, NULL, NULL, SIM_TONE_SILENT);
    g_thread_join(self->worker);
    for (;;) {
        g_mutex_lock(&self->lock);
        GHashTableIter it;
        gpointer key, value = NULL;
        g_hash_table_iter_init(&it, self->calls);
        int any = g_hash_table_iter_next(&it, &key, &value);
        char *leg = any ? strdup(key) : NULL;
        g_mutex_unlock(&self->lock);
        if (!any)
            break;
        s_close(self, leg);
        free(leg);
    }
    g_hash_table_destroy(self->calls);
    g_hash_table_destroy(self->links);
    g_async_queue_unref(self->jobs);
    if (self->warm_dtls)
        gst_object_unref(self->warm_dtls);
    if (self->warm_opus)
        gst_object_unref(self->warm_opus);
    g_mutex_clear(&self->lock);
    free(self);
    *self_p = NULL;
}

void sim_media_answer(sim_media_t *self, const char *leg, const char *offer, sim_tone_t tone)
{
    s_push(self, J_ANSWER, leg, offer, tone);
}

void sim_media_offer(sim_media_t *self, const char *leg, sim_tone_t tone)
{
    s_push(self, J_OFFER, leg, NULL, tone);
}

void sim_media_remote_answer(sim_media_t *self, const char *leg, const char *answer)
{
    s_push(self, J_REMOTE_ANSWER, leg, answer, SIM_TONE_SILENT);
}

void sim_media_link(sim_media_t *self, const char *a, const char *b)
{
    s_push(self, J_LINK, a, b, SIM_TONE_SILENT);
}

void sim_media_close(sim_media_t *self, const char *leg)
{
    s_push(self, J_CLOSE, leg, NULL, SIM_TONE_SILENT);
}

/* A job like the others, so that it lands after the pipeline it is for
 * exists (the first call's pipeline takes a while: plugins load). */
void sim_media_tone(sim_media_t *self, const char *leg, sim_tone_t tone)
{
    s_push(self, J_TONE, leg, NULL, tone);
}

static void s_tone(sim_media_t *self, const char *leg, sim_tone_t tone)
{
    g_mutex_lock(&self->lock);
    s_call_t *c = g_hash_table_lookup(self->calls, leg);
    if (c) {
        g_mutex_lock(&c->lock);
        if (c->tone != tone) {
            c->tone = tone;
            c->tone_since = cs_ts_now_ms();
        }
        g_mutex_unlock(&c->lock);
        if (c->src)
            g_object_set(c->src, "freq", tone == SIM_TONE_TALK ? 1000.0 : 425.0, NULL);
    }
    g_mutex_unlock(&self->lock);
}

int sim_media_stats(sim_media_t *self, const char *leg, sim_media_stats_t *out)
{
    g_mutex_lock(&self->lock);
    s_call_t *c = g_hash_table_lookup(self->calls, leg);
    if (c) {
        g_mutex_lock(&c->lock);
        *out = c->stats;
        g_mutex_unlock(&c->lock);
    }
    g_mutex_unlock(&self->lock);
    return c ? 0 : -1;
}

long sim_media_count(sim_media_t *self)
{
    g_mutex_lock(&self->lock);
    long n = (long)g_hash_table_size(self->calls);
    g_mutex_unlock(&self->lock);
    return n;
}
