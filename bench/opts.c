/*
 * opts.c: wspool-bench's option and URL parsing (see opts.h); every
 * number is checked whole and against its range.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/opts.h"
#include "bench/resp.h"

const char bench_usage[] =
"Usage: wspool-bench [OPTION]...\n"
"Load generator for WebSocket servers speaking the alien-rpc protocol.\n"
"\n"
"  -u, --url URL           ws://HOST:PORT/PATH (default ws://127.0.0.1:8080/ws)\n"
"  -c, --connections N     connections (default 1)\n"
"  -k, --inflight K        calls in flight per connection (default 1)\n"
"  -d, --duration S        seconds measured (default 5)\n"
"  -w, --warmup S          seconds run before measuring (default 1)\n"
"  -m, --method NAME       route to call (default echo)\n"
"  -p, --params JSON       params, sent verbatim; @FILE reads them from FILE\n"
"      --subscribe         the method is a subscription: count chunks until\n"
"                          close, then subscribe again (chunks/s)\n"
"      --rate R            open loop: R calls/s over all connections, latency\n"
"                          from each call's intended send time\n"
"      --idle N            open N connections (one .ping each), hold them for\n"
"                          --duration; prints '# idle-ready OPEN FAILED' when\n"
"                          all are open\n"
"      --source-addrs A    bind connections to 127.0.0.1..127.0.0.A\n"
"                          (default: one address per 16,000 connections)\n"
"      --max-message BYTES largest server message accepted (default 64M)\n"
"      --offer-deflate     offer permessage-deflate in the upgrade request\n"
"                          (for a server with --compression; its answers\n"
"                          must stay under its threshold: they are not\n"
"                          inflated)\n"
"      --json              print one JSON object at the end\n"
"  -q, --quiet             no progress line\n"
"  -h, --help              show this help and exit\n";

static void
bench_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
bench_parse_double(const char *s, double min, double max, double *out)
{
	double v;
	char *end;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
bench_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: return -1;
		}
	}
	if (v > (UINT64_MAX >> 34))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int
bench_url_parse(struct bench_url *u, const char *url, char *err,
    size_t errlen)
{
	const char *p, *hend, *pstart;
	size_t hlen;
	unsigned port = 80;
	char portbuf[8];

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "ws://", 5) != 0) {
		bench_err(err, errlen, "URL must start with ws://: %s", url);
		return -1;
	}
	p = url + 5;
	pstart = strchr(p, '/');
	if (pstart == NULL)
		pstart = p + strlen(p);
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(pstart - p));
		if (hend == NULL)
			goto bad;
		hlen = (size_t)(hend - p - 1);
		if (hlen == 0 || hlen > BENCH_MAX_HOST)
			goto bad;
		memcpy(u->u_host, p + 1, hlen);
		hend++;
	} else {
		hend = memchr(p, ':', (size_t)(pstart - p));
		if (hend == NULL)
			hend = pstart;
		hlen = (size_t)(hend - p);
		if (hlen == 0 || hlen > BENCH_MAX_HOST)
			goto bad;
		memcpy(u->u_host, p, hlen);
	}
	if (hend < pstart) {
		if (*hend != ':' || pstart - hend - 1 >= (long)sizeof(portbuf) ||
		    pstart - hend - 1 == 0)
			goto bad;
		memcpy(portbuf, hend + 1, (size_t)(pstart - hend - 1));
		portbuf[pstart - hend - 1] = '\0';
		if (bench_parse_uint(portbuf, 1, 65535, &port) != 0)
			goto bad;
	}
	u->u_port = (uint16_t)port;
	if ((size_t)(pstart - p) >= sizeof(u->u_hostport))
		goto bad;
	memcpy(u->u_hostport, p, (size_t)(pstart - p));
	if (*pstart == '\0') {
		strcpy(u->u_path, "/");
	} else {
		if (strlen(pstart) > BENCH_MAX_PATH)
			goto bad;
		strcpy(u->u_path, pstart);
	}
	/* Spaces or controls would break the request line. */
	for (p = u->u_path; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7F)
			goto bad;
	return 0;
bad:
	bench_err(err, errlen, "bad URL: %s", url);
	return -1;
}

