/*
 * write.c: the master<->worker codec, writing: envelopes packed in place
 * through the caller's write callback, limits checked before anything is
 * packed. (Reading is proto.c.)
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"

/* ---- Writing ------------------------------------------------------------------ */

/*
 * Each helper packs only while the batch is sound and records the first
 * failure in w->error, so a put is a straight list of fields followed by
 * proto_put_close(). Nothing is allocated, so there is nothing to free on
 * the way out.
 */

static void
proto_w_uint(struct proto_writer *w, uint64_t v)
{
	if (w->error == 0)
		w->error = msgpack_pack_uint64(&w->pk, v);
}

static void
proto_w_int(struct proto_writer *w, int64_t v)
{
	if (w->error == 0)
		w->error = msgpack_pack_int64(&w->pk, v);
}

static void
proto_w_str(struct proto_writer *w, const char *s, size_t len)
{
	if (w->error == 0)
		w->error = msgpack_pack_str(&w->pk, len);
	/* Skip empty bodies: a NULL source must never reach memcpy. */
	if (w->error == 0 && len > 0)
		w->error = msgpack_pack_str_body(&w->pk, s, len);
}

static void
proto_w_bin(struct proto_writer *w, const void *v, size_t len)
{
	if (w->error == 0)
		w->error = msgpack_pack_bin(&w->pk, len);
	if (w->error == 0 && len > 0)
		w->error = msgpack_pack_bin_body(&w->pk, v, len);
}

static void
proto_w_nil(struct proto_writer *w)
{
	if (w->error == 0)
		w->error = msgpack_pack_nil(&w->pk);
}

/* Start an envelope of type and n elements after the type. */
static int
proto_put_open(struct proto_writer *w, enum proto_type type, size_t n)
{
	if (w->error == 0)
		w->error = msgpack_pack_array(&w->pk, n + 1);
	proto_w_uint(w, (uint64_t)type);
	return w->error;
}

static int
proto_put_close(struct proto_writer *w)
{
	if (w->error == 0)
		w->count++;
	return w->error;
}

/* Length of an identifier string, or SIZE_MAX if it is over the limit. */
static size_t
proto_id_len(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, PROTO_MAX_STR + 1);
	return n > PROTO_MAX_STR ? SIZE_MAX : n;
}

