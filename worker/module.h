/*
 * module.h: the loaded route module, one per process: load and check it,
 * look its routes and cleanups up.
 */
#ifndef WORKER_MODULE_H
#define WORKER_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include <wspool.h>

/* Load and check path, then run its init. Returns 0, or -1 with err set. */
int module_load(const char *path, char *err, size_t errlen);
/* The same without running init (nor fini at module_unload): for reading
 * the route table only (--emit-routes). */
int module_open(const char *path, char *err, size_t errlen);
/* The module's definition; NULL before module_load. */
const struct wspool_module *module_def(void);
/* By name (counted, not NUL-terminated); NULL when unknown. */
const struct wspool_route *module_route(const char *name, size_t len);
const struct wspool_cleanup *module_cleanup(const char *name, size_t len);
/* True when e points at an entry of the module's cleanup table (not a
 * copy of one): how wspool_defer_begin names a cleanup. */
bool module_cleanup_known(const struct wspool_cleanup *e);
/* The module's digest, hex (64 digits and a NUL): ABI version, routes
 * (name, pattern, timeout, idempotent) and cleanup names. 0, or -1. */
#define MODULE_DIGEST_HEX 65
int module_digest(char out[MODULE_DIGEST_HEX]);
/* Run fini and close the module. */
void module_unload(void);

#endif /* WORKER_MODULE_H */
