#include "config/config.h"
#include "base/base.h"
#include "clientaddr/clientaddr.h"
#include "log/log.h"
#include "url/url.h"
#include "webhook/webhook.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <unistd.h>

#include <h2o.h> /* H2O_MAX_REQLEN: the request-head bound compiled into libh2o */
#include <libpq-fe.h>
#include <openssl/crypto.h>

#define ROLES_ALL                                                                                            \
    (CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_MIGRATE | CONFIG_ROLE_CHECK | CONFIG_ROLE_DEV)
#define ROLES_SERVE     (CONFIG_ROLE_API | CONFIG_ROLE_DEV | CONFIG_ROLE_CHECK)
#define ROLES_WORK      (CONFIG_ROLE_WORKER | CONFIG_ROLE_DEV)
#define ROLES_ALERT     (ROLES_WORK | CONFIG_ROLE_MIGRATE) /* the roles that post alerts (pkg/alert) */
#define SECRET_FILE_MAX (64 * 1024)

/* MAX_CONNECTIONS when unset: connections × the worst case of one fit in half the cgroup memory
 * limit (the other half is the process itself, the database pools, the hashing threads at 19 MiB
 * each, and the allocator's slack); 1024 without a limit. */
#define MAX_CONNECTIONS_NO_LIMIT 1024
#define MAX_CONNECTIONS_MAX      1000000

enum var_type {
    VAR_SECRET,
    VAR_STRING,
    VAR_INT,
    VAR_LONG,
    VAR_BOOL,
    VAR_ENVIRONMENT,
    VAR_LOG_LEVEL,
    VAR_DOUBLE
};

struct config_var {
    const char *name;
    enum var_type type;
    unsigned required_in; /* roles that refuse to start without it */
    unsigned used_in;     /* roles that read (and so validate) it */
    size_t offset;
    const char *default_text; /* NULL: no default */
    long min, max;
    const char *help;
};

#define FIELD(f) offsetof(struct config, f)

