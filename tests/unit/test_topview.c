/* test_topview.c -- unit tests of the `top` screen and `stats` tables (control/topview.c).
 *
 * Fixed answers in the daemon's format go in; the text that comes out is
 * checked line by line: what each section shows, "-" for null or missing
 * values, the accounts placeholder and the accounts table, the width and
 * height limits of a screen, and the duration format. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/topview.h"

static const char *const topAnswer =
    "{\"interval_ms\":1000,"
    "\"cores\":[{\"lcore\":0,\"cpu\":0,\"role\":\"control\",\"busy_permille\":31},"
    "{\"lcore\":1,\"cpu\":1,\"role\":\"worker\",\"segment\":0,\"busy_permille\":125}],"
    "\"rates\":{\"orders_per_s\":5,\"orders\":6,\"trades_per_s\":1,\"trades\":2,"
    "\"cancels_per_s\":0,\"rx_packets_per_s\":7,\"tx_packets_per_s\":8},"
    "\"latency\":[{\"name\":\"in_box\",\"segment\":0,\"count\":22,\"p50_ns\":4600,"
    "\"p90_ns\":13300,\"p99_ns\":35400,\"p999_ns\":35400,\"max_ns\":35400},"
    "{\"name\":\"matcher\",\"segment\":0,\"count\":0,\"p50_ns\":null,\"p90_ns\":null,"
    "\"p99_ns\":null,\"p999_ns\":null,\"max_ns\":null}],"
    "\"books\":[{\"id\":\"IF2501\",\"segment\":0,\"state\":\"continuous\",\"orders\":6,"
    "\"trades\":2,\"traded_lots\":2,\"bid\":\"3799.8\",\"bid_qty\":1,\"ask\":\"3802.0\","
    "\"ask_qty\":5,\"bid_levels\":2,\"ask_levels\":1,\"orders_per_s\":5,\"trades_per_s\":1},"
    "{\"id\":\"IC2501\",\"segment\":0,\"state\":\"closed\",\"orders\":0,\"trades\":0,"
    "\"traded_lots\":0,\"bid\":null,\"bid_qty\":0,\"ask\":null,\"ask_qty\":0,"
    "\"bid_levels\":0,\"ask_levels\":0,\"orders_per_s\":0,\"trades_per_s\":0}],"
    "\"accounts\":{\"available\":false,\"message\":\"accounts are not yet available in this "
    "build\"},"
    "\"host\":{\"cpus\":[{\"cpu\":0,\"busy_permille\":120,\"user_permille\":65,"
    "\"system_permille\":43,\"steal_permille\":11},{\"cpu\":1,\"busy_permille\":null}],"
    "\"memory\":{\"total_bytes\":25274793984,\"available_bytes\":20234199040,"
    "\"hugepages_total\":2048,\"hugepages_free\":2041},"
    "\"network\":[{\"device\":\"lo\",\"rx_bytes\":1,\"tx_bytes\":2,\"rx_bytes_per_s\":397469,"
    "\"tx_bytes_per_s\":397469,\"rx_packets_per_s\":87,\"tx_packets_per_s\":87}],"
    "\"load1\":\"3.02\",\"load5\":\"2.40\",\"load15\":\"1.63\",\"busy_permille\":574}}";

/* Renders and returns the text (caller frees); *lines gets the line count. */
static char *renderTop(const char *json, int width, int height, int *lines)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    if (!j)
        fail_msg("bad fixture: %s", e.text);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *lines = tvRenderTop(j, "xchg top  12:00:00", width, height, f);
    fclose(f);
    json_decref(j);
    return buf;
}

/* The line that starts with prefix, or fails. */
static const char *lineWith(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (!p)
        fail_msg("no '%s' in:\n%s", needle, text);
    return p;
}

static void test_top_sections(void **state)
{
    (void)state;
    int n;
    char *t = renderTop(topAnswer, 132, 200, &n);
    assert_true(n > 20);
    assert_memory_equal(t, "xchg top  12:00:00\n", 19);
    lineWith(t, "\nLCORE  ROLE     CPU  SEGMENT   BUSY\n");
    lineWith(t, "\n    0  control    0        -   3.1%\n");
    lineWith(t, "\n    1  worker     1        0  12.5%\n");
    lineWith(t, "\norders 5/s total 6   trades 1/s total 2   cancels 0/s   rx 7 pps  tx 8 pps\n");
    lineWith(t, "\n0        in_box      22  4.60us  13.3us  35.4us  35.4us  35.4us\n");
    lineWith(t, "\n0        matcher      0       -       -       -       -       -\n");
    lineWith(t, "\nIF2501      0    continuous      5      1       6       2        1  3799.8  "
                "3802.0        5\n");
    lineWith(t, "\nIC2501      0        closed      0      0       0       0        0       -"
                "       -        0\n");
    lineWith(t, "\nACCOUNTS (nearest liquidation)\n  accounts are not yet available in this "
                "build\n");
    lineWith(t, "\nHOST  cpu 57.4% busy  load 3.02 2.40 1.63\n");
    lineWith(t, "\n  0  12.0%  6.5%    4.3%   1.1%\n");
    lineWith(t, "\n  1      -     -       -      -\n");
    lineWith(t, "\nmem 23.5GiB total, 18.8GiB avail; hugepages 2048 total, 2041 free\n");
    lineWith(t, "\nlo          397469      397469         87         87\n");
    free(t);
}

