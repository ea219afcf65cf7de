/* service - see service.h. */
#include "service.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

cs_config_t *cs_service_config(const char *prog, const char *ident, const char *summary,
                               const char *const *vars, int argc, char **argv, int *exit_code)
{
    char err[256];
    bool help;
    cs_config_t *cfg = cs_config_new(prog, summary, vars, argc, argv, &help, err, sizeof err);
    if (!cfg || help) {
        if (!cfg)
            fprintf(stderr, "%s: %s\n", prog, err);
        *exit_code = cfg ? 0 : 2;
        cs_config_destroy(&cfg);
        return NULL;
    }
    cs_log_level_t level = CS_LOG_INFO;
    const char *text = cs_config_get(cfg, "CALLSYNC_LOG_LEVEL");
    if (text && cs_log_level_parse(text, &level))
        fprintf(stderr, "%s: CALLSYNC_LOG_LEVEL '%s' unknown, using info\n", prog, text);
    cs_log_init(ident, level);
    return cfg;
}

void cs_service_signals(sigset_t *sigs)
{
    zsys_handler_set(NULL);
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* glibc's tcache keeps at most 7 freed chunks of a size per thread. A JSON
 * tree frees dozens of one size at once; the rest go to the fastbins, and
 * every malloc of 1 KB or more then consolidates them. With room for 2000
 * the ingestor spends ~5 us less per webhook of ~115 (BENCHMARKS.md). */
void cs_service_malloc_cache(char **argv)
{
    static const char tunables[] = "glibc.malloc.tcache_count=2000";
    if (getenv("GLIBC_TUNABLES"))
        return; /* the operator's, or already ours after the exec */
    if (setenv("GLIBC_TUNABLES", tunables, 1) == 0)
        execv("/proc/self/exe", argv);
    unsetenv("GLIBC_TUNABLES"); /* no exec: glibc's defaults, which work */
}
