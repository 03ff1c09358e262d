/* Unit tests of pkg/openapi: the embedded document describes exactly the routes the server has
 * (api_routes()), its security and path parameters are consistent, and the /docs page finds every
 * file it refers to inside the binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/api.h"
#include "openapi/openapi.h"

/* The operations an OpenAPI path item can hold, lower case as the document spells them. */
static const char *const operation_keys[] = {"get",     "put",  "post",  "delete",
                                             "options", "head", "patch", "trace"};

static json_t *load_document(void)
{
    size_t len = 0;
    const char *text = openapi_document(&len);
    assert_non_null(text);
    json_error_t error;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (doc == NULL)
        fail_msg("openapi.json:%d:%d: %s", error.line, error.column, error.text);
    return doc;
}

static bool is_operation_key(const char *key)
{
    for (size_t i = 0; i < sizeof(operation_keys) / sizeof(operation_keys[0]); i++)
        if (strcmp(key, operation_keys[i]) == 0)
            return true;
    return false;
}

static bool method_is(const char *method, const char *operation_key)
{
    return strcasecmp(method, operation_key) == 0;
}

static void test_document_is_openapi_3_1(void **state)
{
    (void)state;
    json_t *doc = load_document();
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    assert_non_null(version);
    assert_memory_equal(version, "3.1.", 4);
    assert_true(json_is_object(json_object_get(doc, "paths")));
    json_t *bearer =
        json_object_get(json_object_get(json_object_get(doc, "components"), "securitySchemes"), "bearerAuth");
    assert_string_equal(json_string_value(json_object_get(bearer, "type")), "http");
    assert_string_equal(json_string_value(json_object_get(bearer, "scheme")), "bearer");
    assert_string_equal(json_string_value(json_object_get(bearer, "bearerFormat")), "JWT");
    json_decref(doc);
}

/* The test that keeps server and document in step: every route the server has is documented, and
 * every documented operation is a route. HEAD comes with GET and OPTIONS preflight is generic, so
 * neither is a route; the document lists neither either. */
static void test_routes_match_document(void **state)
{
    (void)state;
    json_t *doc = load_document();
    json_t *paths = json_object_get(doc, "paths");
    size_t n_routes = 0;
    const struct http_route *routes = api_routes(&n_routes);
    assert_true(n_routes > 0);
    size_t undocumented = 0, unrouted = 0;

    for (size_t i = 0; i < n_routes; i++) {
        json_t *item = json_object_get(paths, routes[i].pattern);
        bool found = false;
        const char *key;
        json_t *op;
        json_object_foreach (item, key, op) {
            if (is_operation_key(key) && method_is(routes[i].method, key))
                found = true;
        }
        if (!found) {
            print_error("route %s %s is served but missing from pkg/openapi/openapi.json\n", routes[i].method,
                        routes[i].pattern);
            undocumented++;
        }
    }

    const char *path;
    json_t *item;
    json_object_foreach (paths, path, item) {
        const char *key;
        json_t *op;
        json_object_foreach (item, key, op) {
            if (!is_operation_key(key))
                continue; /* "parameters", "summary", … */
            bool found = false;
            for (size_t i = 0; i < n_routes && !found; i++)
                found = strcmp(routes[i].pattern, path) == 0 && method_is(routes[i].method, key);
            if (!found) {
                print_error("operation %s %s is in pkg/openapi/openapi.json but api_routes() has no such "
                            "route\n",
                            key, path);
                unrouted++;
            }
        }
    }
    json_decref(doc);
    if (undocumented + unrouted > 0)
        fail_msg("%zu served route(s) undocumented, %zu documented operation(s) not served", undocumented,
                 unrouted);
}

