/*
 * config-check: what --check-config looks at beyond the configuration's own form
 * (config_validate()): the files the daemon will open, and rules of the policy that
 * can never decide anything. Run on the main thread before anything listens.
 */
#ifndef SOCKBROKER_CONFIG_CHECK_H
#define SOCKBROKER_CONFIG_CHECK_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "policy.h"

/* The TLS files (when set) load as a tls+tcp:// listener loads them, and the audit file can
 * be opened for appending (or created: its directory is writable; a directory that does not
 * exist yet is a warning line on `out`). Returns 0, or -errno with `err` naming the key, the
 * file and what is wrong. */
int config_check_files(const struct config *cfg, FILE *out, char *err, size_t errlen);

/* Write a warning line to `out` for each rule that can never decide a request (an earlier
 * rule matches every request it matches) and each allow rule that limits nothing (a later
 * allow rule, with only allow rules in between, matches every request it matches: without
 * it no decision would change). Conservative: a rule it cannot compare is left alone.
 * Returns how many lines were written. */
size_t config_check_policy(const struct policy *policy, FILE *out);

#endif
