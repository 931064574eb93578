#include <stdlib.h>

#include "core/log.h"
#include "domain/domain.h"

void dom_precondition_failed(const char *what, const char *func)
{
	log_error("domain precondition failed in %s: %s", func, what);
	abort();
}
