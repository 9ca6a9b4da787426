/*
 * demo.c: the demo route module, loaded by default: an example of the
 * handler API and the fixture of the tests (see the demo-routes spec).
 *
 * The cleanup log and the notes are append-only files of msgpack records,
 * each written with one write() on an O_APPEND descriptor, so records
 * from many workers interleave whole and survive any crash of a worker:
 *   $WSPOOL_DEMO_LOG (default ${TMPDIR:-/tmp}/wspool-demo-<uid>.log):
 *     {"tag": T, "index": i, "reason": R, "key": K} per cleanup, once:
 *     the cleanup is idempotent by its key K (demo_record_cb), the
 *     pattern to copy; `cleanups` answers the records without their key
 *   the same path + ".notes": {"tag": T, "value": V} per note
 *
 * msgpack's pack functions return 0 or -1, the same as WSPOOL_OK and
 * WSPOOL_ERROR: a handler may return what its last pack returned.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wspool.h>

/* Bounds that keep one bad call from tying a worker up for good. */
#define DEMO_SETTLE_MAX 1000
#define DEMO_FILE_MAX (256u * 1024 * 1024)

static char demo_log_path[PATH_MAX];
static char demo_notes_path[PATH_MAX];

/* ---- Small helpers --------------------------------------------------- */

static int
demo_init(void)
{
	const char *log = getenv("WSPOOL_DEMO_LOG");
	const char *tmp = getenv("TMPDIR");
	int n;

	if (log != NULL && log[0] != '\0')
		n = snprintf(demo_log_path, sizeof(demo_log_path), "%s", log);
	else
		n = snprintf(demo_log_path, sizeof(demo_log_path),
		    "%s/wspool-demo-%lu.log",
		    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp",
		    (unsigned long)getuid());
	if (n < 0 || (size_t)n >= sizeof(demo_log_path))
		return -1;
	n = snprintf(demo_notes_path, sizeof(demo_notes_path), "%s.notes",
	    demo_log_path);
	if (n < 0 || (size_t)n >= sizeof(demo_notes_path))
		return -1;
	return 0;
}

/*
 * A WSPOOL_T_INTEGER param: any integer, so one above INT64_MAX (the only
 * one wspool_int64 refuses after that check) is clamped.
 */
static int64_t
demo_int(const msgpack_object *o)
{
	int64_t v;

	return wspool_int64(o, &v) == WSPOOL_OK ? v : INT64_MAX;
}

static bool
demo_str_eq(const msgpack_object *o, const char *s, size_t len)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == len &&
	    (len == 0 || memcmp(o->via.str.ptr, s, len) == 0);
}

static const msgpack_object *
demo_map_get(const msgpack_object *map, const char *key)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (demo_str_eq(&map->via.map.ptr[i].key, key, strlen(key)))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/* A param if present and not null, else NULL. */
static const msgpack_object *
demo_param(const msgpack_object_array *params, uint32_t i)
{
	if (i >= params->size || params->ptr[i].type == MSGPACK_OBJECT_NIL)
		return NULL;
	return &params->ptr[i];
}

/* Append one record with a single write(): whole or not at all. */
static int
demo_append(const char *path, const msgpack_sbuffer *sb)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) < 0)
		return -1;
	n = write(fd, sb->data, sb->size);
	if (close(fd) != 0 || n < 0 || (size_t)n != sb->size)
		return -1;
	return 0;
}

/* Read all of fd (from its start) into *buf (malloc'd). */
static int
demo_read_fd(int fd, char **buf, size_t *len)
{
	struct stat st;
	size_t cap, off = 0;
	char *p = NULL;
	int rv = -1;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > DEMO_FILE_MAX)
		goto fail;
	/* Records may be appended while we read: read what stat saw. */
	cap = (size_t)st.st_size;
	if ((p = malloc(cap + 1)) == NULL)
		goto fail;
	while (off < cap) {
		ssize_t n = pread(fd, p + off, cap - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		off += (size_t)n;
	}
	*buf = p;
	*len = off;
	p = NULL;
	rv = 0;
fail:
	free(p);
	return rv;
}

