/*
 * jredis.c: the Redis journal's start-up (URL, connection, lock, owner,
 * incarnation, records), synchronous and bounded by the timeout. The
 * design notes are in jredis.h.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/jredis.h"

const char jredis_commit_lua[] =
"local cur = redis.call('GET', KEYS[1])\n"
"if cur ~= ARGV[1] then\n"
"  if cur or redis.call('GET', KEYS[2]) ~= ARGV[1] then\n"
"    return redis.error_reply('FENCED node held by ' ..\n"
"      (cur or 'a master that opened it since'))\n"
"  end\n"
"  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])\n"
"else\n"
"  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
"end\n"
"local t = redis.call('TYPE', KEYS[4])['ok']\n"
"if t ~= 'hash' and t ~= 'none' then\n"
"  return redis.error_reply('WRONGTYPE the records key is a ' .. t)\n"
"end\n"
"local inc = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
"if inc == nil or inc < tonumber(ARGV[2]) then\n"
"  redis.call('SET', KEYS[3], ARGV[2])\n"
"end\n"
"local i = 4\n"
"while i <= #ARGV do\n"
"  if ARGV[i] == 'p' then\n"
"    redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 2])\n"
"    i = i + 3\n"
"  else\n"
"    redis.call('HDEL', KEYS[4], ARGV[i + 1])\n"
"    i = i + 2\n"
"  end\n"
"end\n"
"return 1\n";

const char jredis_release_lua[] =
"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
"  return redis.call('DEL', KEYS[1])\n"
"end\n"
"return 0\n";

/* KEYS lock; ARGV the dead holder's token, ours, lease ms. */
static const char jredis_takeover_lua[] =
"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
"  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
"  return 1\n"
"end\n"
"return 0\n";

/* ---- the URL --------------------------------------------------------------- */

static int
jredis_ms(const char *s, size_t n, uint64_t min, uint64_t *out)
{
	char buf[24], *end;
	unsigned long long v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0' || buf[0] == '-' || v < min ||
	    v > 3600000)
		return -1;
	*out = v;
	return 0;
}

/* The query: lease=MS, timeout=MS, separated by &. */
static int
jredis_query(struct jredis_conf *c, const char *q)
{
	while (*q != '\0') {
		size_t n = strcspn(q, "&");

		if (strncmp(q, "lease=", 6) == 0) {
			if (jredis_ms(q + 6, n - 6, 300, &c->jc_lease_ms) != 0)
				return -1;
		} else if (strncmp(q, "timeout=", 8) == 0) {
			if (jredis_ms(q + 8, n - 8, 10, &c->jc_timeout_ms) != 0)
				return -1;
		} else {
			return -1;
		}
		q += n + (q[n] == '&');
	}
	return 0;
}

static char *
jredis_key(const char *node, const char *what)
{
	char *k;

	return asprintf(&k, "wspool:{%s}:%s", node, what) < 0 ? NULL : k;
}

/* HOST resolved to a numeric address (the loop's reconnects must not
 * block on a name lookup). */
