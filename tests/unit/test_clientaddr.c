/* Unit tests of the client address (pkg/clientaddr): TRUSTED_PROXIES parsing, and which hop of
 * X-Forwarded-For / Forwarded names the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "clientaddr/clientaddr.h"

static struct sockaddr_storage peer4(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage peer6(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
    return ss;
}

/* Resolves with one X-Forwarded-For field (NULL: none) and one Forwarded field (NULL: none). */
static const char *resolve(const struct clientaddr_proxies *t, const struct sockaddr_storage *peer,
                           const char *xff, const char *fwd)
{
    static char out[CLIENTADDR_TEXT_MAX];
    struct clientaddr_field x = {xff, xff != NULL ? strlen(xff) : 0};
    struct clientaddr_field f = {fwd, fwd != NULL ? strlen(fwd) : 0};
    clientaddr_resolve(t, (const struct sockaddr *)peer, &x, xff != NULL, &f, fwd != NULL, out);
    return out;
}

static void test_parse(void **state)
{
    (void)state;
    char why[256];
    struct clientaddr_proxies *p = clientaddr_proxies_parse("", why, sizeof(why));
    assert_non_null(p);
    assert_int_equal(clientaddr_proxies_count(p), 0);
    clientaddr_proxies_free(p);
    p = clientaddr_proxies_parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1/128,0.0.0.0/0", why, sizeof(why));
    assert_non_null(p);
    assert_int_equal(clientaddr_proxies_count(p), 5);
    clientaddr_proxies_free(p);
    const char *bad[] = {"10.0.0.0/33",  "10.0.0.1/8",  "fd00::1/8", "proxy.internal", "10.0.0.0/",
                         "10.0.0.0/8,,", "10.0.0.0/-1", "::1/129",   "10.0.0.0/8/8",   "1.2.3.4:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_null(clientaddr_proxies_parse(bad[i], why, sizeof(why)));
        assert_non_null(strstr(why, "entry"));
        assert_null(strstr(why, bad[i])); /* names the position, not the value */
    }
    assert_null(clientaddr_proxies_parse("10.0.0.0/8, nope", why, sizeof(why)));
    assert_non_null(strstr(why, "entry 2"));
}

static void test_untrusted_peer_is_the_client(void **state)
{
    (void)state;
    struct sockaddr_storage p = peer4("198.51.100.1");
    assert_string_equal(resolve(NULL, &p, "203.0.113.7", NULL), "198.51.100.1");
    char why[256];
    struct clientaddr_proxies *t = clientaddr_proxies_parse("10.0.0.0/8", why, sizeof(why));
    assert_string_equal(resolve(t, &p, "203.0.113.7", "for=203.0.113.8"), "198.51.100.1");
    struct sockaddr_storage mapped = peer6("::ffff:198.51.100.2");
    assert_string_equal(resolve(t, &mapped, "203.0.113.7", NULL), "198.51.100.2");
    assert_string_equal(resolve(t, NULL, NULL, NULL), "unknown");
    clientaddr_proxies_free(t);
}

static void test_x_forwarded_for(void **state)
{
    (void)state;
    char why[256];
    struct clientaddr_proxies *t =
        clientaddr_proxies_parse("10.0.0.0/8, 127.0.0.1, fd00::/8", why, sizeof(why));
    struct sockaddr_storage p = peer4("10.1.2.3");
    assert_string_equal(resolve(t, &p, "203.0.113.7", NULL), "203.0.113.7");
    /* the client wrote the left-most entries; the proxy appended what it saw */
    assert_string_equal(resolve(t, &p, "1.1.1.1, 203.0.113.7", NULL), "203.0.113.7");
    /* trusted hops are skipped from the right */
    assert_string_equal(resolve(t, &p, "1.1.1.1, 203.0.113.7, 10.9.9.9 ,127.0.0.1", NULL), "203.0.113.7");
    /* every hop trusted: the left-most */
    assert_string_equal(resolve(t, &p, "10.0.0.5, 10.0.0.6", NULL), "10.0.0.5");
    /* ports and brackets, IPv6 written canonically */
    assert_string_equal(resolve(t, &p, "203.0.113.7:4711", NULL), "203.0.113.7");
    assert_string_equal(resolve(t, &p, "[2001:DB8::1]:443", NULL), "2001:db8::1");
    assert_string_equal(resolve(t, &p, "2001:db8:0::2", NULL), "2001:db8::2");
    assert_string_equal(resolve(t, &p, "::ffff:203.0.113.9", NULL), "203.0.113.9");
    /* a hop that is not an address stops the walk at the trusted hop right of it */
    assert_string_equal(resolve(t, &p, "203.0.113.7, garbage", NULL), "10.1.2.3");
    assert_string_equal(resolve(t, &p, "203.0.113.7, unknown, 10.0.0.9", NULL), "10.0.0.9");
    assert_string_equal(resolve(t, &p, "", NULL), "10.1.2.3");
    /* X-Forwarded-For wins over Forwarded */
    assert_string_equal(resolve(t, &p, "203.0.113.7", "for=198.51.100.1"), "203.0.113.7");
    /* several fields are one list, in order */
    struct clientaddr_field two[2] = {{"1.1.1.1, 203.0.113.1", 20}, {"198.51.100.4, 10.0.0.1", 22}};
    char out[CLIENTADDR_TEXT_MAX];
    clientaddr_resolve(t, (const struct sockaddr *)&p, two, 2, NULL, 0, out);
    assert_string_equal(out, "198.51.100.4");
    /* an IPv6 proxy */
    struct sockaddr_storage p6 = peer6("fd00::7");
    assert_string_equal(resolve(t, &p6, "203.0.113.7", NULL), "203.0.113.7");
    clientaddr_proxies_free(t);
}

static void test_forwarded(void **state)
{
    (void)state;
    char why[256];
    struct clientaddr_proxies *t = clientaddr_proxies_parse("10.0.0.0/8", why, sizeof(why));
    struct sockaddr_storage p = peer4("10.1.2.3");
    assert_string_equal(resolve(t, &p, NULL, "for=203.0.113.7"), "203.0.113.7");
    assert_string_equal(resolve(t, &p, NULL, "For=\"203.0.113.7\""), "203.0.113.7");
    assert_string_equal(resolve(t, &p, NULL, "for=\"[2001:db8:cafe::17]:4711\";proto=https"),
                        "2001:db8:cafe::17");
    assert_string_equal(resolve(t, &p, NULL, "for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;proto=http"),
                        "198.51.100.17");
    assert_string_equal(resolve(t, &p, NULL, "for=192.0.2.43, for=\"10.0.0.8:80\""), "192.0.2.43");
    assert_string_equal(resolve(t, &p, NULL, "proto=https;for=\"203.0.113.7\";host=\"a,b\""), "203.0.113.7");
    /* obfuscated or unknown nodes and elements without for= are not addresses */
    assert_string_equal(resolve(t, &p, NULL, "for=192.0.2.43, for=_hidden"), "10.1.2.3");
    assert_string_equal(resolve(t, &p, NULL, "for=192.0.2.43, proto=http"), "10.1.2.3");
    assert_string_equal(resolve(t, &p, NULL, "for=\"203.0.113.7"), "10.1.2.3");
    assert_string_equal(resolve(t, &p, NULL, "for=192.0.2.1;for=192.0.2.2"), "10.1.2.3");
    clientaddr_proxies_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_untrusted_peer_is_the_client),
        cmocka_unit_test(test_x_forwarded_for),
        cmocka_unit_test(test_forwarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
