/*
 * fake_link.c: master/link.c's and link_send.c's functions as the layers
 * above call them, recording instead of sending. See fake_link.h.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>
#include <wspool.h>

#include "proto/proto.h"
#include "tests/unit/fake_link.h"

struct fake_link fake_link;

/* A packed reason's kind, decoded as a worker would. */
static int
fake_reason_kind(const void *packed, size_t len)
{
	struct proto_bytes b = { packed, len };
	struct wspool_reason r;
	msgpack_zone zone;
	msgpack_object obj;
	char buf[256];

	msgpack_zone_init(&zone, 256);
	ck_assert_int_eq(proto_unpack_value(&b, &zone, &obj), 0);
	ck_assert_int_eq(proto_unpack_reason(&obj, &r, buf, sizeof(buf)), 0);
	msgpack_zone_destroy(&zone);
	return (int)r.kind;
}

void
fake_link_reset(void)
{
	memset(&fake_link, 0, sizeof(fake_link));
}

struct worker *
fake_worker(uint64_t gen, enum worker_state state, unsigned generation)
{
	struct worker *w;

	ck_assert_uint_lt(fake_link.nlive, FAKE_MAX_WORKERS);
	for (w = fake_link.w; w->w_gen != 0; w++)
		ck_assert_ptr_ne(w, &fake_link.w[FAKE_MAX_WORKERS - 1]);
	w->w_gen = gen;
	w->w_state = state;
	w->w_generation = generation;
	w->w_pid = (pid_t)(1000 + gen);
	snprintf(w->w_host, sizeof(w->w_host), "fake");
	fake_link.live[fake_link.nlive++] = w;
	return w;
}

int
fake_link_deliver(struct worker *w, const struct proto_msg *m)
{
	link_handler_fn fn = fake_link.handlers[m->type];

	return fn != NULL ? fn(w, m) : -1;
}

void
fake_link_gone(struct worker *w, const struct wspool_reason *why)
{
	size_t i;

	for (i = 0; i < fake_link.nlive && fake_link.live[i] != w; i++)
		;
	ck_assert_msg(i < fake_link.nlive, "worker %llu is not live",
	    (unsigned long long)w->w_gen);
	memmove(&fake_link.live[i], &fake_link.live[i + 1],
	    (fake_link.nlive - i - 1) * sizeof(fake_link.live[0]));
	fake_link.nlive--;
	w->w_state = W_GONE;
	ck_assert_ptr_nonnull(fake_link.on_gone);
	fake_link.on_gone(w, why);
}

const struct fake_sent *
fake_sent(size_t i)
{
	ck_assert_msg(i < fake_link.nsent, "send %zu expected, %zu sent", i,
	    fake_link.nsent);
	return &fake_link.sent[i];
}

/* Record a send, or refuse it like a closed link. */
static struct fake_sent *
fake_send(struct worker *w, enum fake_what what)
{
	struct fake_sent *fs;

	if (fake_link.fail_sends || w->w_state == W_GONE)
		return NULL;
	ck_assert_uint_lt(fake_link.nsent, FAKE_MAX_SENT);
	fs = &fake_link.sent[fake_link.nsent++];
	memset(fs, 0, sizeof(*fs));
	fs->fs_what = what;
	fs->fs_worker = w;
	return fs;
}

/* ---- link.h ------------------------------------------------------------------- */

void
link_handle(enum proto_type type, link_handler_fn fn)
{
	fake_link.handlers[type] = fn;
}

void
link_on_down(link_down_fn fn)
{
	fake_link.on_down = fn;
}

void
link_on_gone(link_gone_fn fn)
{
	fake_link.on_gone = fn;
}

void
link_on_silent(link_silent_fn fn)
{
	fake_link.on_silent = fn;
}

void
link_refuse(struct worker *w, const char *what, uint64_t id)
{
	(void)w;
	(void)what;
	(void)id;
	fake_link.refused++;
}

struct worker *
link_next(struct worker *prev)
{
	size_t i = 0;

	if (prev != NULL) {
		while (i < fake_link.nlive && fake_link.live[i] != prev)
			i++;
		i++;
	}
	return i < fake_link.nlive ? fake_link.live[i] : NULL;
}

/* ---- link_send.h -------------------------------------------------------------- */

bool
link_send_congested(const struct worker *w)
{
	return w == fake_link.congested;
}

int
link_send_cleanup(struct worker *w, uint64_t cleanup_id, uint64_t call_id,
    uint64_t seq, unsigned attempt, const char *route, const char *name,
    const void *arg, size_t arg_len, const void *reason, size_t reason_len)
{
	struct fake_sent *fs = fake_send(w, FAKE_CLEANUP);

	if (fs == NULL)
		return -1;
	fs->fs_id = cleanup_id;
	fs->fs_call_id = call_id;
	fs->fs_seq = seq;
	fs->fs_attempt = attempt;
	snprintf(fs->fs_route, sizeof(fs->fs_route), "%s", route);
	snprintf(fs->fs_name, sizeof(fs->fs_name), "%s", name);
	ck_assert_ptr_nonnull(reason);
	ck_assert_uint_gt(reason_len, 0);
	fs->fs_reason_kind = fake_reason_kind(reason, reason_len);
	(void)arg;
	(void)arg_len;
	return 0;
}

int
link_send_ack(struct worker *w, uint64_t call_id, uint64_t seq)
{
	struct fake_sent *fs = fake_send(w, FAKE_ACK);

	if (fs == NULL)
		return -1;
	fs->fs_id = call_id;
	fs->fs_seq = seq;
	return 0;
}
