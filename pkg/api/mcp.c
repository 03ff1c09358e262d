/* POST /mcp: a Model Context Protocol server (docs/contract.md §5, "MCP") over pkg/tools' table:
 * Streamable HTTP, JSON-RPC 2.0, plain JSON responses, no sessions (any replica answers any request).
 *
 * Two eras on one endpoint, told apart per request: a request whose params._meta carries
 * "io.modelcontextprotocol/protocolVersion", or whose MCP-Protocol-Version header names no
 * handshake-era version, is a 2026-07-28 request (no handshake; the envelope, then the
 * MCP-Protocol-Version, Mcp-Method and, for tools/call, Mcp-Name headers against the body, else 400
 * −32020; an unsupported version 400 −32022 with data.supported; an unknown method 404 −32601;
 * results carry resultType and the serverInfo stamp in _meta, lists ttlMs/cacheScope). Anything
 * else is the handshake era (2025-06-18 / 2025-11-25: initialize, notifications/initialized → 202,
 * ping, tools/list, tools/call). Batches are refused (−32600). The caller is the bearer token's user
 * (401 with RFC 9728 protected-resource metadata otherwise); a browser Origin not in FRONTEND_URL
 * is 403 (DNS rebinding). */
#include "api/api_internal.h"
#include "config/config.h"
#include "tools/tools.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODERN_VERSION   "2026-07-28"
#define LATEST_HANDSHAKE "2025-11-25"
#define META_VERSION     "io.modelcontextprotocol/protocolVersion"
#define META_CAPS        "io.modelcontextprotocol/clientCapabilities"
#define META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
#define INSTRUCTIONS                                                                                         \
    "Bollard's tools act on your own todo tasks (the bearer token's user): add, list, complete, update and " \
    "delete. Find a task's id with list_tasks before changing it."

enum {
    PARSE_ERROR = -32700,
    INVALID_REQUEST = -32600,
    METHOD_NOT_FOUND = -32601,
    INVALID_PARAMS = -32602,
    HEADER_MISMATCH = -32020,
    UNSUPPORTED_VERSION = -32022
};

static const char *const handshake_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

static void rpc_respond(struct http_exchange *ex, int status, json_t *id, json_t *result_or_error, bool error)
{
    json_t *msg = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id != NULL ? id : json_null(),
                            error ? "error" : "result", result_or_error);
    http_add_header(ex, "cache-control", "no-store");
    http_respond_json(ex, status, msg);
}

static void rpc_error(struct http_exchange *ex, int status, json_t *id, int code, const char *message,
                      json_t *data /* stolen, may be NULL */)
{
    json_t *e = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (e != NULL && data != NULL)
        json_object_set_new(e, "data", data);
    else
        json_decref(data);
    rpc_respond(ex, status, id, e, true);
}

/* Header `name`'s value: 0 when absent, 1 with *out set, 2 when it appears more than once. */
static int header_get(h2o_req_t *req, const char *name, h2o_iovec_t *out)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return 0;
    *out = req->headers.entries[i].value;
    return h2o_find_header_by_str(&req->headers, name, strlen(name), i) >= 0 ? 2 : 1;
}

static bool header_is(h2o_req_t *req, const char *name, const char *want)
{
    h2o_iovec_t v;
    return want != NULL && header_get(req, name, &v) == 1 && h2o_memis(v.base, v.len, want, strlen(want));
}

static bool has_header(h2o_req_t *req, const char *name)
{
    h2o_iovec_t v;
    return header_get(req, name, &v) != 0;
}

static bool is_handshake_version(const char *v, size_t len)
{
    for (size_t i = 0; i < sizeof(handshake_versions) / sizeof(*handshake_versions); i++)
        if (h2o_memis(v, len, handshake_versions[i], strlen(handshake_versions[i])))
            return true;
    return false;
}

/* Mcp-Name against the body's name: the value verbatim, or a `=?base64?…?=` sentinel (how clients
 * send a name that is not plain printable ASCII) decoded; a malformed or non-canonical one never
 * matches. */
static bool mcp_name_matches(h2o_req_t *req, const char *name)
{
    h2o_iovec_t v;
    if (header_get(req, "mcp-name", &v) != 1)
        return false;
    size_t want = strlen(name);
    if (v.len < 12 || memcmp(v.base, "=?base64?", 9) != 0 || memcmp(v.base + v.len - 2, "?=", 2) != 0)
        return h2o_memis(v.base, v.len, name, want);
    const char *b64 = v.base + 9;
    size_t n = v.len - 11;
    unsigned char raw[384], again[520];
    if (n == 0 || n % 4 != 0 || n > 512)
        return false;
    int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if (got < 0)
        return false;
    got -= (b64[n - 1] == '=') + (b64[n - 2] == '='); /* EVP_DecodeBlock counts padding as bytes */
    if (got < 0 || EVP_EncodeBlock(again, raw, got) != (int)n || memcmp(again, b64, n) != 0)
        return false;
    return (size_t)got == want && memcmp(raw, name, want) == 0;
}

