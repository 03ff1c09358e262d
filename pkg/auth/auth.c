#include "auth/auth.h"
#include "log/log.h"
#include "base/base.h"

#include <argon2.h>
#include <ctype.h>
#include <jwt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Bollard's own tokens name Bollard as their issuer and their audience; a token naming anything else
 * (another service signing with a shared key, say) is not one of ours. */
#define TOKEN_ISSUER   "bollard"
#define TOKEN_AUDIENCE "bollard"
/* Clock skew tolerated on `nbf` between the replica that issued a token and the one checking it. */
#define TOKEN_NBF_LEEWAY_SECONDS 30

/* OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
#define ARGON2_T_COST      2
#define ARGON2_M_COST_KIB  19456
#define ARGON2_PARALLELISM 1
#define ARGON2_SALT_LEN    16
#define ARGON2_HASH_LEN    32
#define ENCODED_MAX        128
#define PASSWORD_MAX       1024

/* ---- tokens ---- */

char *auth_token_issue(const char *secret, size_t secret_len, const char *user_id, int days, time_t now,
                       time_t *expires_at)
{
    jwt_t *jwt = NULL;
    char *token = NULL;
    time_t exp = now + (time_t)days * 86400;
    if (jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_add_grant(jwt, "sub", user_id) != 0 || jwt_add_grant(jwt, "iss", TOKEN_ISSUER) != 0 ||
        jwt_add_grant(jwt, "aud", TOKEN_AUDIENCE) != 0 || jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)exp) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)secret_len) != 0)
        goto done;
    token = jwt_encode_str(jwt);
    *expires_at = exp;
done:
    jwt_free(jwt);
    return token;
}

/* The header's alg is checked before libjwt sees the token: only "HS256" passes (libjwt would
 * otherwise honour whatever algorithm the header names, "none" included). */
static bool header_is_hs256(const char *token, size_t len)
{
    const char *dot = memchr(token, '.', len);
    size_t n = dot != NULL ? (size_t)(dot - token) : 0;
    if (n == 0 || n > 512)
        return false;
    char b64[520];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = token[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c))
            return false;
        b64[m++] = c;
    }
    while (m % 4 != 0)
        b64[m++] = '=';
    unsigned char raw[400];
    int raw_len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)m);
    if (raw_len < 0)
        return false;
    while (raw_len > 0 && raw[raw_len - 1] == '\0') /* EVP_DecodeBlock counts padding as zero bytes */
        raw_len--;
    json_error_t error;
    json_t *header = json_loadb((const char *)raw, (size_t)raw_len, JSON_REJECT_DUPLICATES, &error);
    const char *alg = json_string_value(json_object_get(header, "alg"));
    bool ok = alg != NULL && strcmp(alg, "HS256") == 0;
    json_decref(header);
    return ok;
}

/* auth_token_verify, also giving the token's exp when it verified. */
static enum auth_token_status token_verify(const char *secret, size_t secret_len, const char *token,
                                           size_t token_len, time_t now, char user_id[BASE_UUID_LEN + 1],
                                           time_t *exp_out)
{
    if (token_len == 0 || token_len > AUTH_TOKEN_MAX || memchr(token, '\0', token_len) != NULL)
        return AUTH_TOKEN_INVALID;
    enum auth_token_status st = AUTH_TOKEN_INVALID;
    jwt_t *jwt = NULL;
    char *claims_text = NULL;
    json_t *claims = NULL;
    char *copy = strndup(token, token_len);
    if (copy == NULL)
        return AUTH_TOKEN_INVALID;
    /* Pin the algorithm: with a key given, libjwt still honours what the header says. */
    if (!header_is_hs256(copy, token_len))
        goto done;
    if (jwt_decode(&jwt, copy, (const unsigned char *)secret, (int)secret_len) != 0 || jwt == NULL)
        goto done;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto done;
    /* The claims as JSON, so each one's type is checked exactly (libjwt's getters treat a claim of
     * the wrong type as absent). */
    claims_text = jwt_get_grants_json(jwt, NULL);
    claims = claims_text != NULL ? json_loads(claims_text, 0, NULL) : NULL;
    json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp) || json_integer_value(exp) <= 0)
        goto done;
    /* The one spelling the database prints: an upper-case or otherwise different spelling of the
     * same id is not a token this service issued. */
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    char canonical[BASE_UUID_LEN + 1];
    if (sub == NULL || !base_uuid_is_valid(sub, strlen(sub)))
        goto done;
    base_uuid_lower(sub, canonical);
    if (strcmp(sub, canonical) != 0)
        goto done;
    if ((time_t)json_integer_value(exp) <= now) {
        st = AUTH_TOKEN_EXPIRED;
        goto done;
    }
    json_t *nbf = json_object_get(claims, "nbf");
    if (nbf != NULL &&
        (!json_is_number(nbf) || json_number_value(nbf) > (double)now + TOKEN_NBF_LEEWAY_SECONDS))
        goto done;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    if (iss == NULL || strcmp(iss, TOKEN_ISSUER) != 0 || aud == NULL || strcmp(aud, TOKEN_AUDIENCE) != 0)
        goto done;
    memcpy(user_id, canonical, BASE_UUID_LEN + 1);
    *exp_out = (time_t)json_integer_value(exp);
    st = AUTH_TOKEN_OK;
