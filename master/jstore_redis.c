/*
 * jstore_redis.c: the journal in Redis, behind jstore.h's ops table:
 * commits as one EVAL each on hiredis's asynchronous API, on the loop;
 * timeouts, reconnection, the lease and fencing. The design notes are in
 * jstore_redis.h (the commit path) and jredis.h (the data model).
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/jredis.h"
#include "master/jredis_ev.h"
#include "master/jstore_redis.h"
#include "master/master.h"
#include "master/metrics.h"

#define JSTORE_REDIS_TICK_MS 100
#define JSTORE_REDIS_BACKOFF_MIN_MS 100
#define JSTORE_REDIS_BACKOFF_MAX_MS 5000
/* Keys of completions kept while Redis is away: past this, the oldest
 * are forgotten (their cleanups run again after a restart). */
#define JSTORE_REDIS_BACKLOG_MAX (1u << 20)
#define JSTORE_REDIS_FIXED_ARGS 10   /* EVAL script 4 KEYS... token inc lease */

/* A put or del of the turn's batch. */
struct jr_op {
	unsigned char jo_key[JSTORE_KEY_SIZE];
	char *jo_val;              /* a put's value, NULL for a del */
	size_t jo_len;
};

/* A commit sent and not confirmed yet. */
struct jr_commit {
	jstore_done_fn jc_fn;
	void *jc_arg;
	uint64_t jc_sent_ms;
	unsigned char *jc_keys;    /* every key it touched: deleted again if
	                              it fails (a refused registration) */
	size_t jc_nkeys;
	TAILQ_ENTRY(jr_commit) jc_link;
};

enum jr_state {
	JR_CLOSED = 0,
	JR_DOWN,         /* waiting to reconnect: puts refused */
	JR_CONNECTING,   /* connected or not, the lease not confirmed yet */
	JR_UP,
	JR_FENCED,       /* another master holds the node: final */
};

static struct {
	struct jredis_conf conf;
	redisContext *rc;          /* the start-up's, until the scan is over */
	redisAsyncContext *ac;
	enum jr_state state;
	struct jr_op *ops;
	size_t nops, capops;
	unsigned char *backlog;    /* keys to delete at the next commit */
	size_t nbacklog, capbacklog;
	TAILQ_HEAD(, jr_commit) inflight;
	size_t ninflight;
	uint32_t incarnation;
	bool inc_dirty;            /* a new incarnation to commit */
	struct event *tick;
	struct event *trouble;     /* drops the connection, outside hiredis */
	uint64_t backoff_ms;
	uint64_t retry_at_ms;
	uint64_t state_ms;         /* when the state last changed */
	uint64_t sent_ms;          /* when the last commit was sent */
	bool outage_logged;
	bool retry_pending;        /* a reconnection is scheduled */
	bool locked;               /* the start-up took the node's lock */
	bool released;             /* close: the lock was given back */
	jstore_fenced_fn fenced;
	bool fenced_told;
	char why[200];
} jr;

static void jstore_redis_connect(void);

/* ---- trouble: the connection goes, the store is unavailable ------------------ */

static void
jstore_redis_trouble(const char *why)
{
	if (jr.state == JR_UP || jr.state == JR_CONNECTING) {
		jr.state = JR_DOWN;
		jr.state_ms = clock_now_ms();
		snprintf(jr.why, sizeof(jr.why), "%s", why);
	}
	/* Never inside one of the context's callbacks: at once, but after. */
	if (jr.trouble != NULL)
		event_active(jr.trouble, EV_TIMEOUT, 0);
}

static void
jstore_redis_fence(const char *why, size_t len)
{
	if (jr.state == JR_FENCED || jr.state == JR_CLOSED)
		return;
	jr.state = JR_FENCED;
	snprintf(jr.why, sizeof(jr.why), "%.*s", (int)(len < 190 ? len : 190),
	    why);
	log_error("journal %s: %s: this master no longer holds its node "
	    "(another master took it over): every registration is refused",
	    jr.conf.jc_url, jr.why);
	jstore_redis_trouble(jr.why);
}

