/*
 * runtime.c: the wspool-worker process: command line, joining the master,
 * the receiver thread that dispatches the master's envelopes, and the
 * orderly (drain) or hurried (master gone) way out.
 *
 * Threads: main (waits for the end), receiver (nng_recvmsg loop), sender
 * (outbox.c), the handler pool (threads.c), and nng's own. Only the
 * receiver touches the connection table; see call.c for calls.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/req.h>

#include "worker/worker.h"

#define RUNTIME_JOIN_TIMEOUT_MS 10000
/* How long a master gone leaves running handlers to notice cancellation. */
#define RUNTIME_LOST_GRACE_MS 5000
/* The same after SIGTERM: less than the master waits before SIGKILL. */
#define RUNTIME_TERM_GRACE_MS 3000
/* How often the receiver looks up from nng_recvmsg (runtime_shutdown). */
#define RUNTIME_RECV_POLL_MS 200

/* After a drain, how long to let nng write the last replies out. */
#define RUNTIME_LINGER_MS 250
/* Stack of the threads that run no handler (nng's, sender, receiver).
 * Sanitizers need deeper stacks (ThreadSanitizer fails with this one). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RUNTIME_SERVICE_STACK (2048u * 1024)
#else
#define RUNTIME_SERVICE_STACK (512u * 1024)
#endif
/* --memory must leave at least this much to the handlers. */
#define RUNTIME_MEMORY_MARGIN (32u * 1024 * 1024)

enum runtime_state {
	RUNTIME_RUNNING = 0,
	RUNTIME_DRAINING,       /* DRAIN received: finish, take nothing new */
	RUNTIME_LOST,           /* the master's pipe is gone */
	RUNTIME_TERMINATED,     /* SIGTERM or SIGINT */
	RUNTIME_FATAL,          /* the master sent garbage */
};


static struct {
	pthread_mutex_t rt_mu;
	pthread_cond_t rt_cond;         /* state changes, pool idle */
	enum runtime_state rt_state;
	atomic_bool rt_draining;        /* DRAIN or SIGTERM: refuse calls */
	atomic_bool rt_stopping;        /* the receiver is to return */
	bool rt_pipe_gone;
	nng_socket rt_sock;
	bool rt_sock_open;
	pthread_t rt_receiver;
	bool rt_receiver_running;
	pthread_t rt_signals;           /* sigwait()s for SIGTERM, SIGINT */
	bool rt_signals_running;
	sigset_t rt_sigset;
	bool rt_serving;                /* started: SIGTERM winds down */
	msgpack_zone rt_zone;           /* receiver: validating reasons, args */
	bool rt_zone_ok;
} runtime = {
	.rt_mu = PTHREAD_MUTEX_INITIALIZER,
};

void
runtime_log(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n, m;

	n = snprintf(line, sizeof(line), "wspool-worker[%ld]: ",
	    (long)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = (int)sizeof(line) - 2 - n;
	line[n + m] = '\n';
	/* One write per line: lines from many threads and workers interleave
	 * whole. Nothing to do if stderr is gone. */
	if (write(STDERR_FILENO, line, (size_t)(n + m + 1)) < 0)
		return;
}

static void
runtime_set_state(enum runtime_state state)
{
	pthread_mutex_lock(&runtime.rt_mu);
	/* LOST, TERMINATED and FATAL are final; DRAINING only follows
	 * RUNNING. */
	if (runtime.rt_state == RUNTIME_RUNNING ||
	    (runtime.rt_state == RUNTIME_DRAINING && state != RUNTIME_DRAINING))
		runtime.rt_state = state;
	if (state == RUNTIME_LOST)
		runtime.rt_pipe_gone = true;
	pthread_cond_broadcast(&runtime.rt_cond);
	pthread_mutex_unlock(&runtime.rt_mu);
}

/* Pool thread: the pool just became idle. */
static void
runtime_idle_cb(void)
{
	pthread_mutex_lock(&runtime.rt_mu);
	pthread_cond_broadcast(&runtime.rt_cond);
	pthread_mutex_unlock(&runtime.rt_mu);
}

/* nng thread: our pipe to the master is gone. Closing the socket here
 * would deadlock (nng waits for this callback): only hand the news on. */
static void
runtime_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	if (ev != NNG_PIPE_EV_REM_POST)
		return;
	outbox_kill();
	runtime_set_state(RUNTIME_LOST);
}

