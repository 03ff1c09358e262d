/* log: one JSON object per line on stdout (ts, level, msg, request_id, extra fields). */
#ifndef BOLLARD_LOG_H
#define BOLLARD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

#define LOG_REQUEST_ID_MAX     64 /* longest X-Request-Id accepted from a client */
#define LOG_REQUEST_ID_GEN_LEN 32

/* Parses "debug|info|warn|error" into *level; false when unknown. */
bool log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

/* Process-wide threshold (part of the process configuration); default info. */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Writes one line. `fields` (may be NULL) is an object whose members are added to the line; the
 * reference is stolen. `request_id` may be NULL. */
void log_write(enum log_level level, const char *request_id, const char *msg, json_t *fields);
void log_printf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A client-supplied request id is kept only when 1..LOG_REQUEST_ID_MAX chars of [A-Za-z0-9._:-]. */
bool log_request_id_is_sane(const char *id, size_t len);
/* Writes LOG_REQUEST_ID_GEN_LEN hex chars plus NUL into out. */
void log_request_id_generate(char out[LOG_REQUEST_ID_GEN_LEN + 1]);

#endif
