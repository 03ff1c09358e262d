/* probe: a small static exec-probe for distroless containers (HTTP, TCP, heartbeat file).
 *
 * Exit codes: 0 healthy, 1 unhealthy (the target answered, but wrong), 2 unreachable or timed out,
 * 3 usage error. On failure exactly one line goes to stderr; on success nothing is written. The process
 * never forks or execs, so it can never leave a zombie behind for PID 1 to reap. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_response.h"
#include "json_field.h"
#include "net.h"
#include "target.h"

#ifndef PROBE_VERSION
#define PROBE_VERSION "0.0.0"
#endif

#define DEFAULT_TIMEOUT_MS     1000
#define MAX_TIMEOUT_MS         600000
#define DEFAULT_PORT           8000
#define DEFAULT_HEARTBEAT_FILE "/tmp/bollard-worker.heartbeat"
#define RESPONSE_HEAD_MAX      16384 /* a longer response head is refused, not read on */
#define REQUEST_MAX            8192
#define LIST_MAX               16   /* --header and --json-field values */
#define ENV_LIST_MAX           4096 /* a PROBE_HEADERS / PROBE_JSON_FIELD value */
#define HEARTBEAT_READ_MAX     65536
#define MESSAGE_MAX            512

enum probe_exit {
    PROBE_HEALTHY = 0,
    PROBE_UNHEALTHY = 1,
    PROBE_UNREACHABLE = 2,
    PROBE_USAGE = 3,
};

enum probe_command { CMD_HTTP, CMD_LIVE, CMD_READY, CMD_TCP, CMD_FILE, CMD_COUNT };

#define FOR_HTTP (1u << CMD_HTTP | 1u << CMD_LIVE | 1u << CMD_READY)
#define FOR_ALL  (FOR_HTTP | 1u << CMD_TCP | 1u << CMD_FILE)
#define FOR_FILE (1u << CMD_FILE)

enum option_id {
    OPT_TIMEOUT_MS,
    OPT_PATH,
    OPT_EXPECT,
    OPT_HEADER,
    OPT_HOST,
    OPT_MAX_AGE,
    OPT_JSON_FIELD,
    OPT_COUNT,
};

struct option_spec {
    const char *name; /* without the leading "--" */
    const char *env;
    const char *argument;
    unsigned commands; /* bit per enum probe_command */
    bool repeatable;   /* the environment form then holds one value per line */
    const char *help;
};

static const struct option_spec OPTIONS[OPT_COUNT] = {
    [OPT_TIMEOUT_MS] = {"timeout-ms", "PROBE_TIMEOUT_MS", "N", FOR_ALL, false,
                        "budget for the whole check, DNS excluded; default 1000"},
    [OPT_PATH] = {"path", "PROBE_PATH", "P", FOR_HTTP, false, "request path (default / or the URL's path)"},
    [OPT_EXPECT] = {"expect", "PROBE_EXPECT", "RANGES", FOR_HTTP, false,
                    "healthy statuses, e.g. 200,204; default 200-399"},
    [OPT_HEADER] = {"header", "PROBE_HEADERS", "K:V", FOR_HTTP, true,
                    "extra request header, repeatable (env: one per line)"},
    [OPT_HOST] = {"host", "PROBE_HOST", "H", FOR_HTTP, false,
                  "address to connect to (default 127.0.0.1 or the URL's)"},
    [OPT_MAX_AGE] = {"max-age", "PROBE_MAX_AGE", "SECONDS", FOR_FILE, false,
                     "required: the file's mtime may be at most this old"},
    [OPT_JSON_FIELD] = {"json-field", "PROBE_JSON_FIELD", "KEY=VALUE", FOR_FILE, true,
                        "top-level JSON field KEY must equal VALUE, repeatable"},
};

static const char *const COMMAND_NAMES[CMD_COUNT] = {"http", "live", "ready", "tcp", "file"};

/* Everything the command line and the environment said; read-only once parsed. */
struct probe_config {
    enum probe_command command;
    const char *positional;
    const char *value[OPT_COUNT];
    const char *list[OPT_COUNT][LIST_MAX];
    size_t list_count[OPT_COUNT];
    char env_list_copy[OPT_COUNT][ENV_LIST_MAX];
    int timeout_ms;
};

/* ---- output: at most one line, written with a single write(2) ---- */

