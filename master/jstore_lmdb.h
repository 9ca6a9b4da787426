/*
 * jstore_lmdb.h: the journal's default backend, an LMDB file: every
 * registered cleanup not yet reported done, and the master's incarnation.
 * It implements jstore.h's ops table; the journal calls down into it.
 *
 * Design notes: durability.
 * - Changes go into one write transaction, opened by the first change of
 *   a loop turn; the commit (once per turn, commit.c) makes them durable
 *   with LMDB's default flags: data pages and the meta page are flushed
 *   (fdatasync) before the commit returns, so a commit survives a crash
 *   of the master and of the host. It blocks the loop for those flushes
 *   and reports its outcome at once. A crash before the commit loses the
 *   turn's changes: its registrations were never acknowledged, and its
 *   completions run again (at least once).
 * - The file is locked (flock) for as long as the master runs: a second
 *   master on the same journal refuses to start, so only one runs the
 *   records of a dead one.
 * - Records: key = call id and seq (big-endian, so in registration
 *   order), value = jrecord.h's bytes. Meta: "incarnation" (u32, +1 per
 *   start), "node" (the node name the keys were made with: a journal
 *   serves one node).
 */
#ifndef MASTER_JSTORE_LMDB_H
#define MASTER_JSTORE_LMDB_H

#include "master/jstore.h"

extern const struct jstore_ops jstore_lmdb_ops;

#endif /* MASTER_JSTORE_LMDB_H */
