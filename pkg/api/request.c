/* Request-side helpers of pkg/api: JSON bodies, bearer tokens, validation, error answers. */
#include "api/api_internal.h"
#include "clientaddr/clientaddr.h"
#include "config/config.h"

#include <ctype.h>
#include <stdio.h>
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

json_t *api_read_json_object(struct http_exchange *ex)
{
    h2o_req_t *req = ex->req;
    if (!is_json_content_type(req)) {
        http_respond_problem(ex, 415, "Unsupported Media Type", "send the body as application/json", NULL);
        return NULL;
    }
    json_error_t error;
    json_t *body = NULL;
    if (req->entity.base != NULL)
        body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &error);
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
    enum auth_token_status st =
        auth_token_verify(cfg->secret_key, strlen(cfg->secret_key), token, len, time(NULL), user_id);
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

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), with real calendar ranges. */
bool api_is_rfc3339(const char *s)
{
    size_t len = strlen(s);
    if (len < 20 || len > 40)
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
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p) && n < 9) {
            p++;
            n++;
        }
        if (n == 0 || isdigit((unsigned char)*p))
            return false;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && p[6] == '\0')
        return num(p + 1, 2) * 60 + num(p + 4, 2) <= 14 * 60; /* real offsets span -12:00..+14:00 */
    return false;
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
