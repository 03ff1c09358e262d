/* Unit tests of the environment contract (pkg/config) and request-id rules (pkg/log). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "log/log.h"

struct fake_env {
    const char *pairs[32][2];
    size_t n;
};

static const char *fake_lookup(const char *name, void *ctx)
{
    struct fake_env *env = ctx;
    for (size_t i = 0; i < env->n; i++)
        if (strcmp(env->pairs[i][0], name) == 0)
            return env->pairs[i][1];
    return NULL;
}

static void env_set(struct fake_env *env, const char *name, const char *value)
{
    for (size_t i = 0; i < env->n; i++)
        if (strcmp(env->pairs[i][0], name) == 0) {
            env->pairs[i][1] = value;
            return;
        }
    env->pairs[env->n][0] = name;
    env->pairs[env->n][1] = value;
    env->n++;
}

static void valid_env(struct fake_env *env)
{
    memset(env, 0, sizeof(*env));
    env_set(env, "DATABASE_URL", "postgresql://u:p@db:5432/app");
    env_set(env, "SECRET_KEY", "0123456789abcdef0123456789abcdef");
    env_set(env, "REDIS_URL", "redis://redis:6379/0");
    env_set(env, "ENVIRONMENT", "production");
    env_set(env, "LOG_LEVEL", "info");
}

/* Loads and returns the problem count; the messages land in `msgs`. */
static int load(struct fake_env *env, unsigned roles, struct config *cfg, char *msgs, size_t cap)
{
    FILE *err = fmemopen(msgs, cap, "w");
    assert_non_null(err);
    int n = config_load(cfg, roles, fake_lookup, env, err);
    fclose(err);
    return n;
}

static void test_valid_config_has_defaults(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.port, 8000);
    assert_int_equal(cfg.metrics_port, 9090);
    assert_int_equal(cfg.shutdown_drain_seconds, 5);
    assert_int_equal(cfg.shutdown_timeout_seconds, 25);
    assert_int_equal(cfg.jwt_expiration_days, 7);
    assert_true(cfg.api_threads >= 1);
    assert_int_equal(cfg.environment, CONFIG_ENV_PRODUCTION);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.signup_limit_per_hour, 30);
    assert_null(cfg.trusted_proxies);
    config_free(&cfg);
}

static void test_all_problems_reported_without_values(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[4096] = "";
    valid_env(&env);
    env_set(&env, "SECRET_KEY", "tooshort-secret");
    env_set(&env, "PORT", "99999");
    env_set(&env, "LOG_LEVEL", "chatty");
    env_set(&env, "DATABASE_URL", "mysql://u:hunter2@db/app");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 4);
    assert_non_null(strstr(msgs, "SECRET_KEY"));
    assert_non_null(strstr(msgs, "PORT"));
    assert_non_null(strstr(msgs, "LOG_LEVEL"));
    assert_non_null(strstr(msgs, "DATABASE_URL"));
    assert_null(strstr(msgs, "tooshort-secret"));
    assert_null(strstr(msgs, "hunter2"));
    assert_null(strstr(msgs, "chatty"));
}

/* /metrics has a listener of its own: METRICS_PORT equal to PORT is a configuration error (one line,
 * naming METRICS_PORT), and so is one outside 1..65535. */
static void test_metrics_port_differs_from_port(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "PORT", "9100");
    env_set(&env, "METRICS_PORT", "9100");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "config: METRICS_PORT: must differ from PORT"));
    msgs[0] = '\0';
    env_set(&env, "METRICS_PORT", "0");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "config: METRICS_PORT: must be an integer from 1 to 65535"));
    msgs[0] = '\0';
    env_set(&env, "METRICS_PORT", "9101");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.metrics_port, 9101);
    config_free(&cfg);
    /* the worker has no HTTP endpoint: it neither reads nor checks METRICS_PORT */
    env_set(&env, "METRICS_PORT", "9100");
    msgs[0] = '\0';
    if (load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)) == 0)
        config_free(&cfg);
    assert_null(strstr(msgs, "METRICS_PORT"));
}

static void test_role_decides_what_is_required(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "REDIS_URL", "");
    env_set(&env, "SECRET_KEY", "");
    /* migrate needs neither Redis nor the signing key */
    assert_int_equal(load(&env, CONFIG_ROLE_MIGRATE, &cfg, msgs, sizeof(msgs)), 0);
    config_free(&cfg);
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 2);
}

static void test_sqlite_only_in_dev(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "DATABASE_URL", "sqlite:/tmp/x.db");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "ENVIRONMENT=dev"));
    env_set(&env, "ENVIRONMENT", "dev");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_true(cfg.database_is_sqlite);
    config_free(&cfg);
}

static void test_alias_and_conflict(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "SECRET_KEY", "");
    env_set(&env, "BETTER_AUTH_SECRET", "abcdefghijklmnopqrstuvwxyz0123456789");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_string_equal(cfg.secret_key, "abcdefghijklmnopqrstuvwxyz0123456789");
    config_free(&cfg);
    env_set(&env, "SECRET_KEY", "a-different-secret-of-enough-length-000");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_null(strstr(msgs, "a-different-secret"));
}

