/*
 * opts.h: wspool-bench's command line and target URL, parsed without
 * global state so that the unit tests can run it many times.
 */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stddef.h>
#include <stdint.h>

enum bench_mode {
	BENCH_CLOSED,      /* K calls in flight per connection, always */
	BENCH_RATE,        /* open loop: --rate calls/s in all */
	BENCH_SUBSCRIBE,   /* K subscriptions per connection, chunks counted */
	BENCH_IDLE,        /* open --idle connections and hold them */
};

#define BENCH_MAX_CONNECTIONS 1000000
#define BENCH_MAX_INFLIGHT 65536
#define BENCH_MAX_PARAMS (16u << 20)
#define BENCH_MAX_METHOD 256
#define BENCH_MAX_HOST 255
#define BENCH_MAX_PATH 1024

struct bench_url {
	char u_host[BENCH_MAX_HOST + 1];       /* without brackets or port */
	char u_hostport[BENCH_MAX_HOST + 8];   /* for the Host header */
	char u_path[BENCH_MAX_PATH + 1];
	uint16_t u_port;
};

struct bench_opts {
	enum bench_mode o_mode;
	struct bench_url o_url;
	unsigned o_connections;
	unsigned o_inflight;
	double o_duration;        /* seconds measured */
	double o_warmup;          /* seconds run before measuring */
	double o_rate;            /* BENCH_RATE: calls per second, all told */
	unsigned o_idle;          /* BENCH_IDLE: connections to hold */
	unsigned o_source_addrs;  /* spread over 127.0.0.1..127.0.0.N (0: auto) */
	char o_method[BENCH_MAX_METHOD + 1];
	char *o_params;           /* JSON, sent verbatim; NULL: none (owned) */
	size_t o_params_len;
	uint64_t o_max_message;   /* largest server message accepted */
	int o_json;               /* one JSON object at the end */
	int o_offer_deflate;      /* offer permessage-deflate (never inflated) */
	int o_quiet;              /* no progress line even on a terminal */
	int o_help;               /* --help was asked: print usage, exit 0 */
};

/*
 * Parse a ws://HOST[:PORT][/PATH] URL (HOST a name, an IPv4 address or a
 * bracketed IPv6 one). Returns 0, or -1 with a message in err.
 */
int bench_url_parse(struct bench_url *u, const char *url, char *err,
    size_t errlen);

/*
 * Parse argv into o (defaults first). Returns 0, or -1 with a message in
 * err. --params @FILE reads the JSON from FILE. Free with bench_opts_free
 * in both cases.
 */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err,
    size_t errlen);
void bench_opts_free(struct bench_opts *o);

/* Strict number parsing: the whole string, within [min, max]. */
int bench_parse_uint(const char *s, unsigned min, unsigned max,
    unsigned *out);
int bench_parse_double(const char *s, double min, double max, double *out);
/* A byte count with an optional K, M or G suffix (powers of 1024). */
int bench_parse_size(const char *s, uint64_t *out);

/*
 * The constant tail of every call message:
 * ,"method":"M","params":P} (no params key when there are none), the
 * method JSON-escaped. Returns a malloc'ed string (length in *len) or NULL.
 */
char *bench_call_tail(const struct bench_opts *o, size_t *len);

extern const char bench_usage[];

#endif
