/*
 * hdr.c: the log-linear latency histogram of wspool-bench (see hdr.h):
 * O(1) recording with no allocation, percentiles by one walk of the buckets.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bench/hdr.h"

/*
 * Layout: values below 2 * HDR_SUB_HALF map to themselves; above, a value
 * whose top bit is b (b >= HDR_SUB_BITS + 1) is shifted right by
 * s = b - HDR_SUB_BITS, which leaves it in [HDR_SUB_HALF, 2 * HDR_SUB_HALF),
 * and lands in bucket HDR_SUB_HALF * (s + 1) + (v >> s) - HDR_SUB_HALF.
 * Each power of two above the exact range thus has HDR_SUB_HALF buckets of
 * width 2^s: a relative error below 2^-HDR_SUB_BITS.
 */
size_t
hdr_index(uint64_t v)
{
	unsigned top, shift;

	if (v < 2 * (uint64_t)HDR_SUB_HALF)
		return (size_t)v;
	top = 63 - (unsigned)__builtin_clzll(v);
	shift = top - HDR_SUB_BITS;
	return (size_t)HDR_SUB_HALF * (shift + 1) +
	    (size_t)((v >> shift) - HDR_SUB_HALF);
}

uint64_t
hdr_bucket_low(size_t idx)
{
	size_t shift;

	if (idx < 2 * (size_t)HDR_SUB_HALF)
		return idx;
	shift = idx / HDR_SUB_HALF - 1;
	return (uint64_t)(idx % HDR_SUB_HALF + HDR_SUB_HALF) << shift;
}

uint64_t
hdr_bucket_high(size_t idx)
{
	size_t shift;

	if (idx < 2 * (size_t)HDR_SUB_HALF)
		return idx;
	shift = idx / HDR_SUB_HALF - 1;
	return hdr_bucket_low(idx) + (((uint64_t)1 << shift) - 1);
}

int
hdr_init(struct hdr *h, uint64_t highest)
{
	memset(h, 0, sizeof(*h));
	if (highest < 2 * (uint64_t)HDR_SUB_HALF)
		highest = 2 * (uint64_t)HDR_SUB_HALF;
	if (highest > ((uint64_t)1 << 62))
		highest = (uint64_t)1 << 62;
	h->hdr_highest = highest;
	h->hdr_nbuckets = hdr_index(highest) + 1;
	h->hdr_counts = calloc(h->hdr_nbuckets, sizeof(*h->hdr_counts));
	if (h->hdr_counts == NULL)
		return -1;
	h->hdr_min = UINT64_MAX;
	return 0;
}

void
hdr_free(struct hdr *h)
{
	free(h->hdr_counts);
	h->hdr_counts = NULL;
	h->hdr_nbuckets = 0;
}

void
hdr_reset(struct hdr *h)
{
	memset(h->hdr_counts, 0, h->hdr_nbuckets * sizeof(*h->hdr_counts));
	h->hdr_total = 0;
	h->hdr_min = UINT64_MAX;
	h->hdr_max = 0;
	h->hdr_clamped = 0;
	h->hdr_sum = 0;
}

void
hdr_record(struct hdr *h, uint64_t v)
{
	size_t idx;

	if (v < h->hdr_min)
		h->hdr_min = v;
	if (v > h->hdr_max)
		h->hdr_max = v;
	h->hdr_sum += v;
	h->hdr_total++;
	if (v > h->hdr_highest) {
		h->hdr_clamped++;
		idx = h->hdr_nbuckets - 1;
	} else {
		idx = hdr_index(v);
	}
	h->hdr_counts[idx]++;
}

int
hdr_merge(struct hdr *dst, const struct hdr *src)
{
	size_t i;

	if (dst->hdr_nbuckets != src->hdr_nbuckets)
		return -1;
	for (i = 0; i < src->hdr_nbuckets; i++)
		dst->hdr_counts[i] += src->hdr_counts[i];
	dst->hdr_total += src->hdr_total;
	dst->hdr_clamped += src->hdr_clamped;
	dst->hdr_sum += src->hdr_sum;
	if (src->hdr_min < dst->hdr_min)
		dst->hdr_min = src->hdr_min;
	if (src->hdr_max > dst->hdr_max)
		dst->hdr_max = src->hdr_max;
	return 0;
}

uint64_t
hdr_percentile(const struct hdr *h, double pct)
{
	uint64_t want, seen = 0, v;
	size_t i;

	if (h->hdr_total == 0)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	/* The rank of the value wanted, 1-based, at least the first one. */
	want = (uint64_t)((pct / 100.0) * (double)h->hdr_total + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->hdr_total)
		want = h->hdr_total;
	for (i = 0; i < h->hdr_nbuckets; i++) {
		seen += h->hdr_counts[i];
		if (seen >= want) {
			v = hdr_bucket_high(i);
			if (v > h->hdr_max)
				v = h->hdr_max;
			if (v < h->hdr_min)
				v = h->hdr_min;
			return v;
		}
	}
	return h->hdr_max;
}

double
hdr_mean(const struct hdr *h)
{
	if (h->hdr_total == 0)
		return 0;
	return (double)(h->hdr_sum / (long double)h->hdr_total);
}
