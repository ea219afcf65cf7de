/* harness - see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timestamp.h"

extern char **environ;

#define H_MAX_PIDS 64
static pid_t s_pids[H_MAX_PIDS];
static int s_npids;

int64_t h_now_ms(void)
{
    return cs_ts_now_ms();
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static pid_t s_spawn(char *const argv[], const char *const *extra_env, const char *log_path)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra_env && extra_env[m])
        m++;
    char **envp = calloc(n + m + 1, sizeof *envp);
    if (!envp)
        return -1;
    /* extra entries first: getenv() finds the first match */
    for (size_t i = 0; i < m; i++)
        envp[i] = (char *)extra_env[i];
    for (size_t i = 0; i < n; i++)
        envp[m + i] = environ[i];
    /* fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test
     * binary killed from outside (a cancelled CI run, a timeout) takes its
     * Redis and services with it instead of leaving them running. Between
     * fork and exec only async-signal-safe calls. */
    if (access(argv[0], X_OK) != 0) {
        free(envp);
        return -1; /* not built: say so now, not as a child that exits 127 */
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(127); /* the parent is already gone */
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        if (fd > 2)
            close(fd);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    if (pid < 0)
        return -1;
    if (s_npids < H_MAX_PIDS)
        s_pids[s_npids++] = pid;
    return pid;
}

void h_stop(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            goto reaped;
        s_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
reaped:
    for (int i = 0; i < s_npids; i++)
        if (s_pids[i] == pid)
            s_pids[i] = 0;
}

pid_t h_spawn(h_env_t *env, const char *name, const char *const *extra_env, const char *tag)
{
    char bin[256], log[512];
    snprintf(bin, sizeof bin, "bin/callsync-%s", name);
    snprintf(log, sizeof log, "%s/%s-%s.log", env->dir, name, tag);
    char *argv[] = {bin, NULL};
    return s_spawn(argv, extra_env, log);
}

redisContext *h_redis(h_env_t *env)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", env->redis_port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int h_redis_start(h_env_t *env)
{
    char port[16], log[512];
    snprintf(port, sizeof port, "%d", env->redis_port);
    snprintf(log, sizeof log, "%s/redis.log", env->dir);
    char *argv[] = {"/usr/bin/redis-server",
                    "--port",
                    port,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    env->dir,
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                    NULL};
    env->redis_pid = s_spawn(argv, NULL, log);
    if (env->redis_pid < 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        redisContext *c = h_redis(env);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        s_sleep_ms(25);
    }
    return -1;
}

void h_redis_stop(h_env_t *env)
{
    h_stop(env->redis_pid, SIGTERM);
    env->redis_pid = 0;
}

int h_setup(h_env_t *env)
{
    memset(env, 0, sizeof *env);
    if (sodium_init() < 0)
        return -1;
    snprintf(env->dir, sizeof env->dir, "/tmp/callsync-test-XXXXXX");
    if (!mkdtemp(env->dir))
        return -1;
    env->redis_port = h_free_port();
    snprintf(env->redis_url, sizeof env->redis_url, "redis://127.0.0.1:%d/0", env->redis_port);
    snprintf(env->bus_pub, sizeof env->bus_pub, "tcp://127.0.0.1:%d", h_free_port());
    snprintf(env->bus_sub, sizeof env->bus_sub, "tcp://127.0.0.1:%d", h_free_port());
    crypto_sign_keypair(env->pk, env->sk);
    sodium_bin2base64(env->pk_b64, sizeof env->pk_b64, env->pk, 32, sodium_base64_VARIANT_ORIGINAL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return h_redis_start(env);
}

/* A sanitizer report in any service's log fails the run: services are
 * separate processes, so their crashes and leaks would pass unseen. */
static int s_check_logs(const h_env_t *env)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' '%s'/*.log 2>/dev/null",
             env->dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    int bad = 0;
    while (fgets(line, sizeof line, p)) {
        fprintf(stderr, "sanitizer report in %s", line);
        bad = 1;
    }
    pclose(p);
    return bad ? -1 : 0;
}

int h_cleanup(h_env_t *env)
{
    for (int i = 0; i < s_npids; i++)
        if (s_pids[i] > 0)
            h_stop(s_pids[i], SIGTERM);
    s_npids = 0;
    int rc = s_check_logs(env);
    if (rc || getenv("CALLSYNC_KEEP_TEST_DIR")) {
        fprintf(stderr, "kept %s\n", env->dir);
        return rc;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", env->dir);
    return 0;
}

typedef struct {
    char *buf;
    size_t len;
} s_buf_t;

static size_t s_write(void *data, size_t size, size_t n, void *user)
{
    s_buf_t *b = user;
    char *p = realloc(b->buf, b->len + size * n + 1);
    if (!p)
        return 0;
    b->buf = p;
    memcpy(b->buf + b->len, data, size * n);
    b->len += size * n;
    b->buf[b->len] = '\0';
    return size * n;
}

long h_http(const char *method, const char *url, const char *const *headers, const char *body,
            size_t len, char **resp)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    s_buf_t b = {calloc(1, 1), 0};
    struct curl_slist *hl = NULL;
    for (; headers && *headers; headers++)
        hl = curl_slist_append(hl, *headers);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (resp)
        *resp = b.buf;
    else
        free(b.buf);
    return status;
}

