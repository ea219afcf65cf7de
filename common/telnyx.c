/* telnyx - see telnyx.h. */
#include "telnyx.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"

#define S_ATTEMPTS 3

struct cs_telnyx {
    CURL *curl;
    char base[256];
    struct curl_slist *headers;
};

typedef struct {
    char *buf;
    size_t len;
} s_buf_t;

static size_t s_collect(void *data, size_t size, size_t n, void *user)
{
    s_buf_t *b = user;
    if (b->len + size * n > 1024 * 1024)
        return 0; /* a reply that large is not Telnyx's */
    char *p = realloc(b->buf, b->len + size * n + 1);
    if (!p)
        return 0;
    b->buf = p;
    memcpy(b->buf + b->len, data, size * n);
    b->len += size * n;
    b->buf[b->len] = '\0';
    return size * n;
}

cs_telnyx_t *cs_telnyx_new(const char *api_base, const char *api_key)
{
    cs_telnyx_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->curl = curl_easy_init();
    CS_COPY(self->base, api_base);
    size_t n = strlen(self->base);
    if (n && self->base[n - 1] == '/')
        self->base[n - 1] = '\0';
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key ? api_key : "");
    self->headers = curl_slist_append(NULL, auth);
    curl_slist_append(self->headers, "Content-Type: application/json");
    curl_slist_append(self->headers, "Accept: application/json");
    curl_slist_append(self->headers, "Expect:");
    if (!self->curl || !self->headers) {
        cs_telnyx_destroy(&self);
        return NULL;
    }
    return self;
}

void cs_telnyx_destroy(cs_telnyx_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    curl_easy_cleanup((*self_p)->curl);
    curl_slist_free_all((*self_p)->headers);
    free(*self_p);
    *self_p = NULL;
}

void cs_telnyx_escape(const char *id, char *out, size_t size)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p && o + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == ':')
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, size - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_request(cs_telnyx_t *self, const char *method, const char *path, const json_t *body,
                     json_t **data, char **raw, cs_telnyx_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (data)
        *data = NULL;
    if (raw)
        *raw = NULL;
    char url[768];
    snprintf(url, sizeof url, "%s%s", self->base, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    double t0 = s_now();
    int rc = -1;
    for (int attempt = 1; attempt <= S_ATTEMPTS; attempt++) {
        s_buf_t b = {NULL, 0};
        CURL *c = self->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, self->headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (strcmp(method, "POST") == 0)
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "{}");
        CURLcode cc = curl_easy_perform(c);
        res->attempts = attempt;
        res->status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
        else
            CS_COPY(res->detail, curl_easy_strerror(cc));
        if (raw && res->status >= 200 && res->status < 300) {
            *raw = b.buf ? b.buf : strdup("");
            rc = 0;
            break;
        }
        json_t *reply = b.buf ? json_loads(b.buf, 0, NULL) : NULL;
        free(b.buf);
        if (res->status >= 200 && res->status < 300) {
            if (data)
                *data = json_incref(json_object_get(reply, "data"));
            json_decref(reply);
            rc = 0;
            break;
        }
        json_t *err = json_array_get(json_object_get(reply, "errors"), 0);
        if (err) {
            CS_COPY(res->code, json_string_value(json_object_get(err, "code")));
            const char *d = json_string_value(json_object_get(err, "detail"));
            CS_COPY(res->detail, d ? d : json_string_value(json_object_get(err, "title")));
        } else if (res->status) {
            snprintf(res->detail, sizeof res->detail, "HTTP %ld", res->status);
        }
        json_decref(reply);
        if (res->status >= 400 && res->status < 500)
            break; /* a 4xx is an answer: retrying cannot change it */
        struct timespec pause = {0, 100000000L * attempt};
        nanosleep(&pause, NULL);
    }
    res->seconds = s_now() - t0;
    free(text);
    return rc;
}

int cs_telnyx_post(cs_telnyx_t *self, const char *path, const json_t *body, json_t **data,
                   cs_telnyx_result_t *res)
{
    return s_request(self, "POST", path, body, data, NULL, res);
}

int cs_telnyx_post_text(cs_telnyx_t *self, const char *path, const json_t *body, char **text,
                        cs_telnyx_result_t *res)
{
    return s_request(self, "POST", path, body, NULL, text, res);
}

int cs_telnyx_get(cs_telnyx_t *self, const char *path, json_t **data, cs_telnyx_result_t *res)
{
    return s_request(self, "GET", path, NULL, data, NULL, res);
}
