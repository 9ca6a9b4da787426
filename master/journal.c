/*
 * journal.c: deferred cleanups not yet reported done, by call and by
 * worker, and which of them a dead worker left to hand over. A store: it
 * sends nothing. The design notes are in journal.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>

#include <msgpack.h>
#include <uthash.h>

#include <wspool.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/journal.h"
#include "master/jrecord.h"
#include "master/jstore.h"
#include "master/jstore_lmdb.h"
#include "master/jstore_redis.h"
#include "master/metrics.h"
#include "proto/proto.h"

enum jentry_state {
	JE_PENDING = 0,  /* with the worker that ran its call */
	JE_QUEUED,       /* orphaned, waiting for a worker */
	JE_HANDOVER,     /* sent to a worker with PROTO_CLEANUP */
};

struct jkey {
	uint64_t call_id;
	uint64_t seq;
};

struct jcall {
	uint64_t jc_call_id;
	char *jc_route;
	bool jc_terminal;           /* the worker sent the call's terminal reply */
	char *jc_reason;            /* packed end reason, NULL until known */
	size_t jc_reason_len;
	TAILQ_HEAD(, jentry) jc_entries; /* registration order */
	UT_hash_handle hh;
};

struct jentry {
	uint64_t je_id;
	struct jkey je_key;
	struct jcall *je_call;
	char *je_name;
	char *je_arg;
	size_t je_arg_len;
	uint64_t je_worker;         /* w_gen of the worker running it; 0: none */
	enum jentry_state je_state;
	unsigned je_attempts;
	bool je_maybe_ran;          /* an earlier run may have had its effect */
	UT_hash_handle hh;          /* by je_key */
	UT_hash_handle hh_id;       /* by je_id */
	TAILQ_ENTRY(jentry) je_clink;
	TAILQ_ENTRY(jentry) je_qlink; /* queue or hand-over list */
};

TAILQ_HEAD(jentry_list, jentry);

static struct {
	struct jcall *calls;
	struct jentry *by_key;
	struct jentry *by_id;
	struct jentry_list queue;     /* orphans, oldest first */
	struct jentry_list handover;  /* running elsewhere */
	uint64_t next_id;
	size_t count;
	uint32_t incarnation;         /* in the high bits of call ids */
	uint64_t next_call;           /* the low bits of the next call id */
	bool restoring;               /* loading the store: do not write it */
	int64_t pid;                  /* this master, in its records */
	char host[256];
	const struct jstore_ops *store; /* the durable backend, NULL: none */
	msgpack_sbuffer sb;           /* a record being encoded */
} journal;

static uint64_t
journal_pending_gauge_cb(void)
{
	return journal.count;
}

static uint64_t
journal_available_gauge_cb(void)
{
	return journal.store == NULL || journal.store->js_available();
}

void
journal_init(void)
{
	TAILQ_INIT(&journal.queue);
	TAILQ_INIT(&journal.handover);
	journal.next_id = 1;
	metrics_gauge("wspool_cleanups_pending",
	    "Deferred cleanups journaled and not yet done.", journal_pending_gauge_cb);
	metrics_gauge("wspool_journal_available",
	    "1 while the durable journal can take registrations (0: they are "
	    "refused).", journal_available_gauge_cb);
}

size_t
journal_pending(void)
{
	return journal.count;
}

static struct jcall *
journal_call(uint64_t call_id)
{
	struct jcall *jc;

	HASH_FIND(hh, journal.calls, &call_id, sizeof(call_id), jc);
	return jc;
}

bool
journal_has_call(uint64_t call_id)
{
	return journal_call(call_id) != NULL;
}

bool
journal_runs_on(uint64_t call_id, uint64_t wid)
{
	struct jcall *jc = journal_call(call_id);
	struct jentry *e;

	if (jc == NULL)
		return false;
	TAILQ_FOREACH(e, &jc->jc_entries, je_clink)
		if (e->je_worker == wid)
			return true;
	return false;
}

static void
journal_entry_free(struct jentry *e)
{
	struct jcall *jc = e->je_call;

	if (e->je_state != JE_PENDING)
		TAILQ_REMOVE(e->je_state == JE_QUEUED ? &journal.queue :
		    &journal.handover, e, je_qlink);
	TAILQ_REMOVE(&jc->jc_entries, e, je_clink);
	HASH_DEL(journal.by_key, e);
	HASH_DELETE(hh_id, journal.by_id, e);
	free(e->je_name);
	free(e->je_arg);
	free(e);
	journal.count--;
	if (TAILQ_EMPTY(&jc->jc_entries)) {
		HASH_DEL(journal.calls, jc);
		free(jc->jc_route);
		free(jc->jc_reason);
		free(jc);
	}
}

