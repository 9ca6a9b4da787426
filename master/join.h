/*
 * join.h: how a worker joins: the registry (an nng rep0 socket) where it
 * says HELLO and is answered WELCOME with the address of its own link.
 * Local workers come by ipc://RUNDIR/registry, workers on other hosts by
 * every --worker-listen address.
 */
#ifndef MASTER_JOIN_H
#define MASTER_JOIN_H

#include <stdbool.h>

struct worker;

/*
 * A worker said HELLO and its link is open (W_JOINING); local: it came by
 * the local ipc registry. Return 0, or -1 to turn it away (its link is
 * discarded, no WELCOME). Registered at start-up.
 */
typedef int (*join_hello_fn)(struct worker *w, bool local);
void join_on_hello(join_hello_fn fn);

/* Listen at the local registry and every --worker-listen address. */
int join_start(void);
void join_stop(void);

/* The digest (hex) of the master's module: a HELLO with another one is
 * refused. Until it is set every HELLO is. */
void join_set_digest(const char *digest);

/* The local registry's address, for the workers this master starts. */
const char *join_local_address(void);

#endif /* MASTER_JOIN_H */
