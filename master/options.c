/*
 * options.c: the master's command line (GNU style) and its defaults.
 * Defaults serve the demo module safely on 127.0.0.1.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "master/master.h"
#include "master/usage.h"
#include "proto/proto.h"

#define OPTIONS_WORKER_MEMORY_DEFAULT ((size_t)1 << 30)

/* A node name: 1 to MASTER_NODE_NAME_MAX of [A-Za-z0-9._-]. */
static int
options_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MASTER_NODE_NAME_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != n)
		return -1;
	return 0;
}

static int
options_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end != '\0')
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Seconds (a decimal number) within [min, max], as milliseconds. */
static int
options_secs(const char *s, double min, double max, uint64_t *ms)
{
	char *end;
	double secs = strtod(s, &end);

	if (end == s || *end != '\0' || !(secs >= min) || secs > max)
		return -1;
	*ms = (uint64_t)(secs * 1000.0);
	return 0;
}

static int
options_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
options_listen(struct settings *cfg, const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned long port;
	size_t hostlen;

	if (colon == NULL || options_uint(colon + 1, 65535, &port) != 0)
		return -1;
	hostlen = (size_t)(colon - s);
	if (hostlen >= 2 && s[0] == '[' && s[hostlen - 1] == ']') {
		s++;
		hostlen -= 2;
	}
	free(cfg->listen_host);
	cfg->listen_host = strndup(s, hostlen);
	cfg->listen_port = (int)port;
	return cfg->listen_host ? 0 : -1;
}

static int options_parse_args(struct settings *cfg, int argc, char **argv);

/* Whether the host of a tcp:// URL is a loopback address. */
static bool
options_loopback(const char *url)
{
	const char *h = url + strlen("tcp://"), *end = strrchr(h, ':');
	size_t n = end != NULL ? (size_t)(end - h) : strlen(h);

	return (n >= 4 && strncmp(h, "127.", 4) == 0) ||
	    (n == 9 && strncmp(h, "localhost", 9) == 0) ||
	    (n == 5 && strncmp(h, "[::1]", 5) == 0);
}

/*
 * Worker links carry every client's calls and upgrade headers (bearer
 * tokens among them): beyond loopback they must be tls+tcp://, unless the
 * operator says otherwise; and tls+tcp:// needs its three files.
 */
static int
options_check_worker_listen(const struct settings *cfg)
{
	for (size_t i = 0; i < cfg->nworker_listen; i++) {
		const char *u = cfg->worker_listen[i];

		if (strncmp(u, "tls+tcp://", 10) == 0 &&
		    (cfg->worker_tls_cert == NULL || cfg->worker_tls_key == NULL ||
		    cfg->worker_tls_ca == NULL)) {
			fprintf(stderr, "wspool-master: --worker-listen %s needs "
			    "--worker-tls-cert, --worker-tls-key and "
			    "--worker-tls-ca\n", u);
			return -1;
		}
		if (strncmp(u, "tcp://", 6) == 0 && !options_loopback(u) &&
		    !cfg->insecure_worker_listen) {
			fprintf(stderr, "wspool-master: --worker-listen %s: plain "
			    "tcp:// beyond loopback would let anyone who can reach "
			    "it join as a worker and read every call and its "
			    "upgrade headers; use tls+tcp:// (see docs/scaling.md), "
			    "or --insecure-worker-listen on a network you trust\n",
			    u);
			return -1;
		}
	}
	return 0;
}

static void
options_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
}

/*
 * Read FILE's options ("name = value" or "name" per line, # comments) as
 * "--name=value" arguments. Returns the count added to *out, or -1.
 */
