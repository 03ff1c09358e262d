/* server: `bollard api` — h2o event loops, listeners, routing, graceful shutdown. */
#ifndef BOLLARD_SERVER_H
#define BOLLARD_SERVER_H

#include "config/config.h"

/* Runs until shut down; returns the process exit code. version/revision label /metrics. */
int server_run(const struct config *cfg, const char *version, const char *revision);

#endif