static void write_line(int fd, char *line, size_t length)
{
    /* Kubernetes shows this line in events: anything from outside must not split or garble it. */
    for (size_t i = 0; i < length; i++) {
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    }
    line[length] = '\n';
    ssize_t ignored = write(fd, line, length + 1);
    (void)ignored; /* nothing sensible is left to do if stderr is gone */
}

__attribute__((format(printf, 3, 4))) static int report(int code, const char *subject, const char *format,
                                                        ...)
{
    static const char *const verdicts[] = {"healthy", "unhealthy", "unreachable", "usage"};
    char line[MESSAGE_MAX + 1];
    int used = snprintf(line, MESSAGE_MAX, "%s: %s: ", subject, verdicts[code]);
    if (used < 0)
        used = 0;
    if (used > MESSAGE_MAX - 1)
        used = MESSAGE_MAX - 1;
    va_list args;
    va_start(args, format);
    int detail = vsnprintf(line + used, (size_t)(MESSAGE_MAX - used), format, args);
    va_end(args);
    size_t length = (size_t)used + (detail > 0 ? (size_t)detail : 0);
    if (length > MESSAGE_MAX - 1)
        length = MESSAGE_MAX - 1;
    write_line(STDERR_FILENO, line, length);
    return code;
}

#define usage_error(...) report(PROBE_USAGE, "probe", __VA_ARGS__)

static int print_help(void)
{
    char text[4096];
    size_t used = 0;
#define APPEND(...)                                                                                          \
    do {                                                                                                     \
        int n = snprintf(text + used, sizeof text - used, __VA_ARGS__);                                      \
        if (n > 0)                                                                                           \
            used = (size_t)n < sizeof text - used ? used + (size_t)n : sizeof text - 1;                      \
    } while (0)
    APPEND("Usage: probe COMMAND [TARGET] [OPTIONS]\n"
           "Kubernetes exec probe. Exit status: 0 healthy, 1 unhealthy (the target answered, but wrong),\n"
           "2 unreachable or timed out, 3 usage error. On failure it prints one line saying which and why;\n"
           "on success it prints nothing.\n\n"
           "Commands:\n"
           "  http [URL|PORT]  HTTP/1.1 GET; URL is http://HOST[:PORT][/PATH] (IPv6 in brackets); the\n"
           "                   default is 127.0.0.1 on $PORT (else 8000); target env: PROBE_URL\n"
           "  live             GET /health/live on 127.0.0.1:$PORT (else 8000)\n"
           "  ready            GET /health/ready on 127.0.0.1:$PORT (else 8000)\n"
           "  tcp HOST:PORT    TCP connect check; a bare PORT means 127.0.0.1; target env: PROBE_ADDRESS\n"
           "  file [PATH]      the (heartbeat) file exists and was modified recently; target env:\n"
           "                   PROBE_FILE, else $WORKER_HEARTBEAT_FILE, else " DEFAULT_HEARTBEAT_FILE "\n\n"
           "Options (each may instead come from the environment variable shown; the command line wins):\n");
    for (int i = 0; i < OPT_COUNT; i++) {
        char left[48];
        snprintf(left, sizeof left, "--%s %s", OPTIONS[i].name, OPTIONS[i].argument);
        APPEND("  %-24s %-17s %s\n", left, OPTIONS[i].env, OPTIONS[i].help);
    }
    APPEND("  %-24s %-17s %s\n", "--help", "", "show this text");
    APPEND("  %-24s %-17s %s\n", "--version", "", "show the version");
    APPEND("\nHTTP requests go to loopback unless told otherwise, send User-Agent: bollard-probe/%s,\n"
           "read at most %d bytes of response head, and never follow redirects. Host names: IP literals\n"
           "and localhost are used as they are; other names are looked up in /etc/hosts, then DNS\n"
           "(/etc/resolv.conf), without NSS; the lookup is not part of the timeout.\n",
           PROBE_VERSION, RESPONSE_HEAD_MAX);
#undef APPEND
    if (write(STDOUT_FILENO, text, used) != (ssize_t)used)
        return PROBE_USAGE;
    return PROBE_HEALTHY;
}

