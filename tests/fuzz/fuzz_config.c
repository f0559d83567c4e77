/*
 * tests/fuzz/fuzz_config.c: libFuzzer target for the configuration layer.
 *
 * The input is parsed as a .properties file (base/props.c); the entries are then applied to a
 * typed table with one key of each type (base/config.c), the effective configuration is dumped,
 * and each input line is also tried as a command-line override.  Any crash, over-read, leak or
 * undefined behaviour is a finding; errors are the expected outcome for most inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/props.h"

static const char *const kinds[] = {"a", "b", "c", NULL};

static const struct rt_cfg_def defs[] = {
	{"i", RT_CFG_INT, "1", .min = 1, .max = 1000, .doc = "int"},
	{"i2", RT_CFG_INT, "0", .doc = "unbounded int"},
	{"l", RT_CFG_LONG, "-1", .min = -1, .max = INT64_MAX, .doc = "long"},
	{"s", RT_CFG_SIZE, "1m", .min = 1, .max = 1ll << 40, .doc = "size"},
	{"d", RT_CFG_DOUBLE, "0.5", .dmin = 0, .dmax = 1, .doc = "double"},
	{"b", RT_CFG_BOOL, "false", .doc = "bool"},
	{"e", RT_CFG_ENUM, "a", .allowed = kinds, .doc = "enum"},
	{"li", RT_CFG_LIST, "x,y", .doc = "list"},
	{"le", RT_CFG_LIST, "a", .allowed = kinds, .min = 1, .max = 3, .flags = RT_CFG_NONEMPTY, .doc = "enum list"},
	{"st", RT_CFG_STRING, NULL, .doc = "string"},
	{"sn", RT_CFG_STRING, "x", .flags = RT_CFG_NONEMPTY | RT_CFG_SECRET, .doc = "secret"},
	{"r", RT_CFG_STRING, NULL, .flags = RT_CFG_REQUIRED, .doc = "required"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null_out;
	if (!null_out) {
		rt_log_set_level(RT_LOG_ERROR);
		null_out = fopen("/dev/null", "w");
	}
	char err[512];
	struct rt_props p;
	rt_props_init(&p);
	int rc = rt_props_parse(&p, "fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (rc == 0) {
		for (size_t i = 0; i < p.n; i++)
			(void)rt_props_get(&p, p.v[i].key);
	}
	struct rt_cfg *c = rt_cfg_create(defs, sizeof(defs) / sizeof(defs[0]), err, sizeof(err));
	if (!c)
		abort(); /* the table is valid: creation must work */
	if (rc == 0)
		(void)rt_cfg_apply_props(c, &p, err, sizeof(err));
	rt_props_fini(&p);

	/* Each line as a command-line override "key=value". */
	char *text = malloc(size + 1);
	if (text) {
		memcpy(text, data, size);
		text[size] = 0;
		char *save = NULL;
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			const char *kv = line;
			(void)rt_cfg_apply_args(c, &kv, 1, err, sizeof(err));
		}
		free(text);
	}
	(void)rt_cfg_check(c, err, sizeof(err));
	if (null_out)
		rt_cfg_dump(c, null_out);
	rt_cfg_destroy(c);
	return 0;
}
