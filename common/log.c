/* log - see log.h. One write per line (or per held batch of lines) keeps
 * lines whole across threads: stderr is unbuffered, so each fwrite is one
 * write(2). */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "timestamp.h"

static const char *s_ident = "callsync";
static cs_log_level_t s_level = CS_LOG_INFO;

void cs_log_init(const char *ident, cs_log_level_t level)
{
    s_ident = ident;
    s_level = level;
}

int cs_log_level_parse(const char *text, cs_log_level_t *level)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, names[i]) == 0) {
            *level = (cs_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

/* A thread's held lines (cs_log_hold): the only per-thread state here. */
static _Thread_local struct {
    bool on;
    size_t len;
    char buf[16384];
} s_held;

static void s_write(const char *text, size_t len)
{
    if (len)
        fwrite(text, 1, len, stderr);
}

void cs_log_hold(void)
{
    s_held.on = true;
}

void cs_log_release(void)
{
    s_write(s_held.buf, s_held.len);
    s_held.len = 0;
    s_held.on = false;
}

void cs_log(cs_log_level_t level, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < s_level)
        return;
    /* the line as it will be written: stamp, ident, tag, message (cut at
     * 1 KiB, as before), newline */
    char line[CS_TS_LEN + 1100];
    char when[CS_TS_LEN];
    cs_ts_format(cs_ts_now_ms(), when, sizeof when);
    int head = snprintf(line, sizeof line, "%s %s %s ", when, s_ident, tags[level]);
    if (head < 0 || (size_t)head >= sizeof line - 1026)
        return; /* an ident too long to log with; cs_log_init's caller's bug */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + head, 1024, fmt, ap);
    va_end(ap);
    size_t len = (size_t)head + (n < 0 ? 0 : n > 1023 ? 1023 : (size_t)n);
    line[len++] = '\n';
    if (!s_held.on) {
        s_write(line, len);
        return;
    }
    if (s_held.len + len > sizeof s_held.buf) {
        s_write(s_held.buf, s_held.len);
        s_held.len = 0;
    }
    memcpy(s_held.buf + s_held.len, line, len);
    s_held.len += len;
}
