/* POST /api/auth/signup and /api/auth/signin. Password hashing runs on pkg/auth's threads. Before a
 * password is hashed the attempt is counted in Redis in one atomic step (limits.c), so concurrent
 * attempts cannot outrun the limits: sign-ins per (account, client address), per account and per
 * client address; sign-ups per client address. The client address is pkg/clientaddr's. */
#include "api/api_internal.h"
#include "config/config.h"
#include "rediscluster/rediscluster.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMAIL_MAX    254 /* characters (code points), as the OpenAPI document's maxLength counts */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 128
/* Failed sign-ins tolerated per window before 429. Per (account, client address): the guesses one
 * client gets at one account. Per account, from anywhere: a ceiling well above that, so a stranger
 * guessing from one address locks only that address out, not the owner. Per client address: the
 * guesses one client gets at all accounts together. */
#define FAIL_WINDOW_SECONDS   900
#define FAIL_LIMIT_PAIR       5
#define FAIL_LIMIT_ACCOUNT    100
#define FAIL_LIMIT_CLIENT     50
#define SIGNUP_WINDOW_SECONDS 3600
#define KEY_MAX               128
/* In the hash tag of every Bollard key (one Redis Cluster slot: the script counts several at once). */
#define KEY_PREFIX_PAIR    "bollard:" REDISCLUSTER_TAG ":signin:fail:pair:"
#define KEY_PREFIX_ACCOUNT "bollard:" REDISCLUSTER_TAG ":signin:fail:account:"
#define KEY_PREFIX_CLIENT  "bollard:" REDISCLUSTER_TAG ":signin:fail:client:"
#define KEY_PREFIX_SIGNUP  "bollard:" REDISCLUSTER_TAG ":signup:client:"

struct account_ctx {
    struct http_exchange *ex;
    char email[EMAIL_MAX * 4 + 1]; /* UTF-8: up to 4 bytes a character */
    char password[PASSWORD_MAX * 4 + 1];
    void *auth_job;
    store_handle store_call;
    void *redis_call;
    /* the counters this attempt was counted in: signin pair, account, client; signup client */
    char keys[API_LIMIT_KEYS_MAX][KEY_MAX];
    bool counted;
    char user_id[BASE_UUID_LEN + 1]; /* signin: the account found by email */
    const char *password_hash;       /* signin: its hash (request pool), NULL when there is none */
};

static void ctx_wipe(struct account_ctx *c)
{
    OPENSSL_cleanse(c->password, sizeof(c->password));
}

static void on_abandoned(struct http_exchange *ex)
{
    struct account_ctx *c = ex->handler_data;
    if (c->auth_job != NULL)
        auth_cancel(api_ctx(ex)->auth, c->auth_job);
    if (c->store_call != NULL)
        store_cancel(api_ctx(ex)->store, c->store_call);
    if (c->redis_call != NULL)
        redisconn_cancel(api_ctx(ex)->redis, c->redis_call);
    ctx_wipe(c);
}

/* Validates {email, password} into a new context; answers 4xx itself and returns NULL on failure. */
static struct account_ctx *read_credentials(struct http_exchange *ex, bool new_account)
{
    json_t *body = api_read_json_object(ex);
    if (body == NULL)
        return NULL;
    struct api_errors errors = {0};
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (strcmp(key, "email") != 0 && strcmp(key, "password") != 0)
            api_errors_add(&errors, key, "unknown field");
    }
    json_t *email = json_object_get(body, "email");
    json_t *password = json_object_get(body, "password");
    size_t email_len = json_is_string(email) ? json_string_length(email) : 0;
    const char *e = json_is_string(email) ? json_string_value(email) : NULL;
    const char *at = e != NULL ? memchr(e, '@', email_len) : NULL;
    bool email_ok = e != NULL && email_len >= 3 && email_len <= EMAIL_MAX * 4 &&
                    api_utf8_length(e, email_len) <= EMAIL_MAX && at != NULL && at != e &&
                    at != e + email_len - 1;
    for (size_t i = 0; email_ok && i < email_len; i++)
        if ((unsigned char)e[i] <= ' ' || e[i] == 0x7f)
            email_ok = false;
    if (!email_ok)
        api_errors_add(&errors, "email", "must be an email address of at most 254 characters");
    size_t pw_bytes = json_is_string(password) ? json_string_length(password) : 0;
    size_t pw_chars = json_is_string(password) ? api_utf8_length(json_string_value(password), pw_bytes) : 0;
    if (!json_is_string(password) || pw_chars > PASSWORD_MAX || (new_account && pw_chars < PASSWORD_MIN) ||
        pw_chars == 0)
        api_errors_add(&errors, "password",
                       new_account ? "must be a string of 8 to 128 characters"
                                   : "must be a non-empty string");
    if (api_errors_respond(ex, &errors)) {
        json_decref(body);
        return NULL;
    }
    struct account_ctx *c = h2o_mem_alloc_pool(&ex->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->ex = ex;
    /* ASCII case-folding only; the database's lower() folds the rest (K U+212A to k, ...) and is the
     * one authority on which account an email names: the account, the uniqueness check and the
     * sign-in limits (keyed by the account's id) all go by it. */
    for (size_t i = 0; i < email_len; i++)
        c->email[i] = (e[i] >= 'A' && e[i] <= 'Z') ? (char)(e[i] + 32) : e[i];
    memcpy(c->password, json_string_value(password), pw_bytes);
    json_decref(body);
    ex->handler_data = c;
    ex->on_abandon = on_abandoned;
    return c;
}

