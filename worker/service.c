/*
 * service.c: the wspool-worker program: command line, process set-up
 * (signals, stacks, memory limit), the module, joining the master, the
 * table that wires the master's messages to the layers that take them,
 * then the wait for the end and the way out runtime.c chooses.
 *
 * It lives in libwspool, with everything it starts, because route modules
 * link libwspool too and must share this one copy of the runtime; the
 * executable's main() (worker/wspool-worker.c) only calls
 * wspool_worker_main.
 *
 * Who calls whom (each file calls only down; what comes back up arrives
 * through the callbacks registered here and in threads_start):
 *   main    -> args, module, uplink, outbox, threads, runtime, call,
 *              cleanup, client, emit
 *   emit    -> module, schema
 *   runtime -> call, outbox, threads
 *   api     -> call, reply, cleanup, client, module, outbox   (wspool.h)
 *   call    -> reply, cleanup, client, module, schema, outbox, threads,
 *              table
 *   reply   -> outbox;  cleanup -> module, outbox, threads
 *   client  -> table;   module -> schema -> values
 *   leaves: uplink, outbox, threads, table, values, args (and common/log,
 *   common/clock, proto, which any file may use)
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>

#include "common/log.h"
#include "common/tlsconf.h"
#include "worker/args.h"
#include "worker/call.h"
#include "worker/cleanup.h"
#include "worker/client.h"
#include "worker/crash.h"
#include "worker/emit.h"
#include "worker/service.h"
#include "worker/module.h"
#include "worker/outbox.h"
#include "worker/runtime.h"
#include "worker/threads.h"
#include "worker/uplink.h"

/* Stack of the threads that run no handler (nng's, sender, receiver).
 * Sanitizers need deeper stacks (ThreadSanitizer fails with this one). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SERVICE_THREAD_STACK (2048u * 1024)
#else
#define SERVICE_THREAD_STACK (512u * 1024)
#endif
/* What a handler thread maps beyond its stack: the crash handler's
 * alternate stack (crash.c) and the guard page. */
#define SERVICE_THREAD_EXTRA (64u * 1024 + 4096)
/* How long nng may take to close the link at exit. */
#define SERVICE_CLOSE_MS 2000

/* The receiver thread's own: jobs of the nng message being read, and a
 * zone to validate values in. */
static struct job_list service_jobs;
static msgpack_zone service_zone;
static bool service_zone_ok;

/* ---- The master's messages, by type ---------------------------------- */

/* A bin that must hold one msgpack value; reason says if it is a reason. */
static int
service_check_value(const struct proto_bytes *b, bool reason)
{
	struct wspool_reason r;
	msgpack_object o;
	char *strings;
	int rv;

	rv = proto_unpack_value(b, &service_zone, &o);
	if (rv == 0 && reason) {
		strings = msgpack_zone_malloc(&service_zone, b->len);
		rv = strings != NULL ?
		    proto_unpack_reason(&o, &r, strings, b->len) : -1;
	}
	msgpack_zone_clear(&service_zone);
	return rv;
}

static int
service_on_call(const struct proto_msg *m, void *arg)
{
	return call_receive(m, runtime_draining() ? 503 : 0, arg);
}

static int
service_on_cancel(const struct proto_msg *m, void *arg)
{
	static const char cancelled[] = "\x81\xa4kind\xa9" "cancelled";

	(void)arg;
	if (!m->has_value) {
		call_cancel(m->id, cancelled, sizeof(cancelled) - 1);
		return 0;
	}
	if (service_check_value(&m->value, true) != 0) {
		log_error("protocol error: unreadable cancel reason");
		return -1;
	}
	call_cancel(m->id, m->value.ptr, m->value.len);
	return 0;
}

static int
service_on_conn_open(const struct proto_msg *m, void *arg)
{
	(void)arg;
	if (client_open(m) != 0) {
		log_error("protocol error: malformed connection headers");
		return -1;
	}
	return 0;
}

static int
service_on_conn_close(const struct proto_msg *m, void *arg)
{
	(void)arg;
	client_close(m->id);
	return 0;
}

