/*
 * client.h: the client connection contexts the master announces
 * (CONN_OPEN: uuid, ip, upgrade headers), kept by conn_id for the calls
 * that run on them.
 */
#ifndef WORKER_CLIENT_H
#define WORKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct client;

/* Receiver thread only: open (replacing one with the same id), close, and
 * take a reference for a call. client_get never returns NULL: an unknown
 * id gets an empty context. client_open returns -1 for malformed headers
 * (a protocol error), else 0 (out of memory is logged, not fatal). */
int client_open(const struct proto_msg *m);
void client_close(uint64_t conn_id);
struct client *client_get(uint64_t conn_id);
/* Any thread: drop a reference (NULL is fine). */
void client_unref(struct client *c);
/* At exit, once the receiver has stopped. */
void client_close_all(void);

/* The context, for the handler API. Strings live as long as the
 * reference. */
const char *client_uuid(const struct client *c);
const char *client_ip(const struct client *c);
const char *client_header(const struct client *c, const char *name);
size_t client_header_count(const struct client *c);
int client_header_at(const struct client *c, size_t i, const char **name,
    const char **value);

#endif /* WORKER_CLIENT_H */