static const struct config_var config_vars[] = {
    {"DATABASE_URL", VAR_SECRET, ROLES_ALL, ROLES_ALL, FIELD(database_url), NULL, 0, 0,
     "postgresql://user:pass@host:5432/db (sqlite:PATH only with ENVIRONMENT=dev)"},
    {"MIGRATE_DATABASE_URL", VAR_SECRET, 0, CONFIG_ROLE_MIGRATE, FIELD(migrate_database_url), NULL, 0, 0,
     "postgresql:// URI `bollard migrate` uses instead of DATABASE_URL: past a transaction pooler "
     "(migrations hold a session advisory lock)"},
    {"SECRET_KEY", VAR_SECRET, CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK | CONFIG_ROLE_DEV,
     CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK | CONFIG_ROLE_DEV, FIELD(secret_key), NULL, 32,
     0, "token signing key, at least 32 bytes (alias: BETTER_AUTH_SECRET)"},
    {"REDIS_URL", VAR_SECRET, CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK,
     CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK, FIELD(redis_url), NULL, 0, 0,
     "redis[s]://[[user]:password@]host[:port][,host[:port]...][/db] (rediss://: TLS, the server's "
     "certificate verified; several hosts: Redis Cluster seed nodes, at most 8)"},
    {"REDIS_TLS_CA_FILE", VAR_STRING, 0, CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK,
     FIELD(redis_tls.ca_file), NULL, 0, 0,
     "PEM file of the CAs that rediss:// trusts for the server's certificate (default: the system store)"},
    {"REDIS_TLS_CERT_FILE", VAR_STRING, 0, CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK,
     FIELD(redis_tls.cert_file), NULL, 0, 0,
     "PEM client certificate (chain) for rediss:// servers that require one (with REDIS_TLS_KEY_FILE)"},
    {"REDIS_TLS_KEY_FILE", VAR_STRING, 0, CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK,
     FIELD(redis_tls.key_file), NULL, 0, 0, "PEM private key of REDIS_TLS_CERT_FILE"},
    {"REDIS_TLS_INSECURE_SKIP_VERIFY", VAR_BOOL, 0, CONFIG_ROLE_API | CONFIG_ROLE_WORKER | CONFIG_ROLE_CHECK,
     FIELD(redis_tls.insecure_skip_verify), "false", 0, 0,
     "rediss:// without verifying the server's certificate: refused unless ENVIRONMENT=dev"},
    {"ENVIRONMENT", VAR_ENVIRONMENT, ROLES_ALL, ROLES_ALL, FIELD(environment), NULL, 0, 0,
     "dev | staging | production (also: development; any case)"},
    {"LOG_LEVEL", VAR_LOG_LEVEL, ROLES_ALL, ROLES_ALL, FIELD(log_level), NULL, 0, 0,
     "debug | info | warn | error (also: warning, critical; any case)"},
    {"ACCESS_LOG", VAR_BOOL, 0, ROLES_SERVE, FIELD(access_log), "true", 0, 0,
     "log one line per HTTP request at info level"},
    {"PORT", VAR_INT, 0, ROLES_SERVE, FIELD(port), "8000", 1, 65535, "HTTP listen port"},
    {"METRICS_PORT", VAR_INT, 0, ROLES_SERVE, FIELD(metrics_port), "9090", 1, 65535,
     "listen port of /metrics (Prometheus text), apart from PORT so the public Service never carries it"},
    {"API_THREADS", VAR_INT, 0, ROLES_SERVE, FIELD(api_threads), "0", 0, 256,
     "event-loop threads; 0 = usable CPUs (affinity and cgroup quota)"},
    {"DB_POOL_SIZE", VAR_INT, 0, ROLES_SERVE | ROLES_WORK, FIELD(db_pool_size), "4", 1, 64,
     "PostgreSQL connections per event-loop thread"},
    {"DB_QUEUE_MAX", VAR_INT, 0, ROLES_SERVE, FIELD(db_queue_max), "512", 0, 100000,
     "queries waiting for a connection per thread before 503 + Retry-After"},
    {"DB_CONNECT_TIMEOUT_MS", VAR_INT, 0, ROLES_SERVE | ROLES_WORK, FIELD(db_connect_timeout_ms), "3000", 100,
     600000, "bound on one PostgreSQL connection attempt"},
    {"DB_QUERY_TIMEOUT_MS", VAR_INT, 0, ROLES_SERVE | ROLES_WORK, FIELD(db_query_timeout_ms), "5000", 10,
     600000, "bound on one query, including the wait for a connection"},
    {"DB_PREPARED_STATEMENTS", VAR_BOOL, 0, ROLES_SERVE, FIELD(db_prepared_statements), "true", 0, 0,
     "named prepared statements; false behind a transaction-pooling PgBouncer (unnamed statements)"},
    {"REDIS_TIMEOUT_MS", VAR_INT, 0, ROLES_SERVE | ROLES_WORK, FIELD(redis_timeout_ms), "2000", 10, 600000,
     "bound on one Redis connect or command"},
    {"HEALTH_CHECK_TIMEOUT_MS", VAR_INT, 0, ROLES_SERVE, FIELD(health_check_timeout_ms), "800", 10, 10000,
     "bound on each readiness check"},
    {"HEALTH_CACHE_MS", VAR_INT, 0, ROLES_SERVE, FIELD(health_cache_ms), "1000", 0, 1000,
     "how long a readiness result is reused"},
    {"SHUTDOWN_DRAIN_SECONDS", VAR_INT, 0, ROLES_SERVE, FIELD(shutdown_drain_seconds), "5", 0, 300,
     "after SIGTERM: keep serving (not ready) this long before closing the listener"},
    {"SHUTDOWN_TIMEOUT_SECONDS", VAR_INT, 0, ROLES_SERVE | ROLES_WORK, FIELD(shutdown_timeout_seconds), "25",
     1, 3600, "after SIGTERM: exit by then at the latest (keep below terminationGracePeriodSeconds)"},
    {"MAX_BODY_BYTES", VAR_LONG, 0, ROLES_SERVE, FIELD(max_body_bytes), "65536", 1024, 16777216,
     "largest request body; larger ones get 413"},
    {"MAX_CONNECTIONS", VAR_INT, 0, ROLES_SERVE, FIELD(max_connections), "0", 0, MAX_CONNECTIONS_MAX,
     "client connections at once, split across the event loops; more are closed at once; 0 = as many "
     "as fit in half the cgroup memory limit at the worst case each (see README), else 1024"},
    {"FRONTEND_URL", VAR_STRING, 0, ROLES_SERVE, FIELD(frontend_url), NULL, 0, 0,
     "origin(s) allowed by CORS, comma-separated (e.g. https://app.example.com)"},
    {"CONSOLE_ENABLED", VAR_BOOL, 0, ROLES_SERVE, FIELD(console_enabled), "true", 0, 0,
     "serve the web console at / (false: / answers 404)"},
    {"JWT_EXPIRATION_DAYS", VAR_INT, 0, ROLES_SERVE, FIELD(jwt_expiration_days), "7", 1, 365,
     "lifetime of issued access tokens"},
    {"JWT_ALGORITHM", VAR_STRING, 0, ROLES_SERVE, FIELD(jwt_algorithm), "HS256", 0, 0,
     "token signature algorithm: only HS256 (HMAC-SHA256 with SECRET_KEY) is supported"},
    {"PASSWORD_HASH_THREADS", VAR_INT, 0, ROLES_SERVE, FIELD(password_hash_threads), "2", 1, 64,
     "threads hashing passwords (argon2id) off the event loops"},
    {"TRUSTED_PROXIES", VAR_STRING, 0, ROLES_SERVE, FIELD(trusted_proxies), NULL, 0, 0,
     "CIDRs of proxies whose X-Forwarded-For/Forwarded name the client, comma-separated (e.g. "
     "10.0.0.0/8,fd00::/8)"},
    {"SIGNUP_LIMIT_PER_HOUR", VAR_INT, 0, ROLES_SERVE, FIELD(signup_limit_per_hour), "30", 0, 1000000,
     "sign-ups per client address per hour before 429; 0 = no limit"},
    {"WORKER_CONCURRENCY", VAR_INT, 0, ROLES_WORK, FIELD(worker_concurrency), "16", 1, 256,
     "webhook deliveries in flight per worker process"},
    {"WORKER_HEARTBEAT_FILE", VAR_STRING, 0, ROLES_WORK, FIELD(worker_heartbeat_file),
     "/tmp/bollard-worker.heartbeat", 0, 0, "rewritten every loop iteration; liveness checks its age"},
    {"WORKER_VISIBILITY_TIMEOUT_SECONDS", VAR_INT, 0, ROLES_WORK, FIELD(worker_visibility_timeout_seconds),
     "60", 5, 86400, "a job idle this long at a dead consumer is reclaimed"},
    {"WEBHOOK_MAX_ATTEMPTS", VAR_INT, 0, ROLES_WORK, FIELD(webhook_max_attempts), "8", 1, 50,
     "deliveries tried before dead-lettering"},
    {"WEBHOOK_TIMEOUT_MS", VAR_INT, 0, ROLES_WORK, FIELD(webhook_timeout_ms), "10000", 100, 120000,
     "total time for one delivery attempt"},
    {"WEBHOOK_ALLOW_PRIVATE", VAR_BOOL, 0, ROLES_SERVE | ROLES_ALERT, FIELD(webhook_allow_private), "false",
     0, 0, "allow webhook (and ALERT_WEBHOOK_URL) targets on loopback/private/link-local addresses"},
    {"POD_NAME", VAR_STRING, 0, ROLES_ALERT, FIELD(pod_name), NULL, 0, 0,
     "consumer name in the Redis group, and the pod named in alerts (default: hostname)"},
    {"ALERT_WEBHOOK_URL", VAR_SECRET, 0, ROLES_ALERT, FIELD(alert_webhook_url), NULL, 0, 0,
     "http(s) URL (e.g. a Slack incoming webhook) that gets a signed JSON alert when migrate fails and "
     "when the worker dead-letters deliveries; unset = no alerts"},
    {"ALERT_WEBHOOK_SECRET", VAR_SECRET, 0, ROLES_ALERT, FIELD(alert_webhook_secret), NULL, 16, 0,
     "signing secret of the alerts' X-Bollard-Signature, at least 16 bytes (required with "
     "ALERT_WEBHOOK_URL)"},
    {"ALERT_MIN_INTERVAL_SECONDS", VAR_INT, 0, ROLES_WORK, FIELD(alert_min_interval_seconds), "60", 1, 86400,
     "at most one dead-letter alert per worker per interval; it counts those since the last one"},
    {"RELEASE_NAME", VAR_STRING, 0, ROLES_ALERT, FIELD(release_name), NULL, 0, 0,
     "the release (Helm's .Release.Name) named in alerts"},
    {"MIGRATE_CONNECT_TIMEOUT_SECONDS", VAR_INT, 0, CONFIG_ROLE_MIGRATE | CONFIG_ROLE_CHECK,
     FIELD(migrate_connect_timeout_seconds), "60", 1, 3600, "how long migrate retries reaching the database"},
    {"MIGRATE_LOCK_TIMEOUT_SECONDS", VAR_INT, 0, CONFIG_ROLE_MIGRATE, FIELD(migrate_lock_timeout_seconds),
     "120", 1, 3600, "how long migrate waits for another runner's advisory lock"},
    {"MIGRATE_STATEMENT_TIMEOUT_SECONDS", VAR_INT, 0, CONFIG_ROLE_MIGRATE,
     FIELD(migrate_statement_timeout_seconds), "300", 1, 86400, "statement_timeout for each migration"},
    /* The assistant (CONTRACT §8). Optional as a whole: without LLM_PROVIDER the chat routes answer 503. */
    {"LLM_PROVIDER", VAR_STRING, 0, ROLES_SERVE, FIELD(llm_provider_text), NULL, 0, 0,
     "assistant model provider: GROQ | OPENROUTER | OPENAI (any OpenAI-compatible server); unset = chat off"},
    {"GROQ_API_KEY", VAR_SECRET, 0, ROLES_SERVE, FIELD(groq_api_key), NULL, 0, 0,
     "Groq API key (required with LLM_PROVIDER=GROQ)"},
    {"GROQ_BASE_URL", VAR_STRING, 0, ROLES_SERVE, FIELD(groq_base_url), "https://api.groq.com", 0, 0,
     "Groq base URL (/openai/v1 is added when it has no path)"},
    {"GROQ_MODEL", VAR_STRING, 0, ROLES_SERVE, FIELD(groq_model), "openai/gpt-oss-20b", 0, 0, "Groq model"},
    {"OPENROUTER_API_KEY", VAR_SECRET, 0, ROLES_SERVE, FIELD(openrouter_api_key), NULL, 0, 0,
     "OpenRouter API key (required with LLM_PROVIDER=OPENROUTER)"},
    {"OPENROUTER_BASE_URL", VAR_STRING, 0, ROLES_SERVE, FIELD(openrouter_base_url),
     "https://openrouter.ai/api/v1", 0, 0, "OpenRouter base URL"},
    {"OPENROUTER_MODEL", VAR_STRING, 0, ROLES_SERVE, FIELD(openrouter_model), "openai/gpt-oss-20b", 0, 0,
     "OpenRouter model"},
    {"OPENROUTER_REFERER", VAR_STRING, 0, ROLES_SERVE, FIELD(openrouter_referer), NULL, 0, 0,
     "OpenRouter attribution: sent as HTTP-Referer"},
    {"OPENROUTER_TITLE", VAR_STRING, 0, ROLES_SERVE, FIELD(openrouter_title), NULL, 0, 0,
     "OpenRouter attribution: sent as X-Title"},
    {"LLM_API_KEY", VAR_SECRET, 0, ROLES_SERVE, FIELD(llm_api_key), NULL, 0, 0,
     "API key of the LLM_PROVIDER=OPENAI server (optional: local servers need none)"},
    {"LLM_BASE_URL", VAR_STRING, 0, ROLES_SERVE, FIELD(llm_base_url), NULL, 0, 0,
     "base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (required with OPENAI)"},
    {"LLM_MODEL", VAR_STRING, 0, ROLES_SERVE, FIELD(llm_model), NULL, 0, 0,
     "model name for LLM_PROVIDER=OPENAI (required with OPENAI)"},
    {"AGENT_NAME", VAR_STRING, 0, ROLES_SERVE, FIELD(agent_name), "TodoAssistant", 0, 0,
     "the assistant's name, told to the model"},
    {"AGENT_INSTRUCTIONS", VAR_STRING, 0, ROLES_SERVE, FIELD(agent_instructions), NULL, 0, 0,
     "system instructions for the model (default: built-in todo-assistant instructions)"},
    {"MAX_TOKENS", VAR_INT, 0, ROLES_SERVE, FIELD(max_tokens), "2000", 1, 200000,
     "max_tokens of each model answer"},
    {"TEMPERATURE", VAR_DOUBLE, 0, ROLES_SERVE, FIELD(temperature), "0.7", 0, 2,
     "sampling temperature, 0 to 2"},
    {"LLM_TIMEOUT_MS", VAR_INT, 0, ROLES_SERVE, FIELD(llm_timeout_ms), "60000", 100, 600000,
     "bound on one chat's provider calls together; past it the chat answers 504"},
    {"CHAT_MAX_TOOL_ROUNDS", VAR_INT, 0, ROLES_SERVE, FIELD(chat_max_tool_rounds), "5", 1, 20,
     "model calls with tool results per chat message"},
    {"CHAT_HISTORY_MESSAGES", VAR_INT, 0, ROLES_SERVE, FIELD(chat_history_messages), "20", 0, 200,
     "earlier messages of the conversation sent to the model"},
    {"CHAT_MAX_INFLIGHT", VAR_INT, 0, ROLES_SERVE, FIELD(chat_max_inflight), "256", 1, 100000,
     "chats in flight per event-loop thread before 503 + Retry-After"},
    {"MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS", VAR_INT, 0, CONFIG_ROLE_MIGRATE,
     FIELD(migrate_status_connect_timeout_seconds), "10", 1, 3600,
     "how long the read-only `migrate status` and `migrate plan` retry reaching the database"},
};