static void respond_token(struct account_ctx *c, int status, const char *user_id)
{
    struct http_exchange *ex = c->ex;
    const struct config *cfg = api_ctx(ex)->cfg;
    time_t expires_at = 0;
    char *token = auth_token_issue(cfg->secret_key, strlen(cfg->secret_key), user_id,
                                   cfg->jwt_expiration_days, time(NULL), &expires_at);
    if (token == NULL) {
        http_respond_problem(ex, 500, "Internal Server Error", "cannot issue a token", NULL);
        return;
    }
    char expires[32];
    struct tm tm;
    gmtime_r(&expires_at, &tm);
    strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
    http_add_header(ex, "cache-control", "no-store");
    http_respond_json(ex, status,
                      json_pack("{s:s,s:s,s:s,s:s}", "access_token", token, "token_type", "bearer", "user_id",
                                user_id, "expires_at", expires));
    free(token);
}

/* ---- signup ---- */

static void on_user_created(void *arg, const struct store_result *r)
{
    struct account_ctx *c = arg;
    c->store_call = NULL;
    if (r->status == STORE_CONFLICT) {
        http_respond_problem(c->ex, 409, "Conflict", "an account with this email already exists", NULL);
        return;
    }
    if (r->status != STORE_OK) {
        api_respond_store_status(c->ex, r->status);
        return;
    }
    respond_token(c, 201, r->user_id);
}

static void on_password_hashed(void *arg, bool ok, const char *encoded, bool matched)
{
    (void)matched;
    struct account_ctx *c = arg;
    c->auth_job = NULL;
    ctx_wipe(c);
    if (!ok) {
        http_respond_problem(c->ex, 500, "Internal Server Error", "cannot hash the password", NULL);
        return;
    }
    enum store_status immediate = STORE_OK;
    c->store_call =
        store_user_create(api_ctx(c->ex)->store, c->email, encoded, on_user_created, c, &immediate);
    if (c->store_call == NULL)
        api_respond_store_status(c->ex, immediate);
}

static void respond_hasher_busy(struct http_exchange *ex)
{
    http_add_header(ex, "retry-after", "1");
    http_respond_problem(ex, 503, "Service Unavailable", "too many sign-ins in progress; retry shortly",
                         NULL);
}

static void hash_new_password(struct account_ctx *c)
{
    c->auth_job = auth_hash_password(api_ctx(c->ex)->auth, c->password, on_password_hashed, c);
    ctx_wipe(c);
    if (c->auth_job == NULL)
        respond_hasher_busy(c->ex);
}

static void on_signup_counted(void *arg, redisReply *reply, const char *err)
{
    struct account_ctx *c = arg;
    c->redis_call = NULL;
    long wait = api_limit_wait_seconds(reply, err);
    if (wait > 0) {
        ctx_wipe(c);
        api_respond_too_many(c->ex, wait, "too many sign-ups from this address; retry later");
        return;
    }
    hash_new_password(c);
}

/* Every sign-up that passes validation counts, whatever its outcome (a taken email too): the limit
 * bounds the hashing and the accounts one client can cause. */
void api_handle_signup(struct http_exchange *ex)
{
    struct account_ctx *c = read_credentials(ex, true);
    if (c == NULL)
        return;
    const struct api_context *a = api_ctx(ex);
    if (a->redis == NULL || a->cfg->signup_limit_per_hour == 0) { /* bollard dev: no Redis, no limit */
        hash_new_password(c);
        return;
    }
    char ip[CLIENTADDR_TEXT_MAX];
    api_client_ip(ex, ip);
    api_limit_key(c->keys[0], KEY_MAX, KEY_PREFIX_SIGNUP, ip);
    const char *keys[1] = {c->keys[0]};
    const long limits[1] = {a->cfg->signup_limit_per_hour};
    c->redis_call = api_limit_take(a->redis, keys, limits, 1, SIGNUP_WINDOW_SECONDS, on_signup_counted, c);
    if (c->redis_call == NULL) /* Redis not connected: as without Redis */
        hash_new_password(c);
}

/* ---- signin ---- */

static const char *const *signin_keys(struct account_ctx *c, const char *keys[API_LIMIT_KEYS_MAX])
{
    for (size_t i = 0; i < API_LIMIT_KEYS_MAX; i++)
        keys[i] = c->keys[i];
    return keys;
}

/* Gives back this attempt's counts when it was not a failed guess: the (account, address) counter
 * starts afresh after a success, the others only lose this attempt. */