/* The entry is done with for good (ran, dropped, withdrawn): off the
 * disk too, with the turn's commit. */
static void
journal_entry_finish(struct jentry *e)
{
	if (journal.store != NULL)
		journal.store->js_del(e->je_key.call_id, e->je_key.seq);
	journal_entry_free(e);
}

/* Into the store's batch: this master's record of a registration. */
static int
journal_put(const struct jentry *e, const void *arg, size_t arg_len)
{
	struct jrecord r = { .jr_route = e->je_call->jc_route,
		.jr_name = e->je_name, .jr_host = journal.host,
		.jr_arg = arg, .jr_arg_len = arg_len, .jr_pid = journal.pid };

	if (!journal.store->js_available()) {
		/* Not durable now: refused, never acknowledged as if. */
		metrics_counters.journal_refused_total++;
		return -1;
	}
	if (jrecord_encode(&journal.sb, &r) != 0 ||
	    journal.store->js_put(e->je_key.call_id, e->je_key.seq,
	    journal.sb.data, journal.sb.size) != 0) {
		metrics_counters.journal_refused_total++;
		return -1;
	}
	return 0;
}

int
journal_defer(uint64_t wid, uint64_t call_id, uint64_t seq,
    const char *route, const char *name, size_t name_len,
    const void *arg, size_t arg_len)
{
	struct jcall *jc;
	struct jentry *e;
	bool new_call = false;

	if ((jc = journal_call(call_id)) == NULL) {
		if ((jc = calloc(1, sizeof(*jc))) == NULL)
			return -1;
		if ((jc->jc_route = strdup(route)) == NULL) {
			free(jc);
			return -1;
		}
		jc->jc_call_id = call_id;
		TAILQ_INIT(&jc->jc_entries);
		HASH_ADD(hh, journal.calls, jc_call_id, sizeof(jc->jc_call_id), jc);
		new_call = true;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->je_name = strndup(name, name_len)) == NULL ||
	    (e->je_arg = malloc(arg_len ? arg_len : 1)) == NULL)
		goto fail;
	if (arg_len > 0)
		memcpy(e->je_arg, arg, arg_len);
	e->je_arg_len = arg_len;
	e->je_id = journal.next_id++;
	e->je_key.call_id = call_id;
	e->je_key.seq = seq;
	e->je_call = jc;
	e->je_worker = wid;
	e->je_state = JE_PENDING;
	TAILQ_INSERT_TAIL(&jc->jc_entries, e, je_clink);
	HASH_ADD(hh, journal.by_key, je_key, sizeof(e->je_key), e);
	HASH_ADD(hh_id, journal.by_id, je_id, sizeof(e->je_id), e);
	journal.count++;
	if (!journal.restoring && journal.store != NULL &&
	    journal_put(e, arg, arg_len) != 0) {
		journal_entry_free(e);
		return -1;
	}
	return 0;
fail:
	if (e != NULL) {
		free(e->je_name);
		free(e);
	}
	if (new_call) {
		HASH_DEL(journal.calls, jc);
		free(jc->jc_route);
		free(jc);
	}
	return -1;
}

enum journal_done
journal_done(uint64_t wid, uint64_t id, uint64_t seq, bool ok,
    bool withdrawn, const char *msg, size_t msg_len)
{
	struct jentry *e;
	struct jkey key = { id, seq };

	if (seq > 0)
		HASH_FIND(hh, journal.by_key, &key, sizeof(key), e);
	else
		HASH_FIND(hh_id, journal.by_id, &id, sizeof(id), e);
	if (e == NULL || e->je_worker != wid ||
	    e->je_state != (seq > 0 ? JE_PENDING : JE_HANDOVER))
		return JOURNAL_DONE_UNKNOWN; /* already done elsewhere: at least once */
	if (withdrawn) {
		log_info("cleanup %s of call %llu (route %s) withdrawn by its "
		    "worker: %.*s", e->je_name, (unsigned long long)
		    e->je_key.call_id, e->je_call->jc_route, (int)msg_len, msg);
		journal_entry_finish(e);
		return JOURNAL_DONE_OWN;
	}
	metrics_counters.cleanup_runs_total++;
	if (e->je_maybe_ran)
		metrics_counters.cleanup_reruns_total++;
	if (!ok)
		log_warn("cleanup %s of call %llu (route %s) failed: %.*s",
		    e->je_name, (unsigned long long)e->je_key.call_id,
		    e->je_call->jc_route, (int)msg_len, msg);
	journal_entry_finish(e);
	return seq > 0 ? JOURNAL_DONE_OWN : JOURNAL_DONE_HANDOVER;
}

