/*
 * uuid.h: random (version 4) UUIDs, the identity each client connection
 * gets and its worker-side context carries (wspool_client_uuid).
 */
#ifndef MASTER_UUID_H
#define MASTER_UUID_H

/* A new version 4 UUID, RFC 4122, as 36 characters and a NUL. */
void uuid_v4(char out[37]);

#endif /* MASTER_UUID_H */
