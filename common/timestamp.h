/* timestamp - milliseconds since the Unix epoch, and RFC 3339 text.
 *
 * Every time in callsync is an int64 of milliseconds (0 = unknown). Telnyx
 * sends microseconds (`2025-11-23T03:30:00.076316Z`); we keep milliseconds,
 * truncating, because durations are shown to the millisecond and the
 * provider's clock is only that good anyway. Which clock produced a time is
 * kept beside it (cs_clock_t), because durations must not mix clocks. */
#ifndef CS_TIMESTAMP_H
#define CS_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

/* Ranked: when two clocks report the same fact, the higher one wins. */
typedef enum {
    CS_CLOCK_NONE = 0,
    CS_CLOCK_LOCAL = 1,    /* a callsync server's clock */
    CS_CLOCK_SDK = 2,      /* the agent's browser, corrected by the server offset */
    CS_CLOCK_PROVIDER = 3, /* Telnyx's occurred_at */
} cs_clock_t;

#define CS_TS_LEN 32 /* "2026-11-24T03:50:00.123Z" plus room */

int64_t cs_ts_now_ms(void);

/* Writes `YYYY-MM-DDTHH:MM:SS.mmmZ`. Returns 0, or -1 if buf is too small. */
int cs_ts_format(int64_t ms, char *buf, size_t size);

/* Parses RFC 3339 with optional fraction (any digits, truncated to ms) and a
 * `Z` or `+hh:mm` offset. Returns 0, or -1 for anything else. */
int cs_ts_parse(const char *text, int64_t *ms);

/* A time as the APIs take one ("since"): RFC 3339 (cs_ts_parse) or ms
 * since the epoch (1 to 15 digits). 0, or -1 for anything else. */
int cs_ts_parse_time(const char *text, int64_t *ms);

const char *cs_clock_name(cs_clock_t clock);
int cs_clock_parse(const char *name, cs_clock_t *clock);

#endif
