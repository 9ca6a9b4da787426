/*
 * main.c: wspool-worker, the process that runs a route module's handlers
 * for a wspool-master. Everything lives in libwspool (worker/runtime.c).
 */
#include "config.h"

#include "worker/worker.h"

int
main(int argc, char **argv)
{
	return wspool_worker_main(argc, argv);
}
