/* The Redis wrapper against a real redis-server: URLs, scripts by SHA
 * (reloaded after SCRIPT FLUSH), pipelining, and reconnecting after the
 * server went away; bad URLs refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "redis.h"

static h_env_t s_env;
static int s_teardown_failed;

static int setup(void **state)
{
    (void)state;
    return h_setup(&s_env);
}

static int teardown(void **state)
{
    (void)state;
    s_teardown_failed = h_cleanup(&s_env) != 0;
    return s_teardown_failed ? -1 : 0;
}

static void test_bad_urls(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "http://127.0.0.1:6379",
                         "redis://",
                         "redis://:pw@",
                         "redis://host:0",
                         "redis://host:99999",
                         "redis://host:6379/99",
                         "redis://host:6379/x",
                         "unix://",
                         "unix:///tmp/r.sock?db=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cs_redis_t *r = cs_redis_new(bad[i], err, sizeof err);
        if (r)
            fail_msg("accepted %s", bad[i]);
        assert_true(strlen(err) > 0);
    }
}

static const cs_redis_script_t s_echo = {"echo", "return ARGV[1] .. KEYS[1]"};

static void test_scripts_pipelining_reconnect(void **state)
{
    (void)state;
    char err[256];
    cs_redis_t *r = cs_redis_new(s_env.redis_url, err, sizeof err);
    assert_non_null(r);
    assert_true(cs_redis_ping(r));

    const char *args[] = {"k", "v"};
    redisReply *rep = cs_redis_eval(r, &s_echo, 1, 2, args, NULL);
    assert_non_null(rep);
    assert_string_equal(rep->str, "vk");
    freeReplyObject(rep);
    freeReplyObject(cs_redis_cmd(r, "SCRIPT FLUSH")); /* as after a Redis restart */
    rep = cs_redis_eval(r, &s_echo, 1, 2, args, NULL);
    assert_non_null(rep);
    assert_string_equal(rep->str, "vk");
    freeReplyObject(rep);

    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *set[] = {"RPUSH", "pipe", v};
        assert_int_equal(cs_redis_append(r, 3, set, NULL), 0);
    }
    for (int i = 0; i < 100; i++) {
        rep = cs_redis_reply(r);
        assert_non_null(rep);
        assert_int_equal(rep->integer, i + 1);
        freeReplyObject(rep);
    }

    h_redis_stop(&s_env);
    assert_false(cs_redis_ping(r));
    assert_true(strlen(cs_redis_error(r)) > 0);
    assert_int_equal(h_redis_start(&s_env), 0);
    assert_true(cs_redis_ping(r)); /* the next command reconnects */
    rep = cs_redis_cmd(r, "LLEN pipe");
    assert_int_equal(rep->integer, 100); /* AOF kept it */
    freeReplyObject(rep);
    cs_redis_destroy(&r);
    assert_null(r);
}

static void test_unix_socket_and_db(void **state)
{
    (void)state;
    char err[256], url[512];
    redisContext *c = h_redis(&s_env);
    redisReply *rep = redisCommand(c, "CONFIG GET dir");
    char sock[400];
    snprintf(sock, sizeof sock, "%s/redis.sock", rep->element[1]->str);
    freeReplyObject(rep);
    redisFree(c);
    /* a socket nobody listens on: a valid URL, unreachable for now (the
     * services start before Redis may be up) */
    snprintf(url, sizeof url, "unix://%s?db=3", sock);
    cs_redis_t *r = cs_redis_new(url, err, sizeof err);
    assert_non_null(r);
    assert_false(cs_redis_ping(r));
    cs_redis_destroy(&r);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", s_env.redis_port);
    r = cs_redis_new(url, err, sizeof err);
    freeReplyObject(cs_redis_cmd(r, "SET only-in-2 yes"));
    cs_redis_destroy(&r);
    c = h_redis(&s_env);
    rep = redisCommand(c, "EXISTS only-in-2");
    assert_int_equal(rep->integer, 0); /* not in db 0 */
    freeReplyObject(rep);
    freeReplyObject(redisCommand(c, "SELECT 2"));
    rep = redisCommand(c, "EXISTS only-in-2");
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    redisFree(c);
}

/* A test binary killed from outside (a cancelled CI run, a timeout) must
 * not leave its Redis and services running: the harness starts each with
 * PR_SET_PDEATHSIG. A forked "test binary" sets up an environment and
 * dies without cleaning up; its Redis must stop on its own. This process
 * becomes the subreaper, so the orphaned Redis is reparented here and its
 * end can be waited for. */
static void test_services_die_with_the_test(void **state)
{
    (void)state;
    struct orphan { /* what the dying test binary reports */
        pid_t redis;
        char dir[256];
    };
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t test = fork();
    assert_true(test >= 0);
    if (test == 0) {
        h_env_t env;
        if (h_setup(&env) != 0)
            _exit(1);
        struct orphan info = {env.redis_pid, ""};
        snprintf(info.dir, sizeof info.dir, "%s", env.dir);
        if (write(fds[1], &info, sizeof info) != (ssize_t)sizeof info)
            _exit(1);
        _exit(0); /* killed, as it were: no h_cleanup */
    }
    close(fds[1]);
    struct orphan info;
    assert_int_equal(read(fds[0], &info, sizeof info), (ssize_t)sizeof info);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(test, &status, 0), test);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pid_t gone = 0;
    for (int i = 0; i < 100 && gone == 0; i++) { /* up to 10 s */
        gone = waitpid(info.redis, &status, WNOHANG);
        if (gone == 0)
            usleep(100 * 1000);
    }
    if (gone != info.redis) {
        kill(info.redis, SIGKILL);
        waitpid(info.redis, &status, 0);
        fail_msg("redis %d outlived its test binary", (int)info.redis);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", info.dir);
    assert_int_equal(system(cmd), 0);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_scripts_pipelining_reconnect),
        cmocka_unit_test(test_unix_socket_and_db),
        cmocka_unit_test(test_services_die_with_the_test),
    };
    int failed = cmocka_run_group_tests_name("redis", tests, setup, teardown);
    return failed || s_teardown_failed;
}
