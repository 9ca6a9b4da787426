/*
 * emit.h: --emit-routes: a module's route table written out for clients,
 * as TypeScript route definitions in the form alien-rpc's generated
 * clients use, or as a JSON manifest.
 */
#ifndef WORKER_EMIT_H
#define WORKER_EMIT_H

#include <stddef.h>
#include <stdio.h>

#include <wspool.h>

/*
 * Write def's routes to f: TypeScript (emit_ts) or JSON (emit_json).
 * def must have passed module_open's checks. Returns 0, or -1 with err
 * set when a name cannot be written (not UTF-8); f may then hold part of
 * the text. Write errors are f's (ferror).
 */
int emit_ts(FILE *f, const struct wspool_module *def, char *err,
    size_t errlen);
int emit_json(FILE *f, const struct wspool_module *def, char *err,
    size_t errlen);

/*
 * wspool-worker --emit-routes FORMAT MODULE.so: open the module (its init
 * does not run), write the routes in FORMAT ("ts" or "json") to stdout,
 * all or nothing. Returns the exit status: 0, or 1 (logged).
 */
int emit_main(const char *format, const char *module_path);

#endif /* WORKER_EMIT_H */
