/* timestamp - see timestamp.h. Parsing is strict: a webhook with a
 * malformed occurred_at is refused rather than given a guessed time. */
#include "timestamp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t cs_ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
 * algorithm), so we need neither timegm nor the TZ environment. */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int cs_ts_format(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int milli = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t y;
    int m, d;
    s_civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), milli);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Reads exactly n digits. */
static int s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int s_expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int cs_ts_parse(const char *text, int64_t *ms)
{
    const char *p = text;
    int y, mo, d, h, mi, s;
    if (s_digits(&p, 4, &y) || s_expect(&p, '-') || s_digits(&p, 2, &mo) || s_expect(&p, '-') ||
        s_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (s_digits(&p, 2, &h) || s_expect(&p, ':') || s_digits(&p, 2, &mi) || s_expect(&p, ':') ||
        s_digits(&p, 2, &s))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    int milli = 0;
    if (*p == '.') {
        p++;
        int ndig = 0;
        while (isdigit((unsigned char)*p)) {
            if (ndig < 3)
                milli = milli * 10 + (*p - '0');
            ndig++;
            p++;
        }
        if (ndig == 0 || ndig > 9)
            return -1;
        for (; ndig < 3; ndig++)
            milli *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (s_digits(&p, 2, &oh) || s_expect(&p, ':') || s_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t days = s_days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - (int64_t)offset_min * 60;
    *ms = secs * 1000 + milli;
    return 0;
}

int cs_ts_parse_time(const char *text, int64_t *ms)
{
    size_t n = strlen(text);
    if (n >= 1 && n <= 15 && strspn(text, "0123456789") == n) {
        *ms = strtoll(text, NULL, 10);
        return 0;
    }
    return cs_ts_parse(text, ms);
}

const char *cs_clock_name(cs_clock_t clock)
{
    switch (clock) {
    case CS_CLOCK_LOCAL:
        return "local";
    case CS_CLOCK_SDK:
        return "sdk";
    case CS_CLOCK_PROVIDER:
        return "provider";
    default:
        return "none";
    }
}

int cs_clock_parse(const char *name, cs_clock_t *clock)
{
    for (int c = CS_CLOCK_NONE; c <= CS_CLOCK_PROVIDER; c++) {
        if (strcmp(name, cs_clock_name((cs_clock_t)c)) == 0) {
            *clock = (cs_clock_t)c;
            return 0;
        }
    }
    return -1;
}