/* Read a whole file into *buf (malloc'd); a missing file is empty. */
static int
demo_read(const char *path, char **buf, size_t *len)
{
	int fd, rv;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -1;
	rv = demo_read_fd(fd, buf, len);
	close(fd);
	return rv;
}

/* Pack a record without its "key" (kept for idempotency, not shown). */
static int
demo_pack_public(msgpack_packer *pk, const msgpack_object *rec)
{
	uint32_t n = 0;

	if (rec->type != MSGPACK_OBJECT_MAP)
		return msgpack_pack_object(pk, *rec);
	for (uint32_t i = 0; i < rec->via.map.size; i++)
		n += !demo_str_eq(&rec->via.map.ptr[i].key, "key", 3);
	if (msgpack_pack_map(pk, n) != 0)
		return -1;
	for (uint32_t i = 0; i < rec->via.map.size; i++) {
		const msgpack_object_kv *kv = &rec->via.map.ptr[i];

		if (demo_str_eq(&kv->key, "key", 3))
			continue;
		if (msgpack_pack_object(pk, kv->key) != 0 ||
		    msgpack_pack_object(pk, kv->val) != 0)
			return -1;
	}
	return 0;
}

/* Whether the log (len bytes at buf) holds a record with this key. */
static bool
demo_has_key(const char *buf, size_t len, const char *key)
{
	msgpack_zone zone;
	size_t off = 0;
	bool found = false;

	if (!msgpack_zone_init(&zone, 4096))
		return false;
	while (off < len && !found) {
		msgpack_object rec;

		if (msgpack_unpack(buf, len, &off, &zone, &rec) <
		    MSGPACK_UNPACK_EXTRA_BYTES)
			break;
		found = demo_str_eq(demo_map_get(&rec, "key"), key, strlen(key));
		msgpack_zone_clear(&zone);
	}
	msgpack_zone_destroy(&zone);
	return found;
}

/*
 * Append a cleanup's record once per key: under an exclusive lock on the
 * log, read it, and append (one write) only if no record has the key yet.
 * A second run of the same registration (at least once: a hand-over, a
 * master's restart) then writes nothing. *dup says whether it was there.
 */
static int
demo_append_once(const char *path, const msgpack_sbuffer *sb,
    const char *key, bool *dup)
{
	size_t len;
	ssize_t n;
	char *buf;
	int fd, rv = -1;

	*dup = false;
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) < 0)
		return -1;
	/* Released by close, also when the process dies. */
	if (flock(fd, LOCK_EX) != 0 || demo_read_fd(fd, &buf, &len) != 0)
		goto out;
	*dup = demo_has_key(buf, len, key);
	free(buf);
	if (*dup) {
		rv = 0;
		goto out;
	}
	n = write(fd, sb->data, sb->size);
	if (n >= 0 && (size_t)n == sb->size)
		rv = 0;
out:
	if (close(fd) != 0)
		rv = -1;
	return rv;
}

/*
 * Pack, as one array, the records of file path whose "tag" is tag: the
 * whole record, or only its field (when field is not NULL). Stops at the
 * first byte that does not parse (a torn write after a full disk).
 */