/* Signal thread: SIGTERM or SIGINT ends the worker like a master gone:
 * calls cancelled (reason shutdown), their cleanups run, exit 0. */
static void *
runtime_signals_cb(void *arg)
{
	bool serving;
	int sig;

	(void)arg;
	if (sigwait(&runtime.rt_sigset, &sig) != 0)
		return NULL;
	pthread_mutex_lock(&runtime.rt_mu);
	serving = runtime.rt_serving;
	/* runtime_shutdown() wakes us this way to stop. */
	if (runtime.rt_state == RUNTIME_TERMINATED) {
		pthread_mutex_unlock(&runtime.rt_mu);
		return NULL;
	}
	pthread_mutex_unlock(&runtime.rt_mu);
	if (!serving) {
		/* Still starting (loading, joining): nothing to wind down,
		 * die of the signal as if it had not been caught. */
		signal(sig, SIG_DFL);
		pthread_sigmask(SIG_UNBLOCK, &runtime.rt_sigset, NULL);
		raise(sig);
		_exit(1);
	}
	runtime_log("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* The master may still send calls meanwhile: refuse them. */
	atomic_store(&runtime.rt_draining, true);
	runtime_set_state(RUNTIME_TERMINATED);
	return NULL;
}

/* ---- Receiving ---------------------------------------------------------- */

typedef int (*runtime_handler_fn)(const struct proto_msg *m,
    struct job **first, struct job **last);

/* A bin that must hold one msgpack value; reason says if it is a reason. */
static int
runtime_check_value(const struct proto_bytes *b, bool reason)
{
	struct wspool_reason r;
	msgpack_object o;
	char *strings;
	int rv;

	rv = proto_unpack_value(b, &runtime.rt_zone, &o);
	if (rv == 0 && reason) {
		strings = msgpack_zone_malloc(&runtime.rt_zone, b->len);
		rv = strings != NULL ?
		    proto_unpack_reason(&o, &r, strings, b->len) : -1;
	}
	msgpack_zone_clear(&runtime.rt_zone);
	return rv;
}

static int
runtime_on_call(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	return call_receive(m, atomic_load(&runtime.rt_draining) ? 503 : 0,
	    first, last);
}

static int
runtime_on_cancel(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	static const char cancelled[] = "\x81\xa4kind\xa9" "cancelled";

	(void)first;
	(void)last;
	if (!m->has_value) {
		call_cancel(m->id, cancelled, sizeof(cancelled) - 1);
		return 0;
	}
	if (runtime_check_value(&m->value, true) != 0) {
		runtime_log("protocol error: unreadable cancel reason");
		return -1;
	}
	call_cancel(m->id, m->value.ptr, m->value.len);
	return 0;
}

static int
runtime_on_conn_open(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	(void)first;
	(void)last;
	if (conn_open(m) != 0) {
		runtime_log("protocol error: malformed connection headers");
		return -1;
	}
	return 0;
}

static int
runtime_on_conn_close(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	(void)first;
	(void)last;
	conn_close(m->id);
	return 0;
}

static int
runtime_on_defer_ack(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	(void)first;
	(void)last;
	call_defer_ack(m->id, m->seq);
	return 0;
}

static int
runtime_on_cleanup(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	if ((m->has_value && runtime_check_value(&m->value, false) != 0) ||
	    (m->value2.len > 0 && runtime_check_value(&m->value2, true) != 0)) {
		runtime_log("protocol error: unreadable cleanup %" PRIu64
		    " argument or reason", m->id);
		return -1;
	}
	return cleanup_receive(m, first, last);
}

static int
runtime_on_drain(const struct proto_msg *m, struct job **first,
    struct job **last)
{
	(void)m;
	(void)first;
	(void)last;
	/* The state changes once this message's jobs are queued (see
	 * runtime_dispatch): calls before DRAIN in the batch still count. */
	if (!atomic_exchange(&runtime.rt_draining, true))
		runtime_log("draining");
	return 0;
}

/* What the master may send us, by type. */
static const runtime_handler_fn runtime_handlers[] = {
	[PROTO_CALL] = runtime_on_call,
	[PROTO_CANCEL] = runtime_on_cancel,
	[PROTO_CONN_OPEN] = runtime_on_conn_open,
	[PROTO_CONN_CLOSE] = runtime_on_conn_close,
	[PROTO_DEFER_ACK] = runtime_on_defer_ack,
	[PROTO_CLEANUP] = runtime_on_cleanup,
	[PROTO_DRAIN] = runtime_on_drain,
};

/* One nng message from the master. Returns 0, or -1 when it is garbage. */
static int
runtime_dispatch(const void *buf, size_t len)
{
	struct job *first = NULL, *last = NULL;
	struct proto_reader r;
	struct proto_msg m;
	int rv;

	if ((rv = proto_reader_init(&r, buf, len)) != 0) {
		runtime_log("protocol error: %s", r.error);
		goto fail;
	}
	while ((rv = proto_reader_next(&r, &m)) == 1) {
		runtime_handler_fn fn = NULL;

		if ((size_t)m.type < sizeof(runtime_handlers) /
		    sizeof(runtime_handlers[0]))
			fn = runtime_handlers[m.type];
		if (fn == NULL) {
			runtime_log("protocol error: unexpected %s message",
			    proto_type_name(m.type));
			rv = -1;
			goto fail;
		}
		if ((rv = fn(&m, &first, &last)) != 0)
			goto fail;
	}
	if (rv < 0)
		runtime_log("protocol error: %s", r.error);
fail:
	/* Jobs already taken still run: each owes the master an answer. */
	threads_submit(first);
	if (atomic_load(&runtime.rt_draining))
		runtime_set_state(RUNTIME_DRAINING);
	proto_reader_fini(&r);
	return rv < 0 ? -1 : 0;
}

static void *
runtime_receiver_cb(void *arg)
{
	(void)arg;
	for (;;) {
		nng_msg *msg;
		int rv;

		if ((rv = nng_recvmsg(runtime.rt_sock, &msg, 0)) != 0) {
			/* A receive timeout only lets us look at rt_stopping. */
			if (rv == NNG_ETIMEDOUT && !atomic_load(&runtime.rt_stopping))
				continue;
			if (rv == NNG_ETIMEDOUT)
				break;
			if (rv != NNG_ECLOSED) {
				runtime_log("receive from master failed: %s",
				    nng_strerror(rv));
				runtime_set_state(RUNTIME_LOST);
			}
			break;
		}
		rv = runtime_dispatch(nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
		if (rv != 0) {
			/* Peer is speaking garbage: it is not trusted. */
			runtime_set_state(RUNTIME_FATAL);
			break;
		}
	}
	return NULL;
}

/* ---- Joining ----------------------------------------------------------------- */

/* Ask the master's registry for our own pair1 address (*welcome, malloc'd). */
static int
runtime_join(const char *address, const char *host, char **welcome)
{
	struct proto_writer w;
	struct proto_reader r;
	struct proto_msg m;
	nng_socket s;
	nng_msg *msg = NULL;
	bool reader = false;
	int rv;

	*welcome = NULL;
	if ((rv = nng_req0_open(&s)) != 0) {
		runtime_log("cannot open a req socket: %s", nng_strerror(rv));
		return -1;
	}
	/* A REQ must not resend the HELLO to another peer. */
	if ((rv = nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ,
	    PROTO_MAX_STR * 2)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO,
	    RUNTIME_JOIN_TIMEOUT_MS)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO,
	    RUNTIME_JOIN_TIMEOUT_MS)) != 0) {
		runtime_log("cannot set up the req socket: %s",
		    nng_strerror(rv));
		goto fail;
	}
	/* Non-blocking: the dialer keeps retrying until the master is up. */
	if ((rv = nng_dial(s, address, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		runtime_log("cannot dial %s: %s", address, nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_msg_alloc(&msg, 0)) != 0 ||
	    (rv = proto_writer_init(&w, &msg, outbox_msg_write_cb)) != 0 ||
	    (rv = proto_put_hello(&w, (int64_t)getpid(), host)) != 0) {
		runtime_log("cannot build the hello message");
		goto fail;
	}
	if ((rv = nng_sendmsg(s, msg, 0)) != 0)
		goto nomaster;
	msg = NULL;
	if ((rv = nng_recvmsg(s, &msg, 0)) != 0)
		goto nomaster;
	reader = true;
	if ((rv = proto_reader_init(&r, nng_msg_body(msg),
	    nng_msg_len(msg))) != 0 ||
	    (rv = proto_reader_next(&r, &m)) != 1 ||
	    m.type != PROTO_WELCOME || m.str.len == 0 ||
	    memchr(m.str.ptr, '\0', m.str.len) != NULL ||
	    (*welcome = strndup(m.str.ptr, m.str.len)) == NULL ||
	    (rv = proto_reader_next(&r, &m)) != 0) {
		runtime_log("protocol error: the master's answer to hello is "
		    "not a welcome: %s", r.error ? r.error : "wrong message");
		free(*welcome);
		*welcome = NULL;
		rv = -1;
		goto fail;
	}
	goto fail;
nomaster:
	if (rv == NNG_ETIMEDOUT)
		runtime_log("no master at %s", address);
	else
		runtime_log("joining %s failed: %s", address, nng_strerror(rv));
fail:
	if (reader)
		proto_reader_fini(&r);
	if (msg != NULL)
		nng_msg_free(msg);
	nng_close(s);
	return *welcome != NULL ? 0 : -1;
}

static int
runtime_connect(const char *address)
{
	int rv;

	if ((rv = nng_pair1_open(&runtime.rt_sock)) != 0) {
		runtime_log("cannot open a pair1 socket: %s", nng_strerror(rv));
		return -1;
	}
	runtime.rt_sock_open = true;
	/*
	 * nng 1.5's nng_close can hang while another thread is blocked in
	 * nng_recvmsg on the socket (seen at shutdown): the receiver wakes up
	 * every RUNTIME_RECV_POLL_MS to see whether to stop, and the socket is
	 * closed only after it returned.
	 */
	if ((rv = nng_socket_set_size(runtime.rt_sock, NNG_OPT_RECVMAXSZ,
	    PROTO_MAX_MSG)) != 0 ||
	    (rv = nng_socket_set_ms(runtime.rt_sock, NNG_OPT_RECVTIMEO,
	    RUNTIME_RECV_POLL_MS)) != 0 ||
	    (rv = nng_pipe_notify(runtime.rt_sock, NNG_PIPE_EV_REM_POST,
	    runtime_pipe_cb, NULL)) != 0) {
		runtime_log("cannot set up the pair1 socket: %s",
		    nng_strerror(rv));
		return -1;
	}
	/* Blocking: the master just told us this address, it must answer. */
	if ((rv = nng_dial(runtime.rt_sock, address, NULL, 0)) != 0) {
		runtime_log("cannot connect to %s: %s", address,
		    nng_strerror(rv));
		return -1;
	}
	return 0;
}

/* Queue READY: the first envelope the master gets from us. */
static int
runtime_ready(const char *host)
{
	const struct wspool_module *def = module_def();
	struct proto_route_info *routes;
	const char **cleanups;
	struct proto_writer *w;
	int rv = -1;

	routes = calloc(def->nroutes + 1, sizeof(*routes));
	cleanups = calloc(def->ncleanups + 1, sizeof(*cleanups));
	if (routes == NULL || cleanups == NULL)
		goto fail;
	for (size_t i = 0; i < def->nroutes; i++) {
		routes[i].name = def->routes[i].name;
		routes[i].pattern = (int)def->routes[i].pattern;
		routes[i].timeout_ms = def->routes[i].timeout_ms;
	}
	for (size_t i = 0; i < def->ncleanups; i++)
		cleanups[i] = def->cleanups[i].name;
	if ((w = outbox_begin(0)) == NULL)
		goto fail;
	rv = proto_put_ready(w, (int64_t)getpid(), host, def->name, routes,
	    def->nroutes, cleanups, def->ncleanups);
	outbox_end(rv);
fail:
	free(routes);
	free(cleanups);
	return rv == 0 ? 0 : -1;
}

/* ---- Memory limit ------------------------------------------------------------ */

/* Set the stack size of threads created without attributes. */
static void
runtime_default_stack(size_t size)
{
	pthread_attr_t a;

	if (size == 0 || pthread_attr_init(&a) != 0)
		return;
	if (pthread_attr_setstacksize(&a, size) == 0)
		pthread_setattr_default_np(&a);
	pthread_attr_destroy(&a);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Bytes of address space mapped now (what RLIMIT_AS counts), or 0. */
static uint64_t
runtime_mapped(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &pages) != 1)
		pages = 0;
	fclose(f);
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Limit the address space (RLIMIT_AS), so that a handler that eats
 * memory gets NULL from malloc and the process dies visibly rather than
 * the host swapping. Refuse a limit the worker itself already exceeds:
 * nng would then fail its allocations silently.
 */
static int
runtime_limit_memory(uint64_t bytes)
{
	struct rlimit rl = { .rlim_cur = bytes, .rlim_max = bytes };
	uint64_t mapped = runtime_mapped();

	if (mapped + RUNTIME_MEMORY_MARGIN > bytes) {
		runtime_log("--memory %" PRIu64 " MiB is too small: the worker "
		    "itself maps %" PRIu64 " MiB before running any handler",
		    bytes >> 20, mapped >> 20);
		return -1;
	}
	if (setrlimit(RLIMIT_AS, &rl) != 0) {
		runtime_log("cannot limit memory to %" PRIu64 " bytes: %s",
		    bytes, strerror(errno));
		return -1;
	}
	runtime_log("memory limited to %" PRIu64 " MiB (%" PRIu64
	    " MiB mapped at start)", bytes >> 20, mapped >> 20);
	return 0;
}
#else /* __SANITIZE_ADDRESS__ */
/*
 * AddressSanitizer maps terabytes of shadow memory, so RLIMIT_AS cannot
 * work: enforce --memory with ASan's own RSS limit instead, which it reads
 * from ASAN_OPTIONS at startup only, hence the re-exec. A handler that
 * eats memory then dies by ASan's report (exit status 1), not SIGABRT.
 */
static void
runtime_asan_limit(char **argv, uint64_t bytes)
{
	const char *old = getenv("ASAN_OPTIONS");
	char *opts;

	if (old != NULL && strstr(old, "hard_rss_limit_mb") != NULL)
		return;
	if (asprintf(&opts, "%s%shard_rss_limit_mb=%" PRIu64,
	    old != NULL ? old : "", old != NULL && old[0] != '\0' ? ":" : "",
	    bytes >> 20) < 0)
		return;
	setenv("ASAN_OPTIONS", opts, 1);
	free(opts);
	execv("/proc/self/exe", argv);
	runtime_log("cannot re-exec for the ASan memory limit: %s",
	    strerror(errno));
}
#endif /* __SANITIZE_ADDRESS__ */

/* ---- The way out --------------------------------------------------------- */

/* Wait for the end: drained and idle, or master gone, or garbage. */
static enum runtime_state
runtime_wait_end(void)
{
	enum runtime_state state;

	pthread_mutex_lock(&runtime.rt_mu);
	for (;;) {
		state = runtime.rt_state;
		if (state == RUNTIME_LOST || state == RUNTIME_FATAL ||
		    state == RUNTIME_TERMINATED)
			break;
		if (state == RUNTIME_DRAINING && threads_idle())
			break;
		pthread_cond_wait(&runtime.rt_cond, &runtime.rt_mu);
	}
	pthread_mutex_unlock(&runtime.rt_mu);
	return state;
}

/* Wait for the pool to go idle, or for the pipe to go, up to ms. */
static bool
runtime_wait_for(bool pipe, int64_t ms)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&runtime.rt_mu);
	for (;;) {
		done = pipe ? runtime.rt_pipe_gone : threads_idle();
		if (done || pthread_cond_timedwait(&runtime.rt_cond,
		    &runtime.rt_mu, &ts) == ETIMEDOUT)
			break;
	}
	done = pipe ? runtime.rt_pipe_gone : threads_idle();
	pthread_mutex_unlock(&runtime.rt_mu);
	return done;
}