static void test_drain_below_timeout_and_origins(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "SHUTDOWN_DRAIN_SECONDS", "25");
    env_set(&env, "FRONTEND_URL", "https://a.example.com,http://localhost:3000/");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "SHUTDOWN_DRAIN_SECONDS"));
    env_set(&env, "SHUTDOWN_DRAIN_SECONDS", "5");
    env_set(&env, "FRONTEND_URL", "https://a.example.com/app");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "FRONTEND_URL"));
}

static void test_trusted_proxies(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_string_equal(cfg.trusted_proxies, "10.0.0.0/8, fd00::/8");
    config_free(&cfg);
    env_set(&env, "TRUSTED_PROXIES", "10.0.0.0/8, 10.1.0.0/99");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "config: TRUSTED_PROXIES: entry 2"));
    assert_null(strstr(msgs, "10.1.0.0"));
}

static void test_request_id_rules(void **state)
{
    (void)state;
    assert_true(log_request_id_is_sane("abc-123_DEF.9:x", 15));
    assert_false(log_request_id_is_sane("", 0));
    assert_false(log_request_id_is_sane("has space", 9));
    assert_false(log_request_id_is_sane("quote\"", 6));
    char longid[100];
    memset(longid, 'a', sizeof(longid));
    assert_false(log_request_id_is_sane(longid, sizeof(longid)));
    char a[LOG_REQUEST_ID_GEN_LEN + 1], b[LOG_REQUEST_ID_GEN_LEN + 1];
    log_request_id_generate(a);
    log_request_id_generate(b);
    assert_int_equal(strlen(a), LOG_REQUEST_ID_GEN_LEN);
    assert_string_not_equal(a, b);
    assert_true(log_request_id_is_sane(a, strlen(a)));
}

static void test_max_connections(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    env_set(&env, "API_THREADS", "4");
    /* unset: derived (cgroup memory limit, else 1024), never below one per event loop */
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_true(cfg.max_connections >= 4 && cfg.max_connections <= 1000000);
    config_free(&cfg);
    env_set(&env, "MAX_CONNECTIONS", "200");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.max_connections, 200);
    config_free(&cfg);
    env_set(&env, "MAX_CONNECTIONS", "3");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "MAX_CONNECTIONS"));
    env_set(&env, "MAX_CONNECTIONS", "-1");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    /* the worst case one connection may hold: head bound + body + two receive buffers + 32 KiB */
    assert_int_equal(config_connection_worst_bytes(65536),
                     417792 + 65536 + 2 * CONFIG_CONNECTION_RCVBUF + 32768);
}

/* The assistant (CONTRACT §8): optional; a chosen provider needs its key; Groq's path is added. */
static void test_llm_provider(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048] = "";
    valid_env(&env);
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.llm_provider, CONFIG_LLM_NONE);
    assert_int_equal(cfg.max_tokens, 2000);
    assert_true(cfg.temperature > 0.69 && cfg.temperature < 0.71);
    assert_int_equal(cfg.chat_max_tool_rounds, 5);
    assert_int_equal(cfg.chat_history_messages, 20);
    assert_string_equal(cfg.agent_name, "TodoAssistant");
    config_free(&cfg);

    env_set(&env, "LLM_PROVIDER", "groq");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "GROQ_API_KEY"));

    env_set(&env, "GROQ_API_KEY", "gsk_secret_value");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.llm_provider, CONFIG_LLM_GROQ);
    assert_string_equal(cfg.chat_base_url, "https://api.groq.com/openai/v1");
    assert_string_equal(cfg.chat_model, "openai/gpt-oss-20b");
    assert_string_equal(cfg.chat_api_key, "gsk_secret_value");
    config_free(&cfg);

    env_set(&env, "GROQ_BASE_URL", "http://127.0.0.1:9/custom/v1/");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_string_equal(cfg.chat_base_url, "http://127.0.0.1:9/custom/v1");
    config_free(&cfg);

    env_set(&env, "LLM_PROVIDER", "OpenAI");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 2);
    assert_non_null(strstr(msgs, "LLM_BASE_URL"));
    assert_non_null(strstr(msgs, "LLM_MODEL"));
    env_set(&env, "LLM_BASE_URL", "http://127.0.0.1:8080/v1");
    env_set(&env, "LLM_MODEL", "local");
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.llm_provider, CONFIG_LLM_OPENAI);
    assert_null(cfg.chat_api_key); /* a local server needs no key */
    config_free(&cfg);

    env_set(&env, "LLM_PROVIDER", "anthropic");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "LLM_PROVIDER"));
    env_set(&env, "LLM_PROVIDER", "OPENROUTER");
    env_set(&env, "TEMPERATURE", "2.5");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 2);
    assert_non_null(strstr(msgs, "TEMPERATURE"));
    assert_non_null(strstr(msgs, "OPENROUTER_API_KEY"));
    assert_null(strstr(msgs, "gsk_secret_value"));
}