static int
jredis_resolve(struct jredis_conf *c, const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int rv;

	if ((rv = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		log_error("journal %s: cannot resolve %s: %s", c->jc_url, host,
		    gai_strerror(rv));
		return -1;
	}
	rv = getnameinfo(res->ai_addr, res->ai_addrlen, c->jc_addr,
	    sizeof(c->jc_addr), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	return rv == 0 ? 0 : -1;
}

int
jredis_conf_parse(struct jredis_conf *c, const char *url, const char *node)
{
	const char *p = url + strlen("redis://"), *at, *hend, *q;
	char host[256];
	size_t hn;
	uint64_t v;

	memset(c, 0, sizeof(*c));
	c->jc_port = 6379;
	c->jc_lease_ms = JREDIS_LEASE_MS;
	c->jc_timeout_ms = JREDIS_TIMEOUT_MS;
	if (strncmp(url, "redis://", 8) != 0)
		goto bad;
	/* [[USER]:PASSWORD@] */
	at = strchr(p, '@');
	if (at != NULL && at < p + strcspn(p, "/?")) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (colon == NULL)
			goto bad;
		if (colon > p && (c->jc_user = strndup(p,
		    (size_t)(colon - p))) == NULL)
			goto fail;
		if ((c->jc_pass = strndup(colon + 1,
		    (size_t)(at - colon - 1))) == NULL)
			goto fail;
		p = at + 1;
	}
	snprintf(c->jc_url, sizeof(c->jc_url), "redis://%s%s", c->jc_pass ?
	    "***@" : "", p);
	/* HOST or [V6], then :PORT */
	if (*p == '[') {
		if ((hend = strchr(p, ']')) == NULL)
			goto bad;
		hn = (size_t)(hend - p - 1);
		memcpy(host, p + 1, hn < sizeof(host) ? hn : 0);
		hend++;
	} else {
		hend = p + strcspn(p, ":/?");
		hn = (size_t)(hend - p);
		memcpy(host, p, hn < sizeof(host) ? hn : 0);
	}
	if (hn == 0 || hn >= sizeof(host))
		goto bad;
	host[hn] = '\0';
	p = hend;
	if (*p == ':') {
		size_t n = strcspn(p + 1, "/?");

		if (jredis_ms(p + 1, n, 1, &v) != 0 || v > 65535)
			goto bad;
		c->jc_port = (int)v;
		p += 1 + n;
	}
	if (*p == '/' && p[1] != '\0' && p[1] != '?') {
		size_t n = strcspn(p + 1, "?");

		if (jredis_ms(p + 1, n, 0, &v) != 0 || v > 10000)
			goto bad;
		c->jc_db = (unsigned)v;
		p += 1 + n;
	} else if (*p == '/') {
		p++;
	}
	q = *p == '?' ? p + 1 : p;
	if ((*p != '?' && *p != '\0') || jredis_query(c, q) != 0)
		goto bad;
	if (c->jc_timeout_ms * 2 > c->jc_lease_ms) {
		log_error("journal %s: the lease must be at least twice the "
		    "timeout", c->jc_url);
		goto fail;
	}
	if ((c->jc_records = jredis_key(node, "records")) == NULL ||
	    (c->jc_lock = jredis_key(node, "lock")) == NULL ||
	    (c->jc_owner = jredis_key(node, "owner")) == NULL ||
	    (c->jc_incarnation = jredis_key(node, "incarnation")) == NULL ||
	    jredis_resolve(c, host) != 0)
		goto fail;
	return 0;
bad:
	log_error("--journal %s: not redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"
	    "[?lease=MS&timeout=MS]", c->jc_url[0] ? c->jc_url : "redis://...");
fail:
	jredis_conf_free(c);
	return -1;
}

void
jredis_conf_free(struct jredis_conf *c)
{
	free(c->jc_user);
	free(c->jc_pass);
	free(c->jc_records);
	free(c->jc_lock);
	free(c->jc_owner);
	free(c->jc_incarnation);
	c->jc_user = c->jc_pass = NULL;
	c->jc_records = c->jc_lock = c->jc_owner = c->jc_incarnation = NULL;
}

/* ---- commands -------------------------------------------------------------- */

/* Run one command (argv, NULL-terminated strings unless lens); the reply,
 * or NULL (logged: what failed). */
static redisReply *
jredis_cmd(redisContext *rc, const struct jredis_conf *c, const char *what,
    int argc, const char **argv, const size_t *lens)
{
	size_t l[16];
	redisReply *r;

	if (lens == NULL) {
		if (argc > 16)
			return NULL;
		for (int i = 0; i < argc; i++)
			l[i] = strlen(argv[i]);
		lens = l;
	}
	if ((r = redisCommandArgv(rc, argc, argv, lens)) == NULL) {
		log_error("journal %s: %s: %s", c->jc_url, what,
		    rc->err ? rc->errstr : "no answer");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		log_error("journal %s: %s: %.*s", c->jc_url, what,
		    (int)(r->len < 200 ? r->len : 200), r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* What Redis keeps on disk, said once at start. */
static void
jredis_check_aof(redisContext *rc, const struct jredis_conf *c)
{
	const char *argv[] = { "CONFIG", "GET", "append*" };
	char on[8] = "?", fsync[16] = "?";
	redisReply *r = redisCommandArgv(rc, 3, argv, NULL);

	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			const redisReply *k = r->element[i], *v = r->element[i + 1];

			if (k->type != REDIS_REPLY_STRING ||
			    v->type != REDIS_REPLY_STRING)
				continue;
			if (strcmp(k->str, "appendonly") == 0)
				snprintf(on, sizeof(on), "%.*s", (int)v->len, v->str);
			else if (strcmp(k->str, "appendfsync") == 0)
				snprintf(fsync, sizeof(fsync), "%.*s", (int)v->len,
				    v->str);
		}
	}
	if (r != NULL)
		freeReplyObject(r);
	if (strcmp(on, "yes") == 0 && strcmp(fsync, "always") == 0)
		log_info("journal %s: Redis appendonly yes, appendfsync always: "
		    "a registration is on its disk when acknowledged", c->jc_url);
	else if (strcmp(on, "yes") == 0)
		log_warn("journal %s: Redis appendonly yes, appendfsync %s: a "
		    "crash of Redis's host may lose the last second of "
		    "registrations (appendfsync always: none)", c->jc_url, fsync);
	else if (strcmp(on, "no") == 0)
		log_warn("journal %s: Redis runs without appendonly: a restart "
		    "of Redis loses the journal (docs/scaling.md)", c->jc_url);
	else
		log_warn("journal %s: cannot read Redis's appendonly setting "
		    "(CONFIG is refused): make sure it is on", c->jc_url);
}

redisContext *
jredis_connect(const struct jredis_conf *c)
{
	struct timeval tv = clock_tv(c->jc_timeout_ms);
	char db[16];
	const char *auth[] = { "AUTH", c->jc_user ? c->jc_user : c->jc_pass,
		c->jc_pass };
	const char *sel[] = { "SELECT", db };
	const char *ping[] = { "PING" };
	redisContext *rc;
	redisReply *r;

	rc = redisConnectWithTimeout(c->jc_addr, c->jc_port, tv);
	if (rc == NULL || rc->err) {
		log_error("journal %s: cannot reach Redis: %s (start it, or "
		    "check the address)", c->jc_url, rc ? rc->errstr : "no memory");
		goto fail;
	}
	if (redisSetTimeout(rc, tv) != REDIS_OK)
		goto fail;
	snprintf(db, sizeof(db), "%u", c->jc_db);
	if (c->jc_pass != NULL) {
		if ((r = jredis_cmd(rc, c, "AUTH", c->jc_user ? 3 : 2, auth,
		    NULL)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	if ((r = jredis_cmd(rc, c, "SELECT", 2, sel, NULL)) == NULL)
		goto fail;
	freeReplyObject(r);
	if ((r = jredis_cmd(rc, c, "PING", 1, ping, NULL)) == NULL)
		goto fail;
	freeReplyObject(r);
	jredis_check_aof(rc, c);
	return rc;
fail:
	if (rc != NULL)
		redisFree(rc);
	return NULL;
}

/* ---- the lock -------------------------------------------------------------- */

/* A process's start time (clock ticks since boot), 0 if unknown or if
 * it is a zombie (dead, not reaped yet). */
static unsigned long long
jredis_starttime(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command's closing parenthesis, field 22 is 20 on. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' ||
	    p[2] == 'Z' || p[2] == 'X')
		return 0;
	for (int field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

/* Where this master runs: "host|boot id|pid namespace". */
static void
jredis_place(char *out, size_t size)
{
	char host[256] = "?", boot[40] = "?";
	struct stat st;
	FILE *f;

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, "| ")] = '\0';
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r")) != NULL) {
		if (fgets(boot, sizeof(boot), f) == NULL)
			strcpy(boot, "?");
		boot[strcspn(boot, "\n")] = '\0';
		fclose(f);
	}
	if (stat("/proc/self/ns/pid", &st) != 0)
		st.st_ino = 0;
	snprintf(out, size, "%.64s|%s|%lu", host, boot, (unsigned long)st.st_ino);
}

static void
jredis_token(struct jredis_conf *c)
{
	char place[160];
	uint32_t rnd = 0;

	jredis_place(place, sizeof(place));
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint32_t)clock_now_us();
	/* host|boot|pidns|pid|start|random */
	snprintf(c->jc_token, sizeof(c->jc_token), "%s|%ld|%llu|%08x", place,
	    (long)getpid(), jredis_starttime((long)getpid()), (unsigned)rnd);
}

/* Whether holder names a master of this host, boot and pid namespace that
 * is gone: its pid is free, or taken by a process started at another
 * time. Unsure (another host, garbage): false, and its lease decides. */
static bool
jredis_holder_dead(const char *holder, size_t len)
{
	char place[160], tok[JREDIS_TOKEN_MAX], *p, *end;
	unsigned long long start;
	size_t n;
	long pid;

	if (len >= sizeof(tok))
		return false;
	memcpy(tok, holder, len);
	tok[len] = '\0';
	jredis_place(place, sizeof(place));
	n = strlen(place);
	if (strncmp(tok, place, n) != 0 || tok[n] != '|')
		return false;
	p = tok + n + 1;
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno != 0 || end == p || *end != '|' || pid <= 0)
		return false;
	start = strtoull(end + 1, &end, 10);
	if (*end != '|')
		return false;
	if (pid == (long)getpid())
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return true;
	return jredis_starttime(pid) != start;
}

/* Try once: 1 taken, 0 held by a live holder (in *holder, *pttl), -1. */
static int
jredis_try_lock(redisContext *rc, const struct jredis_conf *c, char *holder,
    size_t hsize, long long *pttl)
{
	char lease[24];
	const char *set[] = { "SET", c->jc_lock, c->jc_token, "NX", "PX", lease };
	const char *get[] = { "GET", c->jc_lock };
	const char *ttl[] = { "PTTL", c->jc_lock };
	const char *take[] = { "EVAL", jredis_takeover_lua, "1", c->jc_lock,
		holder, c->jc_token, lease };
	redisReply *r;
	int taken;

	snprintf(lease, sizeof(lease), "%llu", (unsigned long long)c->jc_lease_ms);
	if ((r = jredis_cmd(rc, c, "SET NX the lock", 6, set, NULL)) == NULL)
		return -1;
	taken = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	if (taken)
		return 1;
	if ((r = jredis_cmd(rc, c, "GET the lock", 2, get, NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return 0;    /* gone meanwhile: try again */
	}
	snprintf(holder, hsize, "%.*s", (int)(r->len < hsize ? r->len : hsize - 1),
	    r->str);
	freeReplyObject(r);
	if (jredis_holder_dead(holder, strlen(holder))) {
		if ((r = jredis_cmd(rc, c, "take the lock of a dead master", 7,
		    take, NULL)) == NULL)
			return -1;
		taken = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
		freeReplyObject(r);
		if (taken) {
			log_warn("journal %s: the node's last master (%s) is dead: "
			    "taking over its lock", c->jc_url, holder);
			return 1;
		}
		return 0;
	}
	if ((r = jredis_cmd(rc, c, "PTTL the lock", 2, ttl, NULL)) == NULL)
		return -1;
	*pttl = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	freeReplyObject(r);
	return 0;
}

int
jredis_take(redisContext *rc, struct jredis_conf *c, uint32_t *inc)
{
	const char *owner[] = { "SET", c->jc_owner, c->jc_token };
	const char *incr[] = { "INCR", c->jc_incarnation };
	char holder[JREDIS_TOKEN_MAX] = "";
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	uint64_t until = 0;
	long long pttl = -1;
	redisReply *r;
	int rv;

	jredis_token(c);
	while ((rv = jredis_try_lock(rc, c, holder, sizeof(holder), &pttl)) == 0) {
		uint64_t now = clock_now_ms();

		if (until == 0) {
			/* The holder's lease, then ours again: a live holder
			 * refreshes it well before. */
			until = now + (pttl > 0 ? (uint64_t)pttl : 0) +
			    c->jc_lease_ms;
			log_warn("journal %s: the node is held by %s (its lease "
			    "ends in %lld ms): waiting for it", c->jc_url,
			    holder[0] ? holder : "?", pttl);
		}
		if (now >= until) {
			log_error("journal %s: the node is in use by another "
			    "master (%s), which keeps its lease: give this one "
			    "another --node-name, or stop that one", c->jc_url,
			    holder);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	if (rv < 0)
		return -1;
	if ((r = jredis_cmd(rc, c, "SET the owner", 3, owner, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = jredis_cmd(rc, c, "INCR the incarnation", 2, incr, NULL)) == NULL)
		return -1;
	rv = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? 0 : -1;
	if (rv == 0)
		*inc = (uint32_t)r->integer;
	else
		log_error("journal %s: INCR answered no number", c->jc_url);
	freeReplyObject(r);
	return rv;
}

/* ---- the records found at start ------------------------------------------------ */

struct jredis_rec {
	unsigned char jr_key[JSTORE_KEY_SIZE];
	char *jr_val;
	size_t jr_len;
};

static int
jredis_rec_cmp(const void *a, const void *b)
{
	return memcmp(((const struct jredis_rec *)a)->jr_key,
	    ((const struct jredis_rec *)b)->jr_key, JSTORE_KEY_SIZE);
}

static int
jredis_hdel(redisContext *rc, const struct jredis_conf *c, const char *field,
    size_t len)
{
	const char *argv[] = { "HDEL", c->jc_records, field };
	size_t lens[] = { 4, strlen(c->jc_records), len };
	redisReply *r;

	if ((r = jredis_cmd(rc, c, "HDEL a bad record", 3, argv, lens)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* One HSCAN page into *recs (grown). Returns the next cursor's reply
 * element checked, or -1 (logged): a reply of another shape. */
static int
jredis_page(redisContext *rc, const struct jredis_conf *c, const redisReply *r,
    struct jredis_rec **recs, size_t *n, size_t *cap)
{
	const redisReply *kv;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len > 20 ||
	    strspn(r->element[0]->str, "0123456789") != r->element[0]->len ||
	    (kv = r->element[1])->type != REDIS_REPLY_ARRAY ||
	    kv->elements % 2 != 0) {
		log_error("journal %s: HSCAN answered something else", c->jc_url);
		return -1;
	}
	for (size_t i = 0; i < kv->elements; i += 2) {
		const redisReply *f = kv->element[i], *v = kv->element[i + 1];
		struct jredis_rec *rec;

		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
			log_error("journal %s: HSCAN answered something else",
			    c->jc_url);
			return -1;
		}
		if (f->len != JSTORE_KEY_SIZE) {
			log_error("journal %s: a record's key has %zu bytes, not "
			    "%d: deleted", c->jc_url, f->len, JSTORE_KEY_SIZE);
			if (jredis_hdel(rc, c, f->str, f->len) != 0)
				return -1;
			continue;
		}
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;

			if ((rec = realloc(*recs, ncap * sizeof(*rec))) == NULL)
				return -1;
			*recs = rec;
			*cap = ncap;
		}
		rec = &(*recs)[*n];
		memcpy(rec->jr_key, f->str, JSTORE_KEY_SIZE);
		if ((rec->jr_val = malloc(v->len ? v->len : 1)) == NULL)
			return -1;
		if (v->len > 0)
			memcpy(rec->jr_val, v->str, v->len);
		rec->jr_len = v->len;
		(*n)++;
	}
	return 0;
}

int
jredis_scan(redisContext *rc, const struct jredis_conf *c,
    jstore_record_fn fn, void *ctx)
{
	char cursor[24] = "0";
	const char *argv[] = { "HSCAN", c->jc_records, cursor, "COUNT", "1000" };
	struct jredis_rec *recs = NULL;
	size_t n = 0, cap = 0, i;
	redisReply *r;
	int status = -1, rv;

	do {
		if ((r = jredis_cmd(rc, c, "HSCAN the records", 5, argv,
		    NULL)) == NULL)
			goto out;
		rv = jredis_page(rc, c, r, &recs, &n, &cap);
		if (rv == 0)
			snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		freeReplyObject(r);
		if (rv != 0)
			goto out;
	} while (strcmp(cursor, "0") != 0);
	/* HSCAN may return a field twice (a rehash between pages). */
	if (n > 1)
		qsort(recs, n, sizeof(*recs), jredis_rec_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && memcmp(recs[i].jr_key, recs[i - 1].jr_key,
		    JSTORE_KEY_SIZE) == 0)
			continue;
		rv = fn(ctx, jstore_be64(recs[i].jr_key),
		    jstore_be64(recs[i].jr_key + 8), recs[i].jr_val,
		    recs[i].jr_len);
		if (rv < 0 || (rv > 0 && jredis_hdel(rc, c,
		    (const char *)recs[i].jr_key, JSTORE_KEY_SIZE) != 0))
			goto out;
	}
	status = 0;
out:
	for (i = 0; i < n; i++)
		free(recs[i].jr_val);
	free(recs);
	return status;
}