/*
 * The master is gone or untrusted, or SIGTERM: cancel everything, give
 * handlers grace_ms to return, hurry out. After SIGTERM the master may
 * still listen (a worker started by hand): the answers and cleanup
 * reports still go out, briefly.
 */
static void
runtime_abandon(int status, int64_t grace_ms, bool keep_outbox)
{
	struct wspool_reason r = { .kind = WSPOOL_REASON_SHUTDOWN,
		.status = -1 };
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!keep_outbox)
		outbox_kill();
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (proto_pack_reason(&pk, &r) == 0)
		call_cancel_all(sb.data, sb.size);
	else
		call_cancel_all(NULL, 0);
	msgpack_sbuffer_destroy(&sb);
	if (!runtime_wait_for(false, grace_ms)) {
		/* A handler ignores cancellation (or hangs): nothing can
		 * answer it anyway. */
		runtime_log("handlers still running after %lld ms: exiting",
		    (long long)grace_ms);
		_exit(status);
	}
	if (keep_outbox)
		outbox_flush(RUNTIME_LINGER_MS);
}

static void
runtime_shutdown(void)
{
	/* The receiver first (it polls rt_stopping), then the socket, whose
	 * close wakes a blocked sender. */
	atomic_store(&runtime.rt_stopping, true);
	if (runtime.rt_receiver_running)
		pthread_join(runtime.rt_receiver, NULL);
	runtime.rt_receiver_running = false;
	if (runtime.rt_sock_open)
		nng_close(runtime.rt_sock);
	runtime.rt_sock_open = false;
	if (runtime.rt_signals_running) {
		pthread_mutex_lock(&runtime.rt_mu);
		runtime.rt_state = RUNTIME_TERMINATED;
		pthread_mutex_unlock(&runtime.rt_mu);
		pthread_kill(runtime.rt_signals, SIGTERM);
		pthread_join(runtime.rt_signals, NULL);
	}
	runtime.rt_signals_running = false;
	outbox_stop();
	threads_stop();
	conn_close_all();
	call_fini();
	if (runtime.rt_zone_ok)
		msgpack_zone_destroy(&runtime.rt_zone);
	runtime.rt_zone_ok = false;
}