/* "#/components/parameters/Name" -> that object; anything else is returned as it is. */
static json_t *resolve_local_ref(json_t *doc, json_t *value)
{
    const char *ref = json_string_value(json_object_get(value, "$ref"));
    if (ref == NULL)
        return value;
    assert_true(strncmp(ref, "#/", 2) == 0);
    json_t *node = doc;
    char segment[128];
    for (const char *p = ref + 2; *p != '\0';) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        assert_true(n < sizeof(segment));
        memcpy(segment, p, n);
        segment[n] = '\0';
        node = json_object_get(node, segment);
        if (node == NULL)
            fail_msg("unresolvable $ref %s", ref);
        p += n + (slash != NULL ? 1 : 0);
    }
    return node;
}

static bool declares_path_parameter(json_t *doc, json_t *parameters, const char *name, size_t name_len)
{
    size_t i;
    json_t *param;
    json_array_foreach (parameters, i, param) {
        json_t *p = resolve_local_ref(doc, param);
        const char *in = json_string_value(json_object_get(p, "in"));
        const char *pname = json_string_value(json_object_get(p, "name"));
        if (in != NULL && pname != NULL && strcmp(in, "path") == 0 && strlen(pname) == name_len &&
            memcmp(pname, name, name_len) == 0)
            return json_is_true(json_object_get(p, "required"));
    }
    return false;
}

/* Every {placeholder} of a path template is a required path parameter of each of its operations,
 * so "Try it out" on /docs can fill it in. */
static void test_path_parameters_declared(void **state)
{
    (void)state;
    json_t *doc = load_document();
    const char *path;
    json_t *item;
    json_object_foreach (json_object_get(doc, "paths"), path, item) {
        const char *key;
        json_t *op;
        json_object_foreach (item, key, op) {
            if (!is_operation_key(key))
                continue;
            for (const char *open = strchr(path, '{'); open != NULL; open = strchr(open + 1, '{')) {
                const char *close = strchr(open, '}');
                assert_non_null(close);
                const char *name = open + 1;
                size_t name_len = (size_t)(close - name);
                if (!declares_path_parameter(doc, json_object_get(item, "parameters"), name, name_len) &&
                    !declares_path_parameter(doc, json_object_get(op, "parameters"), name, name_len))
                    fail_msg("%s %s: {%.*s} is not declared as a required path parameter", key, path,
                             (int)name_len, name);
            }
        }
    }
    json_decref(doc);
}

/* Public routes say so with "security": [] (the document's default is the bearer token); task
 * routes and /mcp keep the default. Which is which follows CONTRACT §4-§5 (§5 "MCP"): the accounts
 * routes and the operational ones are public. */
