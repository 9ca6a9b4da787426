/*
 * table.h: a small intrusive hash table keyed by 64-bit ids (calls by
 * call_id, client contexts by conn_id). A leaf; locking is the caller's.
 */
#ifndef WORKER_TABLE_H
#define WORKER_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct table_node {
	uint64_t tn_key;
	struct table_node *tn_next;
};

struct table {
	struct table_node **t_buckets;
	size_t t_nbuckets;      /* a power of two, or 0 before the first put */
	size_t t_count;
};

/* Returns 0, or -1 when out of memory. Keys are not checked for unicity. */
int table_put(struct table *t, struct table_node *n);
struct table_node *table_get(const struct table *t, uint64_t key);
/* Unlink n (which must be in t). */
void table_del(struct table *t, struct table_node *n);
/* Call fn on every node; fn may free its node (the walk has already read
 * its successor) but must not change the table. */
void table_foreach(const struct table *t,
    void (*fn)(struct table_node *, void *), void *arg);
/* Free the buckets; the nodes are the caller's. */
void table_fini(struct table *t);

#endif /* WORKER_TABLE_H */
