/* migrate: the migration run, written once for both dialects (see migrate_internal.h).
 *
 * Read the bookkeeping table and verify every applied migration against this binary (checksum,
 * diverged history, a floor above this binary's level); stop there when nothing is pending (no
 * lock is needed to see that). Otherwise take the dialect's lock, read again if it is held for the
 * whole run (another runner may have done the work), and apply each pending migration in its own
 * transaction together with its bookkeeping row, so a migration is either applied and recorded or
 * not there at all: there is no "dirty" state. */
#include "migrate/migrate.h"
#include "migrate/migrate_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

void migrate_report(const struct migrate_run *r, enum log_level level, json_t *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    /* The first error is the cause; what follows it ("migrate failed (exit N)") is its consequence. */
    if (level >= LOG_ERROR && r->first_error != NULL && r->first_error_cap > 0 && r->first_error[0] == '\0')
        snprintf(r->first_error, r->first_error_cap, "%s", msg);
    if (r->mode == MIGRATE_MODE_UP) {
        log_write(level, NULL, msg, fields);
        return;
    }
    json_decref(fields);
    if (level >= LOG_WARN)
        fprintf(stderr, "bollard migrate: %s\n", msg);
}

void migrate_runner_name(const char *tool, char *out, size_t cap)
{
    char host[64];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown-host");
    host[sizeof(host) - 1] = '\0';
    /* PostgreSQL keeps 63 bytes of application_name; the host (the pod name on Kubernetes) is what
     * names a lock holder. */
    snprintf(out, cap, "%s %.30s pid %ld", tool, host, (long)getpid());
}

bool migrate_run_init(struct migrate_run *r, const struct migrate_dialect *d, void *db,
                      enum migrate_mode mode, const struct schema_migration *migrations, size_t n_migrations)
{
    *r = (struct migrate_run){
        .d = d, .db = db, .mode = mode, .migrations = migrations, .n_migrations = n_migrations};
    r->pending = calloc(n_migrations + 1, sizeof(*r->pending));
    return r->pending != NULL;
}

void migrate_run_free(struct migrate_run *r)
{
    free(r->applied);
    free(r->pending);
    r->applied = NULL;
    r->pending = NULL;
}

/* ---- verification */

static enum migrate_exit read_applied(struct migrate_run *r)
{
    free(r->applied);
    r->applied = NULL;
    r->n_applied = 0;
    r->db_version = 0;
    r->db_floor = 0;
    enum migrate_exit rc = r->d->read_applied(r, &r->applied, &r->n_applied);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    for (size_t i = 0; i < r->n_applied; i++) {
        if (r->applied[i].floor > r->db_floor)
            r->db_floor = r->applied[i].floor;
        r->db_version = r->applied[i].version; /* ascending */
    }
    return MIGRATE_EXIT_OK;
}

static bool is_applied(const struct migrate_run *r, long version)
{
    for (size_t i = 0; i < r->n_applied; i++)
        if (r->applied[i].version == version)
            return true;
    return false;
}

static const struct schema_migration *find_embedded(const struct migrate_run *r, long version)
{
    for (size_t i = 0; i < r->n_migrations; i++)
        if (r->migrations[i].version == version)
            return &r->migrations[i];
    return NULL;
}

/* Compares the database's history with this binary's and fills r->pending. Returns
 * MIGRATE_EXIT_CHECKSUM when they disagree (each disagreement reported once). */
static enum migrate_exit analyze(struct migrate_run *r)
{
    const struct migrate_texts *t = r->d->texts;
    enum migrate_exit rc = MIGRATE_EXIT_OK;
    long level = schema_binary_level();
    for (size_t i = 0; i < r->n_applied; i++) {
        const struct migrate_applied *a = &r->applied[i];
        const struct schema_migration *m = find_embedded(r, a->version);
        if (m == NULL) {
            /* Above this binary's level it is the rollback case, judged by the floor. */
            if (a->version <= level) {
                migrate_report(r, LOG_ERROR,
                               json_pack("{s:I,s:s}", "version", (json_int_t)a->version, "name", a->name),
                               t->diverged, a->version, a->name);
                rc = MIGRATE_EXIT_CHECKSUM;
            }
            continue;
        }
        if (strcmp(a->checksum, m->checksum) != 0 || strcmp(a->name, m->name) != 0) {
            migrate_report(r, LOG_ERROR,
                           json_pack("{s:I,s:s,s:s,s:s}", "version", (json_int_t)a->version, "name", m->name,
                                     "checksum_applied", a->checksum, "checksum_binary", m->checksum),
                           t->changed, a->version, m->name, a->checksum, m->checksum);
            rc = MIGRATE_EXIT_CHECKSUM;
        }
    }
    r->n_pending = 0;
    for (size_t i = 0; i < r->n_migrations; i++) {
        const struct schema_migration *m = &r->migrations[i];
        if (is_applied(r, m->version))
            continue;
        if (m->version < r->db_version) {
            migrate_report(r, LOG_ERROR,
                           json_pack("{s:I,s:s}", "version", (json_int_t)m->version, "name", m->name),
                           t->out_of_order, m->version, m->name, r->db_version);
            rc = MIGRATE_EXIT_CHECKSUM;
            continue;
        }
        r->pending[r->n_pending++] = i;
    }
    r->n_expand_phase = schema_expand_phase_count(r->migrations, r->pending, r->n_pending);
    return rc;
}