static int
demo_pack_records(msgpack_packer *pk, const char *path,
    const msgpack_object *tag, const char *field)
{
	const msgpack_object **found = NULL;
	size_t nfound = 0, cap = 0, off = 0, len;
	msgpack_zone zone;
	char *buf;
	int rv = -1;

	if (demo_read(path, &buf, &len) != 0)
		return -1;
	if (!msgpack_zone_init(&zone, 4096)) {
		free(buf);
		return -1;
	}
	while (off < len) {
		msgpack_object *rec = msgpack_zone_malloc(&zone, sizeof(*rec));
		const msgpack_object *v;

		if (rec == NULL)
			goto fail;
		/* EXTRA_BYTES: a record with more after it; SUCCESS: the
		 * last one. Anything else: a torn tail, stop there. */
		if (msgpack_unpack(buf, len, &off, &zone, rec) <
		    MSGPACK_UNPACK_EXTRA_BYTES)
			break;
		if (!demo_str_eq(demo_map_get(rec, "tag"), tag->via.str.ptr,
		    tag->via.str.size))
			continue;
		v = field != NULL ? demo_map_get(rec, field) : rec;
		if (v == NULL)
			continue;
		if (nfound == cap) {
			const msgpack_object **f;

			cap = cap ? cap * 2 : 16;
			if ((f = realloc(found, cap * sizeof(*f))) == NULL)
				goto fail;
			found = f;
		}
		found[nfound++] = v;
	}
	if (msgpack_pack_array(pk, nfound) != 0)
		goto fail;
	for (size_t i = 0; i < nfound; i++)
		if (demo_pack_public(pk, found[i]) != 0)
			goto fail;
	rv = 0;
fail:
	free(found);
	msgpack_zone_destroy(&zone);
	free(buf);
	return rv;
}

/* ---- The cleanup: "record" ------------------------------------------- */

/*
 * Die by SIGSEGV: a write through a null pointer. Both volatiles matter:
 * the pointer's, so the compiler cannot see it is NULL (and trap with
 * SIGILL instead), the store's, so it cannot drop the write.
 */
#if defined(__GNUC__) && __GNUC__ >= 8
/* The null store is the point: UBSan must not turn it into an exit. */
__attribute__((no_sanitize("undefined")))
#endif
static void
demo_segv(void)
{
	volatile int *volatile nowhere = NULL;

	/* cppcheck-suppress nullPointer */
	*nowhere = 1;
}

/*
 * arg: {"tag": T, "index": i} plus, for settle's failing one,
 * "fail": "error" (fail without a record) or "segv" (crash the worker).
 * The context names the registration: its key is the same on every run
 * (the idempotency key) and attempt says whether an earlier run crashed
 * its worker. The record itself is {tag, index, reason}.
 */
