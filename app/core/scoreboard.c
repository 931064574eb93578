#include "core/scoreboard.h"

#include <string.h>
#include <sys/mman.h>

/* Each table fills its slots but the last (the catch-all: other statuses,
 * +Inf): an entry too few would leave a slot reading 0, one too many would
 * not compile. */
static const int counted[] = { 200, 201, 400, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504 };
_Static_assert(sizeof counted / sizeof counted[0] == SB_STATUSES - 1, "one status per slot but the last");

static const double bucket_le[] = { 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000 };
_Static_assert(sizeof bucket_le / sizeof bucket_le[0] == SB_BUCKETS - 1, "one bound per bucket but +Inf");
static const double db_bucket_le[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 100, 1000 };
_Static_assert(sizeof db_bucket_le / sizeof db_bucket_le[0] == SB_DB_BUCKETS - 1, "one bound per bucket but +Inf");

scoreboard *scoreboard_create(void)
{
	void *p = mmap(NULL, sizeof(scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, sizeof(scoreboard)); /* already zero; made explicit */
	atomic_store(&((scoreboard *)p)->last_reload_ok, 1);
	return p;
}

void scoreboard_set_refusal(scoreboard *sb, int64_t at_ms, const char *message)
{
	uint32_t seq = atomic_load_explicit(&sb->refusal_seq, memory_order_relaxed);
	atomic_store_explicit(&sb->refusal_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&sb->refusal_ms, at_ms, memory_order_relaxed);
	size_t i = 0;
	/* One line of text whatever the file held: the status page and
	 * systemd's STATUS= both take it as it is. */
	for (; i < SB_NOTE_LEN - 1 && message[i] != '\0'; i++) {
		char ch = message[i];
		atomic_store_explicit(&sb->refusal_message[i], (unsigned char)ch < 0x20 || ch == 0x7f ? '?' : ch,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&sb->refusal_message[i], '\0', memory_order_relaxed);
	atomic_store_explicit(&sb->refusal_seq, seq + 2, memory_order_release);
}

void scoreboard_last_refusal(scoreboard *sb, int64_t *at_ms, char *message, size_t len)
{
	/* A writer takes a few hundred stores; a master killed halfway (its
	 * workers die with it) must not keep a reader spinning. */
	for (int attempt = 0; attempt < 10000; attempt++) {
		uint32_t before = atomic_load_explicit(&sb->refusal_seq, memory_order_acquire);
		if (before & 1)
			continue;
		*at_ms = atomic_load_explicit(&sb->refusal_ms, memory_order_relaxed);
		size_t i = 0;
		for (; i + 1 < len && i < SB_NOTE_LEN; i++) {
			message[i] = atomic_load_explicit(&sb->refusal_message[i], memory_order_relaxed);
			if (message[i] == '\0')
				break;
		}
		message[i] = '\0';
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&sb->refusal_seq, memory_order_relaxed) == before)
			return;
	}
	*at_ms = 0;
	message[0] = '\0';
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

double scoreboard_bucket_le(int bucket)
{
	return bucket >= 0 && bucket < SB_BUCKETS - 1 ? bucket_le[bucket] : -1;
}

int scoreboard_bucket_of(double ms)
{
	int i = 0;
	while (i < SB_BUCKETS - 1 && ms > bucket_le[i])
		i++;
	return i;
}

double scoreboard_db_bucket_le(int bucket)
{
	return bucket >= 0 && bucket < SB_DB_BUCKETS - 1 ? db_bucket_le[bucket] : -1;
}

int scoreboard_db_bucket_of(double ms)
{
	int i = 0;
	while (i < SB_DB_BUCKETS - 1 && ms > db_bucket_le[i])
		i++;
	return i;
}
