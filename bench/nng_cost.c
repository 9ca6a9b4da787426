/*
 * nng_cost.c: what one nng message costs between two processes (pair1
 * over ipc), unbatched and batched: the measurement behind the master's
 * and the worker's packing of many envelopes into one nng message.
 * `nng_cost --floor` prints only the median of lone round trips (the
 * floor a lone call through a worker cannot go under), for bench/compare.
 * Built by make (bench/nng_cost), or: cc -O2 -o nng_cost bench/nng_cost.c -lnng
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
fatal(const char *what, int rv)
{
	fprintf(stderr, "%s: %s\n", what, nng_strerror(rv));
	exit(1);
}

/* The peer echoes every message back. */
static void
echo_peer(const char *url)
{
	nng_socket s;
	nng_msg *m;
	int rv;

	if ((rv = nng_pair1_open(&s)) != 0 ||
	    (rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		fatal("peer", rv);
	while (nng_recvmsg(s, &m, 0) == 0)
		if (nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
	_exit(0);
}

int
main(int argc, char **argv)
{
	char url[128];
	nng_socket s;
	nng_msg *m;
	pid_t pid;
	int rv, window, batch;
	int floor_only = argc > 1 && strcmp(argv[1], "--floor") == 0;
	const int total_msgs = argc > 1 && !floor_only ? atoi(argv[1]) : 20000;

	snprintf(url, sizeof(url), "ipc:///tmp/nng_cost.%d", (int)getpid());
	/* nng may not be used across fork: fork first. */
	if ((pid = fork()) == 0)
		echo_peer(url);
	if ((rv = nng_pair1_open(&s)) != 0 || (rv = nng_listen(s, url, NULL, 0)) != 0)
		fatal("listen", rv);
	nng_msg_alloc(&m, 0);  /* wait for the peer: first round trip */
	nng_sendmsg(s, m, 0);
	nng_recvmsg(s, &m, 0);
	nng_msg_free(m);

	/* One round trip at a time. */
	{
		enum { N = 2000 };
		static double rt[N];
		double t = now(), t0;

		for (int i = 0; i < N; i++) {
			t0 = now();
			nng_msg_alloc(&m, 64);
			nng_sendmsg(s, m, 0);
			nng_recvmsg(s, &m, 0);
			nng_msg_free(m);
			rt[i] = now() - t0;
		}
		t = now() - t;
		qsort(rt, N, sizeof(rt[0]), cmp_double);
		if (floor_only) {
			printf("%.1f\n", rt[N / 2] * 1e6);
			goto out;
		}
		printf("round trip, nothing else in flight: %.1f us (mean), "
		    "%.1f us (median)\n", t / N * 1e6, rt[N / 2] * 1e6);
	}
	/* Pipelined, a window of 8 messages (more can deadlock two blocking peers); each message carries `batch` calls
	 * of 64 bytes. */
	for (batch = 1; batch <= 64; batch *= 4) {
		int sent = 0, got = 0;
		double t = now();
		window = 8;
		while (got < total_msgs) {
			while (sent < total_msgs && sent - got < window) {
				nng_msg_alloc(&m, (size_t)batch * 64);
				if (nng_sendmsg(s, m, 0) != 0)
					fatal("send", 1);
				sent++;
			}
			if (nng_recvmsg(s, &m, 0) != 0)
				fatal("recv", 1);
			nng_msg_free(m);
			got++;
		}
		t = now() - t;
		printf("pipelined, %2d calls per message: %8.0f messages/s, %9.0f calls/s\n",
		    batch, total_msgs / t, total_msgs * (double)batch / t);
	}
out:
	nng_close(s);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return 0;
}