done:
    json_decref(claims);
    free(claims_text);
    jwt_free(jwt);
    free(copy);
    return st;
}

enum auth_token_status auth_token_verify(const char *secret, size_t secret_len, const char *token,
                                         size_t token_len, time_t now, char user_id[BASE_UUID_LEN + 1])
{
    time_t exp;
    return token_verify(secret, secret_len, token, token_len, now, user_id, &exp);
}

/* ---- hashing threads ---- */

enum job_kind { JOB_HASH, JOB_VERIFY };

struct auth_job {
    h2o_multithread_message_t message; /* first: the loop's receiver gets this back */
    struct auth_loop *loop;
    enum job_kind kind;
    char password[PASSWORD_MAX + 1];
    char encoded[ENCODED_MAX];
    bool use_dummy;
    bool ok, matched;
    int cancelled; /* set on the loop thread, read on the loop thread */
    auth_hash_cb cb;
    void *arg;
    struct auth_job *next_queued;
};

struct auth_hasher {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    struct auth_job *head, *tail;
    int queued, queue_max;
    bool stopping;
    int n_threads;
    pthread_t *threads;
    char dummy_hash[ENCODED_MAX];
};

/* The loop's memo of tokens that verified: a client sends the same token with every request, and
 * verifying it (base64, two JSON parses, HMAC-SHA256) was most of an authenticated request's CPU
 * (callgrind: ~125,000 of ~170,000 instructions for a task list). Direct-mapped, so bounded; a
 * token is found again only by a constant-time comparison of all its bytes, and its exp is checked
 * on every use. Tokens are stateless (nothing revokes one before exp), so a hit answers exactly what
 * a fresh verification would. */
#define TOKEN_MEMO_SLOTS 64
#define TOKEN_MEMO_LEN   512 /* longer tokens are verified every time */

struct token_memo {
    size_t len; /* 0: empty */
    char token[TOKEN_MEMO_LEN];
    time_t exp;
    char user_id[BASE_UUID_LEN + 1];
};

struct auth_loop {
    struct auth_hasher *hasher;
    h2o_multithread_receiver_t receiver;
    h2o_multithread_queue_t *queue;
    size_t pending;
    struct token_memo *memo; /* TOKEN_MEMO_SLOTS, allocated at the first token */
};

static int hash_encoded(const char *password, char *out, size_t cap)
{
    unsigned char salt[ARGON2_SALT_LEN];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    int rc = argon2id_hash_encoded(ARGON2_T_COST, ARGON2_M_COST_KIB, ARGON2_PARALLELISM, password,
                                   strlen(password), salt, sizeof(salt), ARGON2_HASH_LEN, out, cap);
    return rc == ARGON2_OK ? 0 : -1;
}

static void run_job(struct auth_hasher *h, struct auth_job *job)
{
    if (job->kind == JOB_HASH) {
        job->ok = hash_encoded(job->password, job->encoded, sizeof(job->encoded)) == 0;
    } else {
        const char *encoded = job->use_dummy ? h->dummy_hash : job->encoded;
        int rc = argon2id_verify(encoded, job->password, strlen(job->password));
        job->ok = rc == ARGON2_OK || rc == ARGON2_VERIFY_MISMATCH;
        job->matched = rc == ARGON2_OK && !job->use_dummy;
        if (!job->ok)
            log_printf(LOG_WARN, "password verification failed: %s", argon2_error_message(rc));
    }
    OPENSSL_cleanse(job->password, sizeof(job->password));
}

static void *hasher_thread(void *arg)
{
    struct auth_hasher *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mutex);
        while (h->head == NULL && !h->stopping)
            pthread_cond_wait(&h->cond, &h->mutex);
        if (h->head == NULL) {
            pthread_mutex_unlock(&h->mutex);
            return NULL;
        }
        struct auth_job *job = h->head;
        h->head = job->next_queued;
        if (h->head == NULL)
            h->tail = NULL;
        h->queued--;
        pthread_mutex_unlock(&h->mutex);
        run_job(h, job);
        h2o_multithread_send_message(&job->loop->receiver, &job->message);
    }
}

struct auth_hasher *auth_hasher_create(int threads, int queue_max)
{
    struct auth_hasher *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->queue_max = queue_max;
    pthread_mutex_init(&h->mutex, NULL);
    pthread_cond_init(&h->cond, NULL);
    /* Unknown accounts are verified against this, so a sign-in costs the same whether the account
     * exists or not: argon2id_verify recomputes the hash with these parameters either way. An all-zero
     * salt and hash, never matched (use_dummy), so nothing is hashed — and OpenSSL not initialised —
     * at start-up: that took ~25 ms and 2 MB of resident libcrypto pages before the first request.
     * Base64 without padding: 16 zero bytes are 22 'A's, 32 are 43. */
    int n = snprintf(h->dummy_hash, sizeof(h->dummy_hash), "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
                     ARGON2_VERSION_13, ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_PARALLELISM,
                     "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    if (n < 0 || (size_t)n >= sizeof(h->dummy_hash))
        goto fail;
    h->threads = calloc((size_t)threads, sizeof(pthread_t));
    if (h->threads == NULL)
        goto fail;
    for (int i = 0; i < threads; i++) {
        if (base_thread_start(&h->threads[i], hasher_thread, h) != 0)
            goto fail;
        h->n_threads++;
    }
    return h;
fail:
    auth_hasher_destroy(h);
    return NULL;
}

void auth_hasher_destroy(struct auth_hasher *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mutex);
    h->stopping = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mutex);
    for (int i = 0; i < h->n_threads; i++)
        pthread_join(h->threads[i], NULL);
    free(h->threads);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->mutex);
    free(h);
}