static int
journal_pack_reason(const struct wspool_reason *r, char **out, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_pack_reason(&pk, r) != 0) {
		msgpack_sbuffer_destroy(&sb);
		return -1;
	}
	*out = sb.data;   /* the sbuffer's malloc'd data is ours now */
	*len = sb.size;
	return 0;
}

void
journal_call_ended(uint64_t call_id, const struct wspool_reason *reason,
    bool terminal)
{
	struct jcall *jc = journal_call(call_id);

	if (jc == NULL)
		return;
	if (terminal)
		jc->jc_terminal = true;
	if (jc->jc_reason == NULL)
		journal_pack_reason(reason, &jc->jc_reason, &jc->jc_reason_len);
}

/* Count a death against e; false when e has had enough and was dropped. */
static bool
journal_attempt(struct jentry *e, const struct wspool_reason *crash)
{
	if (++e->je_attempts < JOURNAL_MAX_ATTEMPTS)
		return true;
	log_error("cleanup %s of call %llu (route %s) crashed its worker %u "
	    "times (last: %s): dropped", e->je_name,
	    (unsigned long long)e->je_key.call_id, e->je_call->jc_route,
	    e->je_attempts, crash->signal ? crash->signal : "exit");
	metrics_counters.cleanups_dropped_total++;
	journal_entry_finish(e);
	return false;
}

size_t
journal_worker_gone(uint64_t wid, const struct wspool_reason *crash,
    bool counts)
{
	struct jentry *e, *next;
	struct jcall *jc, *jtmp;
	struct jentry_list orphans;
	size_t n = 0;

	TAILQ_INIT(&orphans);
	/* Hand-overs it was running: exactly one each, so exact blame. */
	for (e = TAILQ_FIRST(&journal.handover); e != NULL; e = next) {
		next = TAILQ_NEXT(e, je_qlink);
		if (e->je_worker != wid)
			continue;
		TAILQ_REMOVE(&journal.handover, e, je_qlink);
		e->je_state = JE_PENDING;
		e->je_maybe_ran = true;
		if (counts && !journal_attempt(e, crash))
			continue;
		e->je_state = JE_QUEUED;
		e->je_worker = 0;
		TAILQ_INSERT_TAIL(&orphans, e, je_qlink);
	}
	/* Its calls' own cleanups, in registration order. */
	HASH_ITER(hh, journal.calls, jc, jtmp) {
		bool first = true, dropped_call = false;

		for (e = TAILQ_FIRST(&jc->jc_entries); e != NULL; e = next) {
			next = TAILQ_NEXT(e, je_clink);
			if (e->je_worker != wid || e->je_state != JE_PENDING)
				continue;
			if (jc->jc_reason == NULL)
				journal_pack_reason(crash, &jc->jc_reason,
				    &jc->jc_reason_len);
			/* Cleanups run in order once the call ended: the first
			 * pending one is the one that was running. */
			if (first && jc->jc_terminal)
				e->je_maybe_ran = true;
			if (first && jc->jc_terminal && counts) {
				first = false;
				if (TAILQ_NEXT(e, je_clink) == NULL &&
				    TAILQ_FIRST(&jc->jc_entries) == e)
					dropped_call = true; /* jc freed with e */
				if (!journal_attempt(e, crash)) {
					if (dropped_call)
						break;
					continue;
				}
			}
			first = false;
			e->je_state = JE_QUEUED;
			e->je_worker = 0;
			TAILQ_INSERT_TAIL(&orphans, e, je_qlink);
		}
	}
	TAILQ_FOREACH(e, &orphans, je_qlink)
		n++;
	metrics_counters.cleanups_retried_total += n;
	TAILQ_CONCAT(&journal.queue, &orphans, je_qlink);
	return n;
}

bool
journal_next_orphan(struct journal_orphan *o)
{
	struct jentry *e = TAILQ_FIRST(&journal.queue);
	struct jcall *jc;

	if (e == NULL)
		return false;
	jc = e->je_call;
	o->jo_id = e->je_id;
	o->jo_call_id = e->je_key.call_id;
	o->jo_seq = e->je_key.seq;
	o->jo_attempt = e->je_attempts + 1;
	o->jo_route = jc->jc_route;
	o->jo_name = e->je_name;
	o->jo_arg = e->je_arg;
	o->jo_arg_len = e->je_arg_len;
	o->jo_reason = jc->jc_reason;
	o->jo_reason_len = jc->jc_reason_len;
	return true;
}