static int print_version(void)
{
    static const char text[] = "probe (bollard) " PROBE_VERSION "\n";
    if (write(STDOUT_FILENO, text, sizeof text - 1) != (ssize_t)(sizeof text - 1))
        return PROBE_USAGE;
    return PROBE_HEALTHY;
}

/* ---- configuration ---- */

static bool parse_number(const char *text, long min, long max, long *value)
{
    long result = 0;
    if (*text == '\0')
        return false;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        result = result * 10 + (*c - '0');
        if (result > max)
            return false;
    }
    if (result < min)
        return false;
    *value = result;
    return true;
}

static int find_option(const char *name, size_t length)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        if (strlen(OPTIONS[i].name) == length && strncmp(OPTIONS[i].name, name, length) == 0)
            return i;
    }
    return -1;
}

/* Splits a multi-line environment value into a repeatable option's list (one value per line). */
static int load_env_list(struct probe_config *config, int id, const char *env_value)
{
    char *copy = config->env_list_copy[id];
    if (strlen(env_value) >= ENV_LIST_MAX)
        return usage_error("%s is longer than %d bytes", OPTIONS[id].env, ENV_LIST_MAX - 1);
    strcpy(copy, env_value);
    char *save = NULL;
    for (char *item = strtok_r(copy, "\r\n", &save); item != NULL; item = strtok_r(NULL, "\r\n", &save)) {
        if (config->list_count[id] >= LIST_MAX)
            return usage_error("%s has more than %d entries", OPTIONS[id].env, LIST_MAX);
        config->list[id][config->list_count[id]++] = item;
    }
    return PROBE_HEALTHY;
}

/* Returns PROBE_HEALTHY to go on, another code to exit with (help and version exit 0 via *done). */
static int parse_arguments(int argc, char **argv, struct probe_config *config, bool *done)
{
    *done = false;
    if (argc < 2)
        return usage_error("missing command: http, live, ready, tcp or file (see probe --help)");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        *done = true;
        return print_help();
    }
    if (strcmp(first, "--version") == 0) {
        *done = true;
        return print_version();
    }
    int command = -1;
    for (int i = 0; i < CMD_COUNT; i++) {
        if (strcmp(first, COMMAND_NAMES[i]) == 0)
            command = i;
    }
    if (command < 0)
        return usage_error("unknown command '%.40s' (see probe --help)", first);
    config->command = (enum probe_command)command;

    bool options_ended = false;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_ended && strcmp(arg, "--") == 0) {
            options_ended = true;
            continue;
        }
        if (options_ended || arg[0] != '-' || arg[1] == '\0') {
            if (config->positional != NULL)
                return usage_error("unexpected argument '%.60s' (see probe --help)", arg);
            if (config->command == CMD_LIVE || config->command == CMD_READY)
                return usage_error("%s takes no target; it uses $PORT (see probe --help)",
                                   COMMAND_NAMES[command]);
            config->positional = arg;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *done = true;
            return print_help();
        }
        if (strcmp(arg, "--version") == 0) {
            *done = true;
            return print_version();
        }
        if (arg[1] != '-')
            return usage_error("unknown option '%.40s' (see probe --help)", arg);
        const char *name = arg + 2;
        const char *equals = strchr(name, '=');
        size_t name_length = equals ? (size_t)(equals - name) : strlen(name);
        int id = find_option(name, name_length);
        if (id < 0)
            return usage_error("unknown option '%.40s' (see probe --help)", arg);
        if (!(OPTIONS[id].commands & (1u << command)))
            return usage_error("--%s does not apply to '%s'", OPTIONS[id].name, COMMAND_NAMES[command]);
        const char *value = equals ? equals + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc)
                return usage_error("--%s needs a value (%s)", OPTIONS[id].name, OPTIONS[id].argument);
            value = argv[++i];
        }
        if (OPTIONS[id].repeatable) {
            if (config->list_count[id] >= LIST_MAX)
                return usage_error("--%s given more than %d times", OPTIONS[id].name, LIST_MAX);
            config->list[id][config->list_count[id]++] = value;
        } else {
            config->value[id] = value;
        }
    }

    /* The environment fills in whatever the command line left unset; empty counts as unset. */
    for (int id = 0; id < OPT_COUNT; id++) {
        if (!(OPTIONS[id].commands & (1u << command)))
            continue;
        const char *env_value = getenv(OPTIONS[id].env);
        if (env_value == NULL || env_value[0] == '\0')
            continue;
        if (OPTIONS[id].repeatable) {
            if (config->list_count[id] == 0) {
                int rc = load_env_list(config, id, env_value);
                if (rc != PROBE_HEALTHY)
                    return rc;
            }
        } else if (config->value[id] == NULL) {
            config->value[id] = env_value;
        }
    }

    long timeout = DEFAULT_TIMEOUT_MS;
    if (config->value[OPT_TIMEOUT_MS] != NULL &&
        !parse_number(config->value[OPT_TIMEOUT_MS], 1, MAX_TIMEOUT_MS, &timeout))
        return usage_error("--timeout-ms must be a whole number of milliseconds, 1 to %d", MAX_TIMEOUT_MS);
    config->timeout_ms = (int)timeout;
    return PROBE_HEALTHY;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : fallback;
}

