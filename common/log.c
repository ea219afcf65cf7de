/* log - see log.h. One fprintf per line keeps lines whole across threads. */
#include "log.h"

#include <stdarg.h>
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

void cs_log(cs_log_level_t level, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < s_level)
        return;
    char when[CS_TS_LEN];
    cs_ts_format(cs_ts_now_ms(), when, sizeof when);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s %s\n", when, s_ident, tags[level], msg);
}
