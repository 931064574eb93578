#include "core/scoreboard.h"

#include <string.h>
#include <sys/mman.h>

static const int counted[SB_STATUSES - 1] = { 200, 201, 400, 403, 404, 405, 409, 413,
					      415, 422, 429, 500, 502, 503, 504 };

scoreboard *scoreboard_create(void)
{
	void *p = mmap(NULL, sizeof(scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, sizeof(scoreboard)); /* already zero; made explicit */
	return p;
}

int scoreboard_status_slot(int status)
{
	for (int i = 0; i < SB_STATUSES - 1; i++)
		if (counted[i] == status)
			return i;
	return SB_STATUSES - 1;
}

int scoreboard_slot_status(int slot)
{
	return slot >= 0 && slot < SB_STATUSES - 1 ? counted[slot] : 0;
}
