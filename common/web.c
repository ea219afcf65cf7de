/* web - see web.h. libwebsockets does the HTTP parsing, the WebSocket
 * handshake and framing; this file only collects bodies and messages,
 * keeps the connection table, and moves queued messages onto the loop. */
#include "web.h"

#include <czmq.h>
#include <libwebsockets.h>
#include <uv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

/* A message waiting for its connection to be writable. */
typedef struct s_out {
    struct s_out *next;
    uint64_t conn;
    int close; /* 0: a message; 1: close normally; 2: drop the TCP connection */
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of room, then the text */
} s_out_t;

/* Per connection: the request being collected (HTTP) or the socket's state. */
typedef struct {
    /* HTTP */
    char method[8];
    char *path, *query, *authorization;
    char *body;
    size_t len, cap;
    int too_large;
    int responded;        /* lws may still report a body's end after an early reply */
    unsigned char *reply; /* LWS_PRE + reply_len */
    size_t reply_len;
    /* WebSocket */
    uint64_t conn;
    s_out_t *out, *out_tail;
    int closing;
    char *msg;
    size_t msg_len, msg_cap;
} s_pss_t;

struct cs_web {
    struct lws_context *ctx;
    cs_web_handlers_t h;
    size_t max_body;
    int port;
    atomic_int stop;
    pthread_mutex_t lock; /* queued */
    s_out_t *queued, *queued_tail;
    zhashx_t *conns; /* loop thread only: "conn" -> struct lws* */
    atomic_long open;
    atomic_ulong next_conn;
    /* lws runs on our libuv loop (a foreign loop it joins): epoll, so a
     * wake-up costs the same with 10 000 sockets as with 10; poll(), lws's
     * default, scans every socket on every wake-up (ARCHITECTURE §2). */
    uv_loop_t loop;
    uv_async_t stopper; /* cs_web_stop -> uv_stop from the loop's thread */
    int loop_ready;
};

static void s_on_stop(uv_async_t *handle)
{
    uv_stop(handle->loop);
}

static void s_key(uint64_t conn, char *key, size_t len)
{
    snprintf(key, len, "%llu", (unsigned long long)conn);
}

static void s_http_reset(s_pss_t *pss)
{
    free(pss->path);
    free(pss->query);
    free(pss->authorization);
    free(pss->body);
    free(pss->reply);
    pss->path = pss->query = pss->authorization = pss->body = NULL;
    pss->reply = NULL;
    pss->len = pss->cap = pss->reply_len = 0;
    pss->too_large = 0;
    pss->responded = 0;
    pss->method[0] = '\0';
}

static char *s_header(struct lws *wsi, enum lws_token_indexes token)
{
    int n = lws_hdr_total_length(wsi, token);
    if (n <= 0)
        return NULL;
    char *v = malloc((size_t)n + 1);
    if (v && lws_hdr_copy(wsi, v, n + 1, token) < 0) {
        free(v);
        v = NULL;
    }
    return v;
}

/* The query string: lws keeps each argument as a fragment (decoded);
 * they are joined back with '&'. */
static char *s_query(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total <= 0)
        return NULL;
    size_t cap = (size_t)total + 64;
    char *q = calloc(1, cap), frag[2048];
    size_t used = 0;
    for (int i = 0; q; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0)
            break;
        if (used + (size_t)n + 2 > cap)
            break;
        if (used)
            q[used++] = '&';
        memcpy(q + used, frag, (size_t)n);
        used += (size_t)n;
        q[used] = '\0';
    }
    return q;
}

static const struct {
    enum lws_token_indexes token;
    const char *name;
    int body;
} s_methods[] = {
    {WSI_TOKEN_GET_URI, "GET", 0},       {WSI_TOKEN_POST_URI, "POST", 1},
    {WSI_TOKEN_PUT_URI, "PUT", 1},       {WSI_TOKEN_PATCH_URI, "PATCH", 1},
    {WSI_TOKEN_DELETE_URI, "DELETE", 0}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS", 0},
    {WSI_TOKEN_HEAD_URI, "HEAD", 0},
};

