/* libFuzzer target: the strict JSON gate in front of json-c.
 *  - json_is_strict and utf8_chars never read past len (ASan: libFuzzer's
 *    buffer is exactly size bytes);
 *  - whatever json_is_strict accepts, json-c (JSON_TOKENER_STRICT, UTF-8
 *    validation, the depth the app uses) parses too, with nothing but
 *    whitespace after the value; and an accepted object is what
 *    parse_json_object returns, so a valid body is never a 400;
 *  - the two UTF-8 validators agree: text utf8_chars accepts, quoted as a
 *    JSON string (when it needs no escaping), json_is_strict accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/json_strict.h"
#include "api/validate.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE);
	return 0;
}

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void json_c_agrees(const char *text, size_t size)
{
	/* json-c cannot know a bare number at the end of its input is complete
	 * (it answers "continue"): give it the terminating NUL too, as
	 * json_tokener_parse does. json_is_strict refused any NUL inside. */
	CHECK(memchr(text, '\0', size) == NULL);
	json_tokener *tok = json_tokener_new_ex(64);
	CHECK(tok != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *obj = json_tokener_parse_ex(tok, text, (int)size + 1);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	CHECK(err == json_tokener_success);
	CHECK(end <= size);
	for (size_t i = end; i < size; i++)
		CHECK(json_ws(text[i]));
	bool is_object = obj != NULL && json_object_is_type(obj, json_type_object);
	json_object_put(obj);
	if (is_object) {
		json_object *o = parse_json_object(text, size);
		CHECK(o != NULL);
		json_object_put(o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	const char *text = (const char *)data;

	long chars = utf8_chars(text, size);
	CHECK(chars >= -1 && (chars == -1 || (size_t)chars <= size));

	if (json_is_strict(text, size)) {
		/* Copy with one byte of room for the NUL json-c is given. */
		char *buf = malloc(size + 1);
		CHECK(buf != NULL);
		memcpy(buf, text, size);
		buf[size] = '\0';
		json_c_agrees(buf, size);
		free(buf);
	}

	if (chars >= 0) {
		bool plain = true;
		for (size_t i = 0; i < size && plain; i++)
			plain = (unsigned char)data[i] >= 0x20 && data[i] != '"' && data[i] != '\\';
		if (plain) {
			char *q = malloc(size + 2);
			CHECK(q != NULL);
			q[0] = '"';
			memcpy(q + 1, text, size);
			q[size + 1] = '"';
			CHECK(json_is_strict(q, size + 2));
			free(q);
		}
	}
	return 0;
}
