#ifndef STOCKD_CORE_VERSION_H
#define STOCKD_CORE_VERSION_H

/* The release this binary was built from: the VERSION file at the top of
 * the tree, passed in by the Makefile. */
const char *stockd_version(void);

#endif