static void test_top_limits(void **state)
{
    (void)state;
    int n;
    char *t = renderTop(topAnswer, 40, 12, &n);
    assert_int_equal(n, 12);
    int lines = 0;
    for (char *p = t, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++)
        assert_true(nl - p <= 40);
    assert_int_equal(lines, 12);
    free(t);
    t = renderTop(topAnswer, 19, 100, &n);
    assert_int_equal(n, 0);
    assert_string_equal(t, "");
    free(t);
    t = renderTop(topAnswer, 80, 0, &n);
    assert_int_equal(n, 0);
    free(t);
}

static void test_top_missing_and_accounts(void **state)
{
    (void)state;
    int n;
    /* an empty answer (an older daemon): every value is "-", nothing crashes */
    char *t = renderTop("{}", 100, 100, &n);
    lineWith(t, "\norders -/s total -   trades -/s total -");
    lineWith(t, "\nHOST  (no sample yet)\n");
    free(t);
    /* once accounts exist the daemon sends them as rows */
    t = renderTop(
        "{\"accounts\":[{\"account\":1001,\"risk_ratio\":\"0.97\",\"balance\":\"1000000\","
        "\"margin\":\"970000\",\"available\":\"30000\"}]}",
        100, 100, &n);
    lineWith(t, "\nACCOUNT  RISK_RATIO  BALANCE  MARGIN  AVAILABLE\n");
    lineWith(t, "\n   1001        0.97  1000000  970000      30000\n");
    assert_null(strstr(t, "not yet available"));
    free(t);
}

static void test_stats_tables(void **state)
{
    (void)state;
    const char *js =
        "{\"segments\":[{\"segment\":0,\"lcore\":1,\"rx_packets\":23,\"tx_packets\":19,"
        "\"busy_permille\":3,\"orders_resting\":3,\"request_ring\":0,"
        "\"gateway\":{\"datagrams_in\":22,\"new_orders\":6,\"executions\":4,\"logons\":6,"
        "\"logon_rejects\":0,\"throttled\":0,\"gaps\":0,\"duplicates\":0},"
        "\"sessions_by_state\":{\"idle\":2,\"logged_on\":0,\"disabled\":0},"
        "\"drops\":{\"logon_throttled\":4},"
        "\"in_box_latency\":{\"count\":22,\"p50_ns\":4600,\"p90_ns\":13300,\"p99_ns\":35400,"
        "\"p999_ns\":35400,\"max_ns\":35400},"
        "\"matcher_latency\":{\"count\":6,\"p50_ns\":4090,\"p90_ns\":29800,\"p99_ns\":29800,"
        "\"p999_ns\":29800,\"max_ns\":29800}}],"
        "\"instruments\":[{\"id\":\"IF2501\",\"segment\":0,\"state\":\"continuous\",\"orders\":6,"
        "\"trades\":2,\"traded_lots\":2,\"bid\":\"3799.8\",\"bid_qty\":1,\"ask\":\"3802.0\","
        "\"ask_qty\":5,\"bid_levels\":2,\"ask_levels\":1}],"
        "\"port\":{\"port\":\"p0\",\"ipackets\":23,\"opackets\":19,\"ibytes\":2102,"
        "\"obytes\":1934,\"imissed\":0,\"ierrors\":0,\"oerrors\":0,\"rx_nombuf\":0}}";
    json_t *j = json_loads(js, 0, NULL);
    assert_non_null(j);
    char *t = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&t, &len);
    tvRenderStats(j, f);
    fclose(f);
    lineWith(t, "SEGMENT  LCORE  BUSY  RX_PACKETS  TX_PACKETS  DGRAMS_IN  NEW_ORDERS  EXECUTIONS"
                "  RESTING  LOGGED_ON  REQ_RING\n"
                "0            1  0.3%          23          19         22           6           4"
                "        3          0         0\n");
    lineWith(t, "\n0        in_box      22  4.60us  13.3us  35.4us  35.4us  35.4us\n");
    lineWith(t, "\n0        matcher      6  4.09us  29.8us  29.8us  29.8us  29.8us\n");
    lineWith(t, "\n0        logon_throttled      4\n");
    lineWith(t, "\nIF2501      0        continuous       6       2     2        1  3799.8  3802.0"
                "        5     2/1\n");
    lineWith(t,
             "\np0          23        19    2102    1934        0        0        0          0\n");
    assert_null(strstr(t, "HOST")); /* no host data, no section */
    free(t);
    json_object_set_new(json_array_get(json_object_get(j, "segments"), 0), "drops", json_object());
    f = open_memstream(&t, &len);
    tvRenderStats(j, f);
    fclose(f);
    lineWith(t, "\nDROPS\n(no drops)\n");
    free(t);
    json_decref(j);
}

static void test_format_ns(void **state)
{
    (void)state;
    static const struct {
        long long ns;
        const char *want;
    } c[] = {
        {0, "0ns"},          {999, "999ns"},        {1000, "1.00us"},           {1234, "1.23us"},
        {12345, "12.3us"},   {123456, "123us"},     {999999, "999us"},          {1000000, "1.00ms"},
        {1500000, "1.50ms"}, {2500000000, "2.50s"}, {1234000000000LL, "1234s"}, {-1, "-"}};
    char buf[32];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        assert_string_equal(tvFormatNs(c[i].ns, buf, sizeof buf), c[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_sections),
        cmocka_unit_test(test_top_limits),
        cmocka_unit_test(test_top_missing_and_accounts),
        cmocka_unit_test(test_stats_tables),
        cmocka_unit_test(test_format_ns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