static int
demo_record_cb(const struct wspool_cleanup_ctx *ctx, const msgpack_object *arg)
{
	const msgpack_object *tag = demo_map_get(arg, "tag");
	const msgpack_object *index = demo_map_get(arg, "index");
	const msgpack_object *fail = demo_map_get(arg, "fail");
	const msgpack_object *delay = demo_map_get(arg, "delay_ms");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv = WSPOOL_ERROR;
	bool dup = false;

	if (tag == NULL || tag->type != MSGPACK_OBJECT_STR || index == NULL)
		return WSPOOL_ERROR;
	if (ctx->attempt > 1)
		wspool_log(NULL, WSPOOL_LOG_INFO, "record %s: attempt %u",
		    ctx->key, (unsigned)ctx->attempt);
	if (demo_str_eq(fail, "error", 5)) {
		wspool_log(NULL, WSPOOL_LOG_INFO, "record %s fails on purpose",
		    ctx->key);
		return WSPOOL_ERROR;
	}
	if (demo_str_eq(fail, "segv", 4))
		demo_segv();
	if (delay != NULL && demo_int(delay) > 0) {
		/* A slow cleanup (crash's cleanup_ms): something to kill the
		 * cleanup runner in the middle of. */
		int64_t ms = demo_int(delay) > 60000 ? 60000 : demo_int(delay);
		struct timespec ts = { (time_t)(ms / 1000),
			(long)(ms % 1000) * 1000000L };

		wspool_log(NULL, WSPOOL_LOG_INFO, "record %s: waiting %lld ms",
		    ctx->key, (long long)ms);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* The key goes with the effect: a second run finds it and does
	 * nothing (at least once made exactly once, for the effect). */
	if (msgpack_pack_map(&pk, 4) == 0 &&
	    msgpack_pack_str_with_body(&pk, "tag", 3) == 0 &&
	    msgpack_pack_object(&pk, *tag) == 0 &&
	    msgpack_pack_str_with_body(&pk, "index", 5) == 0 &&
	    msgpack_pack_object(&pk, *index) == 0 &&
	    msgpack_pack_str_with_body(&pk, "reason", 6) == 0 &&
	    wspool_pack_reason(&pk, ctx->reason) == 0 &&
	    msgpack_pack_str_with_body(&pk, "key", 3) == 0 &&
	    msgpack_pack_str_with_body(&pk, ctx->key, strlen(ctx->key)) == 0 &&
	    demo_append_once(demo_log_path, &sb, ctx->key, &dup) == 0)
		rv = WSPOOL_OK;
	msgpack_sbuffer_destroy(&sb);
	if (dup)
		wspool_log(NULL, WSPOOL_LOG_INFO, "record %s: already written "
		    "by an earlier run: nothing to do", ctx->key);
	return rv;
}

/* The cleanup table, before the handlers that name its entries. */
enum { DEMO_RECORD };

static const struct wspool_cleanup demo_cleanups[] = {
	[DEMO_RECORD] = { .name = "record", .run = demo_record_cb },
};

/* Register one "record" cleanup; fail: NULL, "error" or "segv"; delay:
 * the cleanup waits this long (ms) before it records (0: not at all). */
static int
demo_defer_slow(wspool_call *call, const msgpack_object *tag, int64_t index,
    const msgpack_object *fail, int64_t delay)
{
	msgpack_packer *pk = wspool_defer_begin(call,
	    &demo_cleanups[DEMO_RECORD]);

	msgpack_pack_map(pk, 2u + (fail != NULL) + (delay > 0));
	msgpack_pack_str_with_body(pk, "tag", 3);
	msgpack_pack_object(pk, *tag);
	msgpack_pack_str_with_body(pk, "index", 5);
	msgpack_pack_int64(pk, index);
	if (fail != NULL) {
		msgpack_pack_str_with_body(pk, "fail", 4);
		msgpack_pack_object(pk, *fail);
	}
	if (delay > 0) {
		msgpack_pack_str_with_body(pk, "delay_ms", 8);
		msgpack_pack_int64(pk, delay);
	}
	if (wspool_defer_end(call) != WSPOOL_OK)
		return wspool_fail(call, 500, "Cannot register the cleanup");
	return WSPOOL_OK;
}

static int
demo_defer(wspool_call *call, const msgpack_object *tag, int64_t index,
    const msgpack_object *fail)
{
	return demo_defer_slow(call, tag, index, fail, 0);
}

/* ---- Routes ---------------------------------------------------------- */

static int
demo_echo(wspool_call *call, const msgpack_object_array *params)
{
	if (params->size == 0)
		return msgpack_pack_nil(wspool_result(call));
	return msgpack_pack_object(wspool_result(call), params->ptr[0]);
}

static int
demo_add(wspool_call *call, const msgpack_object_array *params)
{
	const msgpack_object *a = &params->ptr[0], *b = &params->ptr[1];
	msgpack_packer *pk = wspool_result(call);
	int64_t sum;

	/* Integers stay integers while they fit. */
	if ((a->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) &&
	    (b->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    b->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) &&
	    (a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
	    a->via.u64 <= INT64_MAX) &&
	    (b->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
	    b->via.u64 <= INT64_MAX) &&
	    !__builtin_add_overflow(a->via.i64, b->via.i64, &sum))
		return msgpack_pack_int64(pk, sum);
	return msgpack_pack_double(pk, (a->type == MSGPACK_OBJECT_FLOAT32 ||
	    a->type == MSGPACK_OBJECT_FLOAT64 ? a->via.f64 :
	    a->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)a->via.u64 :
	    (double)a->via.i64) +
	    (b->type == MSGPACK_OBJECT_FLOAT32 ||
	    b->type == MSGPACK_OBJECT_FLOAT64 ? b->via.f64 :
	    b->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)b->via.u64 :
	    (double)b->via.i64));
}

