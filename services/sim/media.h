/* media - the sim's far-end phones with real WebRTC media: one GStreamer
 * pipeline with webrtcbin per WebRTC leg. It answers the browser's offer
 * (an outbound call from the SDK) or makes an offer (a call ringing an
 * SDK), sends a tone, and counts what it receives. What it takes to make
 * webrtcbin answer on loopback quickly and without leaks is in
 * ../shared/reference/gstreamer-webrtcbin-farend.md; each of its points is
 * applied where the code does it.
 *
 * Threads: every sim_media_* call only queues a job and returns (it is
 * called under the sim's lock); one worker thread runs the jobs, and the
 * SDP callback comes from GStreamer's threads with no lock of ours held,
 * so it may take the sim's lock. Legs are named by their call control id. */
#ifndef SIM_MEDIA_H
#define SIM_MEDIA_H

#include <stdint.h>

typedef struct sim_media sim_media_t;

typedef enum {
    SIM_TONE_SILENT,   /* no RTP at all (no early media: the path is ready, nothing flows) */
    SIM_TONE_RINGBACK, /* 425 Hz, 1 s on / 4 s off: early media */
    SIM_TONE_TALK      /* a steady 1 kHz: the far end answered */
} sim_tone_t;

/* A local description is ready: the answer to the leg's offer, or its
 * offer; sdp NULL when media could not be set up. */
typedef void (*sim_media_sdp_fn)(void *arg, const char *leg, const char *sdp);

typedef struct {
    int64_t created_at, connected_at; /* ms, wall clock; 0: not yet */
    int64_t first_rx_at, first_tx_at;
    int64_t last_rx_at; /* the browser's latest packet: a closed page stops sending */
    long rx_packets, rx_bytes, tx_packets;
    long loud_ms;        /* received audio above -40 dBFS, in ms: speech, not silence */
    double last_peak_db; /* of the last decoded buffer; -100 when silent */
    int generation;      /* bumps when the leg's media is made again (reattach) */
} sim_media_stats_t;

/* Starts the worker and pays the DTLS certificate up front. NULL when
 * GStreamer or webrtcbin is missing. */
sim_media_t *sim_media_new(sim_media_sdp_fn on_sdp, void *arg);
void sim_media_destroy(sim_media_t **self_p);

/* Answers an offer (the SDK's invite or attach answer); replaces any media
 * the leg had. The answer comes through on_sdp. */
void sim_media_answer(sim_media_t *self, const char *leg, const char *offer, sim_tone_t tone);

/* Makes an offer for a leg (a call to an SDK); on_sdp gets it. */
void sim_media_offer(sim_media_t *self, const char *leg, sim_tone_t tone);

/* The browser's answer to our offer. */
void sim_media_remote_answer(sim_media_t *self, const char *leg, const char *answer);

void sim_media_tone(sim_media_t *self, const char *leg, sim_tone_t tone);

/* Bridges two legs: each sends the other's browser audio instead of its
 * tone (a call between two browsers: an agent and a /phone page, or two
 * agents). Either leg's close undoes it. */
void sim_media_link(sim_media_t *self, const char *a, const char *b);

/* Tears the leg's media down (hangup). */
void sim_media_close(sim_media_t *self, const char *leg);

/* 0 with the leg's counters, -1 when it has no media. */
int sim_media_stats(sim_media_t *self, const char *leg, sim_media_stats_t *out);

/* Legs with media now, for /metrics. */
long sim_media_count(sim_media_t *self);

/* Keeps only the UDP 127.0.0.1 candidates of an SDP (new string; the
 * caller frees): the sim's media stays on loopback. */
char *sim_media_loopback_sdp(const char *sdp);

#endif