/* Calls the handler and writes the headers; the body goes on writable. */
static int s_respond(cs_web_t *self, struct lws *wsi, s_pss_t *pss)
{
    cs_web_request_t req = {.method = pss->method,
                            .path = pss->path ? pss->path : "/",
                            .query = pss->query ? pss->query : "",
                            .authorization = pss->authorization,
                            .body = pss->body ? pss->body : "",
                            .len = pss->len,
                            .too_large = pss->too_large};
    cs_web_response_t res = {0};
    if (pss->responded)
        return 0;
    pss->responded = 1;
    self->h.http(self->h.arg, &req, &res);
    if (!res.status)
        res.status = 500;
    size_t len = res.body ? (res.len ? res.len : strlen(res.body)) : 0;
    pss->reply = malloc(LWS_PRE + len + 1);
    if (!pss->reply) {
        free(res.body);
        return -1;
    }
    if (len)
        memcpy(pss->reply + LWS_PRE, res.body, len);
    pss->reply_len = len;
    free(res.body);

    unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start,
                                       *end = &buf[sizeof buf - 1];
    if (lws_add_http_common_headers(wsi, (unsigned int)res.status,
                                    res.content_type ? res.content_type : "text/plain", len, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (len == 0) {
        s_http_reset(pss);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static int s_http_start(cs_web_t *self, struct lws *wsi, s_pss_t *pss, const char *uri)
{
    s_http_reset(pss);
    int body = 0;
    for (size_t i = 0; i < sizeof s_methods / sizeof s_methods[0]; i++)
        if (lws_hdr_total_length(wsi, s_methods[i].token) > 0) {
            snprintf(pss->method, sizeof pss->method, "%s", s_methods[i].name);
            body = s_methods[i].body;
            break;
        }
    if (!pss->method[0])
        return -1;
    pss->path = strdup(uri && *uri ? uri : "/");
    pss->query = s_query(wsi);
    pss->authorization = s_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    /* With a Content-Length (even 0) lws reports the body's end; without
     * one there is no body to wait for. */
    if (body && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        return 0;
    return s_respond(self, wsi, pss);
}

static int s_http_body(cs_web_t *self, s_pss_t *pss, const void *in, size_t len)
{
    if (pss->too_large || !len)
        return 0;
    if (pss->len + len > self->max_body) {
        pss->too_large = 1;
        free(pss->body);
        pss->body = NULL;
        pss->len = pss->cap = 0;
        return 0;
    }
    if (pss->len + len + 1 > pss->cap) {
        size_t cap = pss->cap ? pss->cap : 1024;
        while (cap < pss->len + len + 1)
            cap *= 2;
        char *b = realloc(pss->body, cap);
        if (!b)
            return -1;
        pss->body = b;
        pss->cap = cap;
    }
    memcpy(pss->body + pss->len, in, len);
    pss->len += len;
    pss->body[pss->len] = '\0';
    return 0;
}

static void s_out_free_all(s_out_t *o)
{
    while (o) {
        s_out_t *next = o->next;
        free(o);
        o = next;
    }
}

static s_out_t *s_out_new(uint64_t conn, const char *text, size_t len, int close_mode)
{
    s_out_t *o = malloc(sizeof *o + LWS_PRE + len);
    if (!o)
        return NULL;
    o->next = NULL;
    o->conn = conn;
    o->close = close_mode;
    o->len = len;
    if (len)
        memcpy(o->data + LWS_PRE, text, len);
    return o;
}

/* On the loop: hands what other threads queued to their connections. */
static void s_take_queued(cs_web_t *self)
{
    pthread_mutex_lock(&self->lock);
    s_out_t *o = self->queued;
    self->queued = self->queued_tail = NULL;
    pthread_mutex_unlock(&self->lock);
    while (o) {
        s_out_t *next = o->next;
        o->next = NULL;
        char key[24];
        s_key(o->conn, key, sizeof key);
        struct lws *wsi = zhashx_lookup(self->conns, key);
        s_pss_t *pss = wsi ? lws_wsi_user(wsi) : NULL;
        if (!pss) {
            free(o); /* gone: a late message is dropped */
        } else if (o->close == 2) {
            /* A cut without a close frame: the peer sees 1006. */
            shutdown(lws_get_socket_fd(wsi), SHUT_RDWR);
            free(o);
        } else {
            if (pss->out_tail)
                pss->out_tail->next = o;
            else
                pss->out = o;
            pss->out_tail = o;
            lws_callback_on_writable(wsi);
        }
        o = next;
    }
}

static int s_ws_receive(cs_web_t *self, struct lws *wsi, s_pss_t *pss, const void *in, size_t len)
{
    if (lws_frame_is_binary(wsi)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)"text only",
                         9);
        return -1;
    }
    if (pss->msg_len + len > self->max_body) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"too large", 9);
        return -1;
    }
    if (pss->msg_len + len + 1 > pss->msg_cap) {
        size_t cap = pss->msg_cap ? pss->msg_cap : 4096;
        while (cap < pss->msg_len + len + 1)
            cap *= 2;
        char *m = realloc(pss->msg, cap);
        if (!m)
            return -1;
        pss->msg = m;
        pss->msg_cap = cap;
    }
    memcpy(pss->msg + pss->msg_len, in, len);
    pss->msg_len += len;
    pss->msg[pss->msg_len] = '\0';
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
        size_t n = pss->msg_len;
        pss->msg_len = 0;
        if (self->h.ws_message)
            self->h.ws_message(self->h.arg, pss->conn, pss->msg, n);
    }
    return 0;
}