/* Read a --params @FILE into o (bounded). */
static int
bench_read_params(struct bench_opts *o, const char *path, char *err,
    size_t errlen)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0, cap = 4096, r;

	if ((f = fopen(path, "rb")) == NULL) {
		bench_err(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((buf = malloc(cap)) == NULL)
		goto nomem;
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n > BENCH_MAX_PARAMS) {
			bench_err(err, errlen, "%s: params over %u bytes", path,
			    BENCH_MAX_PARAMS);
			goto fail;
		}
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);

			if (nb == NULL)
				goto nomem;
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		bench_err(err, errlen, "%s: read error", path);
		goto fail;
	}
	/* A trailing newline from an editor is not part of the JSON. */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	fclose(f);
	free(o->o_params);
	o->o_params = buf;
	o->o_params_len = n;
	return 0;
nomem:
	bench_err(err, errlen, "out of memory");
fail:
	if (f != NULL)
		fclose(f);
	free(buf);
	return -1;
}

/* Check that params are one JSON value and nothing more. */
static int
bench_check_params(const struct bench_opts *o, char *err, size_t errlen)
{
	size_t pos = 0;

	if (resp_skip_value(o->o_params, o->o_params_len, &pos) != 0)
		goto bad;
	while (pos < o->o_params_len && (o->o_params[pos] == ' ' ||
	    o->o_params[pos] == '\n' || o->o_params[pos] == '\t' ||
	    o->o_params[pos] == '\r'))
		pos++;
	if (pos != o->o_params_len)
		goto bad;
	return 0;
bad:
	bench_err(err, errlen, "--params is not one JSON value");
	return -1;
}

/* Match argv[*i] against a long and a short name; *val its value. */
static int
bench_opt(int argc, char **argv, int *i, const char *lng, const char *shrt,
    int takes, const char **val, int *missing)
{
	const char *a = argv[*i];
	size_t l = strlen(lng);

	*val = NULL;
	if (strncmp(a, lng, l) == 0 && takes && a[l] == '=') {
		*val = a + l + 1;
		return 1;
	}
	if (strcmp(a, lng) != 0 && (shrt == NULL || strcmp(a, shrt) != 0))
		return 0;
	if (takes) {
		if (*i + 1 >= argc) {
			*missing = 1;
			return 1;
		}
		*val = argv[++(*i)];
	}
	return 1;
}