static void test_security_per_operation(void **state)
{
    (void)state;
    json_t *doc = load_document();
    json_t *global = json_object_get(doc, "security");
    assert_int_equal(json_array_size(global), 1);
    assert_non_null(json_object_get(json_array_get(global, 0), "bearerAuth"));
    const char *path;
    json_t *item;
    json_object_foreach (json_object_get(doc, "paths"), path, item) {
        /* /mcp (CONTRACT §5, "MCP") needs the bearer token although it is outside /api/ */
        bool is_public = (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/mcp") != 0) ||
                         strncmp(path, "/api/auth/", 10) == 0 || strcmp(path, "/api/health") == 0;
        const char *key;
        json_t *op;
        json_object_foreach (item, key, op) {
            if (!is_operation_key(key))
                continue;
            json_t *security = json_object_get(op, "security");
            if (is_public && !(json_is_array(security) && json_array_size(security) == 0))
                fail_msg("%s %s is public: it needs \"security\": []", key, path);
            if (!is_public && security != NULL)
                fail_msg("%s %s needs the bearer token: keep the document's default security", key, path);
            if (!is_public && json_object_get(json_object_get(op, "responses"), "401") == NULL)
                fail_msg("%s %s needs the bearer token: it must document 401", key, path);
        }
    }
    json_decref(doc);
}

static const char *asset(const char *path, size_t *len, const char **content_type)
{
    *len = 0;
    *content_type = NULL;
    return openapi_docs_asset(path, strlen(path), len, content_type);
}

static void test_docs_lookup(void **state)
{
    (void)state;
    size_t len, page_len;
    const char *type;
    const char *page = asset("/docs", &page_len, &type);
    assert_non_null(page);
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_ptr_equal(asset("/docs/", &len, &type), page);
    assert_ptr_equal(asset("/docs/index.html", &len, &type), page);
    assert_int_equal(len, page_len);
    assert_non_null(asset("/docs/swagger-ui-bundle.js", &len, &type));
    assert_string_equal(type, "text/javascript; charset=utf-8");
    assert_true(len > 100000);
    assert_non_null(asset("/docs/swagger-ui.css", &len, &type));
    assert_string_equal(type, "text/css; charset=utf-8");
    /* The path comes normalised and without its query: a '?' left in it was a decoded %3F. */
    assert_null(asset("/docs/swagger-ui.css?v=1", &len, &type));
    assert_non_null(asset("/docs/favicon-32x32.png", &len, &type));
    assert_string_equal(type, "image/png");
    assert_memory_equal(asset("/docs/favicon-32x32.png", &len, &type), "\x89PNG", 4);

    static const char *const unknown[] = {
        "",
        "/",
        "/doc",
        "/docsx",
        "/docs//index.html",
        "/docs/../openapi.json",
        "/docs/nope",
        "/docs/.",
        "/DOCS/",
        "/docs/index.html/",
        "/openapi.json",
        "/docs/swagger-ui.css/x",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        if (asset(unknown[i], &len, &type) != NULL)
            fail_msg("%s should be unknown", unknown[i]);
    }
    /* The length is the caller's: the path need not be NUL-terminated there. */
    const char *with_tail = "/docs/swagger-ui.cssGARBAGE";
    assert_non_null(openapi_docs_asset(with_tail, strlen("/docs/swagger-ui.css"), &len, &type));
    assert_null(openapi_docs_asset(with_tail, strlen("/docs/swagger-ui.cs"), &len, &type));
}

/* Every src= and href= of the page is either the document or a file built into the binary, and
 * neither the page nor its own script names another host. */
static void test_page_references_resolve(void **state)
{
    (void)state;
    size_t page_len, len;
    const char *type;
    const char *page = asset("/docs", &page_len, &type);
    assert_non_null(page);
    char *html = strndup(page, page_len);
    assert_non_null(html);
    size_t refs = 0;
    static const char *const attributes[] = {"src=\"", "href=\""};
    for (size_t a = 0; a < 2; a++) {
        for (const char *p = strstr(html, attributes[a]); p != NULL; p = strstr(p + 1, attributes[a])) {
            const char *url = p + strlen(attributes[a]);
            const char *end = strchr(url, '"');
            assert_non_null(end);
            char ref[256];
            assert_true((size_t)(end - url) < sizeof(ref));
            memcpy(ref, url, (size_t)(end - url));
            ref[end - url] = '\0';
            refs++;
            if (strcmp(ref, "/openapi.json") == 0)
                continue;
            if (openapi_docs_asset(ref, strlen(ref), &len, &type) == NULL)
                fail_msg("the /docs page refers to %s, which is not built in", ref);
        }
    }
    assert_true(refs >= 4);
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    free(html);
    const char *init = asset("/docs/swagger-initializer.js", &len, &type);
    assert_non_null(init);
    char *js = strndup(init, len);
    assert_non_null(js);
    assert_null(strstr(js, "http://"));
    assert_null(strstr(js, "https://"));
    assert_non_null(strstr(js, "url: \"/openapi.json\""));
    assert_non_null(strstr(js, "validatorUrl: null"));
    free(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_is_openapi_3_1),
        cmocka_unit_test(test_routes_match_document),
        cmocka_unit_test(test_path_parameters_declared),
        cmocka_unit_test(test_security_per_operation),
        cmocka_unit_test(test_docs_lookup),
        cmocka_unit_test(test_page_references_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