int h_wait_http(const char *url, long status, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 25) {
        if (h_http("GET", url, NULL, NULL, 0, NULL) == status)
            return 0;
        s_sleep_ms(25);
    }
    return -1;
}

int h_wait_exit(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 25) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            for (int i = 0; i < s_npids; i++)
                if (s_pids[i] == pid)
                    s_pids[i] = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        s_sleep_ms(25);
    }
    return -1;
}

int h_log_has(h_env_t *env, const char *name, const char *tag, const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%s.log", env->dir, name, tag);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* The bus's two ports were free when picked, but another process (any
 * outgoing connection takes a port from the same range) may take one before
 * the bus binds it. The bus then exits 1 ("cannot bind"), and new ports are
 * picked: the services started after it read env's endpoints. */
pid_t h_bus(h_env_t *env)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        char pub[128], sub[128], tag[16];
        if (attempt) {
            snprintf(env->bus_pub, sizeof env->bus_pub, "tcp://127.0.0.1:%d", h_free_port());
            snprintf(env->bus_sub, sizeof env->bus_sub, "tcp://127.0.0.1:%d", h_free_port());
        }
        snprintf(pub, sizeof pub, "CALLSYNC_BUS_PUB=%s", env->bus_pub);
        snprintf(sub, sizeof sub, "CALLSYNC_BUS_SUB=%s", env->bus_sub);
        snprintf(tag, sizeof tag, "%d", attempt);
        const char *extra[] = {pub, sub, NULL};
        pid_t pid = h_spawn(env, "bus", extra, tag);
        if (pid < 0)
            return -1;
        for (int waited = 0; waited <= 5000; waited += 25) {
            if (h_log_has(env, "bus", tag, "bus: forwarding"))
                return pid;
            if (h_wait_exit(pid, 0) >= 0)
                break; /* could not bind: pick again */
            s_sleep_ms(25);
        }
        if (!h_log_has(env, "bus", tag, "cannot bind"))
            return -1;
    }
    return -1;
}

/* Like the bus's, a service's port was free when picked but may be taken
 * before the service binds it; the service then exits ("cannot listen on
 * port N"), and another port is picked. */
pid_t h_listener(h_env_t *env, const char *name, const char *port_var, const char *const *extra_env,
                 int *port)
{
    enum { MAX_ENV = 31 };
    for (int attempt = 0; attempt < 5; attempt++) {
        int p = attempt == 0 && *port > 0 ? *port : h_free_port();
        char var[96], tag[16], url[128];
        snprintf(var, sizeof var, "%s=%d", port_var, p);
        snprintf(tag, sizeof tag, "%d", p);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", p);
        const char *all[MAX_ENV + 2] = {var};
        for (int i = 0; extra_env && extra_env[i]; i++) {
            if (i == MAX_ENV)
                return -1; /* the caller's bug: too many variables */
            all[i + 1] = extra_env[i];
        }
        pid_t pid = h_spawn(env, name, all, tag);
        if (pid < 0)
            return -1;
        for (int waited = 0; waited <= 5000; waited += 50) {
            if (h_wait_http(url, 200, 25) == 0) {
                *port = p;
                return pid;
            }
            if (h_wait_exit(pid, 0) >= 0)
                break;
        }
        if (!h_log_has(env, name, tag, "cannot listen"))
            return -1; /* not up in 5 s, or gone for another reason: its log says */
    }
    return -1;
}

pid_t h_ingestor(h_env_t *env, int *port)
{
    char redis[192], key[128], bus[128];
    snprintf(redis, sizeof redis, "CALLSYNC_REDIS_URL=%s", env->redis_url);
    snprintf(key, sizeof key, "TELNYX_PUBLIC_KEY=%s", env->pk_b64);
    snprintf(bus, sizeof bus, "CALLSYNC_BUS_PUB=%s", env->bus_pub);
    const char *extra[] = {redis, key, bus, NULL};
    *port = 0;
    return h_listener(env, "ingestor", "CALLSYNC_INGEST_PORT", extra, port);
}

