/* Unit tests of pkg/embed's lookup and Accept-Encoding check, and of pkg/console's embedded files:
 * the page refers to hashed assets that exist, every text asset carries its gzip copy, and only
 * hashed names are served under /console/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "console/console.h"
#include "embed/embed.h"

static bool accepts(const char *v)
{
    return embed_accepts_gzip(v, strlen(v));
}

static void test_accept_encoding(void **state)
{
    (void)state;
    assert_true(accepts("gzip"));
    assert_true(accepts("gzip, deflate, br, zstd"));
    assert_true(accepts("br;q=1.0, GZIP;q=0.5"));
    assert_true(accepts("deflate, *"));
    assert_true(accepts("x-gzip"));
    assert_false(accepts(""));
    assert_false(accepts("identity"));
    assert_false(accepts("br, deflate"));
    assert_false(accepts("gzip;q=0"));
    assert_false(accepts("gzip; q=0.000"));
    assert_false(accepts("*, gzip;q=0"));
    assert_false(accepts("*;q=0"));
    assert_false(accepts("gzipx, xgzip"));
    assert_true(accepts("gzip;q=0.001"));
}

static const struct embed_file *asset(const char *path)
{
    return console_asset(path, strlen(path));
}

/* Inflates f->gzip and compares it with f->data. */
static void assert_gzip_matches(const struct embed_file *f)
{
    assert_non_null(f->gzip);
    assert_true(f->gzip_len < f->len);
    unsigned char *out = malloc(f->len + 1);
    assert_non_null(out);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (unsigned char *)f->gzip;
    zs.avail_in = (unsigned)f->gzip_len;
    zs.next_out = out;
    zs.avail_out = (unsigned)f->len + 1;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, f->len);
    assert_memory_equal(out, f->data, f->len);
    inflateEnd(&zs);
    free(out);
}

static void test_page_and_assets(void **state)
{
    (void)state;
    const struct embed_file *page = asset("/");
    assert_non_null(page);
    assert_string_equal(page->content_type, "text/html; charset=utf-8");
    assert_false(page->immutable);
    assert_gzip_matches(page);
    /* Every /console/ reference of the page names a hashed, precompressed asset. */
    char *html = strndup(page->data, page->len);
    assert_non_null(html);
    int refs = 0;
    for (char *p = strstr(html, "\"/console/"); p != NULL; p = strstr(p + 1, "\"/console/")) {
        char *end = strchr(p + 1, '"');
        assert_non_null(end);
        *end = '\0';
        const struct embed_file *f = asset(p + 1);
        if (f == NULL)
            fail_msg("the page refers to %s, which is not embedded", p + 1);
        assert_true(f->immutable);
        assert_gzip_matches(f);
        assert_null(strstr(p + 1, "{{"));
        *end = '"';
        refs++;
    }
    assert_true(refs >= 3);
    assert_null(strstr(html, "{{"));
    free(html);
}

static void test_lookup_is_exact(void **state)
{
    (void)state;
    assert_null(asset(""));
    assert_null(asset("/console/"));
    assert_null(asset("/console/index.html")); /* not hashed: never under the year-long path */
    assert_null(asset("/console/app.js"));
    assert_null(asset("/console/../index.html"));
    assert_null(asset("/index.html"));
    assert_null(asset("/consolex/app.js"));
}

static void test_csp_is_strict(void **state)
{
    (void)state;
    assert_null(strstr(CONSOLE_CSP, "unsafe-inline"));
    assert_null(strstr(CONSOLE_CSP, "unsafe-eval"));
    assert_non_null(strstr(CONSOLE_CSP, "frame-ancestors 'none'"));
    assert_non_null(strstr(CONSOLE_CSP, "default-src 'none'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_encoding),
        cmocka_unit_test(test_page_and_assets),
        cmocka_unit_test(test_lookup_is_exact),
        cmocka_unit_test(test_csp_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