static int
demo_count(wspool_call *call, const msgpack_object_array *params)
{
	int64_t n = demo_int(&params->ptr[0]);
	int64_t interval = demo_int(&params->ptr[1]);
	const msgpack_object *tag = demo_param(params, 2);
	int rv;

	if (tag != NULL && (rv = demo_defer(call, tag, 0, NULL)) != WSPOOL_OK)
		return rv;
	for (int64_t i = 0; i < n; i++) {
		msgpack_packer *pk;

		if (i > 0 && interval > 0 &&
		    wspool_sleep(call, (uint64_t)interval) != WSPOOL_OK)
			return WSPOOL_CANCELLED;
		pk = wspool_yield_begin(call);
		msgpack_pack_map(pk, 2);
		msgpack_pack_str_with_body(pk, "count", 5);
		msgpack_pack_int64(pk, i);
		msgpack_pack_str_with_body(pk, "timestamp", 9);
		msgpack_pack_uint64(pk, wspool_now_ms());
		if ((rv = wspool_yield_end(call)) != WSPOOL_OK)
			return rv;
	}
	return WSPOOL_OK;
}

static int
demo_sparse(wspool_call *call, const msgpack_object_array *params)
{
	int64_t n = demo_int(&params->ptr[0]);
	int rv;

	for (int64_t i = 0; i < n; i++) {
		if (i % 2 == 0) {
			msgpack_pack_int64(wspool_yield_begin(call), i);
			rv = wspool_yield_end(call);
		} else {
			rv = wspool_yield_undefined(call);
		}
		if (rv != WSPOOL_OK)
			return rv;
	}
	return WSPOOL_OK;
}

static int
demo_fail(wspool_call *call, const msgpack_object_array *params)
{
	const msgpack_object *msg = &params->ptr[1];
	const msgpack_object *data = demo_param(params, 2);
	const msgpack_object *tag = demo_param(params, 3);
	int64_t code = demo_int(&params->ptr[0]);
	char *text;
	int rv;

	if (tag != NULL && (rv = demo_defer(call, tag, 0, NULL)) != WSPOOL_OK)
		return rv;
	/* msgpack-c leaves ptr NULL for "". */
	if ((text = strndup(msg->via.str.size ? msg->via.str.ptr : "",
	    msg->via.str.size)) == NULL)
		return WSPOOL_ERROR;
	wspool_fail(call, code < INT_MIN || code > INT_MAX ? 500 : (int)code,
	    text);
	free(text);
	if (data != NULL)
		msgpack_pack_object(wspool_fail_data(call), *data);
	return WSPOOL_ERROR;
}

/* Never reached; volatile, so the compiler cannot see the recursion as
 * endless (and warn) nor turn it into a loop. */
static volatile unsigned demo_stack_limit = UINT_MAX;

static int
demo_recurse(volatile char *prev, unsigned depth)
{
	volatile char frame[1024];

	if (depth == demo_stack_limit)
		return 0;
	frame[0] = (char)depth;
	frame[sizeof(frame) - 1] = prev != NULL ? prev[0] : 0;
	/* Not a tail call: the sum needs this frame after the return. */
	return demo_recurse(frame, depth + 1) + frame[sizeof(frame) / 2];
}