long h_post_webhook(h_env_t *env, int port, const char *body, long skew_s, char **resp)
{
    char ts[32], sig[128], url[128], h_sig[200], h_ts[64];
    snprintf(ts, sizeof ts, "%lld", (long long)(h_now_ms() / 1000 + skew_s));
    size_t tslen = strlen(ts), len = strlen(body);
    unsigned char *msg = malloc(tslen + 1 + len);
    memcpy(msg, ts, tslen);
    msg[tslen] = '|';
    memcpy(msg + tslen + 1, body, len);
    unsigned char raw[64];
    crypto_sign_detached(raw, NULL, msg, tslen + 1 + len, env->sk);
    free(msg);
    sodium_bin2base64(sig, sizeof sig, raw, 64, sodium_base64_VARIANT_ORIGINAL);
    snprintf(h_sig, sizeof h_sig, "telnyx-signature-ed25519: %s", sig);
    snprintf(h_ts, sizeof h_ts, "telnyx-timestamp: %s", ts);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/webhooks/telnyx", port);
    const char *headers[] = {"Content-Type: application/json", h_sig, h_ts, NULL};
    return h_http("POST", url, headers, body, len, resp);
}

char *h_event(const char *type, const char *id, int64_t at_ms, json_t *payload)
{
    char at[CS_TS_LEN];
    cs_ts_format(at_ms, at, sizeof at);
    json_t *e = json_pack("{s:{s:s, s:s, s:s, s:s, s:o}, s:{s:i, s:s}}", "data", "event_type", type,
                          "id", id, "occurred_at", at, "record_type", "event", "payload", payload,
                          "meta", "attempt", 1, "delivered_to", "http://127.0.0.1/webhooks/telnyx");
    char *text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return text;
}

pid_t h_sim(h_env_t *env, int *port, const char *webhook_url)
{
    unsigned char seed[32];
    crypto_sign_ed25519_sk_to_seed(seed, env->sk);
    char seed64[64], hook[256], sd[128];
    sodium_bin2base64(seed64, sizeof seed64, seed, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(hook, sizeof hook, "CALLSYNC_SIM_WEBHOOK_URL=%s", webhook_url);
    snprintf(sd, sizeof sd, "CALLSYNC_SIM_SIGNING_SEED=%s", seed64);
    const char *extra[] = {hook, sd, NULL};
    *port = 0;
    return h_listener(env, "sim", "CALLSYNC_SIM_PORT", extra, port);
}

long h_sim_call(int port, const char *method, const char *path, const char *body, json_t **resp)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    const char *headers[] = {"Authorization: Bearer sim-key", "Content-Type: application/json",
                             NULL};
    char *text = NULL;
    long status = h_http(method, url, headers, body, body ? strlen(body) : 0, &text);
    if (resp)
        *resp = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return status;
}

int h_sim_wait_event(int port, const char *ccid, const char *type, int want, int timeout_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/sim/deliveries?call_control_id=%s", ccid);
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        json_t *log = NULL;
        int count = 0;
        if (h_sim_call(port, "GET", path, NULL, &log) == 200) {
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(log, "data"), i, e)
            {
                if (strcmp(json_string_value(json_object_get(e, "event_type")), type) == 0 &&
                    strcmp(json_string_value(json_object_get(e, "outcome")), "delivered") == 0)
                    count++;
            }
        }
        json_decref(log);
        if (count >= want)
            return count;
        s_sleep_ms(50);
    }
    return 0;
}

int h_ctl(h_env_t *env, const char *const *args, json_t **out, char **err_text)
{
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/ctl.out", env->dir);
    snprintf(err_path, sizeof err_path, "%s/ctl.err", env->dir);
    char *argv[32];
    int n = 0;
    argv[n++] = "bin/callsync-ctl";
    for (; args[0] && n < 31; args++)
        argv[n++] = (char *)args[0];
    argv[n] = NULL;
    char redis[192], pub[128], sub[128];
    snprintf(redis, sizeof redis, "CALLSYNC_REDIS_URL=%s", env->redis_url);
    snprintf(pub, sizeof pub, "CALLSYNC_BUS_PUB=%s", env->bus_pub);
    snprintf(sub, sizeof sub, "CALLSYNC_BUS_SUB=%s", env->bus_sub);
    const char *extra[] = {redis, pub, sub, NULL};
    unlink(out_path);
    unlink(err_path);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 4, sizeof *envp);
    for (int i = 0; i < 3; i++)
        envp[i] = (char *)extra[i];
    for (size_t i = 0; i < ne; i++)
        envp[3 + i] = environ[i];
    pid_t pid;
    int status = -1;
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, envp) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (out)
        *out = json_load_file(out_path, 0, NULL);
    if (err_text) {
        FILE *f = fopen(err_path, "r");
        char buf[4096] = "";
        if (f) {
            size_t r = fread(buf, 1, sizeof buf - 1, f);
            buf[r] = '\0';
            fclose(f);
        }
        *err_text = strdup(buf);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
