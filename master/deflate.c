/*
 * deflate.c: permessage-deflate (RFC 7692): the offers of the upgrade
 * request, and whole messages through the loop's zlib streams (see
 * deflate.h for the design).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "master/deflate.h"

/* Keep a work buffer up to this size between messages. */
#define DEFLATE_KEEP (256u * 1024)
#define DEFLATE_CHUNK (16u * 1024)

static const uint8_t deflate_tail[4] = { 0x00, 0x00, 0xff, 0xff };

static struct {
	z_stream inf;
	bool inf_ready;
	z_stream def[16];              /* by window bits, 9..15 */
	bool def_ready[16];
	uint8_t *buf;                  /* the last result (in or out) */
	size_t cap;
	uint64_t ndeflated;            /* messages, for /metrics */
	uint64_t ninflated;
} dfl;

uint64_t
deflate_deflated_count(void)
{
	return dfl.ndeflated;
}

uint64_t
deflate_inflated_count(void)
{
	return dfl.ninflated;
}

/* ---- the offers ------------------------------------------------------------ */

/* RFC 7230 tchar. */
static bool
deflate_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *
deflate_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token at p: its length (0: none). */
static size_t
deflate_token(const char *p)
{
	size_t n = 0;

	while (deflate_tchar(p[n]))
		n++;
	return n;
}

/*
 * A parameter value at p (token or quoted-string) copied into v (at most
 * vsz - 1 bytes; longer ones are cut and flagged by *bad). Returns the
 * end of the value, or NULL when malformed.
 */
static const char *
deflate_value(const char *p, char *v, size_t vsz, bool *bad)
{
	size_t n = 0;

	if (*p != '"') {
		size_t t = deflate_token(p);

		if (t == 0)
			return NULL;
		if (t >= vsz)
			*bad = true;
		else {
			memcpy(v, p, t);
			v[t] = '\0';
		}
		return p + t;
	}
	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && *++p == '\0')
			return NULL;
		if (n + 1 < vsz)
			v[n++] = *p;
		else
			*bad = true;
	}
	v[n] = '\0';
	return p + 1;
}

/* A window size: "8" to "15", no leading zero. 0 if not. */
static int
deflate_bits(const char *v)
{
	if (v[0] >= '8' && v[0] <= '9' && v[1] == '\0')
		return v[0] - '0';
	if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
		return 10 + v[1] - '0';
	return 0;
}

/* The parameters of one offer, as far as we know them. */
struct deflate_params {
	unsigned seen;         /* which names appeared: duplicates refuse */
	bool bad;              /* a parameter we cannot accept */
	int server_bits;       /* server_max_window_bits, 0: not offered */
};

#define DEFLATE_P_SNCT 0x1
#define DEFLATE_P_CNCT 0x2
#define DEFLATE_P_SMWB 0x4
#define DEFLATE_P_CMWB 0x8

static void
deflate_param(struct deflate_params *dp, const char *name, size_t nlen,
    const char *v, bool has_value)
{
	static const struct {
		const char *name;
		unsigned flag;
	} names[] = {
		{ "server_no_context_takeover", DEFLATE_P_SNCT },
		{ "client_no_context_takeover", DEFLATE_P_CNCT },
		{ "server_max_window_bits", DEFLATE_P_SMWB },
		{ "client_max_window_bits", DEFLATE_P_CMWB },
	};
	unsigned flag = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == nlen &&
		    strncmp(names[i].name, name, nlen) == 0)
			flag = names[i].flag;
	if (flag == 0 || (dp->seen & flag) != 0) {
		dp->bad = true;        /* unknown, or given twice */
		return;
	}
	dp->seen |= flag;
	switch (flag) {
	case DEFLATE_P_SNCT:
	case DEFLATE_P_CNCT:
		if (has_value)
			dp->bad = true;
		break;
	case DEFLATE_P_SMWB:
		if (!has_value || (dp->server_bits = deflate_bits(v)) == 0)
			dp->bad = true;
		break;
	case DEFLATE_P_CMWB:
		/* Any window of theirs is fine: we inflate with 15. */
		if (has_value && deflate_bits(v) == 0)
			dp->bad = true;
		break;
	}
}

