/* uuid: the textual UUID form every id in the API, the store and tokens uses. */
#ifndef BOLLARD_UUID_H
#define BOLLARD_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_TEXT_LEN 36

/* 8-4-4-4-12 hexadecimal digits (either case), nothing else. */
bool uuid_text_is_valid(const char *s, size_t len);
/* Copies a valid UUID text in lower case (the form PostgreSQL prints) into out[UUID_TEXT_LEN + 1]. */
void uuid_text_lower(const char *s, char out[UUID_TEXT_LEN + 1]);

#endif
