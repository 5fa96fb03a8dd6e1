/* UTF-8 <-> UTF-16LE: round trips across every encoding length, surrogate pairs, and
 * rejection of every malformed form instead of silent replacement. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/utf16.h"

static size_t units_of(const uint8_t *u) {
        size_t n = 0;
        while (u[2 * n] || u[2 * n + 1])
                n++;
        return n;
}

START_TEST(test_ascii) {
        uint8_t u[16];
        char s[16];

        ck_assert_int_eq(utf8_to_utf16(u, 8, "Hi!", 3), 3);
        ck_assert_mem_eq(u, "H\0i\0!\0\0\0", 8);
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, u, 8), 3);
        ck_assert_str_eq(s, "Hi!");
}
END_TEST

START_TEST(test_every_length) {
        /* 1, 2, 3 and 4 byte UTF-8 forms, at the edges of each range. */
        static const struct {
                const char *utf8;
                const uint8_t utf16[4];
                size_t units;
        } v[] = {
                { "\x7f", { 0x7f, 0x00 }, 1 },
                { "\xc2\x80", { 0x80, 0x00 }, 1 },
                { "\xc3\xa9", { 0xe9, 0x00 }, 1 },
                { "\xdf\xbf", { 0xff, 0x07 }, 1 },
                { "\xe0\xa0\x80", { 0x00, 0x08 }, 1 },
                { "\xe2\x82\xac", { 0xac, 0x20 }, 1 },
                { "\xed\x9f\xbf", { 0xff, 0xd7 }, 1 },
                { "\xee\x80\x80", { 0x00, 0xe0 }, 1 },
                { "\xef\xbf\xbf", { 0xff, 0xff }, 1 },
                { "\xf0\x90\x80\x80", { 0x00, 0xd8, 0x00, 0xdc }, 2 },
                { "\xf0\x9f\x98\x80", { 0x3d, 0xd8, 0x00, 0xde }, 2 },
                { "\xf4\x8f\xbf\xbf", { 0xff, 0xdb, 0xff, 0xdf }, 2 },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                uint8_t u[8] = { 0 };
                char s[8];

                ck_assert_int_eq(utf8_to_utf16(u, 4, v[i].utf8, strlen(v[i].utf8)), (ssize_t)v[i].units);
                ck_assert_mem_eq(u, v[i].utf16, 2 * v[i].units);
                ck_assert_int_eq(u[2 * v[i].units] | u[2 * v[i].units + 1], 0);
                ck_assert_int_eq(utf16_to_utf8(s, sizeof s, v[i].utf16, v[i].units),
                                 (ssize_t)strlen(v[i].utf8));
                ck_assert_str_eq(s, v[i].utf8);
        }
}
END_TEST

START_TEST(test_utf16_invalid) {
        char s[32];
        /* lone high surrogate at the end, high + non-low, lone low, reversed pair */
        static const uint8_t end_high[] = { 'a', 0, 0x00, 0xd8 };
        static const uint8_t high_bmp[] = { 0x00, 0xd8, 'a', 0 };
        static const uint8_t lone_low[] = { 0x00, 0xdc, 'a', 0 };
        static const uint8_t reversed[] = { 0x00, 0xdc, 0x00, 0xd8 };
        static const uint8_t high_nul[] = { 0x00, 0xd8, 0, 0 };

        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, end_high, 2), -EILSEQ);
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, high_bmp, 2), -EILSEQ);
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, lone_low, 2), -EILSEQ);
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, reversed, 2), -EILSEQ);
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, high_nul, 2), -EILSEQ);
        /* A pair cut by the unit limit is a lone surrogate too. */
        static const uint8_t pair[] = { 0x3d, 0xd8, 0x00, 0xde };
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, pair, 1), -EILSEQ);
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, pair, 2), 4);
}
END_TEST

START_TEST(test_utf16_stops_at_nul) {
        static const uint8_t u[] = { 'a', 0, 'b', 0, 0, 0, 0x00, 0xdc };
        char s[8];

        /* Bytes after the NUL are not looked at, even if malformed. */
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, u, 4), 2);
        ck_assert_str_eq(s, "ab");
        ck_assert_int_eq(utf16_to_utf8(s, sizeof s, u, 0), 0);
        ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(test_utf8_invalid) {
        static const char *const bad[] = {
                "\x80",                 /* stray continuation */
                "a\xbf",
                "\xc0\x80",             /* overlong NUL */
                "\xc1\xbf",             /* overlong */
                "\xe0\x80\xaf",         /* overlong '/' */
                "\xe0\x9f\xbf",         /* overlong U+07FF */
                "\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
                "\xed\xa0\x80",         /* encoded high surrogate */
                "\xed\xbf\xbf",         /* encoded low surrogate */
                "\xf4\x90\x80\x80",     /* U+110000 */
                "\xf5\x80\x80\x80",
                "\xff",
                "\xc3",                 /* truncated */
                "\xe2\x82",
                "\xf0\x9f\x98",
                "\xe2\x82x",            /* continuation replaced */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint8_t u[32];
                ck_assert_msg(utf8_to_utf16(u, 16, bad[i], strlen(bad[i])) == -EILSEQ, "case %zu", i);
                ck_assert_msg(utf8_validate(bad[i], strlen(bad[i])) == -EILSEQ, "case %zu", i);
        }
        /* Truncation by the length argument, not only by NUL. */
        uint8_t u[8];
        ck_assert_int_eq(utf8_to_utf16(u, 4, "\xe2\x82\xac", 2), -EILSEQ);
        ck_assert_int_eq(utf8_validate("ok\0\xc3\xa9", 5), 0);
}
END_TEST