int
deflate_offer(const char *value, char resp[DEFLATE_RESPONSE_MAX])
{
	const char *p = value;

	for (;;) {
		struct deflate_params dp = { 0, false, 0 };
		size_t n;
		bool ours;

		p = deflate_ows(p);
		if (*p == '\0')
			return 0;
		if ((n = deflate_token(p)) == 0)
			return 0;
		ours = n == 18 && strncmp(p, "permessage-deflate", 18) == 0;
		p += n;
		for (;;) {
			char v[16] = "";
			const char *name;
			bool has_value = false;

			p = deflate_ows(p);
			if (*p != ';')
				break;
			p = deflate_ows(p + 1);
			if ((n = deflate_token(p)) == 0)
				return 0;
			name = p;
			p = deflate_ows(p + n);
			if (*p == '=') {
				has_value = true;
				if ((p = deflate_value(deflate_ows(p + 1), v,
				    sizeof(v), &dp.bad)) == NULL)
					return 0;
			}
			if (ours)
				deflate_param(&dp, name, n, v, has_value);
		}
		if (*p != ',' && *p != '\0')
			return 0;
		if (ours && !dp.bad) {
			int bits = dp.server_bits != 0 ? dp.server_bits : 15;
			char smwb[40] = "";

			if (dp.server_bits != 0)
				snprintf(smwb, sizeof(smwb),
				    "; server_max_window_bits=%d", bits);
			snprintf(resp, DEFLATE_RESPONSE_MAX,
			    "Sec-WebSocket-Extensions: permessage-deflate; "
			    "server_no_context_takeover; "
			    "client_no_context_takeover%s\r\n", smwb);
			return bits;
		}
		if (*p == ',')
			p++;
	}
}

/* ---- the messages ----------------------------------------------------------- */

/* Room for at least need bytes in the work buffer. 0 or -1. */
static int
deflate_room(size_t need)
{
	uint8_t *b;
	size_t cap = dfl.cap ? dfl.cap : DEFLATE_CHUNK;

	if (need <= dfl.cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if ((b = realloc(dfl.buf, cap)) == NULL)
		return -1;
	dfl.buf = b;
	dfl.cap = cap;
	return 0;
}

/* After a message: a big buffer goes back to the system. */
static void
deflate_shrink(void)
{
	if (dfl.cap > DEFLATE_KEEP) {
		free(dfl.buf);
		dfl.buf = NULL;
		dfl.cap = 0;
	}
}

/*
 * Run the inflate stream over in (flush: Z_SYNC_FLUSH), output appended
 * at *used, up to max + 1 bytes. 0, DEFLATE_* on failure, or -1 once the
 * stream has ended (what follows is ignored).
 */
static int
deflate_inflate_some(const uint8_t *in, size_t len, size_t max, size_t *used)
{
	z_stream *z = &dfl.inf;
	int rv;

	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)len;
	do {
		size_t room;

		if (*used > max)
			return DEFLATE_TOO_BIG;
		if (*used == dfl.cap && deflate_room(dfl.cap + 1) != 0)
			return DEFLATE_NOMEM;
		room = dfl.cap - *used;
		/* One byte past max is enough to know it is too big. */
		if (room > max + 1 - *used)
			room = max + 1 - *used;
		z->next_out = dfl.buf + *used;
		z->avail_out = (uInt)room;
		rv = inflate(z, Z_SYNC_FLUSH);
		*used += room - z->avail_out;
		if (rv == Z_STREAM_END)
			return -1;
		if (rv == Z_BUF_ERROR && z->avail_in == 0)
			return 0;         /* all input taken */
		if (rv != Z_OK && rv != Z_BUF_ERROR)
			return rv == Z_MEM_ERROR ? DEFLATE_NOMEM : DEFLATE_BAD;
	} while (z->avail_in > 0 || z->avail_out == 0);
	return *used > max ? DEFLATE_TOO_BIG : 0;
}