static void on_results(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct auth_loop *l = H2O_STRUCT_FROM_MEMBER(struct auth_loop, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct auth_job *job = (struct auth_job *)m;
        l->pending--;
        if (!job->cancelled)
            job->cb(job->arg, job->ok, job->kind == JOB_HASH && job->ok ? job->encoded : NULL, job->matched);
        OPENSSL_cleanse(job, sizeof(*job));
        free(job);
    }
}

struct auth_loop *auth_loop_create(struct auth_hasher *h, h2o_multithread_queue_t *queue)
{
    struct auth_loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->hasher = h;
    l->queue = queue;
    h2o_multithread_register_receiver(queue, &l->receiver, on_results);
    return l;
}

void auth_loop_destroy(struct auth_loop *l)
{
    if (l == NULL)
        return;
    h2o_multithread_unregister_receiver(l->queue, &l->receiver);
    if (l->memo != NULL) {
        explicit_bzero(l->memo, TOKEN_MEMO_SLOTS * sizeof(*l->memo)); /* bearer credentials */
        free(l->memo);
    }
    free(l);
}

static size_t memo_slot(const char *token, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a: a slot index only, never the comparison */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 1099511628211ull;
    return (size_t)(h % TOKEN_MEMO_SLOTS);
}

enum auth_token_status auth_loop_token_verify(struct auth_loop *l, const char *secret, size_t secret_len,
                                              const char *token, size_t token_len, time_t now,
                                              char user_id[BASE_UUID_LEN + 1])
{
    struct token_memo *m = NULL;
    if (l != NULL && token_len > 0 && token_len <= TOKEN_MEMO_LEN) {
        if (l->memo == NULL)
            l->memo = calloc(TOKEN_MEMO_SLOTS, sizeof(*l->memo));
        m = l->memo != NULL ? &l->memo[memo_slot(token, token_len)] : NULL;
        if (m != NULL && m->len == token_len && CRYPTO_memcmp(m->token, token, token_len) == 0) {
            if (m->exp <= now)
                return AUTH_TOKEN_EXPIRED;
            memcpy(user_id, m->user_id, BASE_UUID_LEN + 1);
            return AUTH_TOKEN_OK;
        }
    }
    time_t exp = 0;
    enum auth_token_status st = token_verify(secret, secret_len, token, token_len, now, user_id, &exp);
    if (st == AUTH_TOKEN_OK && m != NULL) {
        memcpy(m->token, token, token_len);
        m->len = token_len;
        m->exp = exp;
        memcpy(m->user_id, user_id, BASE_UUID_LEN + 1);
    }
    return st;
}

size_t auth_loop_pending(const struct auth_loop *l)
{
    return l != NULL ? l->pending : 0;
}

static void *submit(struct auth_loop *l, enum job_kind kind, const char *encoded, const char *password,
                    auth_hash_cb cb, void *arg)
{
    struct auth_hasher *h = l->hasher;
    if (strlen(password) > PASSWORD_MAX || (encoded != NULL && strlen(encoded) >= ENCODED_MAX))
        return NULL;
    struct auth_job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return NULL;
    job->loop = l;
    job->kind = kind;
    job->cb = cb;
    job->arg = arg;
    strcpy(job->password, password);
    if (kind == JOB_VERIFY) {
        job->use_dummy = encoded == NULL;
        if (encoded != NULL)
            strcpy(job->encoded, encoded);
    }
    pthread_mutex_lock(&h->mutex);
    if (h->queued >= h->queue_max || h->stopping) {
        pthread_mutex_unlock(&h->mutex);
        OPENSSL_cleanse(job, sizeof(*job));
        free(job);
        return NULL;
    }
    if (h->tail != NULL)
        h->tail->next_queued = job;
    else
        h->head = job;
    h->tail = job;
    h->queued++;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->mutex);
    l->pending++;
    return job;
}

void *auth_hash_password(struct auth_loop *l, const char *password, auth_hash_cb cb, void *arg)
{
    return submit(l, JOB_HASH, NULL, password, cb, arg);
}

void *auth_verify_password(struct auth_loop *l, const char *encoded, const char *password, auth_hash_cb cb,
                           void *arg)
{
    return submit(l, JOB_VERIFY, encoded, password, cb, arg);
}

void auth_cancel(struct auth_loop *l, void *job)
{
    (void)l;
    if (job != NULL)
        ((struct auth_job *)job)->cancelled = 1;
}
