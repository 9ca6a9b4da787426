/*
 * usage.h: wspool-master's --help text.
 */
#ifndef MASTER_USAGE_H
#define MASTER_USAGE_H

#include <stdio.h>

/* The usage and option summary, to f. */
void usage_print(FILE *f);

#endif /* MASTER_USAGE_H */