enum deflate_result
deflate_inflate(const uint8_t *in, size_t len, size_t max,
    const uint8_t **out, size_t *outlen)
{
	size_t used = 0;
	int rv;

	if (len > UINT_MAX)
		return DEFLATE_TOO_BIG;
	if (!dfl.inf_ready) {
		memset(&dfl.inf, 0, sizeof(dfl.inf));
		if (inflateInit2(&dfl.inf, -15) != Z_OK)
			return DEFLATE_NOMEM;
		dfl.inf_ready = true;
	} else if (inflateReset(&dfl.inf) != Z_OK)
		return DEFLATE_BAD;
	deflate_shrink();
	if (deflate_room(DEFLATE_CHUNK) != 0)
		return DEFLATE_NOMEM;
	rv = deflate_inflate_some(in, len, max, &used);
	if (rv == 0)
		rv = deflate_inflate_some(deflate_tail, sizeof(deflate_tail),
		    max, &used);
	if (rv > 0)
		return (enum deflate_result)rv;
	if (used > max)
		return DEFLATE_TOO_BIG;
	*out = dfl.buf;
	*outlen = used;
	dfl.ninflated++;
	return DEFLATE_OK;
}

const uint8_t *
deflate_message(const struct iovec *iov, int n, size_t len, int wbits,
    size_t *outlen)
{
	z_stream *z;
	size_t used = 0;
	int rv;

	if (len < DEFLATE_MIN_SIZE || wbits < 9 || wbits > 15 || len > UINT_MAX)
		return NULL;
	z = &dfl.def[wbits];
	if (!dfl.def_ready[wbits]) {
		memset(z, 0, sizeof(*z));
		if (deflateInit2(z, DEFLATE_LEVEL, Z_DEFLATED, -wbits, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return NULL;
		dfl.def_ready[wbits] = true;
	} else if (deflateReset(z) != Z_OK)
		return NULL;
	deflate_shrink();
	/* A message that does not shrink is sent as it is: never more
	 * room than its own length (plus the tail, removed below). */
	if (deflate_room(len + sizeof(deflate_tail)) != 0)
		return NULL;
	for (int i = 0; i <= n; i++) {
		z->next_in = i < n ? iov[i].iov_base : NULL;
		z->avail_in = i < n ? (uInt)iov[i].iov_len : 0;
		z->next_out = dfl.buf + used;
		z->avail_out = (uInt)(len + sizeof(deflate_tail) - used);
		rv = deflate(z, i < n ? Z_NO_FLUSH : Z_SYNC_FLUSH);
		used = len + sizeof(deflate_tail) - z->avail_out;
		/* Output full (it does not shrink), or an error. */
		if ((rv != Z_OK && rv != Z_BUF_ERROR) || z->avail_in > 0 ||
		    (i == n && z->avail_out == 0))
			return NULL;
	}
	if (used < sizeof(deflate_tail) ||
	    memcmp(dfl.buf + used - 4, deflate_tail, 4) != 0)
		return NULL;
	used -= sizeof(deflate_tail);
	if (used >= len)
		return NULL;
	*outlen = used;
	dfl.ndeflated++;
	return dfl.buf;
}

void
deflate_fini(void)
{
	if (dfl.inf_ready)
		inflateEnd(&dfl.inf);
	for (int i = 0; i < 16; i++)
		if (dfl.def_ready[i])
			deflateEnd(&dfl.def[i]);
	free(dfl.buf);
	dfl.buf = NULL;
	dfl.cap = 0;
	dfl.inf_ready = false;
	memset(dfl.def_ready, 0, sizeof(dfl.def_ready));
}
