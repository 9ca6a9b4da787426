/*
 * driver.c: a replay-and-mutate driver for fuzz targets without libFuzzer.
 * Runs every file of fuzz/corpus/NAME (NAME from the program name, minus
 * "fuzz_"), or the files named on the command line, then a bounded number
 * of deterministic mutations of them (bit flips, truncations, splices,
 * interesting bytes). Deterministic so a failure reproduces; bounded so
 * `make check` stays fast. FUZZ_ITERATIONS in the environment overrides.
 * Left out of a --enable-fuzzers build, where libFuzzer brings its main.
 */
#ifndef WSPOOL_LIBFUZZER
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/driver.h"

#define FUZZ_MAX_INPUT (256 * 1024)

struct input {
	uint8_t *data;
	size_t len;
};

static struct input *inputs;
static size_t ninputs;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	/* xorshift64*: deterministic, good enough to pick mutations. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int
add_file(const char *path)
{
	FILE *f;
	uint8_t *buf;
	size_t n;
	struct input *grown;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(FUZZ_MAX_INPUT)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, FUZZ_MAX_INPUT, f);
	fclose(f);
	if ((grown = realloc(inputs, (ninputs + 1) * sizeof(*inputs))) == NULL) {
		free(buf);
		return -1;
	}
	inputs = grown;
	inputs[ninputs].data = buf;
	inputs[ninputs].len = n;
	ninputs++;
	return 0;
}

static void
add_dir(const char *dir)
{
	DIR *d;
	struct dirent *de;
	char path[8192];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		add_file(path);
	}
	closedir(d);
}

static size_t
mutate(uint8_t *buf, size_t len, size_t cap)
{
	static const uint8_t interesting[] = { 0x00, 0xff, 0x7f, 0x80, 0xc0,
	    0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6,
	    '"', '\\', '{', '}', '[', ']', ':', ',', '\r', '\n', 0xed, 0xf4 };
	int rounds = 1 + (int)(rng() % 4);

	while (rounds-- > 0) {
		size_t pos = len ? rng() % len : 0;
		switch (rng() % 6) {
		case 0: /* bit flip */
			if (len)
				buf[pos] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1: /* truncate */
			len = pos;
			break;
		case 2: /* interesting byte */
			if (len)
				buf[pos] = interesting[rng() % sizeof(interesting)];
			break;
		case 3: /* insert a byte */
			if (len < cap) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = (uint8_t)rng();
				len++;
			}
			break;
		case 4: /* duplicate a chunk */
			if (len && len < cap) {
				size_t n = 1 + rng() % (len - pos);
				if (n > cap - len)
					n = cap - len;
				memmove(buf + pos + n, buf + pos, len - pos);
				len += n;
			}
			break;
		case 5: /* splice another input's tail */
			if (ninputs) {
				const struct input *o = &inputs[rng() % ninputs];
				size_t from = o->len ? rng() % o->len : 0;
				size_t n = o->len - from;
				if (n > cap - pos)
					n = cap - pos;
				memcpy(buf + pos, o->data + from, n);
				len = pos + n;
			}
			break;
		}
	}
	return len;
}

int
main(int argc, char **argv)
{
	const char *name, *env;
	char dir[4096];
	long iterations = 20000, i;
	uint8_t *buf;
	size_t k;

	if (argc > 1) {
		for (int a = 1; a < argc; a++)
			add_file(argv[a]);
	} else {
		name = strrchr(argv[0], '/');
		name = name ? name + 1 : argv[0];
		if (strncmp(name, "lt-", 3) == 0)
			name += 3;
		if (strncmp(name, "fuzz_", 5) == 0)
			name += 5;
		snprintf(dir, sizeof(dir), "%s/%s", FUZZ_CORPUS, name);
		add_dir(dir);
	}
	if ((env = getenv("FUZZ_ITERATIONS")) != NULL)
		iterations = strtol(env, NULL, 10);

	for (k = 0; k < ninputs; k++)
		LLVMFuzzerTestOneInput(inputs[k].data, inputs[k].len);
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);

	if ((buf = malloc(FUZZ_MAX_INPUT)) == NULL)
		return 1;
	for (i = 0; i < iterations && ninputs > 0; i++) {
		const struct input *seed = &inputs[rng() % ninputs];
		size_t len = seed->len;
		memcpy(buf, seed->data, len);
		len = mutate(buf, len, FUZZ_MAX_INPUT);
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz: %zu seeds, %ld mutations, no crash\n", ninputs,
	    ninputs ? iterations : 0L);
	free(buf);
	for (k = 0; k < ninputs; k++)
		free(inputs[k].data);
	free(inputs);
	return 0;
}

#endif /* !WSPOOL_LIBFUZZER */