int
wspool_worker_main(int argc, char **argv)
{
	struct options o = { 0 };
	enum runtime_state state;
	char host[256], err[1024];
	char *welcome = NULL;
	pthread_condattr_t attr;
	pthread_attr_t default_attr;
	size_t handler_stack = 0;
	bool small_stack = false;
	int rv, status = 1;

	if ((rv = options_parse(argc, argv, &o)) != 0)
		return rv == 1 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&runtime.rt_cond, &attr);
	pthread_condattr_destroy(&attr);
	/* Blocked before any thread starts, so only the signal thread
	 * takes them. */
	sigemptyset(&runtime.rt_sigset);
	sigaddset(&runtime.rt_sigset, SIGTERM);
	sigaddset(&runtime.rt_sigset, SIGINT);
	pthread_sigmask(SIG_BLOCK, &runtime.rt_sigset, NULL);
	if ((rv = pthread_create(&runtime.rt_signals, NULL, runtime_signals_cb,
	    NULL)) != 0) {
		runtime_log("cannot start threads: %s", strerror(rv));
		pthread_cond_destroy(&runtime.rt_cond);
		return 1;
	}
	runtime.rt_signals_running = true;
#if defined(__SANITIZE_ADDRESS__)
	if (o.opt_memory != 0)
		runtime_asan_limit(argv, o.opt_memory);