bool
journal_handing_to(uint64_t wid)
{
	struct jentry *h;

	TAILQ_FOREACH(h, &journal.handover, je_qlink)
		if (h->je_worker == wid)
			return true;
	return false;
}

void
journal_handed_over(uint64_t id, uint64_t wid)
{
	struct jentry *e;

	HASH_FIND(hh_id, journal.by_id, &id, sizeof(id), e);
	if (e == NULL || e->je_state != JE_QUEUED)
		return;
	TAILQ_REMOVE(&journal.queue, e, je_qlink);
	e->je_state = JE_HANDOVER;
	e->je_worker = wid;
	TAILQ_INSERT_TAIL(&journal.handover, e, je_qlink);
}

void
journal_fini(void)
{
	struct jentry *e, *tmp;

	HASH_ITER(hh, journal.by_key, e, tmp) {
		if (journal.count > 0)
			log_warn("cleanup %s of call %llu (route %s) did not run%s",
			    e->je_name, (unsigned long long)e->je_key.call_id,
			    e->je_call->jc_route, journal.store != NULL ?
			    ": it stays in the journal for the next start" : "");
		journal_entry_free(e);
	}
	journal_close();
}

/* ---- durability (a jstore.h backend below) -------------------------------- */

/* Call ids: the incarnation in the high bits, a counter in the low ones. */
#define JOURNAL_CALL_BITS 40
#define JOURNAL_INCARNATION_MASK ((UINT32_C(1) << (64 - JOURNAL_CALL_BITS)) - 1)

struct journal_restore {
	size_t jr_count;
	msgpack_zone jr_zone;
};

/* A record of a dead master: an orphan with reason lost (that master).
 * One that does not decode is logged and deleted (returns 1). */
static int
journal_restore_cb(void *ctx, uint64_t call_id, uint64_t seq,
    const void *value, size_t len)
{
	struct journal_restore *jr = ctx;
	struct wspool_reason lost = { .kind = WSPOOL_REASON_LOST, .status = -1 };
	struct jkey key = { call_id, seq };
	struct jrecord r;
	struct jcall *jc;
	struct jentry *e;

	msgpack_zone_clear(&jr->jr_zone);
	HASH_FIND(hh, journal.by_key, &key, sizeof(key), e);
	if (e != NULL || seq == 0 || seq >= PROTO_DEFER_NACK ||
	    jrecord_decode(value, len, &jr->jr_zone, &r) != 0) {
		log_error("journal: the record of call %llu seq %llu is not one "
		    "(%zu bytes): deleted", (unsigned long long)call_id,
		    (unsigned long long)seq, len);
		return 1;
	}
	lost.worker_pid = r.jr_pid;
	lost.worker_host = r.jr_host;
	/* In the store already: an in-memory entry, pending on no worker. */
	if (journal_defer(0, call_id, seq, r.jr_route, r.jr_name,
	    strlen(r.jr_name), r.jr_arg, r.jr_arg_len) != 0)
		return -1;
	jc = journal_call(call_id);
	e = TAILQ_LAST(&jc->jc_entries, jentry_list);
	if (jc->jc_reason == NULL &&
	    journal_pack_reason(&lost, &jc->jc_reason, &jc->jc_reason_len) != 0)
		return -1;
	jc->jc_terminal = true;
	e->je_maybe_ran = true;
	e->je_state = JE_QUEUED;
	TAILQ_INSERT_TAIL(&journal.queue, e, je_qlink);
	jr->jr_count++;
	return 0;
}

/* The backend that serves where: a redis:// URL, or an LMDB file. */
static const struct jstore_ops *
journal_backend(const char *where)
{
	if (strncmp(where, "redis://", 8) == 0)
		return &jstore_redis_ops;
	return &jstore_lmdb_ops;
}

static void
journal_open_commit_cb(void *arg, int status)
{
	*(int *)arg = status;
}

