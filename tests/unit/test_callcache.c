/* The ingestor committer's cache of recent calls: what it answers, what it
 * forgets, and that it stays within its capacity while keeping what is used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "callcache.h"

static const char *s_find(cs_callcache_t *cache, const char *ccid, const char **cs)
{
    size_t len = 0;
    bool joins = true;
    const char *rec = cs_callcache_find(cache, ccid, NULL, NULL, cs, &len, &joins);
    assert_false(joins);
    if (rec)
        assert_int_equal(len, strlen(rec));
    return rec;
}

static void test_find_needs_leg_and_record(void **state)
{
    (void)state;
    assert_null(cs_callcache_new(0));
    cs_callcache_t *cache = cs_callcache_new(10);
    assert_non_null(cache);
    const char *cs = NULL;
    assert_null(s_find(cache, "v3:a", &cs)); /* nothing known */
    cs_callcache_set_leg(cache, "v3:a", "cs_1");
    assert_null(s_find(cache, "v3:a", &cs)); /* the leg, but no record */
    cs_callcache_set_record(cache, "cs_1", "1 {\"id\":\"cs_1\"}", 15);
    assert_string_equal(s_find(cache, "v3:a", &cs), "1 {\"id\":\"cs_1\"}");
    assert_string_equal(cs, "cs_1");
    cs_callcache_set_leg(cache, "v3:b", "cs_1"); /* a second leg of the call */
    const char *second = "2 {\"id\":\"cs_1\",\"x\":1}";
    cs_callcache_set_record(cache, "cs_1", second, strlen(second));
    assert_string_equal(s_find(cache, "v3:b", &cs), "2 {\"id\":\"cs_1\",\"x\":1}");
    assert_string_equal(s_find(cache, "v3:a", &cs), "2 {\"id\":\"cs_1\",\"x\":1}");
    cs_callcache_forget(cache, "cs_1"); /* stale: both legs miss until it is read again */
    assert_null(s_find(cache, "v3:a", &cs));
    assert_null(s_find(cache, "v3:b", &cs));
    assert_null(s_find(cache, "", &cs));
    assert_null(s_find(cache, NULL, &cs));
    cs_callcache_set_record(cache, "cs_1", second, strlen(second));
    assert_non_null(s_find(cache, "v3:a", &cs));
    cs_callcache_clear(cache); /* a new Redis connection: nothing is trusted */
    assert_int_equal(cs_callcache_size(cache), 0);
    assert_null(s_find(cache, "v3:a", &cs));
    cs_callcache_set_leg(cache, "", "cs_2"); /* ignored */
    cs_callcache_set_record(cache, "", "1 {}", 4);
    unsigned long long hits, misses;
    cs_callcache_counts(cache, &hits, &misses);
    assert_int_equal(hits, 4);
    assert_int_equal(misses, 7);
    cs_callcache_destroy(&cache);
    assert_null(cache);
    cs_callcache_destroy(&cache); /* idempotent */
}

/* A leg new to the cache joins the call resolve would name: the hint when
 * there is one, else its session's call; only when the session is known
 * here, and only when that call's record is. A known leg never "joins". */
static void test_a_new_leg_joins_by_session_or_hint(void **state)
{
    (void)state;
    cs_callcache_t *cache = cs_callcache_new(10);
    const char *cs = NULL;
    size_t len;
    bool joins = true;
    cs_callcache_set_record(cache, "cs_1", "1 x", 3);
    cs_callcache_set_record(cache, "cs_2", "4 y", 3);
    assert_null(cs_callcache_find(cache, "v3:c", "sess-1", "", &cs, &len, &joins));
    assert_false(joins); /* the session is not known */
    cs_callcache_set_session(cache, "sess-1", "cs_1");
    assert_string_equal(cs_callcache_find(cache, "v3:c", "sess-1", "", &cs, &len, &joins), "1 x");
    assert_true(joins);
    assert_string_equal(cs, "cs_1");
    assert_string_equal(cs_callcache_find(cache, "v3:c", "sess-1", "cs_2", &cs, &len, &joins),
                        "4 y");
    assert_true(joins); /* the hint wins over the session, as in resolve */
    assert_string_equal(cs, "cs_2");
    assert_null(cs_callcache_find(cache, "v3:c", "sess-1", "cs_9", &cs, &len, &joins));
    assert_false(joins); /* the hint's record is not here */
    assert_null(cs_callcache_find(cache, "v3:c", "", "cs_2", &cs, &len, &joins));
    assert_false(joins); /* no session: resolve would index it */
    assert_null(cs_callcache_find(cache, "", "sess-1", "", &cs, &len, &joins));
    assert_false(joins); /* no leg to index */
    cs_callcache_set_leg(cache, "v3:c", "cs_2");
    assert_string_equal(cs_callcache_find(cache, "v3:c", "sess-1", "", &cs, &len, &joins), "4 y");
    assert_false(joins); /* known: by its leg */
    cs_callcache_clear(cache);
    cs_callcache_set_record(cache, "cs_1", "1 x", 3);
    assert_null(cs_callcache_find(cache, "v3:d", "sess-1", "", &cs, &len, &joins));
    assert_false(joins);                         /* the sessions went with the clear */
    cs_callcache_set_session(cache, "", "cs_1"); /* ignored */
    cs_callcache_set_session(cache, "sess-2", "");
    assert_null(cs_callcache_find(cache, "v3:d", "sess-2", "", &cs, &len, &joins));
    cs_callcache_destroy(&cache);
}