static int
demo_crash(wspool_call *call, const msgpack_object_array *params)
{
	const msgpack_object *how = &params->ptr[0];
	const msgpack_object *tag = demo_param(params, 1);
	const msgpack_object *delay = demo_param(params, 2);
	int rv;

	if (!demo_str_eq(how, "segv", 4) && !demo_str_eq(how, "abort", 5) &&
	    !demo_str_eq(how, "exit", 4) && !demo_str_eq(how, "oom", 3) &&
	    !demo_str_eq(how, "stack", 5) && !demo_str_eq(how, "hang", 4))
		return wspool_fail(call, 400, "Unknown crash");
	if (tag != NULL && (rv = demo_defer_slow(call, tag, 0, NULL,
	    delay != NULL ? demo_int(delay) : 0)) != WSPOOL_OK)
		return rv;
	if (demo_str_eq(how, "segv", 4)) {
		demo_segv();
	} else if (demo_str_eq(how, "abort", 5)) {
		abort();
	} else if (demo_str_eq(how, "exit", 4)) {
		_exit(3);
	} else if (demo_str_eq(how, "oom", 3)) {
		/*
		 * Allocate and touch 1 MiB at a time, keeping every block
		 * reachable so none of it can be optimised away. Under the
		 * worker's --memory limit (RLIMIT_AS) malloc returns NULL:
		 * abort() then, a clean SIGABRT the master can report,
		 * rather than writing through NULL. Without a limit the
		 * kernel's OOM killer ends the process (SIGKILL).
		 */
		static void *volatile hoard;

		for (;;) {
			void **block = malloc(1u << 20);

			if (block == NULL)
				abort();
			memset(block, 0xa5, 1u << 20);
			block[0] = hoard;
			hoard = block;
		}
	} else if (demo_str_eq(how, "stack", 5)) {
		return demo_recurse(NULL, 0);
	} else {
		/* Not cancellable on purpose: only the deadline ends it. */
		volatile unsigned long spin = 0;

		for (;;)
			spin++;
	}
	return WSPOOL_ERROR;
}

static int
demo_sleep(wspool_call *call, const msgpack_object_array *params)
{
	int64_t ms = demo_int(&params->ptr[0]);
	const msgpack_object *tag = demo_param(params, 1);
	int rv;

	if (tag != NULL && (rv = demo_defer(call, tag, 0, NULL)) != WSPOOL_OK)
		return rv;
	if (ms < 0)
		ms = 0;
	if (wspool_sleep(call, (uint64_t)ms) != WSPOOL_OK)
		return WSPOOL_CANCELLED;
	return msgpack_pack_int64(wspool_result(call), ms);
}

static int
demo_settle(wspool_call *call, const msgpack_object_array *params)
{
	const msgpack_object *tag = &params->ptr[0];
	int64_t n = demo_int(&params->ptr[1]);
	int64_t failing = demo_int(&params->ptr[2]);
	const msgpack_object *how = &params->ptr[3];
	int rv;

	if (!demo_str_eq(how, "error", 5) && !demo_str_eq(how, "segv", 4))
		return wspool_fail(call, 400, "how must be error or segv");
	if (n < 0 || n > DEMO_SETTLE_MAX)
		return wspool_fail(call, 400, "n out of range");
	for (int64_t i = 0; i < n; i++)
		if ((rv = demo_defer(call, tag, i, i == failing ? how : NULL))
		    != WSPOOL_OK)
			return rv;
	return msgpack_pack_str_with_body(wspool_result(call), "ok", 2);
}