static json_t *server_info(struct http_exchange *ex)
{
    const char *version = api_ctx(ex)->cfg->build_version;
    return json_pack("{s:s,s:s,s:s}", "name", "bollard", "title", "Bollard todo tasks", "version",
                     version != NULL ? version : "unknown");
}

/* What every 2026-07-28 result carries: resultType, and the server's identity in _meta. */
static void stamp_modern(struct http_exchange *ex, json_t *result)
{
    json_object_set_new(result, "resultType", json_string("complete"));
    json_object_set_new(result, "_meta", json_pack("{s:o}", META_SERVER_INFO, server_info(ex)));
}

/* ---- tools/call ---- */

struct mcp_call {
    struct http_exchange *ex;
    json_t *id;
    bool modern;
    struct tools_call *call;
};

static void on_call_abandoned(struct http_exchange *ex)
{
    struct mcp_call *m = ex->handler_data;
    tools_cancel(m->call);
    json_decref(m->id);
    free(m);
}

static void on_tool_done(void *arg, bool is_error, json_t *result)
{
    struct mcp_call *m = arg;
    char *text = result != NULL ? json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_t *r = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
                          text != NULL ? text : "{}", "isError", is_error);
    free(text);
    if (r != NULL && !is_error && result != NULL)
        json_object_set(r, "structuredContent", result); /* matches the tool's outputSchema */
    if (r != NULL && m->modern)
        stamp_modern(m->ex, r);
    json_decref(result);
    rpc_respond(m->ex, 200, m->id, r, false);
    json_decref(m->id);
    free(m);
}

