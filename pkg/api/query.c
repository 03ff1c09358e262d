/* The query string of the list routes (tasks, conversations): written once so that every list
 * answers the same parameters the same way. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "base/base.h"
#include "store/store.h"

bool api_read_page_query(struct http_exchange *ex, bool with_completed, struct api_page_query *q)
{
    struct api_errors errors = {0};
    h2o_req_t *req = ex->req;
    q->limit = API_PAGE_LIMIT_DEFAULT;
    q->completed = -1;
    q->cursor[0] = '\0';
    if (req->query_at == SIZE_MAX)
        return true;
    const char *p = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t klen = (size_t)((eq != NULL ? eq : stop) - p);
        const char *val = eq != NULL ? eq + 1 : stop;
        char decoded[API_CURSOR_MAX + 1];
        bool ok = base_percent_decode(val, (size_t)(stop - val), true, decoded, sizeof(decoded));
        if (klen == 5 && memcmp(p, "limit", 5) == 0) {
            char *e = NULL;
            long n = ok ? strtol(decoded, &e, 10) : 0;
            if (!ok || decoded[0] == '\0' || *e != '\0' || n < 1 || n > API_PAGE_LIMIT_MAX)
                api_errors_add(&errors, "limit", "must be an integer from 1 to 100");
            else
                q->limit = (int)n;
        } else if (with_completed && klen == 9 && memcmp(p, "completed", 9) == 0) {
            if (ok && strcmp(decoded, "true") == 0)
                q->completed = 1;
            else if (ok && strcmp(decoded, "false") == 0)
                q->completed = 0;
            else
                api_errors_add(&errors, "completed", "must be true or false");
        } else if (klen == 6 && memcmp(p, "cursor", 6) == 0) {
            if (ok && decoded[0] == '\0') {
                /* "cursor=" is the first page, as no cursor is (a form's empty field, say) */
            } else if (!ok || !store_cursor_is_valid(decoded)) {
                api_errors_add(&errors, "cursor", "is not a cursor this API returned");
            } else {
                memcpy(q->cursor, decoded, strlen(decoded) + 1);
            }
        }
        p = stop + 1;
    }
    return !api_errors_respond(ex, &errors);
}