/* ---- http ---- */

struct http_request_plan {
    char connect_host[TARGET_HOST_MAX];
    uint16_t port;
    char path[TARGET_PATH_MAX];
    char host_header[TARGET_HOST_MAX + 10];
    char display[TARGET_HOST_MAX + TARGET_PATH_MAX + 32]; /* "http://host:port/path" for messages */
    struct http_status_set expected;
    const char *expected_text;
};

static bool header_name_is(const char *header, const char *name)
{
    size_t length = strlen(name);
    return strncasecmp(header, name, length) == 0 && header[length] == ':';
}

static bool header_overridden(const struct probe_config *config, const char *name)
{
    for (size_t i = 0; i < config->list_count[OPT_HEADER]; i++) {
        if (header_name_is(config->list[OPT_HEADER][i], name))
            return true;
    }
    return false;
}

static int validate_header(const char *header)
{
    const char *colon = strchr(header, ':');
    if (colon == NULL || colon == header)
        return usage_error("--header '%.60s' is not NAME:VALUE", header);
    for (const char *c = header; c < colon; c++) {
        bool token = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c != '\0' && strchr("!#$%&'*+-.^_`|~", *c) != NULL);
        if (!token)
            return usage_error("--header '%.60s' has an invalid name", header);
    }
    for (const unsigned char *c = (const unsigned char *)colon + 1; *c; c++) {
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            return usage_error("--header '%.60s' has a control character in its value", header);
    }
    return PROBE_HEALTHY;
}

static int plan_http(const struct probe_config *config, struct http_request_plan *plan)
{
    struct http_target target;
    const char *error = "invalid target";
    memset(plan, 0, sizeof *plan);
    memset(&target, 0, sizeof target);

    const char *target_text = config->positional;
    if (target_text == NULL && config->command == CMD_HTTP)
        target_text = env_or("PROBE_URL", NULL);
    if (target_text != NULL && !target_parse_http(target_text, &target, &error))
        return usage_error("bad URL '%.80s': %s", target_text, error);

    plan->port = target.port;
    if (plan->port == 0 && target.host[0] != '\0')
        plan->port = 80; /* a URL without a port */
    if (plan->port == 0) {
        const char *port_text = env_or("PORT", NULL);
        long port = DEFAULT_PORT;
        if (port_text != NULL && !parse_number(port_text, 1, 65535, &port))
            return usage_error("PORT must be a port number, 1 to 65535");
        plan->port = (uint16_t)port;
    }

    const char *host = config->value[OPT_HOST];
    if (host != NULL) {
        if (!target_parse_host(host, plan->connect_host, sizeof plan->connect_host))
            return usage_error("--host '%.80s' is not a host name or IP address", host);
    } else if (target.host[0] != '\0') {
        snprintf(plan->connect_host, sizeof plan->connect_host, "%s", target.host);
    } else {
        snprintf(plan->connect_host, sizeof plan->connect_host, "127.0.0.1");
    }

    const char *path = config->value[OPT_PATH];
    if (path == NULL)
        path = target.path[0] != '\0'         ? target.path
               : config->command == CMD_LIVE  ? "/health/live"
               : config->command == CMD_READY ? "/health/ready"
                                              : "/";
    if (!target_path_valid(path))
        return usage_error("path '%.80s' must start with / and hold no spaces or control characters", path);
    snprintf(plan->path, sizeof plan->path, "%s", path);

    char connect_authority[TARGET_HOST_MAX + 10];
    target_format_authority(connect_authority, sizeof connect_authority, plan->connect_host, plan->port);
    if (target.authority[0] != '\0')
        snprintf(plan->host_header, sizeof plan->host_header, "%s", target.authority);
    else
        snprintf(plan->host_header, sizeof plan->host_header, "%s", connect_authority);
    snprintf(plan->display, sizeof plan->display, "http://%s%s", connect_authority, plan->path);

    plan->expected_text = config->value[OPT_EXPECT] ? config->value[OPT_EXPECT] : "200-399";
    if (!http_status_set_parse(plan->expected_text, &plan->expected))
        return usage_error("--expect '%.40s' is not a list of status codes or ranges such as 200-399",
                           plan->expected_text);

    for (size_t i = 0; i < config->list_count[OPT_HEADER]; i++) {
        int rc = validate_header(config->list[OPT_HEADER][i]);
        if (rc != PROBE_HEALTHY)
            return rc;
    }
    return PROBE_HEALTHY;
}

