/*
 * memlimit.c: the workers' memory limits: one cgroup v2 each when the
 * master's own cgroup delegates the memory controller, else RLIMIT_DATA
 * (set by each worker, --memory). The design notes are in memlimit.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/log.h"
#include "master/memlimit.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define MEMLIMIT_ROOT "/sys/fs/cgroup"

static struct {
	size_t bytes;
	bool cgroups;
	char base[512];        /* our cgroup's directory */
	char path[600];        /* memlimit_prepare's answer */
} ml;

bool
memlimit_cgroups(void)
{
	return ml.cgroups;
}

/* Write s to dir/file. Returns 0 or -1 (errno). */
static int
memlimit_write(const char *dir, const char *file, const char *s)
{
	char path[700];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Read dir/file into buf (NUL-terminated). Returns 0 or -1. */
static int
memlimit_read(const char *dir, const char *file, char *buf, size_t size)
{
	char path[700];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Whether a space-separated list holds word. */
static bool
memlimit_has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

/* Our cgroup v2 directory, from the "0::" line of /proc/self/cgroup. */
static int
memlimit_own_cgroup(char *dir, size_t size)
{
	char line[400];
	FILE *f;
	int rv = -1;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(dir, size, "%s%s", MEMLIMIT_ROOT,
		    strcmp(line + 3, "/") == 0 ? "" : line + 3);
		rv = 0;
		break;
	}
	fclose(f);
	return rv;
}

/* Move every process of base into base/master, then delegate memory. */
static int
memlimit_setup(void)
{
	char leaf[600], procs[4096], *p, *end;

	snprintf(leaf, sizeof(leaf), "%s/master", ml.base);
	if (mkdir(leaf, 0755) != 0 && errno != EEXIST)
		return -1;
	if (memlimit_read(ml.base, "cgroup.procs", procs, sizeof(procs)) != 0)
		return -1;
	for (p = procs; *p != '\0'; p = end) {
		long pid = strtol(p, &end, 10);
		char num[32];

		if (end == p)
			break;
		snprintf(num, sizeof(num), "%ld", pid);
		if (memlimit_write(leaf, "cgroup.procs", num) != 0)
			return -1;
		while (*end == '\n')
			end++;
	}
	return memlimit_write(ml.base, "cgroup.subtree_control", "+memory");
}

void
memlimit_init(size_t bytes)
{
	char controllers[512];
	struct statfs sf;

	ml.bytes = bytes;
	ml.cgroups = false;
	if (bytes == 0) {
		log_warn("--worker-memory 0: workers have no memory limit");
		return;
	}
	if (statfs(MEMLIMIT_ROOT, &sf) != 0 ||
	    (unsigned long)sf.f_type != CGROUP2_SUPER_MAGIC ||
	    memlimit_own_cgroup(ml.base, sizeof(ml.base)) != 0 ||
	    memlimit_read(ml.base, "cgroup.controllers", controllers,
	    sizeof(controllers)) != 0 ||
	    !memlimit_has_word(controllers, "memory") ||
	    access(ml.base, W_OK) != 0) {
		log_info("worker memory limit: %zu MiB each, RLIMIT_DATA (no "
		    "delegated cgroup v2 memory controller)", bytes >> 20);
		return;
	}
	if (memlimit_setup() != 0) {
		log_warn("worker memory limit: cannot set up cgroup %s (%s): "
		    "RLIMIT_DATA instead", ml.base, strerror(errno));
		return;
	}
	ml.cgroups = true;
	log_info("worker memory limit: %zu MiB each, cgroup v2 under %s",
	    bytes >> 20, ml.base);
}

const char *
memlimit_prepare(unsigned n)
{
	char num[32];

	if (!ml.cgroups)
		return NULL;
	snprintf(ml.path, sizeof(ml.path), "%s/worker-%u", ml.base, n);
	snprintf(num, sizeof(num), "%zu", ml.bytes);
	if ((mkdir(ml.path, 0755) != 0 && errno != EEXIST) ||
	    memlimit_write(ml.path, "memory.max", num) != 0) {
		log_warn("cannot set up cgroup %s: %s", ml.path, strerror(errno));
		return NULL;
	}
	/* Not fatal: a kernel without swap accounting has no swap.max. */
	memlimit_write(ml.path, "memory.swap.max", "0");
	memlimit_write(ml.path, "memory.oom.group", "1");
	strncat(ml.path, "/cgroup.procs", sizeof(ml.path) - strlen(ml.path) - 1);
	return ml.path;
}

int
memlimit_enter(const char *procs)
{
	int fd, rv;

	/* After fork, before exec: open, write and close only. */
	if ((fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	rv = write(fd, "0", 1) == 1 ? 0 : -1;
	close(fd);
	return rv;
}

bool
memlimit_reaped(unsigned n)
{
	char path[600], events[1024], *p;
	bool oom = false;

	if (!ml.cgroups)
		return false;
	snprintf(path, sizeof(path), "%s/worker-%u", ml.base, n);
	if (memlimit_read(path, "memory.events", events, sizeof(events)) == 0 &&
	    (p = strstr(events, "oom_kill ")) != NULL)
		oom = strtoull(p + 9, NULL, 10) > 0;
	rmdir(path);
	return oom;
}
