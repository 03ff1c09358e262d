/* check: `bollard check`, the start-up preconditions as a one-shot command. */
#ifndef BOLLARD_CHECK_H
#define BOLLARD_CHECK_H

#include "config/config.h"

/* Returns the process exit code: 0 when every check passes. */
int check_main(const struct config *cfg, int argc, char **argv);
/* The arguments alone, before any configuration is read: -1 to run, else the exit code (0 after
 * --help, 64 on a usage error). */
int check_args(int argc, char **argv);

#endif
