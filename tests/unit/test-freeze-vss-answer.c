/* What the Hyper-V host hears about a freeze or thaw (vss_status_for), the one rule the
 * VSS relay and the uio channel share: FREEZE succeeds only when frozen; THAW succeeds
 * when thawed, except when the lease or the guard had already ended the freeze, since
 * the snapshot taken meanwhile may not be consistent. */
#include <check.h>
#include <stdlib.h>

#include "pvic/freeze.h"

START_TEST(test_freeze) {
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_FREEZE, "frozen", false), VSS_HV_S_OK);
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_FREEZE, "frozen", true), VSS_HV_S_OK);
        static const char *const bad[] = { "failed:hook-timeout:10-db", "failed:cancelled", "refused:busy",
                                           "refused:already-frozen", "failed:nothing-to-freeze", "frozenx", "" };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                ck_assert_uint_eq(vss_status_for(VSS_ACTION_FREEZE, bad[i], false), VSS_HV_E_FAIL);
}
END_TEST

START_TEST(test_thaw) {
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_THAW, "thawed", false), VSS_HV_S_OK);
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_THAW, "thawed:cancelled", false), VSS_HV_S_OK);
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_THAW, "thawed:not-frozen", false), VSS_HV_S_OK);
        /* The lease thawed before the host asked: the host must not keep the snapshot. */
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_THAW, "thawed:not-frozen", true), VSS_HV_E_FAIL);
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_THAW, "failed:thaw", false), VSS_HV_E_FAIL);
        ck_assert_uint_eq(vss_status_for(VSS_ACTION_THAW, "refused:busy", false), VSS_HV_E_FAIL);
}
END_TEST

START_TEST(test_reply_overlays_status) {
        struct vss_request req;
        uint8_t msg[VSS_MSG_SIZE] = { VSS_OP_HOT_BACKUP }, out[VSS_MSG_SIZE];
        ck_assert_int_eq(vss_decode(msg, sizeof msg, false, &req), VSS_ACTION_HOT_BACKUP);
        vss_encode_reply(&req, VSS_HV_E_FAIL, out);
        ck_assert_uint_eq(out[0] | out[1] << 8 | out[2] << 16 | (uint32_t)out[3] << 24, VSS_HV_E_FAIL);
        ck_assert_uint_eq(out[8], VSS_HBU_NO_AUTO_RECOVERY);
        ck_assert_int_eq(vss_decode(msg, sizeof msg - 1, false, &req), VSS_ACTION_INVALID);
}
END_TEST

int main(void) {
        Suite *s = suite_create("freeze-vss-answer");
        TCase *tc = tcase_create("answer");
        tcase_add_test(tc, test_freeze);
        tcase_add_test(tc, test_thaw);
        tcase_add_test(tc, test_reply_overlays_status);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
