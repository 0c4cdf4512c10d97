/*
 * The "policy" section of the configuration file: the config module's second
 * file (config.c reads the rest). Only config.c includes this header; no
 * cJSON node outlives the call.
 */
#ifndef SOCKBROKER_CONFIG_POLICY_H
#define SOCKBROKER_CONFIG_POLICY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "policy.h"

/*
 * Read the "policy" object into a new struct policy (*out, the caller's to
 * policy_fini() and free()). Returns 0, -EINVAL with "policy.rules[2].ports[0]:
 * why" in `err`, or -ENOMEM; nothing is allocated on error.
 */
int config_parse_policy(const cJSON *section, struct policy **out, char *err, size_t errlen);

/*
 * Write `"policy": {...},` as a member of the top-level object config_print()
 * writes, one tab in; NULL writes the built-in default's rules, so an
 * operator sees the effective rules in the form a file gives them.
 */
void config_print_policy(const struct policy *policy, FILE *out);

#endif