/* The expand phase would leave this binary unready: an expand it needs follows a pending contract,
 * which waits for the rollout, which waits for this binary's pods. Refuse before applying anything. */
static enum migrate_exit check_phase_order(struct migrate_run *r)
{
    if (r->phase != SCHEMA_PHASE_EXPAND)
        return MIGRATE_EXIT_OK;
    for (size_t i = r->n_expand_phase + 1; i < r->n_pending; i++) {
        const struct schema_migration *m = &r->migrations[r->pending[i]];
        if (m->kind != SCHEMA_EXPAND)
            continue;
        const struct schema_migration *c = &r->migrations[r->pending[r->n_expand_phase]];
        migrate_report(
            r, LOG_ERROR,
            json_pack("{s:I,s:s,s:I,s:s}", "version", (json_int_t)m->version, "name", m->name,
                      "contract_version", (json_int_t)c->version, "contract_name", c->name),
            "expand migration %ld (%s) follows the pending contract migration %ld (%s): the expand "
            "phase stops before the contract, and this binary needs %ld, so its pods could not "
            "turn ready before the contract phase; upgrade through a release that stops at %ld "
            "first (or run --phase all during a maintenance window); nothing was applied",
            m->version, m->name, c->version, c->name, m->version, c->version);
        return MIGRATE_EXIT_PHASE_ORDER;
    }
    return MIGRATE_EXIT_OK;
}

/* How many pending migrations this run applies (a prefix of r->pending). */
static size_t phase_count(const struct migrate_run *r)
{
    return r->phase == SCHEMA_PHASE_EXPAND ? r->n_expand_phase : r->n_pending;
}

/* MIGRATE_EXIT_INCOMPATIBLE with a report when the database's floor excludes this binary
 * (pkg/schema's rule). */
static enum migrate_exit check_floor(struct migrate_run *r)
{
    char reason[BASE_WHY_MAX];
    if (schema_compat_evaluate(r->db_version, r->db_floor, reason, sizeof(reason)) != SCHEMA_TOO_NEW)
        return MIGRATE_EXIT_OK;
    long level = schema_binary_level();
    json_t *fields = json_pack("{s:I,s:I,s:I}", "db_version", (json_int_t)r->db_version, "db_floor",
                               (json_int_t)r->db_floor, "binary_level", (json_int_t)level);
    if (r->d->texts->too_new != NULL)
        migrate_report(r, LOG_ERROR, fields, r->d->texts->too_new, r->db_floor, level);
    else
        migrate_report(r, LOG_ERROR, fields, "incompatible database: %s", reason);
    return MIGRATE_EXIT_INCOMPATIBLE;
}

static enum migrate_exit read_and_verify(struct migrate_run *r)
{
    enum migrate_exit rc = read_applied(r);
    if (rc == MIGRATE_EXIT_OK)
        rc = analyze(r);
    if (rc == MIGRATE_EXIT_OK)
        rc = check_floor(r);
    if (rc == MIGRATE_EXIT_OK)
        rc = check_phase_order(r);
    return rc;
}

/* ---- applying */

/* One migration, in one transaction with its bookkeeping row. *floor is the database's floor
 * before; updated on success. *skipped: another runner applied it first (lockless dialects). */
