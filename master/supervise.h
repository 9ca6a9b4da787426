/*
 * supervise.h: the worker processes this master starts (fork + exec of
 * wspool-worker, kept at --workers, restarted with a back-off when they
 * keep failing, a new generation on SIGHUP) and the life of every worker
 * once it has joined: ready, draining, lost, killed, dead, and why.
 *
 * Design notes: deaths.
 * - A local worker's death is decided by waitpid, which gives the reason
 *   (signal or exit status); losing its link only starts the wait (a
 *   deadline, then SIGKILL). A remote worker's lost link is its death,
 *   with reason "lost".
 * - Every death goes through link_gone: the gone event (dispatch.c) ends
 *   the worker's calls and hands its cleanups over at the end of the loop
 *   turn, and nothing here frees a worker.
 * - A retired worker (draining, dead, or of an older generation) no
 *   longer counts in --workers: its replacement starts at once.
 */
#ifndef MASTER_SUPERVISE_H
#define MASTER_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>

struct worker;
struct wspool_reason;

/* Find the worker program and the module, then start --workers of them.
 * The registry must be listening (join_start). Returns 0 or -1. */
int supervise_start(void);
/* Stop every worker (SIGTERM, then SIGKILL after a deadline); each one's
 * death goes through the gone event before this returns. */
void supervise_stop(void);

/*
 * A draining worker's grace period is over: whoever owns calls ends those
 * still on it (with why) and cancels them on the worker. Registered at
 * start-up.
 */
typedef void (*supervise_drain_fn)(struct worker *w,
    const struct wspool_reason *why);
void supervise_on_drain_expired(supervise_drain_fn fn);

/* The join event: w said HELLO (local: by the local registry). Ties it to
 * the process started here, sets its generation and its join deadline.
 * Returns 0 or -1 (no memory). */
int supervise_adopt_cb(struct worker *w, bool local);
/* w's READY was accepted: it is W_READY now. */
void supervise_ready(struct worker *w);
/* The link's silent event: nothing from w for --worker-timeout. It is
 * lost at once (reason lost); a local one is killed and replaced. */
void supervise_silent_cb(struct worker *w, uint64_t silent_ms);
/* The link's down event: its pipe closed, or (bad) it spoke garbage. */
void supervise_down_cb(struct worker *w, const char *why, bool bad);
/* The gone event: forget w (its deadline, its process). */
void supervise_gone(struct worker *w);

/* Drain a local worker: no new calls; it finishes them and exits, and a
 * replacement starts. A worker started by hand is never drained. */
void supervise_retire(struct worker *w, const char *why);
/* Whether w's crash page says its CALL number wseq has surely not
 * started (false when unknown: a remote worker, no page). */
bool supervise_not_started(const struct worker *w, uint64_t wseq);
/* Kill a worker (a hung call, garbage, no READY in time); its death
 * follows as usual. */
void supervise_kill(struct worker *w, const char *why);
/* SIGHUP: a new generation of local workers loads the module afresh. */
void supervise_reload(void);
/* The newest reload generation: calls prefer its workers. */
unsigned supervise_generation(void);

#endif /* MASTER_SUPERVISE_H */