static int s_ws_writable(struct lws *wsi, s_pss_t *pss)
{
    s_out_t *o = pss->out;
    if (!o)
        return 0;
    pss->out = o->next;
    if (!pss->out)
        pss->out_tail = NULL;
    if (o->close) {
        free(o);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    int n = lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT);
    free(o);
    if (n < 0)
        return -1;
    if (pss->out)
        lws_callback_on_writable(wsi);
    return 0;
}

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    cs_web_t *self = ctx ? lws_context_user(ctx) : NULL;
    s_pss_t *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return s_http_start(self, wsi, pss, in);
    case LWS_CALLBACK_HTTP_BODY:
        return s_http_body(self, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return s_respond(self, wsi, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!pss || !pss->reply)
            return 0;
        int n = lws_write(wsi, pss->reply + LWS_PRE, pss->reply_len, LWS_WRITE_HTTP_FINAL);
        s_http_reset(pss);
        if (n < 0)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss)
            s_http_reset(pss);
        return 0;
    case LWS_CALLBACK_ESTABLISHED: {
        pss->conn = atomic_fetch_add(&self->next_conn, 1);
        char key[24];
        s_key(pss->conn, key, sizeof key);
        zhashx_update(self->conns, key, wsi);
        atomic_fetch_add(&self->open, 1);
        char *path = s_header(wsi, WSI_TOKEN_GET_URI), *query = s_query(wsi);
        if (self->h.ws_open)
            self->h.ws_open(self->h.arg, pss->conn, path ? path : "/", query ? query : "");
        free(path);
        free(query);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        return s_ws_receive(self, wsi, pss, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s_ws_writable(wsi, pss);
    case LWS_CALLBACK_CLOSED: {
        char key[24];
        s_key(pss->conn, key, sizeof key);
        zhashx_delete(self->conns, key);
        atomic_fetch_sub(&self->open, 1);
        if (self->h.ws_close)
            self->h.ws_close(self->h.arg, pss->conn);
        s_out_free_all(pss->out);
        pss->out = pss->out_tail = NULL;
        free(pss->msg);
        pss->msg = NULL;
        return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (self)
            s_take_queued(self);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols s_protocols[] = {
    {"callsync", s_callback, sizeof(s_pss_t), 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void s_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    cs_log(level == LLL_ERR ? CS_LOG_ERROR : CS_LOG_WARN, "lws: %.*s", (int)n, line);
}

cs_web_t *cs_web_new(int port, size_t max_body, const cs_web_handlers_t *handlers, char *err,
                     size_t errlen)
{
    cs_web_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->h = *handlers;
    self->max_body = max_body;
    atomic_init(&self->next_conn, 1);
    pthread_mutex_init(&self->lock, NULL);
    self->conns = zhashx_new();
    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    if (uv_loop_init(&self->loop) || uv_async_init(&self->loop, &self->stopper, s_on_stop)) {
        snprintf(err, errlen, "cannot make an event loop");
        cs_web_destroy(&self);
        return NULL;
    }
    self->loop_ready = 1;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[] = {&self->loop};
    info.port = port;
    info.protocols = s_protocols;
    info.user = self;
    info.max_http_header_data = 8192;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.pcontext = &self->ctx; /* lws clears it once it is wholly destroyed */
    self->ctx = lws_create_context(&info);
    if (!self->ctx) {
        snprintf(err, errlen, "cannot listen on port %d", port);
        cs_web_destroy(&self);
        return NULL;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(self->ctx, "default");
    self->port = vh ? lws_get_vhost_listen_port(vh) : port;
    return self;
}

void cs_web_destroy(cs_web_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_web_t *self = *self_p;
    /* On a foreign loop lws is destroyed in steps: the first call closes
     * its handles, the loop then runs their close callbacks, and a last
     * call frees the context (lws clears self->ctx when it is done). */
    if (self->ctx)
        lws_context_destroy(self->ctx);
    if (self->loop_ready) {
        uv_close((uv_handle_t *)&self->stopper, NULL);
        uv_run(&self->loop, UV_RUN_DEFAULT);
        if (self->ctx)
            lws_context_destroy(self->ctx);
        uv_run(&self->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&self->loop))
            cs_warn("web: the event loop still had handles at exit");
    } else if (self->ctx) {
        lws_context_destroy(self->ctx);
    }
    s_out_free_all(self->queued);
    zhashx_destroy(&self->conns);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int cs_web_port(const cs_web_t *self)
{
    return self->port;
}

void cs_web_run(cs_web_t *self)
{
    if (!atomic_load(&self->stop))
        uv_run(&self->loop, UV_RUN_DEFAULT);
}

void cs_web_stop(cs_web_t *self)
{
    atomic_store(&self->stop, 1);
    uv_async_send(&self->stopper); /* thread-safe, async-signal-safe */
}

static int s_queue(cs_web_t *self, s_out_t *o)
{
    if (!o)
        return -1;
    pthread_mutex_lock(&self->lock);
    if (self->queued_tail)
        self->queued_tail->next = o;
    else
        self->queued = o;
    self->queued_tail = o;
    pthread_mutex_unlock(&self->lock);
    lws_cancel_service(self->ctx);
    return 0;
}

int cs_web_send(cs_web_t *self, uint64_t conn, const char *text, size_t len)
{
    return s_queue(self, s_out_new(conn, text, len, 0));
}

void cs_web_close(cs_web_t *self, uint64_t conn, int abrupt)
{
    s_queue(self, s_out_new(conn, NULL, 0, abrupt ? 2 : 1));
}

long cs_web_connections(cs_web_t *self)
{
    return atomic_load(&self->open);
}

int cs_web_query_arg(const char *query, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t vlen = seg - n - 1;
            if (vlen >= len)
                return -1;
            memcpy(out, p + n + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

int cs_web_path_id(const char *path, const char *prefix, char *id, size_t idlen, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return 0;
    const char *p = path + n, *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || len >= idlen)
        return 0;
    memcpy(id, p, len);
    id[len] = '\0';
    *rest = slash ? slash : "";
    return 1;
}
