/*
 * secrets.h - the secrets a config names by environment variable
 * (token_env, a dmarket check's secret_key_env, a notifier's token_env
 * and secret_env), kept in the process once they leave the environment.
 *
 * vitalsd takes each secret out of its environment once the checks and
 * notifiers hold it, so that exec plugins, which inherit the
 * environment, never see it. A reload parses the file again and needs
 * the same values: vt__secret_get finds them here. Nothing here calls
 * setenv, so a reload never rewrites the environment while other
 * threads (exec checks, libcurl) read it.
 */
#ifndef VT_DAEMON_SECRETS_H
#define VT_DAEMON_SECRETS_H

/* The value of environment variable name: the one kept by
 * vt__secret_keep if any, else getenv's. NULL when neither has one.
 * The pointer stays valid until the process exits (a kept value) or the
 * environment changes (getenv's). Thread-safe. */
const char *vt__secret_get(const char *name);

/* Keeps the value of name (if set and not kept yet) and removes it from
 * the environment. Thread-safe; out of memory leaves the variable set. */
void vt__secret_keep(const char *name);

#endif
