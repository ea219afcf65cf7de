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

#endif
