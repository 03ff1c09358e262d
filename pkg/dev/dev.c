/* `bollard dev` (see dev.h). The worker loop joins this process with the worker's own issue; until
 * then task events wait in the outbox table of the SQLite file. */
#include "dev/dev.h"
#include "devdb/devdb.h"
#include "log/log.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#ifndef BOLLARD_VERSION
#define BOLLARD_VERSION "0.0.0"
#endif
#ifndef BOLLARD_GIT_REV
#define BOLLARD_GIT_REV "unknown"
#endif

#define DEV_EXIT_USAGE  64
#define DEV_EXIT_CONFIG 78

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bollard dev\n"
            "  Applies the SQLite migrations to the file of DATABASE_URL=sqlite:PATH (created if missing),\n"
            "  then serves the API on PORT from that file: no PostgreSQL, no Redis. Requires\n"
            "  ENVIRONMENT=dev, SECRET_KEY (or SECRET_KEY_FILE) and LOG_LEVEL; REDIS_URL is not used.\n"
            "  `make run` starts it with a generated configuration.\n"
            "Exit codes: 0 after SIGTERM/SIGINT; 1 migration or start-up failure; 2 the dev database's\n"
            "migration history differs from this binary's; 3 the dev database is too new for this binary;\n"
            "64 usage; 78 invalid configuration.\n");
}

int dev_main(const struct config *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "bollard dev: unexpected argument '%s'\n", argv[i]);
        usage(stderr);
        return DEV_EXIT_USAGE;
    }
    /* pkg/config already refused sqlite: outside ENVIRONMENT=dev; dev itself needs SQLite. */
    if (!cfg->database_is_sqlite) {
        fprintf(stderr, "config: DATABASE_URL: `bollard dev` runs on an embedded SQLite file: "
                        "use sqlite:PATH (e.g. sqlite:build/dev/bollard.db)\n");
        return DEV_EXIT_CONFIG;
    }
    const char *path = cfg->database_url + strlen("sqlite:");
    enum devdb_status st = devdb_migrate(path);
    if (st != DEVDB_OK) {
        log_write(LOG_ERROR, NULL, "bollard dev: the dev database is not usable; not starting the API",
                  json_pack("{s:i}", "exit_code", (int)st));
        return (int)st;
    }
    log_write(LOG_INFO, NULL, "bollard dev: embedded SQLite database ready; starting the API (no Redis)",
              json_pack("{s:i}", "port", cfg->port));
    return server_run(cfg, BOLLARD_VERSION, BOLLARD_GIT_REV);
}
