/* migrate: the schema migration runner behind `bollard migrate [up|status|plan]`. */
#ifndef BOLLARD_MIGRATE_H
#define BOLLARD_MIGRATE_H

#include "config/config.h"

/* argv[0] is "migrate"; returns the process exit code. */
int migrate_main(const struct config *cfg, int argc, char **argv);

#endif
