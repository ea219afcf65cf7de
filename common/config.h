/* config - every environment variable of callsync, in one table.
 *
 * A service names the variables it reads; values come from the environment,
 * and a flag of the same name (`--CALLSYNC_INGEST_PORT=9000` or
 * `--CALLSYNC_INGEST_PORT 9000`) overrides. `--help` prints the service's
 * variables with their defaults and meanings. Arguments that are not
 * `--NAME` flags are left for the caller (ctl's subcommands). */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cs_config cs_config_t;

/* Parses env + argv for the variables listed in `names` (NULL-terminated).
 * Returns NULL with a message in err on an unknown flag or a flag without a
 * value. Sets *help_shown when --help was given (and prints the help).
 * Caller owns the result and destroys it. */
cs_config_t *cs_config_new(const char *prog, const char *summary, const char *const *names,
                           int argc, char **argv, bool *help_shown, char *err, size_t errlen);
void cs_config_destroy(cs_config_t **self_p);

/* The value (borrowed, valid while self lives), or NULL when unset and
 * without default. */
const char *cs_config_get(const cs_config_t *self, const char *name);

/* An integer in [min, max]; -1 with a message in err otherwise. */
int cs_config_int(const cs_config_t *self, const char *name, long min, long max, long *out,
                  char *err, size_t errlen);

/* Positional arguments left after the flags (borrowed). */
int cs_config_argc(const cs_config_t *self);
char **cs_config_argv(const cs_config_t *self);

/* Prints the whole table (for the README and `callsync-ctl --help`). */
void cs_config_print_table(const char *const *names);

#endif
