/*
 * reason.c: why a call ended, as one msgpack value (its wire form) and as
 * struct wspool_reason, plus the public wspool_reason_name/_pack_reason.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <wspool.h>

#include "proto/proto.h"

static const char *const reason_names[] = {
	[WSPOOL_REASON_NONE] = "null",
	[WSPOOL_REASON_ERROR] = "error",
	[WSPOOL_REASON_CANCELLED] = "cancelled",
	[WSPOOL_REASON_DISCONNECTED] = "disconnected",
	[WSPOOL_REASON_TIMEOUT] = "timeout",
	[WSPOOL_REASON_CRASHED] = "crashed",
	[WSPOOL_REASON_LOST] = "lost",
	[WSPOOL_REASON_SHUTDOWN] = "shutdown",
};

#define REASON_NKINDS (sizeof(reason_names) / sizeof(reason_names[0]))

const char *
wspool_reason_name(enum wspool_reason_kind kind)
{
	if ((unsigned)kind >= REASON_NKINDS)
		return "?";
	return reason_names[kind];
}

/* ---- Packing ------------------------------------------------------------------- */

static int
reason_pack_str(msgpack_packer *pk, const char *s)
{
	size_t len = s == NULL ? 0 : strlen(s);
	int rv;

	if ((rv = msgpack_pack_str(pk, len)) != 0 || len == 0)
		return rv;
	return msgpack_pack_str_body(pk, s, len);
}

int
proto_pack_reason(msgpack_packer *pk, const struct wspool_reason *r)
{
	size_t n = 1;
	int rv;

	if (r == NULL || r->kind == WSPOOL_REASON_NONE)
		return msgpack_pack_nil(pk);
	/* Refuse before packing anything, so the caller's buffer holds no
	 * half-written value. */
	if ((unsigned)r->kind >= REASON_NKINDS || r->worker_pid < 0)
		return -1;
	switch (r->kind) {
	case WSPOOL_REASON_ERROR:
		n += 2;
		break;
	case WSPOOL_REASON_CRASHED:
		n += r->signal != NULL || r->status >= 0 ? 2 : 1;
		break;
	case WSPOOL_REASON_LOST:
		n += 1;
		break;
	default:
		break;
	}
	if ((rv = msgpack_pack_map(pk, n)) != 0 ||
	    (rv = reason_pack_str(pk, "kind")) != 0 ||
	    (rv = reason_pack_str(pk, reason_names[r->kind])) != 0)
		goto fail;
	if (r->kind == WSPOOL_REASON_ERROR) {
		if ((rv = reason_pack_str(pk, "code")) != 0 ||
		    (rv = msgpack_pack_int(pk, r->code)) != 0 ||
		    (rv = reason_pack_str(pk, "message")) != 0 ||
		    (rv = reason_pack_str(pk, r->message)) != 0)
			goto fail;
	}
	if (r->kind == WSPOOL_REASON_CRASHED) {
		/* A signal name wins over a status: a process killed by a
		 * signal has no exit status. */
		if (r->signal != NULL) {
			if ((rv = reason_pack_str(pk, "signal")) != 0 ||
			    (rv = reason_pack_str(pk, r->signal)) != 0)
				goto fail;
		} else if (r->status >= 0) {
			if ((rv = reason_pack_str(pk, "status")) != 0 ||
			    (rv = msgpack_pack_int(pk, r->status)) != 0)
				goto fail;
		}
	}
	if (r->kind == WSPOOL_REASON_CRASHED || r->kind == WSPOOL_REASON_LOST) {
		if ((rv = reason_pack_str(pk, "worker")) != 0 ||
		    (rv = msgpack_pack_map(pk, 2)) != 0 ||
		    (rv = reason_pack_str(pk, "pid")) != 0 ||
		    (rv = msgpack_pack_int64(pk, r->worker_pid)) != 0 ||
		    (rv = reason_pack_str(pk, "host")) != 0 ||
		    (rv = reason_pack_str(pk, r->worker_host)) != 0)
			goto fail;
	}
	return 0;
fail:
	return rv;
}

int
wspool_pack_reason(msgpack_packer *pk, const struct wspool_reason *r)
{
	return proto_pack_reason(pk, r) == 0 ? 0 : -1;
}

/* ---- Unpacking ------------------------------------------------------------------ */

/* The keys a reason map may hold: index into reason_keys, and a bit. */
enum reason_key_index {
	RI_KIND, RI_CODE, RI_MESSAGE, RI_SIGNAL, RI_STATUS, RI_WORKER,
};
#define RK(i) (1u << (i))

static const char *const reason_keys[] = {
	[RI_KIND] = "kind",
	[RI_CODE] = "code",
	[RI_MESSAGE] = "message",
	[RI_SIGNAL] = "signal",
	[RI_STATUS] = "status",
	[RI_WORKER] = "worker",
};

#define REASON_NKEYS (sizeof(reason_keys) / sizeof(reason_keys[0]))

