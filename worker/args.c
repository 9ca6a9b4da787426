/*
 * args.c: the wspool-worker command line: parsing, checks and --help.
 * Bad usage says what is wrong and exits 2 (see main.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/args.h"

static void
args_usage(FILE *f)
{
	fprintf(f,
	    "usage: wspool-worker --connect ADDRESS... [--threads N] "
	    "[--max-threads M]\n"
	    "                     [--max-waiting N] [--stack BYTES]\n"
	    "                     [--memory BYTES] [TLS OPTIONS] [--runner] "
	    "MODULE.so\n"
	    "       wspool-worker --check MODULE.so\n"
	    "       wspool-worker --digest MODULE.so\n"
	    "       wspool-worker --emit-routes ts|json MODULE.so\n"
	    "\n"
	    "Run the route handlers of MODULE.so for a wspool-master.\n"
	    "\n"
	    "  -c, --connect ADDRESS  a master's registry: ipc://PATH, "
	    "tcp://HOST:PORT or\n"
	    "                         tls+tcp://HOST:PORT; repeat it to serve "
	    "several masters\n"
	    "      --tls-cert FILE    this worker's certificate (PEM), for "
	    "tls+tcp://\n"
	    "      --tls-key FILE     its private key (PEM)\n"
	    "      --tls-ca FILE      the CA that signed the masters' "
	    "certificates (PEM)\n"
	    "      --tls-server-name NAME  a DNS name the master's certificate "
	    "must carry\n"
	    "                         (default: the address's host name; none "
	    "for an IP)\n"
	    "      --no-reconnect     exit when a master is lost (the default "
	    "for ipc://);\n"
	    "                         otherwise rejoin it with a back-off\n"
	    "  -t, --threads N        handler threads at start (default 4)\n"
	    "  -T, --max-threads M    grow up to M threads when handlers "
	    "block (default 1024):\n"
	    "                         the calls it can run at once, told to "
	    "the master\n"
	    "      --max-waiting N    calls it takes beyond them, to wait for "
	    "a thread\n"
	    "                         (default 0)\n"
	    "      --stack BYTES      each handler thread's stack (default "
	    "256k; 512k under\n"
	    "                         sanitizers)\n"
	    "  -m, --memory BYTES     memory limit (suffix k, m, g): data the "
	    "worker may map\n"
	    "                         beyond what it maps at start "
	    "(RLIMIT_DATA); beyond it\n"
	    "                         allocations fail\n"
	    "  -R, --runner           the cleanup runner: run cleanups handed "
	    "over, no calls\n"
	    "      --crash-fd FD      the crash page its master shares "
	    "(local workers)\n"
	    "  -C, --check            load and check the module (and run its "
	    "init and fini),\n"
	    "                         then exit: 0 when it can be served\n"
	    "  -E, --emit-routes FORMAT  print the module's routes for "
	    "clients, then exit:\n"
	    "                         ts (alien-rpc route definitions) or "
	    "json (a manifest);\n"
	    "                         the module's init does not run\n"
	    "      --digest           print the module's digest (what a master "
	    "compares at\n"
	    "                         join) and exit\n"
	    "  -h, --help             this help\n"
	    "  -V, --version          print the version\n"
	    "\n"
	    "SIGTERM or SIGINT cancels the running calls, runs their "
	    "cleanups and exits.\n");
}

static int
args_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
args_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = UINT64_C(1) << 10; end++; break;
	case 'm': case 'M': mul = UINT64_C(1) << 20; end++; break;
	case 'g': case 'G': mul = UINT64_C(1) << 30; end++; break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || v == 0 || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
args_parse(int argc, char **argv, struct args *a)
{
	enum { O_DIGEST = 256, O_TLS_CERT, O_TLS_KEY, O_TLS_CA,
	    O_TLS_SERVER_NAME, O_NO_RECONNECT, O_MAX_WAITING, O_STACK };
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "max-threads", required_argument, NULL, 'T' },
		{ "memory", required_argument, NULL, 'm' },
		{ "check", no_argument, NULL, 'C' },
		{ "emit-routes", required_argument, NULL, 'E' },
		{ "runner", no_argument, NULL, 'R' },
		{ "crash-fd", required_argument, NULL, 'F' },
		{ "digest", no_argument, NULL, O_DIGEST },
		{ "tls-cert", required_argument, NULL, O_TLS_CERT },
		{ "tls-key", required_argument, NULL, O_TLS_KEY },
		{ "tls-ca", required_argument, NULL, O_TLS_CA },
		{ "tls-server-name", required_argument, NULL, O_TLS_SERVER_NAME },
		{ "no-reconnect", no_argument, NULL, O_NO_RECONNECT },
		{ "max-waiting", required_argument, NULL, O_MAX_WAITING },
		{ "stack", required_argument, NULL, O_STACK },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool max_set = false;
	uint64_t v;
	int ch;

	a->ar_threads = 4;
	a->ar_max_threads = 1024;
	a->ar_stack = ARGS_STACK_DEFAULT;
	a->ar_crash_fd = -1;
	while ((ch = getopt_long(argc, argv, "c:t:T:m:CE:RhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (a->ar_nconnect == ARGS_MAX_CONNECT) {
				fprintf(stderr, "wspool-worker: at most %d "
				    "--connect\n", ARGS_MAX_CONNECT);
				goto usage;
			}
			a->ar_connect[a->ar_nconnect++] = optarg;
			a->ar_address = a->ar_connect[0];
			break;
		case O_DIGEST:
			a->ar_digest = true;
			break;
		case O_TLS_CERT:
			a->ar_tls_cert = optarg;
			break;
		case O_TLS_KEY:
			a->ar_tls_key = optarg;
			break;
		case O_TLS_CA:
			a->ar_tls_ca = optarg;
			break;
		case O_TLS_SERVER_NAME:
			a->ar_tls_server_name = optarg;
			break;
		case O_NO_RECONNECT:
			a->ar_no_reconnect = true;
			break;
		case O_MAX_WAITING:
			if (strcmp(optarg, "0") == 0) {
				a->ar_max_waiting = 0;
				break;
			}
			if (args_uint(optarg, 65536, &v) != 0) {
				fprintf(stderr, "wspool-worker: --max-waiting "
				    "wants a number from 0 to 65536, not '%s'\n",
				    optarg);
				goto usage;
			}
			a->ar_max_waiting = (unsigned)v;
			break;
		case O_STACK:
			if (args_bytes(optarg, &a->ar_stack) != 0 ||
			    a->ar_stack < 64 * 1024 ||
			    a->ar_stack > (UINT64_C(1) << 30)) {
				fprintf(stderr, "wspool-worker: --stack wants "
				    "a size from 64k to 1g, not '%s'\n", optarg);
				goto usage;
			}
			break;
		case 't':
			if (args_uint(optarg, 1024, &v) != 0) {
				fprintf(stderr, "wspool-worker: --threads wants "
				    "a number from 1 to 1024, not '%s'\n",
				    optarg);
				goto usage;
			}
			a->ar_threads = (unsigned)v;
			break;
		case 'T':
			if (args_uint(optarg, 4096, &v) != 0) {
				fprintf(stderr, "wspool-worker: --max-threads "
				    "wants a number from 1 to 4096, not '%s'\n",
				    optarg);
				goto usage;
			}
			a->ar_max_threads = (unsigned)v;
			max_set = true;
			break;
		case 'm':
			if (args_bytes(optarg, &a->ar_memory) != 0) {
				fprintf(stderr, "wspool-worker: --memory wants "
				    "a size in bytes like 512m, not '%s'\n",
				    optarg);
				goto usage;
			}
			break;
		case 'C':
			a->ar_check = true;
			break;
		case 'E':
			if (strcmp(optarg, "ts") != 0 &&
			    strcmp(optarg, "json") != 0) {
				fprintf(stderr, "wspool-worker: --emit-routes "
				    "wants ts or json, not '%s'\n", optarg);
				goto usage;
			}
			a->ar_emit = optarg;
			break;
		case 'R':
			a->ar_runner = true;
			break;
		case 'F':
			if (args_uint(optarg, 1 << 20, &v) != 0 && strcmp(optarg,
			    "0") != 0) {
				fprintf(stderr, "wspool-worker: --crash-fd wants "
				    "a file descriptor, not '%s'\n", optarg);
				goto usage;
			}
			a->ar_crash_fd = strcmp(optarg, "0") == 0 ? 0 : (int)v;
			break;
		case 'h':
			args_usage(stdout);
			return 1;
		case 'V':
			printf("wspool-worker %s\n", PACKAGE_VERSION);
			return 1;
		default:
			fprintf(stderr, "Try 'wspool-worker --help'.\n");
			return 2;
		}
	}
	if (a->ar_address == NULL && !a->ar_check && !a->ar_digest &&
	    a->ar_emit == NULL) {
		fprintf(stderr, "wspool-worker: --connect ADDRESS is required\n");
		goto usage;
	}
	for (unsigned i = 0; i < a->ar_nconnect; i++) {
		const char *c = a->ar_connect[i];

		if (strncmp(c, "ipc://", 6) != 0 && strncmp(c, "tcp://", 6) != 0 &&
		    strncmp(c, "tls+tcp://", 10) != 0) {
			fprintf(stderr, "wspool-worker: --connect wants ipc://PATH, "
			    "tcp://HOST:PORT or tls+tcp://HOST:PORT, not '%s'\n", c);
			goto usage;
		}
		if (strncmp(c, "tls+tcp://", 10) == 0 && (a->ar_tls_cert == NULL ||
		    a->ar_tls_key == NULL || a->ar_tls_ca == NULL)) {
			fprintf(stderr, "wspool-worker: %s needs --tls-cert, "
			    "--tls-key and --tls-ca\n", c);
			goto usage;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "wspool-worker: %s\n", optind == argc ?
		    "the module to load (MODULE.so) is missing" :
		    "only one module may be given");
		goto usage;
	}
	a->ar_module = argv[optind];
	if (a->ar_max_threads < a->ar_threads) {
		if (max_set) {
			fprintf(stderr, "wspool-worker: --max-threads (%u) is "
			    "below --threads (%u)\n", a->ar_max_threads,
			    a->ar_threads);
			goto usage;
		}
		a->ar_max_threads = a->ar_threads;
	}
	return 0;
usage:
	fprintf(stderr, "Try 'wspool-worker --help'.\n");
	return 2;
}
