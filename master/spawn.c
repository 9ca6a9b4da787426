/*
 * spawn.c: starting local workers (fork and exec of wspool-worker), each
 * with its crash page and memory limit; finding the programs; --check.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "master/join.h"
#include "master/master.h"
#include "master/memlimit.h"
#include "master/spawn.h"
#include "proto/crashpage.h"

static struct {
	char *worker_path;
	char *module_path;
} sp;

const char *
spawn_module_path(void)
{
	return sp.module_path;
}

const char *
spawn_worker_path(void)
{
	return sp.worker_path;
}

void
spawn_fini(void)
{
	free(sp.worker_path);
	free(sp.module_path);
	sp.worker_path = sp.module_path = NULL;
}

/*
 * In the build tree the master is master/wspool-master next to worker/ and
 * examples/. Installed, the worker sits next to the master and the demo in
 * PKGLIBDIR; the install tree is also looked up relative to the master, so
 * an install under DESTDIR or a moved prefix still works.
 */
static char *
spawn_find(const char *configured, const char *const *rels,
    const char *installed)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;
	char *slash;

	if (configured != NULL)
		return realpath(configured, NULL);
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			for (; *rels != NULL; rels++) {
				snprintf(cand, sizeof(cand), "%s/%s", exe, *rels);
				if (access(cand, R_OK) == 0)
					return realpath(cand, NULL);
			}
		}
	}
	return realpath(installed, NULL);
}