static int
service_on_defer_ack(const struct proto_msg *m, void *arg)
{
	(void)arg;
	call_defer_ack(m->id, m->seq);
	return 0;
}

static int
service_on_credit(const struct proto_msg *m, void *arg)
{
	(void)arg;
	call_credit(m->id, m->seq);
	return 0;
}

static int
service_on_cleanup(const struct proto_msg *m, void *arg)
{
	if ((m->has_value && service_check_value(&m->value, false) != 0) ||
	    (m->value2.len > 0 && service_check_value(&m->value2, true) != 0)) {
		log_error("protocol error: unreadable cleanup %" PRIu64
		    " argument or reason", m->id);
		return -1;
	}
	return cleanup_receive(m, arg);
}

static int
service_on_drain(const struct proto_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	/* The state changes once this message's jobs are queued (see
	 * service_batch_cb): calls before DRAIN in the batch still count. */
	if (runtime_drain())
		log_info("draining");
	return 0;
}

/* What the master may send us, by type; anything else is garbage. The
 * cleanup runner takes no calls: a CALL to it is garbage. */
static const uplink_handler_fn service_runner_handlers[] = {
	[PROTO_CANCEL] = service_on_cancel,
	[PROTO_CONN_OPEN] = service_on_conn_open,
	[PROTO_CONN_CLOSE] = service_on_conn_close,
	[PROTO_DEFER_ACK] = service_on_defer_ack,
	[PROTO_CLEANUP] = service_on_cleanup,
	[PROTO_DRAIN] = service_on_drain,
};

static const uplink_handler_fn service_handlers[] = {
	[PROTO_CALL] = service_on_call,
	[PROTO_CANCEL] = service_on_cancel,
	[PROTO_CONN_OPEN] = service_on_conn_open,
	[PROTO_CONN_CLOSE] = service_on_conn_close,
	[PROTO_DEFER_ACK] = service_on_defer_ack,
	[PROTO_CLEANUP] = service_on_cleanup,
	[PROTO_DRAIN] = service_on_drain,
	[PROTO_CREDIT] = service_on_credit,
};

/* Receiver thread, after each nng message: one submit for its jobs. */
static void
service_batch_cb(void *arg)
{
	struct job_list *jl = arg;

	/* Jobs taken before a violation still run: each owes the master an
	 * answer. */
	threads_submit(jl->jl_first);
	jl->jl_first = jl->jl_last = NULL;
	if (runtime_draining())
		runtime_set_state(RUNTIME_DRAINING);
}

/* Receiver thread, often: a heartbeat on a link idle for idle_ms. */
static void
service_tick_cb(uint64_t idle_ms, void *arg)
{
	(void)arg;
	if (idle_ms > 0)
		outbox_heartbeat(idle_ms);
}

/* The link ended; LOST may come from an nng thread. */
static void
service_end_cb(enum uplink_end why, void *arg)
{
	(void)arg;
	if (why == UPLINK_LOST) {
		outbox_kill();
		runtime_set_state(RUNTIME_LOST);
	} else {
		runtime_set_state(RUNTIME_FATAL);
	}
}

static const struct uplink_ops service_runner_ops = {
	.uo_handlers = service_runner_handlers,
	.uo_nhandlers = sizeof(service_runner_handlers) /
	    sizeof(service_runner_handlers[0]),
	.uo_batch_cb = service_batch_cb,
	.uo_end_cb = service_end_cb,
	.uo_tick_cb = service_tick_cb,
	.uo_arg = &service_jobs,
};

static const struct uplink_ops service_uplink_ops = {
	.uo_handlers = service_handlers,
	.uo_nhandlers = sizeof(service_handlers) / sizeof(service_handlers[0]),
	.uo_batch_cb = service_batch_cb,
	.uo_end_cb = service_end_cb,
	.uo_tick_cb = service_tick_cb,
	.uo_arg = &service_jobs,
};