/* Records of any length and content are kept byte for byte. */
static void test_record_bytes(void **state)
{
    (void)state;
    cs_callcache_t *cache = cs_callcache_new(4);
    static char big[64 * 1024];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + i % 26);
    cs_callcache_set_leg(cache, "v3:big", "cs_big");
    cs_callcache_set_record(cache, "cs_big", big, sizeof big - 1);
    const char *cs;
    size_t len = 0;
    bool joins;
    const char *rec = cs_callcache_find(cache, "v3:big", NULL, NULL, &cs, &len, &joins);
    assert_non_null(rec);
    assert_int_equal(len, sizeof big - 1);
    assert_memory_equal(rec, big, len);
    assert_int_equal(rec[len], '\0');
    /* by the call's id (a second leg's first event): the same bytes, and
     * no hit or miss counted; nothing for an unknown or empty id */
    unsigned long long hits, misses, hits2, misses2;
    cs_callcache_counts(cache, &hits, &misses);
    size_t len2 = 0;
    const char *again = cs_callcache_record(cache, "cs_big", &len2);
    assert_non_null(again);
    assert_int_equal(len2, len);
    assert_memory_equal(again, big, len2);
    assert_null(cs_callcache_record(cache, "cs_other", &len2));
    assert_null(cs_callcache_record(cache, "", &len2));
    cs_callcache_forget(cache, "cs_big");
    assert_null(cs_callcache_record(cache, "cs_big", &len2));
    cs_callcache_counts(cache, &hits2, &misses2);
    assert_true(hits2 == hits && misses2 == misses);
    cs_callcache_destroy(&cache);
}

/* Bounded: far more calls than the capacity pass through, and at most the
 * capacity is held; a call in use the whole time is never lost; a call
 * seen once long ago is. */
static void test_capacity_keeps_what_is_used(void **state)
{
    (void)state;
    enum { CAP = 100, PASSING = 10 * CAP };
    cs_callcache_t *cache = cs_callcache_new(CAP);
    cs_callcache_set_leg(cache, "v3:hot", "cs_hot");
    cs_callcache_set_record(cache, "cs_hot", "7 {}", 4);
    cs_callcache_set_leg(cache, "v3:cold", "cs_cold");
    cs_callcache_set_record(cache, "cs_cold", "1 {}", 4);
    const char *cs;
    for (int i = 0; i < PASSING; i++) {
        char ccid[32], id[32];
        snprintf(ccid, sizeof ccid, "v3:%d", i);
        snprintf(id, sizeof id, "cs_%d", i);
        cs_callcache_set_leg(cache, ccid, id);
        cs_callcache_set_record(cache, id, "1 {}", 4);
        if (i % 10 == 0) /* used now and then */
            assert_non_null(s_find(cache, "v3:hot", &cs));
    }
    assert_non_null(s_find(cache, "v3:hot", &cs));
    assert_string_equal(cs, "cs_hot");
    assert_null(s_find(cache, "v3:cold", &cs));
    assert_true(cs_callcache_size(cache) >= CAP / 2 && cs_callcache_size(cache) <= CAP);
    for (int i = PASSING - 1; i >= PASSING - CAP / 2; i--) { /* the most recent are held */
        char ccid[32];
        snprintf(ccid, sizeof ccid, "v3:%d", i);
        if (!s_find(cache, ccid, &cs))
            fail_msg("call %d of %d lost", i, PASSING);
    }
    assert_true(cs_callcache_size(cache) <= CAP);
    cs_callcache_destroy(&cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_needs_leg_and_record),
        cmocka_unit_test(test_a_new_leg_joins_by_session_or_hint),
        cmocka_unit_test(test_record_bytes),
        cmocka_unit_test(test_capacity_keeps_what_is_used),
    };
    return cmocka_run_group_tests_name("callcache", tests, NULL, NULL);
}