/* Length of a human-readable text, cut to the limit on a UTF-8 boundary. */
static size_t
proto_text_len(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	if ((n = strnlen(s, PROTO_MAX_STR + 1)) <= PROTO_MAX_STR)
		return n;
	/* s[n] is the first byte left out: back off if it continues a
	 * character that started before it. */
	n = PROTO_MAX_STR;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

int
proto_writer_init(struct proto_writer *w, void *data,
    msgpack_packer_write write)
{
	msgpack_packer_init(&w->pk, data, write);
	w->count = 0;
	w->error = 0;
	w->reserve = NULL;
	proto_w_uint(w, PROTO_VERSION);
	return w->error;
}

void
proto_writer_direct(struct proto_writer *w,
    void *(*reserve)(void *data, size_t n))
{
	w->reserve = reserve;
}

/* ---- Direct encoding --------------------------------------------------------
 * The envelopes of every call are encoded in one piece: their size first,
 * then the bytes, the same ones msgpack-c's packer would write (the
 * smallest encoding of each integer and length). */

static size_t
proto_d_uint_size(uint64_t v)
{
	return v < 128 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 :
	    v <= 0xffffffffu ? 5 : 9;
}

static unsigned char *
proto_d_be(unsigned char *d, uint64_t v, unsigned k)
{
	for (unsigned i = k; i-- > 0; v >>= 8)
		d[i] = (unsigned char)v;
	return d + k;
}

static unsigned char *
proto_d_uint(unsigned char *d, uint64_t v)
{
	if (v < 128) {
		*d++ = (unsigned char)v;
		return d;
	}
	if (v <= 0xff) {
		*d++ = 0xcc;
		return proto_d_be(d, v, 1);
	}
	if (v <= 0xffff) {
		*d++ = 0xcd;
		return proto_d_be(d, v, 2);
	}
	if (v <= 0xffffffffu) {
		*d++ = 0xce;
		return proto_d_be(d, v, 4);
	}
	*d++ = 0xcf;
	return proto_d_be(d, v, 8);
}

static size_t
proto_d_int_size(int64_t v)
{
	if (v >= 0)
		return proto_d_uint_size((uint64_t)v);
	return v >= -32 ? 1 : v >= INT8_MIN ? 2 : v >= INT16_MIN ? 3 :
	    v >= INT32_MIN ? 5 : 9;
}

static unsigned char *
proto_d_int(unsigned char *d, int64_t v)
{
	if (v >= 0)
		return proto_d_uint(d, (uint64_t)v);
	if (v >= -32) {
		*d++ = (unsigned char)(v & 0xff);
		return d;
	}
	if (v >= INT8_MIN) {
		*d++ = 0xd0;
		return proto_d_be(d, (uint64_t)v, 1);
	}
	if (v >= INT16_MIN) {
		*d++ = 0xd1;
		return proto_d_be(d, (uint64_t)v, 2);
	}
	if (v >= INT32_MIN) {
		*d++ = 0xd2;
		return proto_d_be(d, (uint64_t)v, 4);
	}
	*d++ = 0xd3;
	return proto_d_be(d, (uint64_t)v, 8);
}

/* A str (bin false) or bin of n bytes: header then body. */
static size_t
proto_d_raw_size(size_t n, bool bin)
{
	if (!bin && n < 32)
		return 1 + n;
	return (n <= 0xff ? 2 : n <= 0xffff ? 3 : 5) + n;
}

static unsigned char *
proto_d_raw(unsigned char *d, const void *p, size_t n, bool bin)
{
	if (!bin && n < 32) {
		*d++ = (unsigned char)(0xa0 | n);
	} else if (n <= 0xff) {
		*d++ = bin ? 0xc4 : 0xd9;
		d = proto_d_be(d, n, 1);
	} else if (n <= 0xffff) {
		*d++ = bin ? 0xc5 : 0xda;
		d = proto_d_be(d, n, 2);
	} else {
		*d++ = bin ? 0xc6 : 0xdb;
		d = proto_d_be(d, n, 4);
	}
	if (n > 0)
		memcpy(d, p, n);
	return d + n;
}

/* Room for size bytes through the sink, or NULL (error set). */
static unsigned char *
proto_d_reserve(struct proto_writer *w, size_t size)
{
	unsigned char *d = w->reserve(w->pk.data, size);

	if (d == NULL)
		w->error = -1;
	return d;
}

int
proto_put_call(struct proto_writer *w, uint64_t call_id, uint64_t conn_id,
    const char *route, size_t route_len, const void *params, size_t params_len,
    const char *id, size_t id_len, uint64_t flags)
{
	if (w->error != 0)
		return w->error;
	if (route_len > PROTO_MAX_STR || params_len > PROTO_MAX_MSG ||
	    id_len > PROTO_MAX_STR)
		return -1;
	if (w->reserve != NULL) {
		unsigned char *d;
		size_t size = 2 + proto_d_uint_size(call_id) +
		    proto_d_uint_size(conn_id) + proto_d_raw_size(route_len, false) +
		    proto_d_raw_size(params_len, true) +
		    (id == NULL ? 1 : proto_d_raw_size(id_len, false)) +
		    proto_d_uint_size(flags);

		if ((d = proto_d_reserve(w, size)) == NULL)
			return w->error;
		*d++ = 0x97;
		*d++ = PROTO_CALL;
		d = proto_d_uint(d, call_id);
		d = proto_d_uint(d, conn_id);
		d = proto_d_raw(d, route, route_len, false);
		d = proto_d_raw(d, params, params_len, true);
		if (id == NULL)
			*d++ = 0xc0;
		else
			d = proto_d_raw(d, id, id_len, false);
		proto_d_uint(d, flags);
		return proto_put_close(w);
	}
	proto_put_open(w, PROTO_CALL, 6);
	proto_w_uint(w, call_id);
	proto_w_uint(w, conn_id);
	proto_w_str(w, route, route_len);
	proto_w_bin(w, params, params_len);
	if (id == NULL)
		proto_w_nil(w);
	else
		proto_w_str(w, id, id_len);
	proto_w_uint(w, flags);
	return proto_put_close(w);
}

int
proto_put_cancel(struct proto_writer *w, uint64_t call_id,
    const void *reason, size_t reason_len)
{
	if (w->error != 0)
		return w->error;
	if (reason_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_CANCEL, 2);
	proto_w_uint(w, call_id);
	proto_w_bin(w, reason, reason_len);
	return proto_put_close(w);
}

int
proto_put_conn_open(struct proto_writer *w, uint64_t conn_id,
    const char *uuid, const char *ip, const char *const *names,
    const char *const *values, size_t n)
{
	size_t uuid_len = proto_id_len(uuid), ip_len = proto_id_len(ip);
	size_t i;

	if (w->error != 0)
		return w->error;
	if (uuid_len == SIZE_MAX || ip_len == SIZE_MAX || n > UINT32_MAX)
		return -1;
	/* Check every header before packing, so a refusal leaves the batch
	 * as it was. */
	for (i = 0; i < n; i++)
		if (proto_id_len(names[i]) == SIZE_MAX ||
		    proto_id_len(values[i]) == SIZE_MAX)
			return -1;
	proto_put_open(w, PROTO_CONN_OPEN, 4);
	proto_w_uint(w, conn_id);
	proto_w_str(w, uuid, uuid_len);
	proto_w_str(w, ip, ip_len);
	if (w->error == 0)
		w->error = msgpack_pack_map(&w->pk, n);
	for (i = 0; i < n && w->error == 0; i++) {
		proto_w_str(w, names[i], proto_id_len(names[i]));
		proto_w_str(w, values[i], proto_id_len(values[i]));
	}
	return proto_put_close(w);
}

int
proto_put_conn_close(struct proto_writer *w, uint64_t conn_id)
{
	proto_put_open(w, PROTO_CONN_CLOSE, 1);
	proto_w_uint(w, conn_id);
	return proto_put_close(w);
}

int
proto_put_defer_ack(struct proto_writer *w, uint64_t call_id, uint64_t seq)
{
	proto_put_open(w, PROTO_DEFER_ACK, 2);
	proto_w_uint(w, call_id);
	proto_w_uint(w, seq);
	return proto_put_close(w);
}

int
proto_put_credit(struct proto_writer *w, uint64_t call_id, uint64_t bytes)
{
	proto_put_open(w, PROTO_CREDIT, 2);
	proto_w_uint(w, call_id);
	proto_w_uint(w, bytes);
	return proto_put_close(w);
}

int
proto_put_cleanup(struct proto_writer *w, uint64_t cleanup_id,
    uint64_t call_id, uint64_t seq, uint64_t attempt, const char *route,
    const char *name, const void *arg, size_t arg_len,
    const void *reason, size_t reason_len)
{
	size_t route_len = proto_id_len(route), name_len = proto_id_len(name);

	if (w->error != 0)
		return w->error;
	if (route_len == SIZE_MAX || name_len == SIZE_MAX ||
	    arg_len > PROTO_MAX_MSG || reason_len > PROTO_MAX_MSG ||
	    attempt == 0 || attempt > INT_MAX)
		return -1;
	proto_put_open(w, PROTO_CLEANUP, 8);
	proto_w_uint(w, cleanup_id);
	proto_w_uint(w, call_id);
	proto_w_uint(w, seq);
	proto_w_uint(w, attempt);
	proto_w_str(w, route, route_len);
	proto_w_str(w, name, name_len);
	proto_w_bin(w, arg, arg_len);
	proto_w_bin(w, reason, reason_len);
	return proto_put_close(w);
}

int
proto_put_drain(struct proto_writer *w)
{
	proto_put_open(w, PROTO_DRAIN, 0);
	return proto_put_close(w);
}

int
proto_put_ready(struct proto_writer *w, int64_t pid, const char *host,
    const char *module, const struct proto_route_info *routes, size_t nroutes,
    const char *const *cleanups, size_t ncleanups, uint64_t threads,
    uint64_t waiting)
{
	size_t host_len = proto_id_len(host), module_len = proto_id_len(module);
	size_t i;

	if (w->error != 0)
		return w->error;
	if (pid < 0 || host_len == SIZE_MAX || module_len == SIZE_MAX ||
	    nroutes > UINT32_MAX || ncleanups > UINT32_MAX)
		return -1;
	for (i = 0; i < nroutes; i++)
		if (proto_id_len(routes[i].name) == SIZE_MAX ||
		    routes[i].pattern < 0)
			return -1;
	for (i = 0; i < ncleanups; i++)
		if (proto_id_len(cleanups[i]) == SIZE_MAX)
			return -1;
	proto_put_open(w, PROTO_READY, 7);
	proto_w_int(w, pid);
	proto_w_str(w, host, host_len);
	proto_w_str(w, module, module_len);
	if (w->error == 0)
		w->error = msgpack_pack_array(&w->pk, nroutes);
	for (i = 0; i < nroutes && w->error == 0; i++) {
		w->error = msgpack_pack_array(&w->pk, 4);
		proto_w_str(w, routes[i].name, proto_id_len(routes[i].name));
		proto_w_uint(w, (uint64_t)routes[i].pattern);
		proto_w_uint(w, routes[i].timeout_ms);
		proto_w_uint(w, routes[i].flags);
	}
	if (w->error == 0)
		w->error = msgpack_pack_array(&w->pk, ncleanups);
	for (i = 0; i < ncleanups && w->error == 0; i++)
		proto_w_str(w, cleanups[i], proto_id_len(cleanups[i]));
	proto_w_uint(w, threads);
	proto_w_uint(w, waiting);
	return proto_put_close(w);
}

int
proto_put_result(struct proto_writer *w, uint64_t call_id,
    const void *value, size_t value_len)
{
	if (w->error != 0)
		return w->error;
	if (value_len > PROTO_MAX_MSG)
		return -1;
	if (w->reserve != NULL) {
		unsigned char *d = proto_d_reserve(w, 2 +
		    proto_d_uint_size(call_id) + proto_d_raw_size(value_len, true));

		if (d == NULL)
			return w->error;
		*d++ = 0x93;
		*d++ = PROTO_RESULT;
		d = proto_d_uint(d, call_id);
		proto_d_raw(d, value, value_len, true);
		return proto_put_close(w);
	}
	proto_put_open(w, PROTO_RESULT, 2);
	proto_w_uint(w, call_id);
	proto_w_bin(w, value, value_len);
	return proto_put_close(w);
}

int
proto_put_chunk(struct proto_writer *w, uint64_t call_id,
    const void *value, size_t value_len)
{
	if (w->error != 0)
		return w->error;
	if (value != NULL && value_len > PROTO_MAX_MSG)
		return -1;
	if (w->reserve != NULL) {
		unsigned char *d = proto_d_reserve(w, 2 +
		    proto_d_uint_size(call_id) +
		    (value == NULL ? 1 : proto_d_raw_size(value_len, true)));

		if (d == NULL)
			return w->error;
		*d++ = 0x93;
		*d++ = PROTO_CHUNK;
		d = proto_d_uint(d, call_id);
		if (value == NULL)
			*d = 0xc0;
		else
			proto_d_raw(d, value, value_len, true);
		return proto_put_close(w);
	}
	proto_put_open(w, PROTO_CHUNK, 2);
	proto_w_uint(w, call_id);
	if (value == NULL)
		proto_w_nil(w);
	else
		proto_w_bin(w, value, value_len);
	return proto_put_close(w);
}

int
proto_put_end(struct proto_writer *w, uint64_t call_id)
{
	proto_put_open(w, PROTO_END, 1);
	proto_w_uint(w, call_id);
	return proto_put_close(w);
}

int
proto_put_error(struct proto_writer *w, uint64_t call_id, int code,
    const char *message, const void *data, size_t data_len)
{
	size_t message_len = proto_text_len(message);

	if (w->error != 0)
		return w->error;
	if (data != NULL && data_len > PROTO_MAX_MSG)
		return -1;
	if (w->reserve != NULL) {
		unsigned char *d = proto_d_reserve(w, 2 +
		    proto_d_uint_size(call_id) + proto_d_int_size(code) +
		    proto_d_raw_size(message_len, false) +
		    (data == NULL ? 1 : proto_d_raw_size(data_len, true)));

		if (d == NULL)
			return w->error;
		*d++ = 0x95;
		*d++ = PROTO_ERROR;
		d = proto_d_uint(d, call_id);
		d = proto_d_int(d, code);
		d = proto_d_raw(d, message, message_len, false);
		if (data == NULL)
			*d = 0xc0;
		else
			proto_d_raw(d, data, data_len, true);
		return proto_put_close(w);
	}
	proto_put_open(w, PROTO_ERROR, 4);
	proto_w_uint(w, call_id);
	proto_w_int(w, code);
	proto_w_str(w, message, message_len);
	if (data == NULL)
		proto_w_nil(w);
	else
		proto_w_bin(w, data, data_len);
	return proto_put_close(w);
}

int
proto_put_defer(struct proto_writer *w, uint64_t call_id, uint64_t seq,
    const char *name, const void *arg, size_t arg_len)
{
	size_t name_len = proto_id_len(name);

	if (w->error != 0)
		return w->error;
	if (name_len == SIZE_MAX || arg_len > PROTO_MAX_MSG)
		return -1;
	proto_put_open(w, PROTO_DEFER, 4);
	proto_w_uint(w, call_id);
	proto_w_uint(w, seq);
	proto_w_str(w, name, name_len);
	proto_w_bin(w, arg, arg_len);
	return proto_put_close(w);
}

int
proto_put_cleanup_done(struct proto_writer *w, uint64_t id, uint64_t seq,
    int ok, const char *message)
{
	size_t message_len = proto_text_len(message);

	proto_put_open(w, PROTO_CLEANUP_DONE, 4);
	proto_w_uint(w, id);
	proto_w_uint(w, seq);
	if (w->error == 0)
		w->error = ok ? msgpack_pack_true(&w->pk) :
		    msgpack_pack_false(&w->pk);
	proto_w_str(w, message, message_len);
	return proto_put_close(w);
}

int
proto_put_log(struct proto_writer *w, uint64_t call_id, int level,
    const char *text)
{
	size_t text_len = proto_text_len(text);

	proto_put_open(w, PROTO_LOG, 3);
	proto_w_uint(w, call_id);
	proto_w_int(w, level);
	proto_w_str(w, text, text_len);
	return proto_put_close(w);
}

int
proto_put_hello(struct proto_writer *w, int64_t pid, const char *host,
    const char *digest)
{
	size_t host_len = proto_id_len(host), digest_len = proto_id_len(digest);

	if (w->error != 0)
		return w->error;
	if (pid < 0 || host_len == SIZE_MAX || digest_len == SIZE_MAX)
		return -1;
	proto_put_open(w, PROTO_HELLO, 3);
	proto_w_int(w, pid);
	proto_w_str(w, host, host_len);
	proto_w_str(w, digest, digest_len);
	return proto_put_close(w);
}

int
proto_put_welcome(struct proto_writer *w, const char *address,
    const char *node, uint64_t timeout_ms)
{
	size_t address_len = proto_id_len(address), node_len = proto_id_len(node);

	if (w->error != 0)
		return w->error;
	if (address_len == SIZE_MAX || node_len == SIZE_MAX ||
	    timeout_ms > INT64_MAX)
		return -1;
	proto_put_open(w, PROTO_WELCOME, 3);
	proto_w_str(w, address, address_len);
	proto_w_str(w, node, node_len);
	proto_w_uint(w, timeout_ms);
	return proto_put_close(w);
}

int
proto_put_refuse(struct proto_writer *w, const char *reason)
{
	proto_put_open(w, PROTO_REFUSE, 1);
	proto_w_str(w, reason, proto_text_len(reason));
	return proto_put_close(w);
}

int
proto_put_heartbeat(struct proto_writer *w)
{
	proto_put_open(w, PROTO_HEARTBEAT, 0);
	return proto_put_close(w);
}