/* Queue READY: the first envelope the master gets from us. */
static int
service_ready(const char *host, unsigned threads, unsigned waiting)
{
	const struct wspool_module *def = module_def();
	struct proto_route_info *routes;
	const char **cleanups;
	struct proto_writer *w;
	int rv = -1;

	routes = calloc(def->nroutes + 1, sizeof(*routes));
	cleanups = calloc(def->ncleanups + 1, sizeof(*cleanups));
	if (routes == NULL || cleanups == NULL)
		goto out;
	for (size_t i = 0; i < def->nroutes; i++) {
		routes[i].name = def->routes[i].name;
		routes[i].pattern = (int)def->routes[i].pattern;
		routes[i].timeout_ms = def->routes[i].timeout_ms;
		routes[i].flags = def->routes[i].idempotent ?
		    PROTO_ROUTE_IDEMPOTENT : 0;
	}
	for (size_t i = 0; i < def->ncleanups; i++)
		cleanups[i] = def->cleanups[i].name;
	if ((w = outbox_begin(0)) == NULL)
		goto out;
	rv = outbox_end(proto_put_ready(w, (int64_t)getpid(), host, def->name,
	    routes, def->nroutes, cleanups, def->ncleanups, threads, waiting));
out:
	free(routes);
	free(cleanups);
	return rv;
}

/* ---- Stacks and the memory limit ------------------------------------- */

/* Set the stack size of threads created without attributes. */
static bool
service_default_stack(size_t size)
{
	pthread_attr_t a;
	bool ok;

	if (size == 0 || pthread_attr_init(&a) != 0)
		return false;
	ok = pthread_attr_setstacksize(&a, size) == 0 &&
	    pthread_setattr_default_np(&a) == 0;
	pthread_attr_destroy(&a);
	return ok;
}

/* The default stack size of new threads (what handlers get), or 0. */
static size_t
service_stack_size(void)
{
	pthread_attr_t a;
	size_t size = 0;

	if (pthread_getattr_default_np(&a) == 0) {
		pthread_attr_getstacksize(&a, &size);
		pthread_attr_destroy(&a);
	}
	return size;
}

/* Bytes of data mappings now (VmData: what RLIMIT_DATA counts), or 0. */
static uint64_t
service_data_size(void)
{
	unsigned long long kib = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmData: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib * 1024;
}

/*
 * Limit the worker's data (RLIMIT_DATA: heap, anonymous private mappings,
 * thread stacks) to what it maps now plus bytes, so that a handler that
 * eats memory gets NULL from malloc and the process dies visibly rather
 * than the host swapping. Not RLIMIT_AS: that counts glibc's arena
 * reservations and nng's thread stacks, and a sanitizer's shadow memory.
 * "What it maps now" is the worker's own headroom: nng's threads and
 * buffers, ours, the module: ~50 MiB. The stacks of handler threads the
 * pool starts later (--stack, 256 KiB by default, and a 64 KiB alternate
 * stack each) come out of bytes: a worker that grew to 1,024 threads has
 * ~700 MiB of a 1 GiB limit left for data (docs/operations.md).
 */
static int
service_limit_memory(uint64_t bytes)
{
	uint64_t base = service_data_size();
	struct rlimit rl;

	if (base > UINT64_MAX - bytes)
		return 0;
	rl.rlim_cur = rl.rlim_max = base + bytes;
	if (setrlimit(RLIMIT_DATA, &rl) != 0) {
		log_error("cannot limit memory to %" PRIu64 " bytes: %s",
		    bytes, strerror(errno));
		return -1;
	}
	log_info("memory limited to %" PRIu64 " MiB beyond the %" PRIu64
	    " MiB mapped at start (RLIMIT_DATA)", bytes >> 20, base >> 20);
	return 0;
}

/* ---- The program ----------------------------------------------------- */