static void
jstore_redis_trouble_cb(evutil_socket_t fd, short what, void *arg)
{
	redisAsyncContext *ac = jr.ac;

	if (ac != NULL) {
		/* Fails every commit in flight (NULL replies), then calls
		 * the disconnect callback. */
		jr.ac = NULL;
		redisAsyncFree(ac);
	}
	if (jr.state == JR_FENCED) {
		if (!jr.fenced_told && jr.fenced != NULL) {
			jr.fenced_told = true;
			jr.fenced(jr.why);
		}
		return;
	}
	if (jr.state != JR_DOWN || jr.retry_pending)
		return;
	jr.retry_pending = true;
	if (!jr.outage_logged) {
		jr.outage_logged = true;
		log_error("journal %s: Redis is unavailable (%s): cleanup "
		    "registrations are refused until it is back; reconnecting",
		    jr.conf.jc_url, jr.why);
	} else {
		log_debug("journal %s: still unavailable (%s); next try in "
		    "%llu ms", jr.conf.jc_url, jr.why,
		    (unsigned long long)jr.backoff_ms);
	}
	jr.retry_at_ms = clock_now_ms() + jr.backoff_ms;
	jr.backoff_ms *= 2;
	if (jr.backoff_ms > JSTORE_REDIS_BACKOFF_MAX_MS)
		jr.backoff_ms = JSTORE_REDIS_BACKOFF_MAX_MS;
}

/* ---- keys kept for later ------------------------------------------------------ */

static void
jstore_redis_backlog(const unsigned char *keys, size_t n)
{
	unsigned char *p;

	if (n == 0)
		return;
	if (jr.nbacklog + n > jr.capbacklog) {
		size_t cap = jr.capbacklog ? jr.capbacklog : 256;

		while (cap < jr.nbacklog + n)
			cap *= 2;
		if (cap > JSTORE_REDIS_BACKLOG_MAX) {
			log_warn("journal %s: %zu completions could not be "
			    "recorded: those cleanups will run again after a "
			    "restart", jr.conf.jc_url, n);
			return;
		}
		if ((p = realloc(jr.backlog, cap * JSTORE_KEY_SIZE)) == NULL) {
			log_warn("journal %s: no memory to keep %zu completions",
			    jr.conf.jc_url, n);
			return;
		}
		jr.backlog = p;
		jr.capbacklog = cap;
	}
	memcpy(jr.backlog + jr.nbacklog * JSTORE_KEY_SIZE, keys,
	    n * JSTORE_KEY_SIZE);
	jr.nbacklog += n;
}

static void
jstore_redis_free_ops(void)
{
	for (size_t i = 0; i < jr.nops; i++)
		free(jr.ops[i].jo_val);
	jr.nops = 0;
}

/* ---- the commit ------------------------------------------------------------------ */

static void
jstore_redis_reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct jr_commit *c = priv;
	const redisReply *r = reply;
	int status = -1;

	TAILQ_REMOVE(&jr.inflight, c, jc_link);
	jr.ninflight--;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		status = 0;
	} else if (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "FENCED", 6) == 0) {
		jstore_redis_fence(r->str, r->len);
	} else if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		char why[160];

		snprintf(why, sizeof(why), "a commit failed: %.*s",
		    (int)(r->len < 120 ? r->len : 120), r->str);
		jstore_redis_trouble(why);
	} else if (r != NULL) {
		jstore_redis_trouble("a commit answered something else");
	} else {
		jstore_redis_trouble("the connection closed");
	}
	if (status != 0)
		jstore_redis_backlog(c->jc_keys, c->jc_nkeys);
	if (c->jc_fn != NULL)
		c->jc_fn(c->jc_arg, status);
	free(c->jc_keys);
	free(c);
}

