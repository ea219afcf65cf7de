/* openloop - posts signed webhooks on a schedule of its own, as Telnyx
 * does: each webhook is due at its time whether or not earlier ones have
 * been answered, and its latency counts from that time, so a server that
 * falls behind is charged for every webhook that waited (no coordinated
 * omission). A closed loop (wrk, loadgen without --rate) sends less while
 * the server stalls and so under-counts the stall.
 *
 *   openloop --port P --bodies FILE --rate R [--seconds S] [--connections C]
 *            [--even] [--seed N] [--log FILE]
 *
 * The bodies are `loadgen --write-bodies`'s ("<ts>\t<sig>\t<body>" lines),
 * formatted into requests before the clock starts. Arrivals are a Poisson
 * process at R/s (independent calls, as a call centre's webhooks are);
 * --even spaces them exactly 1/R apart. A due webhook goes out on any of
 * C keep-alive connections (default 64) that is free; when none is, it
 * waits in the sender, and that wait is part of its latency. Answers are
 * read with http_parser (libhttp-parser). The loop sleeps to the next due
 * time with epoll_pwait2 (nanoseconds), and sends everything due at each
 * wake-up.
 *
 * Prints webhooks/s sent and answered, the latency from the scheduled time
 * (p50 p90 p99 p99.9 max), how late the sender itself was in writing them
 * (its own share of that latency: the co-located sender's scheduling), and
 * answers that were not 200 (counted, not fatal: a 503 is the server's
 * answer). --log writes a line per webhook, "<due> <sent> <answered>" in
 * ns from the start (CLOCK_MONOTONIC), with the start's wall-clock time
 * first ("start <epoch s>"), to lay the tail against what else happened.
 * Exit 1 when a connection fails, an answer is not HTTP, or the body file
 * is short: a figure from a broken run is not a figure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;       /* a webhook is out on it */
    size_t req;     /* which */
    size_t written; /* of its bytes */
    http_parser parser;
    int answered; /* set by the parser's on_message_complete */
} s_conn_t;

typedef struct {
    char *buf;     /* every request, back to back */
    size_t *off;   /* request i is buf[off[i] .. off[i + 1]) */
    int64_t *due;  /* ns from the start */
    int64_t *sent; /* ns from the start: when its first byte was written */
    int64_t *done; /* ns from the start: when its answer was whole */
    size_t n;
} s_load_t;

static int64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int s_on_complete(http_parser *p)
{
    s_conn_t *c = p->data;
    c->answered = 1;
    http_parser_pause(p, 1); /* keep-alive: one answer per request */
    return 0;
}

/* Reads up to `want` lines of FILE into requests; returns how many. */
static size_t s_load(const char *path, size_t want, s_load_t *load)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "openloop: cannot read %s\n", path);
        return 0;
    }
    size_t cap = 1 << 20, len = 0, n = 0;
    load->buf = malloc(cap);
    load->off = calloc(want + 1, sizeof *load->off);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    while (load->buf && load->off && n < want && (got = getline(&line, &linecap, f)) > 0) {
        if (line[got - 1] == '\n')
            line[--got] = '\0';
        char *sig = strchr(line, '\t'), *body = sig ? strchr(sig + 1, '\t') : NULL;
        if (!body)
            continue;
        *sig++ = '\0';
        *body++ = '\0';
        size_t blen = strlen(body), need = blen + strlen(line) + strlen(sig) + 256;
        if (len + need > cap) {
            while (len + need > cap)
                cap *= 2;
            char *b = realloc(load->buf, cap);
            if (!b)
                break;
            load->buf = b;
        }
        int w = snprintf(load->buf + len, cap - len,
                         "POST /webhooks/telnyx HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\ntelnyx-timestamp: %s\r\n"
                         "telnyx-signature-ed25519: %s\r\nContent-Length: %zu\r\n\r\n%s",
                         line, sig, blen, body);
        load->off[n++] = len;
        len += (size_t)w;
    }
    free(line);
    fclose(f);
    if (load->off)
        load->off[n] = len;
    return n;
}

/* Writes what is left of the connection's request; -1 on a failed socket. */
static int s_write(s_conn_t *c, const s_load_t *load)
{
    const char *p = load->buf + load->off[c->req] + c->written;
    size_t left = load->off[c->req + 1] - load->off[c->req] - c->written;
    while (left) {
        ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->written += (size_t)w;
        p += w;
        left -= (size_t)w;
    }
    return 0;
}

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double s_ms(const int64_t *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n);
    return (double)v[i < n ? i : n - 1] / 1e6;
}

typedef struct {
    s_load_t *load;
    s_conn_t *conns;
    long nconns;
    s_conn_t **idle; /* free connections, as a stack */
    size_t nidle;
    int ep;
    http_parser_settings settings;
} s_sender_t;