static enum migrate_exit apply_one(struct migrate_run *r, const struct schema_migration *m, long *floor,
                                   bool *skipped)
{
    const struct migrate_dialect *d = r->d;
    *skipped = false;
    if (d->texts->applying != NULL)
        migrate_report(r, LOG_INFO,
                       json_pack("{s:I,s:s,s:s}", "version", (json_int_t)m->version, "name", m->name, "kind",
                                 schema_kind_name(m->kind)),
                       d->texts->applying, m->version, m->name);
    enum migrate_exit rc = d->begin(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    if (d->lock == NULL) {
        /* The transaction is the lock: read again, another runner may have gone first. */
        rc = read_applied(r);
        if (rc != MIGRATE_EXIT_OK)
            goto fail;
        *floor = r->db_floor;
        *skipped = is_applied(r, m->version);
        if (*skipped) {
            rc = d->commit(r, m);
            if (rc != MIGRATE_EXIT_OK)
                goto fail;
            return MIGRATE_EXIT_OK;
        }
    }
    long new_floor = schema_floor_after(*floor, m);
    uint64_t started = base_now_ns();
    rc = d->run_script(r, m);
    double duration_ms = (double)(base_now_ns() - started) / 1e6;
    if (rc == MIGRATE_EXIT_OK)
        rc = d->record(r, m, new_floor, duration_ms);
    if (rc == MIGRATE_EXIT_OK)
        rc = d->commit(r, m);
    if (rc != MIGRATE_EXIT_OK)
        goto fail;
    migrate_report(r, LOG_INFO,
                   json_pack("{s:I,s:s,s:s,s:f,s:I}", "version", (json_int_t)m->version, "name", m->name,
                             "kind", schema_kind_name(m->kind), "duration_ms", duration_ms, "floor",
                             (json_int_t)new_floor),
                   "applied migration %ld (%s)", m->version, m->name);
    *floor = new_floor;
    return MIGRATE_EXIT_OK;
fail:
    d->rollback(r);
    return rc;
}

enum migrate_exit migrate_run_up(struct migrate_run *r)
{
    const struct migrate_texts *t = r->d->texts;
    enum migrate_exit rc = read_and_verify(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    long level = schema_binary_level();
    if (r->n_pending > 0 && phase_count(r) == 0) {
        const struct schema_migration *c = &r->migrations[r->pending[0]];
        migrate_report(
            r, LOG_INFO,
            json_pack("{s:s,s:i,s:I}", "phase", schema_phase_name(r->phase), "waiting", (int)r->n_pending,
                      "contract_version", (json_int_t)c->version),
            "nothing to apply in the expand phase; %zu pending migration%s wait%s for the contract "
            "phase (from %ld, %s), after the rollout",
            r->n_pending, r->n_pending == 1 ? "" : "s", r->n_pending == 1 ? "s" : "", c->version, c->name);
        return MIGRATE_EXIT_OK;
    }
    if (r->n_pending == 0) {
        migrate_report(r, LOG_INFO,
                       json_pack("{s:I,s:I,s:I}", "db_version", (json_int_t)r->db_version, "db_floor",
                                 (json_int_t)r->db_floor, "binary_level", (json_int_t)level),
                       "%s", r->db_version > level ? t->ahead : t->up_to_date);
        return MIGRATE_EXIT_OK;
    }
    if (r->d->lock != NULL) {
        rc = r->d->lock(r);
        /* Again under the lock: a runner that held it before us may have applied everything. */
        if (rc == MIGRATE_EXIT_OK)
            rc = read_and_verify(r);
        if (rc != MIGRATE_EXIT_OK)
            return rc;
        if (phase_count(r) == 0) {
            migrate_report(r, LOG_INFO, NULL,
                           "another runner applied the pending migrations of this phase; nothing to do");
            return MIGRATE_EXIT_OK;
        }
    }
    long floor = r->db_floor, version = r->db_version;
    uint64_t started = base_now_ms();
    int applied = 0;
    size_t n_apply = phase_count(r);
    for (size_t i = 0; i < n_apply; i++) {
        const struct schema_migration *m = &r->migrations[r->pending[i]];
        bool skipped = false;
        rc = apply_one(r, m, &floor, &skipped);
        if (rc != MIGRATE_EXIT_OK)
            return rc;
        applied += skipped ? 0 : 1;
        version = m->version > version ? m->version : version;
    }
    migrate_report(r, LOG_INFO,
                   json_pack("{s:i,s:I,s:I,s:I,s:I,s:s,s:i}", "applied", applied, "db_version",
                             (json_int_t)version, "db_floor", (json_int_t)floor, "binary_level",
                             (json_int_t)level, "duration_ms", (json_int_t)(base_now_ms() - started), "phase",
                             schema_phase_name(r->phase), "left_for_contract_phase",
                             (int)(r->n_pending - n_apply)),
                   "%s", applied > 0 ? t->done : t->up_to_date);
    return MIGRATE_EXIT_OK;
}

/* ---- status and plan */

static const char *compat_state_name(enum schema_compat c)
{
    switch (c) {
    case SCHEMA_COMPATIBLE:
        return "compatible";
    case SCHEMA_NOT_MIGRATED:
        return "not_migrated";
    case SCHEMA_BEHIND:
        return "behind";
    case SCHEMA_TOO_NEW:
        return "too_new";
    }
    return "unknown";
}

struct status_row {
    long version;
    const char *name;
    const char *kind;
    const char *state;
    const char *checksum;
    const char *applied_at; /* NULL when not applied */
    double duration_ms;
    long floor;
    const char *phase; /* pending: the phase that applies it */
};

/* Merges the binary's migrations and the database's rows, ascending by version. */
static size_t status_rows(const struct migrate_run *r, struct status_row *out)
{
    size_t n = 0, e = 0, a = 0;
    while (e < r->n_migrations || a < r->n_applied) {
        const struct schema_migration *m = e < r->n_migrations ? &r->migrations[e] : NULL;
        const struct migrate_applied *row = a < r->n_applied ? &r->applied[a] : NULL;
        struct status_row *s = &out[n++];
        memset(s, 0, sizeof(*s));
        if (row != NULL && (m == NULL || row->version <= m->version)) {
            s->version = row->version;
            s->name = row->name;
            s->kind = row->kind;
            s->checksum = row->checksum;
            s->applied_at = row->applied_at;
            s->duration_ms = row->duration_ms;
            s->floor = row->floor;
            if (m != NULL && row->version == m->version) {
                bool same = strcmp(s->checksum, m->checksum) == 0 && strcmp(s->name, m->name) == 0;
                s->state = same ? "applied" : "changed";
                e++;
            } else {
                s->state = row->version > schema_binary_level() ? "ahead" : "unknown";
            }
            a++;
        } else {
            s->version = m->version;
            s->name = m->name;
            s->kind = schema_kind_name(m->kind);
            s->checksum = m->checksum;
            s->state = m->version < r->db_version ? "out-of-order" : "pending";
            long cut = r->n_expand_phase < r->n_pending ? r->migrations[r->pending[r->n_expand_phase]].version
                                                        : m->version + 1;
            s->phase = m->version < cut ? "expand" : "contract";
            e++;
        }
    }
    return n;
}

static enum migrate_exit print_status_json(const struct migrate_run *r, const struct status_row *rows,
                                           size_t n, enum schema_compat compat, const char *reason)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:I,s:s,s:s,s:s,s:s}", "version", (json_int_t)rows[i].version, "name", rows[i].name,
                      "kind", rows[i].kind, "state", rows[i].state, "checksum", rows[i].checksum);
        if (o != NULL && rows[i].phase != NULL)
            json_object_set_new(o, "phase", json_string(rows[i].phase));
        if (o != NULL && rows[i].applied_at != NULL) {
            json_object_set_new(o, "applied_at", json_string(rows[i].applied_at));
            json_object_set_new(o, "duration_ms", json_real(rows[i].duration_ms));
            json_object_set_new(o, "floor", json_integer(rows[i].floor));
        }
        json_array_append_new(list, o);
    }
    json_t *doc = json_pack(
        "{s:I,s:I,s:{s:I,s:I},s:{s:b,s:s,s:s},s:i,s:{s:i,s:i},s:o}", "binary_level",
        (json_int_t)schema_binary_level(), "needed_level", (json_int_t)schema_needed_level(), "database",
        "version", (json_int_t)r->db_version, "floor", (json_int_t)r->db_floor, "compatibility", "ok",
        compat == SCHEMA_COMPATIBLE, "state", compat_state_name(compat), "reason", reason, "pending",
        (int)r->n_pending, "pending_by_phase", "expand", (int)r->n_expand_phase, "contract",
        (int)(r->n_pending - r->n_expand_phase), "migrations", list);
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(doc);
    if (text == NULL)
        return MIGRATE_EXIT_FAILED;
    printf("%s\n", text);
    free(text);
    return MIGRATE_EXIT_OK;
}

