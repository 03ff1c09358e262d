#include "migrate/migrate.h"

#include <stdio.h>

int migrate_main(const struct config *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    fprintf(stderr, "bollard migrate: not implemented in this build yet (issue: migration runner)\n");
    return 70;
}