/* Opens the keep-alive connections; -1 with the reason printed. */
static int s_connect(s_sender_t *self, long port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < self->nconns; i++) {
        s_conn_t *c = &self->conns[i];
        int one = 1;
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) ||
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) {
            fprintf(stderr, "openloop: cannot connect to 127.0.0.1:%ld: %s\n", port,
                    strerror(errno));
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(self->ep, EPOLL_CTL_ADD, c->fd, &ev)) {
            fprintf(stderr, "openloop: epoll: %s\n", strerror(errno));
            return -1;
        }
        http_parser_init(&c->parser, HTTP_RESPONSE);
        c->parser.data = c;
    }
    for (long i = self->nconns - 1; i >= 0; i--)
        self->idle[self->nidle++] = &self->conns[i];
    return 0;
}

/* Puts webhook `req` out on a free connection, at `now`. */
static int s_send(s_sender_t *self, size_t req, int64_t now)
{
    s_load_t *load = self->load;
    s_conn_t *c = self->idle[--self->nidle];
    c->busy = 1;
    c->req = req;
    c->written = 0;
    load->sent[req] = now;
    if (s_write(c, load)) {
        fprintf(stderr, "openloop: send: %s\n", strerror(errno));
        return -1;
    }
    if (c->written < load->off[req + 1] - load->off[req]) { /* the rest when writable */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(self->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return 0;
}

/* Handles one epoll event of a connection; `*answered` counts whole
 * answers, `*refused` those not 200. -1 on a failed connection or a bad
 * answer. */
static int s_event(s_sender_t *self, struct epoll_event *ev, int64_t t0, size_t *answered,
                   size_t *refused)
{
    s_load_t *load = self->load;
    s_conn_t *c = ev->data.ptr;
    if (ev->events & EPOLLOUT) {
        if (s_write(c, load)) {
            fprintf(stderr, "openloop: send: %s\n", strerror(errno));
            return -1;
        }
        if (c->written == load->off[c->req + 1] - load->off[c->req]) {
            struct epoll_event in = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(self->ep, EPOLL_CTL_MOD, c->fd, &in);
        }
    }
    if (!(ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return 0;
    char buf[16384];
    ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN)) {
        fprintf(stderr, "openloop: the server closed a connection (%s)\n",
                r ? strerror(errno) : "EOF");
        return -1;
    }
    size_t at = 0;
    while (r > 0 && at < (size_t)r) {
        at += http_parser_execute(&c->parser, &self->settings, buf + at, (size_t)r - at);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e != HPE_OK && e != HPE_PAUSED) {
            fprintf(stderr, "openloop: bad answer: %s\n", http_errno_description(e));
            return -1;
        }
        if (!c->answered)
            break; /* all of buf taken, the answer is not whole yet */
        if (!c->busy) {
            fprintf(stderr, "openloop: an answer to no request\n");
            return -1;
        }
        load->done[c->req] = s_now() - t0;
        *refused += c->parser.status_code != 200;
        (*answered)++;
        c->answered = 0;
        c->busy = 0;
        http_parser_pause(&c->parser, 0);
        self->idle[self->nidle++] = c;
    }
    return 0;
}

/* The loop: sends each webhook when it is due (or as soon as a connection
 * is free after that), until every one is answered. Returns the elapsed
 * ns, or -1. */
static int64_t s_run(s_sender_t *self, size_t *refused)
{
    s_load_t *load = self->load;
    const int64_t grace = 10000000000; /* answers still awaited 10 s after the last due */
    size_t next = 0, answered = 0;
    struct epoll_event evs[256];
    int64_t t0 = s_now();
    while (answered < load->n) {
        int64_t now = s_now() - t0;
        while (next < load->n && load->due[next] <= now && self->nidle) {
            if (s_send(self, next, s_now() - t0))
                return -1;
            next++;
        }
        if (now > load->due[load->n - 1] + grace) {
            fprintf(stderr, "openloop: %zu answers still missing 10 s after the last was due\n",
                    load->n - answered);
            return -1;
        }
        /* sleep to the next due time; with nothing due or nothing free,
         * until an answer */
        struct timespec ts = {1, 0};
        if (next < load->n && self->nidle) {
            int64_t wait = load->due[next] - (s_now() - t0);
            ts = wait > 0 ? (struct timespec){wait / 1000000000, wait % 1000000000}
                          : (struct timespec){0, 0};
        }
        int k = epoll_pwait2(self->ep, evs, 256, &ts, NULL);
        if (k < 0 && errno != EINTR) {
            fprintf(stderr, "openloop: epoll: %s\n", strerror(errno));
            return -1;
        }
        for (int i = 0; i < k; i++)
            if (s_event(self, &evs[i], t0, &answered, refused))
                return -1;
    }
    return s_now() - t0;
}

static int s_log(const char *path, const s_load_t *load, const struct timespec *wall)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "openloop: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "start %lld.%09ld\n", (long long)wall->tv_sec, wall->tv_nsec);
    for (size_t i = 0; i < load->n; i++)
        fprintf(f, "%lld %lld %lld\n", (long long)load->due[i], (long long)load->sent[i],
                (long long)load->done[i]);
    return fclose(f) ? -1 : 0;
}