static void print_status_table(const struct migrate_run *r, const struct status_row *rows, size_t n,
                               enum schema_compat compat, const char *reason)
{
    int name_w = 4;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(rows[i].name);
        if (len > name_w)
            name_w = len;
    }
    printf("%-8s %-*s %-8s %-12s %-24s %s\n", "VERSION", name_w, "NAME", "KIND", "STATE", "APPLIED AT",
           "DURATION");
    for (size_t i = 0; i < n; i++) {
        char duration[32] = "-";
        if (rows[i].applied_at != NULL)
            snprintf(duration, sizeof(duration), "%.1f ms", rows[i].duration_ms);
        printf("%-8ld %-*s %-8s %-12s %-24s %s\n", rows[i].version, name_w, rows[i].name, rows[i].kind,
               rows[i].state, rows[i].applied_at != NULL ? rows[i].applied_at : "-", duration);
    }
    printf("\ndatabase: version %ld, floor %ld; this binary: level %ld; %zu pending\nschema: %s (%s)\n",
           r->db_version, r->db_floor, schema_binary_level(), r->n_pending, compat_state_name(compat),
           reason);
    if (r->n_pending > 0)
        printf("phases: %zu pending in the expand phase (before the rollout), %zu in the contract phase "
               "(after it)\n",
               r->n_expand_phase, r->n_pending - r->n_expand_phase);
}