START_TEST(test_bounded_output) {
        uint8_t u[8];
        char s[8];
        static const uint8_t abc[] = { 'a', 0, 'b', 0, 'c', 0 };

        /* 3 units + NUL need 4 units of room. */
        ck_assert_int_eq(utf8_to_utf16(u, 3, "abc", 3), -ENOBUFS);
        ck_assert_int_eq(units_of(u), 0);
        ck_assert_int_eq(utf8_to_utf16(u, 4, "abc", 3), 3);
        /* A pair never gets split by the bound. */
        ck_assert_int_eq(utf8_to_utf16(u, 2, "\xf0\x9f\x98\x80", 4), -ENOBUFS);
        ck_assert_int_eq(utf8_to_utf16(u, 0, "", 0), -ENOBUFS);
        ck_assert_int_eq(utf8_to_utf16(u, 1, "", 0), 0);

        ck_assert_int_eq(utf16_to_utf8(s, 3, abc, 3), -ENOBUFS);
        ck_assert_str_eq(s, "");
        ck_assert_int_eq(utf16_to_utf8(s, 4, abc, 3), 3);
        ck_assert_int_eq(utf16_to_utf8(s, 0, abc, 0), -ENOBUFS);
}
END_TEST

START_TEST(test_prefix_and_fit) {
        uint8_t u[16];
        bool t = false;

        /* "a€😀" = 1 + 1 + 2 units. */
        const char *s = "a\xe2\x82\xac\xf0\x9f\x98\x80";
        ck_assert_int_eq(utf8_to_utf16_prefix(u, 5, s, strlen(s), &t), 4);
        ck_assert(!t);
        ck_assert_int_eq(utf8_to_utf16_prefix(u, 4, s, strlen(s), &t), 2);
        ck_assert(t);
        ck_assert_int_eq(units_of(u), 2);
        ck_assert_int_eq(utf8_to_utf16_prefix(u, 4, "ab\xc0", 3, &t), -EILSEQ);

        ck_assert_int_eq(utf8_fit(s, 100, 100), 8);
        ck_assert_int_eq(utf8_fit(s, 7, 100), 4);   /* bytes cut inside the emoji */
        ck_assert_int_eq(utf8_fit(s, 100, 3), 4);   /* units: the pair does not fit */
        ck_assert_int_eq(utf8_fit(s, 3, 100), 1);   /* bytes cut inside the euro sign */
        ck_assert_int_eq(utf8_fit("x\xed\xa0\x80", 1, 1), -EILSEQ);
}
END_TEST

START_TEST(test_round_trip_all_bmp_and_planes) {
        /* Every scalar value of the BMP plus the edges of each supplementary plane. */
        _cleanup_free_ char *s = malloc(4 * 0x10000 + 4 * 34 + 1);
        _cleanup_free_ uint8_t *u = malloc(2 * (2 * 0x10000 + 2 * 34) + 2);
        _cleanup_free_ char *back = malloc(4 * 0x10000 + 4 * 34 + 1);
        size_t n = 0, units = 0;

        for (uint32_t cp = 1; cp < 0x110000; cp = cp == 0xffff ? 0x10000 : cp >= 0x10000 ? cp + 0x7fff : cp + 1) {
                if (cp >= 0xd800 && cp <= 0xdfff)
                        continue;
                if (cp < 0x80)
                        s[n++] = (char)cp;
                else if (cp < 0x800) {
                        s[n++] = (char)(0xc0 | cp >> 6);
                        s[n++] = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                        s[n++] = (char)(0xe0 | cp >> 12);
                        s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        s[n++] = (char)(0x80 | (cp & 0x3f));
                } else {
                        s[n++] = (char)(0xf0 | cp >> 18);
                        s[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        s[n++] = (char)(0x80 | (cp & 0x3f));
                }
                units += cp >= 0x10000 ? 2 : 1;
        }
        s[n] = 0;

        ck_assert_int_eq(utf8_to_utf16(u, units + 1, s, n), (ssize_t)units);
        ck_assert_int_eq(utf16_to_utf8(back, n + 1, u, units + 1), (ssize_t)n);
        ck_assert_mem_eq(back, s, n + 1);
}
END_TEST

static Suite *utf16_suite(void) {
        Suite *s = suite_create("utf16");
        TCase *tc = tcase_create("convert");
        tcase_add_test(tc, test_ascii);
        tcase_add_test(tc, test_every_length);
        tcase_add_test(tc, test_utf16_invalid);
        tcase_add_test(tc, test_utf16_stops_at_nul);
        tcase_add_test(tc, test_utf8_invalid);
        tcase_add_test(tc, test_bounded_output);
        tcase_add_test(tc, test_prefix_and_fit);
        tcase_add_test(tc, test_round_trip_all_bmp_and_planes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(utf16_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