static void s_report(const s_load_t *load, int even, double rate, double seconds, long conns,
                     int64_t elapsed, size_t refused)
{
    int64_t *lat = malloc(load->n * sizeof *lat), *lag = malloc(load->n * sizeof *lag);
    if (!lat || !lag) {
        fprintf(stderr, "openloop: out of memory\n");
        exit(1);
    }
    size_t over = 0;
    for (size_t i = 0; i < load->n; i++) {
        lat[i] = load->done[i] - load->due[i];
        lag[i] = load->sent[i] - load->due[i];
        over += lat[i] > 5000000;
    }
    qsort(lat, load->n, sizeof *lat, s_cmp);
    qsort(lag, load->n, sizeof *lag, s_cmp);
    size_t n = load->n;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* the bodies' formatting included: a little */
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("open loop, %s arrivals at %.0f/s for %.0f s over %ld connections: %zu webhooks "
           "answered in %.2f s; latency from the scheduled time p50 %.2f p90 %.2f p99 %.2f "
           "p99.9 %.2f max %.2f ms, over 5 ms %.2f%%; the sender's own lateness p50 %.2f p99 "
           "%.2f max %.2f ms; %zu answers not 200; sender CPU %.0f us per webhook\n",
           even ? "even" : "Poisson", rate, seconds, conns, n, (double)elapsed / 1e9,
           s_ms(lat, n, 0.5), s_ms(lat, n, 0.9), s_ms(lat, n, 0.99), s_ms(lat, n, 0.999),
           s_ms(lat, n, 1.0), 100.0 * (double)over / (double)n, s_ms(lag, n, 0.5),
           s_ms(lag, n, 0.99), s_ms(lag, n, 1.0), refused, cpu / (double)n * 1e6);
    free(lat);
    free(lag);
}

int main(int argc, char **argv)
{
    long port = 0, conns = 64, seed = 1;
    double rate = 0, seconds = 30;
    int even = 0;
    const char *bodies = NULL, *logpath = NULL;
    const char *usage = "usage: openloop --port P --bodies FILE --rate R [--seconds S] "
                        "[--connections C] [--even] [--seed N] [--log FILE]\n";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--bodies") && i + 1 < argc)
            bodies = argv[++i];
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--connections") && i + 1 < argc)
            conns = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            logpath = argv[++i];
        else if (!strcmp(argv[i], "--even"))
            even = 1;
        else {
            fprintf(stderr, "openloop: %s?\n%s", argv[i], usage);
            return 2;
        }
    }
    if (port < 1 || port > 65535 || !bodies || rate <= 0 || seconds <= 0 || conns < 1 ||
        conns > 4096) {
        fputs(usage, stderr);
        return 2;
    }
    /* a tool that exits: on an error, what it holds goes with it */
    size_t want = (size_t)(rate * seconds);
    s_load_t load = {0};
    load.n = s_load(bodies, want, &load);
    if (load.n < want) {
        fprintf(stderr, "openloop: %s has %zu webhooks, %zu wanted (%.0f/s for %.0f s)\n", bodies,
                load.n, want, rate, seconds);
        return 1;
    }
    load.due = malloc(load.n * sizeof *load.due);
    load.sent = malloc(load.n * sizeof *load.sent);
    load.done = malloc(load.n * sizeof *load.done);
    s_sender_t sender = {.load = &load,
                         .conns = calloc((size_t)conns, sizeof(s_conn_t)),
                         .nconns = conns,
                         .idle = calloc((size_t)conns, sizeof(s_conn_t *)),
                         .ep = epoll_create1(0),
                         .settings = {.on_message_complete = s_on_complete}};
    if (!load.due || !load.sent || !load.done || !sender.conns || !sender.idle || sender.ep < 0) {
        fprintf(stderr, "openloop: out of memory\n");
        return 1;
    }
    srand48(seed);
    double t = 0;
    for (size_t i = 0; i < load.n; i++) {
        load.due[i] = (int64_t)(t * 1e9);
        t += even ? 1.0 / rate : -log(1.0 - drand48()) / rate;
    }
    if (s_connect(&sender, port))
        return 1;
    size_t refused = 0;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t elapsed = s_run(&sender, &refused);
    if (elapsed < 0)
        return 1;
    if (logpath && s_log(logpath, &load, &wall))
        return 1;
    s_report(&load, even, rate, seconds, conns, elapsed, refused);
    return 0;
}