#define N_VARS (sizeof(config_vars) / sizeof(config_vars[0]))

static const char *const environment_names[] = {"dev", "staging", "production"};
static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

/* Other services' spellings of the same values (the seed stack's Python services among them). */
struct spelling_alias {
    const char *text;
    int value;
};
static const struct spelling_alias environment_aliases[] = {{"development", CONFIG_ENV_DEV}, {NULL, 0}};
static const struct spelling_alias log_level_aliases[] = {
    {"warning", LOG_WARN}, {"critical", LOG_ERROR}, {NULL, 0}};

/* The value `text` spells among names[0..n) and the aliases, ignoring case: its index, with
 * *normalised set when it was not the canonical spelling; or -1 with *suggest the nearest name
 * (a typo within an edit or two, or a prefix such as "prod"), or NULL when nothing is near. */
static int match_spelling(const char *text, const char *const *names, int n,
                          const struct spelling_alias *aliases, bool *normalised, const char **suggest)
{
    *normalised = false;
    *suggest = NULL;
    for (int i = 0; i < n; i++)
        if (strcasecmp(text, names[i]) == 0) {
            *normalised = strcmp(text, names[i]) != 0;
            return i;
        }
    for (const struct spelling_alias *a = aliases; a->text != NULL; a++)
        if (strcasecmp(text, a->text) == 0) {
            *normalised = true;
            return a->value;
        }
    size_t best = SIZE_MAX, len = strlen(text);
    for (int i = 0; i < n; i++) {
        size_t cap = strlen(names[i]) <= 3 ? 1 : 2;
        size_t d = base_edit_distance(text, names[i], cap);
        size_t common = 0;
        while (text[common] != '\0' &&
               tolower((unsigned char)text[common]) == tolower((unsigned char)names[i][common]))
            common++;
        if (d > cap && (common >= 4 || (len >= 3 && common == len)))
            d = cap; /* an abbreviation or another form of the word: "prod", "stage" */
        if (d <= cap && d < best) {
            best = d;
            *suggest = names[i];
        }
    }
    return -1;
}