/* The TLS configuration, when an address wants one. 0 or -1 (logged). */
static int
service_tls(const struct args *a)
{
	nng_tls_config *cfg;
	const char *name = a->ar_tls_server_name;
	char err[512], host[256];

	if (strncmp(a->ar_address, "tls+tcp://", 10) != 0)
		return 0;
	/* No name given: the address's host, unless it is an IP literal
	 * (mbedtls checks names against DNS SANs only). */
	if (name == NULL) {
		const char *h = a->ar_address + 10, *end;

		if (*h != '[' && (end = strrchr(h, ':')) != NULL &&
		    (size_t)(end - h) < sizeof(host)) {
			memcpy(host, h, (size_t)(end - h));
			host[end - h] = '\0';
			if (strspn(host, "0123456789.") != strlen(host))
				name = host;
		}
	}
	if (tlsconf_load(&cfg, false, a->ar_tls_cert, a->ar_tls_key,
	    a->ar_tls_ca, name, err, sizeof(err)) != 0) {
		log_error("TLS: %s", err);
		return -1;
	}
	if (name == NULL)
		log_info("TLS: the master's certificate is checked against "
		    "the CA only (no --tls-server-name)");
	uplink_tls(cfg);
	nng_tls_config_free(cfg);
	return 0;
}

/* Join the master and start the threads that serve it. */
static int
service_serve(const struct args *a, const char *host, char **welcome,
    char **node)
{
	size_t default_stack = service_stack_size();
	size_t handler_stack = (size_t)a->ar_stack;
	char digest[MODULE_DIGEST_HEX];
	uint64_t timeout_ms = 0, fit;
	unsigned max_threads = a->ar_max_threads;
	bool small_stack;
	int rv;

	if (!(service_zone_ok = msgpack_zone_init(&service_zone, 4096)))
		return -1;
	/* Service threads (nng's, created with its first socket, and ours)
	 * need little stack; handlers get --stack, threads they start the
	 * usual size. Under --memory every reserved stack counts against
	 * the limit: the pool may take half of it, so that the capacity
	 * told to the master is one the worker can really start. */
	small_stack = default_stack > 0 &&
	    service_default_stack(SERVICE_THREAD_STACK);
	fit = a->ar_memory / 2 / (handler_stack + SERVICE_THREAD_EXTRA);
	if (a->ar_memory != 0 && fit < max_threads) {
		max_threads = fit < a->ar_threads ? a->ar_threads :
		    (unsigned)fit;
		log_warn("at most %u handler threads: %u stacks of %zu KiB "
		    "would take over half of the memory limit", max_threads,
		    a->ar_max_threads, handler_stack >> 10);
	}
	if (module_digest(digest) != 0 || service_tls(a) != 0)
		return -1;
	if (uplink_join(a->ar_address, host, digest, welcome, node,
	    &timeout_ms) != 0 ||
	    uplink_connect(*welcome, timeout_ms, a->ar_runner ?
	    &service_runner_ops : &service_uplink_ops) != 0)
		return -1;
	cleanup_set_node(*node);
	if ((rv = outbox_start(uplink_socket_id())) != 0 ||
	    (rv = threads_start(a->ar_threads, max_threads,
	    handler_stack, runtime_idle_cb)) != 0 ||
	    (rv = uplink_start()) != 0) {
		log_error("cannot start threads: %s", strerror(rv));
		return -1;
	}
	if (small_stack)
		service_default_stack(default_stack);
	/* The limit is for handlers: set it once the worker itself is up,
	 * and before the master knows us. */
	if (a->ar_memory != 0 && service_limit_memory(a->ar_memory) != 0)
		return -1;
	if (service_ready(host, a->ar_runner ? 1 : max_threads,
	    a->ar_runner ? 0 : a->ar_max_waiting) != 0) {
		log_error("cannot build the ready message");
		return -1;
	}
	log_info("%s module %s (%zu routes) for %s, %u-%u threads",
	    a->ar_runner ? "cleanup runner for" : "serving",
	    module_def()->name, module_def()->nroutes, *welcome,
	    a->ar_threads, max_threads);
	return 0;
}

/*
 * Several masters (--connect repeated): one session process per master,
 * this program again with WSPOOL_WORKER_SESSION naming its --connect, so
 * that the masters share nothing: one lost, or speaking garbage, cannot
 * disturb another's calls or cleanups. This process only passes SIGTERM
 * and SIGINT on and waits for them.
 */
