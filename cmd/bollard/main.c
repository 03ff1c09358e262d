/* bollard: one binary, one role per invocation (api, worker, migrate, check, dev). */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "base/base.h"
#include "check/check.h"
#include "config/config.h"
#include "dev/dev.h"
#include "log/log.h"
#include "migrate/migrate.h"
#include "worker/worker.h"

#ifndef BOLLARD_VERSION
#define BOLLARD_VERSION "0.0.0"
#endif
#ifndef BOLLARD_GIT_REV
#define BOLLARD_GIT_REV "unknown"
#endif

__attribute__((unused)) static int not_built(const struct config *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    fprintf(stderr, "bollard %s: not implemented in this build yet; it refuses to pretend to run\n", argv[0]);
    return BASE_EXIT_SOFTWARE;
}

struct role {
    const char *name;
    unsigned config_role;
    /* Before the configuration is loaded, so help and usage errors need no environment: -1 to go
     * on, else the exit code. */
    int (*args)(int argc, char **argv);
    int (*run)(const struct config *cfg, int argc, char **argv);
    const char *help;
};

static const struct role roles[] = {
    {"api", CONFIG_ROLE_API, app_args, app_main, "HTTP API on PORT (health, metrics, tasks)"},
    {"worker", CONFIG_ROLE_WORKER, worker_args, worker_main,
     "background jobs from Redis (outbox relay, webhooks)"},
    {"migrate", CONFIG_ROLE_MIGRATE, migrate_args, migrate_main,
     "migrate [up|status|plan]: apply schema migrations, then exit"},
    {"check", CONFIG_ROLE_CHECK, check_args, check_main,
     "verify config, database, schema and Redis; exit non-zero on failure"},
    {"dev", CONFIG_ROLE_DEV, dev_args, dev_main,
     "API + worker + migrations in one process on SQLite (ENVIRONMENT=dev)"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: bollard <command> [args]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        fprintf(out, "  %-9s %s\n", roles[i].name, roles[i].help);
    fprintf(out, "\nOptions:\n  --help     this text\n  --version  version and git revision\n\n");
    config_print_help(out);
    fprintf(out, "\nExit codes: 0 ok; 1 runtime failure; 64 usage; 70 not built; 78 invalid configuration "
                 "(see README for migrate's codes)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return BASE_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return BASE_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("bollard %s (git %s)\n", BOLLARD_VERSION, BOLLARD_GIT_REV);
        return 0;
    }
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcmp(argv[1], roles[i].name) != 0)
            continue;
        int args = roles[i].args(argc - 1, argv + 1);
        if (args >= 0)
            return args;
        struct config cfg;
        int problems = config_load_env(&cfg, roles[i].config_role, stderr);
        if (problems > 0) {
            fprintf(stderr, "bollard %s: %d configuration problem%s; see `bollard --help`\n", roles[i].name,
                    problems, problems == 1 ? "" : "s");
            return BASE_EXIT_CONFIG;
        }
        cfg.build_version = BOLLARD_VERSION;
        cfg.build_revision = BOLLARD_GIT_REV;
        /* Before the configured level applies, so that LOG_LEVEL=critical still shows how it was read. */
        config_log_normalised(&cfg);
        log_set_level((enum log_level)cfg.log_level);
        int rc = roles[i].run(&cfg, argc - 1, argv + 1);
        config_free(&cfg);
        return rc;
    }
    fprintf(stderr, "bollard: unknown command '%s'\n", argv[1]);
    print_usage(stderr);
    return BASE_EXIT_USAGE;
}