int
journal_open(const char *where, const char *node, int64_t pid,
    const char *host, jstore_fenced_fn fenced)
{
	struct journal_restore jr = { 0 };
	const struct jstore_ops *store;
	const char *at;
	char label[256];
	uint32_t inc;
	int status = -1;

	journal.pid = pid;
	snprintf(journal.host, sizeof(journal.host), "%s", host);
	journal.next_call = 1;
	if (where == NULL) {
		/* No store, no memory of earlier runs: a random incarnation
		 * keeps keys apart from theirs, most likely (unsafe anyway). */
		if (getrandom(&inc, sizeof(inc), 0) != (ssize_t)sizeof(inc))
			inc = (uint32_t)pid;
		journal.incarnation = inc & JOURNAL_INCARNATION_MASK;
		log_warn("--journal none: pending cleanups live in memory only; "
		    "a crash of the master loses them");
		return 0;
	}
	/* For the log: a URL's password stays out of it. */
	if ((at = strchr(where, '@')) != NULL && strncmp(where, "redis://", 8) == 0)
		snprintf(label, sizeof(label), "redis://***%s", at);
	else
		snprintf(label, sizeof(label), "%s", where);
	store = journal_backend(where);
	if (store->js_open(where, node, fenced, &inc) != 0)
		return -1;
	msgpack_sbuffer_init(&journal.sb);
	journal.store = store;
	journal.incarnation = inc & JOURNAL_INCARNATION_MASK;
	if (!msgpack_zone_init(&jr.jr_zone, 1024))
		goto fail;
	/* The records are in the store already: not written again. */
	journal.restoring = true;
	status = store->js_scan(journal_restore_cb, &jr);
	journal.restoring = false;
	msgpack_zone_destroy(&jr.jr_zone);
	if (status != 0)
		goto fail;
	/* The deletions of bad records, if any: committed now. */
	if (store->js_dirty())
		store->js_commit(journal_open_commit_cb, &status);
	if (status != 0)
		goto fail;
	if (jr.jr_count > 0)
		log_warn("journal %s: %zu cleanups of a master that died: "
		    "running them (reason lost)", label, jr.jr_count);
	log_info("journal %s (%s): node %s, incarnation %u", label,
	    store->js_name, node, inc);
	return 0;
fail:
	journal_fini();
	return -1;
}

uint64_t
journal_next_call_id(void)
{
	uint32_t inc;

	if (journal.next_call >> JOURNAL_CALL_BITS) {
		/* 2^40 calls in one incarnation: take a new one. */
		if (journal.store != NULL &&
		    journal.store->js_incarnation(&inc) == 0)
			journal.incarnation = inc & JOURNAL_INCARNATION_MASK;
		else
			journal.incarnation = (journal.incarnation + 1) &
			    JOURNAL_INCARNATION_MASK;
		journal.next_call = 1;
	}
	return (uint64_t)journal.incarnation << JOURNAL_CALL_BITS |
	    journal.next_call++;
}

void
journal_forget(uint64_t call_id, uint64_t seq)
{
	struct jentry *e;
	struct jkey key = { call_id, seq };

	HASH_FIND(hh, journal.by_key, &key, sizeof(key), e);
	/* One whose worker died meanwhile is on its way to the runner: it
	 * runs (its worker cannot have run it: it was never acknowledged). */
	if (e != NULL && e->je_state == JE_PENDING)
		journal_entry_free(e);
}

bool
journal_dirty(void)
{
	return journal.store != NULL && journal.store->js_dirty();
}

bool
journal_available(void)
{
	return journal.store == NULL || journal.store->js_available();
}

size_t
journal_inflight(void)
{
	return journal.store != NULL ? journal.store->js_inflight() : 0;
}

/* A commit in flight: whom to tell, and since when. */
struct journal_commit {
	jstore_done_fn jc_fn;
	void *jc_arg;
	uint64_t jc_start_us;
};

static void
journal_committed_cb(void *arg, int status)
{
	struct journal_commit *c = arg;

	metrics_counters.journal_commit_wait_us_total +=
	    clock_now_us() - c->jc_start_us;
	if (status != 0)
		metrics_counters.journal_failures_total++;
	c->jc_fn(c->jc_arg, status);
	free(c);
}

void
journal_commit(jstore_done_fn fn, void *arg)
{
	struct journal_commit *c;
	uint64_t t0;

	if (!journal_dirty() || (c = malloc(sizeof(*c))) == NULL) {
		/* Nothing to commit (or no memory to follow it: then the
		 * turn's changes wait for the next commit, and this one's
		 * registrations are refused). */
		fn(arg, journal_dirty() ? -1 : 0);
		return;
	}
	c->jc_fn = fn;
	c->jc_arg = arg;
	t0 = c->jc_start_us = clock_now_us();
	metrics_counters.journal_commits_total++;
	journal.store->js_commit(journal_committed_cb, c);
	/* The loop's own time: the whole commit for LMDB, sending it for
	 * Redis (its confirmation is journal_commit_wait_us_total). */
	metrics_counters.journal_commit_us_total += clock_now_us() - t0;
}

void
journal_close(void)
{
	if (journal.store == NULL)
		return;
	journal.store->js_close();
	journal.store = NULL;
	msgpack_sbuffer_destroy(&journal.sb);
}
