#include "core/version.h"

/* One place defines the version: the VERSION file, which the Makefile
 * passes as -DSTOCKD_VERSION. A build without it is a build whose binary
 * could not say what it is: refuse it rather than print a made-up one. */
#ifndef STOCKD_VERSION
#error "STOCKD_VERSION is not defined: build with make (it reads the VERSION file)"
#endif
_Static_assert(sizeof(STOCKD_VERSION) > 1, "the VERSION file is empty");

const char *stockd_version(void)
{
	return STOCKD_VERSION;
}
