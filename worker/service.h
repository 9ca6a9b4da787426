/*
 * service.h: the worker program's entry point, in libwspool so that route
 * modules and the worker share one copy of the runtime.
 */
#ifndef WORKER_SERVICE_H
#define WORKER_SERVICE_H

/*
 * Parse the command line, load the module, join the master, serve until
 * drained or orphaned. Returns the exit status. Exported (its name starts
 * with wspool_) for worker/wspool-worker.c.
 */
int wspool_worker_main(int argc, char **argv);

#endif /* WORKER_SERVICE_H */
