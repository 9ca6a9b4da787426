/*
 * wspool-worker.c: the executable's main(). The program itself is
 * worker/service.c, in libwspool, which route modules link as well.
 */
#include "config.h"

#include "worker/service.h"

#if defined(__SANITIZE_ADDRESS__)
/*
 * Under AddressSanitizer (./configure --enable-sanitizers) a worker must
 * still die by the signal a crash raises: the master reports it to the
 * client and to cleanups (SIGSEGV, not "exit status 1"), and the worker's
 * own handler (crash.c) must get the signal to name the call. malloc
 * returns NULL under --memory (RLIMIT_DATA), as without ASan. Reports of
 * real memory errors are unaffected.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0:"
	    "handle_sigill=0:allow_user_segv_handler=1:allocator_may_return_null=1";
}
#endif

int
main(int argc, char **argv)
{
	return wspool_worker_main(argc, argv);
}
