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
#include "master/jstore.h"
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
} journal;

static uint64_t
journal_pending_gauge_cb(void)
{
	return journal.count;
}

void
journal_init(void)
{
	TAILQ_INIT(&journal.queue);
	TAILQ_INIT(&journal.handover);
	journal.next_id = 1;
	metrics_gauge("wspool_cleanups_pending",
	    "Deferred cleanups journaled and not yet done.", journal_pending_gauge_cb);
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
	jstore_del(e->je_key.call_id, e->je_key.seq);
	journal_entry_free(e);
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
	if (!journal.restoring && jstore_put(call_id, seq, route, e->je_name,
	    arg, arg_len, journal.pid, journal.host) != 0) {
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
    const char *msg, size_t msg_len)
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
			    e->je_call->jc_route, jstore_open_p() ?
			    ": it stays in the journal for the next start" : "");
		journal_entry_free(e);
	}
	jstore_close();
}

/* ---- durability (jstore.c below) ------------------------------------------ */

/* Call ids: the incarnation in the high bits, a counter in the low ones. */
#define JOURNAL_CALL_BITS 40
#define JOURNAL_INCARNATION_MASK ((UINT32_C(1) << (64 - JOURNAL_CALL_BITS)) - 1)

/* A record of a dead master: an orphan with reason lost (that master). */
static int
journal_restore_cb(void *ctx, uint64_t call_id, uint64_t seq,
    const char *route, const char *name, const void *arg, size_t arg_len,
    int64_t pid, const char *host)
{
	struct wspool_reason lost = { .kind = WSPOOL_REASON_LOST, .status = -1,
		.worker_pid = pid, .worker_host = host };
	struct jcall *jc;
	struct jentry *e;
	size_t *n = ctx;

	/* In the store already: an in-memory entry, pending on no worker. */
	if (journal_defer(0, call_id, seq, route, name, strlen(name), arg,
	    arg_len) != 0)
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
	(*n)++;
	return 0;
}

int
journal_open(const char *path, const char *node, int64_t pid,
    const char *host)
{
	uint32_t inc;
	size_t n = 0;

	journal.pid = pid;
	snprintf(journal.host, sizeof(journal.host), "%s", host);
	journal.next_call = 1;
	if (path == NULL) {
		/* No store, no memory of earlier runs: a random incarnation
		 * keeps keys apart from theirs, most likely (unsafe anyway). */
		if (getrandom(&inc, sizeof(inc), 0) != (ssize_t)sizeof(inc))
			inc = (uint32_t)pid;
		journal.incarnation = inc & JOURNAL_INCARNATION_MASK;
		log_warn("--journal none: pending cleanups live in memory only; "
		    "a crash of the master loses them");
		return 0;
	}
	if (jstore_open(path, node, &inc) != 0)
		return -1;
	journal.incarnation = inc & JOURNAL_INCARNATION_MASK;
	/* The records are on disk already: not written again. */
	journal.restoring = true;
	if (jstore_load(journal_restore_cb, &n) != 0 || jstore_commit() != 0) {
		journal.restoring = false;
		jstore_close();
		return -1;
	}
	journal.restoring = false;
	if (n > 0)
		log_warn("journal %s: %zu cleanups of a master that died: "
		    "running them (reason lost)", path, n);
	log_info("journal %s: incarnation %u", path, inc);
	return 0;
}

uint64_t
journal_next_call_id(void)
{
	uint32_t inc;

	if (journal.next_call >> JOURNAL_CALL_BITS) {
		/* 2^40 calls in one incarnation: take a new one. */
		if (jstore_open_p() && jstore_next_incarnation(&inc) == 0)
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
	if (e != NULL)
		journal_entry_free(e);
}

bool
journal_dirty(void)
{
	return jstore_dirty();
}

int
journal_commit(void)
{
	uint64_t t0;
	int rv;

	if (!jstore_dirty())
		return 0;
	t0 = clock_now_us();
	rv = jstore_commit();
	metrics_counters.journal_commits_total++;
	metrics_counters.journal_commit_us_total += clock_now_us() - t0;
	return rv;
}

void
journal_close(void)
{
	jstore_close();
}