static int
demo_note(wspool_call *call, const msgpack_object_array *params)
{
	const msgpack_object *tag = &params->ptr[0];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rv;

	if ((rv = demo_defer(call, tag, 0, NULL)) != WSPOOL_OK)
		return rv;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rv = WSPOOL_ERROR;
	if (msgpack_pack_map(&pk, 2) == 0 &&
	    msgpack_pack_str_with_body(&pk, "tag", 3) == 0 &&
	    msgpack_pack_object(&pk, *tag) == 0 &&
	    msgpack_pack_str_with_body(&pk, "value", 5) == 0 &&
	    msgpack_pack_object(&pk, params->ptr[1]) == 0 &&
	    demo_append(demo_notes_path, &sb) == 0)
		rv = WSPOOL_OK;
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

static int
demo_notes(wspool_call *call, const msgpack_object_array *params)
{
	if (demo_pack_records(wspool_result(call), demo_notes_path,
	    &params->ptr[0], "value") != 0)
		return wspool_fail(call, 500, "Cannot read the notes");
	return WSPOOL_OK;
}

static int
demo_cleanups_route(wspool_call *call, const msgpack_object_array *params)
{
	if (demo_pack_records(wspool_result(call), demo_log_path,
	    &params->ptr[0], NULL) != 0)
		return wspool_fail(call, 500, "Cannot read the cleanup log");
	return WSPOOL_OK;
}

static int
demo_whoami(wspool_call *call, const msgpack_object_array *params)
{
	msgpack_packer *pk = wspool_result(call);
	const char *id = wspool_conn_id(call), *ip = wspool_client_ip(call);
	size_t n = wspool_header_count(call);

	(void)params;
	msgpack_pack_map(pk, 4);
	msgpack_pack_str_with_body(pk, "id", 2);
	msgpack_pack_str_with_body(pk, id, strlen(id));
	msgpack_pack_str_with_body(pk, "ip", 2);
	msgpack_pack_str_with_body(pk, ip, strlen(ip));
	msgpack_pack_str_with_body(pk, "pid", 3);
	msgpack_pack_int64(pk, (int64_t)getpid());
	msgpack_pack_str_with_body(pk, "headers", 7);
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < n; i++) {
		const char *name = "", *value = "";

		wspool_header_at(call, i, &name, &value);
		msgpack_pack_str_with_body(pk, name, strlen(name));
		msgpack_pack_str_with_body(pk, value, strlen(value));
	}
	return WSPOOL_OK;
}

static int
demo_require_token(wspool_call *call)
{
	const char *auth = wspool_header(call, "authorization");

	if (auth == NULL || strcmp(auth, "Bearer demo-token") != 0)
		return wspool_fail(call, 401, "Unauthorized");
	return WSPOOL_OK;
}

static int
demo_secret(wspool_call *call, const msgpack_object_array *params)
{
	(void)params;
	return msgpack_pack_str_with_body(wspool_result(call), "granted", 7);
}

/* ---- Schemas and tables ---------------------------------------------- */

#define DEMO_SCHEMA(name, ...) \
	static const struct wspool_param name##_params[] = { __VA_ARGS__ }; \
	static const struct wspool_schema name##_schema = { \
		.params = name##_params, \
		.nparams = WSPOOL_ARRAY_LEN(name##_params) }
#define DEMO_P(n, t) { .name = (n), .type = (t) }
#define DEMO_OPT(n, t) \
	{ .name = (n), .type = (t), .optional = true, .nullable = true }
/* A string param that only takes a few values: its TypeScript type says
 * which (the handler checks them). */
#define DEMO_ONE_OF(n, ts) \
	{ .name = (n), .type = WSPOOL_T_STRING, .ts_type = (ts) }

DEMO_SCHEMA(echo, DEMO_OPT("value", WSPOOL_T_ANY));
DEMO_SCHEMA(add, DEMO_P("a", WSPOOL_T_NUMBER), DEMO_P("b", WSPOOL_T_NUMBER));
DEMO_SCHEMA(count, DEMO_P("n", WSPOOL_T_INTEGER),
    DEMO_P("interval_ms", WSPOOL_T_INTEGER), DEMO_OPT("tag", WSPOOL_T_STRING));
DEMO_SCHEMA(sparse, DEMO_P("n", WSPOOL_T_INTEGER));
DEMO_SCHEMA(fail, DEMO_P("code", WSPOOL_T_INTEGER),
    DEMO_P("message", WSPOOL_T_STRING), DEMO_OPT("data", WSPOOL_T_ANY),
    DEMO_OPT("tag", WSPOOL_T_STRING));
DEMO_SCHEMA(crash, DEMO_ONE_OF("how", "\"segv\" | \"abort\" | \"exit\" | "
    "\"oom\" | \"stack\" | \"hang\""),
    DEMO_OPT("tag", WSPOOL_T_STRING),
    DEMO_OPT("cleanup_ms", WSPOOL_T_INTEGER));
DEMO_SCHEMA(sleep, DEMO_P("ms", WSPOOL_T_INTEGER),
    DEMO_OPT("tag", WSPOOL_T_STRING));
DEMO_SCHEMA(settle, DEMO_P("tag", WSPOOL_T_STRING),
    DEMO_P("n", WSPOOL_T_INTEGER), DEMO_P("failing", WSPOOL_T_INTEGER),
    DEMO_ONE_OF("how", "\"error\" | \"segv\""));
DEMO_SCHEMA(note, DEMO_P("tag", WSPOOL_T_STRING),
    DEMO_P("value", WSPOOL_T_ANY));
DEMO_SCHEMA(tag, DEMO_P("tag", WSPOOL_T_STRING));
/* No params at all: an extra one is refused. */
static const struct wspool_schema demo_no_params = { .nparams = 0 };

static const wspool_middleware_fn demo_secret_mw[] = {
	demo_require_token,
	NULL,
};

#define DEMO_ROUTE(p, n, fn, s, ...) { .protocol = WSPOOL_WS, \
	.pattern = (p), .name = (n), .handler = (fn), .schema = (s), \
	__VA_ARGS__ }

