#include "log/log.h"
#include "base/base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_level_parse(const char *name, enum log_level *level)
{
    if (name == NULL)
        return false;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *level = (enum log_level)i;
            return true;
        }
    return false;
}

const char *log_level_name(enum log_level level)
{
    return level >= LOG_DEBUG && level <= LOG_ERROR ? level_names[level] : "info";
}

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

bool log_enabled(enum log_level level)
{
    return level >= log_threshold;
}

static void format_timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* One write(2) per line so lines from several threads never interleave. */
static void write_line(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* stdout gone: nothing sensible left to report to */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void log_write(enum log_level level, const char *request_id, const char *msg, json_t *fields)
{
    if (!log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char ts[40];
    format_timestamp(ts, sizeof(ts));
    json_t *line = json_object();
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(log_level_name(level)));
    json_object_set_new(line, "msg", json_string(msg != NULL ? msg : ""));
    if (request_id != NULL)
        json_object_set_new(line, "request_id", json_string(request_id));
    if (fields != NULL) {
        json_object_update_missing(line, fields);
        json_decref(fields);
    }
    char buf[4096];
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6);
    size_t len = json_dumpb(line, buf, sizeof(buf) - 1, flags);
    if (len > 0 && len < sizeof(buf) - 1) {
        buf[len] = '\n';
        write_line(buf, len + 1);
    } else if (len > 0) { /* rare long line: one heap buffer, still a single write */
        char *text = malloc(len + 1);
        if (text != NULL && json_dumpb(line, text, len, flags) == len) {
            text[len] = '\n';
            write_line(text, len + 1);
        }
        free(text);
    }
    json_decref(line);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_write(level, NULL, msg, NULL);
}

bool log_request_id_is_sane(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > LOG_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':';
        if (!ok)
            return false;
    }
    return true;
}

/* Request ids need uniqueness, not secrecy: a per-thread xorshift seeded once from getrandom. */
static __thread uint64_t request_id_state;

static uint64_t request_id_next(void)
{
    if (request_id_state == 0) {
        if (getrandom(&request_id_state, sizeof(request_id_state), 0) != sizeof(request_id_state))
            request_id_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&request_id_state;
        request_id_state |= 1;
    }
    uint64_t x = request_id_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    request_id_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void log_request_id_generate(char out[LOG_REQUEST_ID_GEN_LEN + 1])
{
    uint64_t words[2] = {request_id_next(), request_id_next()};
    unsigned char bytes[LOG_REQUEST_ID_GEN_LEN / 2];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(words[i / 8] >> ((i % 8) * 8));
    base_hex_encode(bytes, sizeof(bytes), out);
}