static int build_request(const struct probe_config *config, const struct http_request_plan *plan,
                         char *request, size_t capacity, size_t *length)
{
    size_t used = 0;
    bool overflow = false;
#define ADD(...)                                                                                             \
    do {                                                                                                     \
        int n = snprintf(request + used, capacity - used, __VA_ARGS__);                                      \
        if (n < 0 || (size_t)n >= capacity - used)                                                           \
            overflow = true;                                                                                 \
        else                                                                                                 \
            used += (size_t)n;                                                                               \
    } while (0)
    ADD("GET %s HTTP/1.1\r\n", plan->path);
    if (!header_overridden(config, "Host"))
        ADD("Host: %s\r\n", plan->host_header);
    if (!header_overridden(config, "User-Agent"))
        ADD("User-Agent: bollard-probe/%s\r\n", PROBE_VERSION);
    if (!header_overridden(config, "Accept"))
        ADD("Accept: */*\r\n");
    if (!header_overridden(config, "Connection"))
        ADD("Connection: close\r\n");
    for (size_t i = 0; i < config->list_count[OPT_HEADER] && !overflow; i++) {
        const char *header = config->list[OPT_HEADER][i];
        const char *colon = strchr(header, ':');
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (*value == '\0')
            continue; /* as with the kubelet, an empty value only removes the default header */
        ADD("%.*s: %s\r\n", (int)(colon - header), header, value);
    }
    ADD("\r\n");
#undef ADD
    if (overflow)
        return usage_error("request headers are longer than %d bytes", REQUEST_MAX);
    *length = used;
    return PROBE_HEALTHY;
}

