/* RFC 3339 with milliseconds, both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "timestamp.h"

static void test_parse(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2025-11-23T03:30:00.076316Z", 1763868600076},
        {"2025-11-23T03:30:00.9Z", 1763868600900},
        {"2025-11-23T04:30:00.076+01:00", 1763868600076},
        {"2024-02-29T23:59:59.999Z", 1709251199999},
        {"1969-12-31T23:59:59.500Z", -500},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 1;
        assert_int_equal(cs_ts_parse(ok[i].text, &ms), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"",
                         "2025-11-23",
                         "2025-11-23T03:30:00",
                         "2025-13-01T00:00:00Z",
                         "2025-11-23T03:30:00.Z",
                         "2025-11-23T03:30:00Zx",
                         "2025-11-23T25:00:00Z",
                         "20251123T033000Z",
                         "2025-11-23T03:30:00+0100"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_int_equal(cs_ts_parse(bad[i], &ms), -1);
    }
}

/* "since" as the APIs take it: RFC 3339, or ms since the epoch. */
static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = 1;
    assert_int_equal(cs_ts_parse_time("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(cs_ts_parse_time("1763868600076", &ms), 0);
    assert_int_equal(ms, 1763868600076);
    assert_int_equal(cs_ts_parse_time("999999999999999", &ms), 0); /* 15 digits */
    assert_int_equal(cs_ts_parse_time("2025-11-23T03:30:00.076Z", &ms), 0);
    assert_int_equal(ms, 1763868600076);
    const char *bad[] = {"", "1000000000000000", "-5", "+5", "12ab", "1.5", " 1", "today"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cs_ts_parse_time(bad[i], &ms), -1);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char buf[CS_TS_LEN];
    assert_int_equal(cs_ts_format(1763868600076, buf, sizeof buf), 0);
    assert_string_equal(buf, "2025-11-23T03:30:00.076Z");
    for (int64_t ms = -86400000; ms < 4102444800000; ms += 7777777777) {
        int64_t back;
        assert_int_equal(cs_ts_format(ms, buf, sizeof buf), 0);
        assert_int_equal(cs_ts_parse(buf, &back), 0);
        assert_int_equal(back, ms);
    }
    assert_int_equal(cs_ts_format(0, buf, 10), -1);
}

static void test_clock_names(void **state)
{
    (void)state;
    cs_clock_t c;
    assert_int_equal(cs_clock_parse("provider", &c), 0);
    assert_int_equal(c, CS_CLOCK_PROVIDER);
    assert_int_equal(cs_clock_parse("nope", &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_clock_names),
    };
    return cmocka_run_group_tests_name("timestamp", tests, NULL, NULL);
}
