/* config: the environment contract (CONTRACT §3). Loaded once at start-up; read-only afterwards. */
#ifndef BOLLARD_CONFIG_H
#define BOLLARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "redistls/redistls.h"

/* Which role is starting decides which variables are required. */
enum config_role {
    CONFIG_ROLE_API = 1 << 0,
    CONFIG_ROLE_WORKER = 1 << 1,
    CONFIG_ROLE_MIGRATE = 1 << 2,
    CONFIG_ROLE_CHECK = 1 << 3,
    CONFIG_ROLE_DEV = 1 << 4,
};

enum config_environment { CONFIG_ENV_DEV, CONFIG_ENV_STAGING, CONFIG_ENV_PRODUCTION };

/* The assistant's model provider (CONTRACT §8): any OpenAI-compatible Chat Completions server. */
enum config_llm_provider { CONFIG_LLM_NONE, CONFIG_LLM_GROQ, CONFIG_LLM_OPENROUTER, CONFIG_LLM_OPENAI };

struct config {
    /* secrets: never logged, never echoed */
    char *database_url;
    char *secret_key;
    char *redis_url;
    char *migrate_database_url; /* MIGRATE_DATABASE_URL: migrate's own (session) connection; NULL =
                                   DATABASE_URL */
    bool database_is_sqlite;

    enum config_environment environment;
    int log_level; /* enum log_level */
    bool access_log;

    /* api */
    int port;
    int metrics_port; /* METRICS_PORT: /metrics only, never PORT */
    int api_threads;
    int db_pool_size; /* connections per event-loop thread */
    int db_queue_max; /* waiting queries per thread before 503 */
    int db_connect_timeout_ms;
    int db_query_timeout_ms;
    bool db_prepared_statements; /* false: unnamed statements only (transaction pooling) */
    int redis_timeout_ms;
    struct redistls_config redis_tls; /* REDIS_TLS_*: used with a rediss:// REDIS_URL only */
    int health_check_timeout_ms;
    int health_cache_ms;
    int shutdown_drain_seconds;
    int shutdown_timeout_seconds;
    long max_body_bytes;
    int max_connections;  /* client connections at once, all event loops (0 in the environment =
                             derived from the cgroup memory limit, see config.c) */
    char *frontend_url;   /* comma-separated origins allowed by CORS; NULL = none */
    bool console_enabled; /* the web console at / (pkg/console) */
    int jwt_expiration_days;
    char *jwt_algorithm; /* JWT_ALGORITHM: validated to be HS256, the only one implemented */
    int password_hash_threads;
    char *trusted_proxies;     /* TRUSTED_PROXIES: comma-separated CIDRs (validated); NULL = none */
    int signup_limit_per_hour; /* sign-ups per client address per hour; 0 = no limit */

    /* worker */
    int worker_concurrency;
    char *worker_heartbeat_file;
    int worker_visibility_timeout_seconds;
    int webhook_max_attempts;
    int webhook_timeout_ms;
    bool webhook_allow_private;
    char *pod_name; /* POD_NAME, else the host name (worker, dev, migrate) */

    /* alerts (pkg/alert): ALERT_WEBHOOK_URL (a Slack-style URL is a credential) and
     * ALERT_WEBHOOK_SECRET are secrets; NULL URL = alerts off */
    char *alert_webhook_url;
    char *alert_webhook_secret;
    int alert_min_interval_seconds;
    char *release_name; /* RELEASE_NAME (the Helm release); NULL = unset */

    /* the assistant (chat and MCP, CONTRACT §8-§9); the three keys are secrets */
    char *llm_provider_text; /* LLM_PROVIDER as given */
    char *groq_api_key;
    char *openrouter_api_key;
    char *llm_api_key;
    char *groq_base_url;
    char *groq_model;
    char *openrouter_base_url;
    char *openrouter_model;
    char *llm_base_url;
    char *llm_model;
    char *openrouter_referer;
    char *openrouter_title;
    char *agent_name;
    char *agent_instructions; /* NULL: the built-in instructions */
    int max_tokens;
    double temperature;
    int llm_timeout_ms;
    int chat_max_tool_rounds;
    int chat_history_messages;
    int chat_max_inflight; /* chats in flight per event-loop thread before 503 */
    /* resolved from the above by config_load: what the chat client uses. chat_api_key,
     * chat_model point into the fields above (not separately owned); chat_base_url is owned and
     * ends without a slash (Groq's /openai/v1 added when its URL has no path). */
    enum config_llm_provider llm_provider;
    const char *chat_api_key;
    const char *chat_model;
    char *chat_base_url;

    /* the binary's own identity (for /metrics' bollard_build_info): not from the environment;
     * cmd/bollard/main.c, the one file compiled with the version, sets them after loading */
    const char *build_version;
    const char *build_revision;

    /* migrate */
    int migrate_connect_timeout_seconds;
    int migrate_lock_timeout_seconds;
    int migrate_statement_timeout_seconds;
    int migrate_status_connect_timeout_seconds; /* `migrate status` and `migrate plan` */

    /* Spellings accepted but not canonical (ENVIRONMENT=development, LOG_LEVEL=WARNING, …), one per
     * variable at most; config_log_normalised() logs each once, after the log level is set. */
    struct config_normalised {
        const char *variable;
        const char *value; /* the canonical value it was read as */
        char given[24];    /* what was set (these variables hold no secret) */
    } normalised[4];
    int n_normalised;
};

/* Looks a variable up; tests pass their own. */
typedef const char *(*config_lookup_fn)(const char *name, void *ctx);

/* Loads and validates for `roles` (a mask of config_role). Every problem is written to `err` as
 * one line naming the variable (never its value). Returns the number of problems (0 = valid); the
 * caller then exits with BASE_EXIT_CONFIG (78). */
int config_load(struct config *cfg, unsigned roles, config_lookup_fn lookup, void *lookup_ctx, FILE *err);
/* The same, reading the process environment. */
int config_load_env(struct config *cfg, unsigned roles, FILE *err);
void config_free(struct config *cfg);
/* One JSON log line (info) per normalised spelling: the variable, what was given and the canonical
 * value it was read as. Called before the configured log level is set, so it is always shown. */
void config_log_normalised(const struct config *cfg);

/* `bollard --help`: every variable, its default and meaning. */
void config_print_help(FILE *out);

const char *config_environment_name(enum config_environment env);
/* "GROQ", "OPENROUTER", "OPENAI", or "none". */
const char *config_llm_provider_name(enum config_llm_provider p);

/* SO_RCVBUF of client connections (pkg/server sets it on the listeners; the kernel doubles it for
 * its bookkeeping): without it the kernel's autotuning may queue megabytes per connection, and h2o
 * reads all that is queued into the connection's buffer before its parser applies any bound. */
#define CONFIG_CONNECTION_RCVBUF (64 * 1024)

/* The most memory one client connection can hold (request head + body + what one read may add):
 * what MAX_CONNECTIONS' default is computed from. */
unsigned long long config_connection_worst_bytes(long max_body_bytes);

#endif
