/*
 * hdr.h: a log-linear latency histogram in the manner of HdrHistogram:
 * exact below 2,048, then 1,024 linear sub-buckets per power of two, so
 * any recorded value is reported within 0.1% (three significant digits).
 */
#ifndef BENCH_HDR_H
#define BENCH_HDR_H

#include <stddef.h>
#include <stdint.h>

/* Sub-buckets per power of two: the precision (1/1024 relative). */
#define HDR_SUB_BITS 10
#define HDR_SUB_HALF (1u << HDR_SUB_BITS)

struct hdr {
	uint64_t *hdr_counts;   /* one count per bucket */
	size_t hdr_nbuckets;
	uint64_t hdr_highest;   /* largest trackable value; above: clamped */
	uint64_t hdr_total;     /* values recorded */
	uint64_t hdr_min;       /* exact, UINT64_MAX when empty */
	uint64_t hdr_max;       /* exact (before clamping) */
	uint64_t hdr_clamped;   /* values above hdr_highest */
	long double hdr_sum;    /* for the mean */
};

/*
 * Set up a histogram tracking values 0..highest (at least 2,048). Returns 0,
 * or -1 when memory runs out. Free with hdr_free.
 */
int hdr_init(struct hdr *h, uint64_t highest);
void hdr_free(struct hdr *h);
/* Forget every value, keep the buckets. */
void hdr_reset(struct hdr *h);

/* Record one value; a value above highest counts in the last bucket. */
void hdr_record(struct hdr *h, uint64_t v);
/* Add every value of src to dst (same highest); -1 when they differ. */
int hdr_merge(struct hdr *dst, const struct hdr *src);

/*
 * The value below which pct percent (0..100) of the recorded values fall,
 * reported as the highest value equivalent to its bucket (as HdrHistogram
 * does), never above the exact max. 0 when empty.
 */
uint64_t hdr_percentile(const struct hdr *h, double pct);
double hdr_mean(const struct hdr *h);

/* Bucket arithmetic, exposed for the unit tests. */
size_t hdr_index(uint64_t v);
uint64_t hdr_bucket_low(size_t idx);
uint64_t hdr_bucket_high(size_t idx);

#endif
