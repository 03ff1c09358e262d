/* POST /api/auth/signup and /api/auth/signin. Password hashing runs on pkg/auth's threads; failed
 * sign-ins are counted in Redis per account and per client address and slowed down with 429. */
#include "api/api_internal.h"
#include "config/config.h"
#include "redisconn/redisconn.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMAIL_MAX    254 /* characters (code points), as the OpenAPI document's maxLength counts */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 128
/* Failed sign-ins tolerated per window before 429: per account, and per client address. */
#define FAIL_WINDOW_SECONDS 900
#define FAIL_LIMIT_ACCOUNT  5
#define FAIL_LIMIT_CLIENT   50
#define KEY_MAX             128

struct account_ctx {
    struct http_exchange *ex;
    char email[EMAIL_MAX * 4 + 1]; /* UTF-8: up to 4 bytes a character */
    char password[PASSWORD_MAX * 4 + 1];
    void *auth_job;
    store_handle store_call;
    void *redis_call;
    char account_key[KEY_MAX];
    char client_key[KEY_MAX];
    char user_id[BASE_UUID_LEN + 1]; /* signin: the account found by email */
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
    for (size_t i = 0; i < email_len; i++) /* ASCII case-folding; the database lower()s again */
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

void api_handle_signup(struct http_exchange *ex)
{
    struct account_ctx *c = read_credentials(ex, true);
    if (c == NULL)
        return;
    c->auth_job = auth_hash_password(api_ctx(ex)->auth, c->password, on_password_hashed, c);
    ctx_wipe(c);
    if (c->auth_job == NULL)
        respond_hasher_busy(ex);
}

/* ---- signin ---- */

static void ignore_reply(void *arg, redisReply *reply, const char *err)
{
    (void)arg;
    (void)reply;
    (void)err;
}

static void redis_fire(struct http_exchange *ex, const char *a0, const char *a1, const char *a2,
                       const char *a3)
{
    const char *argv[4] = {a0, a1, a2, a3};
    int argc = a3 != NULL ? 4 : a2 != NULL ? 3 : 2;
    redisconn_command(api_ctx(ex)->redis, ignore_reply, NULL, argc, argv, NULL);
}

static void record_failure(struct account_ctx *c)
{
    struct http_exchange *ex = c->ex;
    if (api_ctx(ex)->redis == NULL || c->account_key[0] == '\0')
        return;
    char window[16];
    snprintf(window, sizeof(window), "%d", FAIL_WINDOW_SECONDS);
    /* Queued on one connection, so INCR and EXPIRE arrive in order; NX keeps the first window. */
    redis_fire(ex, "INCR", c->account_key, NULL, NULL);
    redis_fire(ex, "EXPIRE", c->account_key, window, "NX");
    redis_fire(ex, "INCR", c->client_key, NULL, NULL);
    redis_fire(ex, "EXPIRE", c->client_key, window, "NX");
}

static void on_password_verified(void *arg, bool ok, const char *encoded, bool matched)
{
    (void)encoded;
    struct account_ctx *c = arg;
    c->auth_job = NULL;
    ctx_wipe(c);
    if (!ok) {
        http_respond_problem(c->ex, 500, "Internal Server Error", "cannot verify the password", NULL);
        return;
    }
    if (!matched) {
        record_failure(c);
        api_respond_unauthorized(c->ex, "invalid email or password");
        return;
    }
    if (api_ctx(c->ex)->redis != NULL && c->account_key[0] != '\0')
        redis_fire(c->ex, "DEL", c->account_key, NULL, NULL);
    respond_token(c, 200, c->user_id);
}

static void on_user_found(void *arg, const struct store_result *r)
{
    struct account_ctx *c = arg;
    c->store_call = NULL;
    if (r->status != STORE_OK && r->status != STORE_NOT_FOUND) {
        ctx_wipe(c);
        api_respond_store_status(c->ex, r->status);
        return;
    }
    /* Unknown accounts are verified against a dummy hash: same time, same answer. */
    const char *hash = r->status == STORE_OK ? r->password_hash : NULL;
    if (r->status == STORE_OK)
        snprintf(c->user_id, sizeof(c->user_id), "%s", r->user_id);
    c->auth_job = auth_verify_password(api_ctx(c->ex)->auth, hash, c->password, on_password_verified, c);
    if (c->auth_job == NULL) {
        ctx_wipe(c);
        respond_hasher_busy(c->ex);
    }
}

static void lookup_user(struct account_ctx *c)
{
    enum store_status immediate = STORE_OK;
    c->store_call = store_user_by_email(api_ctx(c->ex)->store, c->email, on_user_found, c, &immediate);
    if (c->store_call == NULL) {
        ctx_wipe(c);
        api_respond_store_status(c->ex, immediate);
    }
}

static void on_ttl(void *arg, redisReply *reply, const char *err)
{
    (void)err;
    struct account_ctx *c = arg;
    c->redis_call = NULL;
    long long ms = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    char retry[24];
    snprintf(retry, sizeof(retry), "%lld", ms > 0 ? (ms + 999) / 1000 : (long long)FAIL_WINDOW_SECONDS);
    ctx_wipe(c);
    http_add_header(c->ex, "retry-after", retry);
    http_respond_problem(c->ex, 429, "Too Many Requests", "too many failed sign-ins; retry later", NULL);
}

static long long reply_count(redisReply *arr, size_t i)
{
    if (arr == NULL || arr->type != REDIS_REPLY_ARRAY || i >= arr->elements)
        return 0;
    redisReply *e = arr->element[i];
    return e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
}

static void on_fail_counts(void *arg, redisReply *reply, const char *err)
{
    (void)err;
    struct account_ctx *c = arg;
    c->redis_call = NULL;
    long long account = reply_count(reply, 0), client = reply_count(reply, 1);
    const char *limited = account >= FAIL_LIMIT_ACCOUNT ? c->account_key
                          : client >= FAIL_LIMIT_CLIENT ? c->client_key
                                                        : NULL;
    if (limited == NULL) { /* also when Redis failed: the slowdown is a defence layer, not a gate */
        lookup_user(c);
        return;
    }
    const char *argv[2] = {"PTTL", limited};
    c->redis_call = redisconn_command(api_ctx(c->ex)->redis, on_ttl, c, 2, argv, NULL);
    if (c->redis_call == NULL)
        on_ttl(c, NULL, "not connected");
}

static void hex_sha256(const char *s, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), d);
    base_hex_encode(d, sizeof(d), out);
}

void api_handle_signin(struct http_exchange *ex)
{
    struct account_ctx *c = read_credentials(ex, false);
    if (c == NULL)
        return;
    if (api_ctx(ex)->redis == NULL) { /* bollard dev: no Redis, no slowdown */
        lookup_user(c);
        return;
    }
    char digest[65], ip[64];
    hex_sha256(c->email, digest); /* the key never holds the address itself */
    api_client_ip(ex, ip, sizeof(ip));
    snprintf(c->account_key, sizeof(c->account_key), "bollard:signin:fail:account:%s", digest);
    snprintf(c->client_key, sizeof(c->client_key), "bollard:signin:fail:client:%s", ip);
    const char *argv[3] = {"MGET", c->account_key, c->client_key};
    c->redis_call = redisconn_command(api_ctx(ex)->redis, on_fail_counts, c, 3, argv, NULL);
    if (c->redis_call == NULL)
        lookup_user(c);
}
