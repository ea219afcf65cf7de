/* The log facade: a line's shape, the 1 KiB cut, levels, and held lines
 * (cs_log_hold: nothing is written until the release, then every line,
 * whole and in order; a hold that fills its buffer writes early). stderr
 * is pointed at a temp file for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int s_saved = -1;
static FILE *s_file;

static int s_setup(void **state)
{
    (void)state;
    s_file = tmpfile();
    if (!s_file)
        return -1;
    fflush(stderr);
    s_saved = dup(STDERR_FILENO);
    dup2(fileno(s_file), STDERR_FILENO);
    cs_log_init("logtest", CS_LOG_INFO);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    fflush(stderr);
    dup2(s_saved, STDERR_FILENO);
    close(s_saved);
    fclose(s_file);
    return 0;
}

/* What stderr holds so far (caller frees). */
static char *s_written(void)
{
    fflush(stderr);
    long n = lseek(fileno(s_file), 0, SEEK_END);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(pread(fileno(s_file), text, (size_t)n, 0), n);
    return text;
}

/* buf holds n - 1 copies of c, then NUL. */
static char *s_filled(char *buf, size_t n, char c)
{
    memset(buf, c, n - 1);
    buf[n - 1] = '\0';
    return buf;
}

static void test_line_shape_and_levels(void **state)
{
    (void)state;
    cs_info("webhook %s stored v=%d", "abc", 3);
    cs_debug("not shown at info");
    cs_error("boom");
    char *text = s_written();
    /* 2026-11-24T03:50:00.123Z logtest INFO webhook abc stored v=3\n */
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_int_equal(text[4], '-');
    assert_int_equal(text[23], 'Z');
    assert_memory_equal(text + 24, " logtest INFO webhook abc stored v=3\n", 37);
    assert_string_equal(nl + 1 + 24, " logtest ERROR boom\n");
    assert_null(strstr(text, "not shown"));
    free(text);
}

static void test_long_message_is_cut(void **state)
{
    (void)state;
    char big[3000];
    cs_warn("%s", s_filled(big, sizeof big, 'x'));
    char *text = s_written();
    size_t len = strlen(text);
    assert_int_equal(text[len - 1], '\n');
    assert_int_equal(len, 24 + strlen(" logtest WARN ") + 1023 + 1);
    free(text);
}

static void test_held_lines_wait_for_the_release(void **state)
{
    (void)state;
    cs_log_hold();
    cs_log_hold(); /* holds do not nest */
    for (int i = 0; i < 3; i++)
        cs_info("held %d", i);
    char *text = s_written();
    assert_string_equal(text, ""); /* nothing yet */
    free(text);
    cs_log_release();
    text = s_written();
    const char *a = strstr(text, "held 0\n"), *b = strstr(text, "held 1\n"),
               *c = strstr(text, "held 2\n");
    assert_true(a && b && c && a < b && b < c);
    free(text);
    cs_info("after"); /* released: written at once */
    text = s_written();
    assert_non_null(strstr(text, "INFO after\n"));
    free(text);
}

static void test_a_full_hold_writes_early(void **state)
{
    (void)state;
    char chunk[901];
    s_filled(chunk, sizeof chunk, 'y');
    cs_log_hold();
    for (int i = 0; i < 40; i++) /* ~38 KB: more than a hold keeps */
        cs_info("%02d %s", i, chunk);
    char *text = s_written();
    assert_true(strlen(text) > 0);
    assert_null(strstr(text, " 39 y")); /* the last line is still held */
    free(text);
    cs_log_release();
    text = s_written();
    int lines = 0;
    for (char *line = text; *line; lines++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        char want[16];
        snprintf(want, sizeof want, " %02d y", lines);
        assert_non_null(strstr(line, want)); /* whole, and in order */
        assert_true(strstr(line, want) < nl);
        assert_int_equal(nl - line, 24 + (long)strlen(" logtest INFO ") + 3 + 900);
        line = nl + 1;
    }
    assert_int_equal(lines, 40);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_shape_and_levels, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_message_is_cut, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_held_lines_wait_for_the_release, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_a_full_hold_writes_early, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
