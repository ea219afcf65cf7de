/* log - one line per event on stderr, the only global state in callsync.
 *
 * Lines look like `2026-11-24T03:50:00.123Z ingestor INFO msg`, so that
 * docker logs, journald and a terminal all read the same. Secrets never
 * reach this module: callers log ids and reasons, not keys or bodies. */
#ifndef CS_LOG_H
#define CS_LOG_H

typedef enum { CS_LOG_DEBUG, CS_LOG_INFO, CS_LOG_WARN, CS_LOG_ERROR } cs_log_level_t;

/* Sets the program name shown on every line and the lowest level shown. */
void cs_log_init(const char *ident, cs_log_level_t level);

/* Parses "debug|info|warn|error"; returns -1 for anything else. */
int cs_log_level_parse(const char *text, cs_log_level_t *level);

void cs_log(cs_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Holds this thread's lines until cs_log_release() and writes them with
 * one write(2), for a thread that logs a line per item of a batch (the
 * ingestor's committer: a write per webhook was ~2 us of its time). Lines
 * stay whole and in order; at most a batch's lines (a few ms) are lost if
 * the process dies in between. Holds do not nest: a second hold is a no-op,
 * and the first release writes. */
void cs_log_hold(void);
void cs_log_release(void);

#define cs_debug(...) cs_log(CS_LOG_DEBUG, __VA_ARGS__)
#define cs_info(...) cs_log(CS_LOG_INFO, __VA_ARGS__)
#define cs_warn(...) cs_log(CS_LOG_WARN, __VA_ARGS__)
#define cs_error(...) cs_log(CS_LOG_ERROR, __VA_ARGS__)

#endif
