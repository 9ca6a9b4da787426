/*
 * execute.h: from a call's params to its handler, on the call's thread:
 * what the worker answers itself (a refused or unknown call), the params'
 * JSON text read into a tree, the route's schema, its middlewares, then
 * the handler.
 */
#ifndef WORKER_EXECUTE_H
#define WORKER_EXECUTE_H

struct wspool_call;

/* Run c's handler, or fail c's reply without it (400 for params that do
 * not parse or fit the schema, 404, the refusal code). Returns what the
 * handler or a middleware returned, or WSPOOL_ERROR. */
int execute_call(struct wspool_call *c);

#endif /* WORKER_EXECUTE_H */
