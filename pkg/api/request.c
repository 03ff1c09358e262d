/* Request-side helpers of pkg/api: JSON bodies, bearer tokens, validation, error answers. */
#include "api/api_internal.h"
#include "clientaddr/clientaddr.h"
#include "config/config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool is_json_content_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char json[] = "application/json";
    if (v.len < sizeof(json) - 1 || strncasecmp(v.base, json, sizeof(json) - 1) != 0)
        return false;
    /* only parameters (e.g. "; charset=utf-8") may follow */
    return v.len == sizeof(json) - 1 || v.base[sizeof(json) - 1] == ';' || v.base[sizeof(json) - 1] == ' ';
}

/* Whether a string in `v` holds a NUL. No field of ours nests deeper than an array of strings, so
 * the walk stops at a few levels: anything deeper is refused by the field's own type check. */
static bool contains_nul(json_t *v, int depth)
{
    if (depth > 8)
        return false;
    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
    size_t i;
    json_t *e;
    const char *k;
    if (json_is_array(v)) {
        json_array_foreach (v, i, e)
            if (contains_nul(e, depth + 1))
                return true;
    } else if (json_is_object(v)) {
        json_object_foreach (v, k, e)
            if (contains_nul(e, depth + 1))
                return true;
    }
    return false;
}

json_t *api_read_json_object(struct http_exchange *ex)
{
    h2o_req_t *req = ex->req;
    if (!is_json_content_type(req)) {
        http_respond_problem(ex, 415, "Unsupported Media Type", "send the body as application/json", NULL);
        return NULL;
    }
    json_error_t error;
    json_t *body = NULL;
    /* JSON_ALLOW_NUL: "\u0000" is valid JSON, so it is the field, not the body, that is refused (422
     * below) — and no C string cut short at the NUL (a password, say) goes any further. */
    if (req->entity.base != NULL)
        body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
    if (body == NULL) {
        char detail[160];
        /* The parser's own text may quote the body (a password, say), so only the position is told. */
        snprintf(detail, sizeof(detail), "the body is not valid JSON (line %d, column %d)",
                 req->entity.base != NULL ? error.line : 0, req->entity.base != NULL ? error.column : 0);
        http_respond_problem(ex, 400, "Bad Request", detail, NULL);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        http_respond_problem(ex, 400, "Bad Request", "the body must be a JSON object", NULL);
        return NULL;
    }
    struct api_errors errors = {0};
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (contains_nul(value, 0))
            api_errors_add(&errors, key, "must not contain NUL characters (\\u0000)");
    }
    if (api_errors_respond(ex, &errors)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static void respond_unauthorized(struct http_exchange *ex, const char *challenge, const char *detail)
{
    http_add_header(ex, "www-authenticate", challenge);
    http_respond_problem(ex, 401, "Unauthorized", detail, NULL);
}

void api_respond_unauthorized(struct http_exchange *ex, const char *detail)
{
    http_add_header(ex, "www-authenticate", "Bearer");
    http_respond_problem(ex, 401, "Unauthorized", detail, NULL);
}

bool api_authenticate(struct http_exchange *ex, char user_id[BASE_UUID_LEN + 1])
{
    return api_authenticate_challenge(ex, user_id, "Bearer");
}

bool api_authenticate_challenge(struct http_exchange *ex, char user_id[BASE_UUID_LEN + 1],
                                const char *challenge)
{
    h2o_req_t *req = ex->req;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) {
        respond_unauthorized(ex, challenge, "a bearer token is required");
        return false;
    }
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 8 || strncasecmp(v.base, "Bearer ", 7) != 0) {
        respond_unauthorized(ex, challenge, "use the Bearer scheme");
        return false;
    }
    const char *token = v.base + 7;
    size_t len = v.len - 7;
    while (len > 0 && *token == ' ') {
        token++;
        len--;
    }
    const struct config *cfg = api_ctx(ex)->cfg;
    enum auth_token_status st = auth_loop_token_verify(
        api_ctx(ex)->auth, cfg->secret_key, strlen(cfg->secret_key), token, len, time(NULL), user_id);
    if (st == AUTH_TOKEN_EXPIRED) {
        respond_unauthorized(ex, challenge, "the token has expired");
        return false;
    }
    if (st != AUTH_TOKEN_OK) {
        respond_unauthorized(ex, challenge, "the token is not valid");
        return false;
    }
    return true;
}

/* Code points in a string jansson already checked to be valid UTF-8. */
size_t api_utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in microseconds since the epoch: the instants
 * whose UTC text has a four-digit year of the common era, so RFC 3339 can write them. */
#define INSTANT_MIN_US (-62135596800LL * 1000000)
#define INSTANT_MAX_US (253402300799LL * 1000000 + 999999)