#endif
	/* glibc reserves 64 MiB of address space per malloc arena, which
	 * --memory (RLIMIT_AS) counts: use the main heap only. */
	if (o.opt_memory != 0)
		mallopt(M_ARENA_MAX, 1);
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	if (module_load(o.opt_module, err, sizeof(err)) != 0) {
		runtime_log("%s", err);
		goto fail;
	}
	if (o.opt_check) {
		printf("module %s: %zu routes, %zu cleanups: ok\n",
		    module_def()->name, module_def()->nroutes,
		    module_def()->ncleanups);
		status = 0;
		goto fail;
	}
	if (!(runtime.rt_zone_ok = msgpack_zone_init(&runtime.rt_zone, 4096)))
		goto fail;
	/* Service threads (nng's, created with its first socket, and ours)
	 * need little stack; handlers keep the usual size. Under --memory
	 * every reserved stack counts against the limit. */
	if (pthread_getattr_default_np(&default_attr) == 0) {
		pthread_attr_getstacksize(&default_attr, &handler_stack);
		pthread_attr_destroy(&default_attr);
		if (pthread_attr_init(&default_attr) == 0) {
			small_stack = pthread_attr_setstacksize(&default_attr,
			    RUNTIME_SERVICE_STACK) == 0 &&
			    pthread_setattr_default_np(&default_attr) == 0;
			pthread_attr_destroy(&default_attr);
		}
	}
	if (runtime_join(o.opt_address, host, &welcome) != 0 ||
	    runtime_connect(welcome) != 0)
		goto fail;
	if ((rv = outbox_start(nng_socket_id(runtime.rt_sock))) != 0 ||
	    (rv = threads_start(o.opt_threads, o.opt_max_threads,
	    handler_stack, runtime_idle_cb)) != 0 ||
	    (rv = pthread_create(&runtime.rt_receiver, NULL,
	    runtime_receiver_cb, NULL)) != 0) {
		runtime_log("cannot start threads: %s", strerror(rv));
		goto fail;
	}
	runtime.rt_receiver_running = true;
	if (small_stack)
		runtime_default_stack(handler_stack);
	/* The limit is for handlers: set it once the worker itself is up,
	 * and before the master knows us. */