/* ALERT_WEBHOOK_URL (pkg/alert): optional; with it the signing secret is required (>= 16 bytes), the
 * URL follows the webhook rules, a literal private address needs WEBHOOK_ALLOW_PRIVATE, and no
 * message shows either value. */
static void test_alert_webhook(void **state)
{
    (void)state;
    struct fake_env env;
    struct config cfg;
    char msgs[2048];
    valid_env(&env);
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 0);
    assert_null(cfg.alert_webhook_url);
    assert_int_equal(cfg.alert_min_interval_seconds, 60);
    assert_null(cfg.release_name);
    config_free(&cfg);

    /* the URL without its secret: one problem naming the secret's variables */
    env_set(&env, "ALERT_WEBHOOK_URL", "https://hooks.example.com/services/T000/B000/xoxsecretpart");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_MIGRATE, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "ALERT_WEBHOOK_SECRET"));
    assert_non_null(strstr(msgs, "ALERT_WEBHOOK_SECRET_FILE"));
    assert_null(strstr(msgs, "xoxsecretpart"));

    /* a short secret */
    env_set(&env, "ALERT_WEBHOOK_SECRET", "short-secret");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "ALERT_WEBHOOK_SECRET: must be at least 16 bytes"));
    assert_null(strstr(msgs, "short-secret"));

    /* valid, for every role that alerts; the API reads none of it */
    env_set(&env, "ALERT_WEBHOOK_SECRET", "alert-signing-secret-0123456789");
    env_set(&env, "RELEASE_NAME", "prod");
    env_set(&env, "POD_NAME", "bollard-migrate-x7k2p");
    env_set(&env, "ALERT_MIN_INTERVAL_SECONDS", "5");
    assert_int_equal(load(&env, CONFIG_ROLE_MIGRATE, &cfg, msgs, sizeof(msgs)), 0);
    assert_string_equal(cfg.alert_webhook_secret, "alert-signing-secret-0123456789");
    assert_string_equal(cfg.release_name, "prod");
    assert_string_equal(cfg.pod_name, "bollard-migrate-x7k2p");
    config_free(&cfg);
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 0);
    assert_int_equal(cfg.alert_min_interval_seconds, 5);
    config_free(&cfg);
    assert_int_equal(load(&env, CONFIG_ROLE_API, &cfg, msgs, sizeof(msgs)), 0);
    assert_null(cfg.alert_webhook_url);
    config_free(&cfg);

    /* migrate without POD_NAME names its host */
    env_set(&env, "POD_NAME", "");
    assert_int_equal(load(&env, CONFIG_ROLE_MIGRATE, &cfg, msgs, sizeof(msgs)), 0);
    assert_non_null(cfg.pod_name);
    config_free(&cfg);

    env_set(&env, "ALERT_MIN_INTERVAL_SECONDS", "0");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "ALERT_MIN_INTERVAL_SECONDS"));
    env_set(&env, "ALERT_MIN_INTERVAL_SECONDS", "60");

    /* the webhook URL rules, without echoing the URL */
    env_set(&env, "ALERT_WEBHOOK_URL", "ftp://hooks.example.com/xoxsecretpart");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "ALERT_WEBHOOK_URL: must start with http:// or https://"));
    assert_null(strstr(msgs, "xoxsecretpart"));
    env_set(&env, "ALERT_WEBHOOK_URL", "https://user:xoxsecretpart@hooks.example.com/");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 1);
    assert_null(strstr(msgs, "xoxsecretpart"));

    /* the SSRF policy on a literal address: only with WEBHOOK_ALLOW_PRIVATE */
    env_set(&env, "ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook/xoxsecretpart");
    memset(msgs, 0, sizeof(msgs));
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 1);
    assert_non_null(strstr(msgs, "WEBHOOK_ALLOW_PRIVATE"));
    assert_null(strstr(msgs, "xoxsecretpart"));
    env_set(&env, "ALERT_WEBHOOK_URL", "http://169.254.169.254/latest");
    assert_int_equal(load(&env, CONFIG_ROLE_MIGRATE, &cfg, msgs, sizeof(msgs)), 1);
    env_set(&env, "WEBHOOK_ALLOW_PRIVATE", "true");
    assert_int_equal(load(&env, CONFIG_ROLE_MIGRATE, &cfg, msgs, sizeof(msgs)), 0);
    config_free(&cfg);
    env_set(&env, "ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook");
    assert_int_equal(load(&env, CONFIG_ROLE_WORKER, &cfg, msgs, sizeof(msgs)), 0);
    assert_true(cfg.webhook_allow_private);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_config_has_defaults),
        cmocka_unit_test(test_all_problems_reported_without_values),
        cmocka_unit_test(test_metrics_port_differs_from_port),
        cmocka_unit_test(test_role_decides_what_is_required),
        cmocka_unit_test(test_sqlite_only_in_dev),
        cmocka_unit_test(test_alias_and_conflict),
        cmocka_unit_test(test_drain_below_timeout_and_origins),
        cmocka_unit_test(test_trusted_proxies),
        cmocka_unit_test(test_request_id_rules),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_llm_provider),
        cmocka_unit_test(test_alert_webhook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
