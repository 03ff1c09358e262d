#include "uuid/uuid.h"

#include <ctype.h>

bool uuid_text_is_valid(const char *s, size_t len)
{
    if (s == NULL || len != UUID_TEXT_LEN)
        return false;
    for (size_t i = 0; i < UUID_TEXT_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

void uuid_text_lower(const char *s, char out[UUID_TEXT_LEN + 1])
{
    for (size_t i = 0; i < UUID_TEXT_LEN; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[UUID_TEXT_LEN] = '\0';
}