static int
options_config(const char *path, char ***out, int *nout)
{
	char line[4096], *p, *end, *eq, *arg, **grown;
	FILE *f;
	int lineno = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "wspool-master: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "wspool-master: %s:%d: line too long\n", path, lineno);
			goto fail;
		}
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		end = p + strlen(p);
		while (end > p && (end[-1] == '\n' || end[-1] == ' ' ||
		    end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if ((eq = strchr(p, '=')) != NULL) {
			char *k = eq;
			while (k > p && (k[-1] == ' ' || k[-1] == '\t'))
				k--;
			*k = '\0';
			for (eq++; *eq == ' ' || *eq == '\t'; eq++)
				;
		}
		if (strcmp(p, "config") == 0) {
			fprintf(stderr, "wspool-master: %s:%d: config files do not nest\n",
			    path, lineno);
			goto fail;
		}
		if (asprintf(&arg, eq ? "--%s=%s" : "--%s", p, eq) < 0)
			goto fail;
		if ((grown = realloc(*out, (size_t)(*nout + 2) * sizeof(*grown))) == NULL) {
			free(arg);
			goto fail;
		}
		*out = grown;
		(*out)[(*nout)++] = arg;
		(*out)[*nout] = NULL;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

int
options_parse(struct settings *cfg, int argc, char **argv)
{
	char **args = NULL, **all, *config = NULL;
	int nargs = 0, nfile = 0, rv = -1, i;

	/* A config file's options come first, so the command line wins. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	if ((args = calloc(2, sizeof(*args))) == NULL)
		return -1;
	args[nargs++] = argv[0];
	/* args[1 .. nfile) are the config file's, allocated here. */
	rv = config != NULL ? options_config(config, &args, &nargs) : 0;
	nfile = nargs;
	if (rv != 0)
		goto out;
	if ((all = realloc(args, (size_t)(nargs + argc) * sizeof(*all))) == NULL) {
		rv = -1;
		goto out;
	}
	args = all;
	for (i = 1; i < argc; i++)
		args[nargs++] = argv[i];
	args[nargs] = NULL;
	if ((rv = options_parse_args(cfg, nargs, args)) == 0 && config != NULL)
		cfg->config_path = strdup(config);
out:
	for (i = 1; i < nfile; i++)
		free(args[i]);
	free(args);
	return rv;
}

static int
options_parse_args(struct settings *cfg, int argc, char **argv)
{
	enum { O_WORKER_LISTEN = 256, O_WORKER_PATH, O_WORKER_THREADS,
	    O_WORKER_MEMORY, O_WS_PATH, O_MAX_MESSAGE, O_MAX_INFLIGHT,
	    O_CALL_TIMEOUT, O_LOG_LEVEL, O_GRACE, O_QUEUE_TIMEOUT, O_QUEUE_MAX,
	    O_WORKER_MAX_INFLIGHT, O_MAX_CALLS_PER_WORKER, O_MAX_CONNECTIONS,
	    O_HANDSHAKE_TIMEOUT, O_IDLE_TIMEOUT, O_PING_INTERVAL, O_PONG_TIMEOUT,
	    O_MAX_CLIENT_BACKLOG, O_SEND_TIMEOUT, O_STREAM_WINDOW,
	    O_ALLOW_ORIGIN, O_USER, O_CORE_DUMPS, O_CHECK, O_CONFIG, O_JOURNAL,
	    O_NODE_NAME, O_EMIT_ROUTES,
	    O_WORKER_TLS_CERT, O_WORKER_TLS_KEY, O_WORKER_TLS_CA,
	    O_INSECURE_WORKER_LISTEN, O_WORKER_TIMEOUT, O_ADOPT,
	    O_TLS_CERT, O_TLS_KEY, O_COMPRESSION,
	    O_DEADLINE_GRACE, O_WORKER_MAX_THREADS, O_WORKER_MAX_WAITING,
	    O_WORKER_STACK };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "worker-listen", required_argument, NULL, O_WORKER_LISTEN },
		{ "tls-cert", required_argument, NULL, O_TLS_CERT },
		{ "tls-key", required_argument, NULL, O_TLS_KEY },
		{ "compression", no_argument, NULL, O_COMPRESSION },
		{ "worker-path", required_argument, NULL, O_WORKER_PATH },
		{ "worker-tls-cert", required_argument, NULL, O_WORKER_TLS_CERT },
		{ "worker-tls-key", required_argument, NULL, O_WORKER_TLS_KEY },
		{ "worker-tls-ca", required_argument, NULL, O_WORKER_TLS_CA },
		{ "insecure-worker-listen", no_argument, NULL,
		    O_INSECURE_WORKER_LISTEN },
		{ "worker-timeout", required_argument, NULL, O_WORKER_TIMEOUT },
		{ "worker-threads", required_argument, NULL, O_WORKER_THREADS },
		{ "worker-memory", required_argument, NULL, O_WORKER_MEMORY },
		{ "ws-path", required_argument, NULL, O_WS_PATH },
		{ "max-message", required_argument, NULL, O_MAX_MESSAGE },
		{ "max-inflight", required_argument, NULL, O_MAX_INFLIGHT },
		{ "call-timeout", required_argument, NULL, O_CALL_TIMEOUT },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "queue-timeout", required_argument, NULL, O_QUEUE_TIMEOUT },
		{ "queue-max", required_argument, NULL, O_QUEUE_MAX },
		{ "worker-max-inflight", required_argument, NULL, O_WORKER_MAX_INFLIGHT },
		{ "max-calls-per-worker", required_argument, NULL, O_MAX_CALLS_PER_WORKER },
		{ "max-connections", required_argument, NULL, O_MAX_CONNECTIONS },
		{ "handshake-timeout", required_argument, NULL, O_HANDSHAKE_TIMEOUT },
		{ "idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT },
		{ "ping-interval", required_argument, NULL, O_PING_INTERVAL },
		{ "pong-timeout", required_argument, NULL, O_PONG_TIMEOUT },
		{ "max-client-backlog", required_argument, NULL, O_MAX_CLIENT_BACKLOG },
		{ "send-timeout", required_argument, NULL, O_SEND_TIMEOUT },
		{ "stream-window", required_argument, NULL, O_STREAM_WINDOW },
		{ "allow-origin", required_argument, NULL, O_ALLOW_ORIGIN },
		{ "user", required_argument, NULL, O_USER },
		{ "core-dumps", no_argument, NULL, O_CORE_DUMPS },
		{ "check", no_argument, NULL, O_CHECK },
		{ "emit-routes", required_argument, NULL, O_EMIT_ROUTES },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "journal", required_argument, NULL, O_JOURNAL },
		{ "node-name", required_argument, NULL, O_NODE_NAME },
		{ "adopt", required_argument, NULL, O_ADOPT },
		{ "deadline-grace", required_argument, NULL, O_DEADLINE_GRACE },
		{ "worker-max-threads", required_argument, NULL,
		    O_WORKER_MAX_THREADS },
		{ "worker-max-waiting", required_argument, NULL,
		    O_WORKER_MAX_WAITING },
		{ "worker-stack", required_argument, NULL, O_WORKER_STACK },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	long ncpu;
	int c;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_host = strdup("127.0.0.1");
	cfg->listen_port = 8080;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu > 0 ? (int)ncpu : 1;
	cfg->ws_path = strdup("/ws");
	cfg->max_message = 1024 * 1024;
	cfg->max_inflight = 1024;
	cfg->call_timeout_ms = 30000;
	cfg->grace_ms = 10000;
	cfg->deadline_grace_ms = 1000;
	cfg->worker_max_threads = 1024;
	cfg->queue_timeout_ms = 5000;
	cfg->queue_max = 10000;
	cfg->worker_max_inflight = 1000;
	cfg->max_connections = 10000;
	cfg->handshake_timeout_s = 10;
	cfg->idle_timeout_s = 0;
	cfg->ping_interval_s = 30;
	cfg->pong_timeout_s = 10;
	cfg->max_client_backlog = 1024u * 1024;
	cfg->send_timeout_s = 30;
	cfg->stream_window = PROTO_CREDIT_WINDOW;
	cfg->worker_threads = 4;
	cfg->worker_memory = OPTIONS_WORKER_MEMORY_DEFAULT;
	cfg->journal_path = strdup(MASTER_JOURNAL_DEFAULT);
	cfg->worker_timeout_ms = 5000;
	cfg->log_level = LOG_INFO;

	while ((c = getopt_long(argc, argv, "l:w:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (options_listen(cfg, optarg) != 0)
				goto fail;
			break;
		case 'w':
			if (options_uint(optarg, 1024, &v) != 0)
				goto fail;
			cfg->workers = (int)v;
			break;
		case O_WORKER_LISTEN:
			if (cfg->nworker_listen == MASTER_MAX_WORKER_LISTEN)
				goto fail;
			if (strncmp(optarg, "tcp://", 6) != 0 &&
			    strncmp(optarg, "tls+tcp://", 10) != 0 &&
			    strncmp(optarg, "ipc://", 6) != 0)
				goto fail;
			cfg->worker_listen[cfg->nworker_listen++] = strdup(optarg);
			break;
		case O_WORKER_PATH:
			options_set(&cfg->worker_path, optarg);
			break;
		case O_WORKER_TLS_CERT:
			options_set(&cfg->worker_tls_cert, optarg);
			break;
		case O_TLS_CERT:
			options_set(&cfg->tls_cert, optarg);
			break;
		case O_TLS_KEY:
			options_set(&cfg->tls_key, optarg);
			break;
		case O_COMPRESSION:
			cfg->compression = true;
			break;
		case O_WORKER_TLS_KEY:
			options_set(&cfg->worker_tls_key, optarg);
			break;
		case O_WORKER_TLS_CA:
			options_set(&cfg->worker_tls_ca, optarg);
			break;
		case O_INSECURE_WORKER_LISTEN:
			cfg->insecure_worker_listen = true;
			break;
		case O_WORKER_TIMEOUT:
			if (options_secs(optarg, 0.2, 3600.0,
			    &cfg->worker_timeout_ms) != 0)
				goto fail;
			break;
		case O_WORKER_THREADS:
			if (options_uint(optarg, 1024, &v) != 0 || v == 0)
				goto fail;
			cfg->worker_threads = (unsigned)v;
			break;
		case O_WORKER_MEMORY:
			if (options_size(optarg, &cfg->worker_memory) != 0)
				goto fail;
			break;
		case O_WS_PATH:
			if (optarg[0] != '/')
				goto fail;
			options_set(&cfg->ws_path, optarg);
			break;
		case O_MAX_MESSAGE:
			if (options_size(optarg, &cfg->max_message) != 0 ||
			    cfg->max_message < 64 ||
			    cfg->max_message > 64u * 1024 * 1024)
				goto fail;
			break;
		case O_MAX_INFLIGHT:
			if (options_uint(optarg, 1u << 20, &v) != 0 || v == 0)
				goto fail;
			cfg->max_inflight = (unsigned)v;
			break;
		case O_CALL_TIMEOUT:
			if (options_secs(optarg, 0, 86400.0 * 365,
			    &cfg->call_timeout_ms) != 0)
				goto fail;
			break;
		case O_QUEUE_TIMEOUT:
			if (options_secs(optarg, 0, 86400.0,
			    &cfg->queue_timeout_ms) != 0)
				goto fail;
			break;
		case O_QUEUE_MAX:
			if (options_uint(optarg, 1u << 24, &v) != 0)
				goto fail;
			cfg->queue_max = (unsigned)v;
			break;
		case O_WORKER_MAX_INFLIGHT:
			if (options_uint(optarg, 1u << 24, &v) != 0 || v == 0)
				goto fail;
			cfg->worker_max_inflight = (unsigned)v;
			break;
		case O_MAX_CALLS_PER_WORKER:
			if (options_uint(optarg, ULONG_MAX, &v) != 0)
				goto fail;
			cfg->max_calls_per_worker = v;
			break;
		case O_MAX_CONNECTIONS:
			if (options_uint(optarg, 1u << 24, &v) != 0 || v == 0)
				goto fail;
			cfg->max_connections = (unsigned)v;
			break;
		case O_HANDSHAKE_TIMEOUT:
			if (options_uint(optarg, 3600, &v) != 0 || v == 0)
				goto fail;
			cfg->handshake_timeout_s = (unsigned)v;
			break;
		case O_IDLE_TIMEOUT:
			if (options_uint(optarg, 86400 * 7, &v) != 0)
				goto fail;
			cfg->idle_timeout_s = (unsigned)v;
			break;
		case O_PING_INTERVAL:
			if (options_uint(optarg, 86400, &v) != 0)
				goto fail;
			cfg->ping_interval_s = (unsigned)v;
			break;
		case O_PONG_TIMEOUT:
			if (options_uint(optarg, 86400, &v) != 0 || v == 0)
				goto fail;
			cfg->pong_timeout_s = (unsigned)v;
			break;
		case O_MAX_CLIENT_BACKLOG:
			if (options_size(optarg, &cfg->max_client_backlog) != 0 ||
			    cfg->max_client_backlog < 4096 ||
			    cfg->max_client_backlog > 1024u * 1024 * 1024)
				goto fail;
			break;
		case O_SEND_TIMEOUT:
			if (options_uint(optarg, 86400, &v) != 0)
				goto fail;
			cfg->send_timeout_s = (unsigned)v;
			break;
		case O_STREAM_WINDOW:
			if (options_size(optarg, &cfg->stream_window) != 0 ||
			    cfg->stream_window < PROTO_CREDIT_WINDOW ||
			    cfg->stream_window > 64u * 1024 * 1024)
				goto fail;
			break;
		case O_ALLOW_ORIGIN:
			if (cfg->nallow_origin == MASTER_MAX_ORIGINS)
				goto fail;
			cfg->allow_origin[cfg->nallow_origin++] = strdup(optarg);
			break;
		case O_USER:
			options_set(&cfg->user, optarg);
			break;
		case O_CORE_DUMPS:
			cfg->core_dumps = true;
			break;
		case O_CHECK:
			cfg->check_only = true;
			break;
		case O_EMIT_ROUTES:
			if (strcmp(optarg, "ts") != 0 &&
			    strcmp(optarg, "json") != 0)
				goto fail;
			options_set(&cfg->emit_routes, optarg);
			break;
		case O_CONFIG:
			break; /* read before the command line: options_config */
		case O_JOURNAL:
			if (optarg[0] == '\0')
				goto fail;
			options_set(&cfg->journal_path, optarg);
			break;
		case O_NODE_NAME:
			if (options_node_name(optarg) != 0)
				goto fail;
			options_set(&cfg->node_name, optarg);
			break;
		case O_ADOPT:
			/* It acts as that node: the same keys, its lock. */
			if (options_node_name(optarg) != 0)
				goto fail;
			cfg->adopt = true;
			options_set(&cfg->adopt_name, optarg);
			break;
		case O_GRACE:
			if (options_secs(optarg, 0, 86400.0,
			    &cfg->grace_ms) != 0)
				goto fail;
			break;
		case O_DEADLINE_GRACE:
			if (options_secs(optarg, 0, 3600.0,
			    &cfg->deadline_grace_ms) != 0)
				goto fail;
			break;
		case O_WORKER_MAX_THREADS:
			if (options_uint(optarg, 4096, &v) != 0 || v == 0)
				goto fail;
			cfg->worker_max_threads = (unsigned)v;
			break;
		case O_WORKER_MAX_WAITING:
			if (options_uint(optarg, 65536, &v) != 0)
				goto fail;
			cfg->worker_max_waiting = (unsigned)v;
			break;
		case O_WORKER_STACK:
			/* glibc's floor is 16 KiB; handlers need more. */
			if (options_size(optarg, &cfg->worker_stack) != 0 ||
			    cfg->worker_stack < 64 * 1024 ||
			    cfg->worker_stack > 1024u * 1024 * 1024)
				goto fail;
			break;
		case O_LOG_LEVEL:
			if ((cfg->log_level = log_level_parse(optarg)) < 0)
				goto fail;
			break;
		case 'h':
			usage_print(stdout);
			exit(0);
		case 'V':
			printf("wspool-master (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			exit(0);
		default:
			usage_print(stderr);
			return -1;
		}
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "wspool-master: one module at most\n");
		return -1;
	}
	if (optind < argc)
		cfg->module_path = strdup(argv[optind]);
	if (cfg->worker_max_threads < cfg->worker_threads)
		cfg->worker_max_threads = cfg->worker_threads;
	if (cfg->adopt) {
		if (strcmp(cfg->journal_path, "none") == 0) {
			fprintf(stderr, "wspool-master: --adopt needs a journal\n");
			return -1;
		}
		free(cfg->node_name);
		cfg->node_name = cfg->adopt_name;
		cfg->adopt_name = NULL;
		cfg->workers = 0;
	}
	if (cfg->node_name == NULL) {
		char host[256];

		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		/* Keep what a node name may hold: cut at the first other byte. */
		host[strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
		    "UVWXYZ0123456789._-")] = '\0';
		if (strlen(host) > MASTER_NODE_NAME_MAX)
			host[MASTER_NODE_NAME_MAX] = '\0';
		cfg->node_name = strdup(host[0] != '\0' ? host : "localhost");
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		fprintf(stderr, "wspool-master: --tls-cert and --tls-key go "
		    "together\n");
		return -1;
	}
	return options_check_worker_listen(cfg);

fail:
	/* Name the option as its long form, however it was given. */
	for (i = 0; longopts[i].name != NULL && longopts[i].val != c; i++)
		;
	fprintf(stderr, "wspool-master: invalid value for --%s: %s\n",
	    longopts[i].name != NULL ? longopts[i].name : "?", optarg);
	return -1;
}

void
options_free(struct settings *cfg)
{
	free(cfg->listen_host);
	free(cfg->ws_path);
	free(cfg->module_path);
	free(cfg->worker_path);
	free(cfg->worker_tls_cert);
	free(cfg->worker_tls_key);
	free(cfg->worker_tls_ca);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->user);
	free(cfg->config_path);
	free(cfg->emit_routes);
	free(cfg->journal_path);
	free(cfg->node_name);
	free(cfg->adopt_name);
	for (size_t i = 0; i < cfg->nworker_listen; i++)
		free(cfg->worker_listen[i]);
	for (size_t i = 0; i < cfg->nallow_origin; i++)
		free(cfg->allow_origin[i]);
	memset(cfg, 0, sizeof(*cfg));
}