static void note_normalised(struct config *cfg, const char *variable, const char *given, const char *value)
{
    if (cfg->n_normalised >= (int)(sizeof(cfg->normalised) / sizeof(cfg->normalised[0])))
        return;
    struct config_normalised *n = &cfg->normalised[cfg->n_normalised++];
    n->variable = variable;
    n->value = value;
    snprintf(n->given, sizeof(n->given), "%s", given);
}

void config_log_normalised(const struct config *cfg)
{
    for (int i = 0; i < cfg->n_normalised; i++) {
        const struct config_normalised *n = &cfg->normalised[i];
        log_write(LOG_INFO, NULL, "configuration value read in its canonical spelling",
                  json_pack("{s:s,s:s,s:s}", "variable", n->variable, "given", n->given, "value", n->value));
    }
}

const char *config_environment_name(enum config_environment env)
{
    return env <= CONFIG_ENV_PRODUCTION ? environment_names[env] : "unknown";
}

static const char *const llm_provider_names[] = {"none", "GROQ", "OPENROUTER", "OPENAI"};

const char *config_llm_provider_name(enum config_llm_provider p)
{
    return p <= CONFIG_LLM_OPENAI ? llm_provider_names[p] : "unknown";
}

static const char *process_lookup(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

/* Usable CPUs: the affinity mask, further limited by a cgroup v2 CPU quota when one is set. */
static int usable_cpus(void)
{
    cpu_set_t set;
    int n = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = CPU_COUNT(&set);
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "re");
    if (f != NULL) {
        char quota[32];
        long period = 0;
        if (fscanf(f, "%31s %ld", quota, &period) == 2 && strcmp(quota, "max") != 0 && period > 0) {
            long q = strtol(quota, NULL, 10);
            int limit = (int)((q + period - 1) / period);
            if (limit >= 1 && limit < n)
                n = limit;
        }
        fclose(f);
    }
    return n < 1 ? 1 : n;
}

/* The cgroup (v2, else v1) memory limit of this process in bytes; 0 when there is none. */
static unsigned long long cgroup_memory_limit(void)
{
    static const char *const files[] = {"/sys/fs/cgroup/memory.max",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        FILE *f = fopen(files[i], "re");
        if (f == NULL)
            continue;
        char text[32] = "";
        bool read = fscanf(f, "%31s", text) == 1;
        fclose(f);
        if (!read || strcmp(text, "max") == 0)
            return 0;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        /* cgroup v1 reports "no limit" as a page-rounded LLONG_MAX */
        if (errno != 0 || end == text || *end != '\0' || v >= (1ULL << 60))
            return 0;
        return v;
    }
    return 0;
}

/* What one client connection can hold at worst: h2o reads a request head of up to H2O_MAX_REQLEN
 * (408 KiB; a longer one gets 400) into one growing buffer, then the body, up to MAX_BODY_BYTES,
 * behind it; a read may bring in what the kernel had queued beyond that (at most twice
 * CONFIG_CONNECTION_RCVBUF); and 32 KiB for the connection's and request's own structures and the
 * response. README ("Connections and memory") gives the figures. */
unsigned long long config_connection_worst_bytes(long max_body_bytes)
{
    return (unsigned long long)H2O_MAX_REQLEN + (unsigned long long)max_body_bytes +
           2ULL * CONFIG_CONNECTION_RCVBUF + 32 * 1024;
}

