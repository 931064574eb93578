/* libFuzzer target: the conf file parser (config_parse) on the defaults,
 * no key pinned by the environment. A refused file must leave the config
 * exactly as it was and say why; an accepted one leaves every string
 * NUL-terminated within its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void terminated(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	/* Heap copy of exactly size bytes: no NUL after the text to lean on. */
	char *text = malloc(size ? size : 1);
	CHECK(text != NULL);
	memcpy(text, data, size);

	stk_config *c = malloc(sizeof *c), *before = malloc(sizeof *before);
	CHECK(c != NULL && before != NULL);
	config_defaults(c);
	memcpy(before, c, sizeof *c);
	char err[300];
	memset(err, 'x', sizeof err);
	int rc = config_parse(c, text, size, NULL, err, sizeof err);
	CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		CHECK(memcmp(c, before, sizeof *c) == 0);
		terminated(err, sizeof err);
		CHECK(err[0] != '\0');
	} else {
		terminated(c->admin_token, sizeof c->admin_token);
		terminated(c->db_host, sizeof c->db_host);
		terminated(c->db_socket, sizeof c->db_socket);
		terminated(c->db_user, sizeof c->db_user);
		terminated(c->db_password, sizeof c->db_password);
		terminated(c->db_name, sizeof c->db_name);
		terminated(c->listen, sizeof c->listen);
		terminated(c->listen_group, sizeof c->listen_group);
		terminated(c->pid_file, sizeof c->pid_file);
		terminated(c->log_file, sizeof c->log_file);
		terminated(c->access_log, sizeof c->access_log);
		/* the default is the CPU count; a WORKERS line is 1..256 */
		CHECK(c->workers == before->workers || (c->workers >= 1 && c->workers <= 256));
		CHECK(c->retry_attempts >= 0 && c->retry_attempts <= 10);
		CHECK(c->db_port >= 0 && c->db_port <= 65535);
	}
	free(before);
	free(c);
	free(text);
	return 0;
}