static int
reason_str_is(const msgpack_object *o, const char *s)
{
	size_t len = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
	    memcmp(o->via.str.ptr, s, len) == 0;
}

/* A NUL-terminated copy of a str object, taken from the caller's buffer. */
struct reason_buf {
	char *ptr;
	size_t left;
};

static int
reason_copy(const msgpack_object *o, struct reason_buf *b, const char **out)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return -1;
	/* An embedded NUL would silently shorten the C string. */
	if (o->via.str.size > 0 && memchr(o->via.str.ptr, 0, o->via.str.size))
		return -1;
	if (b->left < (size_t)o->via.str.size + 1)
		return -1;
	if (o->via.str.size > 0)
		memcpy(b->ptr, o->via.str.ptr, o->via.str.size);
	b->ptr[o->via.str.size] = '\0';
	*out = b->ptr;
	b->ptr += o->via.str.size + 1;
	b->left -= (size_t)o->via.str.size + 1;
	return 0;
}

static int
reason_worker(const msgpack_object *o, struct wspool_reason *r,
    struct reason_buf *b)
{
	const msgpack_object *pid = NULL, *host = NULL;
	const msgpack_object_kv *kv;
	uint32_t i;

	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 2)
		return -1;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (reason_str_is(&kv->key, "pid") && pid == NULL)
			pid = &kv->val;
		else if (reason_str_is(&kv->key, "host") && host == NULL)
			host = &kv->val;
		else
			return -1;
	}
	if (pid->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    pid->via.u64 > INT64_MAX)
		return -1;
	r->worker_pid = (int64_t)pid->via.u64;
	return reason_copy(host, b, &r->worker_host);
}

/* Fill r from the values found under each key. */
static int
reason_fill(const msgpack_object *const vals[REASON_NKEYS], unsigned seen,
    struct wspool_reason *r, struct reason_buf *b)
{
	const msgpack_object *v;
	unsigned allowed = RK(RI_KIND), required = RK(RI_KIND);
	size_t k;

	v = vals[RI_KIND];
	for (k = 1; k < REASON_NKINDS; k++)
		if (reason_str_is(v, reason_names[k]))
			break;
	if (k == REASON_NKINDS)
		return -1;
	r->kind = (enum wspool_reason_kind)k;
	switch (r->kind) {
	case WSPOOL_REASON_ERROR:
		allowed |= RK(RI_CODE) | RK(RI_MESSAGE);
		required |= RK(RI_CODE) | RK(RI_MESSAGE);
		break;
	case WSPOOL_REASON_CRASHED:
		allowed |= RK(RI_SIGNAL) | RK(RI_STATUS) | RK(RI_WORKER);
		required |= RK(RI_WORKER);
		break;
	case WSPOOL_REASON_LOST:
		allowed |= RK(RI_WORKER);
		required |= RK(RI_WORKER);
		break;
	default:
		break;
	}
	if ((seen & ~allowed) != 0 || (seen & required) != required ||
	    (seen & (RK(RI_SIGNAL) | RK(RI_STATUS))) == (RK(RI_SIGNAL) | RK(RI_STATUS)))
		return -1;

	if ((v = vals[RI_CODE]) != NULL) {
		if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    v->via.u64 <= INT_MAX)
			r->code = (int)v->via.u64;
		else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
		    v->via.i64 >= INT_MIN)
			r->code = (int)v->via.i64;
		else
			return -1;
	}
	if (vals[RI_MESSAGE] != NULL && reason_copy(vals[RI_MESSAGE], b, &r->message) != 0)
		return -1;
	if (vals[RI_SIGNAL] != NULL && reason_copy(vals[RI_SIGNAL], b, &r->signal) != 0)
		return -1;
	if ((v = vals[RI_STATUS]) != NULL) {
		if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    v->via.u64 > INT_MAX)
			return -1;
		r->status = (int)v->via.u64;
	}
	if (vals[RI_WORKER] != NULL && reason_worker(vals[RI_WORKER], r, b) != 0)
		return -1;
	return 0;
}

int
proto_unpack_reason(const msgpack_object *o, struct wspool_reason *r,
    char *buf, size_t bufsz)
{
	const msgpack_object *vals[REASON_NKEYS] = { NULL };
	struct reason_buf b = { buf, buf == NULL ? 0 : bufsz };
	const msgpack_object_kv *kv;
	unsigned seen = 0;
	uint32_t i;
	size_t k;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_MAP)
		goto fail;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		for (k = 0; k < REASON_NKEYS; k++)
			if (reason_str_is(&kv->key, reason_keys[k]))
				break;
		if (k == REASON_NKEYS || (seen & RK(k)) != 0)
			goto fail;
		seen |= RK(k);
		vals[k] = &kv->val;
	}
	if ((seen & RK(RI_KIND)) == 0 || reason_fill(vals, seen, r, &b) != 0)
		goto fail;
	return 0;
fail:
	memset(r, 0, sizeof(*r));
	r->status = -1;
	return -1;
}