static int run_http(const struct probe_config *config)
{
    struct http_request_plan plan;
    struct net_addresses addresses;
    char request[REQUEST_MAX];
    char head[RESPONSE_HEAD_MAX];
    size_t request_length = 0;
    size_t used = 0;
    const char *error = NULL;
    int error_number = 0;
    int fd = -1;
    int rc = plan_http(config, &plan);
    if (rc != PROBE_HEALTHY)
        return rc;
    rc = build_request(config, &plan, request, sizeof request, &request_length);
    if (rc != PROBE_HEALTHY)
        return rc;

    if (!net_resolve(plan.connect_host, plan.port, &addresses, &error))
        return report(PROBE_UNREACHABLE, plan.display, "cannot resolve %s: %s", plan.connect_host, error);

    const int64_t deadline = net_now_ms() + config->timeout_ms; /* starts after DNS, by design */
    switch (net_connect(&addresses, deadline, &fd, &error_number)) {
    case NET_OK:
        break;
    case NET_TIMEOUT:
        return report(PROBE_UNREACHABLE, plan.display, "connect timed out after %d ms", config->timeout_ms);
    case NET_FAILED:
        return report(PROBE_UNREACHABLE, plan.display, "connect: %s", strerror(error_number));
    }

    switch (net_send_all(fd, request, request_length, deadline, &error_number)) {
    case NET_OK:
        break;
    case NET_TIMEOUT:
        rc = report(PROBE_UNREACHABLE, plan.display, "timed out sending the request after %d ms",
                    config->timeout_ms);
        goto cleanup;
    case NET_FAILED:
        rc = report(PROBE_UNREACHABLE, plan.display, "send: %s", strerror(error_number));
        goto cleanup;
    }

    for (;;) {
        struct http_response_head parsed;
        size_t received = 0;
        if (used == sizeof head) {
            rc = report(PROBE_UNHEALTHY, plan.display, "response head longer than %d bytes",
                        RESPONSE_HEAD_MAX);
            goto cleanup;
        }
        enum net_status status =
            net_receive(fd, head + used, sizeof head - used, deadline, &received, &error_number);
        if (status == NET_TIMEOUT) {
            if (used == 0)
                rc = report(PROBE_UNREACHABLE, plan.display, "no response within %d ms", config->timeout_ms);
            else
                rc = report(PROBE_UNREACHABLE, plan.display, "response incomplete after %d ms (%zu bytes)",
                            config->timeout_ms, used);
            goto cleanup;
        }
        if (status == NET_FAILED) {
            /* Before any byte the server never answered; after some, it answered with a broken response. */
            rc = report(used == 0 ? PROBE_UNREACHABLE : PROBE_UNHEALTHY, plan.display, "receive: %s",
                        strerror(error_number));
            goto cleanup;
        }
        if (received == 0) {
            if (used == 0)
                rc = report(PROBE_UNREACHABLE, plan.display, "connection closed without a response");
            else
                rc = report(PROBE_UNHEALTHY, plan.display, "response truncated after %zu bytes", used);
            goto cleanup;
        }
        used += received;
        switch (http_response_parse(head, used, &parsed)) {
        case HTTP_PARSE_INCOMPLETE:
            continue;
        case HTTP_PARSE_INVALID:
            rc = report(PROBE_UNHEALTHY, plan.display, "invalid response: %s", parsed.error);
            goto cleanup;
        case HTTP_PARSE_DONE:
            if (http_status_set_contains(&plan.expected, parsed.status)) {
                rc = PROBE_HEALTHY;
            } else {
                rc = report(PROBE_UNHEALTHY, plan.display, "status %d (expected %s)", parsed.status,
                            plan.expected_text);
            }
            goto cleanup;
        }
    }

cleanup:
    net_close_quietly(fd, head, sizeof head);
    return rc;
}

/* ---- tcp ---- */

static int run_tcp(const struct probe_config *config)
{
    char host[TARGET_HOST_MAX];
    char display[TARGET_HOST_MAX + 16];
    uint16_t port = 0;
    const char *error = "invalid address";
    struct net_addresses addresses;
    int error_number = 0;
    int fd = -1;

    const char *text = config->positional ? config->positional : env_or("PROBE_ADDRESS", NULL);
    if (text == NULL)
        return usage_error("tcp needs HOST:PORT (or PROBE_ADDRESS)");
    if (!target_parse_host_port(text, host, sizeof host, &port, &error))
        return usage_error("bad address '%.80s': %s", text, error);
    if (host[0] == '\0')
        snprintf(host, sizeof host, "127.0.0.1");
    target_format_authority(display, sizeof display, host, port);

    if (!net_resolve(host, port, &addresses, &error))
        return report(PROBE_UNREACHABLE, display, "cannot resolve %s: %s", host, error);
    const int64_t deadline = net_now_ms() + config->timeout_ms;
    switch (net_connect(&addresses, deadline, &fd, &error_number)) {
    case NET_OK:
        close(fd);
        return PROBE_HEALTHY;
    case NET_TIMEOUT:
        return report(PROBE_UNREACHABLE, display, "connect timed out after %d ms", config->timeout_ms);
    case NET_FAILED:
        break;
    }
    return report(PROBE_UNREACHABLE, display, "connect: %s", strerror(error_number));
}

/* ---- file ---- */