#if !defined(__SANITIZE_ADDRESS__)
	if (o.opt_memory != 0 && runtime_limit_memory(o.opt_memory) != 0)
		goto fail;
#endif
	if (runtime_ready(host) != 0) {
		runtime_log("cannot build the ready message");
		goto fail;
	}
	runtime_log("serving module %s (%zu routes) for %s, %u-%u threads",
	    module_def()->name, module_def()->nroutes, welcome, o.opt_threads,
	    o.opt_max_threads);

	pthread_mutex_lock(&runtime.rt_mu);
	runtime.rt_serving = true;
	pthread_mutex_unlock(&runtime.rt_mu);
	state = runtime_wait_end();
	switch (state) {
	case RUNTIME_DRAINING:
		outbox_flush(-1);
		/* nng may still be writing the last message: let the master
		 * hang up first, briefly. */
		runtime_wait_for(true, RUNTIME_LINGER_MS);
		runtime_log("drained");
		status = 0;
		break;
	case RUNTIME_LOST:
		runtime_log("the master is gone: exiting");
		runtime_abandon(0, RUNTIME_LOST_GRACE_MS, false);
		status = 0;
		break;
	case RUNTIME_TERMINATED:
		runtime_abandon(0, RUNTIME_TERM_GRACE_MS, true);
		status = 0;
		break;
	default:
		runtime_abandon(1, RUNTIME_LOST_GRACE_MS, false);
		status = 1;
		break;
	}
fail:
	runtime_shutdown();
	/* Every socket is closed and every thread of ours joined: let nng
	 * stop its own threads too, so leak checkers see a clean exit. */
	nng_fini();
	module_unload();
	free(welcome);
	pthread_cond_destroy(&runtime.rt_cond);
	return status;
}