/* Send the batch (and the kept deletions) as one EVAL. fn may be NULL (a
 * lease refresh). Returns 0, or -1 (nothing sent, fn not called). */
static int
jstore_redis_send(jstore_done_fn fn, void *arg)
{
	char inc[16], lease[24];
	size_t nargs = JSTORE_REDIS_FIXED_ARGS + 3 * jr.nops + 2 * jr.nbacklog;
	size_t nkeys = jr.nops + jr.nbacklog, a = 0, k = 0;
	const char **argv = NULL;
	size_t *lens = NULL;
	struct jr_commit *c = NULL;
	int rv = -1;

	if (jr.ac == NULL || nargs > INT32_MAX ||
	    (argv = malloc(nargs * sizeof(*argv))) == NULL ||
	    (lens = malloc(nargs * sizeof(*lens))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL ||
	    (c->jc_keys = malloc(nkeys ? nkeys * JSTORE_KEY_SIZE : 1)) == NULL)
		goto out;
	snprintf(inc, sizeof(inc), "%u", jr.incarnation);
	snprintf(lease, sizeof(lease), "%llu",
	    (unsigned long long)jr.conf.jc_lease_ms);
#define ARG(p, n) do { argv[a] = (p); lens[a] = (n); a++; } while (0)
#define SARG(s) ARG((s), strlen(s))
	SARG("EVAL");
	SARG(jredis_commit_lua);
	SARG("4");
	SARG(jr.conf.jc_lock);
	SARG(jr.conf.jc_owner);
	SARG(jr.conf.jc_incarnation);
	SARG(jr.conf.jc_records);
	SARG(jr.conf.jc_token);
	SARG(inc);
	SARG(lease);
	for (size_t i = 0; i < jr.nbacklog; i++) {
		const unsigned char *key = jr.backlog + i * JSTORE_KEY_SIZE;

		SARG("d");
		ARG((const char *)key, JSTORE_KEY_SIZE);
		memcpy(c->jc_keys + k++ * JSTORE_KEY_SIZE, key, JSTORE_KEY_SIZE);
	}
	for (size_t i = 0; i < jr.nops; i++) {
		const struct jr_op *o = &jr.ops[i];

		SARG(o->jo_val != NULL ? "p" : "d");
		ARG((const char *)o->jo_key, JSTORE_KEY_SIZE);
		if (o->jo_val != NULL)
			ARG(o->jo_val, o->jo_len);
		memcpy(c->jc_keys + k++ * JSTORE_KEY_SIZE, o->jo_key,
		    JSTORE_KEY_SIZE);
	}
#undef ARG
#undef SARG
	c->jc_nkeys = k;
	c->jc_fn = fn;
	c->jc_arg = arg;
	c->jc_sent_ms = jr.sent_ms = clock_now_ms();
	/* hiredis copies the arguments into its output buffer. */
	if (redisAsyncCommandArgv(jr.ac, jstore_redis_reply_cb, c, (int)a,
	    argv, lens) != REDIS_OK)
		goto out;
	TAILQ_INSERT_TAIL(&jr.inflight, c, jc_link);
	jr.ninflight++;
	c = NULL;
	jr.nbacklog = 0;
	jr.inc_dirty = false;
	jstore_redis_free_ops();
	rv = 0;
out:
	if (c != NULL) {
		free(c->jc_keys);
		free(c);
	}
	free(argv);
	free(lens);
	return rv;
}

static void
jstore_redis_commit(jstore_done_fn fn, void *arg)
{
	bool puts = false;

	for (size_t i = 0; i < jr.nops && !puts; i++)
		puts = jr.ops[i].jo_val != NULL;
	if ((jr.state == JR_UP || jr.state == JR_CONNECTING) &&
	    jstore_redis_send(fn, arg) == 0)
		return;
	/* Not sent: the deletions wait for Redis; the registrations (put
	 * while it was there a moment ago) are refused, and their keys
	 * deleted once it is back, in case a part reached it. */
	for (size_t i = 0; i < jr.nops; i++)
		jstore_redis_backlog(jr.ops[i].jo_key, 1);
	jstore_redis_free_ops();
	if (jr.state == JR_UP || jr.state == JR_CONNECTING)
		jstore_redis_trouble("cannot send a commit");
	if (fn != NULL)
		fn(arg, puts ? -1 : 0);
}

static int
jstore_redis_op(uint64_t call_id, uint64_t seq, const void *value,
    size_t len)
{
	struct jr_op *o;

	if (jr.nops == jr.capops) {
		size_t cap = jr.capops ? jr.capops * 2 : 64;

		if ((o = realloc(jr.ops, cap * sizeof(*o))) == NULL)
			return -1;
		jr.ops = o;
		jr.capops = cap;
	}
	o = &jr.ops[jr.nops];
	jstore_key(o->jo_key, call_id, seq);
	o->jo_val = NULL;
	o->jo_len = len;
	if (value != NULL) {
		if ((o->jo_val = malloc(len ? len : 1)) == NULL)
			return -1;
		if (len > 0)
			memcpy(o->jo_val, value, len);
	}
	jr.nops++;
	return 0;
}

static int
jstore_redis_put(uint64_t call_id, uint64_t seq, const void *value,
    size_t len)
{
	if (jr.state != JR_UP)
		return -1;
	return jstore_redis_op(call_id, seq, value, len);
}

static int
jstore_redis_del(uint64_t call_id, uint64_t seq)
{
	unsigned char key[JSTORE_KEY_SIZE];

	if (jstore_redis_op(call_id, seq, NULL, 0) == 0)
		return 0;
	jstore_key(key, call_id, seq);
	jstore_redis_backlog(key, 1);
	return 0;
}

static bool
jstore_redis_dirty(void)
{
	return jr.nops > 0 || jr.inc_dirty;
}

static bool
jstore_redis_available(void)
{
	return jr.state == JR_UP;
}

static size_t
jstore_redis_inflight(void)
{
	return jr.ninflight;
}

static int
jstore_redis_incarnation(uint32_t *incarnation)
{
	/* Committed (as the highest seen) with the next commit: a
	 * registration under it is in that commit or a later one. */
	*incarnation = ++jr.incarnation;
	jr.inc_dirty = true;
	return 0;
}

/* ---- the connection on the loop ------------------------------------------------------ */

static void
jstore_redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
	/* hiredis frees the context after this. */
	if (jr.ac == ac)
		jr.ac = NULL;
	jstore_redis_trouble(status == REDIS_OK ? "disconnected" :
	    ac->errstr[0] ? ac->errstr : "the connection failed");
}

