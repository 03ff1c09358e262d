/* auth: the loop's memo of verified tokens answers exactly what a fresh verification would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"

#define SECRET "unit-test-secret-key-0123456789abcdef"
#define ALICE  "0b1e7a52-4c1f-4f39-9a8e-1d2c3b4a5f60"
#define BOB    "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"

struct fixture {
    h2o_evloop_t *loop;
    h2o_multithread_queue_t *queue;
    struct auth_loop *auth;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->loop = h2o_evloop_create();
    f->queue = h2o_multithread_create_queue(f->loop);
    f->auth = auth_loop_create(NULL, f->queue); /* no hasher: only tokens are used here */
    *state = f;
    return f->auth != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    auth_loop_destroy(f->auth);
    /* h2o 2.2.5 does not free the queue itself (tests/lsan.supp, which `make unit` applies). */
    h2o_multithread_destroy_queue(f->queue);
    h2o_evloop_run(f->loop, 0); /* the loop closes the queue's socket */
    h2o_evloop_destroy(f->loop);
    free(f);
    return 0;
}

static enum auth_token_status verify(struct auth_loop *l, const char *token, time_t now, char *user)
{
    return auth_loop_token_verify(l, SECRET, strlen(SECRET), token, strlen(token), now, user);
}

static void test_memo_answers_like_a_fresh_verification(void **state)
{
    struct fixture *f = *state;
    time_t now = 1900000000, exp = 0;
    char *alice = auth_token_issue(SECRET, strlen(SECRET), ALICE, 1, now, &exp);
    char *bob = auth_token_issue(SECRET, strlen(SECRET), BOB, 1, now, &exp);
    assert_non_null(alice);
    assert_non_null(bob);
    char user[BASE_UUID_LEN + 1];
    for (int round = 0; round < 3; round++) { /* the first verifies, the others hit the memo */
        memset(user, 0, sizeof(user));
        assert_int_equal(verify(f->auth, alice, now, user), AUTH_TOKEN_OK);
        assert_string_equal(user, ALICE);
        assert_int_equal(verify(f->auth, bob, now, user), AUTH_TOKEN_OK);
        assert_string_equal(user, BOB);
    }
    /* exp is checked on every use, memo or not. */
    assert_int_equal(verify(f->auth, alice, exp, user), AUTH_TOKEN_EXPIRED);
    assert_int_equal(verify(NULL, alice, exp, user), AUTH_TOKEN_EXPIRED);
    assert_int_equal(verify(f->auth, alice, exp - 1, user), AUTH_TOKEN_OK);
    free(alice);
    free(bob);
}

static void test_a_token_near_a_remembered_one_is_verified_and_refused(void **state)
{
    struct fixture *f = *state;
    time_t now = 1900000000, exp = 0;
    char *alice = auth_token_issue(SECRET, strlen(SECRET), ALICE, 1, now, &exp);
    char *other = auth_token_issue("another-secret-key-0123456789abcdefgh", 37, ALICE, 1, now, &exp);
    assert_non_null(alice);
    assert_non_null(other);
    char user[BASE_UUID_LEN + 1];
    assert_int_equal(verify(f->auth, alice, now, user), AUTH_TOKEN_OK); /* remembered now */
    /* Every single-byte change of a remembered token, and the same claims under another key. */
    size_t len = strlen(alice);
    for (size_t i = 0; i < len; i++) {
        char *t = strdup(alice);
        assert_non_null(t);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(verify(f->auth, t, now, user), AUTH_TOKEN_OK);
        free(t);
    }
    assert_int_equal(verify(f->auth, other, now, user), AUTH_TOKEN_INVALID);
    assert_int_equal(verify(f->auth, alice, now, user), AUTH_TOKEN_OK);
    /* A token longer than the memo holds is verified each time, with the same answers. */
    char *junk = malloc(2000);
    assert_non_null(junk);
    memset(junk, 'a', 1999);
    junk[1999] = '\0';
    assert_int_equal(verify(f->auth, junk, now, user), AUTH_TOKEN_INVALID);
    free(junk);
    free(alice);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memo_answers_like_a_fresh_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_token_near_a_remembered_one_is_verified_and_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
