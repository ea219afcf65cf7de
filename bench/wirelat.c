/* wirelat - a wrk loop as the wire saw it. Reads a capture of the loop's
 * loopback traffic (tcpdump -w, scripts/bench.sh WIRE=1) and pairs each
 * request with its answer on the same connection, by the kernel's capture
 * times. That splits what the sender reports into the server's part and
 * the sender's own:
 *
 * - the answer time: the request's first packet to the answer's first
 *   packet. The sender's scheduling does not touch it (the request is
 *   captured as the sender writes it, the answer as the server writes it).
 * - the sender's turnaround: an answer to the next request on that
 *   connection (the loop's think time included). A sender that stalls, all
 *   its connections at once, shows here and not in the answer time.
 * - with --windows FILE (lines "<start> <end>", seconds since the epoch):
 *   the answer time inside those windows (padded by 100 ms) and outside
 *   them. bench.sh passes Redis's AOF rewrites.
 *
 *   wirelat --port P [--windows FILE] CAPTURE
 *
 * Only what a loop on 127.0.0.1 sends is understood: Ethernet-framed (the
 * lo device) IPv4 TCP. A capture of anything else is an error, not a
 * figure. A closed loop under-counts a stall (its connections wait in it
 * rather than send into it); wrk's own p99 corrects for that, this does
 * not: read the two side by side. */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t *v;
    size_t n, cap;
} s_samples_t;

static int s_push(s_samples_t *s, int64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 65536;
        int64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double s_ms_at(const s_samples_t *s, double q)
{
    size_t i = (size_t)(q * (double)s->n);
    return (double)s->v[i < s->n ? i : s->n - 1] / 1e6;
}

static size_t s_over(const s_samples_t *s, int64_t ns)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        k += s->v[i] > ns;
    return k;
}

static void s_print(const char *what, s_samples_t *s)
{
    if (!s->n) {
        printf("%s: none\n", what);
        return;
    }
    qsort(s->v, s->n, sizeof *s->v, s_cmp);
    size_t over = s_over(s, 5000000);
    printf("%s: %zu, p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms; over 5 ms %zu (%.2f%%)\n", what,
           s->n, s_ms_at(s, 0.5), s_ms_at(s, 0.99), s_ms_at(s, 0.999), s_ms_at(s, 1.0), over,
           100.0 * (double)over / (double)s->n);
}

typedef struct {
    int64_t start, end; /* ns since the epoch */
} s_window_t;

static int s_windows_read(const char *path, s_window_t **out, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "wirelat: cannot read %s\n", path);
        return -1;
    }
    size_t cap = 0;
    double a, b;
    int rc = 0;
    *out = NULL;
    *n = 0;
    while ((rc = fscanf(f, "%lf %lf", &a, &b)) == 2) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            s_window_t *w = realloc(*out, cap * sizeof *w);
            if (!w) {
                fclose(f);
                return -1;
            }
            *out = w;
        }
        (*out)[(*n)++] = (s_window_t){(int64_t)(a * 1e9), (int64_t)(b * 1e9)};
    }
    fclose(f);
    if (rc != EOF) {
        fprintf(stderr, "wirelat: %s: expected lines of \"<start> <end>\" seconds\n", path);
        return -1;
    }
    return 0;
}

static int s_in_windows(const s_window_t *w, size_t n, int64_t t)
{
    const int64_t pad = 100000000; /* 100 ms: the fork before, the rename after */
    for (size_t i = 0; i < n; i++)
        if (t >= w[i].start - pad && t <= w[i].end + pad)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    long port = 0;
    const char *windows = NULL, *capture = NULL;
    const char *usage = "usage: wirelat --port P [--windows FILE] CAPTURE\n";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--windows") && i + 1 < argc)
            windows = argv[++i];
        else if (argv[i][0] != '-' && !capture)
            capture = argv[i];
        else {
            fprintf(stderr, "wirelat: %s?\n%s", argv[i], usage);
            return 2;
        }
    }
    if (port < 1 || port > 65535 || !capture) {
        fputs(usage, stderr);
        return 2;
    }
    s_window_t *win = NULL;
    size_t nwin = 0;
    if (windows && s_windows_read(windows, &win, &nwin))
        return 1;
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p =
        pcap_open_offline_with_tstamp_precision(capture, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p) {
        fprintf(stderr, "wirelat: %s\n", errbuf);
        return 1;
    }
    if (pcap_datalink(p) != DLT_EN10MB) {
        fprintf(stderr, "wirelat: %s: not an Ethernet-framed capture (tcpdump -i lo)\n", capture);
        pcap_close(p);
        return 1;
    }
    /* per client port: the pending request's time, the last answer's */
    int64_t *pending = calloc(65536, sizeof *pending), *answered = calloc(65536, sizeof *answered);
    if (!pending || !answered)
        goto oom;
    s_samples_t all = {0}, turn = {0}, in = {0}, out = {0};
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    size_t skipped = 0;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
        int64_t t = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec; /* ns: NANO */
        if (h->caplen < 14 + 20 || d[12] != 0x08 || d[13] != 0x00 || (d[14] >> 4) != 4) {
            skipped++;
            continue;
        }
        const u_char *ip = d + 14;
        size_t ihl = (size_t)(ip[0] & 15) * 4, total = (size_t)ip[2] << 8 | ip[3];
        if (ip[9] != 6 || h->caplen < 14 + ihl + 20) {
            skipped++;
            continue;
        }
        const u_char *tcp = ip + ihl;
        unsigned sport = (unsigned)tcp[0] << 8 | tcp[1], dport = (unsigned)tcp[2] << 8 | tcp[3];
        size_t thl = (size_t)(tcp[12] >> 4) * 4;
        if (total <= ihl + thl)
            continue; /* no payload: a SYN, FIN or bare ACK */
        const u_char *pay = tcp + thl;
        size_t seen = h->caplen - (size_t)(pay - d);
        if (dport == (unsigned)port) {
            int req = seen >= 4 && (!memcmp(pay, "POST", 4) || !memcmp(pay, "GET ", 4));
            if (req && !pending[sport]) {
                pending[sport] = t;
                if (answered[sport] && s_push(&turn, t - answered[sport]))
                    goto oom;
                answered[sport] = 0;
            }
        } else if (sport == (unsigned)port && pending[dport]) {
            int64_t lat = pending[dport];
            pending[dport] = 0;
            answered[dport] = t;
            if (s_push(&all, t - lat) ||
                (nwin && s_push(s_in_windows(win, nwin, lat) ? &in : &out, t - lat)))
                goto oom;
        }
    }
    if (rc == PCAP_ERROR)
        fprintf(stderr, "wirelat: %s: %s (the figures stop there)\n", capture, pcap_geterr(p));
    pcap_close(p);
    if (skipped)
        printf("wirelat: %zu packets that are not IPv4 TCP skipped\n", skipped);
    s_print("on the wire, request to answer", &all);
    s_print("the sender's turnaround, answer to its next request", &turn);
    if (nwin) {
        char what[96];
        snprintf(what, sizeof what, "  during Redis's %zu AOF rewrites (+-100 ms)", nwin);
        s_print(what, &in);
        s_print("  outside them", &out);
    }
    free(all.v);
    free(turn.v);
    free(in.v);
    free(out.v);
    free(win);
    free(pending);
    free(answered);
    return 0;
oom: /* a tool that exits: what it holds goes with it */
    fprintf(stderr, "wirelat: out of memory\n");
    return 1;
}