static void
jstore_redis_connect_cb(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK)
		jstore_redis_trouble(ac->errstr[0] ? ac->errstr :
		    "cannot connect");
}

/* AUTH, SELECT: an error means this connection is of no use. */
static void
jstore_redis_setup_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	const redisReply *r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		char why[160];

		snprintf(why, sizeof(why), "%s: %.*s", (const char *)priv,
		    (int)(r->len < 120 ? r->len : 120), r->str);
		jstore_redis_trouble(why);
	}
}

/* The first commit on a new connection holds the lease again. */
static void
jstore_redis_hello_cb(void *arg, int status)
{
	if (status != 0 || jr.state != JR_CONNECTING)
		return;
	jr.state = JR_UP;
	jr.state_ms = clock_now_ms();
	jr.backoff_ms = JSTORE_REDIS_BACKOFF_MIN_MS;
	metrics_counters.journal_reconnects_total++;
	if (jr.outage_logged)
		log_warn("journal %s: Redis is back: registrations are "
		    "accepted again", jr.conf.jc_url);
	jr.outage_logged = false;
}

static void
jstore_redis_connect(void)
{
	char db[16];
	const char *auth[] = { "AUTH", jr.conf.jc_user ? jr.conf.jc_user :
		jr.conf.jc_pass, jr.conf.jc_pass };
	const char *sel[] = { "SELECT", db };
	redisAsyncContext *ac;

	jr.state = JR_CONNECTING;
	jr.state_ms = clock_now_ms();
	if ((ac = redisAsyncConnect(jr.conf.jc_addr, jr.conf.jc_port)) == NULL) {
		jstore_redis_trouble("no memory for a connection");
		return;
	}
	if (ac->err || jredis_ev_attach(ac, srv.base) != 0) {
		char why[160];

		snprintf(why, sizeof(why), "cannot connect: %s", ac->err ?
		    ac->errstr : "no memory");
		redisAsyncFree(ac);
		jstore_redis_trouble(why);
		return;
	}
	jr.ac = ac;
	redisAsyncSetConnectCallback(ac, jstore_redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, jstore_redis_disconnect_cb);
	snprintf(db, sizeof(db), "%u", jr.conf.jc_db);
	if ((jr.conf.jc_pass != NULL && redisAsyncCommandArgv(ac,
	    jstore_redis_setup_cb, "AUTH", jr.conf.jc_user ? 3 : 2, auth,
	    NULL) != REDIS_OK) ||
	    redisAsyncCommandArgv(ac, jstore_redis_setup_cb, "SELECT", 2, sel,
	    NULL) != REDIS_OK ||
	    jstore_redis_send(jstore_redis_hello_cb, NULL) != 0)
		jstore_redis_trouble("cannot send on a new connection");
}

