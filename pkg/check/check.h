/* check: `bollard check`, the start-up preconditions as a one-shot command. */
#ifndef BOLLARD_CHECK_H
#define BOLLARD_CHECK_H

#include "config/config.h"

/* Returns the process exit code: 0 when every check passes. */
int check_main(const struct config *cfg, int argc, char **argv);

#endif