static void tools_call(struct http_exchange *ex, const char *user_id, json_t *id, json_t *params, bool modern)
{
    int bad = modern ? 400 : 200;
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    if (name == NULL) {
        rpc_error(ex, bad, id, INVALID_PARAMS, "params.name is required", NULL);
        return;
    }
    if (tools_find(name) == NULL || json_string_length(json_object_get(params, "name")) != strlen(name)) {
        rpc_error(ex, bad, id, INVALID_PARAMS, "unknown tool", json_pack("{s:s}", "name", name));
        return;
    }
    if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
        rpc_error(ex, bad, id, INVALID_PARAMS, "params.arguments must be an object", NULL);
        return;
    }
    char *text = json_is_object(args) ? json_dumps(args, JSON_COMPACT) : strdup("{}");
    struct mcp_call *m = calloc(1, sizeof(*m));
    if (text == NULL || m == NULL) {
        free(text);
        free(m);
        http_respond_problem(ex, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    m->ex = ex;
    m->id = json_incref(id);
    m->modern = modern;
    ex->handler_data = m;
    ex->on_abandon = on_call_abandoned;
    struct tools_call *h = tools_run(api_ctx(ex)->store, user_id, name, text, strlen(text), on_tool_done, m);
    free(text);
    if (h != NULL)
        m->call = h; /* else on_tool_done ran already and freed m */
}

/* ---- results ---- */

static json_t *capabilities(void)
{
    return json_pack("{s:{s:b}}", "tools", "listChanged", false);
}

static void dispatch(struct http_exchange *ex, const char *user_id, const char *method, json_t *id,
                     json_t *params, bool modern)
{
    if (strcmp(method, "tools/call") == 0) {
        tools_call(ex, user_id, id, params, modern);
        return;
    }
    json_t *result = NULL;
    if (strcmp(method, "tools/list") == 0) {
        result = json_pack("{s:o}", "tools", tools_mcp_json());
        if (result != NULL && modern) {
            json_object_set_new(result, "ttlMs", json_integer(0));
            json_object_set_new(result, "cacheScope", json_string("private"));
        }
    } else if (modern && strcmp(method, "server/discover") == 0) {
        result = json_pack("{s:[s],s:o,s:s,s:i,s:s}", "supportedVersions", MODERN_VERSION, "capabilities",
                           capabilities(), "instructions", INSTRUCTIONS, "ttlMs", 0, "cacheScope", "private");
    } else if (!modern && strcmp(method, "initialize") == 0) {
        const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
        const char *version = LATEST_HANDSHAKE;
        for (size_t i = 0; asked != NULL && i < sizeof(handshake_versions) / sizeof(*handshake_versions); i++)
            if (strcmp(asked, handshake_versions[i]) == 0)
                version = handshake_versions[i];
        result = json_pack("{s:s,s:o,s:o,s:s}", "protocolVersion", version, "capabilities", capabilities(),
                           "serverInfo", server_info(ex), "instructions", INSTRUCTIONS);
    } else if (!modern && strcmp(method, "ping") == 0) {
        result = json_object();
    } else {
        rpc_error(ex, modern ? 404 : 200, id, METHOD_NOT_FOUND, "method not found",
                  json_pack("{s:s}", "method", method));
        return;
    }
    if (result != NULL && modern)
        stamp_modern(ex, result);
    rpc_respond(ex, 200, id, result != NULL ? result : json_object(), false);
}

/* The 2026-07-28 checks, in the order the revision gives them (first failure answers): a routing
 * header sent twice, the _meta envelope (−32602), MCP-Protocol-Version / Mcp-Method / Mcp-Name
 * against the body (−32020), then the version itself (−32022). False when answered. */
static bool modern_checks(struct http_exchange *ex, json_t *id, const char *method, json_t *params)
{
    static const char *const routing[] = {"mcp-protocol-version", "mcp-method", "mcp-name"};
    h2o_req_t *req = ex->req;
    h2o_iovec_t v;
    for (size_t i = 0; i < sizeof(routing) / sizeof(*routing); i++)
        if (header_get(req, routing[i], &v) == 2) {
            rpc_error(ex, 400, id, HEADER_MISMATCH,
                      "a routing header (MCP-Protocol-Version, Mcp-Method, "
                      "Mcp-Name) appears more than once",
                      NULL);
            return false;
        }
    json_t *meta = json_object_get(params, "_meta");
    json_t *version = json_object_get(meta, META_VERSION);
    if (!json_is_object(meta) || version == NULL || json_object_get(meta, META_CAPS) == NULL) {
        rpc_error(ex, 400, id, INVALID_PARAMS, "params._meta must carry " META_VERSION " and " META_CAPS,
                  NULL);
        return false;
    }
    if (!json_is_string(version) || !header_is(req, "mcp-protocol-version", json_string_value(version))) {
        rpc_error(ex, 400, id, HEADER_MISMATCH,
                  "MCP-Protocol-Version header does not match the request's protocol version", NULL);
        return false;
    }
    if (!header_is(req, "mcp-method", method)) {
        rpc_error(ex, 400, id, HEADER_MISMATCH, "Mcp-Method header does not match the request's method",
                  NULL);
        return false;
    }
    const char *name = json_string_value(json_object_get(params, "name"));
    if (strcmp(method, "tools/call") == 0 && name != NULL && !mcp_name_matches(req, name)) {
        rpc_error(ex, 400, id, HEADER_MISMATCH, "Mcp-Name header does not match params.name", NULL);
        return false;
    }
    if (strcmp(json_string_value(version), MODERN_VERSION) != 0) {
        rpc_error(ex, 400, id, UNSUPPORTED_VERSION, "Unsupported protocol version",
                  json_pack("{s:[s],s:O}", "supported", MODERN_VERSION, "requested", version));
        return false;
    }
    return true;
}

static bool jsonrpc_is_2(json_t *body)
{
    json_t *v = json_object_get(body, "jsonrpc");
    return json_is_string(v) && json_string_length(v) == 3 && memcmp(json_string_value(v), "2.0", 3) == 0;
}

/* "<scheme>://<authority>" of this request, for the metadata URLs. */
static void request_origin(h2o_req_t *req, char *out, size_t cap)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-proto"), -1);
    bool https = i >= 0 && h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
                                     H2O_STRLIT("https"));
    int n = (int)(req->authority.len < 255 ? req->authority.len : 255);
    snprintf(out, cap, "%s://%.*s", https ? "https" : "http", n, req->authority.base);
}