static enum migrate_exit print_status(const struct migrate_run *r, enum migrate_exit verdict)
{
    struct status_row *rows = calloc(r->n_migrations + r->n_applied + 1, sizeof(*rows));
    if (rows == NULL)
        return MIGRATE_EXIT_FAILED;
    size_t n = status_rows(r, rows);
    char reason[BASE_WHY_MAX];
    enum schema_compat compat = schema_compat_evaluate(r->db_version, r->db_floor, reason, sizeof(reason));
    enum migrate_exit rc = verdict;
    if (rc == MIGRATE_EXIT_OK && compat == SCHEMA_TOO_NEW)
        rc = MIGRATE_EXIT_INCOMPATIBLE;
    if (r->json) {
        if (print_status_json(r, rows, n, compat, reason) != MIGRATE_EXIT_OK)
            rc = MIGRATE_EXIT_FAILED;
    } else {
        print_status_table(r, rows, n, compat, reason);
    }
    free(rows);
    return rc;
}

static enum migrate_exit print_plan(const struct migrate_run *r)
{
    long level = schema_binary_level();
    if (r->n_pending == 0) {
        printf("-- bollard migrate plan: nothing to apply (database version %ld, this binary level %ld)\n",
               r->db_version, level);
        return MIGRATE_EXIT_OK;
    }
    size_t n_show = phase_count(r);
    printf("-- bollard migrate plan: %zu pending migration%s (database version %ld, this binary level %ld).\n"
           "-- Each runs in its own transaction with its row in " SCHEMA_TABLE "; nothing has been applied.\n"
           "-- Phases: %zu in the expand phase (before the rollout: the floor stays), %zu in the contract "
           "phase (once no pod of the previous version serves)%s.\n",
           r->n_pending, r->n_pending == 1 ? "" : "s", r->db_version, level, r->n_expand_phase,
           r->n_pending - r->n_expand_phase,
           n_show < r->n_pending ? "; --phase expand shows the first only" : "");
    long floor = r->db_floor;
    for (size_t i = 0; i < n_show; i++) {
        const struct schema_migration *m = &r->migrations[r->pending[i]];
        if (i == 0 || i == r->n_expand_phase)
            printf("\n-- ======== %s phase\n", i < r->n_expand_phase ? "expand" : "contract");
        long before = floor;
        floor = schema_floor_after(floor, m);
        printf("\n-- ==== migration %ld (%s), %s, floor after: %ld, sha256 %s\n", m->version, m->name,
               schema_kind_name(m->kind), floor, m->checksum);
        if (floor > before)
            printf(
                "-- ROLLBACK FLOOR: once applied, binaries below level %ld are unready against this "
                "database: "
                "a helm rollback (kubectl rollout undo) to a release below %ld leaves its pods unready (they "
                "never serve, nothing is corrupted; traffic stays on pods at level %ld or newer). Going back "
                "below it needs a database restore.\n",
                floor, floor, floor);
        fwrite(m->sql, 1, m->sql_len, stdout);
        if (m->sql_len > 0 && m->sql[m->sql_len - 1] != '\n')
            putchar('\n');
    }
    return MIGRATE_EXIT_OK;
}

enum migrate_exit migrate_run_read_only(struct migrate_run *r)
{
    enum migrate_exit rc = read_applied(r);
    if (rc != MIGRATE_EXIT_OK)
        return rc;
    enum migrate_exit verdict = analyze(r);
    if (r->mode == MIGRATE_MODE_STATUS)
        return print_status(r, verdict);
    if (verdict != MIGRATE_EXIT_OK)
        return verdict;
    rc = check_floor(r);
    if (rc == MIGRATE_EXIT_OK)
        rc = check_phase_order(r);
    return rc != MIGRATE_EXIT_OK ? rc : print_plan(r);
}
