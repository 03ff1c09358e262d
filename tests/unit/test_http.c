/* http: the RFC 9112 framing check on raw request heads (what h2o 2.2.5's parser lets through). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/http.h"

static bool ok(const char *head, const char *method, bool http10)
{
    char why[256] = "";
    bool r = http_head_framing_ok(head, strlen(head), h2o_iovec_init(method, strlen(method)), http10, why,
                                  sizeof(why));
    assert_true(r || why[0] != '\0'); /* a refusal always says why */
    return r;
}

static void test_plain_heads(void **state)
{
    (void)state;
    assert_true(ok("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false));
    assert_true(ok("GET / HTTP/1.1\r\n\r\n", "GET", false));
    /* the empty line a client may send before a request (RFC 9112 §2.2) */
    assert_true(ok("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET", false));
    /* what follows the head (a body, a pipelined request) is not looked at */
    assert_true(ok("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nab\ncd", "POST", false));
    assert_true(ok("POST /a HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", "POST", false));
}

static void test_content_length(void **state)
{
    (void)state;
    assert_true(ok("POST /a HTTP/1.1\r\nContent-Length: 4\r\ncontent-length:4 \r\n\r\n", "POST", false));
    assert_true(ok("POST /a HTTP/1.1\r\nContent-Length: 04\r\nContent-Length: 4\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nContent-Length: 0, 44\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: +4\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nContent-Length:\r\n\r\n", "POST", false));
}

static void test_transfer_encoding(void **state)
{
    (void)state;
    assert_false(
        ok("POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", false));
    assert_false(
        ok("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "POST", false));
    assert_false(ok("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "POST", false));
    assert_false(ok("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", true));
}

static void test_line_forms(void **state)
{
    (void)state;
    assert_false(ok("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", "GET", false));
    assert_false(ok("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n", "GET", false));
    assert_false(ok("GET / HTTP/1.1\nHost: x\n\n", "GET", false));
    assert_false(ok("GET / HTTP/1.1\r\nHost: x\n\r\n", "GET", false));
    assert_false(ok("GET / HTTP/1.1\r\nHost: x\r\n\n", "GET", false));
    assert_false(ok("\nGET / HTTP/1.1\r\n\r\n", "GET", false));
}

static void test_not_this_request(void **state)
{
    (void)state;
    /* the buffer must start with the request h2o parsed, and hold its whole head */
    assert_false(ok("GET / HTTP/1.1\r\n\r\n", "POST", false));
    assert_false(ok("GETX / HTTP/1.1\r\n\r\n", "GET", false));
    assert_false(ok("GET / HTTP/1.1\r\nHost: x\r\n", "GET", false));
    assert_false(ok("", "GET", false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_heads),       cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding), cmocka_unit_test(test_line_forms),
        cmocka_unit_test(test_not_this_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
