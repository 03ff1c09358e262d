/* base: the few helpers every module needs, written once — monotonic clock, one-line error text,
 * hexadecimal and percent decoding, UUID text (checked, lowered, generated), and the process exit codes.
 *
 * The project's error convention (ARCHITECTURE.md, "Conventions"): a function that can fail returns
 * its outcome — `bool`, a pointer (NULL), a count (-1), or a module's status enum where callers
 * branch on the kind of failure — and, when a caller needs the reason, takes `char *why, size_t cap`
 * as its last two parameters and fills it with base_why(): one line, never a secret. */
#ifndef BOLLARD_BASE_H
#define BOLLARD_BASE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (sysexits.h names) shared by every role. */
#define BASE_EXIT_OK       0
#define BASE_EXIT_FAILURE  1  /* runtime failure */
#define BASE_EXIT_USAGE    64 /* EX_USAGE: bad arguments */
#define BASE_EXIT_SOFTWARE 70 /* EX_SOFTWARE: not built into this binary */
#define BASE_EXIT_CONFIG   78 /* EX_CONFIG: invalid configuration (CONTRACT §3) */

/* Length of a UUID's text form, 8-4-4-4-12, without the NUL. */
#define BASE_UUID_LEN 36

/* Room for one reason text filled in through `char *why, size_t cap`. */
#define BASE_WHY_MAX 256

/* Monotonic clock (never jumps with the wall clock). */
uint64_t base_now_ms(void);
uint64_t base_now_ns(void);

/* Formats a reason into why[cap] (no-op when why is NULL or cap 0); always NUL-terminated. */
void base_why(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies `in` (NULL = "") into out[cap] as one line: newlines and tabs become spaces, trailing
 * spaces dropped. For library error messages that end in "\n" or span lines. */
void base_one_line(const char *in, char *out, size_t cap);

/* Value of one hexadecimal digit (either case), or -1. */
int base_hex_value(int c);
/* Writes 2 * n lower-case hex digits and a NUL into out (room for 2 * n + 1). */
void base_hex_encode(const unsigned char *in, size_t n, char *out);
/* Percent-decodes s[0..len) into out[cap] (NUL-terminated); with plus_is_space (query strings), '+'
 * is a space. False when a '%' is not followed by two hex digits, a NUL byte would be decoded, or
 * the result does not fit. */
bool base_percent_decode(const char *s, size_t len, bool plus_is_space, char *out, size_t cap);

/* 8-4-4-4-12 hexadecimal digits (either case), nothing else. */
bool base_uuid_is_valid(const char *s, size_t len);
/* Copies a valid UUID text in lower case (the form PostgreSQL prints) into out[BASE_UUID_LEN + 1]. */
void base_uuid_lower(const char *s, char out[BASE_UUID_LEN + 1]);
/* A random (version 4) UUID in canonical lower-case text, like PostgreSQL's gen_random_uuid(), from
 * the kernel's generator (getrandom). False only when the kernel gives no random bytes. */
bool base_uuid_v4(char out[BASE_UUID_LEN + 1]);

/* A heap copy of src[0..len) with a NUL after it (text that may hold NUL bytes keeps its length), or
 * NULL when memory is short. */
char *base_memdup(const void *src, size_t len);

/* A growable byte buffer for bytes that may hold a secret (a Redis AUTH command): whatever it
 * drops — the old copy when it grows, its contents on reset or free — is wiped first. */
struct base_buf {
    char *bytes;
    size_t len, cap;
};
/* Appends data[0..len); false when memory is short (the buffer is then unchanged). */
bool base_buf_append(struct base_buf *b, const void *data, size_t len);
/* Wipes the contents and empties the buffer, keeping its memory for the next appends. */
void base_buf_reset(struct base_buf *b);
/* Wipes and frees; the buffer is then empty and may be used again. */
void base_buf_free(struct base_buf *b);

/* The arguments of a role that takes none but --help (argv[0] is the role's name, as in
 * `bollard <role> --help`): -1 to start; BASE_EXIT_OK after printing usage on stdout for --help or
 * -h; BASE_EXIT_USAGE after naming an unexpected argument and printing usage on stderr. */
int base_role_args(int argc, char **argv, void (*usage)(FILE *out));

/* pthread_create with every signal blocked in the new thread: a process' signals belong to its main
 * thread (a signalfd or sigtimedwait there), so none may be delivered to a helper thread. Returns
 * pthread_create's result (0 or an errno value). */
int base_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Levenshtein distance for "did you mean" suggestions, case slips free; capped: returns cap + 1
 * when the distance exceeds `cap` (or a text is longer than 64 bytes). */
size_t base_edit_distance(const char *a, const char *b, size_t cap);

#endif
