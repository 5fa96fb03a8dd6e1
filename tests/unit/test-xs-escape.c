#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/xs_escape.h"

START_TEST(escape_known) {
        char out[256];
        ck_assert_int_eq(xs_key_escape("Plain-Key9", out, sizeof out), 10);
        ck_assert_str_eq(out, "Plain-Key9");
        ck_assert_int_gt(xs_key_escape("a/b_c d", out, sizeof out), 0);
        ck_assert_str_eq(out, "a_2fb_5fc_20d");
        ck_assert_int_gt(xs_key_escape("\xc3\xa9", out, sizeof out), 0);
        ck_assert_str_eq(out, "_c3_a9");
        ck_assert_int_eq(xs_key_escape("", out, sizeof out), -EINVAL);
        ck_assert_int_eq(xs_key_escape("abc", out, 3), -ENOBUFS);
}
END_TEST

START_TEST(unescape_rejects_non_canonical) {
        char out[256];
        ck_assert_int_eq(xs_key_unescape("_41", out, sizeof out), -EINVAL);  /* 'A' needs no escape */
        ck_assert_int_eq(xs_key_unescape("_2F", out, sizeof out), -EINVAL);  /* uppercase hex */
        ck_assert_int_eq(xs_key_unescape("_2", out, sizeof out), -EINVAL);   /* truncated */
        ck_assert_int_eq(xs_key_unescape("_00", out, sizeof out), -EINVAL);  /* NUL */
        ck_assert_int_eq(xs_key_unescape("a/b", out, sizeof out), -EINVAL);  /* raw '/' */
        ck_assert_int_eq(xs_key_unescape("a_2fb_5fc_20d", out, sizeof out), 7);
        ck_assert_str_eq(out, "a/b_c d");
}
END_TEST

START_TEST(round_trip_all_bytes) {
        char key[256], esc[800], back[256];
        for (int c = 1; c < 256; c++) {
                key[0] = 'k';
                key[1] = (char)c;
                key[2] = 0;
                ck_assert_int_gt(xs_key_escape(key, esc, sizeof esc), 0);
                ck_assert_int_eq(xs_key_unescape(esc, back, sizeof back), 2);
                ck_assert_str_eq(back, key);
        }
}
END_TEST

int main(void) {
        Suite *s = suite_create("xs_escape");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, escape_known);
        tcase_add_test(tc, unescape_rejects_non_canonical);
        tcase_add_test(tc, round_trip_all_bytes);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
