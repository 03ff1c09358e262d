#include "check/check.h"

#include <stdio.h>

int check_main(const struct config *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    fprintf(stderr, "bollard check: not implemented in this build yet (issue: migration runner)\n");
    return 70;
}
