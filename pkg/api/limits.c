/* Attempt limits for sign-in and sign-up: fixed-window counters in Redis, checked and counted in one
 * atomic step (a Lua script) before any password is hashed, so concurrent attempts cannot all pass a
 * check made before any of them was counted. */
#include "api/api_internal.h"
#include "log/log.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

/* KEYS: the counters; ARGV[1]: the window in seconds, ARGV[1 + i]: the limit of KEYS[i].
 * A counter at its limit refuses the attempt and nothing is counted (a refused attempt costs the
 * client nothing more, and the window is not extended by hammering); the reply is then the longest
 * wait among the counters at their limit, in ms. Otherwise every counter is incremented and the
 * reply is 0. EXPIRE … NX: the window starts at a counter's first attempt and is not extended; a
 * counter left without an expiry (never by this script) gets one the next time it is touched. */
static const char take_script[] = "local window = tonumber(ARGV[1])\n"
                                  "local wait = 0\n"
                                  "for i = 1, #KEYS do\n"
                                  "  local n = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
                                  "  if n >= tonumber(ARGV[i + 1]) then\n"
                                  "    local t = redis.call('PTTL', KEYS[i])\n"
                                  "    if t < 0 then\n"
                                  "      redis.call('EXPIRE', KEYS[i], window)\n"
                                  "      t = window * 1000\n"
                                  "    end\n"
                                  "    if t > wait then wait = t end\n"
                                  "  end\n"
                                  "end\n"
                                  "if wait > 0 then return wait end\n"
                                  "for i = 1, #KEYS do\n"
                                  "  redis.call('INCR', KEYS[i])\n"
                                  "  redis.call('EXPIRE', KEYS[i], window, 'NX')\n"
                                  "end\n"
                                  "return 0\n";

/* KEYS[1..ARGV[1]] are deleted; the others are decremented, never below zero and never created (a
 * DECR of a missing key would make one without an expiry). */
static const char refund_script[] = "local clear = tonumber(ARGV[1])\n"
                                    "for i = 1, #KEYS do\n"
                                    "  if i <= clear then\n"
                                    "    redis.call('DEL', KEYS[i])\n"
                                    "  elseif (tonumber(redis.call('GET', KEYS[i]) or '0') or 0) > 0 then\n"
                                    "    redis.call('DECR', KEYS[i])\n"
                                    "  end\n"
                                    "end\n"
                                    "return 0\n";

void api_limit_key(char *out, size_t cap, const char *prefix, const char *text)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)text, strlen(text), d);
    base_hex_encode(d, sizeof(d), hex);
    snprintf(out, cap, "%s%s", prefix, hex);
}

void *api_limit_take(struct redisconn *rc, const char *const *keys, const long *limits, size_t n,
                     int window_seconds, redisconn_reply_cb cb, void *arg)
{
    if (rc == NULL || n == 0 || n > API_LIMIT_KEYS_MAX)
        return NULL;
    char numkeys[8], window[16], limit_text[API_LIMIT_KEYS_MAX][24];
    const char *argv[4 + 2 * API_LIMIT_KEYS_MAX];
    int argc = 0;
    snprintf(numkeys, sizeof(numkeys), "%zu", n);
    snprintf(window, sizeof(window), "%d", window_seconds);
    argv[argc++] = "EVAL";
    argv[argc++] = take_script;
    argv[argc++] = numkeys;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = keys[i];
    argv[argc++] = window;
    for (size_t i = 0; i < n; i++) {
        snprintf(limit_text[i], sizeof(limit_text[i]), "%ld", limits[i]);
        argv[argc++] = limit_text[i];
    }
    return redisconn_command(rc, cb, arg, argc, argv, NULL);
}

static void ignore_reply(void *arg, redisReply *reply, const char *err)
{
    (void)arg;
    (void)reply;
    (void)err;
}

void api_limit_refund(struct redisconn *rc, const char *const *keys, size_t n_clear, size_t n)
{
    if (rc == NULL || n == 0 || n > API_LIMIT_KEYS_MAX)
        return;
    char numkeys[8], clear[8];
    const char *argv[4 + API_LIMIT_KEYS_MAX];
    int argc = 0;
    snprintf(numkeys, sizeof(numkeys), "%zu", n);
    snprintf(clear, sizeof(clear), "%zu", n_clear);
    argv[argc++] = "EVAL";
    argv[argc++] = refund_script;
    argv[argc++] = numkeys;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = keys[i];
    argv[argc++] = clear;
    /* Not waited for: the answer to the client does not depend on it. */
    (void)redisconn_command(rc, ignore_reply, NULL, argc, argv, NULL);
}

long api_limit_wait_seconds(const redisReply *reply, const char *err)
{
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        return reply->integer > 0 ? (long)((reply->integer + 999) / 1000) : 0;
    /* Redis unreachable or failing: the limits are a defence layer, not a gate, so the attempt goes
     * on. An error reply from a Redis that is up means the limits are off: say so, at most once a
     * minute per loop, so that an operator notices without a log line per request. */
    static __thread uint64_t last_logged_ms;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        uint64_t now = base_now_ms();
        if (last_logged_ms == 0 || now - last_logged_ms >= 60000) {
            last_logged_ms = now;
            char msg[BASE_WHY_MAX];
            base_one_line(reply->str, msg, sizeof(msg));
            log_printf(LOG_WARN, "attempt limits: Redis refused the counting script, limits are off: %s",
                       msg);
        }
    }
    (void)err;
    return 0;
}

void api_respond_too_many(struct http_exchange *ex, long wait_seconds, const char *detail)
{
    char retry[24];
    snprintf(retry, sizeof(retry), "%ld", wait_seconds > 0 ? wait_seconds : 1);
    http_add_header(ex, "retry-after", retry);
    http_respond_problem(ex, 429, "Too Many Requests", detail, NULL);
}
