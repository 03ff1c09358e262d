/* `bollard dev` (see dev.h): migrations, then webhook deliveries on a thread of their own
 * (pkg/worker's in-process pipeline) and the API (pkg/app), all on one SQLite file. */
#include "dev/dev.h"
#include "base/base.h"
#include "app/app.h"
#include "log/log.h"
#include "migrate/migrate.h"
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bollard dev\n"
            "  Applies the SQLite migrations to the file of DATABASE_URL=sqlite:PATH (created if missing),\n"
            "  then serves the API on PORT (and /metrics on METRICS_PORT) from that file and delivers task\n"
            "  events to registered webhooks in process, as `bollard worker` does (WEBHOOK_*,\n"
            "  WORKER_CONCURRENCY): no PostgreSQL, no Redis. Requires ENVIRONMENT=dev, SECRET_KEY (or "
            "SECRET_KEY_FILE) and\n"
            "  LOG_LEVEL; REDIS_URL is not used.\n"
            "  `make run` starts it with a generated configuration.\n"
            "Exit codes: 0 after SIGTERM/SIGINT; 1 migration or start-up failure; 2 the dev database's\n"
            "migration history differs from this binary's; 3 the dev database is too new for this binary;\n"
            "64 usage; 78 invalid configuration.\n");
}

/* The dev database holds password hashes: owner-only. SQLite would create it 0644 (less the umask)
 * and gives its -wal and -shm files the database file's mode, so the file is made here first, and
 * one left readable by others by an older version is tightened. False (logged) when it cannot be. */
static bool private_database_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_printf(LOG_ERROR,
                   "bollard dev: cannot open the dev database file: %s (does the directory of the "
                   "DATABASE_URL path exist and is it writable?)",
                   strerror(errno));
        return false;
    }
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    if (ok && (st.st_mode & 077) != 0) {
        ok = fchmod(fd, st.st_mode & 0700) == 0;
        log_write(ok ? LOG_WARN : LOG_ERROR, NULL,
                  ok ? "bollard dev: the dev database file was readable by others; now owner-only (0600)"
                     : "bollard dev: cannot make the dev database file owner-only",
                  ok ? NULL : json_pack("{s:s}", "error", strerror(errno)));
    }
    close(fd);
    return ok;
}

int dev_args(int argc, char **argv)
{
    return base_role_args(argc, argv, usage);
}

int dev_main(const struct config *cfg, int argc, char **argv)
{
    /* cmd/bollard ran dev_args first; pkg/config refused anything but sqlite:PATH with ENVIRONMENT=dev. */
    const char *path = cfg->database_url + strlen("sqlite:");
    if (!private_database_file(path))
        return BASE_EXIT_FAILURE;
    enum migrate_exit st = migrate_sqlite(path);
    if (st != MIGRATE_EXIT_OK) {
        log_write(LOG_ERROR, NULL, "bollard dev: the dev database is not usable; not starting the API",
                  json_pack("{s:i}", "exit_code", (int)st));
        return (int)st;
    }
    /* Before app_main: it starts the event-loop threads, and curl's global set-up must come first. */
    struct worker_dev *deliveries = worker_dev_start(cfg, path);
    if (deliveries == NULL)
        return BASE_EXIT_FAILURE;
    log_write(LOG_INFO, NULL, "bollard dev: embedded SQLite database ready; starting the API (no Redis)",
              json_pack("{s:i}", "port", cfg->port));
    int rc = app_main(cfg, argc, argv);
    /* After the API has drained: a request's event is in the outbox before its response is sent. */
    worker_dev_stop(deliveries);
    return rc;
}
