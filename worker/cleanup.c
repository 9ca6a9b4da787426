/*
 * cleanup.c: running named cleanups: the ones the master hands over
 * (PROTO_CLEANUP, orphaned by a dead worker) and the common runner that
 * call.c also uses for a call's own deferred cleanups.
 *
 * Design notes (cleanup journal, worker side): the master journals every
 * wspool_defer before acknowledging it and forgets it on CLEANUP_DONE.
 * Whoever runs a cleanup reports it, ok or not; a cleanup that crashes
 * its worker is never reported, so the master hands it on (bounded).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "worker/worker.h"

struct cleanup_job {
	struct job cj_job;          /* first: the pool runs it */
	uint64_t cj_id;
	uint64_t cj_call_id;        /* with cj_seq: the cleanup's stable name */
	uint64_t cj_seq;
	unsigned cj_attempt;
	const char *cj_name;        /* NUL-terminated, in cj_bytes */
	const char *cj_route;
	const char *cj_arg;         /* packed value, or NULL for nil */
	size_t cj_arg_len;
	const char *cj_reason;      /* packed reason */
	size_t cj_reason_len;
	char cj_bytes[];
};

int
cleanup_reason_unpack(const void *buf, size_t len, msgpack_zone *zone,
    struct wspool_reason *r)
{
	struct proto_bytes b = { buf, len };
	msgpack_object o;
	char *strings;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	/* The packed size bounds the strings' size (see proto.h). */
	if (proto_unpack_value(&b, zone, &o) != 0 ||
	    (strings = msgpack_zone_malloc(zone, len)) == NULL)
		return -1;
	return proto_unpack_reason(&o, r, strings, len);
}

int
cleanup_run(const struct wspool_cleanup *cl,
    const struct wspool_reason *reason, const msgpack_object *arg,
    const char **message)
{
	int rv = cl->fn(reason, arg);

	if (rv == WSPOOL_OK) {
		*message = "";
		return WSPOOL_OK;
	}
	*message = "cleanup failed";
	return WSPOOL_ERROR;
}

static void
cleanup_job_cb(struct job *j)
{
	struct cleanup_job *cj = (struct cleanup_job *)j;
	const struct wspool_cleanup *cl;
	const char *message = "";
	struct wspool_reason reason;
	struct proto_writer *w;
	msgpack_object arg = { .type = MSGPACK_OBJECT_NIL };
	msgpack_zone zone;
	bool zone_ok;
	int ok = 0;

	if (!(zone_ok = msgpack_zone_init(&zone, 1024))) {
		message = "out of memory";
		goto done;
	}
	if ((cl = module_cleanup(cj->cj_name, strlen(cj->cj_name))) == NULL) {
		message = "unknown cleanup";
		goto done;
	}
	if (cj->cj_arg != NULL) {
		struct proto_bytes b = { cj->cj_arg, cj->cj_arg_len };

		if (proto_unpack_value(&b, &zone, &arg) != 0) {
			message = "cleanup argument unreadable";
			goto done;
		}
	}
	if (cleanup_reason_unpack(cj->cj_reason, cj->cj_reason_len, &zone,
	    &reason) != 0) {
		message = "cleanup reason unreadable";
		goto done;
	}
	ok = cleanup_run(cl, &reason, &arg, &message) == WSPOOL_OK;
done:
	if (!ok)
		runtime_log("cleanup %s (route %s, cleanup id %llu) failed: %s",
		    cj->cj_name, cj->cj_route, (unsigned long long)cj->cj_id,
		    message);
	if ((w = outbox_begin(0)) != NULL) {
		outbox_end(proto_put_cleanup_done(w, cj->cj_id, 0, ok,
		    message));
	}
	if (zone_ok)
		msgpack_zone_destroy(&zone);
	free(cj);
}

/* Copy len bytes to p (a NULL src is fine when len is 0), return p + len. */
static char *
cleanup_copy(char *p, const void *src, size_t len)
{
	if (len > 0)
		memcpy(p, src, len);
	return p + len;
}

int
cleanup_receive(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	size_t arg_len = m->has_value ? m->value.len : 0;
	struct cleanup_job *cj;
	char *p;

	cj = malloc(sizeof(*cj) + m->str2.len + 1 + m->str.len + 1 + arg_len +
	    m->value2.len + 1);
	if (cj == NULL) {
		/* Not reported: the master hands it to a worker again. */
		runtime_log("out of memory: cleanup %llu dropped",
		    (unsigned long long)m->id);
		return 0;
	}
	cj->cj_job.j_fn = cleanup_job_cb;
	cj->cj_job.j_next = NULL;
	cj->cj_id = m->id;
	cj->cj_call_id = m->call_id;
	cj->cj_seq = m->seq;
	cj->cj_attempt = (unsigned)m->num;
	p = cj->cj_bytes;
	cj->cj_name = p;
	p = cleanup_copy(p, m->str2.ptr, m->str2.len);
	*p++ = '\0';
	cj->cj_route = p;
	p = cleanup_copy(p, m->str.ptr, m->str.len);
	*p++ = '\0';
	cj->cj_arg = m->has_value ? p : NULL;
	cj->cj_arg_len = arg_len;
	p = cleanup_copy(p, m->value.ptr, arg_len);
	/* An absent reason is a normal end (nil). */
	cj->cj_reason = p;
	if (m->value2.len == 0) {
		*p = (char)0xc0;
		cj->cj_reason_len = 1;
	} else {
		cleanup_copy(p, m->value2.ptr, m->value2.len);
		cj->cj_reason_len = m->value2.len;
	}
	if (*first == NULL)
		*first = &cj->cj_job;
	else
		(*last)->j_next = &cj->cj_job;
	*last = &cj->cj_job;
	return 0;
}