bool api_rfc3339_to_utc(const char *s, char out[API_TIMESTAMP_MAX])
{
    size_t len = strlen(s);
    if (len < 20 || len > API_RFC3339_MAX)
        return false;
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
        s[16] != ':' || !digits(s + 17, 2))
        return false;
    int year = num(s, 4), month = num(s + 5, 2), day = num(s + 8, 2);
    int hour = num(s + 11, 2), minute = num(s + 14, 2), second = num(s + 17, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1] || hour > 23 ||
        minute > 59 || second > 59)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap)
        return false;
    const char *p = s + 19;
    long long frac_us = 0;
    if (*p == '.') {
        const char *first = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == first)
            return false;
        /* Rounded to microseconds as PostgreSQL's timestamptz input rounds them (and the SQLite
         * store after it): rint of the fraction times 10^6, which may carry into the next second. */
        char frac[API_RFC3339_MAX + 2] = "0.";
        memcpy(frac + 2, first, (size_t)(p - first));
        frac[2 + (p - first)] = '\0';
        frac_us = (long long)rint(strtod(frac, NULL) * 1e6);
    }
    long long offset_minutes = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_minutes = 0;
    } else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
               p[6] == '\0' && num(p + 1, 2) <= 23 && num(p + 4, 2) <= 59) {
        /* RFC 3339's time-numoffset: any ±HH:MM up to ±23:59, not only the offsets in use today. */
        offset_minutes = (num(p + 1, 2) * 60 + num(p + 4, 2)) * (*p == '-' ? -1 : 1);
    } else {
        return false;
    }
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute,
                    .tm_sec = second};
    /* Every field is in range and time_t is 64 bits wide, so timegm cannot fail here (its -1 is
     * 1969-12-31T23:59:59Z). */
    long long local_s = (long long)timegm(&tm);
    long long us = (local_s - offset_minutes * 60) * 1000000 + frac_us;
    if (us < INSTANT_MIN_US || us > INSTANT_MAX_US)
        return false;
    long long rest = us % 1000000;
    if (rest < 0)
        rest += 1000000;
    time_t utc_s = (time_t)((us - rest) / 1000000);
    struct tm utc;
    if (gmtime_r(&utc_s, &utc) == NULL)
        return false;
    int n = snprintf(out, API_TIMESTAMP_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, rest);
    return n > 0 && n < API_TIMESTAMP_MAX;
}

void api_errors_add(struct api_errors *e, const char *field, const char *message)
{
    if (e->list == NULL)
        e->list = json_array();
    json_array_append_new(e->list, json_pack("{s:s,s:s}", "field", field, "message", message));
}

bool api_errors_respond(struct http_exchange *ex, struct api_errors *e)
{
    if (e->list == NULL)
        return false;
    json_t *extra = json_pack("{s:o}", "errors", e->list);
    e->list = NULL;
    http_respond_problem(ex, 422, "Unprocessable Content", "the request has invalid fields", extra);
    return true;
}

void api_respond_store_status(struct http_exchange *ex, enum store_status st)
{
    switch (st) {
    case STORE_OK:
        http_respond_problem(ex, 500, "Internal Server Error", "unexpected state", NULL);
        return;
    case STORE_NOT_FOUND:
        http_respond_problem(ex, 404, "Not Found", "no such task", NULL);
        return;
    case STORE_CONFLICT:
        http_respond_problem(ex, 409, "Conflict", "already exists", NULL);
        return;
    case STORE_PRECONDITION_FAILED:
        http_respond_problem(ex, 412, "Precondition Failed",
                             "the task changed since the given ETag (If-Match)", NULL);
        return;
    case STORE_BUSY:
    case STORE_UNAVAILABLE:
    case STORE_TIMEOUT:
        http_add_header(ex, "retry-after", "1");
        http_respond_problem(ex, 503, "Service Unavailable", "the database is unavailable; retry shortly",
                             NULL);
        return;
    case STORE_ERROR:
        http_respond_problem(ex, 500, "Internal Server Error", "the database refused the request", NULL);
        return;
    case STORE_INVALID:
        http_respond_problem(ex, 422, "Unprocessable Content",
                             "a value is outside the range the database can store", NULL);
        return;
    case STORE_NO_USER:
        /* The token is genuine but its account is gone: the same answer as for any token that no
         * longer grants access, on every route. */
        api_respond_unauthorized(ex, "the token's account no longer exists");
        return;
    }
}

/* The last `max` values of one request header, in the order received: the right-most hops are the
 * ones a proxy wrote, so when there are more fields than room it is the left-most that are dropped. */
static size_t header_fields(const h2o_req_t *req, const char *name, size_t name_len,
                            struct clientaddr_field *out, size_t max)
{
    size_t total = 0, n = 0;
    for (ssize_t i = -1; (i = h2o_find_header_by_str(&req->headers, name, name_len, i)) != -1;)
        total++;
    for (ssize_t i = -1, k = 0; (i = h2o_find_header_by_str(&req->headers, name, name_len, i)) != -1; k++) {
        if ((size_t)k + max < total)
            continue;
        out[n].value = req->headers.entries[i].value.base;
        out[n].len = req->headers.entries[i].value.len;
        n++;
    }
    return n;
}

void api_client_ip(struct http_exchange *ex, char out[CLIENTADDR_TEXT_MAX])
{
    /* A proxy chain rarely adds more than a few fields (each may list several hops). */
    enum { FIELDS_MAX = 16 };
    struct sockaddr_storage ss;
    socklen_t len = ex->req->conn->callbacks->get_peername(ex->req->conn, (struct sockaddr *)&ss);
    struct clientaddr_field xff[FIELDS_MAX], fwd[FIELDS_MAX];
    size_t n_xff = 0, n_fwd = 0;
    const struct clientaddr_proxies *trusted = api_ctx(ex)->trusted_proxies;
    if (clientaddr_proxies_count(trusted) > 0) {
        n_xff = header_fields(ex->req, H2O_STRLIT("x-forwarded-for"), xff, FIELDS_MAX);
        n_fwd = header_fields(ex->req, H2O_STRLIT("forwarded"), fwd, FIELDS_MAX);
    }
    clientaddr_resolve(trusted, len > 0 ? (const struct sockaddr *)&ss : NULL, xff, n_xff, fwd, n_fwd, out);
}