/* Every JSTORE_REDIS_TICK_MS: answers overdue, the lease, reconnecting. */
static void
jstore_redis_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_now_ms(), t = jr.conf.jc_timeout_ms;
	struct jr_commit *oldest = TAILQ_FIRST(&jr.inflight);
	char why[96];

	if (jr.state == JR_UP || jr.state == JR_CONNECTING) {
		if (oldest != NULL && now - oldest->jc_sent_ms > t) {
			snprintf(why, sizeof(why), "no answer within %llu ms",
			    (unsigned long long)t);
			jstore_redis_trouble(why);
		} else if (jr.state == JR_CONNECTING && now - jr.state_ms > t) {
			snprintf(why, sizeof(why), "no connection within %llu ms",
			    (unsigned long long)t);
			jstore_redis_trouble(why);
		} else if (jr.state == JR_UP &&
		    now - jr.sent_ms >= jr.conf.jc_lease_ms / 3) {
			/* The lease, with the deletions kept, if any. */
			if (jstore_redis_send(NULL, NULL) != 0)
				jstore_redis_trouble("cannot refresh the lease");
		}
	} else if (jr.state == JR_DOWN && jr.ac == NULL &&
	    now >= jr.retry_at_ms) {
		jr.retry_pending = false;
		jstore_redis_connect();
	}
}

/* ---- open, scan, close ---------------------------------------------------------- */

static int
jstore_redis_open(const char *where, const char *node,
    jstore_fenced_fn fenced, uint32_t *incarnation)
{
	struct timeval tv = clock_tv(JSTORE_REDIS_TICK_MS);

	TAILQ_INIT(&jr.inflight);
	if (jredis_conf_parse(&jr.conf, where, node) != 0)
		return -1;
	if ((jr.rc = jredis_connect(&jr.conf)) == NULL ||
	    jredis_take(jr.rc, &jr.conf, &jr.incarnation) != 0)
		goto fail;
	jr.locked = true;
	jr.fenced = fenced;
	jr.backoff_ms = JSTORE_REDIS_BACKOFF_MIN_MS;
	if ((jr.tick = event_new(srv.base, -1, EV_PERSIST, jstore_redis_tick_cb,
	    NULL)) == NULL ||
	    (jr.trouble = event_new(srv.base, -1, 0, jstore_redis_trouble_cb,
	    NULL)) == NULL || event_add(jr.tick, &tv) != 0)
		goto fail;
	/* The lease was taken a moment ago: registrations may go at once,
	 * pipelined behind the new connection's own first commit. */
	jstore_redis_connect();
	if (jr.state == JR_CONNECTING)
		jr.state = JR_UP;
	if (jr.state != JR_UP)
		goto fail;
	*incarnation = jr.incarnation;
	return 0;
fail:
	jstore_redis_ops.js_close();
	return -1;
}

