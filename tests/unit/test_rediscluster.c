/* rediscluster: key slots, redirect and retryable replies, slot maps and the node list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rediscluster/rediscluster.h"

static redisReply *error_reply(const char *text)
{
    redisReader *rd = redisReaderCreate();
    char buf[300];
    snprintf(buf, sizeof(buf), "-%s\r\n", text);
    redisReaderFeed(rd, buf, strlen(buf));
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    redisReaderFree(rd);
    return reply;
}

static redisReply *parse(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    redisReaderFeed(rd, resp, strlen(resp));
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

static void test_key_slot(void **state)
{
    (void)state;
    /* the values redis-cli CLUSTER KEYSLOT gives */
    assert_int_equal(rediscluster_key_slot("foo", 3), 12182);
    assert_int_equal(rediscluster_key_slot("webhooks", 8), rediscluster_key_slot("{webhooks}", 10));
    const char *k = "bollard:{webhooks}:jobs";
    assert_int_equal(rediscluster_key_slot(k, strlen(k)), rediscluster_key_slot("webhooks", 8));
    assert_int_equal(rediscluster_key_slot("webhooks", 8), 4418);
    assert_int_equal(rediscluster_key_slot("a{}b", 4), 13694); /* an empty tag: the whole key is hashed */
}

static void test_redirects(void **state)
{
    (void)state;
    struct rediscluster_node to;
    redisReply *r = error_reply("MOVED 3999 127.0.0.1:6381");
    assert_int_equal(rediscluster_redirect_parse(r, &to), REDISCLUSTER_MOVED);
    assert_string_equal(to.host, "127.0.0.1");
    assert_int_equal(to.port, 6381);
    freeReplyObject(r);
    r = error_reply("ASK 3999 ::1:7000");
    assert_int_equal(rediscluster_redirect_parse(r, &to), REDISCLUSTER_ASK);
    assert_string_equal(to.host, "::1");
    assert_int_equal(to.port, 7000);
    freeReplyObject(r);
    r = error_reply("MOVED x 127.0.0.1:6381");
    assert_int_equal(rediscluster_redirect_parse(r, &to), REDISCLUSTER_NONE);
    freeReplyObject(r);
    r = error_reply("MOVED 3999 nowhere");
    assert_int_equal(rediscluster_redirect_parse(r, &to), REDISCLUSTER_NONE);
    freeReplyObject(r);
    r = error_reply("CLUSTERDOWN The cluster is down");
    assert_true(rediscluster_retryable(r));
    assert_int_equal(rediscluster_redirect_parse(r, &to), REDISCLUSTER_NONE);
    freeReplyObject(r);
    r = error_reply("TRYAGAIN Multiple keys request during rehashing of slot");
    assert_true(rediscluster_retryable(r));
    freeReplyObject(r);
    r = error_reply("ERR unknown command");
    assert_false(rediscluster_retryable(r));
    freeReplyObject(r);
}

static void test_slot_map(void **state)
{
    (void)state;
    struct url_redis u;
    assert_true(url_redis_parse("redis://:pw@10.0.0.1:7000,10.0.0.2:7001/0", &u));
    assert_int_equal(u.n_seeds, 2);
    struct rediscluster c;
    rediscluster_init(&c, &u);
    assert_int_equal(c.n_nodes, 2);
    assert_string_equal(rediscluster_target(&c)->host, "10.0.0.1");
    /* {webhooks} is slot 4418 (CRC16 of "webhooks"): the master of the range holding it, with the
     * target's own address given as "" */
    unsigned home = rediscluster_key_slot("webhooks", 8);
    char map[600];
    snprintf(map, sizeof(map),
             "*2\r\n"
             "*4\r\n:0\r\n:%u\r\n*3\r\n$0\r\n\r\n:7000\r\n$2\r\nid\r\n*3\r\n$8\r\n10.0.0.5\r\n:7005\r\n$"
             "2\r\nid\r\n"
             "*4\r\n:%u\r\n:16383\r\n*3\r\n$8\r\n10.0.0.3\r\n:7002\r\n$2\r\nid\r\n*3\r\n$8\r\n10.0.0.4\r\n:"
             "7003\r\n$2\r\nid\r\n",
             home - 1, home);
    redisReply *r = parse(map);
    assert_int_equal(rediscluster_apply_slots(&c, r), 1);
    assert_true(c.enabled);
    assert_string_equal(rediscluster_target(&c)->host, "10.0.0.3");
    assert_int_equal(rediscluster_target(&c)->port, 7002);
    assert_int_equal(c.n_nodes, 5); /* 2 seeds (10.0.0.1:7000 is the "" entry) + 3 learnt */
    assert_int_equal(rediscluster_apply_slots(&c, r), 0); /* already there */
    freeReplyObject(r);
    /* round robin over every known node */
    for (int i = 0; i < c.n_nodes; i++)
        rediscluster_next(&c);
    assert_string_equal(rediscluster_target(&c)->host, "10.0.0.3");
    /* a standalone server */
    r = error_reply("ERR This instance has cluster support disabled");
    assert_int_equal(rediscluster_apply_slots(&c, r), 0);
    freeReplyObject(r);
    /* MOVED to a new node */
    assert_true(rediscluster_retarget(&c, "10.0.0.9", 7009));
    assert_false(rediscluster_retarget(&c, "10.0.0.9", 7009));
    /* bounded */
    for (int i = 0; i < 40; i++) {
        char host[32];
        snprintf(host, sizeof(host), "10.1.0.%d", i);
        rediscluster_retarget(&c, host, 7000);
    }
    assert_int_equal(c.n_nodes, REDISCLUSTER_NODES_MAX);
    assert_string_equal(c.nodes[0].host, "10.0.0.1"); /* seeds are kept */
    assert_string_equal(c.nodes[1].host, "10.0.0.2");
}

static void test_url_seeds(void **state)
{
    (void)state;
    struct url_redis u;
    assert_true(url_redis_parse("rediss://app:pw@a.svc,b.svc:6380,[::1]:7000/2", &u));
    assert_int_equal(u.n_seeds, 3);
    assert_string_equal(u.host, "a.svc");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.seeds[1].host, "b.svc");
    assert_int_equal(u.seeds[1].port, 6380);
    assert_string_equal(u.seeds[2].host, "::1");
    assert_int_equal(u.seeds[2].port, 7000);
    assert_int_equal(u.db, 2);
    assert_false(url_redis_parse("redis://a,,b", &u));
    assert_false(url_redis_parse("redis://a,", &u));
    assert_false(url_redis_parse("redis://a,b,c,d,e,f,g,h,i", &u)); /* more than URL_REDIS_SEEDS_MAX */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_slot_map),
        cmocka_unit_test(test_url_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
