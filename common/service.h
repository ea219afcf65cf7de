/* service - the start every binary's main shares: configuration from the
 * environment and flags (--help prints it), the log facade, and signals
 * routed to sigwait so SIGTERM stops a service cleanly. */
#ifndef CS_SERVICE_H
#define CS_SERVICE_H

#include <signal.h>

#include "config.h"

/* Parses the configuration and starts logging as `ident`. Returns the
 * config (caller destroys), or NULL with *exit_code set: 0 after --help,
 * 2 for bad arguments (the reason printed on stderr). */
cs_config_t *cs_service_config(const char *prog, const char *ident, const char *summary,
                               const char *const *vars, int argc, char **argv, int *exit_code);

/* Blocks SIGTERM and SIGINT in this thread and those it starts (so
 * sigwait/sigtimedwait on *sigs gets them), keeps czmq from installing its
 * own handlers, and ignores SIGPIPE. Call before starting threads. */
void cs_service_signals(sigset_t *sigs);

/* Gives glibc's malloc a larger per-thread cache of freed chunks, for a
 * service that builds and frees JSON trees on every request. glibc reads
 * this setting (GLIBC_TUNABLES) only when a program starts, so it sets it
 * and starts the program again, once, keeping the pid; a GLIBC_TUNABLES
 * already set (the operator's) is left alone. Call first thing in main. */
void cs_service_malloc_cache(char **argv);

#endif
