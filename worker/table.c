/*
 * table.c: a small intrusive hash table keyed by 64-bit ids (calls by
 * call_id, connections by conn_id). Locking is the caller's.
 */
#include "config.h"

#include <stdlib.h>

#include "worker/table.h"

/* Ids are mostly sequential: mix them so they spread over the buckets. */
static size_t
table_hash(uint64_t key, size_t nbuckets)
{
	key ^= key >> 33;
	key *= UINT64_C(0xff51afd7ed558ccd);
	key ^= key >> 33;
	return (size_t)key & (nbuckets - 1);
}

static int
table_grow(struct table *t)
{
	size_t nb = t->t_nbuckets ? t->t_nbuckets * 2 : 64;
	struct table_node **b;

	if ((b = calloc(nb, sizeof(*b))) == NULL)
		return -1;
	for (size_t i = 0; i < t->t_nbuckets; i++) {
		struct table_node *n = t->t_buckets[i], *next;

		for (; n != NULL; n = next) {
			size_t h = table_hash(n->tn_key, nb);

			next = n->tn_next;
			n->tn_next = b[h];
			b[h] = n;
		}
	}
	free(t->t_buckets);
	t->t_buckets = b;
	t->t_nbuckets = nb;
	return 0;
}

int
table_put(struct table *t, struct table_node *n)
{
	size_t h;

	/* Grow at load factor 1; a failed growth is fatal only when empty. */
	if (t->t_count >= t->t_nbuckets && table_grow(t) != 0 &&
	    t->t_nbuckets == 0)
		return -1;
	h = table_hash(n->tn_key, t->t_nbuckets);
	n->tn_next = t->t_buckets[h];
	t->t_buckets[h] = n;
	t->t_count++;
	return 0;
}

struct table_node *
table_get(const struct table *t, uint64_t key)
{
	struct table_node *n;

	if (t->t_nbuckets == 0)
		return NULL;
	for (n = t->t_buckets[table_hash(key, t->t_nbuckets)]; n != NULL;
	    n = n->tn_next)
		if (n->tn_key == key)
			return n;
	return NULL;
}

void
table_del(struct table *t, struct table_node *n)
{
	struct table_node **p;

	if (t->t_nbuckets == 0)
		return;
	for (p = &t->t_buckets[table_hash(n->tn_key, t->t_nbuckets)];
	    *p != NULL; p = &(*p)->tn_next) {
		if (*p == n) {
			*p = n->tn_next;
			n->tn_next = NULL;
			t->t_count--;
			return;
		}
	}
}

void
table_foreach(const struct table *t, void (*fn)(struct table_node *, void *),
    void *arg)
{
	for (size_t i = 0; i < t->t_nbuckets; i++) {
		struct table_node *n = t->t_buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->tn_next;
			fn(n, arg);
		}
	}
}

void
table_fini(struct table *t)
{
	free(t->t_buckets);
	t->t_buckets = NULL;
	t->t_nbuckets = 0;
	t->t_count = 0;
}
