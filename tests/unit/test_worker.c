/* Unit tests of webhook delivery (pkg/delivery): the retry rule, the documented backoff schedule,
 * and the SSRF check at connect time (against a local listener that must see no connection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "delivery/delivery.h"

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(delivery_classify(200, true, false), DELIVERY_OK);
    assert_int_equal(delivery_classify(204, true, false), DELIVERY_OK);
    assert_int_equal(delivery_classify(299, false, false), DELIVERY_OK);   /* body cut off after a 2xx */
    assert_int_equal(delivery_classify(0, false, false), DELIVERY_RETRY);  /* no response at all */
    assert_int_equal(delivery_classify(301, true, false), DELIVERY_RETRY); /* redirects not followed */
    assert_int_equal(delivery_classify(408, true, false), DELIVERY_RETRY);
    assert_int_equal(delivery_classify(429, true, false), DELIVERY_RETRY);
    assert_int_equal(delivery_classify(500, true, false), DELIVERY_RETRY);
    assert_int_equal(delivery_classify(503, true, false), DELIVERY_RETRY);
    assert_int_equal(delivery_classify(400, true, false), DELIVERY_PERMANENT);
    assert_int_equal(delivery_classify(401, true, false), DELIVERY_PERMANENT);
    assert_int_equal(delivery_classify(404, true, false), DELIVERY_PERMANENT);
    assert_int_equal(delivery_classify(410, true, false), DELIVERY_PERMANENT);
    assert_int_equal(delivery_classify(0, false, true), DELIVERY_FORBIDDEN);
}

static void test_backoff_schedule(void **state)
{
    (void)state;
    /* the documented schedule at the jitter's midpoint: 1 s, 4 s, 16 s, 64 s, 256 s, 1024 s, 1 h */
    const long expect[] = {1000, 4000, 16000, 64000, 256000, 1024000, 3600000, 3600000, 3600000};
    for (int n = 1; n <= 9; n++)
        assert_int_equal(delivery_backoff_ms(n, 0.5), expect[n - 1]);
    /* ±20 % bounds, and every delay is longer than the previous one whatever the jitter */
    for (int n = 1; n <= 6; n++) {
        assert_int_equal(delivery_backoff_ms(n, 0.0), expect[n - 1] * 8 / 10);
        assert_true(delivery_backoff_ms(n, 0.999999) < expect[n - 1] * 12 / 10);
        assert_true(delivery_backoff_ms(n + 1, 0.0) > delivery_backoff_ms(n, 0.999999));
    }
    assert_true(delivery_backoff_ms(50, 0.999) <= 3600000L * 12 / 10);
    assert_int_equal(delivery_backoff_ms(1, 7.0), 1000); /* out-of-range randomness: midpoint */
}

/* A listening socket on 127.0.0.1; returns its fd and port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static struct delivery_result run_one(struct delivery_pool *pool, const char *url, int listen_fd)
{
    struct delivery_request req = {.url = url,
                                   .secret = "whsec_test",
                                   .event_id = "00000000-0000-4000-8000-000000000001",
                                   .event_type = "task.created",
                                   .attempt = 1,
                                   .body = "{}",
                                   .body_len = 2,
                                   .user = (void *)pool};
    char why[128];
    assert_true(delivery_start(pool, &req, why, sizeof(why)));
    assert_int_equal(delivery_in_flight(pool), 1);
    struct delivery_result res;
    for (int i = 0; i < 200; i++) {
        /* a connection that does arrive is closed at once: the attempt then fails without a status */
        int c = accept(listen_fd, NULL, NULL);
        if (c >= 0)
            close(c);
        assert_true(delivery_wait(pool, NULL, 0, 20));
        if (delivery_next_result(pool, &res)) {
            assert_ptr_equal(res.user, pool);
            assert_int_equal(delivery_in_flight(pool), 0);
            return res;
        }
    }
    fail_msg("no result within 4 s");
    return res;
}

/* The verdict both `bollard worker` and `bollard dev` apply after an attempt. */
static void test_judge(void **state)
{
    (void)state;
    long delay = -1;
    struct delivery_result res = {.outcome = DELIVERY_OK, .status = 200};
    assert_int_equal(delivery_judge(&res, 1, 3, &delay), DELIVERY_VERDICT_DONE);
    assert_int_equal(delay, 0);

    res = (struct delivery_result){.outcome = DELIVERY_RETRY, .status = 503};
    assert_int_equal(delivery_judge(&res, 1, 3, &delay), DELIVERY_VERDICT_RETRY);
    assert_true(delay >= 800 && delay < 1200);
    assert_int_equal(delivery_judge(&res, 2, 3, &delay), DELIVERY_VERDICT_RETRY);
    assert_true(delay >= 3200 && delay < 4800);
    assert_int_equal(delivery_judge(&res, 3, 3, &delay), DELIVERY_VERDICT_DEAD); /* the last attempt */
    assert_int_equal(delay, 0);

    res.retry_after = 120; /* a receiver's Retry-After longer than the backoff wins */
    assert_int_equal(delivery_judge(&res, 1, 3, &delay), DELIVERY_VERDICT_RETRY);
    assert_int_equal(delay, 120000);

    enum delivery_outcome permanent[] = {DELIVERY_PERMANENT, DELIVERY_FORBIDDEN, DELIVERY_INVALID_URL};
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++) {
        res = (struct delivery_result){.outcome = permanent[i], .status = 400};
        assert_int_equal(delivery_judge(&res, 1, 8, &delay), DELIVERY_VERDICT_DEAD);
    }
}

static void test_forbidden_targets_are_never_contacted(void **state)
{
    (void)state;
    int port = 0;
    int lfd = listener(&port);
    struct delivery_options opts = {.timeout_ms = 3000, .allow_private = false, .user_agent = "test"};
    struct delivery_pool *pool = delivery_pool_new(2, &opts);
    assert_non_null(pool);
    char url[128];
    const char *forms[] = {"http://127.0.0.1:%d/hook", "http://localhost:%d/hook",
                           "http://[::ffff:127.0.0.1]:%d/"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(url, sizeof(url), forms[i], port);
        struct delivery_result res = run_one(pool, url, lfd);
        assert_int_equal(res.outcome, DELIVERY_FORBIDDEN);
        assert_int_equal(res.status, 0);
        assert_non_null(strstr(res.error, "forbidden address"));
        /* the listener never saw a connection attempt */
        assert_int_equal(accept(lfd, NULL, NULL), -1);
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    /* URL rules apply again at delivery time: such a URL is never handed to the network */
    struct delivery_result res = run_one(pool, "ftp://127.0.0.1/x", lfd);
    assert_int_equal(res.outcome, DELIVERY_INVALID_URL);
    res = run_one(pool, "http://user:pw@example.com/x", lfd);
    assert_int_equal(res.outcome, DELIVERY_INVALID_URL);
    delivery_pool_free(pool);

    /* With private targets allowed the same URL is contacted (and fails: the listener hangs up). */
    opts.allow_private = true;
    pool = delivery_pool_new(1, &opts);
    assert_non_null(pool);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    res = run_one(pool, url, lfd);
    assert_int_equal(res.outcome, DELIVERY_RETRY);
    assert_int_equal(res.status, 0);
    delivery_pool_free(pool);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_forbidden_targets_are_never_contacted),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