static void refund_attempt(struct account_ctx *c, bool succeeded)
{
    if (!c->counted)
        return;
    const char *keys[API_LIMIT_KEYS_MAX];
    api_limit_refund(api_ctx(c->ex)->redis, signin_keys(c, keys), succeeded ? 1 : 0, API_LIMIT_KEYS_MAX);
    c->counted = false;
}

static void on_password_verified(void *arg, bool ok, const char *encoded, bool matched)
{
    (void)encoded;
    struct account_ctx *c = arg;
    c->auth_job = NULL;
    ctx_wipe(c);
    if (!ok) {
        refund_attempt(c, false);
        http_respond_problem(c->ex, 500, "Internal Server Error", "cannot verify the password", NULL);
        return;
    }
    if (!matched) { /* counted already, before the check */
        api_respond_unauthorized(c->ex, "invalid email or password");
        return;
    }
    refund_attempt(c, true);
    respond_token(c, 200, c->user_id);
}

/* Unknown accounts are verified against a dummy hash: same time, same answer. */
static void verify_password(struct account_ctx *c)
{
    c->auth_job =
        auth_verify_password(api_ctx(c->ex)->auth, c->password_hash, c->password, on_password_verified, c);
    if (c->auth_job == NULL) {
        ctx_wipe(c);
        refund_attempt(c, false);
        respond_hasher_busy(c->ex);
    }
}

static void on_attempt_counted(void *arg, redisReply *reply, const char *err)
{
    struct account_ctx *c = arg;
    c->redis_call = NULL;
    long wait = api_limit_wait_seconds(reply, err);
    if (wait > 0) { /* even the right password waits now: nothing is hashed */
        ctx_wipe(c);
        api_respond_too_many(c->ex, wait, "too many failed sign-ins; retry later");
        return;
    }
    c->counted = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
    verify_password(c);
}

/* The account's identity for the limits is the id the database found, so every spelling of its
 * email that the database maps to it shares one allowance; an email that names no account is
 * counted under its own (ASCII-folded) form. Keys hold digests, never the email or the address. */
static void count_attempt(struct account_ctx *c, bool found)
{
    struct redisconn *redis = api_ctx(c->ex)->redis;
    if (redis == NULL) { /* bollard dev: no Redis, no limits */
        verify_password(c);
        return;
    }
    char identity[EMAIL_MAX + 8], ip[CLIENTADDR_TEXT_MAX], pair[sizeof(identity) + CLIENTADDR_TEXT_MAX + 1];
    snprintf(identity, sizeof(identity), found ? "id:%s" : "email:%s", found ? c->user_id : c->email);
    api_client_ip(c->ex, ip);
    snprintf(pair, sizeof(pair), "%s|%s", identity, ip);
    api_limit_key(c->keys[0], KEY_MAX, KEY_PREFIX_PAIR, pair);
    api_limit_key(c->keys[1], KEY_MAX, KEY_PREFIX_ACCOUNT, identity);
    api_limit_key(c->keys[2], KEY_MAX, KEY_PREFIX_CLIENT, ip);
    const char *keys[API_LIMIT_KEYS_MAX];
    static const long limits[API_LIMIT_KEYS_MAX] = {FAIL_LIMIT_PAIR, FAIL_LIMIT_ACCOUNT, FAIL_LIMIT_CLIENT};
    c->redis_call = api_limit_take(redis, signin_keys(c, keys), limits, API_LIMIT_KEYS_MAX,
                                   FAIL_WINDOW_SECONDS, on_attempt_counted, c);
    if (c->redis_call == NULL) /* Redis not connected: as without Redis */
        verify_password(c);
}

static void on_user_found(void *arg, const struct store_result *r)
{
    struct account_ctx *c = arg;
    c->store_call = NULL;
    /* A found account always has its hash; one without is a store fault, answered as one (500). */
    enum store_status st = r->status == STORE_OK && r->password_hash == NULL ? STORE_ERROR : r->status;
    if (st != STORE_OK && st != STORE_NOT_FOUND) {
        ctx_wipe(c);
        api_respond_store_status(c->ex, st);
        return;
    }
    bool found = st == STORE_OK;
    if (found) {
        snprintf(c->user_id, sizeof(c->user_id), "%s", r->user_id);
        size_t n = strlen(r->password_hash);
        char *hash = h2o_mem_alloc_pool(&c->ex->req->pool, n + 1);
        memcpy(hash, r->password_hash, n + 1);
        c->password_hash = hash;
    }
    count_attempt(c, found);
}

void api_handle_signin(struct http_exchange *ex)
{
    struct account_ctx *c = read_credentials(ex, false);
    if (c == NULL)
        return;
    enum store_status immediate = STORE_OK;
    c->store_call = store_user_by_email(api_ctx(ex)->store, c->email, on_user_found, c, &immediate);
    if (c->store_call == NULL) {
        ctx_wipe(c);
        api_respond_store_status(ex, immediate);
    }
}