static int derived_max_connections(long max_body_bytes)
{
    unsigned long long limit = cgroup_memory_limit();
    if (limit == 0)
        return MAX_CONNECTIONS_NO_LIMIT;
    unsigned long long n = limit / 2 / config_connection_worst_bytes(max_body_bytes);
    return n > MAX_CONNECTIONS_MAX ? MAX_CONNECTIONS_MAX : (int)n;
}

/* Reads a mounted secret file; a single trailing newline (as editors and `echo` leave) is dropped. */
static char *read_secret_file(const char *path, char *why, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        base_why(why, cap, "%s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(SECRET_FILE_MAX + 1);
    size_t len = 0;
    if (buf == NULL) {
        base_why(why, cap, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            base_why(why, cap, "%s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SECRET_FILE_MAX) {
            base_why(why, cap, "file is larger than 64 KiB");
            goto fail;
        }
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    return buf;
fail:
    OPENSSL_cleanse(buf, buf != NULL ? SECRET_FILE_MAX + 1 : 0);
    free(buf);
    close(fd);
    return NULL;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

struct loader {
    config_lookup_fn lookup;
    void *ctx;
    FILE *err;
    int problems;
};

__attribute__((format(printf, 3, 4))) static void problem(struct loader *ld, const char *var, const char *fmt,
                                                          ...)
{
    ld->problems++;
    if (ld->err == NULL)
        return;
    fprintf(ld->err, "config: %s: ", var);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ld->err, fmt, ap);
    va_end(ap);
    fputc('\n', ld->err);
}

static const char *lookup_nonempty(struct loader *ld, const char *name)
{
    const char *v = ld->lookup(name, ld->ctx);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* NAME or NAME_FILE (never both). Returns a heap copy, NULL when unset or unreadable. */
static char *load_secret(struct loader *ld, const char *name, bool *failed, bool *from_file)
{
    char file_var[96];
    snprintf(file_var, sizeof(file_var), "%s_FILE", name);
    const char *direct = lookup_nonempty(ld, name);
    const char *path = lookup_nonempty(ld, file_var);
    *failed = false;
    *from_file = path != NULL && direct == NULL;
    if (direct != NULL && path != NULL) {
        problem(ld, name, "both %s and %s are set; set only one", name, file_var);
        *failed = true;
        return NULL;
    }
    if (direct != NULL)
        return strdup(direct);
    if (path == NULL)
        return NULL;
    char why[BASE_WHY_MAX];
    char *value = read_secret_file(path, why, sizeof(why));
    if (value == NULL) {
        problem(ld, file_var, "cannot read the secret file (%s)", why);
        *failed = true;
    } else if (value[0] == '\0') {
        problem(ld, file_var, "the secret file is empty");
        free_secret(value);
        value = NULL;
        *failed = true;
    }
    return value;
}

static bool parse_long(const char *text, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = v;
    return true;
}

static int parse_bool(const char *text)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return 1;
        if (strcasecmp(text, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Whether the URI's query names `name` (case ignored), e.g. ?ssl=require; never copies the URI. */
static bool has_query_parameter(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    if (q == NULL)
        return false;
    size_t n = strlen(name);
    for (const char *p = q + 1; *p != '\0';) {
        size_t len = strcspn(p, "=&#");
        if (len == n && strncasecmp(p, name, n) == 0)
            return true;
        p += strcspn(p, "&#");
        if (*p != '&')
            break;
        p++;
    }
    return false;
}

static void validate_database_url(struct loader *ld, struct config *cfg)
{
    const char *url = cfg->database_url;
    if (strncmp(url, "sqlite:", 7) == 0) {
        cfg->database_is_sqlite = true;
        if (cfg->environment != CONFIG_ENV_DEV)
            problem(ld, "DATABASE_URL", "sqlite: databases are only allowed with ENVIRONMENT=dev");
        else if (url[7] == '\0')
            problem(ld, "DATABASE_URL", "sqlite: needs a file path (sqlite:bollard.db)");
        return;
    }
    if (!url_is_postgres(url)) {
        problem(ld, "DATABASE_URL", "must start with postgresql:// (or sqlite: with ENVIRONMENT=dev)");
        return;
    }
    if (has_query_parameter(url, "ssl")) {
        problem(ld, "DATABASE_URL",
                "has the query parameter ssl=, which libpq does not know (other drivers' spelling): "
                "use sslmode=require (or verify-full)");
        return;
    }
    /* libpq's own parser; its message may quote the URL, so it is not repeated. */
    PQconninfoOption *opts = url_postgres_parse(url);
    if (opts == NULL)
        problem(ld, "DATABASE_URL", "is not a valid PostgreSQL connection URI");
    PQconninfoFree(opts);
}

static void validate_redis(struct loader *ld, const struct config *cfg)
{
    const char *url = cfg->redis_url;
    const struct redistls_config *t = &cfg->redis_tls;
    struct url_redis u;
    bool parsed = url_redis_parse(url, &u);
    bool tls = parsed && u.tls;
    OPENSSL_cleanse(&u, sizeof(u));
    if (!parsed) {
        problem(ld, "REDIS_URL",
                "must look like redis[s]://[[user]:password@]host[:port][,host[:port]...][/db]");
        return;
    }
    if ((t->cert_file == NULL) != (t->key_file == NULL))
        problem(ld, t->cert_file == NULL ? "REDIS_TLS_CERT_FILE" : "REDIS_TLS_KEY_FILE",
                "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both or neither");
    if (t->insecure_skip_verify && cfg->environment != CONFIG_ENV_DEV)
        problem(ld, "REDIS_TLS_INSECURE_SKIP_VERIFY",
                "is refused outside ENVIRONMENT=dev: trust the server's CA with REDIS_TLS_CA_FILE instead");
    if (!tls) {
        const char *set = t->ca_file != NULL        ? "REDIS_TLS_CA_FILE"
                          : t->cert_file != NULL    ? "REDIS_TLS_CERT_FILE"
                          : t->key_file != NULL     ? "REDIS_TLS_KEY_FILE"
                          : t->insecure_skip_verify ? "REDIS_TLS_INSECURE_SKIP_VERIFY"
                                                    : NULL;
        if (set != NULL)
            problem(ld, set, "is set but REDIS_URL is redis:// (no TLS): use rediss://");
        return;
    }
    /* The files are read now, so a wrong path or a key that does not match exits 78 at start-up. */
    char why[BASE_WHY_MAX];
    SSL_CTX *ctx = redistls_ctx_new(t, "localhost", NULL, why, sizeof(why));
    if (ctx == NULL)
        problem(ld, "REDIS_URL", "rediss:// cannot be set up: %s", why);
    SSL_CTX_free(ctx);
}

static void validate_origins(struct loader *ld, const char *list)
{
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        bool http = n > 7 && strncmp(p, "http://", 7) == 0;
        bool https = n > 8 && strncmp(p, "https://", 8) == 0;
        size_t start = https ? 8 : 7;
        if (!http && !https) {
            problem(ld, "FRONTEND_URL", "each origin must start with http:// or https://");
            return;
        }
        for (size_t i = start; i < n; i++) {
            char c = p[i];
            if (c == '/' && i == n - 1)
                break; /* a trailing slash is tolerated and ignored */
            if (c == '/' || c == '?' || c == '#' || c == ' ' || c == '*') {
                problem(ld, "FRONTEND_URL",
                        "each entry must be an origin (scheme://host[:port]) without a path");
                return;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

static void validate_trusted_proxies(struct loader *ld, const char *list)
{
    char why[BASE_WHY_MAX];
    struct clientaddr_proxies *p = clientaddr_proxies_parse(list, why, sizeof(why));
    if (p == NULL)
        problem(ld, "TRUSTED_PROXIES", "%s", why);
    clientaddr_proxies_free(p);
}

/* The webhook URL rules (pkg/webhook) and, unless WEBHOOK_ALLOW_PRIVATE, the SSRF policy on a literal
 * address: refused at start, not at the first alert. A name is checked when it is connected to. The
 * messages never show the URL (a Slack URL is its own credential). */
static void validate_alert_webhook(struct loader *ld, const struct config *cfg)
{
    struct webhook_target t;
    const char *bad = NULL;
    if (!webhook_url_parse(cfg->alert_webhook_url, &t, &bad))
        problem(ld, "ALERT_WEBHOOK_URL", "%s", bad != NULL ? bad : "is not a valid webhook URL");
    else if (t.host_is_ip && !cfg->webhook_allow_private && webhook_ip_literal_forbidden(t.host))
        problem(ld, "ALERT_WEBHOOK_URL",
                "is a loopback, private, link-local or otherwise forbidden address (allowed only with "
                "WEBHOOK_ALLOW_PRIVATE=true)");
    if (cfg->alert_webhook_secret == NULL)
        problem(ld, "ALERT_WEBHOOK_SECRET",
                "is required with ALERT_WEBHOOK_URL (set ALERT_WEBHOOK_SECRET or ALERT_WEBHOOK_SECRET_FILE)");
}

static bool is_http_url(const char *url)
{
    return (strncmp(url, "http://", 7) == 0 && url[7] != '\0' && url[7] != '/') ||
           (strncmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/');
}

/* LLM_PROVIDER picks one provider's key, base URL and model (CONTRACT §8). A provider without its key is
 * a missing secret (exit 78); unset, chat stays off and nothing else is required. */
static void resolve_llm(struct loader *ld, struct config *cfg)
{
    cfg->llm_provider = CONFIG_LLM_NONE;
    if (cfg->llm_provider_text == NULL)
        return;
    const char *t = cfg->llm_provider_text;
    const char *base = NULL, *base_var = NULL;
    if (strcasecmp(t, "GROQ") == 0) {
        cfg->llm_provider = CONFIG_LLM_GROQ;
        cfg->chat_api_key = cfg->groq_api_key;
        cfg->chat_model = cfg->groq_model;
        base = cfg->groq_base_url;
        base_var = "GROQ_BASE_URL";
        if (cfg->groq_api_key == NULL)
            problem(ld, "GROQ_API_KEY",
                    "is required with LLM_PROVIDER=GROQ (set GROQ_API_KEY or GROQ_API_KEY_FILE)");
    } else if (strcasecmp(t, "OPENROUTER") == 0) {
        cfg->llm_provider = CONFIG_LLM_OPENROUTER;
        cfg->chat_api_key = cfg->openrouter_api_key;
        cfg->chat_model = cfg->openrouter_model;
        base = cfg->openrouter_base_url;
        base_var = "OPENROUTER_BASE_URL";
        if (cfg->openrouter_api_key == NULL)
            problem(ld, "OPENROUTER_API_KEY",
                    "is required with LLM_PROVIDER=OPENROUTER (set OPENROUTER_API_KEY or "
                    "OPENROUTER_API_KEY_FILE)");
    } else if (strcasecmp(t, "OPENAI") == 0) {
        cfg->llm_provider = CONFIG_LLM_OPENAI;
        cfg->chat_api_key = cfg->llm_api_key;
        cfg->chat_model = cfg->llm_model;
        base = cfg->llm_base_url;
        base_var = "LLM_BASE_URL";
        if (cfg->llm_base_url == NULL)
            problem(ld, "LLM_BASE_URL",
                    "is required with LLM_PROVIDER=OPENAI (e.g. http://127.0.0.1:8080/v1)");
        if (cfg->llm_model == NULL)
            problem(ld, "LLM_MODEL", "is required with LLM_PROVIDER=OPENAI");
    } else {
        problem(ld, "LLM_PROVIDER", "must be one of GROQ, OPENROUTER, OPENAI (or unset)");
        return;
    }
    if (base == NULL)
        return;
    if (!is_http_url(base)) {
        problem(ld, base_var, "must be an http:// or https:// URL");
        return;
    }
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    const char *host = strstr(base, "://") + 3;
    bool has_path = memchr(host, '/', len - (size_t)(host - base)) != NULL;
    /* The seeds' GROQ_BASE_URL default is the bare host; its OpenAI-compatible API lives under /openai/v1. */
    const char *suffix = cfg->llm_provider == CONFIG_LLM_GROQ && !has_path ? "/openai/v1" : "";
    size_t cap = len + strlen(suffix) + 1;
    cfg->chat_base_url = malloc(cap);
    if (cfg->chat_base_url == NULL) {
        problem(ld, base_var, "out of memory");
        return;
    }
    snprintf(cfg->chat_base_url, cap, "%.*s%s", (int)len, base, suffix);
}

int config_load(struct config *cfg, unsigned roles, config_lookup_fn lookup, void *lookup_ctx, FILE *err)
{
    struct loader ld = {.lookup = lookup, .ctx = lookup_ctx, .err = err, .problems = 0};
    memset(cfg, 0, sizeof(*cfg));
    cfg->build_version = "0.0.0";
    cfg->build_revision = "unknown";
    cfg->environment = CONFIG_ENV_PRODUCTION; /* strictest until known */
    bool environment_known = false;

    for (size_t i = 0; i < N_VARS; i++) {
        const struct config_var *v = &config_vars[i];
        if ((v->used_in & roles) == 0)
            continue;
        char *field = (char *)cfg + v->offset;
        bool required = (v->required_in & roles) != 0;

        if (v->type == VAR_SECRET) {
            bool failed = false, from_file = false;
            const char *source = v->name; /* the variable the user set, for the messages */
            char *value = load_secret(&ld, v->name, &failed, &from_file);
            if (value == NULL && !failed && strcmp(v->name, "SECRET_KEY") == 0) {
                value = load_secret(&ld, "BETTER_AUTH_SECRET", &failed, &from_file);
                source = "BETTER_AUTH_SECRET";
            } else if (value != NULL && strcmp(v->name, "SECRET_KEY") == 0) {
                bool alias_failed = false, alias_file = false;
                char *alias = load_secret(&ld, "BETTER_AUTH_SECRET", &alias_failed, &alias_file);
                if (alias != NULL &&
                    (strlen(alias) != strlen(value) || CRYPTO_memcmp(alias, value, strlen(value)) != 0))
                    problem(&ld, "SECRET_KEY",
                            "SECRET_KEY and BETTER_AUTH_SECRET are both set and differ; "
                            "set only one");
                free_secret(alias);
            }
            if (value == NULL) {
                if (required && !failed)
                    problem(&ld, v->name, "is required (set %s or %s_FILE)", v->name, v->name);
                continue;
            }
            if (v->min > 0 && strlen(value) < (size_t)v->min) {
                char named[96];
                snprintf(named, sizeof(named), "%s%s", source, from_file ? "_FILE" : "");
                if (strcmp(source, v->name) != 0)
                    problem(&ld, named, "must be at least %ld bytes long (it is read as %s)", v->min,
                            v->name);
                else
                    problem(&ld, named, "must be at least %ld bytes long", v->min);
            }
            *(char **)field = value;
            continue;
        }

        const char *text = lookup_nonempty(&ld, v->name);
        if (text == NULL) {
            if (required) {
                problem(&ld, v->name, "is required (%s)", v->help);
                continue;
            }
            text = v->default_text;
            if (text == NULL)
                continue;
        }
        switch (v->type) {
        case VAR_STRING:
            *(char **)field = strdup(text);
            break;
        case VAR_INT:
        case VAR_LONG: {
            long n = 0;
            if (!parse_long(text, &n) || n < v->min || n > v->max) {
                problem(&ld, v->name, "must be an integer from %ld to %ld", v->min, v->max);
                break;
            }
            if (v->type == VAR_INT)
                *(int *)field = (int)n;
            else
                *(long *)field = n;
            break;
        }
        case VAR_BOOL: {
            int b = parse_bool(text);
            if (b < 0)
                problem(&ld, v->name, "must be true or false");
            else
                *(bool *)field = b == 1;
            break;
        }
        case VAR_ENVIRONMENT: {
            bool normalised = false;
            const char *suggest = NULL;
            int found =
                match_spelling(text, environment_names, 3, environment_aliases, &normalised, &suggest);
            if (found < 0) {
                problem(&ld, v->name, "must be one of dev, staging, production%s%s%s",
                        suggest != NULL ? " (did you mean " : "", suggest != NULL ? suggest : "",
                        suggest != NULL ? "?)" : "");
            } else {
                cfg->environment = (enum config_environment)found;
                environment_known = true;
                if (normalised)
                    note_normalised(cfg, v->name, text, environment_names[found]);
            }
            break;
        }
        case VAR_LOG_LEVEL: {
            bool normalised = false;
            const char *suggest = NULL;
            int found = match_spelling(text, log_level_names, 4, log_level_aliases, &normalised, &suggest);
            if (found < 0) {
                problem(&ld, v->name, "must be one of debug, info, warn, error%s%s%s",
                        suggest != NULL ? " (did you mean " : "", suggest != NULL ? suggest : "",
                        suggest != NULL ? "?)" : "");
            } else {
                cfg->log_level = found;
                if (normalised)
                    note_normalised(cfg, v->name, text, log_level_names[found]);
            }
            break;
        }
        case VAR_DOUBLE: {
            char *end = NULL;
            errno = 0;
            double d = strtod(text, &end);
            if (errno != 0 || end == text || *end != '\0' || !(d >= (double)v->min && d <= (double)v->max))
                problem(&ld, v->name, "must be a number from %ld to %ld", v->min, v->max);
            else
                *(double *)field = d;
            break;
        }
        case VAR_SECRET:
            break;
        }
    }

    /* Cross-field rules. */
    if (cfg->database_url != NULL && (environment_known || lookup_nonempty(&ld, "ENVIRONMENT") == NULL))
        validate_database_url(&ld, cfg);
    else if (cfg->database_url != NULL)
        cfg->database_is_sqlite = strncmp(cfg->database_url, "sqlite:", 7) == 0;
    if (cfg->redis_url != NULL)
        validate_redis(&ld, cfg);
    if (cfg->migrate_database_url != NULL) {
        PQconninfoOption *opts =
            url_is_postgres(cfg->migrate_database_url) ? url_postgres_parse(cfg->migrate_database_url) : NULL;
        if (opts == NULL)
            problem(&ld, "MIGRATE_DATABASE_URL", "is not a valid postgresql:// connection URI");
        PQconninfoFree(opts);
    }
    if (cfg->frontend_url != NULL)
        validate_origins(&ld, cfg->frontend_url);
    if (cfg->trusted_proxies != NULL)
        validate_trusted_proxies(&ld, cfg->trusted_proxies);
    if (cfg->jwt_algorithm != NULL && strcmp(cfg->jwt_algorithm, "HS256") != 0)
        problem(&ld, "JWT_ALGORITHM",
                "is not supported: only HS256 is (tokens are HMAC-SHA256 signed with SECRET_KEY)");
    if ((roles & ROLES_SERVE) && cfg->metrics_port != 0 && cfg->metrics_port == cfg->port)
        problem(&ld, "METRICS_PORT", "must differ from PORT (/metrics has a listener of its own)");
    if ((roles & ROLES_SERVE) && cfg->shutdown_drain_seconds >= cfg->shutdown_timeout_seconds &&
        cfg->shutdown_timeout_seconds > 0)
        problem(&ld, "SHUTDOWN_DRAIN_SECONDS", "must be below SHUTDOWN_TIMEOUT_SECONDS");
    if ((roles & CONFIG_ROLE_DEV) && environment_known && cfg->environment != CONFIG_ENV_DEV)
        problem(&ld, "ENVIRONMENT", "`bollard dev` runs only with ENVIRONMENT=dev");
    if (roles == CONFIG_ROLE_DEV && cfg->database_url != NULL && !cfg->database_is_sqlite)
        problem(&ld, "DATABASE_URL",
                "`bollard dev` runs on an embedded SQLite file: use sqlite:PATH (e.g. "
                "sqlite:build/dev/bollard.db)");
    if (roles == CONFIG_ROLE_WORKER && cfg->database_is_sqlite)
        problem(&ld, "DATABASE_URL",
                "`bollard worker` needs PostgreSQL (postgresql://…); `bollard dev` runs the SQLite mode");
    if (roles & ROLES_SERVE)
        resolve_llm(&ld, cfg);
    if (cfg->api_threads == 0)
        cfg->api_threads = usable_cpus();
    if ((roles & ROLES_SERVE) && cfg->max_connections == 0) {
        /* at least one per event loop, however small the limit */
        int derived = derived_max_connections(cfg->max_body_bytes);
        cfg->max_connections = derived < cfg->api_threads ? cfg->api_threads : derived;
    } else if ((roles & ROLES_SERVE) && cfg->max_connections < cfg->api_threads) {
        problem(&ld, "MAX_CONNECTIONS", "must be at least API_THREADS (each event loop takes a share)");
    }
    if (cfg->alert_webhook_url != NULL)
        validate_alert_webhook(&ld, cfg);
    if (cfg->pod_name == NULL && (roles & ROLES_ALERT)) {
        char host[256];
        if (gethostname(host, sizeof(host)) == 0) {
            host[sizeof(host) - 1] = '\0';
            cfg->pod_name = strdup(host);
        }
    }
    if (ld.problems > 0)
        config_free(cfg);
    return ld.problems;
}

int config_load_env(struct config *cfg, unsigned roles, FILE *err)
{
    return config_load(cfg, roles, process_lookup, NULL, err);
}

void config_free(struct config *cfg)
{
    free_secret(cfg->database_url);
    free_secret(cfg->secret_key);
    free_secret(cfg->redis_url);
    free_secret(cfg->migrate_database_url);
    cfg->migrate_database_url = NULL;
    free(cfg->frontend_url);
    free(cfg->trusted_proxies);
    free_secret(cfg->groq_api_key);
    free_secret(cfg->openrouter_api_key);
    free_secret(cfg->llm_api_key);
    free_secret(cfg->alert_webhook_url);
    free_secret(cfg->alert_webhook_secret);
    cfg->alert_webhook_url = cfg->alert_webhook_secret = NULL;
    char **strings[] = {&cfg->llm_provider_text,   &cfg->groq_base_url,      &cfg->groq_model,
                        &cfg->openrouter_base_url, &cfg->openrouter_model,   &cfg->llm_base_url,
                        &cfg->llm_model,           &cfg->openrouter_referer, &cfg->openrouter_title,
                        &cfg->agent_name,          &cfg->agent_instructions, &cfg->chat_base_url,
                        &cfg->release_name};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    cfg->groq_api_key = cfg->openrouter_api_key = cfg->llm_api_key = NULL;
    cfg->chat_api_key = cfg->chat_model = NULL;
    free(cfg->worker_heartbeat_file);
    free(cfg->pod_name);
    free(cfg->jwt_algorithm);
    free(cfg->redis_tls.ca_file);
    free(cfg->redis_tls.cert_file);
    free(cfg->redis_tls.key_file);
    memset(&cfg->redis_tls, 0, sizeof(cfg->redis_tls));
    cfg->database_url = cfg->secret_key = cfg->redis_url = NULL;
    cfg->frontend_url = cfg->trusted_proxies = cfg->worker_heartbeat_file = cfg->pod_name = NULL;
    cfg->jwt_algorithm = NULL;
}

void config_print_help(FILE *out)
{
    fprintf(out, "Environment (secrets also accept NAME_FILE, a path to a mounted file):\n");
    for (size_t i = 0; i < N_VARS; i++) {
        const struct config_var *v = &config_vars[i];
        char def[64];
        if (v->required_in != 0)
            snprintf(def, sizeof(def), "required%s", v->type == VAR_SECRET ? ", secret" : "");
        else if (v->default_text != NULL)
            snprintf(def, sizeof(def), "default %s", v->default_text);
        else
            snprintf(def, sizeof(def), "optional");
        fprintf(out, "  %-38s %s [%s]\n", v->name, v->help, def);
    }
}