static int
service_sessions(const struct args *a, char **argv)
{
	pid_t pids[ARGS_MAX_CONNECT];
	sigset_t set;
	unsigned live = 0;
	int status = 0, sig, st;
	pid_t pid;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (unsigned i = 0; i < a->ar_nconnect; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%u", i);
		if ((pid = fork()) < 0) {
			log_error("fork: %s", strerror(errno));
			status = 1;
			break;
		}
		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			/* A session does not outlive this process. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			setenv("WSPOOL_WORKER_SESSION", num, 1);
			execv("/proc/self/exe", argv);
			_exit(127);
		}
		pids[live++] = pid;
		log_info("session %d serves the master at %s", (int)pid,
		    a->ar_connect[i]);
	}
	while (live > 0) {
		/* Look for ended sessions at least every second, whatever
		 * woke us: a SIGCHLD is never the only news. */
		struct timespec second = { 1, 0 };

		sig = sigtimedwait(&set, NULL, &second);
		if (sig == SIGTERM || sig == SIGINT)
			for (unsigned i = 0; i < live; i++)
				kill(pids[i], sig);
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (unsigned i = 0; i < live; i++) {
				if (pids[i] != pid)
					continue;
				pids[i] = pids[--live];
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					status = 1;
				break;
			}
		}
	}
	return status;
}

int
wspool_worker_main(int argc, char **argv)
{
	struct args a = { 0 };
	char host[256], err[1024];
	char *welcome = NULL, *node = NULL;
	const char *session;
	int rv, status = 1;
	bool reconnect;

	if ((rv = args_parse(argc, argv, &a)) != 0)
		return rv == 1 ? 0 : 2;
	log_init("wspool-worker");
	/* Only the route table, before anything starts. */
	if (a.ar_emit != NULL)
		return emit_main(a.ar_emit, a.ar_module);
	signal(SIGPIPE, SIG_IGN);
	if ((session = getenv("WSPOOL_WORKER_SESSION")) != NULL) {
		unsigned i = (unsigned)strtoul(session, NULL, 10);

		if (i >= a.ar_nconnect)
			return 2;
		a.ar_address = a.ar_connect[i];
		a.ar_nconnect = 1;
	} else if (a.ar_nconnect > 1 && !a.ar_check && !a.ar_digest) {
		return service_sessions(&a, argv);
	}
	/* A worker of a local master (ipc://) lives and dies with it; one
	 * on the network rejoins a master it lost. */
	reconnect = a.ar_address != NULL && !a.ar_no_reconnect &&
	    strncmp(a.ar_address, "ipc://", 6) != 0;
	if ((rv = runtime_start()) != 0) {
		log_error("cannot start threads: %s", strerror(rv));
		goto out;
	}
	if (crash_init(a.ar_crash_fd) != 0)
		goto out;
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	if (module_load(a.ar_module, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	if (a.ar_check) {
		printf("module %s: %zu routes, %zu cleanups: ok\n",
		    module_def()->name, module_def()->nroutes,
		    module_def()->ncleanups);
		status = 0;
		goto out;
	}
	if (a.ar_digest) {
		char digest[MODULE_DIGEST_HEX];

		if (module_digest(digest) == 0) {
			printf("%s\n", digest);
			status = 0;
		}
		goto out;
	}
	if (reconnect)
		runtime_respawn(argv);
	if (service_serve(&a, host, &welcome, &node) != 0)
		goto out;
	runtime_serving();
	status = runtime_exit(runtime_wait_end());
out:
	/* In this order: the receiver and the socket (whose close wakes a
	 * blocked sender), the signal thread, the sender, the pool. */
	if (!uplink_stop(SERVICE_CLOSE_MS)) {
		log_error("the link to the master would not close: leaving "
		    "without it");
		fflush(stdout);
		if (reconnect && status != 0)
			runtime_exit_or_respawn(status);
		_exit(status);
	}
	runtime_stop();
	outbox_stop();
	threads_stop();
	client_close_all();
	call_fini();
	if (service_zone_ok)
		msgpack_zone_destroy(&service_zone);
	service_zone_ok = false;
	/* Every socket is closed and every thread of ours joined: let nng
	 * stop its own threads too, so leak checkers see a clean exit. */
	nng_fini();
	module_unload();
	free(welcome);
	free(node);
	if (reconnect && status != 0) {
		/* Lost, refused or no master yet: join again later. */
		fflush(stdout);
		runtime_exit_or_respawn(status);
	}
	return status;
}