/* At start only: the start-up's connection ends with it. */
static int
jstore_redis_scan(jstore_record_fn fn, void *ctx)
{
	int rv = -1;

	if (jr.rc != NULL) {
		rv = jredis_scan(jr.rc, &jr.conf, fn, ctx);
		redisFree(jr.rc);
		jr.rc = NULL;
	}
	return rv;
}

static void
jstore_redis_release_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	jr.released = true;
}

/* Run the context by hand, bounded, until what is in flight is answered
 * and the lock given back (at shutdown: the loop does not run any more). */
static void
jstore_redis_drain(uint64_t ms)
{
	uint64_t end = clock_now_ms() + ms, now;

	while (jr.ac != NULL && (jr.ninflight > 0 || !jr.released) &&
	    (now = clock_now_ms()) < end) {
		struct pollfd p = { .fd = jr.ac->c.fd, .events = POLLIN };

		if (sdslen(jr.ac->c.obuf) > 0 || !(jr.ac->c.flags & REDIS_CONNECTED))
			p.events |= POLLOUT;
		if (poll(&p, 1, (int)(end - now)) <= 0)
			break;
		if (p.revents & POLLOUT)
			redisAsyncHandleWrite(jr.ac);
		if (jr.ac != NULL && (p.revents & (POLLIN | POLLHUP | POLLERR)))
			redisAsyncHandleRead(jr.ac);
	}
}

static void
jstore_redis_close(void)
{
	const char *argv[] = { "EVAL", jredis_release_lua, "1",
		jr.conf.jc_lock, jr.conf.jc_token };

	if (jr.conf.jc_lock == NULL)
		return;              /* never opened, or closed already */
	/* The last commits, then the lock given back, bounded. A master
	 * that could not (Redis away) leaves it to its lease. */
	jr.released = true;
	if (jr.ac != NULL && jr.locked && jr.state == JR_UP &&
	    redisAsyncCommandArgv(jr.ac, jstore_redis_release_cb, NULL, 5,
	    argv, NULL) == REDIS_OK)
		jr.released = false;
	if (jr.state == JR_UP)
		jstore_redis_drain(jr.conf.jc_timeout_ms);
	jr.state = JR_CLOSED;
	if (jr.ac != NULL) {
		redisAsyncContext *ac = jr.ac;

		jr.ac = NULL;
		redisAsyncFree(ac);
	}
	if (jr.rc != NULL) {
		/* The start-up failed after taking the lock: give it back. */
		redisReply *r;

		if (jr.locked && (r = redisCommandArgv(jr.rc, 5, argv,
		    NULL)) != NULL)
			freeReplyObject(r);
		redisFree(jr.rc);
	}
	if (jr.tick != NULL)
		event_free(jr.tick);
	if (jr.trouble != NULL)
		event_free(jr.trouble);
	jstore_redis_free_ops();
	free(jr.ops);
	free(jr.backlog);
	jredis_conf_free(&jr.conf);
	memset(&jr, 0, sizeof(jr));
}

const struct jstore_ops jstore_redis_ops = {
	.js_name = "redis",
	.js_open = jstore_redis_open,
	.js_put = jstore_redis_put,
	.js_del = jstore_redis_del,
	.js_dirty = jstore_redis_dirty,
	.js_commit = jstore_redis_commit,
	.js_scan = jstore_redis_scan,
	.js_incarnation = jstore_redis_incarnation,
	.js_available = jstore_redis_available,
	.js_inflight = jstore_redis_inflight,
	.js_close = jstore_redis_close,
};
