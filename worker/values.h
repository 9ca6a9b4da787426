/*
 * values.h: nothing but the public number helpers (wspool_number,
 * wspool_int64, wspool_uint64), declared in wspool.h; values.c is a leaf
 * that the schema check shares with handlers, so a param that passed
 * WSPOOL_T_INTEGER or WSPOOL_T_UINT reads the same way in both.
 */
#ifndef WORKER_VALUES_H
#define WORKER_VALUES_H

#include <wspool.h>

#endif /* WORKER_VALUES_H */
