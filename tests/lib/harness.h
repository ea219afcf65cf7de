/* harness - what black-box tests need to run the real binaries: a temp
 * dir, free ports, a throwaway redis-server (AOF on), spawned services with
 * their logs kept, HTTP via libcurl, signed Telnyx webhooks, and waiting on
 * conditions (never fixed sleeps). Everything started is stopped by
 * h_cleanup(), which the tests register as their teardown. */
#ifndef CS_HARNESS_H
#define CS_HARNESS_H

#include <hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    char dir[256]; /* temp dir: redis data, logs */
    int redis_port;
    pid_t redis_pid;
    char redis_url[128];
    unsigned char pk[32], sk[64];
    char pk_b64[64];
    char bus_pub[64], bus_sub[64];
} h_env_t;

/* Makes the temp dir, starts Redis, generates a signing key. 0 or -1. */
int h_setup(h_env_t *env);
/* Stops everything; -1 when a service logged a sanitizer report (the
 * temp dir is then kept for reading). */
int h_cleanup(h_env_t *env);

int h_free_port(void);

/* Starts bin/<name> with extra "K=V" env entries (NULL-ended); output goes
 * to <dir>/<name>-<port>.log. Returns the pid, or -1 (not built, or no
 * fork). Every process the harness starts gets SIGTERM when the thread that
 * started it ends, so start them from the test's main thread. */
pid_t h_spawn(h_env_t *env, const char *name, const char *const *extra_env, const char *tag);
void h_stop(pid_t pid, int sig);

int h_redis_start(h_env_t *env);
void h_redis_stop(h_env_t *env);
redisContext *h_redis(h_env_t *env);

/* Starts the bus forwarder and waits until it has bound env's endpoints
 * (picking new ones when a port was taken meanwhile). The pid, or -1. */
pid_t h_bus(h_env_t *env);

/* Waits up to timeout_ms for pid (a child from h_spawn) to exit: its exit
 * status (128 + signal when killed), or -1 if it is still running. */
int h_wait_exit(pid_t pid, int timeout_ms);

/* Whether <dir>/<name>-<tag>.log has a line containing needle. */
int h_log_has(h_env_t *env, const char *name, const char *tag, const char *needle);

/* Starts bin/<name> with port_var (e.g. CALLSYNC_INGEST_PORT) set to *port
 * (0: a free one) and waits up to 5 s for GET /healthz 200. A port taken
 * before the service bound it ("cannot listen" in its log) is replaced by
 * a new free one, up to 5 times. *port is set to the port it listens on.
 * The pid, or -1. */
pid_t h_listener(h_env_t *env, const char *name, const char *port_var, const char *const *extra_env,
                 int *port);

/* Starts an ingestor on a free port; *port set. Waits for /healthz 200. */
pid_t h_ingestor(h_env_t *env, int *port);

/* Waits until GET url answers `status` (up to timeout_ms). 0 or -1. */
int h_wait_http(const char *url, long status, int timeout_ms);

/* HTTP request; returns the status (or -1) and the body (caller frees). */
long h_http(const char *method, const char *url, const char *const *headers, const char *body,
            size_t len, char **resp);

/* Posts body signed with env's key, timestamp now + skew_s. */
long h_post_webhook(h_env_t *env, int port, const char *body, long skew_s, char **resp);

/* A Telnyx v2 webhook body: type, data.id, occurred_at (ms), and payload
 * (stolen reference; call_control_id etc. go in it). Caller frees. */
char *h_event(const char *type, const char *id, int64_t at_ms, json_t *payload);

/* Starts the sim on a free port (*port set), delivering webhooks to
 * webhook_url and signing with env's key (so an ingestor of env accepts
 * them). Waits for /healthz. */
pid_t h_sim(h_env_t *env, int *port, const char *webhook_url);

/* A request to the sim's REST API with its Bearer key; body may be NULL.
 * Returns the status; *resp the parsed JSON (new reference, may be NULL). */
long h_sim_call(int port, const char *method, const char *path, const char *body, json_t **resp);

/* Waits until the sim has delivered (2xx) at least `want` events of this
 * type for this call control id; returns how many it delivered, or 0 on
 * timeout. */
int h_sim_wait_event(int port, const char *ccid, const char *type, int want, int timeout_ms);

/* Runs bin/callsync-ctl with args (NULL-ended) against env; stdout parsed
 * as JSON into *out (new reference, may be NULL). Returns the exit code. */
int h_ctl(h_env_t *env, const char *const *args, json_t **out, char **err_text);

int64_t h_now_ms(void);

#endif
