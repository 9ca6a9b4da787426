/*
 * answer.h: the JSON text of what the master answers clients itself:
 * errors, with a reason as their data (502, 503, 504) or a worker's data
 * text. Pure: it writes into a buffer, rpc.c sends it.
 */
#ifndef MASTER_ANSWER_H
#define MASTER_ANSWER_H

#include <stddef.h>

#include "json/write.h"

struct wspool_reason;

/*
 * Append {"id":ID,"error":{"code":CODE,"message":MSG[,"data":DATA]}} to b.
 * id: canonical JSON text (NULL: null). msg is escaped (invalid UTF-8
 * replaced). data: JSON text written as it is (NULL or empty: none), else the
 * reason's JSON when reason is not NULL. Returns 0, or -1 out of memory
 * (b then holds a partial text: reset it).
 */
int answer_error(struct json_buf *b, const char *id, size_t id_len, int code,
    const char *msg, size_t msg_len, const char *data, size_t data_len,
    const struct wspool_reason *reason);

/* Append the reason's JSON: null, or {"kind": ...} as in the protocol. */
int answer_reason(struct json_buf *b, const struct wspool_reason *reason);

#endif /* MASTER_ANSWER_H */
