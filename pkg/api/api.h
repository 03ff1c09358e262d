/* api: the application's HTTP routes — accounts (signup/signin), tasks, OpenAPI document and
 * docs page — on top of pkg/http, pkg/store and pkg/auth. */
#ifndef BOLLARD_API_H
#define BOLLARD_API_H

#include <stddef.h>

#include "http/http.h"

/* Every route the API serves (health and metrics included), for the router and for the test that
 * keeps /openapi.json and the server in step. */
const struct http_route *api_routes(size_t *count);

#endif