int
bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err,
    size_t errlen)
{
	const char *v, *name = "", *url = "ws://127.0.0.1:8080/ws";
	int i, missing = 0, subscribe = 0, have_rate = 0;

	memset(o, 0, sizeof(*o));
	o->o_connections = 1;
	o->o_inflight = 1;
	o->o_duration = 5;
	o->o_warmup = 1;
	o->o_max_message = 64u << 20;
	strcpy(o->o_method, "echo");

	for (i = 1; i < argc; i++) {
		name = argv[i];
#define OPT(l, s, t) bench_opt(argc, argv, &i, (l), (s), (t), &v, &missing)
		if (OPT("--url", "-u", 1)) {
			if (v != NULL)
				url = v;
		} else if (OPT("--connections", "-c", 1)) {
			if (v != NULL && bench_parse_uint(v, 1,
			    BENCH_MAX_CONNECTIONS, &o->o_connections) != 0)
				goto badval;
		} else if (OPT("--inflight", "-k", 1)) {
			if (v != NULL && bench_parse_uint(v, 1,
			    BENCH_MAX_INFLIGHT, &o->o_inflight) != 0)
				goto badval;
		} else if (OPT("--duration", "-d", 1)) {
			if (v != NULL && bench_parse_double(v, 0.001, 86400,
			    &o->o_duration) != 0)
				goto badval;
		} else if (OPT("--warmup", "-w", 1)) {
			if (v != NULL && bench_parse_double(v, 0, 86400,
			    &o->o_warmup) != 0)
				goto badval;
		} else if (OPT("--method", "-m", 1)) {
			if (v != NULL) {
				if (*v == '\0' || strlen(v) > BENCH_MAX_METHOD)
					goto badval;
				strcpy(o->o_method, v);
			}
		} else if (OPT("--params", "-p", 1)) {
			if (v != NULL && *v == '@') {
				if (bench_read_params(o, v + 1, err, errlen) != 0)
					return -1;
			} else if (v != NULL) {
				free(o->o_params);
				o->o_params_len = strlen(v);
				if (o->o_params_len > BENCH_MAX_PARAMS)
					goto badval;
				if ((o->o_params = strdup(v)) == NULL) {
					bench_err(err, errlen, "out of memory");
					return -1;
				}
			}
		} else if (OPT("--subscribe", NULL, 0)) {
			subscribe = 1;
		} else if (OPT("--rate", NULL, 1)) {
			if (v != NULL && bench_parse_double(v, 0.001, 1e9,
			    &o->o_rate) != 0)
				goto badval;
			have_rate = 1;
		} else if (OPT("--idle", NULL, 1)) {
			if (v != NULL && bench_parse_uint(v, 1,
			    BENCH_MAX_CONNECTIONS, &o->o_idle) != 0)
				goto badval;
		} else if (OPT("--source-addrs", NULL, 1)) {
			if (v != NULL && bench_parse_uint(v, 1, 254,
			    &o->o_source_addrs) != 0)
				goto badval;
		} else if (OPT("--max-message", NULL, 1)) {
			if (v != NULL && (bench_parse_size(v,
			    &o->o_max_message) != 0 || o->o_max_message < 1024))
				goto badval;
		} else if (OPT("--offer-deflate", NULL, 0)) {
			o->o_offer_deflate = 1;
		} else if (OPT("--json", NULL, 0)) {
			o->o_json = 1;
		} else if (OPT("--quiet", "-q", 0)) {
			o->o_quiet = 1;
		} else if (OPT("--help", "-h", 0)) {
			o->o_help = 1;
		} else {
			bench_err(err, errlen, "unknown option: %s", argv[i]);
			return -1;
		}
#undef OPT
		if (missing) {
			bench_err(err, errlen, "%s needs a value", name);
			return -1;
		}
	}
	if (bench_url_parse(&o->o_url, url, err, errlen) != 0)
		return -1;
	if (o->o_params != NULL && bench_check_params(o, err, errlen) != 0)
		return -1;
	if ((o->o_idle != 0) + subscribe + have_rate > 1) {
		bench_err(err, errlen,
		    "--idle, --subscribe and --rate exclude each other");
		return -1;
	}
	if (o->o_idle != 0)
		o->o_mode = BENCH_IDLE;
	else if (subscribe)
		o->o_mode = BENCH_SUBSCRIBE;
	else if (have_rate)
		o->o_mode = BENCH_RATE;
	else
		o->o_mode = BENCH_CLOSED;
	if (o->o_source_addrs == 0) {
		unsigned n = o->o_mode == BENCH_IDLE ? o->o_idle :
		    o->o_connections;

		o->o_source_addrs = n / 16000 + 1;
	}
	return 0;
badval:
	bench_err(err, errlen, "bad value for %s: %s", name,
	    v != NULL ? v : "");
	return -1;
}

void
bench_opts_free(struct bench_opts *o)
{
	free(o->o_params);
	o->o_params = NULL;
	o->o_params_len = 0;
}

char *
bench_call_tail(const struct bench_opts *o, size_t *len)
{
	const char *m;
	char *out, *w;
	size_t cap;

	/* Worst case: every method byte escaped as \u00XX. */
	cap = 32 + 6 * strlen(o->o_method) + o->o_params_len;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	w = out;
	w += sprintf(w, ",\"method\":\"");
	for (m = o->o_method; *m != '\0'; m++) {
		unsigned char c = (unsigned char)*m;

		if (c == '"' || c == '\\') {
			*w++ = '\\';
			*w++ = (char)c;
		} else if (c < 0x20) {
			w += sprintf(w, "\\u%04x", c);
		} else {
			*w++ = (char)c;
		}
	}
	*w++ = '"';
	if (o->o_params != NULL) {
		w += sprintf(w, ",\"params\":");
		memcpy(w, o->o_params, o->o_params_len);
		w += o->o_params_len;
	}
	*w++ = '}';
	*w = '\0';
	*len = (size_t)(w - out);
	return out;
}