/* Result types, for generated client definitions (--emit-routes ts). */
#define DEMO_REASON "{kind: string, code?: number, message?: string, " \
	"signal?: string, status?: number, " \
	"worker?: {pid: number, host: string}} | null"

static const struct wspool_route demo_routes[] = {
	DEMO_ROUTE(WSPOOL_REQUEST, "echo", demo_echo, &echo_schema,
	    .idempotent = true, .result_type = "unknown"),
	DEMO_ROUTE(WSPOOL_REQUEST, "add", demo_add, &add_schema,
	    .idempotent = true, .result_type = "number"),
	DEMO_ROUTE(WSPOOL_SUBSCRIPTION, "count", demo_count, &count_schema,
	    .result_type = "{count: number, timestamp: number}"),
	DEMO_ROUTE(WSPOOL_SUBSCRIPTION, "sparse", demo_sparse,
	    &sparse_schema, .result_type = "number | undefined"),
	DEMO_ROUTE(WSPOOL_REQUEST, "fail", demo_fail, &fail_schema,
	    .result_type = "never"),
	DEMO_ROUTE(WSPOOL_REQUEST, "crash", demo_crash, &crash_schema,
	    .result_type = "never"),
	DEMO_ROUTE(WSPOOL_REQUEST, "sleep", demo_sleep, &sleep_schema,
	    .result_type = "number"),
	DEMO_ROUTE(WSPOOL_REQUEST, "settle", demo_settle, &settle_schema,
	    .result_type = "\"ok\""),
	DEMO_ROUTE(WSPOOL_NOTIFICATION, "note", demo_note, &note_schema),
	DEMO_ROUTE(WSPOOL_REQUEST, "notes", demo_notes, &tag_schema,
	    .idempotent = true, .result_type = "unknown[]"),
	DEMO_ROUTE(WSPOOL_REQUEST, "cleanups", demo_cleanups_route,
	    &tag_schema, .idempotent = true,
	    .result_type = "{tag: string, index: number, reason: "
	    DEMO_REASON "}[]"),
	DEMO_ROUTE(WSPOOL_REQUEST, "whoami", demo_whoami, &demo_no_params,
	    .idempotent = true, .result_type = "{id: string, ip: string, "
	    "pid: number, headers: Record<string, string>}"),
	DEMO_ROUTE(WSPOOL_REQUEST, "secret", demo_secret, &demo_no_params,
	    .middlewares = demo_secret_mw, .idempotent = true,
	    .result_type = "\"granted\""),
};

WSPOOL_MODULE(
	.name = "demo",
	.routes = demo_routes,
	.nroutes = WSPOOL_ARRAY_LEN(demo_routes),
	.cleanups = demo_cleanups,
	.ncleanups = WSPOOL_ARRAY_LEN(demo_cleanups),
	.init = demo_init,
);