void api_mcp(struct http_exchange *ex)
{
    h2o_req_t *req = ex->req;
    if (has_header(req, "origin") && ex->cors_origin.len == 0) {
        rpc_error(ex, 403, NULL, INVALID_REQUEST, "this Origin is not allowed (FRONTEND_URL)", NULL);
        return;
    }
    /* Replies are plain JSON (no SSE streams): a client whose Accept rules JSON out gets 406, as
     * Streamable HTTP servers answer; no Accept at all means anything (RFC 9110 §12.5.1). */
    ssize_t accept = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
    if (accept >= 0) {
        h2o_iovec_t v = req->headers.entries[accept].value;
        if (h2o_strstr(v.base, v.len, H2O_STRLIT("application/json")) == SIZE_MAX &&
            h2o_strstr(v.base, v.len, H2O_STRLIT("application/*")) == SIZE_MAX &&
            h2o_strstr(v.base, v.len, H2O_STRLIT("*/*")) == SIZE_MAX) {
            rpc_error(ex, 406, NULL, INVALID_REQUEST,
                      "Not Acceptable: the client must accept application/json", NULL);
            return;
        }
    }
    char origin[300], challenge[400], user_id[BASE_UUID_LEN + 1];
    request_origin(req, origin, sizeof(origin));
    snprintf(challenge, sizeof(challenge),
             "Bearer resource_metadata=\"%s/.well-known/oauth-protected-resource\"", origin);
    if (!api_authenticate_challenge(ex, user_id, challenge))
        return;
    /* NUL is allowed inside strings here (tool arguments holding one are the tool's to refuse, as
     * isError), not in the method or the id. An integer beyond 64 bits anywhere is read again as a
     * double (an argument's number is the tool's to judge). The id may be written as a real (JSON
     * Schema's integer includes 7.0, and the document declares an integer id) but must then be an
     * exact integer within 2^53 - 1, and is answered as that integer. */
    json_error_t jerr;
    json_t *body = req->entity.base != NULL
                       ? json_loadb(req->entity.base, req->entity.len, JSON_ALLOW_NUL, &jerr)
                       : NULL;
    if (body == NULL && req->entity.base != NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        body = json_loadb(req->entity.base, req->entity.len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    json_t *real_id = json_object_get(body, "id");
    if (json_is_real(real_id)) {
        double d = json_real_value(real_id);
        if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || d != (double)(long long)d) {
            json_decref(body);
            rpc_error(ex, 400, NULL, INVALID_REQUEST, "the id is not an integer of at most 2^53 - 1", NULL);
            return;
        }
        json_object_set_new(body, "id", json_integer((json_int_t)d));
    }
    if (body == NULL) {
        rpc_error(ex, 400, NULL, PARSE_ERROR, "the body is not JSON", NULL);
        return;
    }
    if (json_is_array(body)) {
        json_decref(body);
        rpc_error(ex, 400, NULL, INVALID_REQUEST, "batches are not supported", NULL);
        return;
    }
    json_t *id = json_object_get(body, "id");
    const char *method = json_string_value(json_object_get(body, "method"));
    json_t *params = json_object_get(body, "params");
    bool id_ok = id == NULL ||
                 (json_is_string(id) && json_string_length(id) == strlen(json_string_value(id))) ||
                 json_is_integer(id);
    bool method_ok = method != NULL && json_string_length(json_object_get(body, "method")) == strlen(method);
    if (!json_is_object(body) || !jsonrpc_is_2(body) || !method_ok || !id_ok ||
        (params != NULL && !json_is_object(params))) {
        rpc_error(ex, 400, id_ok ? id : NULL, INVALID_REQUEST, "not a JSON-RPC 2.0 request", NULL);
        json_decref(body);
        return;
    }
    /* The era: a 2026-07-28 request says so in params._meta; an MCP-Protocol-Version header that
     * names no handshake-era version also takes the 2026 path (whose checks then explain what is
     * wrong). Anything else is the handshake era. */
    h2o_iovec_t hv;
    bool header_modern =
        header_get(req, "mcp-protocol-version", &hv) != 0 && !is_handshake_version(hv.base, hv.len);
    json_t *meta = json_object_get(params, "_meta");
    bool modern = header_modern || (json_is_object(meta) && json_object_get(meta, META_VERSION) != NULL);
    if (id == NULL) { /* a notification (notifications/initialized, cancelled, …): nothing to answer */
        json_decref(body);
        if (header_modern && !h2o_memis(hv.base, hv.len, H2O_STRLIT(MODERN_VERSION))) {
            rpc_error(ex, 400, NULL, UNSUPPORTED_VERSION, "Unsupported protocol version",
                      json_pack("{s:[s],s:s%}", "supported", MODERN_VERSION, "requested", hv.base, hv.len));
            return;
        }
        http_respond(ex, 202, NULL, "", 0);
        return;
    }
    if (modern && !modern_checks(ex, id, method, params)) {
        json_decref(body);
        return;
    }
    dispatch(ex, user_id, method, id, params, modern);
    json_decref(body);
}

/* RFC 9728 protected-resource metadata: what the 401's resource_metadata points at. */
void api_mcp_resource_metadata(struct http_exchange *ex)
{
    char origin[300], resource[320];
    request_origin(ex->req, origin, sizeof(origin));
    snprintf(resource, sizeof(resource), "%s/mcp", origin);
    http_add_header(ex, "cache-control", "public, max-age=300");
    http_respond_json(ex, 200,
                      json_pack("{s:s,s:[s],s:s,s:[]}", "resource", resource, "bearer_methods_supported",
                                "header", "resource_name", "Bollard", "authorization_servers"));
}
