/* auth: password hashing (argon2id, on threads of its own so sign-in never stalls an event loop)
 * and access tokens (JWT, HS256 only; `exp`, `nbf`, `iss`, `aud` and `sub` enforced). */
#ifndef BOLLARD_AUTH_H
#define BOLLARD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <h2o.h>

#include "base/base.h"

#define AUTH_TOKEN_MAX 4096 /* longer bearer tokens are refused before any parsing */

/* ---- tokens ---- */

enum auth_token_status { AUTH_TOKEN_OK = 0, AUTH_TOKEN_INVALID, AUTH_TOKEN_EXPIRED };

/* Issues a token for user_id valid for `days` (iss = aud = "bollard"); returns a malloc'd string and
 * the expiry. */
char *auth_token_issue(const char *secret, size_t secret_len, const char *user_id, int days, time_t now,
                       time_t *expires_at);
/* Verifies signature (HS256 only: alg none and every other algorithm are refused), exp (EXPIRED once
 * past), nbf (when present: not in the future beyond a small leeway), iss and aud (both "bollard")
 * and sub (a UUID in canonical lower case, copied into user_id). */
enum auth_token_status auth_token_verify(const char *secret, size_t secret_len, const char *token,
                                         size_t token_len, time_t now, char user_id[BASE_UUID_LEN + 1]);

/* ---- password hashing ---- */

struct auth_hasher; /* process-wide: a bounded job queue and its threads */
struct auth_loop;   /* one per event loop: where results are delivered */

struct auth_hasher *auth_hasher_create(int threads, int queue_max);
void auth_hasher_destroy(struct auth_hasher *h);
struct auth_loop *auth_loop_create(struct auth_hasher *h, h2o_multithread_queue_t *queue);
void auth_loop_destroy(struct auth_loop *l);
/* auth_token_verify with the loop's memo of tokens that verified (l may be NULL: no memo): the same
 * answer, without the signature and JSON work for a token this loop has seen. Loop thread only. */
enum auth_token_status auth_loop_token_verify(struct auth_loop *l, const char *secret, size_t secret_len,
                                              const char *token, size_t token_len, time_t now,
                                              char user_id[BASE_UUID_LEN + 1]);
/* Jobs submitted from this loop whose results have not been delivered (or dropped) yet. */
size_t auth_loop_pending(const struct auth_loop *l);

/* hash: `encoded` is the argon2id PHC string; verify: `matched` tells. ok=false on internal failure. */
typedef void (*auth_hash_cb)(void *arg, bool ok, const char *encoded, bool matched);

/* Return a job handle, or NULL when the queue is full (answer 503). The password is copied and wiped. */
void *auth_hash_password(struct auth_loop *l, const char *password, auth_hash_cb cb, void *arg);
/* encoded NULL: verifies against a fixed dummy hash, so unknown accounts take as long as known ones. */
void *auth_verify_password(struct auth_loop *l, const char *encoded, const char *password, auth_hash_cb cb,
                           void *arg);
/* The requester went away: its callback will not run. */
void auth_cancel(struct auth_loop *l, void *job);

#endif