int
spawn_find_programs(void)
{
	static const char *const worker_rels[] = { "../worker/wspool-worker",
	    "wspool-worker", NULL };
	static const char *const demo_rels[] = { "../examples/.libs/demo.so",
	    "../lib/" PACKAGE "/demo.so", NULL };

	sp.worker_path = spawn_find(srv.cfg.worker_path, worker_rels,
	    BINDIR "/wspool-worker");
	if (sp.worker_path == NULL) {
		log_error("cannot find wspool-worker (use --worker-path)");
		return -1;
	}
	sp.module_path = spawn_find(srv.cfg.module_path, demo_rels,
	    PKGLIBDIR "/demo.so");
	if (sp.module_path == NULL) {
		log_error("cannot find module %s: %s", srv.cfg.module_path ?
		    srv.cfg.module_path : "(demo)", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Run the worker program in one of its one-shot modes (argv after the
 * program: --check MODULE, or --emit-routes FORMAT MODULE) and wait for it.
 * It inherits stdout and stderr. Returns 0 when it exited 0.
 */
static int
spawn_oneshot(const char *mode, const char *format)
{
	char *argv[5];
	pid_t pid;
	int status, i = 0, rv = -1;

	if (spawn_find_programs() != 0)
		goto out;
	argv[i++] = sp.worker_path;
	argv[i++] = (char *)mode;
	if (format != NULL)
		argv[i++] = (char *)format;
	argv[i++] = sp.module_path;
	argv[i] = NULL;
	/* Nothing of ours may be left in stdout's buffer for the child to
	 * overtake. */
	fflush(stdout);
	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rv = 0;
out:
	return rv;
}

int
spawn_check(void)
{
	int rv = spawn_oneshot("--check", NULL);

	if (rv != 0 && sp.module_path != NULL)
		log_error("module %s failed its check", sp.module_path);
	spawn_fini();
	return rv;
}

int
spawn_emit(const char *format)
{
	int rv = spawn_oneshot("--emit-routes", format);

	if (rv != 0 && sp.module_path != NULL)
		log_error("cannot emit the routes of %s", sp.module_path);
	spawn_fini();
	return rv;
}

int
spawn_digest(char out[SPAWN_DIGEST_LEN + 1])
{
	char *argv[4], buf[160];
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int fds[2], status;

	if (sp.worker_path == NULL || sp.module_path == NULL ||
	    pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	argv[0] = sp.worker_path;
	argv[1] = (char *)"--digest";
	argv[2] = sp.module_path;
	argv[3] = NULL;
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(buf) - 1 &&
	    ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
	    (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    len != SPAWN_DIGEST_LEN || strspn(buf, "0123456789abcdef") != len) {
		log_error("module %s: cannot read its digest (wspool-worker "
		    "--digest failed)", sp.module_path);
		return -1;
	}
	memcpy(out, buf, len + 1);
	return 0;
}

/* A fresh crash page: a memfd the child inherits. Returns the fd or -1. */
static int
spawn_page(struct crashpage **page)
{
	void *m;
	int fd;

	*page = NULL;
	if ((fd = memfd_create("wspool-crash", MFD_CLOEXEC)) < 0)
		return -1;
	if (ftruncate(fd, CRASHPAGE_SIZE) != 0 ||
	    (m = mmap(NULL, CRASHPAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		close(fd);
		return -1;
	}
	*page = m;
	(*page)->cp_magic = CRASHPAGE_MAGIC;
	return fd;
}

void
spawn_unmap(struct crashpage *page)
{
	if (page != NULL)
		munmap(page, CRASHPAGE_SIZE);
}

pid_t
spawn_start(unsigned n, bool runner, struct crashpage **page)
{
	char threads[16], memory[32], crashfd[16], maxthreads[16], waiting[16];
	char stack[32];
	char *argv[24];
	const char *cgroup;
	pid_t pid, parent = getpid();
	int i = 0, fd;

	if ((fd = spawn_page(page)) < 0)
		log_warn("cannot share a crash page with worker %u: %s "
		    "(its crashes will not name their call)", n,
		    strerror(errno));
	cgroup = memlimit_prepare(n);
	snprintf(threads, sizeof(threads), "%u", runner ? 1 :
	    srv.cfg.worker_threads);
	snprintf(memory, sizeof(memory), "%zu", srv.cfg.worker_memory);
	snprintf(crashfd, sizeof(crashfd), "%d", fd);
	argv[i++] = sp.worker_path;
	argv[i++] = (char *)"--connect";
	argv[i++] = (char *)join_local_address();
	argv[i++] = (char *)"--threads";
	argv[i++] = threads;
	snprintf(maxthreads, sizeof(maxthreads), "%u",
	    srv.cfg.worker_max_threads);
	snprintf(waiting, sizeof(waiting), "%u", srv.cfg.worker_max_waiting);
	snprintf(stack, sizeof(stack), "%zu", srv.cfg.worker_stack);
	if (runner) {
		/* One hand-over at a time: one thread is all it needs. */
		argv[i++] = (char *)"--max-threads";
		argv[i++] = threads;
		argv[i++] = (char *)"--runner";
	} else {
		argv[i++] = (char *)"--max-threads";
		argv[i++] = maxthreads;
		argv[i++] = (char *)"--max-waiting";
		argv[i++] = waiting;
	}
	if (srv.cfg.worker_stack != 0) {
		argv[i++] = (char *)"--stack";
		argv[i++] = stack;
	}
	if (srv.cfg.worker_memory != 0 && cgroup == NULL) {
		argv[i++] = (char *)"--memory";
		argv[i++] = memory;
	}
	if (fd >= 0) {
		argv[i++] = (char *)"--crash-fd";
		argv[i++] = crashfd;
	}
	argv[i++] = sp.module_path;
	argv[i] = NULL;

	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		spawn_unmap(*page);
		*page = NULL;
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		/* Own process group: a worker's signals never reach the master. */
		setpgid(0, 0);
		/* No orphans: a worker dies with its master, so a restarted
		 * master is the only one to run the old cleanups. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (cgroup != NULL && memlimit_enter(cgroup) != 0)
			_exit(1);
		/* Nothing of the master's crosses the exec (the journal's
		 * descriptors: LMDB opens them without O_CLOEXEC, and a worker
		 * holding the journal's lock would outlive nothing, but still),
		 * the crash page excepted. */
		if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0 ||
		    (fd >= 0 && fcntl(fd, F_SETFD, 0) != 0))
			_exit(1);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	if (fd >= 0)
		close(fd);
	return pid;
}