static int check_json_fields(const struct probe_config *config, const char *path, int fd)
{
    char content[HEARTBEAT_READ_MAX + 1];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, content + used, sizeof content - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return report(PROBE_UNREACHABLE, path, "cannot read: %s", strerror(errno));
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > HEARTBEAT_READ_MAX)
            return report(PROBE_UNHEALTHY, path, "larger than %d bytes; not a heartbeat", HEARTBEAT_READ_MAX);
    }
    for (size_t i = 0; i < config->list_count[OPT_JSON_FIELD]; i++) {
        const char *field = config->list[OPT_JSON_FIELD][i];
        const char *equals = strchr(field, '=');
        char key[256];
        char actual[80];
        if (equals == NULL || equals == field || (size_t)(equals - field) >= sizeof key)
            return usage_error("--json-field '%.60s' is not KEY=VALUE", field);
        memcpy(key, field, (size_t)(equals - field));
        key[equals - field] = '\0';
        switch (json_field_check(content, used, key, equals + 1, actual, sizeof actual)) {
        case JSON_FIELD_MATCH:
            break;
        case JSON_FIELD_MISMATCH:
            return report(PROBE_UNHEALTHY, path, "field %.60s is %s, expected %.60s", key, actual,
                          equals + 1);
        case JSON_FIELD_MISSING:
            return report(PROBE_UNHEALTHY, path, "no field %.60s", key);
        case JSON_FIELD_INVALID:
            return report(PROBE_UNHEALTHY, path, "not a valid JSON object");
        }
    }
    return PROBE_HEALTHY;
}

static int run_file(const struct probe_config *config)
{
    const char *path = config->positional;
    if (path == NULL)
        path = env_or("PROBE_FILE", env_or("WORKER_HEARTBEAT_FILE", DEFAULT_HEARTBEAT_FILE));
    if (config->value[OPT_MAX_AGE] == NULL)
        return usage_error("file needs --max-age SECONDS (or PROBE_MAX_AGE)");
    long max_age = 0;
    if (!parse_number(config->value[OPT_MAX_AGE], 1, 100L * 365 * 86400, &max_age))
        return usage_error("--max-age must be a whole number of seconds, at least 1");
    for (size_t i = 0; i < config->list_count[OPT_JSON_FIELD]; i++) {
        const char *equals = strchr(config->list[OPT_JSON_FIELD][i], '=');
        if (equals == NULL || equals == config->list[OPT_JSON_FIELD][i])
            return usage_error("--json-field '%.60s' is not KEY=VALUE", config->list[OPT_JSON_FIELD][i]);
    }

    /* O_NONBLOCK: a FIFO planted at the path must not hang the probe. Opening (rather than only
     * stat-ing) also proves the file is readable by the probe's user. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return report(PROBE_UNHEALTHY, path, "missing");
        return report(PROBE_UNREACHABLE, path, "cannot open: %s", strerror(errno));
    }
    int rc;
    struct stat info;
    struct timespec now;
    if (fstat(fd, &info) != 0) {
        rc = report(PROBE_UNREACHABLE, path, "cannot stat: %s", strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(info.st_mode)) {
        rc = report(PROBE_UNHEALTHY, path, "not a regular file");
        goto cleanup;
    }
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        rc = report(PROBE_UNREACHABLE, path, "cannot read the clock: %s", strerror(errno));
        goto cleanup;
    }
    int64_t age_ms = ((int64_t)now.tv_sec - (int64_t)info.st_mtim.tv_sec) * 1000 +
                     (now.tv_nsec - info.st_mtim.tv_nsec) / 1000000;
    if (age_ms > (int64_t)max_age * 1000) {
        rc = report(PROBE_UNHEALTHY, path, "stale: modified %lld s ago (max %ld s)",
                    (long long)(age_ms / 1000), max_age);
        goto cleanup;
    }
    /* An mtime far in the future would keep a dead worker "fresh" until that date. */
    if (-age_ms > (int64_t)max_age * 1000) {
        rc = report(PROBE_UNHEALTHY, path, "modified %lld s in the future", (long long)(-age_ms / 1000));
        goto cleanup;
    }
    rc = check_json_fields(config, path, fd);

cleanup:
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct probe_config config;
    memset(&config, 0, sizeof config);
    /* A reader of our one line that has gone away must not turn the verdict into a death by SIGPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return report(PROBE_UNREACHABLE, "probe", "cannot ignore SIGPIPE: %s", strerror(errno));
    bool done = false;
    int rc = parse_arguments(argc, argv, &config, &done);
    if (rc != PROBE_HEALTHY || done)
        return rc;
    switch (config.command) {
    case CMD_HTTP:
    case CMD_LIVE:
    case CMD_READY:
        return run_http(&config);
    case CMD_TCP:
        return run_tcp(&config);
    case CMD_FILE:
        return run_file(&config);
    case CMD_COUNT:
        break;
    }
    return PROBE_USAGE;
}
